/* Tensor descriptions: validation every op shares, matrix views, DLPack import. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

size_t vks__dtype_bytes(vks_dtype dt) {
    switch (dt) {
    case VKS_DTYPE_F32: return 4;
    case VKS_DTYPE_F16: return 2;
    case VKS_DTYPE_F64: return 8;
    case VKS_DTYPE_BF16: return 2;
    case VKS_DTYPE_I32: return 4;
    case VKS_DTYPE_I64: return 8;
    default: return 0;
    }
}

const char *vks__dtype_name(vks_dtype dt) {
    static const char *const names[] = {"f32", "f16", "f64", "bf16", "i32", "i64"};
    return (unsigned)dt < VKS_COUNT_OF(names) ? names[dt] : "invalid dtype";
}

vks_status vks_dtype_size(vks_dtype dtype, size_t *bytes) {
    if (!bytes) return vks__error(VKS_ERROR_INVALID_ARGUMENT, "vks_dtype_size: bytes is NULL");
    *bytes = vks__dtype_bytes(dtype);
    if (!*bytes) return vks__error(VKS_ERROR_INVALID_ARGUMENT, "vks_dtype_size: dtype = %d is not a vks_dtype", (int)dtype);
    return VKS_OK;
}

int64_t vks__tensor_numel(const vks_tensor *t) {
    int64_t n = 1;
    for (int32_t i = 0; i < t->ndim; ++i) n *= t->shape[i];
    return n;
}

bool vks__tensor_is_contiguous(const vks_tensor *t) {
    int64_t stride = 1;
    for (int32_t i = t->ndim - 1; i >= 0; --i) {
        if (t->shape[i] != 1 && t->strides[i] != stride) return false;
        stride *= t->shape[i];
    }
    return true;
}

VkDeviceAddress vks__tensor_address(const vks_tensor *t) { return t->buffer->address + t->byte_offset; }

/* Shape text like "(3, 4, 5)" for messages. */
static const char *shape_text(const vks_tensor *t, char *buf, size_t n) {
    size_t used = (size_t)snprintf(buf, n, "(");
    for (int32_t i = 0; i < t->ndim && i < VKS_MAX_DIMS && used < n; ++i)
        used += (size_t)snprintf(buf + used, n - used, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
    if (used < n) snprintf(buf + used, n - used, ")");
    return buf;
}

vks_status vks__check_tensor(const vks_context *ctx, const vks_tensor *t, const char *fn, const char *arg) {
    if (!t) return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: %s is NULL", fn, arg);
    char what[64];
    snprintf(what, sizeof what, "%s.buffer", arg);
    VKS_TRY(vks__check_buffer(ctx, t->buffer, fn, what));
    const size_t es = vks__dtype_bytes(t->dtype);
    if (!es) return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: %s.dtype = %d is not a vks_dtype", fn, arg, (int)t->dtype);
    if (t->ndim < 1 || t->ndim > VKS_MAX_DIMS)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: %s.ndim = %d, expected 1..%d", fn, arg, t->ndim, VKS_MAX_DIMS);
    int64_t last = 0; /* index of the last element */
    bool empty = false;
    for (int32_t i = 0; i < t->ndim; ++i) {
        if (t->shape[i] < 0)
            return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: %s.shape[%d] = %lld, expected >= 0", fn, arg, i,
                              (long long)t->shape[i]);
        if (t->strides[i] < 0)
            return vks__error(VKS_ERROR_UNSUPPORTED, "%s: %s.strides[%d] = %lld; negative strides are not supported",
                              fn, arg, i, (long long)t->strides[i]);
        if (t->shape[i] == 0) empty = true;
        int64_t span;
        if (t->shape[i] > 0 &&
            (__builtin_mul_overflow(t->shape[i] - 1, t->strides[i], &span) || __builtin_add_overflow(last, span, &last)))
            return vks__error(VKS_ERROR_OUT_OF_RANGE, "%s: %s's extent overflows 64 bits", fn, arg);
    }
    if (t->byte_offset % es)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: %s.byte_offset = %llu is not a multiple of the %s size %zu",
                          fn, arg, (unsigned long long)t->byte_offset, vks__dtype_name(t->dtype), es);
    if (empty) return VKS_OK;
    uint64_t end;
    if (__builtin_mul_overflow((uint64_t)last + 1, (uint64_t)es, &end) ||
        __builtin_add_overflow(end, t->byte_offset, &end)) { /* said without the wrapped sum */
        char s[96];
        return vks__error(VKS_ERROR_OUT_OF_RANGE,
                          "%s: %s of shape %s spans %llu elements of %zu bytes from byte %llu, past 2^64; its buffer "
                          "has %llu bytes", fn, arg, shape_text(t, s, sizeof s), (unsigned long long)last + 1, es,
                          (unsigned long long)t->byte_offset, (unsigned long long)t->buffer->size);
    }
    if (end > t->buffer->size) {
        char s[96];
        return vks__error(VKS_ERROR_OUT_OF_RANGE,
                          "%s: %s of shape %s spans bytes [%llu, %llu) but its buffer has %llu bytes", fn, arg,
                          shape_text(t, s, sizeof s), (unsigned long long)t->byte_offset, (unsigned long long)end,
                          (unsigned long long)t->buffer->size);
    }
    return VKS_OK;
}

