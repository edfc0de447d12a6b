/* The plugin ABI, as a host sees it: dlopen by path (this executable does not link the
 * library), the versioned table, every function reachable by field and by name, a GEMM
 * through the table alone, vks_shutdown with a context left alive, dlclose that really
 * unloads, and a second load that starts afresh. */
#include <dlfcn.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <vkstruct/plugin.h>

static void *lib;
static const vks_plugin_api *api;
static int validation_messages;

static void on_message(void *user, vks_message_source source, vks_message_severity sev, const char *msg) {
    (void)user;
    if (source == VKS_SOURCE_VALIDATION && sev != VKS_MESSAGE_INFO) {
        ++validation_messages;
        fprintf(stderr, "validation: %s\n", msg);
    }
}

/* The library under test: the build's, unless VKS_TEST_LIBRARY names a copy elsewhere
 * (the build moved to another machine). */
static const char *library_path(void) {
    return getenv("VKS_TEST_LIBRARY") ? getenv("VKS_TEST_LIBRARY") : VKS_TEST_LIBRARY_PATH;
}

static void load(void) {
    lib = dlopen(library_path(), RTLD_NOW | RTLD_LOCAL);
    if (!lib) fail_msg("dlopen(%s): %s", library_path(), dlerror());
    vks_plugin_get_api_fn *get = (vks_plugin_get_api_fn *)dlsym(lib, "vks_plugin_get_api");
    assert_non_null(get);
    assert_null(get(0));
    assert_null(get(VKS_PLUGIN_ABI_MAJOR + 1));
    api = get(VKS_PLUGIN_ABI_MAJOR);
    assert_non_null(api);
    assert_ptr_equal(api, get(VKS_PLUGIN_ABI_MAJOR)); /* static, one table */
}

static void unload(void) {
    assert_int_equal(api->vks_shutdown(), VKS_OK);
    assert_int_equal(api->vks_shutdown(), VKS_OK); /* twice is fine */
    api = NULL;
    assert_int_equal(dlclose(lib), 0);
    lib = NULL;
    /* Really gone: nothing (no TLS, no atexit handler, no leaked reference) keeps it. */
    assert_null(dlopen(library_path(), RTLD_NOW | RTLD_NOLOAD));
}

static void test_plugin_table(void **state) {
    (void)state;
    load();
    assert_true(api->struct_size >= offsetof(vks_plugin_api, vks_shutdown) + sizeof(void *));
    assert_int_equal(api->abi_major, VKS_PLUGIN_ABI_MAJOR);
    assert_int_equal(api->abi_minor, VKS_PLUGIN_ABI_MINOR);
    assert_string_equal(api->name, "vkstruct");
    assert_string_equal(api->version, VKS_VERSION_STRING);
    /* Every field is set and get_proc_address agrees with it. */
    int n = 0;
#define CHECK_FIELD(name)                                                          \
    assert_non_null(api->name);                                                    \
    assert_true(api->vks_get_proc_address(#name) == (vks_proc)api->name);          \
    assert_true((vks_proc)dlsym(lib, #name) == (vks_proc)api->name);               \
    ++n;
    VKS_CORE_FUNCTIONS(CHECK_FIELD)
    VKS_MONARCH_FUNCTIONS(CHECK_FIELD)
    VKS_LOWRANK_FUNCTIONS(CHECK_FIELD)
    VKS_ORTHOGONAL_FUNCTIONS(CHECK_FIELD)
    VKS_KRON_FUNCTIONS(CHECK_FIELD)
    CHECK_FIELD(vks_probe)
    CHECK_FIELD(vks_get_proc_address)
    CHECK_FIELD(vks_shutdown)
#undef CHECK_FIELD
    assert_true(n > 20);
    assert_null(api->vks_get_proc_address("vks_no_such_function"));
    assert_null(api->vks_get_proc_address(NULL));
    /* Only the API leaves the library: no volk or internal symbol is visible. */
    assert_null(dlsym(lib, "volkInitialize"));
    assert_null(dlsym(lib, "vks__error"));
    unload();
}

static int gemm_through_table(void) {
    uint32_t usable = 0;
    assert_int_equal(api->vks_probe(&usable), VKS_OK);
    assert_true(usable >= 1);
    vks_context_options o = VKS_CONTEXT_OPTIONS_INIT;
    o.device_name = getenv("VKS_DEVICE") ? getenv("VKS_DEVICE") : "llvmpipe";
    o.flags = VKS_CONTEXT_VALIDATION;
    o.message_callback = on_message;
    vks_context *ctx = NULL;
    vks_status st = api->vks_context_create(&o, &ctx);
    if (st != VKS_OK) fail_msg("context: %s: %s", api->vks_status_string(st), api->vks_last_error(NULL));
    float a[6] = {1, 2, 3, 4, 5, 6}, b[6] = {1, -1, 2, 0.5f, 0, 3}, c[4] = {NAN, NAN, NAN, NAN};
    vks_buffer *A, *B, *C;
    assert_int_equal(api->vks_buffer_create(ctx, sizeof a, &A), VKS_OK);
    assert_int_equal(api->vks_buffer_create(ctx, sizeof b, &B), VKS_OK);
    assert_int_equal(api->vks_buffer_create(ctx, sizeof c, &C), VKS_OK);
    assert_int_equal(api->vks_buffer_write(A, 0, a, sizeof a), VKS_OK);
    assert_int_equal(api->vks_buffer_write(B, 0, b, sizeof b), VKS_OK);
    assert_int_equal(api->vks_buffer_write(C, 0, c, sizeof c), VKS_OK);
    vks_tensor ta = vks_tensor_2d(A, VKS_DTYPE_F32, 2, 3), tb = vks_tensor_2d(B, VKS_DTYPE_F32, 3, 2);
    vks_tensor tc = vks_tensor_2d(C, VKS_DTYPE_F32, 2, 2);
    assert_int_equal(api->vks_gemm(ctx, VKS_NO_TRANS, VKS_NO_TRANS, 1.0, &ta, &tb, 0.0, &tc), VKS_OK);
    assert_int_equal(api->vks_buffer_read(C, 0, c, sizeof c), VKS_OK);
    const float want[4] = {1 * 1 + 2 * 2 + 3 * 0, 1 * -1 + 2 * 0.5f + 3 * 3, 4 + 10, -4 + 2.5f + 18};
    for (int i = 0; i < 4; ++i) assert_true(fabsf(c[i] - want[i]) < 1e-5f);
    /* A bad call through the table reports like a direct one. */
    assert_int_equal(api->vks_gemm(ctx, VKS_NO_TRANS, VKS_NO_TRANS, 1.0, &tb, &tb, 0.0, &tc),
                     VKS_ERROR_SHAPE_MISMATCH);
    assert_non_null(strstr(api->vks_last_error(NULL), "inner dimensions differ"));
    assert_int_equal(validation_messages, 0);
    return 0; /* the context stays alive on purpose: vks_shutdown must clean it up */
}

static void test_plugin_gemm_shutdown_reload(void **state) {
    (void)state;
    load();
    gemm_through_table();
    unload();
    load(); /* a fresh start after shutdown + dlclose */
    gemm_through_table();
    unload();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plugin_table),
        cmocka_unit_test(test_plugin_gemm_shutdown_reload),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
