/* vks_kron_pde_solve with finite weights (GP-HM's objective for fixed kernels) against a
 * dense float64 oracle of another form of the same minimizer (the GP posterior mean
 * U = K C^T (C K C^T + diag(1/(2 lambda)))^-1 y, no K^-1 of the whole grid), its objective,
 * the limit of large weights (the collocation solution); and the collocation solver on
 * manufactured solutions: u = sum_j c_j k(x, x_j) (exact for the GP, also off the grid
 * through alpha) and f := the GP operator applied to a known U. Bad weights. */
#include <math.h>
#include <string.h>

#include "reference_kron.h"
#include "vks_test.h"

static bool has_f64(void) { return (vkt->info.features & VKS_FEATURE_FLOAT64) != 0; }

static double se(double r, double l) { return exp(-r * r / (2 * l * l)); }
static double se_dd(double r, double l) { return (r * r / (l * l * l * l) - 1 / (l * l)) * exp(-r * r / (2 * l * l)); }

typedef struct wcase {
    int d;
    int64_t n[2];
    double lo[2], hi[2], l[2], coef[2], c, jitter, wb, wr;
} wcase;

static int64_t npts(const wcase *w) { return w->n[0] * (w->d == 2 ? w->n[1] : 1); }
static double coord(const wcase *w, int i, int64_t j) {
    return w->lo[i] + (double)j * (w->hi[i] - w->lo[i]) / (double)(w->n[i] - 1);
}

/* Per dimension: K_i (+ jitter), K_i'' and D_i = K_i'' K_i^-1 (row-major n x n). */
static void oracle_dim(const wcase *w, int i, double *k, double *k2, double *dm) {
    const int64_t n = w->n[i];
    double *lf = malloc(sizeof(double) * (size_t)(n * n)), *x = malloc(sizeof(double) * (size_t)(n * n));
    for (int64_t a = 0; a < n; ++a)
        for (int64_t b = 0; b < n; ++b) {
            const double r = coord(w, i, a) - coord(w, i, b);
            k[a * n + b] = se(r, w->l[i]) + (a == b ? w->jitter : 0.0);
            k2[a * n + b] = x[a * n + b] = se_dd(r, w->l[i]);
        }
    assert_int_equal(ref_kron_cholesky(n, k, lf), 0);
    ref_kron_cholesky_solve(n, lf, x, n); /* K^-1 K'' = D^T */
    for (int64_t a = 0; a < n; ++a)
        for (int64_t b = 0; b < n; ++b) dm[a * n + b] = x[b * n + a];
    free(lf), free(x);
}

static bool on_boundary(const wcase *w, int64_t e) {
    const int64_t n1 = w->d == 2 ? w->n[1] : 1, a = e / n1, b = e % n1;
    return a == 0 || a == w->n[0] - 1 || (w->d == 2 && (b == 0 || b == n1 - 1));
}

/* The weighted minimizer U (and the objective at it) in the dual form. C = [B; R L] row by
 * row (row e: the boundary selection at a boundary point, L's row at an interior point). */
