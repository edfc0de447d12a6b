/* vks_kron_pde_solve (GP collocation for linear PDEs on Kronecker grids) against a dense
 * float64 oracle of the same collocation equations, built here from the closed-form SE
 * kernel and its second derivative with dense Cholesky and Gaussian elimination; the GP
 * derivative operator K'' K^-1 (kernel matrices + Kronecker products) against analytic
 * derivatives; accuracy against exact solutions; poisoned outputs; every error path. */
#include <math.h>
#include <string.h>

#include "reference_kron.h"
#include "vks_test.h"

static bool has_f64(void) { return (vkt->info.features & VKS_FEATURE_FLOAT64) != 0; }

/* SE kernel s exp(-r^2 / (2 l^2)) and d2/dr2 of it. */
static double se(double r, double l) { return exp(-r * r / (2 * l * l)); }
static double se_dd(double r, double l) { return (r * r / (l * l * l * l) - 1 / (l * l)) * exp(-r * r / (2 * l * l)); }

/* D = K'' (K + jitter I)^-1 on n uniform points of [lo, hi], row-major n x n. */
static double *oracle_d(int64_t n, double lo, double hi, double l, double jitter) {
    const double h = (hi - lo) / (double)(n - 1);
    double *k = malloc(sizeof(double) * (size_t)(n * n)), *lf = malloc(sizeof(double) * (size_t)(n * n));
    double *x = malloc(sizeof(double) * (size_t)(n * n)), *d = malloc(sizeof(double) * (size_t)(n * n));
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < n; ++j) {
            const double r = (double)(i - j) * h;
            k[i * n + j] = se(r, l) + (i == j ? jitter : 0.0);
            x[i * n + j] = se_dd(r, l); /* K'' is symmetric */
        }
    assert_int_equal(ref_kron_cholesky(n, k, lf), 0);
    ref_kron_cholesky_solve(n, lf, x, n); /* X = K^-1 K'', so D = X^T */
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < n; ++j) d[i * n + j] = x[j * n + i];
    free(k), free(lf), free(x);
    return d;
}

typedef struct pde_case {
    int d;
    int64_t n[2];
    double lo[2], hi[2], l[2], coef[2], c, jitter;
} pde_case;

/* The oracle: U = lift + E^T V with the dense interior system A V = E (f - L lift). */
static double *oracle_solve(const pde_case *pc, const double *f, const double *g) {
    const int d = pc->d;
    double *dm[2] = {NULL, NULL};
    int64_t n0 = pc->n[0], n1 = d == 2 ? pc->n[1] : 1, points = n0 * n1;
    for (int i = 0; i < d; ++i) dm[i] = oracle_d(pc->n[i], pc->lo[i], pc->hi[i], pc->l[i], pc->jitter);
    /* Full-grid operator L (points x points), then the interior rows/columns. */
    double *lfull = calloc((size_t)(points * points), sizeof(double));
    for (int64_t a = 0; a < n0; ++a)
        for (int64_t b = 0; b < n1; ++b)
            for (int64_t a2 = 0; a2 < n0; ++a2)
                for (int64_t b2 = 0; b2 < n1; ++b2) {
                    double v = 0;
                    if (b == b2) v += pc->coef[0] * dm[0][a * n0 + a2];
                    if (d == 2 && a == a2) v += pc->coef[1] * dm[1][b * n1 + b2];
                    if (a == a2 && b == b2) v += pc->c;
                    lfull[(a * n1 + b) * points + a2 * n1 + b2] = v;
                }
    bool *inner = malloc(sizeof(bool) * (size_t)points);
    int64_t m = 0;
    for (int64_t a = 0; a < n0; ++a)
        for (int64_t b = 0; b < n1; ++b) {
            inner[a * n1 + b] = a > 0 && a < n0 - 1 && (d == 1 || (b > 0 && b < n1 - 1));
            m += inner[a * n1 + b];
        }
    double *u = malloc(sizeof(double) * (size_t)points), *am = malloc(sizeof(double) * (size_t)(m * m));
    double *rhs = malloc(sizeof(double) * (size_t)m);
    int64_t *idx = malloc(sizeof(int64_t) * (size_t)m);
    for (int64_t e = 0, k = 0; e < points; ++e) {
        u[e] = inner[e] ? 0.0 : g[e];
        if (inner[e]) idx[k++] = e;
    }
    for (int64_t i = 0; i < m; ++i) {
        double s = f[idx[i]];
        for (int64_t e = 0; e < points; ++e) s -= lfull[idx[i] * points + e] * u[e];
        rhs[i] = s;
        for (int64_t j = 0; j < m; ++j) am[i * m + j] = lfull[idx[i] * points + idx[j]];
    }
    ref_dense_solve(m, am, rhs);
    for (int64_t i = 0; i < m; ++i) u[idx[i]] = rhs[i];
    free(dm[0]), free(dm[1]), free(lfull), free(inner), free(am), free(rhs), free(idx);
    return u;
}

