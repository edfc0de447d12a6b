/*
 * CholeskyQR2 and shifted CholeskyQR3 for tall-skinny matrices, batched (f32/f64), from the
 * family's recorders: one pass is
 *   G = X^T X (SYRK, half the work)  [+ s I: orthogonal_shift_diag]
 *   L = chol(G)                       (blocked Cholesky, status on the device)
 *   L^-1 = trsm(L, I)                 (n x n: cheap for n << m)
 *   Y = X L^-T                        (one m x n GEMM: the big product runs at GEMM speed)
 *   R <- L^T R
 * CholeskyQR2 is two passes; the shifted variant puts one shifted pass first (Fukaya,
 * Kannan, Nakatsukasa, Yamamoto, Yanagisawa 2020).
 */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "orthogonal_internal.h"

typedef struct shift_push {
    uint64_t g, g_bs;
    uint32_t n, ld;
    union {
        float f;
        double d;
    } c;
} shift_push;
_Static_assert(offsetof(shift_push, c) == 24, "shift_push mirrors shaders/orthogonal_shift_diag.comp");

typedef struct cq_work {
    vks_dtype wdt;
    int64_t batch, m, n;
    orth_mat g, l, linv, eye, r[2];
    orth_mat x[2];          /* intermediate Q's (m x n) */
    VkDeviceAddress status; /* 8 bytes per matrix per Cholesky (3 passes) */
    int ri;                 /* r[ri] holds the accumulated R */
    bool have_r;
    uint64_t inner_mark;    /* workspace reused by each pass's Cholesky and trsm */
} cq_work;

static uint64_t cq_bytes(const vks_context *ctx, vks_dtype wdt, int64_t batch, int64_t m, int64_t n) {
    const uint64_t es = vks__dtype_bytes(wdt), sq = orth_round((uint64_t)batch * n * n * es);
    const uint64_t tall = orth_round((uint64_t)batch * m * n * es);
    return 6 * sq + 3 * tall + orth_round(24 * (uint64_t)batch) + vks__orth_cholesky_ws_bytes(ctx, wdt, batch, n) +
           vks__orth_trsm_ws_bytes(ctx, wdt, batch, n, n);
}

/* G = X^T X (+ shift), L = chol(G) with the status of Cholesky number `which`. */
static vks_status gram_and_cholesky(vks_context *ctx, cq_work *w, orth_mat x, bool shift, int which,
                                    VkDeviceAddress info, orth_ws *ws) {
    const orth_syrk_args sy = {.s = orth_t(x), .cout = w->g, .alpha = 1.0, .mirror = false};
    VKS_TRY(vks__orth_syrk(ctx, &sy));
    if (shift) {
        const double u = w->wdt == VKS_DTYPE_F64 ? 0x1p-53 : 0x1p-24;
        const double c = 11.0 * ((double)w->m * (double)w->n + (double)w->n * (double)(w->n + 1)) * u;
        shift_push sp = {.g = w->g.address, .g_bs = (uint64_t)w->g.batch_stride, .n = (uint32_t)w->n, .ld = (uint32_t)w->n};
        if (w->wdt == VKS_DTYPE_F64) sp.c.d = c;
        else sp.c.f = (float)c;
        const vks_spec spec = {.count = 1, .values = {vks__cpu_kernels(ctx) ? 64u : 256u}};
        VKS_TRY(vks__dispatch(ctx,
                              w->wdt == VKS_DTYPE_F64 ? VKS_SHADER_ORTHOGONAL_SHIFT_DIAG_F64
                                                      : VKS_SHADER_ORTHOGONAL_SHIFT_DIAG_F32,
                              &spec, &sp, w->wdt == VKS_DTYPE_F64 ? 32 : 28, 1, 1, (uint32_t)w->batch));
    }
    ws->used = w->inner_mark;
    return vks__orth_cholesky_record(ctx, w->g, w->l, w->status + (uint64_t)which * 8 * w->batch, info, ws);
}

/* Y = X L^-T and R <- L^T R, after gram_and_cholesky. */
static vks_status apply_pass(vks_context *ctx, cq_work *w, orth_mat x, orth_mat y, orth_ws *ws) {
    ws->used = w->inner_mark;
    VKS_TRY(vks__orth_trsm_record(ctx, false, w->l, w->eye, w->linv, ws));
    VKS_TRY(vks__orth_gemm(ctx, 1.0, x, orth_t(w->linv), 0.0, y));
    if (!w->have_r) {
        const orth_mat lt = orth_t(w->l);
        VKS_TRY(vks__orth_copy(ctx, ORTH_COPY, &lt, &w->r[w->ri]));
        w->have_r = true;
    } else {
        VKS_TRY(vks__orth_gemm(ctx, 1.0, orth_t(w->l), w->r[w->ri], 0.0, w->r[1 - w->ri]));
        w->ri = 1 - w->ri;
    }
    return VKS_OK;
}

