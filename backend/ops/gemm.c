/*
 * Dense GEMM: C = act(alpha * op(A) * op(B) + beta * C + bias).
 * Two kernels, chosen by device type (measured, see shaders/gemm_regtile.comp):
 *   GPUs: gemm_tiled   (shared-memory tiles, TM x TN register tiles per invocation)
 *   CPUs: gemm_regtile (register tiles only; lavapipe)
 * Tile sizes are specialization constants. vks__gemm_record is the building block the
 * structured ops reuse for their dense sub-products.
 */
#include <stddef.h>
#include <string.h>

#include "internal.h"

typedef struct gemm_push {
    uint64_t a, b, c, bias;
    uint32_t m, n, k, pad0;
    uint32_t lda, ldb, ldc, pad1;
    uint64_t stride_a, stride_b, stride_c;
    union {
        struct { float alpha, beta; } f;
        struct { double alpha, beta; } d;
    } s;
} gemm_push;
_Static_assert(offsetof(gemm_push, s) == 88, "gemm_push must mirror shaders/common/gemm_push.glsl");

typedef struct gemm_config {
    vks_shader_id shader;
    vks_spec spec;
    uint32_t tile_m, tile_n;
} gemm_config;

static vks_shader_id variant(vks_dtype dt, vks_shader_id f32, vks_shader_id f16, vks_shader_id f64) {
    return dt == VKS_DTYPE_F16 ? f16 : dt == VKS_DTYPE_F64 ? f64 : f32;
}

/* The tile of gemm_tiled.comp (vks_gemm_tile): BM x BN per workgroup, TM x TN per
 * invocation, BK terms a step, NBUF shared buffers (2: the next tile's loads overlap the
 * current one's arithmetic), COL4: an invocation's columns in runs of 4. */
bool vks__gemm_tile_wellformed(const vks_gemm_tile *w) {
    return w->tm != 0 && w->tn != 0 && w->bk != 0 && w->bk <= 64 && w->bm >= w->tm && w->bn >= w->tn &&
           w->bm % w->tm == 0 && w->bn % w->tn == 0 && w->nbuf >= 1 && w->nbuf <= 2 && w->col4 <= 1 &&
           !(w->col4 && w->tn % 4) && w->tm * w->tn <= 128;
}

/* The development knob tuning.gemm_tiled (VKS_GEMM_TILED="bm,bn,bk,tm,tn,nbuf,col4") tries
 * other tiles on GPUs (ignored where it does not fit the device). NBUF = 2 and COL4 are built
 * and tested (test_gemm) but off by default: not yet timed on a GPU. */
static void tiled_override(const vks_context *ctx, vks_dtype dt, vks_gemm_tile *t) {
    const vks_gemm_tile w = ctx->tuning.gemm_tiled;
    if (w.bm == 0 || !vks__gemm_tile_wellformed(&w)) return; /* not set (creation checked the rest) */
    const uint32_t threads = (w.bm / w.tm) * (w.bn / w.tn);
    const uint64_t acc_bytes = dt == VKS_DTYPE_F64 ? 8 : 4;
    const uint64_t shared = (uint64_t)w.nbuf * w.bk * ((w.bm + 4) + (w.bn + 4)) * acc_bytes;
    if (threads < 1 || threads > ctx->probe.info.max_workgroup_invocations || threads > ctx->probe.info.max_workgroup_size[0] ||
        shared > ctx->probe.info.max_shared_memory_bytes)
        return;
    *t = w;
}

