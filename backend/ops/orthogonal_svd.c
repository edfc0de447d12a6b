/*
 * Thin SVD of small, tall or wide matrices, built on the Jacobi eigensolver:
 *   X = a (tall) or a^T (wide), M x N with M >= N
 *   G = X^T X (SYRK)  ->  G = V diag(lambda) V^T (vks_eigh's recorder, descending)
 *   B = X V (GEMM); s_j = ||B[:, j]|| (more accurate than sqrt(lambda_j) for small values)
 *   U = CholeskyQR2(B diag(1/s)), zero-singular-value columns replaced by a fixed random
 *       vector first so that U comes out as an orthonormal completion
 * and a = U diag(s) V^T (tall) or V diag(s) U^T (wide).
 */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "orthogonal_internal.h"

typedef struct columns_push {
    uint64_t b, s, b_bs;
    uint32_t M, N;
    union {
        float f;
        double d;
    } tol;
} columns_push;
_Static_assert(offsetof(columns_push, tol) == 32, "columns_push mirrors shaders/orthogonal_svd_columns.comp");

static vks_status columns(vks_context *ctx, int mode, orth_mat b, VkDeviceAddress s, double tol) {
    columns_push cp = {.b = b.address, .s = s, .b_bs = (uint64_t)b.batch_stride, .M = (uint32_t)b.rows, .N = (uint32_t)b.cols};
    const bool f64 = b.dtype == VKS_DTYPE_F64;
    if (f64) cp.tol.d = tol;
    else cp.tol.f = (float)tol;
    const vks_spec spec = {.count = 2, .values = {64, (uint32_t)mode}};
    return vks__dispatch(ctx, f64 ? VKS_SHADER_ORTHOGONAL_SVD_COLUMNS_F64 : VKS_SHADER_ORTHOGONAL_SVD_COLUMNS_F32, &spec,
                         &cp, f64 ? 40 : 36, (uint32_t)VKS_CEIL_DIV(b.cols, 64), 1, (uint32_t)b.batch);
}

/* Checks an optional output: rank a.ndim (or a.ndim - 1 for s), given shape, a's dtype. */
static vks_status check_out(vks_context *ctx, const char *fn, const vks_tensor *t, const vks_tensor *a, int64_t batch,
                            int64_t rows, int64_t cols, const char *arg, orth_mat *m) {
    const bool vec = cols < 0; /* s */
    if (vec) {
        VKS_TRY(vks__check_tensor(ctx, t, fn, arg));
        const int32_t want_ndim = a->ndim - 1;
        if (t->ndim != want_ndim || t->shape[t->ndim - 1] != rows || (want_ndim == 2 && t->shape[0] != batch))
            return vks__error(VKS_ERROR_SHAPE_MISMATCH, "%s: %s has rank %d and %lld values per matrix; expected %s(%lld)", fn,
                              arg, t->ndim, (long long)t->shape[t->ndim - 1], want_ndim == 2 ? "(batch, k) = " : "(k) = ",
                              (long long)rows);
        *m = (orth_mat){vks__tensor_address(t), t->dtype, batch, 1, rows,
                        want_ndim == 2 ? t->strides[0] : 0, rows, t->strides[t->ndim - 1]};
        VKS_TRY(vks__check_output_vector(want_ndim == 2 ? batch : 1, rows, m->batch_stride, m->col_stride, fn, arg));
    } else {
        VKS_TRY(vks__orth_view(ctx, t, fn, arg, m));
        if (t->ndim != a->ndim || m->rows != rows || m->cols != cols || m->batch != batch)
            return vks__error(VKS_ERROR_SHAPE_MISMATCH, "%s: %s is (%lld, %lld) x batch %lld; expected (%lld, %lld) x %lld", fn,
                              arg, (long long)m->rows, (long long)m->cols, (long long)m->batch, (long long)rows,
                              (long long)cols, (long long)batch);
        VKS_TRY(vks__check_output_matrix(m, fn, arg));
    }
    if (t->dtype != a->dtype)
        return vks__error(VKS_ERROR_DTYPE_MISMATCH, "%s: %s has dtype %s but a has %s; expected the same", fn, arg,
                          vks__dtype_name(t->dtype), vks__dtype_name(a->dtype));
    return VKS_OK;
}

/* orthogonal_svd_columns' norms loop twice over the long side in one invocation; lavapipe's
 * loop limiter (65535 iterations per invocation, all loops together) would cut it silently. */
#define SVD_CPU_MAX_LONG_SIDE 32000

typedef struct svd_call {
    const char *fn;
    const vks_tensor *a, *u, *s, *vh;
    orth_mat ma, mu, ms, mvh;
} svd_call;