vks_status vks__check_ndim(const vks_tensor *t, int32_t lo, int32_t hi, const char *fn, const char *arg) {
    if (t->ndim >= lo && t->ndim <= hi) return VKS_OK;
    char s[96];
    if (lo == hi)
        return vks__error(VKS_ERROR_SHAPE_MISMATCH, "%s: %s has shape %s (rank %d), expected rank %d", fn, arg,
                          shape_text(t, s, sizeof s), t->ndim, lo);
    return vks__error(VKS_ERROR_SHAPE_MISMATCH, "%s: %s has shape %s (rank %d), expected rank %d..%d", fn, arg,
                      shape_text(t, s, sizeof s), t->ndim, lo, hi);
}

vks_status vks__check_dtype(const vks_tensor *t, vks_dtype want, const char *fn, const char *arg) {
    if (t->dtype == want) return VKS_OK;
    return vks__error(VKS_ERROR_DTYPE_MISMATCH, "%s: %s has dtype %s, expected %s", fn, arg, vks__dtype_name(t->dtype),
                      vks__dtype_name(want));
}

vks_status vks__check_dtype_in(const vks_context *ctx, vks_dtype dt, uint32_t allowed, const char *fn,
                               const char *arg) {
    if ((unsigned)dt >= 32 || !(allowed & (1u << dt))) {
        char list[64] = "";
        const vks_dtype order[] = {VKS_DTYPE_F32, VKS_DTYPE_F16, VKS_DTYPE_BF16, VKS_DTYPE_F64, VKS_DTYPE_I32,
                                   VKS_DTYPE_I64};
        int n = 0, total = 0;
        for (size_t i = 0; i < VKS_COUNT_OF(order); ++i) total += (allowed >> order[i]) & 1;
        for (size_t i = 0; i < VKS_COUNT_OF(order); ++i) {
            if (!((allowed >> order[i]) & 1)) continue;
            const size_t used = strlen(list);
            snprintf(list + used, sizeof list - used, "%s%s", n == 0 ? "" : n + 1 == total ? " or " : ", ",
                     vks__dtype_name(order[i]));
            ++n;
        }
        return vks__error(VKS_ERROR_UNSUPPORTED, "%s: %s has dtype %s; expected %s", fn, arg, vks__dtype_name(dt), list);
    }
    if ((dt == VKS_DTYPE_F16 || dt == VKS_DTYPE_BF16) && !vks__has_feature(ctx, VKS_FEATURE_STORAGE16))
        return vks__error(VKS_ERROR_UNSUPPORTED, "%s: %s needs 16-bit storage buffer access, which device '%s' lacks",
                          fn, vks__dtype_name(dt), ctx->probe.info.name);
    if (dt == VKS_DTYPE_F64 && !vks__has_feature(ctx, VKS_FEATURE_FLOAT64))
        return vks__error(VKS_ERROR_UNSUPPORTED, "%s: f64 needs shaderFloat64, which device '%s' lacks", fn,
                          ctx->probe.info.name);
    return VKS_OK;
}

vks_status vks__check_float_dtype(const vks_context *ctx, vks_dtype dt, const char *fn, const char *arg) {
    return vks__check_dtype_in(ctx, dt, VKS_DTYPES_F32 | VKS_DTYPES_F64, fn, arg);
}

