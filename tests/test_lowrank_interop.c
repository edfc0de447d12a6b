/* A multi-adapter batch recorded into a host's command buffer (the serving engine's case):
 * adapter ids in device memory, problems reported through the status tensor without any
 * wait; without a status tensor the op refuses (it could not wait for its check). The host
 * device is made here with Vulkan loaded at run time (validation layer on, any message
 * fails the test). */
#define VK_NO_PROTOTYPES
#include <math.h>
#include <string.h>

#include "reference_lowrank.h"
#include "vkt_host.h"

/* Through the loader's vkGetInstanceProcAddr, as an engine that loads Vulkan itself would. */
#define IFN(h, name) ((PFN_##name)(h)->gipa((h)->instance, #name))


static void test_lowrank_external_recording(void **state) {
    (void)state;
    vkt_host h;
    vkt_host_create(&h);
    vks_vulkan_device vd = vkt_host_device(&h, VKS_FEATURE_BUFFER_ADDRESS | VKS_FEATURE_INT64);
    vks_context_options o = vkt_options();
    o.vulkan = &vd;
    vks_context *ctx = NULL;
    VKT_OK(vks_context_create(&o, &ctx));

    /* 6 rows, 3 adapters; row 2 names adapter 9 (bad): it gets the base output. */
    enum { M = 6, IN = 20, OUT = 12, NAD = 3 };
    static const int32_t ranks[NAD] = {2, 5, 3}, ids[M] = {1, 0, 9, -1, 2, 1};
    static const double scales[NAD] = {0.5, 1.5, -1.0};
    int64_t ao[NAD], bo[NAD], na, nb;
    VKT_OK(vks_lora_pack_offsets(NAD, ranks, IN, OUT, ao, bo, &na, &nb));
    vkt_rng rng = vkt_rng_seed(7);
    double *x = vkt_random(&rng, M * IN, -1, 1), *w = vkt_random(&rng, OUT * IN, -1, 1);
    double *a = vkt_random(&rng, (size_t)na, -1, 1), *b = vkt_random(&rng, (size_t)nb, -1, 1);
    vkt_round_to(VKS_DTYPE_F32, x, M * IN), vkt_round_to(VKS_DTYPE_F32, w, OUT * IN);
    vkt_round_to(VKS_DTYPE_F32, a, (size_t)na), vkt_round_to(VKS_DTYPE_F32, b, (size_t)nb);
    /* Buffers of the host's context, filled through it. */
    vks_buffer *X, *W, *A, *B, *Y, *I, *S;
    const vks_dtype f32 = VKS_DTYPE_F32;
    VKT_OK(vks_buffer_create(ctx, M * IN * 4, &X));
    VKT_OK(vks_buffer_create(ctx, OUT * IN * 4, &W));
    VKT_OK(vks_buffer_create(ctx, (uint64_t)na * 4, &A));
    VKT_OK(vks_buffer_create(ctx, (uint64_t)nb * 4, &B));
    VKT_OK(vks_buffer_create(ctx, M * OUT * 4, &Y));
    VKT_OK(vks_buffer_create(ctx, M * 4, &I));
    VKT_OK(vks_buffer_create(ctx, 8, &S));
    float fx[M * IN], fw[OUT * IN], fa[256], fb[256], fy[M * OUT];
    int32_t fs[2] = {-7, -7};
    for (int i = 0; i < M * IN; ++i) fx[i] = (float)x[i];
    for (int i = 0; i < OUT * IN; ++i) fw[i] = (float)w[i];
    for (int64_t i = 0; i < na; ++i) fa[i] = (float)a[i];
    for (int64_t i = 0; i < nb; ++i) fb[i] = (float)b[i];
    for (int i = 0; i < M * OUT; ++i) fy[i] = NAN;
    VKT_OK(vks_buffer_write(X, 0, fx, sizeof fx));
    VKT_OK(vks_buffer_write(W, 0, fw, sizeof fw));
    VKT_OK(vks_buffer_write(A, 0, fa, (size_t)na * 4));
    VKT_OK(vks_buffer_write(B, 0, fb, (size_t)nb * 4));
    VKT_OK(vks_buffer_write(Y, 0, fy, sizeof fy));
    VKT_OK(vks_buffer_write(I, 0, ids, sizeof ids));
    VKT_OK(vks_buffer_write(S, 0, fs, sizeof fs));
    VKT_OK(vks_synchronize(ctx));

    vks_tensor tx = vks_tensor_2d(X, f32, M, IN), tw = vks_tensor_2d(W, f32, OUT, IN);
    vks_tensor ty = vks_tensor_2d(Y, f32, M, OUT);
    vks_tensor ta = vks_tensor_1d(A, f32, na), tb = vks_tensor_1d(B, f32, nb);
    vks_tensor ti = vks_tensor_1d(I, VKS_DTYPE_I32, M), ts = vks_tensor_1d(S, VKS_DTYPE_I32, 2);
    vks_lora_adapters ad = VKS_LORA_ADAPTERS_INIT;
    ad.count = NAD, ad.ranks = ranks, ad.scales = scales, ad.a = &ta, ad.b = &tb;
    vks_lora_multi_desc d = VKS_LORA_MULTI_DESC_INIT;
    d.x = &tx, d.w = &tw, d.y = &ty, d.adapters = &ad, d.indices_dev = &ti;

    VkCommandBuffer cb;
    VkCommandBufferAllocateInfo cai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                       .commandPool = h.pool,
                                       .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                       .commandBufferCount = 1};
    assert_int_equal(IFN(&h, vkAllocateCommandBuffers)(h.device, &cai, &cb), VK_SUCCESS);
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    assert_int_equal(IFN(&h, vkBeginCommandBuffer)(cb, &bi), VK_SUCCESS);
    VKT_OK(vks_begin_external_recording(ctx, cb));
    VKT_FAILS(vks_lora_multi_forward(ctx, &d), VKS_ERROR_INVALID_ARGUMENT,
              "a device-resident adapter mapping needs desc->status while a host records");
    d.status = &ts;
    VKT_OK(vks_lora_multi_forward(ctx, &d)); /* returns at once: nothing ran yet */
    VKT_OK(vks_end_external_recording(ctx));
    assert_int_equal(IFN(&h, vkEndCommandBuffer)(cb), VK_SUCCESS);
    VkFenceCreateInfo fi = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    VkFence fence;
    IFN(&h, vkCreateFence)(h.device, &fi, NULL, &fence);
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &cb};
    assert_int_equal(IFN(&h, vkQueueSubmit)(h.queue, 1, &si, fence), VK_SUCCESS);
    assert_int_equal(IFN(&h, vkWaitForFences)(h.device, 1, &fence, VK_TRUE, UINT64_MAX), VK_SUCCESS);
    IFN(&h, vkDestroyFence)(h.device, fence, NULL);

    VKT_OK(vks_buffer_read(S, 0, fs, sizeof fs));
    assert_int_equal(fs[0], 1); /* one bad row ... */
    assert_int_equal(fs[1], 2); /* ... row 2 */
    VKT_OK(vks_buffer_read(Y, 0, fy, sizeof fy));
    double got[M * OUT], want[M * OUT], delta[OUT * IN];
    for (int i = 0; i < M * OUT; ++i) got[i] = fy[i];
    for (int i = 0; i < M; ++i) {
        memset(delta, 0, sizeof delta);
        const int32_t k = ids[i] >= 0 && ids[i] < NAD ? ids[i] : -1;
        if (k >= 0) ref_lora_delta(OUT, IN, ranks[k], scales[k], b + bo[k], a + ao[k], delta);
        ref_linear(1, IN, OUT, x + i * IN, IN, w, delta, NULL, 0.0, want + i * OUT, OUT);
    }
    vkt_assert_close(got, want, M * OUT, 1e-5, "multi-adapter forward in a host's command buffer");
    free(x), free(w), free(a), free(b);
    VKT_OK(vks_context_destroy(ctx)); /* destroys its buffers; leaves the host's objects */
    assert_int_equal(h.messages, 0);
    vkt_host_destroy(&h);
}

int main(void) {
    const struct CMUnitTest tests[] = {VKT_TEST(test_lowrank_external_recording)};
    return VKT_RUN(tests);
}