static double *oracle_weighted(const wcase *w, const double *f, const double *g, double *objective) {
    const int64_t np = npts(w), n0 = w->n[0], n1 = w->d == 2 ? w->n[1] : 1;
    double *k[2], *k2[2], *dm[2];
    for (int i = 0; i < 2; ++i) {
        const int64_t n = i < w->d ? w->n[i] : 1;
        k[i] = malloc(sizeof(double) * (size_t)(n * n)), k2[i] = malloc(sizeof(double) * (size_t)(n * n));
        dm[i] = malloc(sizeof(double) * (size_t)(n * n));
        if (i < w->d) oracle_dim(w, i, k[i], k2[i], dm[i]);
        else k[i][0] = 1, k2[i][0] = 0, dm[i][0] = 0;
    }
    double *cm = calloc((size_t)(np * np), sizeof(double)), *ck = calloc((size_t)(np * np), sizeof(double));
    for (int64_t e = 0; e < np; ++e) {
        const int64_t a = e / n1, b = e % n1;
        for (int64_t e2 = 0; e2 < np; ++e2) {
            const int64_t a2 = e2 / n1, b2 = e2 % n1;
            const double kk = k[0][a * n0 + a2] * k[1][b * n1 + b2];
            if (on_boundary(w, e)) {
                cm[e * np + e2] = e == e2;
                ck[e * np + e2] = kk;
                continue;
            }
            double c = (b == b2 ? w->coef[0] * dm[0][a * n0 + a2] : 0) + (e == e2 ? w->c : 0);
            if (w->d == 2 && a == a2) c += w->coef[1] * dm[1][b * n1 + b2];
            cm[e * np + e2] = c;
            /* (L K)[e][e2]: D_i K_i = K_i'' */
            double lk = w->coef[0] * k2[0][a * n0 + a2] * k[1][b * n1 + b2] + w->c * kk;
            if (w->d == 2) lk += w->coef[1] * k[0][a * n0 + a2] * k2[1][b * n1 + b2];
            ck[e * np + e2] = lk;
        }
    }
    /* G = C (C K)^T + diag(1 / (2 lambda)), y = [g; f] */
    double *gm = malloc(sizeof(double) * (size_t)(np * np)), *gs = malloc(sizeof(double) * (size_t)(np * np));
    double *y = malloc(sizeof(double) * (size_t)np), *beta = malloc(sizeof(double) * (size_t)np);
    for (int64_t r = 0; r < np; ++r)
        for (int64_t s = 0; s < np; ++s) {
            double v = 0;
            for (int64_t e = 0; e < np; ++e) v += cm[r * np + e] * ck[s * np + e];
            gm[r * np + s] = v;
        }
    for (int64_t r = 0; r < np; ++r)
        for (int64_t s = 0; s < np; ++s) gs[r * np + s] = 0.5 * (gm[r * np + s] + gm[s * np + r]);
    memcpy(gm, gs, sizeof(double) * (size_t)(np * np));
    for (int64_t r = 0; r < np; ++r) {
        const double lam = on_boundary(w, r) ? w->wb : w->wr;
        gs[r * np + r] += 1 / (2 * lam);
        beta[r] = y[r] = on_boundary(w, r) ? g[r] : f[r];
    }
    ref_dense_solve(np, gs, beta);
    double *u = calloc((size_t)np, sizeof(double));
    for (int64_t e = 0; e < np; ++e)
        for (int64_t r = 0; r < np; ++r) u[e] += ck[r * np + e] * beta[r];
    /* J = 1/2 beta^T G beta + sum lambda (G beta - y)^2 (C U = G beta, U^T K^-1 U = beta^T G beta) */
    double prior = 0, fit = 0;
    for (int64_t r = 0; r < np; ++r) {
        double gb = 0;
        for (int64_t s = 0; s < np; ++s) gb += gm[r * np + s] * beta[s];
        prior += beta[r] * gb;
        fit += (on_boundary(w, r) ? w->wb : w->wr) * (gb - y[r]) * (gb - y[r]);
    }
    *objective = 0.5 * prior + fit;
    for (int i = 0; i < 2; ++i) free(k[i]), free(k2[i]), free(dm[i]);
    free(cm), free(ck), free(gm), free(gs), free(y), free(beta);
    return u;
}

typedef struct wrun {
    double *u;
    double objective, relres;
    int32_t iterations;
    vks_status status;
} wrun;

