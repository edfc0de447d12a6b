/*
 * Private to the low-rank family (backend/ops/lowrank*.c): the problem description every
 * public entry point reduces to, and the recorder that runs it.
 *
 * Every low-rank forward is, per row ("slot") s of x with adapter a(s):
 *   t[s, c] = scale_a * post_a[c] * sum_k x[row(s), k] S_a(c, k)            (shrink, f32)
 *   y[row(s), o] = beta*y + sum_k x[row(s), k] W[o, k] + sum_c t[s, c] E_a(o, c) + bias[o]
 * LoRA: S = A, E = B. Factorized: S = V, E = U. RandLoRA: S and E are PEFT's flattened bases.
 */
#ifndef VKS_LOWRANK_INTERNAL_H
#define VKS_LOWRANK_INTERNAL_H

#include "internal.h"

/* One adapter as the kernels read it (mirrors LoraAdapter in shaders/common/lowrank.glsl). */
typedef struct lr_adapter {
    uint64_t s, e, g, post; /* device addresses; g, post 0 when unused */
    uint32_t rank;
    uint32_t s_ld, e_ld, g_ld;
    uint32_t nb;
    float scale;
    uint32_t s_vec, e_vec; /* filled by the recorder for the kernels it picks */
} lr_adapter;
_Static_assert(sizeof(lr_adapter) == 64, "lr_adapter must mirror LoraAdapter (shaders/common/lowrank.glsl)");
_Static_assert(offsetof(lr_adapter, rank) == 32 && offsetof(lr_adapter, scale) == 52, "lr_adapter layout");

typedef enum lr_s_mode { LR_S_PLAIN = 0, LR_S_TRANSPOSED = 1, LR_S_PRODUCT = 2 } lr_s_mode;

/* A device-resident row -> adapter mapping, resolved by the plan kernel. */
typedef struct lr_device_map {
    VkDeviceAddress ids, starts; /* starts 0: gathered */
    uint32_t nseg;
    const vks_buffer *status_buffer; /* the caller's status tensor, or NULL: the op reads back */
    uint64_t status_offset;
    /* For the message when reading back (gathered): the ids tensor. */
    vks_buffer *ids_buffer;
    uint64_t ids_offset;
} lr_device_map;

/* A validated low-rank computation. */
typedef struct lr_problem {
    const char *fn;  /* public function name, for messages */
    const char *op;  /* op name for profiling */
    vks_dtype dtype; /* f32 or f16 */
    uint32_t m, in, out;
    VkDeviceAddress x, w, y, bias; /* w, bias: 0 = none */
    uint32_t ldx, ldw, ldy;
    float beta;
    /* adapters (host table; s_vec/e_vec are set by the recorder) */
    lr_adapter *adapters;
    int32_t nadapters;
    uint32_t max_rank;
    lr_s_mode s_mode;
    bool e_product;
    /* mapping: multi = per-row adapters; else every row uses adapter 0 */
    bool multi;
    const int32_t *slot_adapter; /* host: m ids in slot order (validated) */
    const uint32_t *slot_row;    /* host: m rows of x/y in slot order; NULL = identity */
    const lr_device_map *dev_map; /* or device-resident (identity slots) */
    /* stages */
    bool shrink, expand;
    VkDeviceAddress t; /* the caller's f32 t (m, ldt); 0: scratch */
    uint32_t ldt;
} lr_problem;

/* Records the problem (validated by the caller, vks__lr_check_problem) inside the prologue's op region. */
vks_status vks__lr_record(vks_context *ctx, const lr_problem *pb);
/* The limits vks__lr_record's kernels impose, checked before anything is recorded. */
vks_status vks__lr_check_problem(const vks_context *ctx, const lr_problem *pb);

/* Decode-sized fused LoRA on tensor cores (lowrank_splitk.c): whether it takes the problem,
 * and its recorder (inside vks__lr_record's op). */
bool vks__lr_splitk_applies(const vks_context *ctx, const lr_problem *pb);
vks_status vks__lr_record_splitk(vks_context *ctx, const lr_problem *pb);

/* ---- validation helpers (lowrank.c; the vocabulary is tensor.c's) ---- */

/* x, y, w, a, b, t: rows views (vks__rows_view, rank 2..4 or 2). */
typedef vks_rows lr_mat;
#define VKS_LR_DTYPES (VKS_DTYPES_F32 | VKS_DTYPES_F16)
/* y has m rows (those of x) that do not overlap. */
vks_status vks__lr_check_y(const lr_mat *my, int64_t m, const char *fn);
/* The base weight w: (out, in), dtype dt. */
vks_status vks__lr_check_weight(vks_context *ctx, const vks_tensor *w, vks_dtype dt, int64_t out, int64_t in,
                                const char *fn, lr_mat *mw);

#endif /* VKS_LOWRANK_INTERNAL_H */