static gemm_config choose_config(const vks_context *ctx, const vks_gemm_args *g, bool trans_a, bool trans_b) {
    gemm_config c = {0};
    if (vks__cpu_kernels(ctx)) {
        /* lavapipe: one subgroup per workgroup, TM rows x SG*TN columns (see the shader).
         * Paired loads need the pair to be one aligned unit: even leading dimension, an
         * 8-byte aligned base, and an even extent along the paired dimension. */
        /* Measured at 512^3 f32 (GFLOP/s): TM x TN = 8x4 9.0, 16x4 12.4, 8x8 9.6, 16x8 14.7,
         * 32x8 15.0, 16x16 12.9; without paired loads 16x8 gives 9.3. Few rows (decode):
         * TM = SG, since the loads of B dominate there whatever the tile. */
        const uint32_t sg = ctx->probe.info.subgroup_size, tn = 8;
        const uint32_t tm = g->m <= sg ? sg : 2 * sg;
        const bool pair_ok = g->dtype != VKS_DTYPE_F64;
        const uint64_t align = 2 * vks__dtype_bytes(g->dtype);
        const bool pa = pair_ok && (trans_a ? g->a_cs : g->a_rs) % 2 == 0 && g->a % align == 0 &&
                        (g->a_bs % 2 == 0) && (!trans_a || (g->m % 2 == 0 && tm % (2 * sg) == 0));
        const bool pb = pair_ok && (trans_b ? g->b_cs : g->b_rs) % 2 == 0 && g->b % align == 0 &&
                        (g->b_bs % 2 == 0) && (trans_b || g->n % 2 == 0);
        c.shader = variant(g->dtype, VKS_SHADER_GEMM_REGTILE_F32, VKS_SHADER_GEMM_REGTILE_F16,
                           VKS_SHADER_GEMM_REGTILE_F64);
        c.spec = (vks_spec){.count = 9,
                            .values = {sg, tm, tn, pa, pb, trans_a, trans_b, (uint32_t)g->activation, sg},
                            .required_subgroup_size = vks__has_feature(ctx, VKS_FEATURE_SUBGROUP_CONTROL) ? sg : 0};
        c.tile_m = tm;
        c.tile_n = sg * tn;
        return c;
    }
    /* f16 with NVIDIA's cooperative matrices: tensor cores. Subgroups of 32 lanes are what
     * the fragment layout assumes. */
    if (g->dtype == VKS_DTYPE_F16 && vks__tensor_cores(ctx)) {
        const uint32_t bm = 128, bn = 128, bk = 32, wm = 2, wn = 4;
        /* 16-byte reads need every 8-element group aligned: leading dimension, batch stride
         * and base address multiples of 8 elements. */
        const bool va = (trans_a ? g->a_cs : g->a_rs) % 8 == 0 && g->a_bs % 8 == 0 && g->a % 16 == 0;
        const bool vb = (trans_b ? g->b_cs : g->b_rs) % 8 == 0 && g->b_bs % 8 == 0 && g->b % 16 == 0;
        c.shader = VKS_SHADER_GEMM_COOPMAT_F16;
        c.spec = (vks_spec){.count = 11,
                            .values = {32 * wm * wn, bm, bn, bk, wm, wn, trans_a, trans_b, (uint32_t)g->activation, va, vb},
                            .required_subgroup_size = vks__has_feature(ctx, VKS_FEATURE_SUBGROUP_CONTROL) ? 32 : 0};
        c.tile_m = bm;
        c.tile_n = bn;
        return c;
    }
    /* GPUs: 128x128 tiles (8x8 per invocation, 256 invocations) when there are enough
     * of them to fill the device, 64x64 (4x4) otherwise; f64 always 64x64. */
    vks_gemm_tile t = {.bm = 128, .bn = 128, .bk = 8, .tm = 8, .tn = 8, .nbuf = 1, .col4 = 0};
    const int64_t tiles128 = VKS_CEIL_DIV(g->m, 128) * VKS_CEIL_DIV(g->n, 128) * g->batch;
    if (g->dtype == VKS_DTYPE_F64 || tiles128 < 256) t.bm = t.bn = 64, t.tm = t.tn = 4;
    tiled_override(ctx, g->dtype, &t);
    c.shader = variant(g->dtype, VKS_SHADER_GEMM_TILED_F32, VKS_SHADER_GEMM_TILED_F16, VKS_SHADER_GEMM_TILED_F64);
    c.spec = (vks_spec){.count = 11,
                        .values = {(t.bm / t.tm) * (t.bn / t.tn), t.bm, t.bn, t.bk, t.tm, t.tn, trans_a, trans_b,
                                   (uint32_t)g->activation, t.nbuf, t.col4}};
    c.tile_m = t.bm;
    c.tile_n = t.bn;
    return c;
}