uint64_t vks__orth_cholqr2_ws_bytes(const vks_context *ctx, vks_dtype wdt, int64_t batch, int64_t m, int64_t n) {
    const uint64_t es = vks__dtype_bytes(wdt);
    return 6 * orth_round((uint64_t)batch * n * n * es) + orth_round((uint64_t)batch * m * n * es) +
           vks__orth_cholesky_ws_bytes(ctx, wdt, batch, n) + vks__orth_trsm_ws_bytes(ctx, wdt, batch, n, n);
}

vks_status vks__orth_cholqr2_record(vks_context *ctx, orth_mat x, orth_mat q, VkDeviceAddress status, orth_ws *ws) {
    const vks_dtype wdt = x.dtype;
    const int64_t B = x.batch, m = x.rows, n = x.cols;
    const uint64_t es = vks__dtype_bytes(wdt);
    cq_work w = {.wdt = wdt, .batch = B, .m = m, .n = n, .status = status};
    orth_mat *sq[] = {&w.g, &w.l, &w.linv, &w.eye, &w.r[0], &w.r[1]};
    for (size_t i = 0; i < VKS_COUNT_OF(sq); ++i) *sq[i] = orth_dense(vks__orth_take(ws, (uint64_t)B * n * n * es), wdt, B, n, n);
    w.x[0] = orth_dense(vks__orth_take(ws, (uint64_t)B * m * n * es), wdt, B, m, n);
    w.inner_mark = ws->used;
    VKS_TRY(vks__orth_copy(ctx, ORTH_IDENTITY, NULL, &w.eye));
    VKS_TRY(vks__orth_ws_fill(ctx, status, 16 * (uint64_t)B, 0xFFFFFFFFu));
    VKS_TRY(gram_and_cholesky(ctx, &w, x, false, 0, 0, ws));
    VKS_TRY(apply_pass(ctx, &w, x, w.x[0], ws));
    VKS_TRY(gram_and_cholesky(ctx, &w, w.x[0], false, 1, 0, ws));
    return apply_pass(ctx, &w, w.x[0], q, ws);
}

/* Reads the statuses of the Choleskys 0..count-1; the first failure becomes the call's error,
 * with what to do about it. */
