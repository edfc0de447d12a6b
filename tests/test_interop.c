/* Host integration: a context on the host's own VkInstance/VkDevice/VkQueue (created
 * here with the plain Vulkan API), ops appended to the host's command buffer, and a host
 * VkBuffer wrapped in place. The host device must survive the context untouched. */
#include <math.h>
#include <string.h>

#include "reference.h"
#include "vkt_host.h"

static vks_context *context_on(vkt_host *h) {
    vks_vulkan_device vd = vkt_host_device(h, VKS_FEATURE_BUFFER_ADDRESS | VKS_FEATURE_INT64);
    vks_context_options o = vkt_options();
    o.vulkan = &vd;
    vks_context *ctx = NULL;
    VKT_OK(vks_context_create(&o, &ctx));
    return ctx;
}

/* C = A * B on ctx with C in `c_buf` (which may be a wrapped host buffer), checked. */
static void gemm_and_check(vks_context *ctx, vks_buffer *c_buf, void *host_cmd, vkt_host *h) {
    const int64_t m = 11, n = 9, k = 7;
    float a[11 * 7], b[7 * 9], c[11 * 9];
    double da[11 * 7], db[7 * 9], want[11 * 9], got[11 * 9];
    for (int i = 0; i < m * k; ++i) a[i] = (float)((i * 7) % 13) / 13.0f - 0.5f, da[i] = a[i];
    for (int i = 0; i < k * n; ++i) b[i] = (float)((i * 5) % 11) / 11.0f - 0.5f, db[i] = b[i];
    vks_buffer *A, *B;
    VKT_OK(vks_buffer_create(ctx, sizeof a, &A));
    VKT_OK(vks_buffer_create(ctx, sizeof b, &B));
    VKT_OK(vks_buffer_write(A, 0, a, sizeof a));
    VKT_OK(vks_buffer_write(B, 0, b, sizeof b));
    vks_tensor ta = vks_tensor_2d(A, VKS_DTYPE_F32, m, k), tb = vks_tensor_2d(B, VKS_DTYPE_F32, k, n);
    vks_tensor tc = vks_tensor_2d(c_buf, VKS_DTYPE_F32, m, n);
    VkCommandBuffer cb = host_cmd;
    if (cb) {
        VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
        assert_int_equal(vkBeginCommandBuffer(cb, &bi), VK_SUCCESS);
        VKT_OK(vks_begin_external_recording(ctx, cb));
        VKT_FAILS(vks_begin_external_recording(ctx, cb), VKS_ERROR_INVALID_ARGUMENT, "already recording");
    }
    VKT_OK(vks_gemm(ctx, VKS_NO_TRANS, VKS_NO_TRANS, 1.0, &ta, &tb, 0.0, &tc));
    if (cb) {
        VKT_OK(vks_end_external_recording(ctx));
        assert_int_equal(vkEndCommandBuffer(cb), VK_SUCCESS);
        /* Nothing ran yet: the host submits. */
        VkFenceCreateInfo fi = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
        VkFence fence;
        vkCreateFence(h->device, &fi, NULL, &fence);
        VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &cb};
        assert_int_equal(vkQueueSubmit(h->queue, 1, &si, fence), VK_SUCCESS);
        assert_int_equal(vkWaitForFences(h->device, 1, &fence, VK_TRUE, UINT64_MAX), VK_SUCCESS);
        vkDestroyFence(h->device, fence, NULL);
    }
    VKT_OK(vks_buffer_read(c_buf, 0, c, sizeof c));
    for (int i = 0; i < m * n; ++i) got[i] = c[i];
    ref_gemm(1.0, ref_rowmajor(da, m, k), ref_rowmajor(db, k, n), 0.0, ref_rowmajor(want, m, n));
    vkt_assert_close(got, want, (size_t)(m * n), 1e-5, "GEMM on a host's device");
    VKT_OK(vks_buffer_destroy(A));
    VKT_OK(vks_buffer_destroy(B));
}

static void test_interop_host_device(void **state) {
    (void)state;
    vkt_host h;
    vkt_host_create(&h);
    vks_context *ctx = context_on(&h);
    vks_buffer *C;
    VKT_OK(vks_buffer_create(ctx, 11 * 9 * 4, &C));
    gemm_and_check(ctx, C, NULL, &h);
    VKT_OK(vks_context_destroy(ctx));
    /* The host's device is intact and usable. */
    assert_int_equal(vkDeviceWaitIdle(h.device), VK_SUCCESS);
    VkCommandPool pool;
    VkCommandPoolCreateInfo pci = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO, .queueFamilyIndex = h.family};
    assert_int_equal(vkCreateCommandPool(h.device, &pci, NULL, &pool), VK_SUCCESS);
    vkDestroyCommandPool(h.device, pool, NULL);
    assert_int_equal(h.messages, 0);
    vkt_host_destroy(&h);
}

