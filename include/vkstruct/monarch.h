/* vkstruct — Monarch products: block-diagonal matmul, fused Monarch forward/backward, projection onto Monarch.
 * Include <vkstruct/vkstruct.h>; it includes this header.
 *
 * Conventions (those of HazyResearch fly / m2 `blockdiag_butterfly_multiply`, so that their
 * tensors go in unchanged). Row-major, one row per token:
 *   x:(B, n) with n = k*p,   w1:(k, q, p),   w2:(l, s, r) with l*r = k*q,   y:(B, m) with m = l*s.
 *   1. out1 = per block i of x (columns i*p .. i*p+p-1): x_i * w1[i]^T       -> (B, k*q)
 *   2. middle permutation: view (B, k*q) as (B, r, l), transpose to (B, l, r)
 *   3. out2 = per block l_idx: u_l * w2[l_idx]^T                               -> (l, B, s)
 *   4. output column = s_idx*l + l_idx.
 * The dense equivalent M (m x n) has y = x M^T. The square Monarch matrix of the paper is
 * k = r = q = l = sqrt(n) ("nblocks" blocks of each factor).
 *
 * Every op here: x, y, dy, dx are rank 1..4 tensors whose last stride is 1 (leading
 * dimensions are rows; they must collapse to one row stride); weights are compact
 * (k, q, p) / (l, s, r) / (nblocks, out, in); dtypes f32, or f16 storage (needs
 * VKS_FEATURE_STORAGE16) with f32 accumulation, all tensors of one call the same dtype.
 *
 * Kernel choices come from the context's tuning (vks_tuning in vkstruct.h, settled at
 * vks_context_create from the caller and the environment; for testing and benchmarking):
 *   kernels (VKS_KERNELS=gpu|cpu)  the GPU (shared-memory) or CPU (subgroup-shuffle) kernels
 *                                  whatever the device type
 *   monarch_coopmat (VKS_MONARCH_COOPMAT=1|0)  f16 block-diagonal products on tensor cores
 *                                  (where the device has VK_NV_cooperative_matrix) for every
 *                                  product, or none; AUTO: for products of at most 256 rows per
 *                                  block, where they measured faster; EMULATE (=emulate) runs
 *                                  the same tiles without them (tests)
 *   monarch_grouped (VKS_MONARCH_GROUPED=1)  the grouped block-batched kernel (opt-in)
 */
#ifndef VKSTRUCT_MONARCH_H
#define VKSTRUCT_MONARCH_H

#include "vkstruct/vkstruct.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- block-diagonal linear (M2-BERT BlockdiagLinear) ------------------------------------ */

typedef struct vks_blockdiag_desc {
    size_t struct_size;     /* sizeof(vks_blockdiag_desc) */
    const vks_tensor *x;    /* (B, nblocks*in_blk) */
    const vks_tensor *w;    /* (nblocks, out_blk, in_blk) */
    const vks_tensor *bias; /* optional, (nblocks*out_blk) */
    const vks_tensor *y;    /* (B, nblocks*out_blk), written */
    vks_activation activation;
} vks_blockdiag_desc;

#define VKS_BLOCKDIAG_DESC_INIT {sizeof(vks_blockdiag_desc), NULL, NULL, NULL, NULL, VKS_ACT_NONE}

typedef vks_status vks_blockdiag_linear_fn(vks_context *ctx, const vks_blockdiag_desc *desc);
/* y = act(x * BD(w)^T + bias): y[:, i*out_blk + j] = sum_a w[i, j, a] x[:, i*in_blk + a]. */
VKS_API vks_blockdiag_linear_fn vks_blockdiag_linear;

typedef struct vks_blockdiag_backward_desc {
    size_t struct_size;  /* sizeof(vks_blockdiag_backward_desc) */
    const vks_tensor *x; /* the forward's input (needed for dw) */
    const vks_tensor *w;
    const vks_tensor *dy;    /* (B, nblocks*out_blk): gradient after the activation's derivative */
    const vks_tensor *dx;    /* optional output (B, nblocks*in_blk) */
    const vks_tensor *dw;    /* optional output (nblocks, out_blk, in_blk) */
    const vks_tensor *dbias; /* optional output (nblocks*out_blk) */
} vks_blockdiag_backward_desc;

#define VKS_BLOCKDIAG_BACKWARD_DESC_INIT {sizeof(vks_blockdiag_backward_desc), NULL, NULL, NULL, NULL, NULL, NULL}

typedef vks_status vks_blockdiag_backward_fn(vks_context *ctx, const vks_blockdiag_backward_desc *desc);
/* dx = dy * BD(w), dw[i] = dy_i^T x_i, dbias = column sums of dy. Outputs left NULL are
 * not computed (at least one must be given). */