vks_status vks__matrix_view(const vks_context *ctx, const vks_tensor *t, const char *fn, const char *arg,
                            vks_matrix *m) {
    VKS_TRY(vks__check_tensor(ctx, t, fn, arg));
    VKS_TRY(vks__check_ndim(t, 2, 3, fn, arg));
    const int32_t r = t->ndim - 2;
    *m = (vks_matrix){.address = vks__tensor_address(t),
                      .dtype = t->dtype,
                      .batch = t->ndim == 3 ? t->shape[0] : 1,
                      .rows = t->shape[r],
                      .cols = t->shape[r + 1],
                      .batch_stride = t->ndim == 3 ? t->strides[0] : 0,
                      .row_stride = t->strides[r],
                      .col_stride = t->strides[r + 1]};
    /* A stride along a dimension of size 1 is never used: make it the unit one. */
    if (m->cols <= 1) m->col_stride = 1;
    else if (m->rows <= 1 && m->col_stride != 1) m->row_stride = 1;
    if (m->col_stride != 1 && m->row_stride != 1)
        return vks__error(VKS_ERROR_UNSUPPORTED,
                          "%s: %s has strides (%lld, %lld); one of the two matrix strides must be 1", fn, arg,
                          (long long)t->strides[r], (long long)t->strides[r + 1]);
    const int64_t lim = INT32_MAX;
    if (m->rows > lim || m->cols > lim || m->row_stride > lim || m->col_stride > lim)
        return vks__error(VKS_ERROR_OUT_OF_RANGE, "%s: %s's rows, columns and strides must be below 2^31", fn, arg);
    return VKS_OK;
}

bool vks__strides_disjoint(const int64_t *counts, const int64_t *strides, int n) {
    /* In order of stride, each stride (of a dimension with more than one index) must step past
     * everything the smaller ones reach. Accepts interleaved layouts, e.g. a (rows, batch,
     * cols) tensor seen as a batch of matrices. */
    int64_t d[4][2];
    if (n > 4) return false;
    for (int i = 0; i < n; ++i) {
        if (counts[i] == 0) return true; /* nothing is written */
        d[i][0] = counts[i], d[i][1] = strides[i];
        for (int j = i; j > 0 && d[j][1] < d[j - 1][1]; --j) {
            const int64_t c = d[j][0], s = d[j][1];
            d[j][0] = d[j - 1][0], d[j][1] = d[j - 1][1], d[j - 1][0] = c, d[j - 1][1] = s;
        }
    }
    int64_t reach = 0; /* the largest offset the smaller strides reach */
    for (int i = 0; i < n; ++i) {
        if (d[i][0] <= 1) continue;
        if (d[i][1] <= reach) return false;
        reach += (d[i][0] - 1) * d[i][1];
    }
    return true;
}

vks_status vks__check_output_matrix(const vks_matrix *m, const char *fn, const char *arg) {
    if (m->batch > 1 && m->batch_stride == 0)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: %s has batch %lld with batch stride 0 (writes would collide)",
                          fn, arg, (long long)m->batch);
    /* vks__matrix_view made one of the two strides 1; the other must step past a whole row
     * (column). */
    const bool collide = m->col_stride == 1 ? m->rows > 1 && m->row_stride < m->cols
                                            : m->cols > 1 && m->col_stride < m->rows;
    if (collide)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT,
                          "%s: %s's rows overlap (strides (%lld, %lld) for %lld x %lld): writes would collide", fn, arg,
                          (long long)m->row_stride, (long long)m->col_stride, (long long)m->rows, (long long)m->cols);
    /* Batch entries must not overlap each other either. */
    const int64_t counts[3] = {m->batch, m->rows, m->cols};
    const int64_t strides[3] = {m->batch_stride, m->row_stride, m->col_stride};
    if (!vks__strides_disjoint(counts, strides, 3))
        return vks__error(VKS_ERROR_INVALID_ARGUMENT,
                          "%s: %s's batch entries overlap (batch stride %lld for %lld x %lld matrices with "
                          "strides (%lld, %lld)): writes would collide",
                          fn, arg, (long long)m->batch_stride, (long long)m->rows, (long long)m->cols,
                          (long long)m->row_stride, (long long)m->col_stride);
    return VKS_OK;
}

vks_status vks__check_output_vector(int64_t batch, int64_t n, int64_t batch_stride, int64_t stride, const char *fn,
                                    const char *arg) {
    const int64_t counts[2] = {batch, n}, strides[2] = {batch_stride, stride};
    if (vks__strides_disjoint(counts, strides, 2)) return VKS_OK;
    if (batch > 1 || batch_stride)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: %s's values collide (strides (%lld, %lld) for %lld x %lld values)",
                          fn, arg, (long long)batch_stride, (long long)stride, (long long)batch, (long long)n);
    return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: %s's values collide (strides (%lld) for %lld values)", fn, arg,
                      (long long)stride, (long long)n);
}