static vks_status svd_check(vks_context *ctx, void *call, bool *empty) {
    svd_call *c = call;
    const char *fn = c->fn;
    const vks_tensor *a = c->a, *u = c->u, *s = c->s, *vh = c->vh;
    orth_mat ma, mu = {0}, ms = {0}, mvh = {0};
    VKS_TRY(vks__orth_view(ctx, a, fn, "a", &ma));
    VKS_TRY(vks__check_float_dtype(ctx, ma.dtype, fn, "a"));
    const int64_t B = ma.batch, m = ma.rows, n = ma.cols, k = VKS_MIN(m, n);
    if (ctx->probe.info.type == VKS_DEVICE_CPU && VKS_MAX(m, n) > SVD_CPU_MAX_LONG_SIDE)
        return vks__error(VKS_ERROR_UNSUPPORTED,
                          "%s: a is %lld x %lld; on CPU devices the long side must be at most %d (lavapipe ends a "
                          "shader invocation's loops after 65535 iterations, and the column norms take two passes "
                          "over it)",
                          fn, (long long)m, (long long)n, SVD_CPU_MAX_LONG_SIDE);
    VKS_TRY(check_out(ctx, fn, s, a, B, k, -1, "s", &ms));
    if (u) VKS_TRY(check_out(ctx, fn, u, a, B, m, k, "u", &mu));
    if (vh) VKS_TRY(check_out(ctx, fn, vh, a, B, k, n, "vh", &mvh));
    const vks_arg outs[] = {{s, "s", NULL}, {u, "u", NULL}, {vh, "vh", NULL}}, ins[] = {{a, "a", NULL}};
    VKS_TRY(vks__check_no_alias(outs, 3, ins, 1, fn));
    c->ma = ma, c->mu = mu, c->ms = ms, c->mvh = mvh;
    *empty = k == 0 || B == 0;
    return VKS_OK;
}