/* Runs the device solver with w's weights on f, g (NaN-poisoned u, alpha). */
static wrun run_device(const wcase *w, vks_dtype dt, const double *f, const double *g, double tol, int32_t maxit,
                       double *alpha_out) {
    const int64_t np = npts(w);
    vks_buffer *fb = vkt_upload(dt, f, (size_t)np), *gb = vkt_upload(dt, g, (size_t)np);
    vks_buffer *ub = vkt_poisoned(dt, (size_t)np), *ab = vkt_poisoned(dt, (size_t)np);
    vks_tensor ft = vks_tensor_1d(fb, dt, np), gt = vks_tensor_1d(gb, dt, np);
    vks_tensor ut = vks_tensor_1d(ub, dt, np), at = vks_tensor_1d(ab, dt, np);
    vks_kernel_desc k[2] = {VKS_KERNEL_DESC_INIT, VKS_KERNEL_DESC_INIT};
    vks_kron_pde_desc desc = VKS_KRON_PDE_DESC_INIT;
    desc.d = w->d;
    for (int i = 0; i < w->d; ++i) {
        k[i].lengthscale = w->l[i];
        desc.n[i] = w->n[i], desc.lo[i] = w->lo[i], desc.hi[i] = w->hi[i], desc.coef_xx[i] = w->coef[i];
        desc.kernels[i] = &k[i];
    }
    wrun out = {0};
    desc.coef_u = w->c, desc.jitter = w->jitter, desc.tolerance = tol, desc.max_iterations = maxit;
    desc.weight_boundary = w->wb, desc.weight_residual = w->wr;
    desc.f = &ft, desc.boundary = &gt, desc.u = &ut, desc.alpha = &at;
    desc.iterations = &out.iterations, desc.residual = &out.relres, desc.objective = &out.objective;
    out.status = vks_kron_pde_solve(vkt->ctx, &desc);
    out.u = vkt_download(ub, dt, 0, (size_t)np);
    if (alpha_out) {
        double *a = vkt_download(ab, dt, 0, (size_t)np);
        memcpy(alpha_out, a, sizeof(double) * (size_t)np);
        free(a);
    }
    vks_buffer *bufs[] = {fb, gb, ub, ab};
    for (int i = 0; i < 4; ++i) VKT_OK(vks_buffer_destroy(bufs[i]));
    return out;
}

static double max_rel(const double *a, const double *b, int64_t n) {
    double big = 0, e = 0;
    for (int64_t i = 0; i < n; ++i) big = fmax(big, fabs(b[i]));
    for (int64_t i = 0; i < n; ++i) {
        assert_true(isfinite(a[i]));
        e = fmax(e, fabs(a[i] - b[i]));
    }
    return e / big;
}

/* Seeded random f and g of order 1 (the oracle does not need a smooth solution). */
static void random_data(const wcase *w, uint64_t seed, double *f, double *g) {
    vkt_rng rng = vkt_rng_seed(seed);
    for (int64_t e = 0; e < npts(w); ++e) f[e] = vkt_uniform(&rng, -1, 1), g[e] = vkt_uniform(&rng, -1, 1);
}

static void check_against_oracle(const wcase *w, vks_dtype dt, double tol_u, double tol_obj) {
    const int64_t np = npts(w);
    double *f = malloc(sizeof(double) * (size_t)np), *g = malloc(sizeof(double) * (size_t)np);
    random_data(w, 17 + (uint64_t)np, f, g);
    double want_obj = 0;
    double *want = oracle_weighted(w, f, g, &want_obj);
    const wrun r = run_device(w, dt, f, g, dt == VKS_DTYPE_F64 ? 1e-12 : 1e-6, 5000, NULL);
    VKT_OK(r.status);
    const double eu = max_rel(r.u, want, np), eo = fabs(r.objective - want_obj) / fabs(want_obj);
    print_message("weights (%g, %g) d = %d %lld x %lld %s: u %.2e, objective %.2e (%.6g), %d CG iterations\n", w->wb,
                  w->wr, w->d, (long long)w->n[0], (long long)(w->d == 2 ? w->n[1] : 1),
                  dt == VKS_DTYPE_F64 ? "f64" : "f32", eu, eo, want_obj, r.iterations);
    assert_true(eu < tol_u);
    assert_true(eo < tol_obj);
    free(f), free(g), free(want), free(r.u);
}