vks_status vks__check_matrix_span(const vks_matrix *m, const char *fn, const char *arg) {
    if (m->rows == 0 || m->cols == 0) return VKS_OK;
    const uint64_t last =
        (uint64_t)(m->rows - 1) * (uint64_t)m->row_stride + (uint64_t)(m->cols - 1) * (uint64_t)m->col_stride;
    if (last >= UINT32_MAX)
        return vks__error(VKS_ERROR_OUT_OF_RANGE, "%s: %s spans %llu elements per matrix; at most 2^32 - 1 are supported",
                          fn, arg, (unsigned long long)last + 1);
    return VKS_OK;
}

vks_status vks__rows_view(const vks_context *ctx, const vks_tensor *t, int32_t min_ndim, int32_t max_ndim,
                          bool distinct_rows, const char *fn, const char *arg, vks_rows *out) {
    VKS_TRY(vks__check_tensor(ctx, t, fn, arg));
    VKS_TRY(vks__check_ndim(t, min_ndim, max_ndim, fn, arg));
    const int32_t last = t->ndim - 1;
    const int64_t cols = t->shape[last];
    int64_t rows = 1;
    for (int32_t i = 0; i < last; ++i)
        if (__builtin_mul_overflow(rows, t->shape[i], &rows)) /* broadcast dims (stride 0) can be huge */
            return vks__error(VKS_ERROR_OUT_OF_RANGE, "%s: %s has more than 2^63 rows (its leading dimensions)", fn, arg);
    if (rows > INT32_MAX)
        return vks__error(VKS_ERROR_OUT_OF_RANGE, "%s: %s has %lld rows; at most 2^31 - 1", fn, arg, (long long)rows);
    if (cols > 1 && t->strides[last] != 1)
        return vks__error(VKS_ERROR_UNSUPPORTED, "%s: %s.strides[%d] = %lld; the last dimension must have stride 1", fn,
                          arg, last, (long long)t->strides[last]);
    /* The row stride is that of the innermost leading dimension with more than one index; every
     * other leading dimension must step over the rows of the dimensions after it. A size-1
     * dimension's stride is never used, so it stands for nothing; an empty tensor has no rows
     * to place. */
    int64_t ld = cols;
    if (rows > 1) {
        int32_t inner = last - 1;
        while (t->shape[inner] == 1) --inner;
        ld = t->strides[inner];
        int64_t below = t->shape[inner]; /* rows spanned by the dimensions after i */
        for (int32_t i = inner - 1; i >= 0; --i) {
            if (t->shape[i] > 1 && t->strides[i] != ld * below)
                return vks__error(VKS_ERROR_UNSUPPORTED,
                                  "%s: %s.strides[%d] = %lld; leading dimensions must collapse into rows "
                                  "(expected %lld)",
                                  fn, arg, i, (long long)t->strides[i], (long long)(ld * below));
            below *= t->shape[i];
        }
        if (distinct_rows && ld < cols)
            return vks__error(VKS_ERROR_UNSUPPORTED, "%s: %s's row stride %lld is below its %lld columns (rows overlap)",
                              fn, arg, (long long)ld, (long long)cols);
    }
    /* Kernels index within a tensor with 32-bit element offsets. */
    const uint64_t span = rows > 0 && cols > 0 ? (uint64_t)(rows - 1) * (uint64_t)ld + (uint64_t)cols : 0;
    if (cols > INT32_MAX || ld > INT32_MAX || span > UINT32_MAX)
        return vks__error(VKS_ERROR_OUT_OF_RANGE, "%s: %s spans %llu elements; at most 2^32 (rows, columns < 2^31)", fn,
                          arg, (unsigned long long)span);
    *out = (vks_rows){.t = t, .address = vks__tensor_address(t), .dtype = t->dtype, .rows = rows, .cols = cols, .ld = ld};
    return VKS_OK;
}

vks_status vks__check_output_rows(const vks_rows *r, const char *fn, const char *arg) {
    if (r->rows > 1 && r->cols > 0 && r->ld < r->cols)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: %s's row stride %lld is below its %lld columns (rows overlap)",
                          fn, arg, (long long)r->ld, (long long)r->cols);
    return VKS_OK;
}