typedef double (*field_fn)(const double *x);

typedef struct pde_run {
    double err_oracle, err_exact, err_alpha;
    int32_t iterations;
} pde_run;

/* Builds f and g from u_exact / f_exact, solves on the device into NaN-poisoned outputs,
 * compares U with the oracle (relative to max|U|), with u_exact, and alpha with K^-1 U. */
static pde_run run_case(const pde_case *pc, vks_dtype dt, field_fn uex, field_fn fex, double tol) {
    const int d = pc->d;
    const int64_t n0 = pc->n[0], n1 = d == 2 ? pc->n[1] : 1, points = n0 * n1;
    double *f = malloc(sizeof(double) * (size_t)points), *g = malloc(sizeof(double) * (size_t)points);
    double *ex = malloc(sizeof(double) * (size_t)points);
    for (int64_t a = 0; a < n0; ++a)
        for (int64_t b = 0; b < n1; ++b) {
            double x[2] = {pc->lo[0] + (double)a * (pc->hi[0] - pc->lo[0]) / (double)(n0 - 1), 0};
            if (d == 2) x[1] = pc->lo[1] + (double)b * (pc->hi[1] - pc->lo[1]) / (double)(n1 - 1);
            f[a * n1 + b] = fex(x);
            ex[a * n1 + b] = g[a * n1 + b] = uex(x);
        }
    vks_buffer *fb = vkt_upload(dt, f, (size_t)points), *gb = vkt_upload(dt, g, (size_t)points);
    vks_buffer *ub = vkt_poisoned(dt, (size_t)points), *ab = vkt_poisoned(dt, (size_t)points);
    vks_tensor ft = vks_tensor_1d(fb, dt, points), gt = vks_tensor_1d(gb, dt, points);
    vks_tensor ut = vks_tensor_1d(ub, dt, points), at = vks_tensor_1d(ab, dt, points);
    vks_kernel_desc k[2] = {VKS_KERNEL_DESC_INIT, VKS_KERNEL_DESC_INIT};
    vks_kron_pde_desc desc = VKS_KRON_PDE_DESC_INIT;
    desc.d = d;
    for (int i = 0; i < d; ++i) {
        k[i].lengthscale = pc->l[i];
        desc.n[i] = pc->n[i], desc.lo[i] = pc->lo[i], desc.hi[i] = pc->hi[i], desc.coef_xx[i] = pc->coef[i];
        desc.kernels[i] = &k[i];
    }
    desc.coef_u = pc->c, desc.jitter = pc->jitter, desc.tolerance = tol;
    desc.f = &ft, desc.boundary = &gt, desc.u = &ut, desc.alpha = &at;
    pde_run out = {0};
    double relres = -1;
    desc.iterations = &out.iterations, desc.residual = &relres;
    VKT_OK(vks_kron_pde_solve(vkt->ctx, &desc));
    assert_true(out.iterations >= 1 && relres >= 0 && relres <= tol);
    double *u = vkt_download(ub, dt, 0, (size_t)points), *alpha = vkt_download(ab, dt, 0, (size_t)points);
    double *want = oracle_solve(pc, f, g);
    double big = 0, e1 = 0, e2 = 0;
    for (int64_t e = 0; e < points; ++e) {
        assert_true(isfinite(u[e]) && isfinite(alpha[e]));
        big = fmax(big, fabs(want[e]));
    }
    for (int64_t e = 0; e < points; ++e) {
        e1 = fmax(e1, fabs(u[e] - want[e]) / big);
        e2 = fmax(e2, fabs(u[e] - ex[e]) / big);
    }
    /* alpha: K alpha must give U back (K = ⊗(K_i + jitter I)). */
    double *ku = malloc(sizeof(double) * (size_t)points);
    for (int64_t a = 0; a < n0; ++a)
        for (int64_t b = 0; b < n1; ++b) {
            double s = 0;
            for (int64_t a2 = 0; a2 < n0; ++a2)
                for (int64_t b2 = 0; b2 < n1; ++b2) {
                    const double h0 = (pc->hi[0] - pc->lo[0]) / (double)(n0 - 1);
                    double kv = se((double)(a - a2) * h0, pc->l[0]) + (a == a2 ? pc->jitter : 0.0);
                    if (d == 2) {
                        const double h1 = (pc->hi[1] - pc->lo[1]) / (double)(n1 - 1);
                        kv *= se((double)(b - b2) * h1, pc->l[1]) + (b == b2 ? pc->jitter : 0.0);
                    }
                    s += kv * alpha[a2 * n1 + b2];
                }
            ku[a * n1 + b] = s;
        }
    double e3 = 0;
    for (int64_t e = 0; e < points; ++e) e3 = fmax(e3, fabs(ku[e] - u[e]) / big);
    out.err_oracle = e1, out.err_exact = e2, out.err_alpha = e3;
    free(f), free(g), free(ex), free(u), free(alpha), free(want), free(ku);
    vks_buffer *bufs[] = {fb, gb, ub, ab};
    for (int i = 0; i < 4; ++i) VKT_OK(vks_buffer_destroy(bufs[i]));
    return out;
}