static void test_weighted_oracle(void **state) {
    (void)state;
    if (!has_f64()) skip();
    const wcase c1 = {1, {21, 1}, {0, 0}, {1, 0}, {1.5 / 20, 0}, {1, 0}, 0, 1e-8, 10, 1};
    check_against_oracle(&c1, VKS_DTYPE_F64, 1e-8, 1e-8);
    const wcase c1b = {1, {3, 1}, {-1, 0}, {2, 0}, {1.0, 0}, {2, 0}, 0.5, 1e-8, 0.1, 100};
    check_against_oracle(&c1b, VKS_DTYPE_F64, 1e-8, 1e-8);
    const wcase c2 = {2, {9, 11}, {0, -0.5}, {1, 1}, {1.5 / 8, 1.5 * 1.5 / 10}, {1, 1}, 0, 1e-8, 100, 0.01};
    check_against_oracle(&c2, VKS_DTYPE_F64, 1e-8, 1e-8);
    /* Helmholtz-type, anisotropic */
    const wcase c3 = {2, {8, 7}, {0, 0}, {1, 1}, {1.5 / 7, 1.5 / 6}, {0.5, 2}, 3, 1e-8, 1, 1};
    check_against_oracle(&c3, VKS_DTYPE_F64, 1e-8, 1e-8);
    check_against_oracle(&c2, VKS_DTYPE_F32, 2e-3, 2e-3);
}

/* As the weights grow the minimizer approaches the collocation solution (weights 0). */
static void test_weighted_limit(void **state) {
    (void)state;
    if (!has_f64()) skip();
    wcase w = {2, {10, 9}, {0, 0}, {1, 1}, {1.5 / 9, 1.5 / 8}, {1, 1}, 0, 1e-8, 0, 0};
    const int64_t np = npts(&w);
    double *f = malloc(sizeof(double) * (size_t)np), *g = malloc(sizeof(double) * (size_t)np);
    for (int64_t e = 0; e < np; ++e) {
        const double x = coord(&w, 0, e / w.n[1]), y = coord(&w, 1, e % w.n[1]);
        g[e] = sin(2 * x) * cos(y), f[e] = -5 * sin(2 * x) * cos(y);
    }
    const wrun col = run_device(&w, VKS_DTYPE_F64, f, g, 1e-12, 1000, NULL);
    VKT_OK(col.status);
    double prev = INFINITY;
    const double lams[4] = {1e2, 1e4, 1e6, 1e8};
    for (int j = 0; j < 4; ++j) {
        w.wb = w.wr = lams[j];
        const wrun r = run_device(&w, VKS_DTYPE_F64, f, g, 1e-12, 20000, NULL);
        VKT_OK(r.status);
        const double e = max_rel(r.u, col.u, np);
        print_message("weights %g: max |U - U_collocation| / max|U| = %.2e, %d CG iterations\n", lams[j], e, r.iterations);
        assert_true(e < prev);
        prev = e;
        free(r.u);
    }
    assert_true(prev < 1e-4);
    free(f), free(g), free(col.u);
}

/* u(x) = sum_j c_j k(x, x_j) over the grid points x_j (tensor products in 2-D), jitter 0:
 * U = K c satisfies the GP's collocation equations exactly (D U = K'' c = (L u)(grid)), so
 * the solver must return u at the grid and, through alpha = K^-1 U = c, u itself off the
 * grid (the posterior mean k(x*, grid) alpha), up to rounding. */