static void test_interop_external_recording(void **state) {
    (void)state;
    vkt_host h;
    vkt_host_create(&h);
    vks_context *ctx = context_on(&h);
    VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                      .commandPool = h.pool,
                                      .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                      .commandBufferCount = 1};
    VkCommandBuffer cb;
    assert_int_equal(vkAllocateCommandBuffers(h.device, &ai, &cb), VK_SUCCESS);
    vks_buffer *C;
    VKT_OK(vks_buffer_create(ctx, 11 * 9 * 4, &C));
    gemm_and_check(ctx, C, cb, &h);
    VKT_FAILS(vks_end_external_recording(ctx), VKS_ERROR_INVALID_ARGUMENT, "no external recording is active");
    VKT_OK(vks_context_destroy(ctx));
    assert_int_equal(h.messages, 0);
    vkt_host_destroy(&h);
}

/* A host's VkBuffer, with its own memory, used in place as C. */
static void test_interop_wrapped_buffer(void **state) {
    (void)state;
    vkt_host h;
    vkt_host_create(&h);
    vks_context *ctx = context_on(&h);
    VkBufferCreateInfo bi = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
                             .size = 4096,
                             .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_SHADER_DEVICE_ADDRESS_BIT |
                                      VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT};
    VkBuffer buf;
    assert_int_equal(vkCreateBuffer(h.device, &bi, NULL, &buf), VK_SUCCESS);
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(h.device, buf, &req);
    VkPhysicalDeviceMemoryProperties mp;
    vkGetPhysicalDeviceMemoryProperties(h.phys, &mp);
    uint32_t type = 0;
    while (!(req.memoryTypeBits & (1u << type))) type++;
    VkMemoryAllocateFlagsInfo flags = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_FLAGS_INFO,
                                       .flags = VK_MEMORY_ALLOCATE_DEVICE_ADDRESS_BIT};
    VkMemoryAllocateInfo mai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
                                .pNext = &flags,
                                .allocationSize = req.size,
                                .memoryTypeIndex = type};
    VkDeviceMemory mem;
    assert_int_equal(vkAllocateMemory(h.device, &mai, NULL, &mem), VK_SUCCESS);
    assert_int_equal(vkBindBufferMemory(h.device, buf, mem, 0), VK_SUCCESS);
    vks_buffer *wrapped = NULL;
    VKT_OK(vks_buffer_wrap(ctx, (uint64_t)(uintptr_t)buf, 4096, &wrapped));
    uint64_t handle = 0, address = 0;
    VKT_OK(vks_buffer_get_vulkan(wrapped, &handle, &address));
    assert_int_equal(handle, (uint64_t)(uintptr_t)buf);
    assert_true(address != 0);
    gemm_and_check(ctx, wrapped, NULL, &h);
    VKT_OK(vks_buffer_destroy(wrapped)); /* leaves the host's buffer alone */
    VKT_FAILS(vks_buffer_wrap(ctx, 0, 16, &wrapped), VKS_ERROR_INVALID_ARGUMENT, "VK_NULL_HANDLE");
    VKT_OK(vks_context_destroy(ctx));
    vkDestroyBuffer(h.device, buf, NULL);
    vkFreeMemory(h.device, mem, NULL);
    assert_int_equal(h.messages, 0);
    vkt_host_destroy(&h);
}

static void test_interop_errors(void **state) {
    (void)state;
    vks_vulkan_device vd = {.struct_size = sizeof vd};
    vks_context_options o = vkt_options();
    o.vulkan = &vd;
    vks_context *ctx = NULL;
    VKT_FAILS(vks_context_create(&o, &ctx), VKS_ERROR_INVALID_ARGUMENT, "needs instance, physical_device, device");
    vd.struct_size = 3;
    VKT_FAILS(vks_context_create(&o, &ctx), VKS_ERROR_INVALID_ARGUMENT, "struct_size = 3");
    vkt_host h;
    vkt_host_create(&h);
    vd = vkt_host_device(&h, 0);
    VKT_FAILS(vks_context_create(&o, &ctx), VKS_ERROR_UNSUPPORTED, "lacks VKS_FEATURE_BUFFER_ADDRESS");
    assert_null(ctx);
    VKT_FAILS(vks_begin_external_recording(vkt->ctx, NULL), VKS_ERROR_INVALID_ARGUMENT, "command_buffer is NULL");
    vkt_host_destroy(&h);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VKT_TEST(test_interop_host_device),
        VKT_TEST(test_interop_external_recording),
        VKT_TEST(test_interop_wrapped_buffer),
        VKT_TEST(test_interop_errors),
    };
    return VKT_RUN(tests);
}