static double u1(const double *x) { return sin(2 * x[0]) + exp(x[0]); }
static double f1(const double *x) { return -4 * sin(2 * x[0]) + exp(x[0]); }
static double u2(const double *x) { return sin(2 * x[0]) * cos(x[1]) + x[0] * x[1]; }
static double f2(const double *x) { return -5 * sin(2 * x[0]) * cos(x[1]); }
/* Helmholtz: 0.5 u_xx + 2 u_yy + 3 u with u = cos(x + 2y) */
static double u3(const double *x) { return cos(x[0] + 2 * x[1]); }
static double f3(const double *x) { return (-0.5 - 8.0 + 3.0) * cos(x[0] + 2 * x[1]); }

/* Against the oracle the kernels must keep K_i well conditioned (lengthscale 1.5h: cond ~1e5),
 * else both sides carry the rounding of K_i^-1 (lengthscale 3h, jitter 1e-8: cond 1e8, the
 * two agree to ~3e-7); the accuracy against the exact solution is checked with 3h. */
static void test_pde_manufactured(void **state) {
    (void)state;
    if (!has_f64()) skip();
    const pde_case c1 = {1, {24, 1}, {0, 0}, {1, 0}, {1.5 / 23, 0}, {1, 0}, 0, 1e-8};
    pde_run r = run_case(&c1, VKS_DTYPE_F64, u1, f1, 1e-12);
    print_message("1-D n = 24: oracle %.2e, exact %.2e, alpha %.2e, %d iterations\n", r.err_oracle, r.err_exact,
                  r.err_alpha, r.iterations);
    assert_true(r.err_oracle < 1e-8);
    assert_true(r.err_exact < 5e-2);
    assert_true(r.err_alpha < 1e-8);
    /* 2-D ragged grid on a non-unit box. */
    const pde_case c2 = {2, {13, 17}, {-0.5, 0.2}, {1.0, 2.0}, {1.5 * 1.5 / 12, 1.5 * 1.8 / 16}, {1, 1}, 0, 1e-8};
    r = run_case(&c2, VKS_DTYPE_F64, u2, f2, 1e-12);
    print_message("2-D 13 x 17: oracle %.2e, exact %.2e, alpha %.2e, %d iterations\n", r.err_oracle, r.err_exact,
                  r.err_alpha, r.iterations);
    assert_true(r.err_oracle < 1e-8);
    assert_true(r.err_exact < 5e-2);
    assert_true(r.err_alpha < 1e-8);
    /* Anisotropic Helmholtz-type operator with a zero-order term. */
    const pde_case c3 = {2, {15, 11}, {0, 0}, {1, 1}, {1.5 / 14, 1.5 / 10}, {0.5, 2}, 3, 1e-8};
    r = run_case(&c3, VKS_DTYPE_F64, u3, f3, 1e-12);
    print_message("Helmholtz 15 x 11: oracle %.2e, exact %.2e, %d iterations\n", r.err_oracle, r.err_exact,
                  r.iterations);
    assert_true(r.err_oracle < 1e-8);
    assert_true(r.err_exact < 5e-2);
}