VKS_API vks_blockdiag_backward_fn vks_blockdiag_backward;

/* ---- Monarch forward ---------------------------------------------------------------------- */

typedef enum vks_monarch_path {
    VKS_MONARCH_PATH_AUTO = 0,     /* fused when the shape allows it, else two-pass */
    VKS_MONARCH_PATH_FUSED = 1,    /* one dispatch; the intermediate stays on chip (see vks_monarch_fusable) */
    VKS_MONARCH_PATH_TWO_PASS = 2, /* two dispatches; the permutations folded into their addressing */
    VKS_MONARCH_PATH_UNFUSED = 3   /* the peers' way: 2 block-diagonal GEMMs + 2 explicit permutation passes */
} vks_monarch_path;

typedef struct vks_monarch_desc {
    size_t struct_size;     /* sizeof(vks_monarch_desc) */
    const vks_tensor *x;    /* (B, n) */
    const vks_tensor *w1;   /* (k, q, p) */
    const vks_tensor *w2;   /* (l, s, r) */
    const vks_tensor *bias; /* optional, (m) */
    const vks_tensor *y;    /* (B, m), written */
    vks_activation activation;
    vks_monarch_path path;
    /* 0: n == k*p and m == l*s exactly (blockdiag_butterfly_multiply).
     * 1: n <= k*p (x read as zero-padded) and m <= l*s (output truncated), as MonarchLinear. */
    int32_t padded;
} vks_monarch_desc;

#define VKS_MONARCH_DESC_INIT {sizeof(vks_monarch_desc), NULL, NULL, NULL, NULL, NULL, VKS_ACT_NONE, VKS_MONARCH_PATH_AUTO, 0}

typedef vks_status vks_monarch_forward_fn(vks_context *ctx, const vks_monarch_desc *desc);
/* y = act(monarch(x, w1, w2) + bias), in the convention above. */
VKS_API vks_monarch_forward_fn vks_monarch_forward;

typedef vks_status vks_monarch_linear_shapes_fn(int64_t in_features, int64_t out_features, int64_t nblocks,
                                                int64_t w1_shape[3], int64_t w2_shape[3]);
/* The weight shapes of fly's MonarchLinear(in_features, out_features, nblocks):
 * in_blk = ceil(in/nblocks), out_blk = ceil(out/nblocks); w1 = (nblocks, in_blk, in_blk) and
 * w2 = (nblocks, out_blk, in_blk) when nblocks*in_blk < nblocks*out_blk, else
 * w1 = (nblocks, out_blk, in_blk) and w2 = (nblocks, out_blk, out_blk). */
VKS_API vks_monarch_linear_shapes_fn vks_monarch_linear_shapes;

typedef vks_status vks_monarch_linear_fn(vks_context *ctx, const vks_monarch_desc *desc);
/* MonarchLinear's forward: x (B, in_features), y (B, out_features), nblocks = w1.shape[0];
 * w1, w2 must have the shapes vks_monarch_linear_shapes gives. The input is zero-padded to
 * nblocks*in_blk, the output truncated to out_features, then bias and activation are applied.
 * desc->padded is ignored (always 1). */
VKS_API vks_monarch_linear_fn vks_monarch_linear;

typedef vks_status vks_monarch_fusable_fn(vks_context *ctx, const vks_tensor *w1, const vks_tensor *w2,
                                          int64_t batch, int32_t *fusable);
/* Whether VKS_MONARCH_PATH_FUSED can run these weight shapes at this batch on this device.
 * CPUs (and GPUs above batch 32) need q to be a multiple of l (q = R*l: every block pair
 * (l_idx, i) of M has rank R); every device needs the intermediate values of one output
 * block for a tile of rows to fit on chip. VKS_MONARCH_PATH_AUTO takes it when it can, except
 * on GPUs above batch 32 (docs/monarch.md). */
VKS_API vks_monarch_fusable_fn vks_monarch_fusable;

/* ---- Monarch backward --------------------------------------------------------------------- */

typedef struct vks_monarch_backward_desc {
    size_t struct_size;    /* sizeof(vks_monarch_backward_desc) */
    const vks_tensor *x;   /* the forward's input (B, n) */
    const vks_tensor *w1;  /* (k, q, p) */
    const vks_tensor *w2;  /* (l, s, r) */
    const vks_tensor *dy;  /* (B, m): gradient of the output, after the activation's derivative */
    const vks_tensor *dx;  /* optional output (B, n) */
    const vks_tensor *dw1; /* optional output (k, q, p) */
    const vks_tensor *dw2; /* optional output (l, s, r) */
    const vks_tensor *dbias; /* optional output (m): column sums of dy */
    int32_t padded;          /* as vks_monarch_desc.padded */
} vks_monarch_backward_desc;

