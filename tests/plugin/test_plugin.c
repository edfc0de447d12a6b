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

#include "abi_1_0.h"

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
#undef CHECK_FIELD
    /* The family lists and the table hold the same functions (a function added to a family
     * list but not appended to VKS_PLUGIN_FUNCTIONS does not compile above). */
    int in_table = 0;
#define COUNT_FIELD(name) ++in_table;
    VKS_PLUGIN_FUNCTIONS(COUNT_FIELD)
#undef COUNT_FIELD
    assert_int_equal(n, in_table);
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

/* The golden list: every field's name and (LP64) offset, in table order. Any reordering,
 * removal or insertion fails here; an append fails until abi_golden.txt gets the new line,
 * which is the conscious step the rule in plugin.h asks for. */
static void test_plugin_abi_golden(void **state) {
    (void)state;
    char path[4096];
    snprintf(path, sizeof path, "%s/abi_golden.txt", VKS_TEST_PLUGIN_DIR);
    FILE *f = fopen(path, "r");
    if (!f) fail_msg("cannot open %s", path);
    typedef struct field {
        const char *name;
        size_t offset;
    } field;
    static const field fields[] = {
        {"struct_size", offsetof(vks_plugin_api, struct_size)},
        {"abi_major", offsetof(vks_plugin_api, abi_major)},
        {"abi_minor", offsetof(vks_plugin_api, abi_minor)},
        {"name", offsetof(vks_plugin_api, name)},
        {"version", offsetof(vks_plugin_api, version)},
#define GOLDEN_FIELD(fn) {#fn, offsetof(vks_plugin_api, fn)},
        VKS_PLUGIN_FUNCTIONS(GOLDEN_FIELD)
#undef GOLDEN_FIELD
    };
    const size_t count = sizeof fields / sizeof fields[0];
    char line[256];
    size_t i = 0;
    int mismatches = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n') continue;
        unsigned long long offset = 0;
        char name[128];
        if (sscanf(line, "%llu %127s", &offset, name) != 2) fail_msg("%s: bad line '%s'", path, line);
        if (i >= count) {
            fprintf(stderr, "golden field %zu '%s' is missing from vks_plugin_api (removed?)\n", i, name);
            ++mismatches;
        } else if (strcmp(name, fields[i].name) != 0 ||
                   (sizeof(void *) == 8 && offset != fields[i].offset)) {
            fprintf(stderr, "field %zu: golden '%s' at %llu, header '%s' at %zu\n", i, name, offset, fields[i].name,
                    fields[i].offset);
            ++mismatches;
        }
        ++i;
    }
    fclose(f);
    for (size_t j = i; j < count; ++j) {
        fprintf(stderr, "field %zu '%s' (offset %zu) is not in %s: append '%zu %s' there if it is a deliberate "
                        "addition at the end\n", j, fields[j].name, fields[j].offset, path, fields[j].offset,
                fields[j].name);
        ++mismatches;
    }
    assert_int_equal(mismatches, 0);
    /* The table ends with its last function: nothing hides behind the list. */
    assert_int_equal(sizeof(vks_plugin_api), fields[count - 1].offset + sizeof(void *));
}

/* A host compiled against ABI 1.0 (abi_1_0.h: the 1.0 table, truncated where 1.1 starts)
 * runs against this library: it checks struct_size, calls through its own layout, and finds
 * a newer function by name. */
