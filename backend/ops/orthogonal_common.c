/*
 * What the orthogonalization family's ops share: the workspace, argument checks, and the
 * recorders of strided copies, GEMMs on views, and the SYRK kernels (the lower triangle of
 * S S^T, half a GEMM's work; Newton-Schulz, Gram matrices and the Cholesky update use it).
 */
#include <stddef.h>
#include <string.h>

#include "orthogonal_internal.h"

/* ---- workspace ---------------------------------------------------------------------------- */

VkDeviceAddress vks__orth_take(orth_ws *ws, uint64_t bytes) {
    if (ws->used + orth_round(bytes) > ws->size) {
        ws->overflow = true;
        return ws->base;
    }
    VkDeviceAddress a = ws->base + ws->used;
    ws->used += orth_round(bytes);
    return a;
}

vks_status vks__orth_ws_check(const orth_ws *ws, const char *fn) {
    if (!ws->overflow) return VKS_OK;
    return vks__error(VKS_ERROR_VULKAN, "%s: internal error: the op's workspace was sized too small (%llu bytes)", fn,
                      (unsigned long long)ws->size);
}

vks_status vks__orth_ws_begin(vks_context *ctx, uint64_t bytes, orth_ws *ws) {
    *ws = (orth_ws){0, 0, bytes, false};
    return vks__scratch(ctx, bytes ? bytes : 256, &ws->base);
}

vks_status vks__orth_ws_fill(vks_context *ctx, VkDeviceAddress addr, uint64_t bytes, uint32_t pattern) {
    const uint64_t off = addr - ctx->scratch->address;
    return vks__record_fill(ctx, ctx->scratch->buffer, off, (bytes + 3) / 4 * 4, pattern);
}

vks_status vks__orth_ws_read(vks_context *ctx, VkDeviceAddress addr, void *dst, uint64_t bytes) {
    return vks__buffer_read_locked(ctx->scratch, addr - ctx->scratch->address, dst, bytes);
}

/* ---- checks ------------------------------------------------------------------------------- */

vks_status vks__orth_view(vks_context *ctx, const vks_tensor *t, const char *fn, const char *arg, orth_mat *m) {
    VKS_TRY(vks__matrix_view(ctx, t, fn, arg, m));
    if (m->batch > ctx->probe.info.max_workgroup_count[2])
        return vks__error(VKS_ERROR_OUT_OF_RANGE, "%s: %s has a batch of %lld matrices; at most %u per call", fn, arg,
                          (long long)m->batch, ctx->probe.info.max_workgroup_count[2]);
    if (m->batch > 1 && m->batch_stride == 0)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: %s has batch %lld with batch stride 0", fn, arg,
                          (long long)m->batch);
    return vks__check_matrix_span(m, fn, arg);
}

vks_status vks__orth_out_view(vks_context *ctx, const vks_tensor *t, const char *fn, const char *arg, orth_mat *m) {
    VKS_TRY(vks__orth_view(ctx, t, fn, arg, m));
    return vks__check_output_matrix(m, fn, arg);
}

vks_status vks__orth_check_info(vks_context *ctx, const vks_tensor *t, int64_t count, const char *fn, const char *arg) {
    VKS_TRY(vks__check_tensor(ctx, t, fn, arg));
    VKS_TRY(vks__check_dtype(t, VKS_DTYPE_I32, fn, arg));
    if (vks__tensor_numel(t) != count || !vks__tensor_is_contiguous(t))
        return vks__error(VKS_ERROR_SHAPE_MISMATCH, "%s: %s has %lld elements%s; expected %lld contiguous i32", fn, arg,
                          (long long)vks__tensor_numel(t), vks__tensor_is_contiguous(t) ? "" : " (not contiguous)",
                          (long long)count);
    return VKS_OK;
}

/* ---- copies ------------------------------------------------------------------------------- */

typedef struct copy_push {
    uint64_t src, dst, src_bs, dst_bs;
    uint32_t rows, cols, src_rs, src_cs, dst_rs, dst_cs;
} copy_push;
_Static_assert(sizeof(copy_push) == 56, "copy_push mirrors shaders/orthogonal_copy.comp");