static void check_kernel_sections(const wcase *w) {
    const int64_t np = npts(w), n0 = w->n[0], n1 = w->d == 2 ? w->n[1] : 1;
    double *cf = malloc(sizeof(double) * (size_t)np), *f = calloc((size_t)np, sizeof(double));
    double *g = calloc((size_t)np, sizeof(double)), *alpha = malloc(sizeof(double) * (size_t)np);
    vkt_rng rng = vkt_rng_seed(5 + (uint64_t)np);
    for (int64_t e = 0; e < np; ++e) cf[e] = vkt_uniform(&rng, -1, 1);
    for (int64_t e = 0; e < np; ++e) {
        const double x = coord(w, 0, e / n1), y = w->d == 2 ? coord(w, 1, e % n1) : 0;
        for (int64_t j = 0; j < np; ++j) {
            const double rx = x - coord(w, 0, j / n1), ry = w->d == 2 ? y - coord(w, 1, j % n1) : 0;
            const double kx = se(rx, w->l[0]), ky = w->d == 2 ? se(ry, w->l[1]) : 1;
            double lk = w->coef[0] * se_dd(rx, w->l[0]) * ky + w->c * kx * ky;
            if (w->d == 2) lk += w->coef[1] * kx * se_dd(ry, w->l[1]);
            g[e] += cf[j] * kx * ky, f[e] += cf[j] * lk;
        }
    }
    const wrun r = run_device(w, VKS_DTYPE_F64, f, g, 1e-13, 1000, alpha);
    VKT_OK(r.status);
    const double eu = max_rel(r.u, g, np);
    /* The posterior mean on a test grid of 4x the points per dimension (vks_kron_matmul). */
    const int64_t m0 = 4 * n0 - 3, m1 = w->d == 2 ? 4 * n1 - 3 : 1, mt = m0 * m1;
    double *xs0 = malloc(sizeof(double) * (size_t)m0), *xs1 = malloc(sizeof(double) * (size_t)m1);
    for (int64_t j = 0; j < m0; ++j) xs0[j] = w->lo[0] + (double)j * (w->hi[0] - w->lo[0]) / (double)(m0 - 1);
    for (int64_t j = 0; j < m1; ++j) xs1[j] = w->d == 2 ? w->lo[1] + (double)j * (w->hi[1] - w->lo[1]) / (double)(m1 - 1) : 0;
    double *c0 = malloc(sizeof(double) * (size_t)(m0 * n0)), *c1 = malloc(sizeof(double) * (size_t)(m1 * n1));
    for (int64_t a = 0; a < m0; ++a)
        for (int64_t b = 0; b < n0; ++b) c0[a * n0 + b] = se(xs0[a] - coord(w, 0, b), w->l[0]);
    for (int64_t a = 0; a < m1; ++a)
        for (int64_t b = 0; b < n1; ++b) c1[a * n1 + b] = w->d == 2 ? se(xs1[a] - coord(w, 1, b), w->l[1]) : 1;
    const vks_dtype dt = VKS_DTYPE_F64;
    vks_buffer *b0 = vkt_upload(dt, c0, (size_t)(m0 * n0)), *b1 = vkt_upload(dt, c1, (size_t)(m1 * n1));
    vks_buffer *ab = vkt_upload(dt, alpha, (size_t)np), *pb = vkt_poisoned(dt, (size_t)mt);
    vks_tensor t0 = vks_tensor_2d(b0, dt, m0, n0), t1 = vks_tensor_2d(b1, dt, m1, n1);
    vks_tensor at = vks_tensor_1d(ab, dt, np), pt = vks_tensor_1d(pb, dt, mt);
    const vks_tensor *cross[2] = {&t0, &t1};
    VKT_OK(vks_kron_matmul(vkt->ctx, w->d, cross, VKS_NO_TRANS, 1.0, &at, 0.0, &pt));
    double *pred = vkt_download(pb, dt, 0, (size_t)mt), *ex = calloc((size_t)mt, sizeof(double));
    for (int64_t p = 0; p < mt; ++p)
        for (int64_t j = 0; j < np; ++j)
            ex[p] += cf[j] * se(xs0[p / m1] - coord(w, 0, j / n1), w->l[0]) *
                     (w->d == 2 ? se(xs1[p % m1] - coord(w, 1, j % n1), w->l[1]) : 1);
    const double ep = max_rel(pred, ex, mt);
    print_message("u = sum c_j k(x, x_j), d = %d, %lld points: grid %.2e, %lld-point test grid %.2e, %d iterations\n",
                  w->d, (long long)np, eu, (long long)mt, ep, r.iterations);
    assert_true(eu < 1e-8);
    assert_true(ep < 1e-8);
    vks_buffer *bufs[] = {b0, b1, ab, pb};
    for (int i = 0; i < 4; ++i) VKT_OK(vks_buffer_destroy(bufs[i]));
    free(cf), free(f), free(g), free(alpha), free(xs0), free(xs1), free(c0), free(c1), free(pred), free(ex), free(r.u);
}