static void test_plugin_host_1_0(void **state) {
    (void)state;
    load();
    const host_api_1_0 *old = (const host_api_1_0 *)(const void *)api;
    assert_true(old->struct_size >= sizeof(host_api_1_0));
    assert_int_equal(old->abi_major, 1);
    uint32_t usable = 0;
    assert_int_equal(old->vks_probe(&usable), VKS_OK);
    assert_true(usable >= 1);
    vks_context_options o = VKS_CONTEXT_OPTIONS_INIT;
    o.device_name = getenv("VKS_DEVICE") ? getenv("VKS_DEVICE") : "llvmpipe";
    o.flags = VKS_CONTEXT_VALIDATION;
    o.message_callback = on_message;
    vks_context *ctx = NULL;
    vks_status st = old->vks_context_create(&o, &ctx);
    if (st != VKS_OK) fail_msg("context: %s: %s", old->vks_status_string(st), old->vks_last_error(NULL));
    const float a[4] = {1, 2, 3, 4}, b[4] = {5, 6, 7, 8};
    float c[4] = {NAN, NAN, NAN, NAN};
    vks_buffer *A, *B, *C;
    assert_int_equal(old->vks_buffer_create(ctx, sizeof a, &A), VKS_OK);
    assert_int_equal(old->vks_buffer_create(ctx, sizeof b, &B), VKS_OK);
    assert_int_equal(old->vks_buffer_create(ctx, sizeof c, &C), VKS_OK);
    assert_int_equal(old->vks_buffer_write(A, 0, a, sizeof a), VKS_OK);
    assert_int_equal(old->vks_buffer_write(B, 0, b, sizeof b), VKS_OK);
    vks_tensor ta = vks_tensor_2d(A, VKS_DTYPE_F32, 2, 2), tb = vks_tensor_2d(B, VKS_DTYPE_F32, 2, 2);
    vks_tensor tc = vks_tensor_2d(C, VKS_DTYPE_F32, 2, 2);
    /* vks_gemm_ex through the 1.0 slot (a field after every family list of 1.0). */
    vks_gemm_desc d = VKS_GEMM_DESC_INIT;
    d.a = &ta, d.b = &tb, d.c = &tc, d.alpha = 2.0;
    assert_int_equal(old->vks_gemm_ex(ctx, &d), VKS_OK);
    assert_int_equal(old->vks_buffer_read(C, 0, c, sizeof c), VKS_OK);
    const float want[4] = {2 * 19, 2 * 22, 2 * 43, 2 * 50};
    for (int i = 0; i < 4; ++i) assert_true(fabsf(c[i] - want[i]) < 1e-4f);
    /* The last 1.0 slots and a 1.1 function found by name, as a 1.0 host would. */
    vks_struct_init_fn *init = (vks_struct_init_fn *)old->vks_get_proc_address("vks_struct_init");
    assert_non_null(init);
    vks_lora_desc ld;
    memset(&ld, 0, sizeof ld);
    assert_int_equal(init(VKS_STRUCT_LORA_DESC, &ld, sizeof ld), VKS_OK);
    assert_true(ld.scale == 1.0 && ld.struct_size == sizeof ld);
    assert_int_equal(old->vks_kron_predict(ctx, 0, NULL, NULL, NULL), VKS_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(old->vks_last_error(NULL), "vks_kron_predict"));
    assert_int_equal(validation_messages, 0);
    assert_int_equal(old->vks_context_destroy(ctx), VKS_OK);
    assert_int_equal(old->vks_shutdown(), VKS_OK);
    unload();
}

/* A newer host against an older library: VKS_PLUGIN_HAS reads struct_size, so a table that
 * ends where 1.0 ended (a copy truncated to that size) has no 1.1 functions. */
static void test_plugin_has(void **state) {
    (void)state;
    load();
    assert_true(VKS_PLUGIN_HAS(api, vks_probe));
    assert_true(VKS_PLUGIN_HAS(api, vks_shutdown));
    assert_true(VKS_PLUGIN_HAS(api, vks_struct_init));
    vks_plugin_api older;
    memset(&older, 0, sizeof older);
    memcpy(&older, api, sizeof(host_api_1_0));
    older.struct_size = (uint32_t)sizeof(host_api_1_0);
    assert_true(VKS_PLUGIN_HAS(&older, vks_shutdown));
    assert_true(VKS_PLUGIN_HAS(&older, vks_kron_predict));
    assert_false(VKS_PLUGIN_HAS(&older, vks_struct_init));
    /* and one cut through a field: that field does not exist either */
    older.struct_size = (uint32_t)(offsetof(vks_plugin_api, vks_shutdown) + sizeof(void *) / 2);
    assert_false(VKS_PLUGIN_HAS(&older, vks_shutdown));
    assert_true(VKS_PLUGIN_HAS(&older, vks_get_proc_address));
    unload();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plugin_table),
        cmocka_unit_test(test_plugin_abi_golden),
        cmocka_unit_test(test_plugin_host_1_0),
        cmocka_unit_test(test_plugin_has),
        cmocka_unit_test(test_plugin_gemm_shutdown_reload),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