vks_status vks__orth_copy(vks_context *ctx, int mode, const orth_mat *src, const orth_mat *dst) {
    if (dst->rows == 0 || dst->cols == 0 || dst->batch == 0) return VKS_OK;
    copy_push pc = {.src = src ? src->address : 0,
                    .dst = dst->address,
                    .src_bs = src ? (uint64_t)src->batch_stride : 0,
                    .dst_bs = (uint64_t)dst->batch_stride,
                    .rows = (uint32_t)dst->rows,
                    .cols = (uint32_t)dst->cols,
                    .src_rs = src ? (uint32_t)src->row_stride : 0,
                    .src_cs = src ? (uint32_t)src->col_stride : 0,
                    .dst_rs = (uint32_t)dst->row_stride,
                    .dst_cs = (uint32_t)dst->col_stride};
    /* f32 <-> f64 conversions run in the f64 variant. */
    const bool src_f32 = src && src->dtype == VKS_DTYPE_F32 && dst->dtype == VKS_DTYPE_F64;
    const bool dst_f32 = src && src->dtype == VKS_DTYPE_F64 && dst->dtype == VKS_DTYPE_F32;
    const vks_spec spec = {.count = 4, .values = {64, (uint32_t)mode, src_f32, dst_f32}};
    const vks_shader_id sh = (dst->dtype == VKS_DTYPE_F64 || dst_f32) ? VKS_SHADER_ORTHOGONAL_COPY_F64
                                                                       : VKS_SHADER_ORTHOGONAL_COPY_F32;
    const uint32_t gy = (uint32_t)VKS_MIN(dst->rows, vks__cpu_kernels(ctx) ? 64 : 2048);
    return vks__dispatch(ctx, sh, &spec, &pc, sizeof pc, (uint32_t)VKS_CEIL_DIV(dst->cols, 64), gy,
                         (uint32_t)dst->batch);
}

/* ---- GEMM on views --------------------------------------------------------------------------- */

static orth_mat unit_stride(orth_mat m) {
    if (m.cols <= 1) m.col_stride = 1;
    else if (m.rows <= 1 && m.col_stride != 1) m.row_stride = 1;
    return m;
}

vks_status vks__orth_gemm(vks_context *ctx, double alpha, orth_mat a, orth_mat b, double beta, orth_mat c) {
    a = unit_stride(a), b = unit_stride(b), c = unit_stride(c);
    if (c.col_stride != 1) { /* column-major C: C^T = B^T A^T into its row-major view */
        orth_mat t = orth_t(b);
        b = orth_t(a);
        a = t;
        c = orth_t(c);
    }
    const vks_gemm_args g = {.dtype = c.dtype,
                             .m = c.rows,
                             .n = c.cols,
                             .k = a.cols,
                             .batch = c.batch,
                             .a = a.address,
                             .b = b.address,
                             .c = c.address,
                             .a_rs = a.row_stride,
                             .a_cs = a.col_stride,
                             .b_rs = b.row_stride,
                             .b_cs = b.col_stride,
                             .c_rs = c.row_stride,
                             .a_bs = a.batch_stride,
                             .b_bs = b.batch_stride,
                             .c_bs = c.batch_stride,
                             .alpha = alpha,
                             .beta = beta,
                             .activation = VKS_ACT_NONE};
    return vks__gemm_record(ctx, &g);
}

/* ---- SYRK ------------------------------------------------------------------------------------ */

typedef struct syrk_push {
    uint64_t s, cin, cout;
    uint32_t n, k, lda, ldc_in;
    uint32_t ldc_out, pad0, pad1, pad2;
    uint64_t stride_s, stride_cin, stride_cout;
    union {
        struct { float alpha, beta, gamma; } f;
        struct { double alpha, beta, gamma; } d;
    } v;
} syrk_push;
_Static_assert(offsetof(syrk_push, v) == 80, "syrk_push mirrors shaders/common/orthogonal_syrk_push.glsl");

