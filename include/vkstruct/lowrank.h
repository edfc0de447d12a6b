/* vkstruct — Low-rank GEMMs: fused LoRA, multi-adapter SGMV/BGMV, factorized layers, RandLoRA, merge, GaLore.
 * Include <vkstruct/vkstruct.h>; it includes this header.
 *
 * Conventions are PEFT's, so a checkpoint's tensors go in unchanged (docs/lowrank.md):
 *   x: (M, in), one row per token; W: (out, in) (nn.Linear.weight); A: (r, in) (lora_A.weight);
 *   B: (out, r) (lora_B.weight); y: (M, out).
 * x and y may also be rank 3 or 4 (batch, seq, features) when their leading dimensions
 * flatten into rows; every matrix needs unit stride along its last dimension. Storage is f32,
 * or f16 (needs VKS_FEATURE_STORAGE16) with f32 accumulation throughout; the rank-r
 * intermediate x·Aᵀ is always kept in f32. All tensors of one call share the dtype, except
 * the f32 intermediates and the i32 index tensors. */
#ifndef VKSTRUCT_LOWRANK_H
#define VKSTRUCT_LOWRANK_H

#include "vkstruct/vkstruct.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- fused LoRA ----------------------------------------------------------------------- */

typedef struct vks_lora_desc {
    size_t struct_size;     /* sizeof(vks_lora_desc) */
    const vks_tensor *x;    /* (M, in) */
    const vks_tensor *w;    /* (out, in) base weight; NULL: no base term */
    const vks_tensor *a;    /* (r, in)  lora_A.weight */
    const vks_tensor *b;    /* (out, r) lora_B.weight */
    const vks_tensor *bias; /* (out) or NULL */
    const vks_tensor *y;    /* (M, out), must not overlap the inputs */
    double scale;           /* s; PEFT: lora_alpha / r (rsLoRA: lora_alpha / sqrt(r)) */
    double beta;            /* y = beta*y + ...; with 0, y is not read (NaN there does not propagate) */
} vks_lora_desc;

#define VKS_LORA_DESC_INIT {sizeof(vks_lora_desc), NULL, NULL, NULL, NULL, NULL, NULL, 1.0, 0.0}

typedef vks_status vks_lora_forward_fn(vks_context *ctx, const vks_lora_desc *desc);
/* y = beta*y + x·Wᵀ + s·(x·Aᵀ)·Bᵀ + bias, reading W once: the shrink x·Aᵀ is computed once
 * per row (in f32) and the expand is added in the epilogue of the base GEMM. r may be 0. */
VKS_API vks_lora_forward_fn vks_lora_forward;

typedef vks_status vks_factorized_linear_fn(vks_context *ctx, const vks_tensor *x, const vks_tensor *v,
                                            const vks_tensor *u, const vks_tensor *bias, const vks_tensor *y);
/* A factorized (e.g. SVD-compressed) layer: y = (x·Vᵀ)·Uᵀ + bias, with V: (r, in) (the first
 * nn.Linear's weight) and U: (out, r) (the second's); bias may be NULL. The (M, r) product is
 * kept in f32 between the two halves. */
VKS_API vks_factorized_linear_fn vks_factorized_linear;

/* ---- multi-adapter batches (Punica / S-LoRA / vLLM) ---------------------------------- */

/* Many adapters of one layer, stacked without padding: A_i (r_i, in) row-major at element
 * a_offsets[i] of `a`, B_i (out, r_i) row-major at element b_offsets[i] of `b`. `a` and `b`
 * are compact tensors of any shape, read as flat arrays in the dtype of x. */
/* The most adapters one stack may hold (ids 0..count-1): past a million adapters a
 * served model's stack is a bug, and each one costs a 64-byte table entry per call. */
#define VKS_LORA_MAX_ADAPTERS (1 << 20)

typedef struct vks_lora_adapters {
    size_t struct_size;       /* sizeof(vks_lora_adapters) */
    int32_t count;            /* number of adapters (ids 0..count-1), 0..VKS_LORA_MAX_ADAPTERS */
    const int32_t *ranks;     /* count ranks r_i >= 0 (0: the adapter adds nothing) */
    const double *scales;     /* count scales s_i (PEFT: lora_alpha_i / r_i); NULL: all 1 */
    const int64_t *a_offsets; /* NULL: packed in order (see vks_lora_pack_offsets) */
    const int64_t *b_offsets; /* NULL: packed in order */
    const vks_tensor *a;
    const vks_tensor *b;
} vks_lora_adapters;

#define VKS_LORA_ADAPTERS_INIT {sizeof(vks_lora_adapters), 0, NULL, NULL, NULL, NULL, NULL, NULL}

typedef vks_status vks_lora_pack_offsets_fn(int32_t count, const int32_t *ranks, int64_t in_features,
                                            int64_t out_features, int64_t *a_offsets, int64_t *b_offsets,
                                            int64_t *a_elements, int64_t *b_elements);