static vks_status check_statuses(vks_context *ctx, const cq_work *w, int count, const char *fn, vks_cholqr_mode mode) {
    int32_t *st = vks__malloc(8 * (size_t)w->batch * (size_t)count);
    if (!st) return vks__error(VKS_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", fn);
    vks_status r = vks__orth_ws_read(ctx, w->status, st, 8 * (uint64_t)w->batch * (uint64_t)count);
    const bool f32 = w->wdt == VKS_DTYPE_F32, f64_dev = vks__has_feature(ctx, VKS_FEATURE_FLOAT64);
    const char *advice = mode == VKS_CHOLQR_2 ? "; try VKS_CHOLQR_SHIFTED_3 or AUTO"
                         : f32 && f64_dev    ? "; set VKS_CHOLQR_F64_WORK (f64 working precision reaches kappa ~1e15)"
                         : f32 ? "; this device has no shaderFloat64: pass the matrix in f64 on a device that has it, or "
                                 "drop (or regularize) nearly dependent columns"
                               : "; drop (or regularize) nearly dependent columns";
    for (int k = 0; r == VKS_OK && k < count; ++k)
        for (int64_t z = 0; r == VKS_OK && z < w->batch; ++z) {
            const int32_t *s = st + 2 * (k * w->batch + z);
            if (s[0] < 0) continue;
            if (s[1])
                r = vks__error(VKS_ERROR_NON_FINITE, "%s: a (matrix %lld of the batch) holds NaN or Inf", fn, (long long)z);
            else
                r = vks__error(VKS_ERROR_NOT_POSITIVE_DEFINITE,
                               "%s: a (matrix %lld of the batch) is numerically rank-deficient in %s working precision: "
                               "the Cholesky factor of pass %d failed at pivot %d%s",
                               fn, (long long)z, f32 ? "f32" : "f64", k + 1, s[0], advice);
        }
    vks__free(st);
    return r;
}

typedef struct cholqr_call {
    const char *fn;
    const vks_tensor *a, *q, *r;
    vks_cholqr_options o; /* the library's full copy of the caller's, or the defaults */
    orth_mat ma, mq, mr;
} cholqr_call;

static vks_status cholqr_views(vks_context *ctx, cholqr_call *c) {
    const char *fn = c->fn;
    const vks_tensor *a = c->a, *q = c->q, *r = c->r;
    const vks_cholqr_options o = c->o;
    orth_mat ma, mq, mr = {0};
    vks_status st = vks__orth_view(ctx, a, fn, "a", &ma);
    if (st == VKS_OK) st = vks__orth_out_view(ctx, q, fn, "q", &mq);
    if (st == VKS_OK && r) st = vks__orth_out_view(ctx, r, fn, "r", &mr);
    if (st == VKS_OK && (mq.dtype != ma.dtype || (r && mr.dtype != ma.dtype)))
        st = vks__error(VKS_ERROR_DTYPE_MISMATCH, "%s: a, q%s have dtypes %s, %s%s%s; expected the same", fn, r ? ", r" : "",
                        vks__dtype_name(ma.dtype), vks__dtype_name(mq.dtype), r ? ", " : "",
                        r ? vks__dtype_name(mr.dtype) : "");
    if (st == VKS_OK) st = vks__check_float_dtype(ctx, ma.dtype, fn, "a");
    if (st == VKS_OK && ma.rows < ma.cols)
        st = vks__error(VKS_ERROR_SHAPE_MISMATCH, "%s: a is %lld x %lld; expected a tall matrix (rows >= columns)", fn,
                        (long long)ma.rows, (long long)ma.cols);
    if (st == VKS_OK && (mq.rows != ma.rows || mq.cols != ma.cols || mq.batch != ma.batch || q->ndim != a->ndim))
        st = vks__error(VKS_ERROR_SHAPE_MISMATCH, "%s: q is (%lld, %lld) x batch %lld; expected a's (%lld, %lld) x %lld", fn,
                        (long long)mq.rows, (long long)mq.cols, (long long)mq.batch, (long long)ma.rows,
                        (long long)ma.cols, (long long)ma.batch);
    if (st == VKS_OK && r && (mr.rows != ma.cols || mr.cols != ma.cols || mr.batch != ma.batch || r->ndim != a->ndim))
        st = vks__error(VKS_ERROR_SHAPE_MISMATCH, "%s: r is (%lld, %lld) x batch %lld; expected (%lld, %lld) x %lld", fn,
                        (long long)mr.rows, (long long)mr.cols, (long long)mr.batch, (long long)ma.cols,
                        (long long)ma.cols, (long long)ma.batch);
    if (st == VKS_OK && o.info) st = vks__orth_check_info(ctx, o.info, ma.batch, fn, "options->info");
    if (st == VKS_OK) {
        const vks_arg outs[] = {{q, "q", "a"}, {r, "r", NULL}, {o.info, "options->info", NULL}};
        const vks_arg ins[] = {{a, "a", NULL}};
        st = vks__check_no_alias(outs, 3, ins, 1, fn);
    }
    c->ma = ma, c->mq = mq, c->mr = mr;
    return st;
}

static vks_status cholqr_check(vks_context *ctx, void *call, bool *empty) {
    cholqr_call *c = call;
    const char *fn = c->fn;
    const vks_cholqr_options o = c->o;
    if ((unsigned)o.mode > VKS_CHOLQR_SHIFTED_3)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: options->mode = %d is not a vks_cholqr_mode", fn, (int)o.mode);
    if (o.flags & ~(uint32_t)VKS_CHOLQR_F64_WORK)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: options->flags = 0x%x has unknown bits", fn, o.flags);
    const vks_status st = cholqr_views(ctx, c);
    if (o.orth_error) *o.orth_error = 0;
    if (o.shifted) *o.shifted = 0;
    *empty = c->ma.cols == 0 || c->ma.batch == 0;
    return st;
}

static vks_status cholqr_record(vks_context *ctx, void *call) {
    cholqr_call *c = call;
    const char *fn = c->fn;
    const vks_tensor *r = c->r;
    const vks_cholqr_options o = c->o;
    const orth_mat ma = c->ma, mq = c->mq, mr = c->mr;
    vks_status st = VKS_OK;
    const vks_dtype wdt = (ma.dtype == VKS_DTYPE_F32 && (o.flags & VKS_CHOLQR_F64_WORK) &&
                           vks__has_feature(ctx, VKS_FEATURE_FLOAT64))
                              ? VKS_DTYPE_F64
                              : ma.dtype;
    const int64_t B = ma.batch, m = ma.rows, n = ma.cols;
    const uint64_t es = vks__dtype_bytes(wdt);
    orth_ws ws;
    VKS_TRY(vks__orth_ws_begin(ctx, cq_bytes(ctx, wdt, B, m, n), &ws));
    cq_work w = {.wdt = wdt, .batch = B, .m = m, .n = n};
    orth_mat *sq[] = {&w.g, &w.l, &w.linv, &w.eye, &w.r[0], &w.r[1]};
    for (size_t i = 0; i < VKS_COUNT_OF(sq); ++i) *sq[i] = orth_dense(vks__orth_take(&ws, (uint64_t)B * n * n * es), wdt, B, n, n);
    w.x[0] = orth_dense(vks__orth_take(&ws, (uint64_t)B * m * n * es), wdt, B, m, n);
    w.x[1] = orth_dense(vks__orth_take(&ws, (uint64_t)B * m * n * es), wdt, B, m, n);
    const orth_mat aw = wdt == ma.dtype ? ma : orth_dense(vks__orth_take(&ws, (uint64_t)B * m * n * es), wdt, B, m, n);
    w.status = vks__orth_take(&ws, 24 * (uint64_t)B);
    w.inner_mark = ws.used;
    /* The last pass writes q directly when no conversion is needed. */
    const orth_mat qlast = wdt == ma.dtype ? mq : aw;
    const VkDeviceAddress info = o.info ? vks__tensor_address(o.info) : 0;

    if (wdt != ma.dtype) st = vks__orth_copy(ctx, ORTH_COPY, &ma, &aw);
    if (st == VKS_OK) st = vks__orth_copy(ctx, ORTH_IDENTITY, NULL, &w.eye);
    if (st == VKS_OK) st = vks__orth_ws_fill(ctx, w.status, 24 * (uint64_t)B, 0xFFFFFFFFu);
    bool shifted = o.mode == VKS_CHOLQR_SHIFTED_3, escalate = false;
    if (st == VKS_OK && o.mode == VKS_CHOLQR_AUTO) {
        /* Try CholeskyQR2's first factor and look at it. */
        st = gram_and_cholesky(ctx, &w, aw, false, 0, 0, &ws);
        int32_t *sts = st == VKS_OK ? vks__malloc(8 * (size_t)B) : NULL;
        void *ld = st == VKS_OK ? vks__malloc((size_t)(B * n * n) * es) : NULL;
        if (st == VKS_OK && (!sts || !ld)) st = vks__error(VKS_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", fn);
        if (st == VKS_OK) st = vks__orth_ws_read(ctx, w.status, sts, 8 * (uint64_t)B);
        if (st == VKS_OK) st = vks__orth_ws_read(ctx, w.l.address, ld, (uint64_t)(B * n * n) * es);
        /* kappa(a) >= max_i L_ii / min_i L_ii; CholeskyQR2 needs kappa <~ u^-1/2. */
        const double limit = 0.1 / sqrt(wdt == VKS_DTYPE_F64 ? 0x1p-53 : 0x1p-24);
        for (int64_t z = 0; st == VKS_OK && z < B; ++z) {
            if (sts[2 * z] >= 0) {
                if (sts[2 * z + 1]) st = check_statuses(ctx, &w, 1, fn, o.mode);
                shifted = true;
                continue;
            }
            double lo = INFINITY, hi = 0;
            for (int64_t i = 0; i < n; ++i) {
                const size_t k = (size_t)(z * n * n + i * n + i);
                const double d = es == 8 ? ((const double *)ld)[k] : ((const float *)ld)[k];
                lo = fmin(lo, d), hi = fmax(hi, d);
            }
            if (!(hi <= limit * lo)) shifted = true;
        }
        vks__free(sts), vks__free(ld);
        /* f32 beyond CholeskyQR2's reach: where the device has f64, factor in f64 (CholeskyQR2
         * there reaches kappa ~1e8, shifted ~1e15) rather than shifted in f32, whose second
         * pass fails from kappa ~3e4 (its shift, bounded with u = 2^-24, is large). Nothing
         * has been written to q yet, so in-place calls restart safely. */
        escalate = st == VKS_OK && shifted && wdt == VKS_DTYPE_F32 && vks__has_feature(ctx, VKS_FEATURE_FLOAT64);
        if (escalate) shifted = false;
        if (st == VKS_OK && !shifted && !escalate) st = apply_pass(ctx, &w, aw, w.x[0], &ws);
        if (st == VKS_OK && !shifted && !escalate) st = gram_and_cholesky(ctx, &w, w.x[0], false, 1, 0, &ws);
        if (st == VKS_OK && !shifted && !escalate) st = apply_pass(ctx, &w, w.x[0], qlast, &ws);
        if (st == VKS_OK && !shifted && !escalate) st = check_statuses(ctx, &w, 2, fn, o.mode);
        if (shifted && st == VKS_OK) st = vks__orth_ws_fill(ctx, w.status, 24 * (uint64_t)B, 0xFFFFFFFFu);
    } else if (st == VKS_OK && !shifted) {
        st = gram_and_cholesky(ctx, &w, aw, false, 0, info, &ws);
        if (st == VKS_OK) st = apply_pass(ctx, &w, aw, w.x[0], &ws);
        if (st == VKS_OK) st = gram_and_cholesky(ctx, &w, w.x[0], false, 1, 0, &ws);
        if (st == VKS_OK) st = apply_pass(ctx, &w, w.x[0], qlast, &ws);
        if (st == VKS_OK && !o.info) st = check_statuses(ctx, &w, 2, fn, o.mode);
    }
    if (st == VKS_OK && shifted) {
        const bool sync = o.mode == VKS_CHOLQR_AUTO || !o.info;
        st = gram_and_cholesky(ctx, &w, aw, true, 0, o.mode == VKS_CHOLQR_AUTO ? 0 : info, &ws);
        if (st == VKS_OK) st = apply_pass(ctx, &w, aw, w.x[0], &ws);
        if (st == VKS_OK) st = gram_and_cholesky(ctx, &w, w.x[0], false, 1, 0, &ws);
        if (st == VKS_OK) st = apply_pass(ctx, &w, w.x[0], w.x[1], &ws);
        if (st == VKS_OK) st = gram_and_cholesky(ctx, &w, w.x[1], false, 2, 0, &ws);
        if (st == VKS_OK) st = apply_pass(ctx, &w, w.x[1], qlast, &ws);
        if (st == VKS_OK && sync) st = check_statuses(ctx, &w, 3, fn, o.mode);
    }
    if (escalate) { /* again in f64 working precision, in the same op (its own workspace above this one's) */
        c->o.flags |= VKS_CHOLQR_F64_WORK;
        return cholqr_record(ctx, call);
    }
    if (st == VKS_OK && wdt != ma.dtype) st = vks__orth_copy(ctx, ORTH_COPY, &aw, &mq);
    if (st == VKS_OK && r) st = vks__orth_copy(ctx, ORTH_COPY, &w.r[w.ri], &mr);
    if (st == VKS_OK && o.orth_error) { /* E = Q^T Q - I (lower), measured in the working precision */
        const orth_syrk_args sy = {.s = orth_t(qlast), .cout = w.g, .alpha = 1.0, .gamma = -1.0, .mirror = false};
        st = vks__orth_syrk(ctx, &sy);
        void *e = st == VKS_OK ? vks__malloc((size_t)(B * n * n) * es) : NULL;
        if (st == VKS_OK && !e) st = vks__error(VKS_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", fn);
        if (st == VKS_OK) st = vks__orth_ws_read(ctx, w.g.address, e, (uint64_t)(B * n * n) * es);
        for (int64_t z = 0; st == VKS_OK && z < B; ++z) {
            double s = 0;
            for (int64_t i = 0; i < n; ++i)
                for (int64_t j = 0; j <= i; ++j) {
                    const size_t k = (size_t)(z * n * n + i * n + j);
                    const double v = es == 8 ? ((const double *)e)[k] : ((const float *)e)[k];
                    s += (i == j ? 1.0 : 2.0) * v * v;
                }
            *o.orth_error = fmax(*o.orth_error, sqrt(s));
        }
        vks__free(e);
    }
    if (st == VKS_OK) st = vks__orth_ws_check(&ws, fn);
    if (o.shifted) *o.shifted = shifted;
    return st;
}

vks_status vks_cholqr(vks_context *ctx, const vks_tensor *a, const vks_tensor *q, const vks_tensor *r,
                      const vks_cholqr_options *options) {
    cholqr_call call = {.fn = "vks_cholqr", .a = a, .q = q, .r = r};
    const vks_op op = {.fn = call.fn, .name = "cholqr", .desc = options, .desc_arg = "options",
                       .desc_type = VKS_STRUCT_CHOLQR_OPTIONS, .desc_copy = &call.o, .desc_optional = true,
                       .validate = cholqr_check, .record = cholqr_record};
    return vks__op_run(ctx, &op, &call);
}