#define VKS_MONARCH_BACKWARD_DESC_INIT {sizeof(vks_monarch_backward_desc), NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0}

typedef vks_status vks_monarch_backward_fn(vks_context *ctx, const vks_monarch_backward_desc *desc);
/* The reference's four products: with dout viewed (l, B, s) and u the forward's permuted
 * intermediate (recomputed here from x and w1), dw2 = dout^T u; du = dout w2, inverse
 * shuffle to dout1 (k, B, q); dx = dout1 w1; dw1 = dout1^T x. Outputs left NULL are not
 * computed (at least one must be given). */
VKS_API vks_monarch_backward_fn vks_monarch_backward;

/* ---- projection of a dense matrix onto Monarch -------------------------------------------- */

typedef struct vks_monarch_project_desc {
    size_t struct_size;   /* sizeof(vks_monarch_project_desc) */
    const vks_tensor *m;  /* dense (m_rows, n_cols), y = x m^T; m_rows = l*s, n_cols = k*p (or <= with padded) */
    const vks_tensor *w1; /* output (k, q, p) */
    const vks_tensor *w2; /* output (l, s, r) */
    /* Both 0 (the default) with f32 m where LAPACK can be loaded (vks_eigh's tridiagonal
     * method): each block's top-R right singular vectors come from the eigendecomposition of
     * B^T B in float64 (LAPACK's dsyevd on the host; m is read back): no iteration, no
     * unconverged blocks. Otherwise (f16 m, no LAPACK, or either set) the subspace iteration: */
    int32_t max_iterations; /* subspace iterations (applications of B^T B) per block (0: 64) */
    double tolerance;       /* relative change of the captured energy |B V|^2 that ends a block's
                               iteration (0: 1e-6) */
    int32_t padded;         /* 1: m_rows <= l*s and n_cols <= k*p, the rest read as zeros (MonarchLinear) */
} vks_monarch_project_desc;

#define VKS_MONARCH_PROJECT_DESC_INIT {sizeof(vks_monarch_project_desc), NULL, NULL, NULL, 0, 0.0, 0}

typedef struct vks_monarch_project_result {
    size_t struct_size;       /* sizeof(vks_monarch_project_result) */
    double relative_error;    /* ||M - monarch(w1, w2)||_F / ||M||_F, measured on the device */
    int32_t iterations;       /* the most iterations any block needed (0: solved by the eigensolver) */
    int32_t unconverged;      /* blocks that reached max_iterations without meeting the tolerance */
    int32_t max_rank;         /* the largest rank of a block pair (R = q/l in the regular case) */
    int64_t blocks;           /* block pairs (l_idx, i) projected */
} vks_monarch_project_result;

#define VKS_MONARCH_PROJECT_RESULT_INIT {.struct_size = sizeof(vks_monarch_project_result)}

typedef vks_status vks_monarch_project_fn(vks_context *ctx, const vks_monarch_project_desc *desc,
                                          vks_monarch_project_result *result);
/* The Frobenius-optimal Monarch approximation of a dense matrix, computed on the device.
 * Block (l_idx, i) of M, rows t*l + l_idx (t < s) and columns i*p + a (a < p), is produced by
 * w2[l_idx, :, rho] and w1[i, j, :] for the rho with (rho*l + l_idx) / q == i (j its remainder):
 * these parameter sets are disjoint, so the optimum is a truncated SVD of each block
 * (rank R = the number of such rho; 1 for the square Monarch), its sqrt(sigma) split between
 * the factors. Runs a batched subspace iteration per block and returns the relative error
 * (measured on the stored factors) in *result (optional). Synchronizes, so it cannot run
 * during external recording. NaN or Inf in m gives VKS_ERROR_NON_FINITE. */
VKS_API vks_monarch_project_fn vks_monarch_project;

/* Functions of this family (membership only: the plugin table's order is
 * VKS_PLUGIN_FUNCTIONS in plugin.h, where a new function is appended too). */
#define VKS_MONARCH_FUNCTIONS(X)                                                           \
    X(vks_blockdiag_linear)                                                                \
    X(vks_blockdiag_backward)                                                              \
    X(vks_monarch_forward)                                                                 \
    X(vks_monarch_linear_shapes)                                                           \
    X(vks_monarch_linear)                                                                  \
    X(vks_monarch_fusable)                                                                 \
    X(vks_monarch_backward)                                                                \
    X(vks_monarch_project)

#ifdef __cplusplus
}
#endif

#endif /* VKSTRUCT_MONARCH_H */