/* The packed layout: A_0, A_1, ... back to back in `a` (r_i*in elements each), likewise the
 * B_i (out*r_i each). Fills the count offsets of each (either may be NULL) and the totals
 * (either may be NULL). Pure host function. */
VKS_API vks_lora_pack_offsets_fn vks_lora_pack_offsets;

typedef enum vks_lora_layout {
    VKS_LORA_GATHERED = 0, /* BGMV: one adapter id per row, rows in any order */
    VKS_LORA_SEGMENTED = 1 /* SGMV: rows seg_starts[s] .. seg_starts[s+1]-1 use seg_adapters[s] */
} vks_lora_layout;

/* Which adapter each row of x uses; id -1 = base only. The mapping is given either in host
 * memory (validated before anything is recorded: a bad id fails the call with
 * VKS_ERROR_OUT_OF_RANGE) or as device i32 tensors (then the kernels check each row, never
 * read out of bounds, and give rows with a bad id or outside the segments the base output
 * only; they count the problems in a status word {count, first}, `first` being the smallest
 * bad row index, or M + j for a bad seg_starts_dev[j] ({0, INT32_MAX} when all is well):
 *   - with `status` (an i32 tensor of >= 2 elements) the op writes it there and returns
 *     VKS_OK without waiting: read it when convenient;
 *   - without it the op waits for the result and returns VKS_ERROR_OUT_OF_RANGE naming the
 *     first problem (not possible during external recording: pass `status` there).
 * Segments (both residencies): seg_starts[0] = 0, non-decreasing, seg_starts[S] = M; empty
 * segments are allowed. */
typedef struct vks_lora_multi_desc {
    size_t struct_size;     /* sizeof(vks_lora_multi_desc) */
    const vks_tensor *x;    /* (M, in) */
    const vks_tensor *w;    /* (out, in) shared base weight; NULL: no base term */
    const vks_tensor *bias; /* (out) or NULL */
    const vks_tensor *y;    /* (M, out) */
    double beta;            /* y = beta*y + ...; with 0, y is not read */
    const vks_lora_adapters *adapters;
    vks_lora_layout layout;
    /* host-resident mapping */
    const int32_t *indices;      /* GATHERED: M ids */
    int32_t num_segments;        /* SEGMENTED: S */
    const int32_t *seg_starts;   /* SEGMENTED: S + 1 row offsets */
    const int32_t *seg_adapters; /* SEGMENTED: S ids */
    /* or device-resident (i32 tensors; leave the host pointers NULL) */
    const vks_tensor *indices_dev;      /* GATHERED: (M) */
    const vks_tensor *seg_starts_dev;   /* SEGMENTED: (S + 1) */
    const vks_tensor *seg_adapters_dev; /* SEGMENTED: (S) */
    const vks_tensor *status;           /* optional i32 (>= 2), device-resident mappings only */
} vks_lora_multi_desc;

#define VKS_LORA_MULTI_DESC_INIT                                                                                     \
    {sizeof(vks_lora_multi_desc), NULL, NULL, NULL, NULL, 0.0, NULL, VKS_LORA_GATHERED, NULL, 0, NULL, NULL, NULL,   \
     NULL, NULL, NULL}

typedef vks_status vks_lora_multi_forward_fn(vks_context *ctx, const vks_lora_multi_desc *desc);
/* y[i] = beta*y[i] + x[i]·Wᵀ + s_a·(x[i]·A_aᵀ)·B_aᵀ + bias with a = the adapter of row i: one
 * pass over W shared by all rows (each row's shrink in f32, its expand in the base GEMM's
 * epilogue), ranks mixed without padding. */
VKS_API vks_lora_multi_forward_fn vks_lora_multi_forward;

typedef vks_status vks_lora_multi_shrink_fn(vks_context *ctx, const vks_lora_multi_desc *desc, const vks_tensor *t);
/* The shrink alone: t[i, 0:r_a] = s_a·x[i]·A_aᵀ into an f32 tensor t (M, >= max r_i); the
 * columns past r_a, and the rows of base-only rows, are left as they were. desc->w, bias, y
 * and beta are ignored. */
VKS_API vks_lora_multi_shrink_fn vks_lora_multi_shrink;

typedef vks_status vks_lora_multi_expand_fn(vks_context *ctx, const vks_lora_multi_desc *desc, const vks_tensor *t);
/* The expand alone (with the base GEMM when desc->w is set): y[i] = beta*y[i] + x[i]·Wᵀ +
 * t[i, 0:r_a]·B_aᵀ + bias, t as vks_lora_multi_shrink leaves it (scales already applied).
 * desc->x is needed only with w. */
VKS_API vks_lora_multi_expand_fn vks_lora_multi_expand;

/* ---- RandLoRA (PEFT tuners/randlora) --------------------------------------------------- */

/* d_min = min(in, out), d_max = max(in, out), r = rank, n = number of bases. Scaled bases
 * Â[ρ, i, c] = λ[ρ, i]·A[ρ, c]·γ[i, c] flattened to (r·n, d_min) with row ρ·n + i; B flattened
 * to (d_max, n·r) with column i·r + ρ; column c of B_flat meets row c of Â_flat (PEFT's
 * order, which its checkpoints depend on). Neither ΔW nor the scaled bases are formed. */