vks_status vks__gemm_record(vks_context *ctx, const vks_gemm_args *g) {
    if (g->m == 0 || g->n == 0 || g->batch == 0) return VKS_OK;
    /* The kernels take op(A)(i, k) at a[i*lda + k], or a[k*lda + i] when transposed. */
    const bool trans_a = g->a_cs != 1, trans_b = g->b_cs != 1;
    gemm_push pc = {.a = g->a,
                    .b = g->b,
                    .c = g->c,
                    .bias = g->bias,
                    .m = (uint32_t)g->m,
                    .n = (uint32_t)g->n,
                    .k = (uint32_t)g->k,
                    .lda = (uint32_t)(trans_a ? g->a_cs : g->a_rs),
                    .ldb = (uint32_t)(trans_b ? g->b_cs : g->b_rs),
                    .ldc = (uint32_t)g->c_rs,
                    .stride_a = (uint64_t)g->a_bs,
                    .stride_b = (uint64_t)g->b_bs,
                    .stride_c = (uint64_t)g->c_bs};
    if (g->dtype == VKS_DTYPE_F64) {
        pc.s.d.alpha = g->alpha;
        pc.s.d.beta = g->beta;
    } else {
        pc.s.f.alpha = (float)g->alpha;
        pc.s.f.beta = (float)g->beta;
    }
    const uint32_t push_bytes = g->dtype == VKS_DTYPE_F64 ? 104 : 96;
    gemm_config cfg = choose_config(ctx, g, trans_a, trans_b);
    /* lavapipe ends every loop of a shader invocation after 65535 iterations in all (its
     * loop limiter), silently: the CPU kernel's K loop (2 terms per iteration) must stay
     * below that, so longer reductions go in slices accumulated into C (beta = 1), with
     * bias and activation on the last slice only. */
    const int64_t kslice = 65536;
    if (ctx->probe.info.type == VKS_DEVICE_CPU && g->k > kslice) {
        const size_t es = vks__dtype_bytes(g->dtype);
        for (int64_t k0 = 0; k0 < g->k; k0 += kslice) {
            vks_gemm_args s = *g;
            const bool last = k0 + kslice >= g->k;
            s.k = VKS_MIN(kslice, g->k - k0);
            s.a = g->a + (uint64_t)(k0 * g->a_cs) * es;
            s.b = g->b + (uint64_t)(k0 * g->b_rs) * es;
            if (k0 > 0) s.beta = 1.0;
            if (!last) s.bias = 0, s.activation = VKS_ACT_NONE;
            VKS_TRY(vks__gemm_record(ctx, &s));
        }
        return VKS_OK;
    }
    const uint32_t gx = (uint32_t)VKS_CEIL_DIV(g->n, cfg.tile_n);
    const uint32_t gy = (uint32_t)VKS_CEIL_DIV(g->m, cfg.tile_m);
    /* Batches beyond maxComputeWorkGroupCount[2] go in several dispatches. */
    const int64_t zmax = ctx->probe.info.max_workgroup_count[2];
    const size_t es = vks__dtype_bytes(g->dtype);
    for (int64_t z0 = 0; z0 < g->batch; z0 += zmax) {
        gemm_push chunk = pc;
        chunk.a += (uint64_t)(z0 * g->a_bs) * es;
        chunk.b += (uint64_t)(z0 * g->b_bs) * es;
        chunk.c += (uint64_t)(z0 * g->c_bs) * es;
        uint32_t gz = (uint32_t)VKS_MIN(zmax, g->batch - z0);
        VKS_TRY(vks__dispatch(ctx, cfg.shader, &cfg.spec, &chunk, push_bytes, gx, gy, gz));
    }
    return VKS_OK;
}