static void test_manufactured_exact(void **state) {
    (void)state;
    if (!has_f64()) skip();
    const wcase c1 = {1, {30, 1}, {0, 0}, {2, 0}, {0.13, 0}, {1, 0}, 0, 0, 0, 0};
    check_kernel_sections(&c1);
    const wcase c2 = {2, {14, 12}, {0, -1}, {1, 1}, {0.15, 0.3}, {1, 1}, 0, 0, 0, 0};
    check_kernel_sections(&c2);
    const wcase c3 = {2, {12, 13}, {0, 0}, {1, 1}, {0.17, 0.15}, {0.5, 2}, 9, 0, 0, 0}; /* Helmholtz */
    check_kernel_sections(&c3);
}

/* f := the GP operator (dense oracle D_i) applied to a low-frequency U; U must come back. */
static void test_manufactured_discrete(void **state) {
    (void)state;
    if (!has_f64()) skip();
    const wcase w = {2, {16, 13}, {0, 0}, {1, 1}, {1.5 / 15, 1.5 / 12}, {1, 1.5}, 2, 1e-8, 0, 0};
    const int64_t np = npts(&w), n0 = w.n[0], n1 = w.n[1];
    double *k = malloc(sizeof(double) * 256), *k2 = malloc(sizeof(double) * 256), *d0 = malloc(sizeof(double) * 256);
    double *d1 = malloc(sizeof(double) * 256);
    oracle_dim(&w, 0, k, k2, d0);
    oracle_dim(&w, 1, k, k2, d1);
    double *u = malloc(sizeof(double) * (size_t)np), *f = calloc((size_t)np, sizeof(double));
    for (int64_t e = 0; e < np; ++e) u[e] = cos(2 * coord(&w, 0, e / n1)) * exp(coord(&w, 1, e % n1)) + 0.5;
    for (int64_t a = 0; a < n0; ++a)
        for (int64_t b = 0; b < n1; ++b) {
            double s = w.c * u[a * n1 + b];
            for (int64_t j = 0; j < n0; ++j) s += w.coef[0] * d0[a * n0 + j] * u[j * n1 + b];
            for (int64_t j = 0; j < n1; ++j) s += w.coef[1] * d1[b * n1 + j] * u[a * n1 + j];
            f[a * n1 + b] = s;
        }
    const wrun r = run_device(&w, VKS_DTYPE_F64, f, u, 1e-13, 1000, NULL);
    VKT_OK(r.status);
    const double e = max_rel(r.u, u, np);
    print_message("f = L_GP U, 16 x 13: U recovered to %.2e, %d iterations\n", e, r.iterations);
    assert_true(e < 1e-8);
    free(k), free(k2), free(d0), free(d1), free(u), free(f), free(r.u);
}

