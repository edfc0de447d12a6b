/*
 * Private to the Monarch family (backend/ops/monarch*.c): argument checking shared by
 * its entry points, and the recorders of its kernels.
 */
#ifndef VKS_MONARCH_INTERNAL_H
#define VKS_MONARCH_INTERNAL_H

#include "internal.h"

/* ---- shapes and validation (monarch.c) ------------------------------------------------ */

/* Tensors read or written as rows (x, y, dx, dy, m) are vks__rows_view's (tensor.c): rank 1..4,
 * rows that do not overlap even in inputs. */
#define VKS_MON_DTYPES (VKS_DTYPES_F32 | VKS_DTYPES_F16)
/* MonarchLinear's weight shapes for valid (>= 1) sizes (vks_monarch_linear_shapes checks them). */
void vks__mon_linear_shapes(int64_t in_features, int64_t out_features, int64_t nblocks, int64_t w1_shape[3],
                            int64_t w2_shape[3]);
/* A compact rank-3 weight tensor (blocks, rows, cols) of dtype `dt` with every size >= 1. */
vks_status vks__mon_weight_view(const vks_context *ctx, const vks_tensor *t, vks_dtype dt, const char *fn,
                            const char *arg, int64_t shape[3]);
/* One Monarch problem: x (batch, n_in) -> y (batch, m_out), w1 (k, q, p), w2 (l, s, r). */
typedef struct mon_problem {
    vks_dtype dtype;
    int64_t batch, n_in, m_out;
    int64_t k, q, p, l, s, r;
    VkDeviceAddress x, w1, w2, y, bias; /* y, bias: 0 when not used */
    int64_t ldx, ldy;
    vks_activation activation;
} mon_problem;

/* ---- recorders (monarch_record.c); callers validated, inside an op region ------------------ */

/* Which kernel family runs: the GPU one (shared-memory tiles) unless vks__cpu_kernels says
 * otherwise (the context's tuning.kernels, else the device type; tests run the GPU kernels
 * on lavapipe with it). */
bool vks__mon_gpu_kernels(const vks_context *ctx);

/* lavapipe (llvmpipe) ends every loop of a shader invocation once 65535 loop iterations
 * have run in it, counted over all its loops and never reset, and the results are then
 * silently wrong. On CPU devices long reductions therefore go in slices of this many terms
 * (a k-step of the CPU kernels costs up to 3 loop iterations per 2 terms). */
#define MON_CPU_K_SLICE 32768

/* A temporary copy of rows x cols elements (zero-padded x or dy, out2) must stay within the
 * kernels' 32-bit indexing: OUT_OF_RANGE naming `what` otherwise. */
vks_status vks__mon_check_copy_size(int64_t rows, int64_t cols, const char *fn, const char *what);

/* A strided block-batched GEMM (shaders/common/monarch_bmm_push.glsl). */
typedef struct mon_bmm {
    vks_dtype dtype;
    int64_t m, n, k, blocks;
    VkDeviceAddress a, b, c, bias;
    int64_t a_bs, a_rs, a_cs, b_bs, b_rs, b_cs, c_bs, c_rs, c_cs, bias_bs, bias_cs;
    /* Limits (vks__mon_bmm_init sets "none"): K_z = min(k, ceil((k_lim - z*k_z)/k_j)) terms,
     * N_z = min(n, ceil((n_lim - z*n_z)/n_j)) written columns. */
    int64_t k_z, k_j, k_lim, n_z, n_j, n_lim;
    vks_activation activation;
} mon_bmm;

mon_bmm vks__mon_bmm_init(vks_dtype dt, int64_t blocks, int64_t m, int64_t n, int64_t k);
vks_status vks__mon_bmm_record(vks_context *ctx, const mon_bmm *g);

/* dst[c] (+)= sum over rows of src[r, c] (row stride ld): the bias gradients of the
 * block-diagonal and Monarch backward passes (monarch_blockdiag.c). */
vks_status vks__mon_colsum_record(vks_context *ctx, vks_dtype dt, VkDeviceAddress src, int64_t rows, int64_t cols,
                                  int64_t ld, VkDeviceAddress dst);

/* An explicit permutation pass (shaders/monarch_permute.comp). */
typedef struct mon_permute {
    vks_dtype dtype;
    VkDeviceAddress src, dst, bias;
    int64_t n0, n1, n2;
    int64_t s0, s1, s2, d0, d1, d2;
    int64_t src_lim; /* 0: no zero padding */
    int64_t col_lim; /* columns written (INT32_MAX: all) */
    vks_activation activation;
} mon_permute;

vks_status vks__mon_permute_record(vks_context *ctx, const mon_permute *pm);

/* The forward paths. */
typedef struct mon_fused_config {
    vks_shader_id shader;
    vks_spec spec;
    uint32_t groups_x, groups_y;
} mon_fused_config;

/* Whether the fused kernel can take this problem on this device (and how). */
bool vks__mon_fused_plan(const vks_context *ctx, const mon_problem *pr, mon_fused_config *cfg);
/* Whether VKS_MONARCH_PATH_AUTO takes the fused kernel when it can. */
bool vks__mon_fused_preferred(const vks_context *ctx, const mon_problem *pr);
vks_status vks__mon_forward_fused(vks_context *ctx, const mon_problem *pr, const mon_fused_config *cfg);
/* Two dispatches; out1 (batch, k*q) goes to `scratch` (0: the context's scratch). */
vks_status vks__mon_forward_two_pass(vks_context *ctx, const mon_problem *pr, VkDeviceAddress scratch);
vks_status vks__mon_forward_unfused(vks_context *ctx, const mon_problem *pr);

/* Bytes of one element / address of element `index` of an array at `base`. */
static inline VkDeviceAddress mon__addr(VkDeviceAddress base, int64_t index, vks_dtype dt) {
    return base + (VkDeviceAddress)index * vks__dtype_bytes(dt);
}

#endif /* VKS_MONARCH_INTERNAL_H */