static vks_status svd_record(vks_context *ctx, void *call) {
    const svd_call *c = call;
    const char *fn = c->fn;
    const vks_tensor *u = c->u, *vh = c->vh;
    const orth_mat ma = c->ma, mu = c->mu, ms = c->ms, mvh = c->mvh;
    const int64_t B = ma.batch, m = ma.rows, n = ma.cols, k = VKS_MIN(m, n);
    vks_status st = VKS_OK;
    const vks_dtype wdt = vks__orth_eigh_work_dtype(ctx, ma.dtype, 0);
    const size_t es = vks__dtype_bytes(wdt);
    const bool tall = m >= n;
    const int64_t M = tall ? m : n, N = k;
    const orth_mat x = tall ? ma : orth_t(ma);
    const uint64_t tall_bytes = orth_round((uint64_t)B * M * N * es), sq = orth_round((uint64_t)B * N * N * es);
    /* G's eigendecomposition: the family's eigensolver (vks__eigh_method's choice), eigenvalues
     * descending. */
    vks__eigh_args eg = {.work = wdt,
                         .method = vks__eigh_method(ctx, VKS_EIGH_AUTO, wdt, B, N, 0),
                         .a = orth_dense(1, wdt, B, N, N),
                         .v = orth_dense(1, wdt, B, N, N),
                         .w_bs = N,
                         .w_s = 1,
                         .descending = true,
                         .fn = fn};
    const uint64_t bytes = (wdt != ma.dtype ? tall_bytes : 0) + 2 * tall_bytes + 2 * sq + 2 * orth_round((uint64_t)B * N * es) +
                           orth_round(16 * (uint64_t)B) +
                           VKS_MAX(vks__eigh_ws_bytes(ctx, &eg), vks__orth_cholqr2_ws_bytes(ctx, wdt, B, M, N));
    orth_ws ws;
    VKS_TRY(vks__orth_ws_begin(ctx, bytes, &ws));
    const orth_mat xw = wdt == ma.dtype ? x : orth_dense(vks__orth_take(&ws, (uint64_t)B * M * N * es), wdt, B, M, N);
    const orth_mat bm = orth_dense(vks__orth_take(&ws, (uint64_t)B * M * N * es), wdt, B, M, N);
    const orth_mat um = orth_dense(vks__orth_take(&ws, (uint64_t)B * M * N * es), wdt, B, M, N);
    const orth_mat g = orth_dense(vks__orth_take(&ws, (uint64_t)B * N * N * es), wdt, B, N, N);
    const orth_mat vm = orth_dense(vks__orth_take(&ws, (uint64_t)B * N * N * es), wdt, B, N, N);
    const VkDeviceAddress lam = vks__orth_take(&ws, (uint64_t)B * N * es), sw = vks__orth_take(&ws, (uint64_t)B * N * es);
    const VkDeviceAddress qst = vks__orth_take(&ws, 16 * (uint64_t)B);
    const uint64_t inner = ws.used;
    orth_eigh_report rep = {0};
    if (wdt != ma.dtype) st = vks__orth_copy(ctx, ORTH_COPY, &x, &xw);
    const orth_syrk_args sy = {.s = orth_t(xw), .cout = g, .alpha = 1.0, .mirror = false};
    if (st == VKS_OK) st = vks__orth_syrk(ctx, &sy);
    eg.a = g, eg.v = vm, eg.w = lam;
    if (st == VKS_OK) st = vks__orth_eigh_run(ctx, &eg, &ws, &rep);
    /* Columns of B = X V at the noise level are zero singular values: their u is completed.
     * The first attempt takes "noise" as a few ulps of the working precision. A singular value
     * between that and sqrt(u_w) s_0 is below the Gram matrix's resolution (its eigenvalue
     * error is u_w s_0^2): its column of B is a combination of the noise directions and may
     * be dependent on others (a rank-1 f32 matrix rounded: its rounding error has singular
     * values of ~u_f32 s_0), which CholeskyQR then reports. Then the second attempt completes
     * every column below sqrt(u_w) s_0 (changing a by at most ~2 s_j there). */
    const double u_w = wdt == VKS_DTYPE_F64 ? 0x1p-53 : 0x1p-24;
    int32_t *q = st == VKS_OK ? vks__malloc(16 * (size_t)B) : NULL;
    void *norms = q ? vks__malloc((size_t)(B * N) * es) : NULL;
    if (st == VKS_OK && !norms) st = vks__error(VKS_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", fn);
    if (st == VKS_OK && rep.first_nonfinite >= 0)
        st = vks__error(VKS_ERROR_NON_FINITE, "%s: a (matrix %lld of the batch) holds NaN or Inf", fn,
                        (long long)rep.first_nonfinite);
    else if (st == VKS_OK && rep.first_unconverged >= 0)
        st = vks__error(VKS_ERROR_NOT_CONVERGED, "%s: the eigensolver did not converge for matrix %lld", fn,
                        (long long)rep.first_unconverged);
    for (int attempt = 0; attempt < 2 && st == VKS_OK; ++attempt) {
        const double tol = attempt == 0 ? 4.0 * (double)(M + N) * u_w : fmax(4.0 * (double)(M + N) * u_w, 4.0 * sqrt(u_w));
        st = vks__orth_gemm(ctx, 1.0, xw, vm, 0.0, bm);
        if (st == VKS_OK) st = columns(ctx, 0, bm, sw, tol);
        if (st == VKS_OK) st = columns(ctx, 1, bm, sw, tol);
        ws.used = inner;
        if (st == VKS_OK) st = vks__orth_cholqr2_record(ctx, bm, um, qst, &ws);
        /* CholeskyQR's pivots stay positive on some nearly dependent noise columns, whose
         * column of U then comes out far from unit length: the norms catch that (lam is free
         * once B is formed). */
        if (st == VKS_OK) st = columns(ctx, 0, um, lam, 0.0);
        /* Outputs: tall a = U S V^T, wide a = V S U^T. */
        const orth_mat sv = {sw, wdt, B, 1, N, N, N, 1};
        if (st == VKS_OK) st = vks__orth_copy(ctx, ORTH_COPY, &sv, &ms);
        if (st == VKS_OK && u) {
            const orth_mat src = tall ? um : vm;
            st = vks__orth_copy(ctx, ORTH_COPY, &src, &mu);
        }
        if (st == VKS_OK && vh) {
            const orth_mat src = orth_t(tall ? vm : um);
            st = vks__orth_copy(ctx, ORTH_COPY, &src, &mvh);
        }
        if (st == VKS_OK) st = vks__orth_ws_check(&ws, fn);
        if (st == VKS_OK) st = vks__orth_ws_read(ctx, qst, q, 16 * (uint64_t)B);
        if (st == VKS_OK) st = vks__orth_ws_read(ctx, lam, norms, (uint64_t)(B * N) * es);
        for (int64_t z = 0; st == VKS_OK && z < B; ++z)
            for (int64_t j = 0; j < N && q[2 * z] < 0; ++j) {
                const double nj = wdt == VKS_DTYPE_F64 ? ((const double *)norms)[z * N + j] : ((const float *)norms)[z * N + j];
                if (!(fabs(nj - 1.0) <= 1e-2)) q[2 * z] = (int32_t)j; /* reported as that column's pivot */
            }
        bool failed = false;
        for (int64_t z = 0; st == VKS_OK && z < 2 * B; ++z) failed = failed || q[2 * z] >= 0;
        if (!failed) break;
        for (int64_t z = 0; st == VKS_OK && attempt == 1 && z < 2 * B; ++z)
            if (q[2 * z] >= 0)
                st = vks__error(VKS_ERROR_NOT_CONVERGED, "%s: the left singular vectors of matrix %lld could not be "
                                                         "orthonormalized (pivot %d)", fn, (long long)(z % B), q[2 * z]);
    }
    vks__free(q);
    vks__free(norms);
    return st;
}

vks_status vks_svd(vks_context *ctx, const vks_tensor *a, const vks_tensor *u, const vks_tensor *s, const vks_tensor *vh) {
    svd_call call = {.fn = "vks_svd", .a = a, .u = u, .s = s, .vh = vh};
    const vks_op op = {.fn = call.fn, .name = "svd", .validate = svd_check, .record = svd_record};
    return vks__op_run(ctx, &op, &call);
}