typedef struct vks_randlora_desc {
    size_t struct_size;        /* sizeof(vks_randlora_desc) */
    const vks_tensor *x;       /* (M, in) */
    const vks_tensor *w;       /* (out, in) base weight; NULL: no base term */
    const vks_tensor *bias;    /* (out) or NULL */
    const vks_tensor *y;       /* (M, out) */
    const vks_tensor *basis_a; /* shared randlora_A: (r, D) or PEFT's (r, 1, D), D >= d_min; [:, :d_min] used */
    const vks_tensor *basis_b; /* shared randlora_B: (D', N, r), D' >= d_max, N >= n; [:d_max, :n, :] used */
    const vks_tensor *lambda;  /* randlora_lambda: (r, n) */
    const vks_tensor *gamma;   /* randlora_gamma: (n, d_min) */
    double scale;              /* PEFT: randlora_alpha / r */
    double beta;               /* y = beta*y + ...; with 0, y is not read */
} vks_randlora_desc;

#define VKS_RANDLORA_DESC_INIT {sizeof(vks_randlora_desc), NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 1.0, 0.0}

typedef vks_status vks_randlora_forward_fn(vks_context *ctx, const vks_randlora_desc *desc);
/* y = beta*y + x·Wᵀ + bias + s·ΔW-product, as PEFT computes it: in <= out: s·(x·Â_flatᵀ)·B_flatᵀ;
 * in > out: s·(x·B_flat)·Â_flat. */
VKS_API vks_randlora_forward_fn vks_randlora_forward;

/* ---- merge / unmerge -------------------------------------------------------------------- */

typedef vks_status vks_lora_merge_fn(vks_context *ctx, const vks_tensor *w, const vks_tensor *a,
                                     const vks_tensor *b, double scale);
/* In place: W += s·B·A (merge) or W -= s·B·A (unmerge), W: (out, in), A: (r, in), B: (out, r).
 * The update is computed in f32 and added with one rounding per element, so unmerge after
 * merge returns each element of W to within 1 ulp (of the stored dtype) of
 * max(|W|, |W + s·B·A|) — not of W's own value: entries much smaller than their update drift
 * by many of their own ulps, as PEFT's do. */
typedef vks_lora_merge_fn vks_lora_unmerge_fn;
VKS_API vks_lora_merge_fn vks_lora_merge;
VKS_API vks_lora_unmerge_fn vks_lora_unmerge;

/* ---- GaLore gradient projection -------------------------------------------------------- */

typedef enum vks_galore_side {
    VKS_GALORE_AUTO = 0,  /* GaLore's 'std' choice by the gradient's shape (m, n): RIGHT if m >= n, else LEFT */
    VKS_GALORE_RIGHT = 1, /* P: (r, n) (Vh[:r]); R = G·Pᵀ (m, r); back: G = scale·R·P */
    VKS_GALORE_LEFT = 2   /* P: (m, r) (U[:, :r]); R = Pᵀ·G (r, n); back: G = scale·P·R */
} vks_galore_side;

typedef vks_status vks_galore_project_fn(vks_context *ctx, vks_galore_side side, const vks_tensor *g,
                                         const vks_tensor *p, const vks_tensor *r);
/* R = G·Pᵀ or Pᵀ·G. G, P, R rank 2, or rank 3 for a batch of matrices (P may be rank 2 and
 * shared). P comes from the caller (an SVD of G, or the orthogonalization family). */
VKS_API vks_galore_project_fn vks_galore_project;

typedef vks_status vks_galore_project_back_fn(vks_context *ctx, vks_galore_side side, const vks_tensor *r,
                                              const vks_tensor *p, double scale, const vks_tensor *g);
/* G = scale·R·P or scale·P·R (GaLore's default scale is 0.25); AUTO decides by G's shape. */
VKS_API vks_galore_project_back_fn vks_galore_project_back;

/* Functions of this family (membership only: the plugin table's order is
 * VKS_PLUGIN_FUNCTIONS in plugin.h, where a new function is appended too). */
#define VKS_LOWRANK_FUNCTIONS(X)                                                                                     \
    X(vks_lora_forward)                                                                                              \
    X(vks_factorized_linear)                                                                                         \
    X(vks_lora_pack_offsets)                                                                                         \
    X(vks_lora_multi_forward)                                                                                        \
    X(vks_lora_multi_shrink)                                                                                         \
    X(vks_lora_multi_expand)                                                                                         \
    X(vks_randlora_forward)                                                                                          \
    X(vks_lora_merge)                                                                                                \
    X(vks_lora_unmerge)                                                                                              \
    X(vks_galore_project)                                                                                            \
    X(vks_galore_project_back)

#ifdef __cplusplus
}
#endif

#endif /* VKSTRUCT_LOWRANK_H */
