/* Creates a context on the best (or $VKS_DEVICE) device and runs one GEMM. */
#include <math.h>
#include <stdio.h>

#include <vkstruct/vkstruct.h>

int main(void) {
    vks_context *ctx = NULL;
    if (vks_context_create(NULL, &ctx) != VKS_OK) {
        fprintf(stderr, "consumer: %s\n", vks_last_error(NULL));
        return 1;
    }
    float v[12] = {1, 2, 3, 4, 1, 0, 0, 1, 0, 0, 0, 0}; /* A (2x2), B = I, C */
    vks_buffer *b = NULL;
    int ok = vks_buffer_create(ctx, sizeof v, &b) == VKS_OK && vks_buffer_write(b, 0, v, sizeof v) == VKS_OK;
    vks_tensor a = vks_tensor_2d(b, VKS_DTYPE_F32, 2, 2), bb = a, c = a;
    bb.byte_offset = 16, c.byte_offset = 32;
    ok = ok && vks_gemm(ctx, VKS_NO_TRANS, VKS_NO_TRANS, 2.0, &a, &bb, 0.0, &c) == VKS_OK &&
         vks_buffer_read(b, 32, v + 8, 16) == VKS_OK;
    ok = ok && fabsf(v[8] - 2) + fabsf(v[9] - 4) + fabsf(v[10] - 6) + fabsf(v[11] - 8) < 1e-6f;
    vks_context_destroy(ctx);
    printf("consumer: vkstruct %s %s\n", VKS_VERSION_STRING, ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
}