vks_status vks__orth_syrk(vks_context *ctx, const orth_syrk_args *a) {
    const orth_mat s = unit_stride(a->s);
    const int64_t n = s.rows, k = s.cols; /* k = 0 works: the epilogue alone */
    if (n == 0 || a->cout.batch == 0) return VKS_OK;
    const bool trans = s.col_stride != 1; /* S stored k x n: S(i, kk) = s[kk*lda + i] */
    const bool f64 = a->cout.dtype == VKS_DTYPE_F64, f16 = a->cout.dtype == VKS_DTYPE_F16;
    syrk_push pc = {.s = s.address,
                    .cin = a->beta != 0 ? a->cin.address : 0,
                    .cout = a->cout.address,
                    .n = (uint32_t)n,
                    .k = (uint32_t)k,
                    .lda = (uint32_t)(trans ? s.col_stride : s.row_stride),
                    .ldc_in = a->beta != 0 ? (uint32_t)a->cin.row_stride : 0,
                    .ldc_out = (uint32_t)a->cout.row_stride,
                    .stride_s = (uint64_t)s.batch_stride,
                    .stride_cin = a->beta != 0 ? (uint64_t)a->cin.batch_stride : 0,
                    .stride_cout = (uint64_t)a->cout.batch_stride};
    if (f64) pc.v.d.alpha = a->alpha, pc.v.d.beta = a->beta, pc.v.d.gamma = a->gamma;
    else pc.v.f.alpha = (float)a->alpha, pc.v.f.beta = (float)a->beta, pc.v.f.gamma = (float)a->gamma;
    const uint32_t push_bytes = f64 ? 104 : 96;
    const uint32_t gz = (uint32_t)a->cout.batch;
    if (vks__cpu_kernels(ctx)) {
        const uint32_t sg = ctx->probe.info.subgroup_size, tn = 8;
        const uint32_t tm = n <= sg ? sg : 2 * sg;
        const uint64_t align = 2 * vks__dtype_bytes(s.dtype);
        const bool base_ok = !f64 && pc.lda % 2 == 0 && s.address % align == 0 && s.batch_stride % 2 == 0;
        /* Not transposed: both operands pair along k. Transposed: A pairs along m, B along n. */
        const bool pa = base_ok && (!trans || (n % 2 == 0 && tm % (2 * sg) == 0));
        const bool pb = base_ok && (!trans || n % 2 == 0);
        const vks_spec spec = {.count = 8,
                               .values = {sg, tm, tn, pa, pb, trans, a->mirror, sg},
                               .required_subgroup_size = vks__has_feature(ctx, VKS_FEATURE_SUBGROUP_CONTROL) ? sg : 0};
        return vks__dispatch(ctx,
                             f64   ? VKS_SHADER_ORTHOGONAL_SYRK_REGTILE_F64
                             : f16 ? VKS_SHADER_ORTHOGONAL_SYRK_REGTILE_F16
                                   : VKS_SHADER_ORTHOGONAL_SYRK_REGTILE_F32,
                             &spec, &pc, push_bytes, (uint32_t)VKS_CEIL_DIV(n, sg * tn), (uint32_t)VKS_CEIL_DIV(n, tm),
                             gz);
    }
    /* f16 on NVIDIA's cooperative matrices: tensor cores (layout as gemm_coopmat). */
    if (f16 && vks__tensor_cores(ctx)) {
        const uint32_t bt = 128, wm = 2, wn = 4;
        const bool vec = !trans && pc.lda % 8 == 0 && s.batch_stride % 8 == 0 && s.address % 16 == 0;
        if (trans) /* the kernel reads rows of S: a transposed view is not what it takes */
            return vks__error(VKS_ERROR_UNSUPPORTED, "%s: internal: f16 SYRK of a transposed view on tensor cores",
                              vks__current_fn(ctx));
        const vks_spec spec = {.count = 7,
                               .values = {32 * wm * wn, bt, 32, wm, wn, vec, a->mirror},
                               .required_subgroup_size = vks__has_feature(ctx, VKS_FEATURE_SUBGROUP_CONTROL) ? 32 : 0};
        const uint32_t tiles = (uint32_t)VKS_CEIL_DIV(n, bt);
        return vks__dispatch(ctx, VKS_SHADER_ORTHOGONAL_SYRK_COOPMAT_F16, &spec, &pc, push_bytes, tiles, tiles, gz);
    }
    /* GPUs: 128 x 128 tiles (8 x 8 per invocation) when the lower triangle has enough of
     * them to fill the device, else 64 x 64 (4 x 4); f64 always 64. */
    uint32_t bt = 128, tt = 8;
    const int64_t t128 = VKS_CEIL_DIV(n, 128);
    if (f64 || t128 * (t128 + 1) / 2 * a->cout.batch < 128) bt = 64, tt = 4;
    const uint32_t tiles = (uint32_t)VKS_CEIL_DIV(n, bt);
    const vks_spec spec = {.count = 6, .values = {(bt / tt) * (bt / tt), bt, 8, tt, trans, a->mirror}};
    return vks__dispatch(ctx,
                         f64   ? VKS_SHADER_ORTHOGONAL_SYRK_TILED_F64
                         : f16 ? VKS_SHADER_ORTHOGONAL_SYRK_TILED_F16
                               : VKS_SHADER_ORTHOGONAL_SYRK_TILED_F32,
                         &spec, &pc, push_bytes, tiles, tiles, gz);
}