static double u_hf(const double *x) { return sin(30 * x[0]) * sin(20 * x[1]); }
static double f_hf(const double *x) { return -1300 * sin(30 * x[0]) * sin(20 * x[1]); }

/* The sample's path (gp-pde) on a small grid: sin(30x) sin(20y), lengthscale 3h, jitter 1e-8,
 * solved, then predicted on a test grid with every midpoint through alpha = K^-1 U,
 * cross-covariances (vks_kron_kernel_matrix) and vks_kron_matmul, against the exact solution. */
static void test_pde_high_frequency(void **state) {
    (void)state;
    if (!has_f64()) skip();
    vks_context *ctx = vkt->ctx;
    const int64_t n = 40, points = n * n, m = 2 * n - 1, tp = m * m;
    const double h = 1.0 / (double)(n - 1);
    double *f = malloc(sizeof(double) * (size_t)points), *g = malloc(sizeof(double) * (size_t)points);
    double xs[79], xg[40];
    for (int64_t e = 0; e < points; ++e) {
        const double x[2] = {(double)(e / n) * h, (double)(e % n) * h};
        f[e] = f_hf(x), g[e] = u_hf(x);
    }
    for (int64_t j = 0; j < m; ++j) xs[j] = (double)j * h / 2;
    for (int64_t j = 0; j < n; ++j) xg[j] = (double)j * h;
    const vks_dtype dt = VKS_DTYPE_F64;
    vks_buffer *fb = vkt_upload(dt, f, (size_t)points), *gb = vkt_upload(dt, g, (size_t)points);
    vks_buffer *ub = vkt_poisoned(dt, (size_t)points), *ab = vkt_poisoned(dt, (size_t)points);
    vks_buffer *sb = vkt_upload(dt, xs, (size_t)m), *xb = vkt_upload(dt, xg, (size_t)n);
    vks_buffer *cb = vkt_poisoned(dt, (size_t)(m * n)), *pb = vkt_poisoned(dt, (size_t)tp);
    vks_tensor ft = vks_tensor_1d(fb, dt, points), gt = vks_tensor_1d(gb, dt, points), ut = vks_tensor_1d(ub, dt, points);
    vks_tensor at = vks_tensor_1d(ab, dt, points), st = vks_tensor_1d(sb, dt, m), xt = vks_tensor_1d(xb, dt, n);
    vks_tensor ct = vks_tensor_2d(cb, dt, m, n), pt = vks_tensor_1d(pb, dt, tp);
    vks_kernel_desc k = VKS_KERNEL_DESC_INIT;
    k.lengthscale = 3 * h;
    vks_kron_pde_desc desc = VKS_KRON_PDE_DESC_INIT;
    desc.d = 2;
    for (int i = 0; i < 2; ++i) desc.n[i] = n, desc.lo[i] = 0, desc.hi[i] = 1, desc.coef_xx[i] = 1, desc.kernels[i] = &k;
    desc.f = &ft, desc.boundary = &gt, desc.u = &ut, desc.alpha = &at, desc.tolerance = 1e-9;
    VKT_OK(vks_kron_pde_solve(ctx, &desc));
    VKT_OK(vks_kron_kernel_matrix(ctx, &k, &st, &xt, &ct));
    const vks_tensor *cross[2] = {&ct, &ct};
    VKT_OK(vks_kron_matmul(ctx, 2, cross, VKS_NO_TRANS, 1.0, &at, 0.0, &pt));
    double *u = vkt_download(ub, dt, 0, (size_t)points), *pred = vkt_download(pb, dt, 0, (size_t)tp);
    double num = 0, den = 0, pnum = 0, pden = 0;
    for (int64_t e = 0; e < points; ++e) num += (u[e] - g[e]) * (u[e] - g[e]), den += g[e] * g[e];
    for (int64_t e = 0; e < tp; ++e) {
        const double x[2] = {xs[e / m], xs[e % m]}, ex = u_hf(x);
        assert_true(isfinite(pred[e]));
        pnum += (pred[e] - ex) * (pred[e] - ex), pden += ex * ex;
    }
    print_message("sin(30x) sin(20y) on 40 x 40: relative L2 error %.2e on the grid, %.2e on the %lld-point test grid\n",
                  sqrt(num / den), sqrt(pnum / pden), (long long)tp);
    assert_true(sqrt(num / den) < 2e-3);
    assert_true(sqrt(pnum / pden) < 2e-3);
    free(f), free(g), free(u), free(pred);
    vks_buffer *bufs[] = {fb, gb, ub, ab, sb, xb, cb, pb};
    for (int i = 0; i < 8; ++i) VKT_OK(vks_buffer_destroy(bufs[i]));
}