/* ---- the public entry points ----------------------------------------------------------- */

/* The public entry points: the prologue around vks__gemm_check and vks__gemm_record. */
typedef struct gemm_call {
    const char *fn;
    vks_gemm_desc desc; /* the library's full copy of the caller's */
    vks_gemm_args g;
} gemm_call;

vks_status vks__gemm_check(vks_context *ctx, const vks_gemm_desc *d, const char *fn, vks_gemm_args *g, bool *empty) {
    if (d->trans_a != VKS_NO_TRANS && d->trans_a != VKS_TRANS)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: trans_a = %d, expected VKS_NO_TRANS or VKS_TRANS", fn,
                          (int)d->trans_a);
    if (d->trans_b != VKS_NO_TRANS && d->trans_b != VKS_TRANS)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: trans_b = %d, expected VKS_NO_TRANS or VKS_TRANS", fn,
                          (int)d->trans_b);
    if ((unsigned)d->activation > VKS_ACT_GELU_ERF)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: activation = %d is not a vks_activation", fn,
                          (int)d->activation);
    vks_matrix a, b, c;
    VKS_TRY(vks__matrix_view(ctx, d->a, fn, "a", &a));
    VKS_TRY(vks__matrix_view(ctx, d->b, fn, "b", &b));
    VKS_TRY(vks__matrix_view(ctx, d->c, fn, "c", &c));
    VKS_TRY(vks__check_output_matrix(&c, fn, "c"));
    if (a.dtype != c.dtype || b.dtype != c.dtype)
        return vks__error(VKS_ERROR_DTYPE_MISMATCH, "%s: a, b, c have dtypes %s, %s, %s; expected all the same", fn,
                          vks__dtype_name(a.dtype), vks__dtype_name(b.dtype), vks__dtype_name(c.dtype));
    VKS_TRY(vks__check_dtype_in(ctx, c.dtype, VKS_DTYPES_F32 | VKS_DTYPES_F16 | VKS_DTYPES_F64, fn, "c"));
    const bool ta = d->trans_a == VKS_TRANS, tb = d->trans_b == VKS_TRANS;
    const int64_t m = ta ? a.cols : a.rows, ka = ta ? a.rows : a.cols;
    const int64_t kb = tb ? b.cols : b.rows, n = tb ? b.rows : b.cols;
    if (ka != kb)
        return vks__error(VKS_ERROR_SHAPE_MISMATCH, "%s: op(a) is %lld x %lld but op(b) is %lld x %lld (inner dimensions differ)",
                          fn, (long long)m, (long long)ka, (long long)kb, (long long)n);
    if (c.rows != m || c.cols != n)
        return vks__error(VKS_ERROR_SHAPE_MISMATCH, "%s: c is %lld x %lld, expected op(a) * op(b) = %lld x %lld", fn,
                          (long long)c.rows, (long long)c.cols, (long long)m, (long long)n);
    if (a.batch != c.batch && a.batch != 1)
        return vks__error(VKS_ERROR_SHAPE_MISMATCH, "%s: a has batch %lld, c has %lld; expected equal or 1", fn,
                          (long long)a.batch, (long long)c.batch);
    if (b.batch != c.batch && b.batch != 1)
        return vks__error(VKS_ERROR_SHAPE_MISMATCH, "%s: b has batch %lld, c has %lld; expected equal or 1", fn,
                          (long long)b.batch, (long long)c.batch);
    VKS_TRY(vks__check_matrix_span(&a, fn, "a"));
    VKS_TRY(vks__check_matrix_span(&b, fn, "b"));
    VKS_TRY(vks__check_matrix_span(&c, fn, "c"));
    VkDeviceAddress bias = 0;
    if (d->bias) {
        VKS_TRY(vks__vector_view(ctx, d->bias, c.dtype, n, fn, "bias", &bias));
        if (c.col_stride != 1)
            return vks__error(VKS_ERROR_UNSUPPORTED, "%s: a bias needs a row-major c (c.strides[-1] = 1)", fn);
    }
    const vks_arg outs[] = {{d->c, "c", NULL}}, ins[] = {{d->a, "a", NULL}, {d->b, "b", NULL}, {d->bias, "bias", NULL}};
    VKS_TRY(vks__check_no_alias(outs, 1, ins, 3, fn));
    *empty = m == 0 || n == 0 || c.batch == 0; /* k = 0 still writes beta*C + bias */
    /* op(A)(i, k) = a[i*a_rs + k*a_cs]: the transpose flag just swaps the strides. */
    *g = (vks_gemm_args){.dtype = c.dtype,
                         .m = m,
                         .n = n,
                         .k = ka,
                         .batch = c.batch,
                         .a = a.address,
                         .b = b.address,
                         .c = c.address,
                         .bias = bias,
                         .a_rs = ta ? a.col_stride : a.row_stride,
                         .a_cs = ta ? a.row_stride : a.col_stride,
                         .b_rs = tb ? b.col_stride : b.row_stride,
                         .b_cs = tb ? b.row_stride : b.col_stride,
                         .c_rs = c.row_stride,
                         .a_bs = a.batch == 1 ? 0 : a.batch_stride,
                         .b_bs = b.batch == 1 ? 0 : b.batch_stride,
                         .c_bs = c.batch_stride,
                         .alpha = d->alpha,
                         .beta = d->beta,
                         .activation = d->activation};
    if (c.col_stride != 1) {
        /* A column-major C: compute C^T = op(B)^T op(A)^T into its row-major view. */
        vks_gemm_args t = *g;
        t.m = n;
        t.n = m;
        t.a = g->b, t.a_rs = g->b_cs, t.a_cs = g->b_rs, t.a_bs = g->b_bs;
        t.b = g->a, t.b_rs = g->a_cs, t.b_cs = g->a_rs, t.b_bs = g->a_bs;
        t.c_rs = c.col_stride;
        *g = t;
    }
    return VKS_OK;
}