static void test_weighted_errors(void **state) {
    (void)state;
    if (!has_f64()) skip();
    vks_context *ctx = vkt->ctx;
    const vks_dtype dt = VKS_DTYPE_F64;
    double v[36];
    for (int i = 0; i < 36; ++i) v[i] = 0.1 * i;
    vks_buffer *fb = vkt_upload(dt, v, 36), *gb = vkt_upload(dt, v, 36), *ub = vkt_poisoned(dt, 36);
    vks_tensor ft = vks_tensor_1d(fb, dt, 36), gt = vks_tensor_1d(gb, dt, 36), ut = vks_tensor_1d(ub, dt, 36);
    vks_kernel_desc k = VKS_KERNEL_DESC_INIT;
    k.lengthscale = 0.3;
    vks_kron_pde_desc good = VKS_KRON_PDE_DESC_INIT;
    good.d = 2;
    for (int i = 0; i < 2; ++i) good.n[i] = 6, good.hi[i] = 1, good.coef_xx[i] = 1, good.kernels[i] = &k;
    good.f = &ft, good.boundary = &gt, good.u = &ut, good.weight_boundary = 10, good.weight_residual = 1;
    vks_kron_pde_desc d = good;
    VKT_OK(vks_kron_pde_solve(ctx, &d));
    vks_kron_pde_desc defaults;
    memset(&defaults, 0xff, sizeof defaults);
    VKT_OK(vks_struct_init(VKS_STRUCT_KRON_PDE_DESC, &defaults, sizeof defaults));
    assert_true(defaults.weight_boundary == 0 && defaults.weight_residual == 0 && defaults.objective == NULL);
    d = good, d.weight_boundary = -1;
    VKT_FAILS(vks_kron_pde_solve(ctx, &d), VKS_ERROR_INVALID_ARGUMENT,
              "vks_kron_pde_solve: desc->weight_boundary = -1, expected 0 (collocation) or a finite weight > 0");
    d = good, d.weight_residual = NAN;
    VKT_FAILS(vks_kron_pde_solve(ctx, &d), VKS_ERROR_INVALID_ARGUMENT, "vks_kron_pde_solve: desc->weight_residual = nan");
    d = good, d.weight_residual = INFINITY;
    VKT_FAILS(vks_kron_pde_solve(ctx, &d), VKS_ERROR_INVALID_ARGUMENT, "vks_kron_pde_solve: desc->weight_residual = inf");
    d = good, d.weight_residual = 0;
    VKT_FAILS(vks_kron_pde_solve(ctx, &d), VKS_ERROR_INVALID_ARGUMENT,
              "vks_kron_pde_solve: desc->weight_boundary = 10 and desc->weight_residual = 0; expected both 0");
    d = good, d.weight_boundary = 0;
    VKT_FAILS(vks_kron_pde_solve(ctx, &d), VKS_ERROR_INVALID_ARGUMENT,
              "vks_kron_pde_solve: desc->weight_boundary = 0 and desc->weight_residual = 1");
    /* a box whose width overflows (lo, hi finite): refused, not a NaN grid blamed on the kernel */
    d = good, d.lo[1] = -1e308, d.hi[1] = 1e308;
    VKT_FAILS(vks_kron_pde_solve(ctx, &d), VKS_ERROR_INVALID_ARGUMENT,
              "vks_kron_pde_solve: desc->lo[1] = -1e+308, desc->hi[1] = 1e+308; expected finite lo < hi");
    /* a released caller's struct (without the weights) still solves by collocation */
    d = good, d.struct_size = offsetof(vks_kron_pde_desc, weight_boundary);
    VKT_OK(vks_kron_pde_solve(ctx, &d));
    /* weights whose products with the data overflow the dtype: the message names them */
    {
        float v32[36];
        for (int i = 0; i < 36; ++i) v32[i] = 0.1f * (float)i;
        vks_buffer *fb32 = NULL, *ub32 = NULL;
        VKT_OK(vks_buffer_create(ctx, sizeof v32, &fb32));
        VKT_OK(vks_buffer_create(ctx, sizeof v32, &ub32));
        VKT_OK(vks_buffer_write(fb32, 0, v32, sizeof v32));
        vks_tensor f32t = vks_tensor_1d(fb32, VKS_DTYPE_F32, 36), u32t = vks_tensor_1d(ub32, VKS_DTYPE_F32, 36);
        d = good, d.f = d.boundary = &f32t, d.u = &u32t, d.weight_boundary = d.weight_residual = 1e20;
        VKT_FAILS(vks_kron_pde_solve(ctx, &d), VKS_ERROR_NON_FINITE,
                  "vks_kron_pde_solve: the right-hand side overflowed f32 with desc->weight_boundary = 1e+20 and "
                  "desc->weight_residual = 1e+20 (f and boundary are finite)");
        /* collocation: boundary values near the f32 range overflow L(lift) */
        for (int i = 0; i < 36; ++i) v32[i] = 1e37f;
        VKT_OK(vks_buffer_write(fb32, 0, v32, sizeof v32));
        d.weight_boundary = d.weight_residual = 0;
        VKT_FAILS(vks_kron_pde_solve(ctx, &d), VKS_ERROR_NON_FINITE,
                  "vks_kron_pde_solve: the right-hand side f - L(boundary values) overflowed f32 (f and boundary are "
                  "finite)");
        VKT_OK(vks_buffer_destroy(fb32));
        VKT_OK(vks_buffer_destroy(ub32));
    }
    /* non-PD kernel: named with its pivot, also with finite weights */
    const double w[2] = {1.0, -2.0}, rho[2] = {10.0, 10.0}, fr[2] = {0.0, 0.0};
    vks_kernel_desc sm = VKS_KERNEL_DESC_INIT;
    sm.kind = VKS_KERNEL_SPECTRAL_MIXTURE, sm.num_mixtures = 2, sm.sm_weights = w, sm.sm_rhos = rho, sm.sm_freqs = fr;
    d = good, d.kernels[0] = &sm;
    VKT_FAILS(vks_kron_pde_solve(ctx, &d), VKS_ERROR_NOT_POSITIVE_DEFINITE,
              "vks_kron_pde_solve: desc->kernels[0] on 6 grid points plus jitter 1e-08 is not positive definite (Cholesky "
              "pivot 0");
    /* inconsistent boundary data: Inf at a boundary point, with finite weights too */
    v[5] = INFINITY;
    VKT_OK(vks_buffer_write(gb, 0, v, sizeof v));
    d = good;
    VKT_FAILS(vks_kron_pde_solve(ctx, &d), VKS_ERROR_NON_FINITE,
              "vks_kron_pde_solve: desc->boundary[5] = inf at a boundary grid point");
    v[5] = 0.5;
    VKT_OK(vks_buffer_write(gb, 0, v, sizeof v));
    /* no convergence: the last iterate is written, the objective reported */
    d = good, d.max_iterations = 1, d.tolerance = 1e-14;
    int32_t it = -1;
    double obj = NAN;
    d.iterations = &it, d.objective = &obj;
    VKT_FAILS(vks_kron_pde_solve(ctx, &d), VKS_ERROR_NOT_CONVERGED,
              "vks_kron_pde_solve: conjugate gradients reached desc->max_iterations = 1");
    assert_int_equal(it, 1);
    assert_true(isfinite(obj) && obj > 0);
    double *u = vkt_download(ub, dt, 0, 36);
    for (int i = 0; i < 36; ++i) assert_true(isfinite(u[i]));
    free(u);
    VKT_OK(vks_buffer_destroy(fb));
    VKT_OK(vks_buffer_destroy(gb));
    VKT_OK(vks_buffer_destroy(ub));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VKT_TEST(test_weighted_oracle),       VKT_TEST(test_weighted_limit),  VKT_TEST(test_manufactured_exact),
        VKT_TEST(test_manufactured_discrete), VKT_TEST(test_weighted_errors),
    };
    return VKT_RUN(tests);
}