/* f32 tensors: the setup is float64, the iteration f32; looser, against the oracle. */
static void test_pde_f32(void **state) {
    (void)state;
    if (!has_f64()) skip();
    const pde_case c = {2, {9, 12}, {0, 0}, {1, 1}, {0.3, 0.3}, {1, 1}, 0, 1e-8};
    const pde_run r = run_case(&c, VKS_DTYPE_F32, u2, f2, 1e-5);
    print_message("f32 9 x 12: oracle %.2e\n", r.err_oracle);
    assert_true(r.err_oracle < 1e-3);
}

/* The GP derivative operator K'' K^-1 through the public pieces: K'' from
 * vks_kron_kernel_matrix (dx1 = 2), K^-1 U from vks_kron_cholesky_solve, then
 * (K_1'' ⊗ K_2) alpha and (K_1 ⊗ K_2'') alpha by vks_kron_matmul, against u_xx and u_yy. */
static void test_pde_derivative_operators(void **state) {
    (void)state;
    if (!has_f64()) skip();
    vks_context *ctx = vkt->ctx;
    const vks_dtype dt = VKS_DTYPE_F64;
    const int64_t n0 = 30, n1 = 26, points = n0 * n1;
    double x0[30], x1[26];
    for (int64_t i = 0; i < n0; ++i) x0[i] = (double)i / (double)(n0 - 1);
    for (int64_t i = 0; i < n1; ++i) x1[i] = 2.0 * (double)i / (double)(n1 - 1);
    double *uv = malloc(sizeof(double) * (size_t)points), *uxx = malloc(sizeof(double) * (size_t)points);
    double *uyy = malloc(sizeof(double) * (size_t)points);
    for (int64_t a = 0; a < n0; ++a)
        for (int64_t b = 0; b < n1; ++b) {
            const double x = x0[a], y = x1[b];
            uv[a * n1 + b] = sin(3 * x) * exp(0.5 * y);
            uxx[a * n1 + b] = -9 * sin(3 * x) * exp(0.5 * y);
            uyy[a * n1 + b] = 0.25 * sin(3 * x) * exp(0.5 * y);
        }
    vks_buffer *p0 = vkt_upload(dt, x0, (size_t)n0), *p1 = vkt_upload(dt, x1, (size_t)n1);
    vks_buffer *k0 = vkt_poisoned(dt, (size_t)(n0 * n0)), *k1 = vkt_poisoned(dt, (size_t)(n1 * n1));
    vks_buffer *d0 = vkt_poisoned(dt, (size_t)(n0 * n0)), *d1 = vkt_poisoned(dt, (size_t)(n1 * n1));
    vks_buffer *ub = vkt_upload(dt, uv, (size_t)points), *ab = vkt_poisoned(dt, (size_t)points);
    vks_buffer *ob = vkt_poisoned(dt, (size_t)points);
    vks_tensor tp0 = vks_tensor_1d(p0, dt, n0), tp1 = vks_tensor_1d(p1, dt, n1);
    vks_tensor tk0 = vks_tensor_2d(k0, dt, n0, n0), tk1 = vks_tensor_2d(k1, dt, n1, n1);
    vks_tensor td0 = vks_tensor_2d(d0, dt, n0, n0), td1 = vks_tensor_2d(d1, dt, n1, n1);
    vks_tensor tu = vks_tensor_1d(ub, dt, points), ta = vks_tensor_1d(ab, dt, points), to = vks_tensor_1d(ob, dt, points);
    vks_kernel_desc kd = VKS_KERNEL_DESC_INIT;
    kd.lengthscale = 3.0 / 29;
    VKT_OK(vks_kron_kernel_matrix(ctx, &kd, &tp0, &tp0, &tk0));
    kd.lengthscale = 3 * 2.0 / 25;
    VKT_OK(vks_kron_kernel_matrix(ctx, &kd, &tp1, &tp1, &tk1));
    kd.dx1 = 2;
    VKT_OK(vks_kron_kernel_matrix(ctx, &kd, &tp1, &tp1, &td1));
    kd.lengthscale = 3.0 / 29;
    VKT_OK(vks_kron_kernel_matrix(ctx, &kd, &tp0, &tp0, &td0));
    vks_kron_cholesky_desc cd = VKS_KRON_CHOLESKY_DESC_INIT;
    cd.d = 2, cd.factors[0] = &tk0, cd.factors[1] = &tk1, cd.jitter = 1e-8, cd.y = &tu, cd.alpha = &ta;
    VKT_OK(vks_kron_cholesky_solve(ctx, &cd));
    const vks_tensor *fx[2] = {&td0, &tk1}, *fy[2] = {&tk0, &td1};
    VKT_OK(vks_kron_matmul(ctx, 2, fx, VKS_NO_TRANS, 1.0, &ta, 0.0, &to));
    double *got = vkt_download(ob, dt, 0, (size_t)points);
    /* Interior points (derivatives of kernel interpolants are least accurate at the ends). */
    double ex = 0, ey = 0, big = 0;
    for (int64_t a = 3; a < n0 - 3; ++a)
        for (int64_t b = 3; b < n1 - 3; ++b) ex = fmax(ex, fabs(got[a * n1 + b] - uxx[a * n1 + b])), big = fmax(big, fabs(uxx[a * n1 + b]));
    ex /= big;
    free(got);
    VKT_OK(vks_kron_matmul(ctx, 2, fy, VKS_NO_TRANS, 1.0, &ta, 0.0, &to));
    got = vkt_download(ob, dt, 0, (size_t)points);
    big = 0;
    for (int64_t a = 3; a < n0 - 3; ++a)
        for (int64_t b = 3; b < n1 - 3; ++b) ey = fmax(ey, fabs(got[a * n1 + b] - uyy[a * n1 + b])), big = fmax(big, fabs(uyy[a * n1 + b]));
    ey /= big;
    print_message("K'' K^-1 u against u_xx: %.2e, u_yy: %.2e (relative, interior)\n", ex, ey);
    /* A float64 numpy run of the same construction gives 1.7e-3 and 2.9e-2: the error of the
     * kernel interpolant's second derivative at lengthscale 3h, jitter 1e-8 (not rounding). */
    assert_true(ex < 5e-3);
    assert_true(ey < 6e-2);
    free(got), free(uv), free(uxx), free(uyy);
    vks_buffer *bufs[] = {p0, p1, k0, k1, d0, d1, ub, ab, ob};
    for (int i = 0; i < 9; ++i) VKT_OK(vks_buffer_destroy(bufs[i]));
}