static vks_status gemm_validate(vks_context *ctx, void *call, bool *empty) {
    gemm_call *gc = call;
    return vks__gemm_check(ctx, &gc->desc, gc->fn, &gc->g, empty);
}

static vks_status gemm_record(vks_context *ctx, void *call) { return vks__gemm_record(ctx, &((gemm_call *)call)->g); }

static vks_status gemm_run(vks_context *ctx, const char *fn, const vks_gemm_desc *desc) {
    gemm_call call = {.fn = fn};
    const vks_op op = {.fn = fn, .name = "gemm", .desc = desc, .desc_arg = "desc", .desc_type = VKS_STRUCT_GEMM_DESC,
                       .desc_copy = &call.desc, .validate = gemm_validate, .record = gemm_record};
    return vks__op_run(ctx, &op, &call);
}

vks_status vks_gemm_ex(vks_context *ctx, const vks_gemm_desc *desc) { return gemm_run(ctx, "vks_gemm_ex", desc); }

vks_status vks_gemm(vks_context *ctx, vks_transpose trans_a, vks_transpose trans_b, double alpha, const vks_tensor *a,
                    const vks_tensor *b, double beta, const vks_tensor *c) {
    vks_gemm_desc d = VKS_GEMM_DESC_INIT;
    d.trans_a = trans_a;
    d.trans_b = trans_b;
    d.alpha = alpha;
    d.beta = beta;
    d.a = a;
    d.b = b;
    d.c = c;
    return gemm_run(ctx, "vks_gemm", &d);
}