vks_status vks__vector_view(const vks_context *ctx, const vks_tensor *t, vks_dtype dt, int64_t n, const char *fn,
                            const char *arg, VkDeviceAddress *address) {
    VKS_TRY(vks__check_tensor(ctx, t, fn, arg));
    VKS_TRY(vks__check_ndim(t, 1, 1, fn, arg));
    VKS_TRY(vks__check_dtype(t, dt, fn, arg));
    if (t->shape[0] != n || (n > 1 && t->strides[0] != 1))
        return vks__error(VKS_ERROR_SHAPE_MISMATCH, "%s: %s has shape (%lld) and stride %lld, expected (%lld) and 1", fn,
                          arg, (long long)t->shape[0], (long long)t->strides[0], (long long)n);
    if (address) *address = vks__tensor_address(t);
    return VKS_OK;
}

/* Byte range [lo, hi) a non-empty tensor's elements lie in. */
static void byte_span(const vks_tensor *t, uint64_t *lo, uint64_t *hi) {
    uint64_t last = 0;
    for (int32_t i = 0; i < t->ndim; ++i) last += (uint64_t)(t->shape[i] - 1) * (uint64_t)t->strides[i];
    *lo = t->byte_offset;
    *hi = t->byte_offset + (last + 1) * vks__dtype_bytes(t->dtype);
}

bool vks__tensors_overlap(const vks_tensor *a, const vks_tensor *b) {
    if (!a || !b || a->buffer != b->buffer) return false;
    if (vks__tensor_numel(a) == 0 || vks__tensor_numel(b) == 0) return false; /* no bytes */
    uint64_t al, ah, bl, bh;
    byte_span(a, &al, &ah);
    byte_span(b, &bl, &bh);
    return al < bh && bl < ah;
}

bool vks__same_view(const vks_tensor *a, const vks_tensor *b) {
    if (a->buffer != b->buffer || a->byte_offset != b->byte_offset || a->dtype != b->dtype || a->ndim != b->ndim)
        return false;
    for (int32_t i = 0; i < a->ndim; ++i)
        if (a->shape[i] != b->shape[i] || (a->shape[i] > 1 && a->strides[i] != b->strides[i])) return false;
    return true;
}

vks_status vks__check_no_alias(const vks_arg *outs, int n_outs, const vks_arg *ins, int n_ins, const char *fn) {
    for (int o = 0; o < n_outs; ++o) {
        const vks_arg *out = &outs[o];
        if (!out->t) continue;
        for (int j = 0; j < o; ++j)
            if (vks__tensors_overlap(out->t, outs[j].t))
                return vks__error(VKS_ERROR_INVALID_ARGUMENT,
                                  "%s: %s overlaps %s in memory; outputs must not alias each other", fn, out->name,
                                  outs[j].name);
        for (int i = 0; i < n_ins; ++i) {
            if (!ins[i].t || !vks__tensors_overlap(out->t, ins[i].t)) continue;
            const bool may_share = out->in_place && strcmp(out->in_place, ins[i].name) == 0;
            if (may_share && vks__same_view(out->t, ins[i].t)) continue;
            if (may_share)
                return vks__error(VKS_ERROR_INVALID_ARGUMENT,
                                  "%s: %s overlaps %s without being the same tensor (in place: pass %s == %s)", fn,
                                  out->name, ins[i].name, out->name, ins[i].name);
            return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: %s overlaps %s in memory; outputs must not alias inputs",
                              fn, out->name, ins[i].name);
        }
    }
    return VKS_OK;
}

/* ---- DLPack --------------------------------------------------------------------------------- */

static vks_status dl_dtype(DLDataType t, vks_dtype *out) {
    if (t.lanes != 1)
        return vks__error(VKS_ERROR_UNSUPPORTED, "vks_tensor_from_dlpack: dtype.lanes = %u, expected 1", t.lanes);
    if (t.code == kDLFloat && t.bits == 32) *out = VKS_DTYPE_F32;
    else if (t.code == kDLFloat && t.bits == 16) *out = VKS_DTYPE_F16;
    else if (t.code == kDLFloat && t.bits == 64) *out = VKS_DTYPE_F64;
    else if (t.code == kDLBfloat && t.bits == 16) *out = VKS_DTYPE_BF16;
    else if (t.code == kDLInt && t.bits == 32) *out = VKS_DTYPE_I32;
    else if (t.code == kDLInt && t.bits == 64) *out = VKS_DTYPE_I64;
    else
        return vks__error(VKS_ERROR_UNSUPPORTED, "vks_tensor_from_dlpack: dtype (code %u, bits %u) is not supported",
                          t.code, t.bits);
    return VKS_OK;
}