static void test_pde_errors(void **state) {
    (void)state;
    if (!has_f64()) skip();
    vks_context *ctx = vkt->ctx;
    const vks_dtype dt = VKS_DTYPE_F64;
    const int64_t n = 6, points = 36;
    double v[36];
    for (int i = 0; i < 36; ++i) v[i] = 0.1 * i;
    vks_buffer *fb = vkt_upload(dt, v, 36), *gb = vkt_upload(dt, v, 36), *ub = vkt_poisoned(dt, 36);
    vks_tensor ft = vks_tensor_1d(fb, dt, points), gt = vks_tensor_1d(gb, dt, points), ut = vks_tensor_1d(ub, dt, points);
    vks_kernel_desc k = VKS_KERNEL_DESC_INIT;
    k.lengthscale = 0.3;
    vks_kron_pde_desc good = VKS_KRON_PDE_DESC_INIT;
    good.d = 2;
    for (int i = 0; i < 2; ++i) good.n[i] = n, good.hi[i] = 1, good.coef_xx[i] = 1, good.kernels[i] = &k;
    good.f = &ft, good.boundary = &gt, good.u = &ut;
    vks_kron_pde_desc d = good;
    VKT_OK(vks_kron_pde_solve(ctx, &d)); /* the baseline is valid */
    vks_kron_pde_desc defaults;
    memset(&defaults, 0xff, sizeof defaults);
    VKT_OK(vks_struct_init(VKS_STRUCT_KRON_PDE_DESC, &defaults, sizeof defaults));
    assert_int_equal(defaults.struct_size, sizeof defaults);
    assert_true(defaults.jitter == 1e-8 && defaults.tolerance == 1e-8 && defaults.max_iterations == 1000);
    assert_true(defaults.d == 0 && defaults.f == NULL && defaults.residual == NULL && defaults.coef_u == 0);

    VKT_FAILS(vks_kron_pde_solve(NULL, &d), VKS_ERROR_INVALID_ARGUMENT, "vks_kron_pde_solve: ctx is NULL");
    VKT_FAILS(vks_kron_pde_solve(ctx, NULL), VKS_ERROR_INVALID_ARGUMENT, "vks_kron_pde_solve: desc is NULL");
    d.struct_size = 8;
    VKT_FAILS(vks_kron_pde_solve(ctx, &d), VKS_ERROR_INVALID_ARGUMENT, "vks_kron_pde_solve: desc->struct_size = 8");
    d = good, d.d = 5;
    VKT_FAILS(vks_kron_pde_solve(ctx, &d), VKS_ERROR_INVALID_ARGUMENT, "vks_kron_pde_solve: d = 5, expected 1..4");
    /* bad grids */
    d = good, d.n[1] = 2;
    VKT_FAILS(vks_kron_pde_solve(ctx, &d), VKS_ERROR_INVALID_ARGUMENT, "vks_kron_pde_solve: desc->n[1] = 2, expected 3..8192");
    d = good, d.lo[0] = 1;
    VKT_FAILS(vks_kron_pde_solve(ctx, &d), VKS_ERROR_INVALID_ARGUMENT,
              "vks_kron_pde_solve: desc->lo[0] = 1, desc->hi[0] = 1; expected finite lo < hi");
    d = good, d.hi[1] = NAN;
    VKT_FAILS(vks_kron_pde_solve(ctx, &d), VKS_ERROR_INVALID_ARGUMENT, "vks_kron_pde_solve: desc->lo[1] = 0, desc->hi[1] = nan");
    d = good, d.n[0] = 7; /* the grid no longer matches the tensors */
    VKT_FAILS(vks_kron_pde_solve(ctx, &d), VKS_ERROR_SHAPE_MISMATCH, "vks_kron_pde_solve: desc->f has 36 elements, expected 42");
    /* kernels */
    d = good, d.kernels[1] = NULL;
    VKT_FAILS(vks_kron_pde_solve(ctx, &d), VKS_ERROR_INVALID_ARGUMENT, "vks_kron_pde_solve: desc->kernels[1] is NULL");
    vks_kernel_desc bad = k;
    bad.lengthscale = -1;
    d = good, d.kernels[0] = &bad;
    VKT_FAILS(vks_kron_pde_solve(ctx, &d), VKS_ERROR_INVALID_ARGUMENT,
              "vks_kron_pde_solve: desc->kernels[0]->lengthscale = -1");
    /* a kernel that is not positive definite: a spectral mixture with a negative weight */
    const double w[2] = {1.0, -2.0}, rho[2] = {10.0, 10.0}, fr[2] = {0.0, 0.0};
    vks_kernel_desc sm = VKS_KERNEL_DESC_INIT;
    sm.kind = VKS_KERNEL_SPECTRAL_MIXTURE, sm.num_mixtures = 2, sm.sm_weights = w, sm.sm_rhos = rho, sm.sm_freqs = fr;
    d = good, d.kernels[1] = &sm;
    VKT_FAILS(vks_kron_pde_solve(ctx, &d), VKS_ERROR_NOT_POSITIVE_DEFINITE,
              "vks_kron_pde_solve: desc->kernels[1] on 6 grid points plus jitter 1e-08 is not positive definite");
    /* operator and solver settings */
    d = good, d.coef_xx[0] = d.coef_xx[1] = 0;
    VKT_FAILS(vks_kron_pde_solve(ctx, &d), VKS_ERROR_INVALID_ARGUMENT, "vks_kron_pde_solve: desc->coef_xx[0..1] are all 0");
    d = good, d.coef_u = INFINITY;
    VKT_FAILS(vks_kron_pde_solve(ctx, &d), VKS_ERROR_INVALID_ARGUMENT, "vks_kron_pde_solve: desc->coef_u = inf");
    d = good, d.jitter = -1;
    VKT_FAILS(vks_kron_pde_solve(ctx, &d), VKS_ERROR_INVALID_ARGUMENT, "vks_kron_pde_solve: desc->jitter = -1");
    d = good, d.tolerance = 0;
    VKT_FAILS(vks_kron_pde_solve(ctx, &d), VKS_ERROR_INVALID_ARGUMENT, "vks_kron_pde_solve: desc->tolerance = 0");
    d = good, d.max_iterations = 0;
    VKT_FAILS(vks_kron_pde_solve(ctx, &d), VKS_ERROR_INVALID_ARGUMENT, "vks_kron_pde_solve: desc->max_iterations = 0");
    /* inconsistent data: missing, wrong size or dtype, overlapping, NaN on the boundary */
    d = good, d.boundary = NULL;
    VKT_FAILS(vks_kron_pde_solve(ctx, &d), VKS_ERROR_INVALID_ARGUMENT, "vks_kron_pde_solve: desc->boundary is NULL");
    vks_tensor g30 = vks_tensor_1d(gb, dt, 30);
    d = good, d.boundary = &g30;
    VKT_FAILS(vks_kron_pde_solve(ctx, &d), VKS_ERROR_SHAPE_MISMATCH,
              "vks_kron_pde_solve: desc->boundary has 30 elements, expected 36");
    vks_tensor g32 = vks_tensor_1d(gb, VKS_DTYPE_F32, 36);
    d = good, d.boundary = &g32;
    VKT_FAILS(vks_kron_pde_solve(ctx, &d), VKS_ERROR_DTYPE_MISMATCH, "vks_kron_pde_solve: desc->boundary");
    d = good, d.u = &ft;
    VKT_FAILS(vks_kron_pde_solve(ctx, &d), VKS_ERROR_INVALID_ARGUMENT, "vks_kron_pde_solve: desc->u overlaps desc->f");
    v[3] = NAN; /* (0, 3): a boundary point */
    VKT_OK(vks_buffer_write(gb, 0, v, sizeof v));
    d = good;
    VKT_FAILS(vks_kron_pde_solve(ctx, &d), VKS_ERROR_NON_FINITE,
              "vks_kron_pde_solve: desc->boundary[3] = nan at a boundary grid point");
    v[3] = 0.3, v[14] = NAN; /* (2, 2): interior, unused in g but still refused */
    VKT_OK(vks_buffer_write(gb, 0, v, sizeof v));
    VKT_FAILS(vks_kron_pde_solve(ctx, &d), VKS_ERROR_NON_FINITE,
              "vks_kron_pde_solve: desc->boundary[14] = nan at an interior grid point");
    v[14] = 1.4;
    VKT_OK(vks_buffer_write(gb, 0, v, sizeof v));
    v[14] = NAN;
    VKT_OK(vks_buffer_write(fb, 0, v, sizeof v));
    VKT_FAILS(vks_kron_pde_solve(ctx, &d), VKS_ERROR_NON_FINITE,
              "vks_kron_pde_solve: desc->f[14] = nan at an interior grid point");
    v[14] = 1.4;
    VKT_OK(vks_buffer_write(fb, 0, v, sizeof v));
    /* no convergence: one iteration to 1e-14 */
    d = good, d.max_iterations = 1, d.tolerance = 1e-14;
    int32_t it = -1;
    d.iterations = &it;
    VKT_FAILS(vks_kron_pde_solve(ctx, &d), VKS_ERROR_NOT_CONVERGED,
              "vks_kron_pde_solve: BiCGStab reached desc->max_iterations = 1");
    assert_int_equal(it, 1);
    double *u = vkt_download(ub, dt, 0, 36); /* the last iterate is written */
    for (int i = 0; i < 36; ++i) assert_true(isfinite(u[i]));
    free(u);
    VKT_OK(vks_buffer_destroy(fb));
    VKT_OK(vks_buffer_destroy(gb));
    VKT_OK(vks_buffer_destroy(ub));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VKT_TEST(test_pde_derivative_operators), VKT_TEST(test_pde_manufactured), VKT_TEST(test_pde_high_frequency),
        VKT_TEST(test_pde_f32),                  VKT_TEST(test_pde_errors),
    };
    return VKT_RUN(tests);
}
