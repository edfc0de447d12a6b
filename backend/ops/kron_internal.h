/*
 * Private to the Kronecker-GP files (backend/ops/kron*.c): argument views, the
 * Kronecker-product recorder every op of the family builds on, and small recorders.
 */
#ifndef VKS_KRON_INTERNAL_H
#define VKS_KRON_INTERNAL_H

#include "internal.h"

/* op(A) of one factor as the recorder reads it: element (j, i) at addr + (j*rs + i*cs)
 * elements, rows = m (output side), cols = n (input side); one of rs, cs is 1. */
typedef struct kron_factor {
    VkDeviceAddress addr;
    int64_t rows, cols, rs, cs;
} kron_factor;

/* A grid vector with k right-hand sides: element (e, r) at addr + e*k + r (row_major,
 * GPyTorch's (N, k)) or addr + r*n + e (k grids one after another, the layout the
 * Kronecker GEMMs compute in). k == 1 is always stored as not row_major. */
typedef struct kron_vec {
    VkDeviceAddress addr;
    int64_t n, k;
    bool row_major;
} kron_vec;

vks_status vks__kron_check_d(int32_t d, const char *fn);
/* A rank-2 factor as a kron_factor of op(A) (trans swaps the strides), dtype checked. */
vks_status vks__kron_factor_view(const vks_context *ctx, const vks_tensor *t, vks_transpose trans, vks_dtype dt,
                                 const char *fn, const char *arg, kron_factor *out);
/* A square, compact (n, n) matrix of dtype dt (eigenvectors, inverses). */
vks_status vks__kron_square_compact(const vks_context *ctx, const vks_tensor *t, int64_t n, vks_dtype dt,
                                    const char *fn, const char *arg);
/* A compact vector of n elements of dtype dt. */
vks_status vks__kron_vector_compact(const vks_context *ctx, const vks_tensor *t, int64_t n, vks_dtype dt,
                                    const char *fn, const char *arg);
/* x: (n) or (n, k) in one of the two layouts; k_expected < 0 accepts any k. */
vks_status vks__kron_vec_view(const vks_context *ctx, const vks_tensor *t, int64_t n, int64_t k_expected,
                              vks_dtype dt, const char *fn, const char *arg, kron_vec *out);
/* vks_arg entries "name[i]" for the d tensors ts (names: d buffers of 32 bytes), for
 * vks__check_no_alias. */
void vks__kron_indexed_args(const vks_tensor *const *ts, int32_t d, const char *name, char (*names)[32],
                            vks_arg *out);
/* Formats "(n_1 x ... x n_d)" for messages. */
const char *vks__kron_dims_text(int32_t d, const int64_t *n, char *buf, size_t size);

/* Elements of each of the two ping-pong buffers vks__kron_apply needs. */
int64_t vks__kron_apply_scratch(int32_t d, const kron_factor *f, int64_t k);
/* y = alpha * (⊗ op(A_i)) x + beta * y, recorded as d GEMMs (plus a transpose for a
 * row-major output with k > 1) through buf0/buf1 (each vks__kron_apply_scratch
 * elements, not overlapping x or y). Inside an op region; arguments validated. */
vks_status vks__kron_apply(vks_context *ctx, vks_dtype dt, int32_t d, const kron_factor *f, const kron_vec *x,
                           const kron_vec *y, double alpha, double beta, VkDeviceAddress buf0, VkDeviceAddress buf1);
/* dst (cols x rows) = alpha * src^T + beta * dst for a row-major src (rows x cols). */
vks_status vks__kron_transpose(vks_context *ctx, vks_dtype dt, VkDeviceAddress src, VkDeviceAddress dst,
                               int64_t rows, int64_t cols, double alpha, double beta);
/* Points of one grid dimension: n values at addr + j*stride elements. */
typedef struct kron_points {
    VkDeviceAddress addr;
    int64_t n, stride;
} kron_points;
/* Validates a kernel description (its kind's parameters; dx1, dx2 within 0..2). */
vks_status vks__kron_kernel_check(const vks_kernel_desc *desc, const char *fn, const char *name);
/* k (kv->rows = x1->n, kv->cols = x2->n) = d^dx1/dx^dx1 d^dx2/dx'^dx2 kernel(x1[i], x2[j]) in
 * dtype dt (desc's own dx1, dx2 are not used). Inside an op region; arguments validated. */
vks_status vks__kron_kernel_record(vks_context *ctx, const vks_kernel_desc *desc, vks_dtype dt, const kron_points *x1,
                                   const kron_points *x2, const kron_factor *kv, int32_t dx1, int32_t dx2,
                                   const char *fn);
/* A 1-D range of `groups` workgroups as gx x gy within the device's per-dimension limit. */
void vks__kron_groups_2d(const vks_context *ctx, int64_t groups, uint32_t *gx, uint32_t *gy);
/* The shader variant of a dtype. */
static inline vks_shader_id vks__kron_variant(vks_dtype dt, vks_shader_id f32, vks_shader_id f64) {
    return dt == VKS_DTYPE_F64 ? f64 : f32;
}

#endif /* VKS_KRON_INTERNAL_H */