static bool is_live_buffer(const vks_context *ctx, const void *p) {
    for (const vks_buffer *b = ctx->buffers; b; b = b->next)
        if (b == p) return true;
    return false;
}

vks_status vks_tensor_from_dlpack(vks_context *ctx, const DLTensor *src, vks_tensor *out, vks_buffer **owned) {
    static const char fn[] = "vks_tensor_from_dlpack";
    if (!ctx) return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: ctx is NULL", fn);
    if (!src) return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: src is NULL", fn);
    if (!out) return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: out is NULL", fn);
    if (!owned) return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: owned is NULL", fn);
    *owned = NULL;
    if (src->ndim < 1 || src->ndim > VKS_MAX_DIMS)
        return vks__error(VKS_ERROR_UNSUPPORTED, "%s: src->ndim = %d, expected 1..%d", fn, src->ndim, VKS_MAX_DIMS);
    if (!src->shape) return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: src->shape is NULL", fn);
    vks_tensor t = {.ndim = src->ndim};
    VKS_TRY(dl_dtype(src->dtype, &t.dtype));
    int64_t stride = 1;
    bool stride_overflow = false; /* a compact stride past 64 bits (only matters if not empty) */
    for (int32_t i = src->ndim - 1; i >= 0; --i) {
        t.shape[i] = src->shape[i];
        t.strides[i] = src->strides ? src->strides[i] : stride; /* NULL strides: compact */
        if (!src->strides && i > 0 && __builtin_mul_overflow(stride, src->shape[i], &stride)) stride_overflow = true;
    }
    const size_t es = vks__dtype_bytes(t.dtype);
    if (src->device.device_type == kDLVulkan) {
        vks__lock(ctx);
        bool live = is_live_buffer(ctx, src->data);
        vks__unlock(ctx);
        if (!live)
            return vks__error(VKS_ERROR_INVALID_ARGUMENT,
                              "%s: a kDLVulkan tensor's data must be a vks_buffer* of this context; %p is not", fn,
                              src->data);
        t.buffer = (vks_buffer *)src->data;
        t.byte_offset = src->byte_offset;
        VKS_TRY(vks__check_tensor(ctx, &t, fn, "src"));
        *out = t;
        return VKS_OK;
    }
    if (src->device.device_type != kDLCPU)
        return vks__error(VKS_ERROR_UNSUPPORTED, "%s: src->device.device_type = %d; only kDLCPU (%d) and kDLVulkan (%d)",
                          fn, (int)src->device.device_type, (int)kDLCPU, (int)kDLVulkan);
    if (!src->data) return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: src->data is NULL", fn);
    /* Upload the span the strides cover, keeping the layout. */
    int64_t last = 0;
    bool empty = false;
    for (int32_t i = 0; i < t.ndim; ++i) {
        if (t.shape[i] < 0 || t.strides[i] < 0)
            return vks__error(VKS_ERROR_UNSUPPORTED, "%s: negative shape or stride in dim %d", fn, i);
        if (t.shape[i] == 0) empty = true;
    }
    for (int32_t i = 0; i < t.ndim && !empty; ++i) {
        int64_t span;
        if (stride_overflow || __builtin_mul_overflow(t.shape[i] - 1, t.strides[i], &span) ||
            __builtin_add_overflow(last, span, &last) || (uint64_t)last >= UINT64_MAX / es)
            return vks__error(VKS_ERROR_OUT_OF_RANGE, "%s: src's extent overflows 64 bits", fn);
    }
    if (empty) last = -1;
    uint64_t bytes = last < 0 ? es : ((uint64_t)last + 1) * es;
    vks_buffer *buf = NULL;
    VKS_TRY(vks_buffer_create(ctx, bytes, &buf));
    vks_status st = last < 0 ? VKS_OK : vks_buffer_write(buf, 0, (const uint8_t *)src->data + src->byte_offset, bytes);
    if (st != VKS_OK) {
        vks_buffer_destroy(buf);
        return st;
    }
    t.buffer = buf;
    *out = t;
    *owned = buf;
    return VKS_OK;
}
