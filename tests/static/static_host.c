/* A host that links the static library (libvkstruct.a) beside the system's Vulkan loader
 * (-lvulkan), as an inference engine with its own Vulkan code would. Its calls to vk*
 * functions must reach the loader, not the library's copy of volk (whose vk* names are
 * function-pointer variables: calling one crashed such hosts), and its own definitions of
 * names the library uses inside (volk's volkInitialize, a vks__ helper) must not clash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <vulkan/vulkan.h>

#include <vkstruct/vkstruct.h>

/* The host's own helpers that happen to carry names the library uses internally: with the
 * internal names global in the archive this would not link (or would call the wrong one). */
int volkInitialize(void);
int volkInitialize(void) { return 4242; }
int vks__error(int x);
int vks__error(int x) { return x + 1; }

static int validation_messages;

static void on_message(void *user, vks_message_source source, vks_message_severity sev, const char *msg) {
    (void)user;
    if (source == VKS_SOURCE_VALIDATION && sev != VKS_MESSAGE_INFO) {
        ++validation_messages;
        fprintf(stderr, "validation: %s\n", msg);
    }
}

/* The host's Vulkan: the loader's functions, before and after vkstruct loaded its own. */
static void host_vulkan(void) {
    uint32_t version = 0;
    assert_int_equal(vkEnumerateInstanceVersion(&version), VK_SUCCESS);
    assert_true(version >= VK_API_VERSION_1_0);
    const VkApplicationInfo app = {.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO, .apiVersion = VK_API_VERSION_1_2};
    const VkInstanceCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO, .pApplicationInfo = &app};
    VkInstance instance = VK_NULL_HANDLE;
    assert_int_equal(vkCreateInstance(&ci, NULL, &instance), VK_SUCCESS);
    uint32_t devices = 0;
    assert_int_equal(vkEnumeratePhysicalDevices(instance, &devices, NULL), VK_SUCCESS);
    assert_true(devices >= 1);
    vkDestroyInstance(instance, NULL);
}

static void test_host_vulkan_first(void **state) {
    (void)state;
    host_vulkan();
    assert_int_equal(volkInitialize(), 4242);
    assert_int_equal(vks__error(1), 2);
}

/* vkstruct through the static library: a context and a GEMM checked by hand. */
static void test_vkstruct_gemm(void **state) {
    (void)state;
    vks_context_options o = VKS_CONTEXT_OPTIONS_INIT;
    o.flags = VKS_CONTEXT_VALIDATION;
    o.message_callback = on_message;
    vks_context *ctx = NULL;
    if (vks_context_create(&o, &ctx) != VKS_OK) fail_msg("vks_context_create: %s", vks_last_error(NULL));
    /* A (2x3) = [1 2 3; 4 5 6], B (3x2) = [1 0; 0 1; 1 1]: C = [4 5; 10 11], doubled. */
    float v[16] = {1, 2, 3, 4, 5, 6, 1, 0, 0, 1, 1, 1, -1, -1, -1, -1};
    vks_buffer *buf = NULL;
    assert_int_equal(vks_buffer_create(ctx, sizeof v, &buf), VKS_OK);
    assert_int_equal(vks_buffer_write(buf, 0, v, sizeof v), VKS_OK);
    vks_tensor a = vks_tensor_2d(buf, VKS_DTYPE_F32, 2, 3), b = vks_tensor_2d(buf, VKS_DTYPE_F32, 3, 2);
    vks_tensor c = vks_tensor_2d(buf, VKS_DTYPE_F32, 2, 2);
    b.byte_offset = 24, c.byte_offset = 48;
    assert_int_equal(vks_gemm(ctx, VKS_NO_TRANS, VKS_NO_TRANS, 2.0, &a, &b, 0.0, &c), VKS_OK);
    float got[4] = {0};
    assert_int_equal(vks_buffer_read(buf, 48, got, sizeof got), VKS_OK);
    const float want[4] = {8, 10, 20, 22};
    for (int i = 0; i < 4; ++i)
        if (got[i] != want[i]) fail_msg("C[%d] = %g, expected %g", i, (double)got[i], (double)want[i]);
    assert_int_equal(vks_buffer_destroy(buf), VKS_OK);
    assert_int_equal(vks_context_destroy(ctx), VKS_OK);
    assert_int_equal(validation_messages, 0);
}

static void test_host_vulkan_after(void **state) {
    (void)state;
    host_vulkan();
    assert_int_equal(vks_shutdown(), VKS_OK);
    host_vulkan(); /* the loader stays the host's after vkstruct released its own */
}

int main(void) {
    setenv("VKS_DEVICE", getenv("VKS_DEVICE") ? getenv("VKS_DEVICE") : "llvmpipe", 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_host_vulkan_first),
        cmocka_unit_test(test_vkstruct_gemm),
        cmocka_unit_test(test_host_vulkan_after),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
