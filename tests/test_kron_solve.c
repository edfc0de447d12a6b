/* The Kronecker GP solves — vks_kron_eigh + vks_kron_solve (with noise) and
 * vks_kron_cholesky_solve (without) — against dense float64 solves of the explicit
 * N x N system: alpha, the posterior mean, log-determinants and log marginal likelihoods,
 * on ragged grids (d = 1..3), near-singular factors, noise from 1e-8 to 1e2, per-factor
 * noise scales, eigenvalue floors, jitter, and every error path. */
#include <float.h>
#include <math.h>
#include <string.h>

#include "reference_kron.h"
#include "vks_test.h"

#define LOG_2PI 1.8378770664093453

/* ---- host-side problems ----------------------------------------------------------------- */

/* An SE kernel matrix on n ragged points in [0, 1]: PSD with eigenvalues decaying to ~0. */
static double *se_factor(int64_t n, double lengthscale, uint64_t seed) {
    vkt_rng rng = vkt_rng_seed(seed);
    double *x = malloc(sizeof(double) * (size_t)n), *k = malloc(sizeof(double) * (size_t)(n * n));
    for (int64_t i = 0; i < n; ++i) x[i] = ((double)i + 0.4 * vkt_uniform(&rng, -1, 1)) / (double)n;
    ref_kron_kernel ker = ref_kron_kernel_rbf(lengthscale, 1.0);
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < n; ++j) k[i * n + j] = ref_kron_kernel_value(&ker, x[i], x[j]);
    free(x);
    return k;
}

/* A random SPD matrix B B^T / n + shift I. */
static double *spd_factor(int64_t n, double shift, uint64_t seed) {
    vkt_rng rng = vkt_rng_seed(seed);
    double *b = vkt_random(&rng, (size_t)(n * n), -1, 1), *k = malloc(sizeof(double) * (size_t)(n * n));
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < n; ++j) {
            double s = 0;
            for (int64_t p = 0; p < n; ++p) s += b[i * n + p] * b[j * n + p];
            k[i * n + j] = s / (double)n + (i == j ? shift : 0.0);
        }
    free(b);
    return k;
}

/* Q diag(lam) Q^T with Q a product of random Householder reflections (known spectrum). */
static double *spectrum_factor(int64_t n, const double *lam, uint64_t seed, double *q_out) {
    vkt_rng rng = vkt_rng_seed(seed);
    double *q = q_out, *v = malloc(sizeof(double) * (size_t)n), *k = malloc(sizeof(double) * (size_t)(n * n));
    for (int64_t i = 0; i < n * n; ++i) q[i] = (i / n == i % n);
    for (int h = 0; h < 3; ++h) { /* q = q (I - 2 v v^T / v^T v) */
        double vv = 0;
        for (int64_t i = 0; i < n; ++i) v[i] = vkt_normal(&rng), vv += v[i] * v[i];
        for (int64_t r = 0; r < n; ++r) {
            double s = 0;
            for (int64_t i = 0; i < n; ++i) s += q[r * n + i] * v[i];
            for (int64_t i = 0; i < n; ++i) q[r * n + i] -= 2 * s * v[i] / vv;
        }
    }
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < n; ++j) {
            double s = 0;
            for (int64_t p = 0; p < n; ++p) s += q[i * n + p] * lam[p] * q[j * n + p];
            k[i * n + j] = s;
        }
    free(v);
    return k;
}

/* The dense (K_1 + j I) ⊗ ... ⊗ (K_d + j I) + noise * diag(⊗c_i), row-major N x N. */
static double *dense_system(int d, const int64_t *n, double *const *k, double jitter, double noise,
                            double *const *scales, int64_t *points) {
    ref_mat f[4] = {{0}};
    double *kj[4];
    int64_t np = 1;
    for (int t = 0; t < d; ++t) {
        np *= n[t];
        kj[t] = malloc(sizeof(double) * (size_t)(n[t] * n[t]));
        for (int64_t i = 0; i < n[t] * n[t]; ++i) kj[t][i] = k[t][i] + (i / n[t] == i % n[t] ? jitter : 0.0);
        f[t] = ref_rowmajor(kj[t], n[t], n[t]);
    }
    double *a = malloc(sizeof(double) * (size_t)(np * np));
    ref_kron_dense(d, f, a);
    for (int64_t e = 0; e < np; ++e) {
        double c = 1;
        int64_t rest = e;
        for (int t = d - 1; t >= 0; --t) {
            if (scales && scales[t]) c *= scales[t][rest % n[t]];
            rest /= n[t];
        }
        a[e * np + e] += noise * c;
    }
    for (int t = 0; t < d; ++t) free(kj[t]);
    *points = np;
    return a;
}

/* The device's copy of a host matrix/vector, rounded to dt (the host keeps the rounded values). */
static vks_buffer *upload_rounded(vks_dtype dt, double *x, size_t n) {
    vkt_round_to(dt, x, n);
    return vkt_upload(dt, x, n);
}

/* Eigendecompositions of two factors (n1 x n1, n2 x n2) into NaN-poisoned outputs, the
 * setup several tests share; the caller destroys e->q[] and e->l[]. */
typedef struct eig2 {
    vks_buffer *q[2], *l[2];
    vks_tensor tq[2], tl[2];
} eig2;

static void eig2_run(vks_dtype dt, const vks_tensor *k1, const vks_tensor *k2, int64_t n1, int64_t n2, eig2 *e) {
    const int64_t n[2] = {n1, n2};
    vks_kron_eigh_desc ed = VKS_KRON_EIGH_DESC_INIT;
    ed.d = 2, ed.factors[0] = k1, ed.factors[1] = k2;
    for (int t = 0; t < 2; ++t) {
        e->q[t] = vkt_poisoned(dt, (size_t)(n[t] * n[t]));
        e->l[t] = vkt_poisoned(dt, (size_t)n[t]);
        e->tq[t] = vks_tensor_2d(e->q[t], dt, n[t], n[t]);
        e->tl[t] = vks_tensor_1d(e->l[t], dt, n[t]);
        ed.eigvecs[t] = &e->tq[t], ed.eigvals[t] = &e->tl[t];
    }
    VKT_OK(vks_kron_eigh(vkt->ctx, &ed));
}

/* ---- one noisy solve against the dense oracle ------------------------------------------------ */

typedef struct solve_case {
    int d;
    int64_t n[4];
    int kind;        /* 0: SE factors (near-singular), 1: random SPD */
    double noise, jitter, floor_;
    bool scales;     /* per-factor noise scales */
    int64_t k;       /* 0: y is a vector */
    bool row_major;
    vks_dtype dt;
    bool want_mean;
} solve_case;

typedef struct device_eig {
    vks_buffer *q[4], *lam[4];
    vks_tensor tq[4], tl[4];
} device_eig;

static void run_solve(const solve_case *sc, uint64_t seed) {
    const int d = sc->d;
    const vks_dtype dt = sc->dt;
    vkt_rng rng = vkt_rng_seed(seed);
    double *k[4], *c[4] = {NULL};
    vks_buffer *kb[4], *cb[4] = {NULL};
    vks_tensor kt[4], ct[4];
    for (int t = 0; t < d; ++t) {
        k[t] = sc->kind == 0 ? se_factor(sc->n[t], 0.25 + 0.1 * t, seed + t) : spd_factor(sc->n[t], 0.05, seed + t);
        kb[t] = upload_rounded(dt, k[t], (size_t)(sc->n[t] * sc->n[t]));
        kt[t] = vks_tensor_2d(kb[t], dt, sc->n[t], sc->n[t]);
        if (sc->scales) {
            c[t] = vkt_random(&rng, (size_t)sc->n[t], 0.5, 2.0);
            cb[t] = upload_rounded(dt, c[t], (size_t)sc->n[t]);
            ct[t] = vks_tensor_1d(cb[t], dt, sc->n[t]);
        }
    }
    int64_t np = 0;
    double *a = dense_system(d, sc->n, k, sc->jitter, sc->noise, sc->scales ? c : NULL, &np);
    const int64_t kk = sc->k ? sc->k : 1;
    double *y = vkt_random(&rng, (size_t)(np * kk), -1, 1);
    vks_buffer *Y = upload_rounded(dt, y, (size_t)(np * kk));

    /* Device: eigendecompositions, then the solve. */
    device_eig eg;
    vks_kron_eigh_desc ed = VKS_KRON_EIGH_DESC_INIT;
    ed.d = d, ed.jitter = sc->jitter;
    for (int t = 0; t < d; ++t) {
        eg.q[t] = vkt_poisoned(dt, (size_t)(sc->n[t] * sc->n[t]));
        eg.lam[t] = vkt_poisoned(dt, (size_t)sc->n[t]);
        eg.tq[t] = vks_tensor_2d(eg.q[t], dt, sc->n[t], sc->n[t]);
        eg.tl[t] = vks_tensor_1d(eg.lam[t], dt, sc->n[t]);
        ed.factors[t] = &kt[t], ed.eigvecs[t] = &eg.tq[t], ed.eigvals[t] = &eg.tl[t];
        ed.noise_scales[t] = sc->scales ? &ct[t] : NULL;
    }
    VKT_OK(vks_kron_eigh(vkt->ctx, &ed));
    vks_buffer *A = vkt_poisoned(dt, (size_t)(np * kk)), *M = vkt_poisoned(dt, (size_t)(np * kk));
    vks_buffer *L = vkt_poisoned(dt, 1), *ML = vkt_poisoned(dt, (size_t)kk);
    vks_tensor ty, ta, tm;
    if (sc->k == 0) {
        ty = vks_tensor_1d(Y, dt, np), ta = vks_tensor_1d(A, dt, np), tm = vks_tensor_1d(M, dt, np);
    } else if (sc->row_major) {
        ty = vks_tensor_2d(Y, dt, np, kk), ta = vks_tensor_2d(A, dt, np, kk), tm = vks_tensor_2d(M, dt, np, kk);
    } else {
        ty = (vks_tensor){Y, 0, dt, 2, {np, kk}, {1, np}};
        ta = (vks_tensor){A, 0, dt, 2, {np, kk}, {1, np}};
        tm = (vks_tensor){M, 0, dt, 2, {np, kk}, {1, np}};
    }
    vks_tensor tl = vks_tensor_1d(L, dt, 1), tml = vks_tensor_1d(ML, dt, kk);
    vks_kron_solve_desc sd = VKS_KRON_SOLVE_DESC_INIT;
    sd.d = d, sd.noise = sc->noise, sd.eig_floor = sc->floor_;
    for (int t = 0; t < d; ++t) {
        sd.eigvecs[t] = &eg.tq[t], sd.eigvals[t] = &eg.tl[t];
        sd.noise_scales[t] = sc->scales ? &ct[t] : NULL;
    }
    sd.y = &ty, sd.alpha = &ta, sd.mean = sc->want_mean ? &tm : NULL, sd.logdet = &tl, sd.mll = &tml;
    VKT_OK(vks_kron_solve(vkt->ctx, &sd));
    double *alpha = vkt_download(A, dt, 0, (size_t)(np * kk)), *mean = vkt_download(M, dt, 0, (size_t)(np * kk));
    double *logdet = vkt_download(L, dt, 0, 1), *mll = vkt_download(ML, dt, 0, (size_t)kk);

    /* Oracle: dense Cholesky of the explicit system. */
    double *l = malloc(sizeof(double) * (size_t)(np * np)), *want = malloc(sizeof(double) * (size_t)(np * kk));
    assert_int_equal(ref_kron_cholesky(np, a, l), 0);
    const bool rows = sc->row_major || kk == 1;
    for (int64_t e = 0; e < np; ++e) /* the oracle works on row-major (N, k) */
        for (int64_t r = 0; r < kk; ++r) want[e * kk + r] = y[rows ? e * kk + r : r * np + e];
    double *yrm = malloc(sizeof(double) * (size_t)(np * kk));
    memcpy(yrm, want, sizeof(double) * (size_t)(np * kk));
    ref_kron_cholesky_solve(np, l, want, kk);
    const double want_logdet = ref_kron_cholesky_logdet(np, l);
    /* Conditioning bound: lambda_min >= noise * min c, ||A|| <= max row sum. */
    double norm = 0, cmin = 1;
    for (int64_t i = 0; i < np; ++i) {
        double s = 0;
        for (int64_t j = 0; j < np; ++j) s += fabs(a[i * np + j]);
        norm = fmax(norm, s);
    }
    if (sc->scales)
        for (int t = 0; t < d; ++t)
            for (int64_t i = 0; i < sc->n[t]; ++i) cmin = fmin(cmin, c[t][i]);
    const double eps = dt == VKS_DTYPE_F64 ? DBL_EPSILON : FLT_EPSILON;
    const double cond = norm / (sc->noise * cmin + sc->jitter);
    const double tol = fmax(vkt_tol(dt), 64 * cond * eps);
    double *got = malloc(sizeof(double) * (size_t)(np * kk)), *gmean = malloc(sizeof(double) * (size_t)(np * kk));
    double *wmean = calloc((size_t)(np * kk), sizeof(double));
    for (int64_t e = 0; e < np; ++e)
        for (int64_t r = 0; r < kk; ++r) {
            got[e * kk + r] = alpha[rows ? e * kk + r : r * np + e];
            gmean[e * kk + r] = mean[rows ? e * kk + r : r * np + e];
        }
    /* mean = K alpha with K the noiseless (jittered) covariance: (A - noise D) alpha. */
    for (int64_t i = 0; i < np; ++i)
        for (int64_t r = 0; r < kk; ++r) {
            double s = 0;
            for (int64_t j = 0; j < np; ++j) s += a[i * np + j] * want[j * kk + r];
            wmean[i * kk + r] = s;
        }
    double *noise_part = calloc(np > 0 ? (size_t)np : 1, sizeof(double));
    for (int64_t i = 0; i < np; ++i) {
        double cdiag = a[i * np + i];
        double kdiag = 1;
        int64_t rest = i;
        for (int t = d - 1; t >= 0; --t) {
            const int64_t j = rest % sc->n[t];
            rest /= sc->n[t];
            kdiag *= k[t][j * sc->n[t] + j] + sc->jitter;
        }
        noise_part[i] = cdiag - kdiag;
    }
    for (int64_t i = 0; i < np; ++i)
        for (int64_t r = 0; r < kk; ++r) wmean[i * kk + r] -= noise_part[i] * want[i * kk + r];
    char what[160];
    snprintf(what, sizeof what, "kron_solve %s d=%d n=%lldx%lldx%lld noise=%g scales=%d k=%lld", dt == VKS_DTYPE_F64 ? "f64" : "f32",
             d, (long long)sc->n[0], (long long)sc->n[1], (long long)sc->n[2], sc->noise, sc->scales, (long long)sc->k);
    vkt_assert_close(got, want, (size_t)(np * kk), tol, what);
    if (sc->want_mean) vkt_assert_close(gmean, wmean, (size_t)(np * kk), tol, "posterior mean K alpha");
    /* log det: each eigenvalue's log carries an error of about cond * eps. */
    const double ld_tol = (double)np * ((dt == VKS_DTYPE_F64 ? 1e-11 : 4e-5) + 4 * cond * eps);
    if (!(fabs(logdet[0] - want_logdet) <= ld_tol))
        fail_msg("%s: logdet %.12g, want %.12g (tol %.3g)", what, logdet[0], want_logdet, ld_tol);
    for (int64_t r = 0; r < kk; ++r) {
        double quad = 0;
        for (int64_t e = 0; e < np; ++e) quad += yrm[e * kk + r] * want[e * kk + r];
        const double want_mll = -0.5 * quad - 0.5 * want_logdet - 0.5 * (double)np * LOG_2PI;
        const double mtol = ld_tol + tol * fabs(quad);
        if (!(fabs(mll[r] - want_mll) <= mtol))
            fail_msg("%s: mll[%lld] %.12g, want %.12g (tol %.3g)", what, (long long)r, mll[r], want_mll, mtol);
    }
    free(got), free(gmean), free(wmean), free(noise_part), free(yrm), free(l), free(want), free(a), free(y);
    free(alpha), free(mean), free(logdet), free(mll);
    for (int t = 0; t < d; ++t) {
        free(k[t]), free(c[t]);
        vks_buffer_destroy(kb[t]), vks_buffer_destroy(cb[t]), vks_buffer_destroy(eg.q[t]), vks_buffer_destroy(eg.lam[t]);
    }
    vks_buffer_destroy(Y), vks_buffer_destroy(A), vks_buffer_destroy(M), vks_buffer_destroy(L), vks_buffer_destroy(ML);
}

static bool has_f64(void) { return (vkt->info.features & VKS_FEATURE_FLOAT64) != 0; }

static void test_kron_solve_dims(void **state) {
    (void)state;
    const vks_dtype dt = has_f64() ? VKS_DTYPE_F64 : VKS_DTYPE_F32;
    solve_case cases[] = {
        {.d = 1, .n = {37}, .noise = 0.1, .dt = dt, .want_mean = true},
        {.d = 2, .n = {13, 9}, .noise = 0.05, .dt = dt, .want_mean = true},
        {.d = 3, .n = {7, 5, 6}, .kind = 1, .noise = 0.3, .dt = dt, .want_mean = true},
        {.d = 2, .n = {1, 11}, .noise = 0.2, .dt = dt},
        {.d = 1, .n = {1}, .noise = 0.5, .dt = dt, .want_mean = true},
        {.d = 4, .n = {3, 4, 2, 5}, .kind = 1, .noise = 0.2, .scales = true, .dt = dt, .k = 2, .want_mean = true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) run_solve(&cases[i], 100 + i);
}

static void test_kron_solve_f32(void **state) {
    (void)state;
    solve_case cases[] = {
        {.d = 2, .n = {17, 12}, .noise = 0.1, .dt = VKS_DTYPE_F32, .want_mean = true},
        {.d = 3, .n = {6, 7, 5}, .kind = 1, .noise = 0.5, .dt = VKS_DTYPE_F32, .k = 2, .row_major = true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) run_solve(&cases[i], 110 + i);
}

static void test_kron_solve_rhs_layouts(void **state) {
    (void)state;
    const vks_dtype dt = has_f64() ? VKS_DTYPE_F64 : VKS_DTYPE_F32;
    for (int layout = 0; layout < 2; ++layout) {
        solve_case sc = {.d = 2, .n = {8, 11}, .noise = 0.2, .dt = dt, .k = 3, .row_major = layout == 0,
                         .want_mean = true};
        run_solve(&sc, 120 + layout);
    }
}

/* Near-singular SE factors (eigenvalues down to ~1e-16) under noise from 1e-8 to 1e2. */
static void test_kron_solve_noise_range(void **state) {
    (void)state;
    if (!has_f64()) skip();
    const double noises[] = {1e-8, 1e-6, 1e-4, 1e-2, 1.0, 1e2};
    for (size_t i = 0; i < sizeof noises / sizeof noises[0]; ++i) {
        solve_case sc = {.d = 2, .n = {12, 10}, .noise = noises[i], .dt = VKS_DTYPE_F64, .want_mean = true};
        run_solve(&sc, 130 + i);
    }
    solve_case f32 = {.d = 2, .n = {12, 10}, .noise = 1e-2, .dt = VKS_DTYPE_F32};
    run_solve(&f32, 140);
}

/* Per-factor diagonal noise: K + noise * diag(c_1) ⊗ diag(c_2) (⊗ diag(c_3)). */
static void test_kron_solve_noise_scales(void **state) {
    (void)state;
    const vks_dtype dt = has_f64() ? VKS_DTYPE_F64 : VKS_DTYPE_F32;
    solve_case cases[] = {
        {.d = 2, .n = {9, 13}, .noise = 0.1, .scales = true, .dt = dt, .want_mean = true},
        {.d = 3, .n = {5, 4, 6}, .kind = 1, .noise = 0.7, .scales = true, .dt = dt, .k = 2, .row_major = true,
         .want_mean = true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) run_solve(&cases[i], 150 + i);
}

/* Jitter on near-singular factors, and a size-one grid dimension. */
static void test_kron_solve_jitter(void **state) {
    (void)state;
    const vks_dtype dt = has_f64() ? VKS_DTYPE_F64 : VKS_DTYPE_F32;
    solve_case sc = {.d = 2, .n = {14, 9}, .noise = 1e-3, .jitter = 1e-4, .dt = dt, .want_mean = true};
    run_solve(&sc, 160);
}

/* GPyTorch parity of the constant-noise solve (linear_operator 0.6): K's eigenvalues are
 * clamped at eig_floor and sigma^2 is added with no clamp after; the old rule (clamp
 * lambda + sigma^2) stays available as VKS_KRON_SOLVE_FLOOR_AFTER_NOISE. A 9 x 13 x 6 grid at
 * sigma^2 = 1e-8, factors of known spectrum (the small eigenvalues well apart from the
 * others, so the solve is well-conditioned apart from the floor itself), against float64
 * oracles written both ways with the exact Q = Q1 ⊗ Q2 ⊗ Q3. */
static void test_kron_solve_eig_floor(void **state) {
    (void)state;
    if (!has_f64()) skip();
    const vks_dtype dt = VKS_DTYPE_F64;
    enum { N1 = 9, N2 = 13, N3 = 6, NP = N1 * N2 * N3 };
    const int64_t n[3] = {N1, N2, N3};
    const double lam1[N1] = {0, 1e-12, 1e-10, 3e-9, 1e-3, 0.1, 0.5, 1.0, 2.0};
    double lam2[N2], lam3[N3];
    for (int i = 0; i < N2; ++i) lam2[i] = 0.5 + 0.125 * i;
    for (int i = 0; i < N3; ++i) lam3[i] = 0.6 + 0.25 * i;
    const double *lam[3] = {lam1, lam2, lam3};
    double *q[3], *k[3];
    vks_buffer *K[3], *Q[3], *L[3];
    vks_tensor tk[3], tq[3], tl[3];
    vks_kron_eigh_desc ed = VKS_KRON_EIGH_DESC_INIT;
    ed.d = 3;
    for (int t = 0; t < 3; ++t) {
        q[t] = malloc(sizeof(double) * (size_t)(n[t] * n[t]));
        k[t] = spectrum_factor(n[t], lam[t], 170 + t, q[t]);
        K[t] = vkt_upload(dt, k[t], (size_t)(n[t] * n[t]));
        Q[t] = vkt_poisoned(dt, (size_t)(n[t] * n[t])), L[t] = vkt_poisoned(dt, (size_t)n[t]);
        tk[t] = vks_tensor_2d(K[t], dt, n[t], n[t]), tq[t] = vks_tensor_2d(Q[t], dt, n[t], n[t]);
        tl[t] = vks_tensor_1d(L[t], dt, n[t]);
        ed.factors[t] = &tk[t], ed.eigvecs[t] = &tq[t], ed.eigvals[t] = &tl[t];
    }
    VKT_OK(vks_kron_eigh(vkt->ctx, &ed));
    /* The exact zero comes back as a tiny value or 0; none below 0 (clamped). */
    double *gl1 = vkt_download(L[0], dt, 0, N1);
    for (int i = 0; i < N1; ++i) assert_true(gl1[i] >= 0 && fabs(gl1[i] - lam1[i]) < 1e-14);
    vkt_rng rng = vkt_rng_seed(172);
    double *y = vkt_random(&rng, NP, -1, 1);
    vks_buffer *Y = vkt_upload(dt, y, NP), *A = vkt_poisoned(dt, NP), *LD = vkt_poisoned(dt, 1);
    vks_tensor ty = vks_tensor_1d(Y, dt, NP), ta = vks_tensor_1d(A, dt, NP), tld = vks_tensor_1d(LD, dt, 1);
    const double noise = 1e-8, floor_ = VKS_KRON_EIG_FLOOR_DEFAULT;
    ref_mat qf[3] = {ref_rowmajor(q[0], N1, N1), ref_rowmajor(q[1], N2, N2), ref_rowmajor(q[2], N3, N3)};
    double *qd = malloc(sizeof(double) * NP * NP), *w = malloc(sizeof(double) * NP), *qty = malloc(sizeof(double) * NP);
    double *want[2] = {malloc(sizeof(double) * NP), malloc(sizeof(double) * NP)}, want_ld[2] = {0, 0};
    ref_kron_dense(3, qf, qd);
    for (int e = 0; e < NP; ++e) {
        double s = 0;
        for (int j = 0; j < NP; ++j) s += qd[j * NP + e] * y[j];
        qty[e] = s;
    }
    for (int mode = 0; mode < 2; ++mode) {
        for (int e = 0; e < NP; ++e) {
            const double l = lam1[e / (N2 * N3)] * lam2[e / N3 % N2] * lam3[e % N3];
            /* mode 0, GPyTorch: clamp K's eigenvalue, add sigma^2; mode 1: clamp lambda + sigma^2. */
            const double den = mode == 0 ? fmax(l, floor_) + noise : fmax(l + noise, floor_);
            w[e] = qty[e] / den;
            want_ld[mode] += log(den);
        }
        for (int i = 0; i < NP; ++i) {
            double s = 0;
            for (int e = 0; e < NP; ++e) s += qd[i * NP + e] * w[e];
            want[mode][i] = s;
        }
    }
    for (int mode = 0; mode < 2; ++mode) {
        vks_kron_solve_desc sd = VKS_KRON_SOLVE_DESC_INIT;
        assert_true(sd.eig_floor == floor_ && sd.flags == 0);
        sd.d = 3;
        for (int t = 0; t < 3; ++t) sd.eigvecs[t] = &tq[t], sd.eigvals[t] = &tl[t];
        sd.noise = noise, sd.y = &ty, sd.alpha = &ta, sd.logdet = &tld;
        sd.flags = mode ? VKS_KRON_SOLVE_FLOOR_AFTER_NOISE : 0;
        VKT_OK(vks_kron_solve(vkt->ctx, &sd));
        double *alpha = vkt_download(A, dt, 0, NP), *logdet = vkt_download(LD, dt, 0, 1);
        /* cond ~ 2 * 4 * 1.85 / 1e-7: the eigenvectors' rounding is amplified by that much. */
        vkt_assert_close(alpha, want[mode], NP, 1e-6, mode ? "floor after noise" : "GPyTorch floor");
        assert_true(fabs(logdet[0] - want_ld[mode]) < 1e-9 * fabs(want_ld[mode]));
        /* The two rules differ by far more than the tolerance here (sigma^2 < floor). */
        double diff = 0, norm = 0;
        for (int i = 0; i < NP; ++i) diff = fmax(diff, fabs(want[0][i] - want[1][i])), norm = fmax(norm, fabs(want[0][i]));
        assert_true(diff > 1e-2 * norm && fabs(want_ld[0] - want_ld[1]) > 1.0);
        free(alpha), free(logdet);
    }
    vks_kron_solve_desc bad = VKS_KRON_SOLVE_DESC_INIT;
    bad.d = 3, bad.noise = noise, bad.flags = 6, bad.logdet = &tld;
    for (int t = 0; t < 3; ++t) bad.eigvecs[t] = &tq[t], bad.eigvals[t] = &tl[t];
    VKT_FAILS(vks_kron_solve(vkt->ctx, &bad), VKS_ERROR_INVALID_ARGUMENT, "vks_kron_solve: desc->flags = 0x6 has unknown bits");
    free(gl1), free(y), free(qd), free(w), free(qty), free(want[0]), free(want[1]);
    for (int t = 0; t < 3; ++t) {
        free(q[t]), free(k[t]);
        vks_buffer_destroy(K[t]), vks_buffer_destroy(Q[t]), vks_buffer_destroy(L[t]);
    }
    vks_buffer_destroy(Y), vks_buffer_destroy(A), vks_buffer_destroy(LD);
}

/* The eigendecompositions themselves: K_i Q_i = Q_i Lambda_i and Q_i^T Q_i = I, with the
 * f32 factors promoted to f64, a factor given twice, and noise scales. */
static void test_kron_eigh_factors(void **state) {
    (void)state;
    for (int dti = 0; dti < 2; ++dti) {
        const vks_dtype dt = dti ? VKS_DTYPE_F64 : VKS_DTYPE_F32;
        if (dti && !has_f64()) continue;
        enum { N = 19 };
        double *k = spd_factor(N, 0.1, 180 + dti);
        vkt_rng rng = vkt_rng_seed(190);
        double *c = vkt_random(&rng, N, 0.5, 2.0);
        vks_buffer *K = upload_rounded(dt, k, N * N), *C = upload_rounded(dt, c, N);
        vks_tensor tk = vks_tensor_2d(K, dt, N, N), tc = vks_tensor_1d(C, dt, N);
        vks_buffer *Q[3], *L[3];
        vks_tensor tq[3], tl[3];
        vks_kron_eigh_desc ed = VKS_KRON_EIGH_DESC_INIT;
        ed.d = 3, ed.jitter = 0.25;
        for (int t = 0; t < 3; ++t) {
            Q[t] = vkt_poisoned(dt, N * N), L[t] = vkt_poisoned(dt, N);
            tq[t] = vks_tensor_2d(Q[t], dt, N, N), tl[t] = vks_tensor_1d(L[t], dt, N);
            ed.factors[t] = &tk, ed.eigvecs[t] = &tq[t], ed.eigvals[t] = &tl[t];
        }
        ed.noise_scales[2] = &tc; /* factor 2: D^-1/2 (K + jitter I) D^-1/2 */
        VKT_OK(vks_kron_eigh(vkt->ctx, &ed));
        for (int t = 0; t < 3; ++t) {
            double *q = vkt_download(Q[t], dt, 0, N * N), *lam = vkt_download(L[t], dt, 0, N);
            double m[N * N], res = 0, orth = 0, scale = 0;
            for (int i = 0; i < N; ++i)
                for (int j = 0; j < N; ++j) {
                    double kij = k[i * N + j] + (i == j ? 0.25 : 0.0);
                    if (t == 2) kij /= sqrt(c[i] * c[j]);
                    m[i * N + j] = kij;
                    scale = fmax(scale, fabs(kij));
                }
            for (int i = 0; i < N; ++i) {
                if (i) assert_true(lam[i] >= lam[i - 1]); /* ascending */
                for (int j = 0; j < N; ++j) {
                    double kq = 0, qq = 0;
                    for (int p = 0; p < N; ++p) kq += m[i * N + p] * q[p * N + j], qq += q[p * N + i] * q[p * N + j];
                    res = fmax(res, fabs(kq - q[i * N + j] * lam[j]));
                    orth = fmax(orth, fabs(qq - (i == j)));
                }
            }
            const double tol = dt == VKS_DTYPE_F64 ? 1e-12 : 2e-6; /* f32: the f64 results rounded */
            if (!(res <= tol * scale * N) || !(orth <= tol * N))
                fail_msg("eigh factor %d %s: residual %.3g, orthogonality %.3g", t, dt == VKS_DTYPE_F64 ? "f64" : "f32",
                         res / scale, orth);
            free(q), free(lam);
        }
        /* The same factor twice may also name the same outputs (decomposed once). */
        vks_kron_eigh_desc twice = VKS_KRON_EIGH_DESC_INIT;
        twice.d = 2, twice.jitter = 0.25, twice.factors[0] = twice.factors[1] = &tk;
        twice.eigvecs[0] = twice.eigvecs[1] = &tq[1], twice.eigvals[0] = twice.eigvals[1] = &tl[1];
        VKT_OK(vks_kron_eigh(vkt->ctx, &twice));
        /* Factors 0 and 1 are the same tensor: identical results. */
        double *q0 = vkt_download(Q[0], dt, 0, N * N), *q1 = vkt_download(Q[1], dt, 0, N * N);
        assert_memory_equal(q0, q1, sizeof(double) * N * N);
        free(q0), free(q1), free(k), free(c);
        for (int t = 0; t < 3; ++t) vks_buffer_destroy(Q[t]), vks_buffer_destroy(L[t]);
        vks_buffer_destroy(K), vks_buffer_destroy(C);
    }
}

/* Not PSD beyond the rounding tolerance: a status naming the factor; within it: zeros. */
static void test_kron_eigh_not_psd(void **state) {
    (void)state;
    const vks_dtype dt = has_f64() ? VKS_DTYPE_F64 : VKS_DTYPE_F32;
    enum { N = 7 };
    double lam_bad[N] = {-0.05, 0.1, 0.2, 0.5, 1, 2, 3}, lam_ok[N] = {-1e-16, 0, 0.2, 0.5, 1, 2, 3}, q[N * N];
    double *kbad = spectrum_factor(N, lam_bad, 200, q), *kok = spectrum_factor(N, lam_ok, 201, q);
    double *kgood = spd_factor(N, 0.1, 202);
    vks_buffer *KB = upload_rounded(dt, kbad, N * N), *KO = upload_rounded(dt, kok, N * N), *KG = upload_rounded(dt, kgood, N * N);
    vks_tensor tb = vks_tensor_2d(KB, dt, N, N), to = vks_tensor_2d(KO, dt, N, N), tg = vks_tensor_2d(KG, dt, N, N);
    vks_buffer *Q0 = vkt_poisoned(dt, N * N), *Q1 = vkt_poisoned(dt, N * N), *L0 = vkt_poisoned(dt, N), *L1 = vkt_poisoned(dt, N);
    vks_tensor tq0 = vks_tensor_2d(Q0, dt, N, N), tq1 = vks_tensor_2d(Q1, dt, N, N);
    vks_tensor tl0 = vks_tensor_1d(L0, dt, N), tl1 = vks_tensor_1d(L1, dt, N);
    vks_kron_eigh_desc ed = VKS_KRON_EIGH_DESC_INIT;
    ed.d = 2, ed.factors[0] = &tg, ed.factors[1] = &tb;
    ed.eigvecs[0] = &tq0, ed.eigvecs[1] = &tq1, ed.eigvals[0] = &tl0, ed.eigvals[1] = &tl1;
    VKT_FAILS(vks_kron_eigh(vkt->ctx, &ed), VKS_ERROR_NOT_POSITIVE_DEFINITE,
              "factors[1] (n = 7) is not positive semi-definite: eigenvalue -0.05");
    ed.jitter = 0.06; /* enough jitter makes it PSD */
    VKT_OK(vks_kron_eigh(vkt->ctx, &ed));
    double *l1 = vkt_download(L1, dt, 0, N);
    assert_true(fabs(l1[0] - 0.01) < 1e-5);
    free(l1);
    ed.jitter = 0, ed.factors[1] = &to; /* -1e-16: rounding, stored as 0 */
    VKT_OK(vks_kron_eigh(vkt->ctx, &ed));
    l1 = vkt_download(L1, dt, 0, N);
    for (int i = 0; i < N; ++i) assert_true(l1[i] >= 0);
    free(l1), free(kbad), free(kok), free(kgood);
    vks_buffer *bufs[] = {KB, KO, KG, Q0, Q1, L0, L1};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; ++i) vks_buffer_destroy(bufs[i]);
}

/* ---- the noiseless path --------------------------------------------------------------------- */

static void run_cholesky(int d, const int64_t *n, vks_dtype dt, int64_t k, bool inverses, uint64_t seed) {
    vkt_rng rng = vkt_rng_seed(seed);
    double *kh[4];
    vks_buffer *KB[4], *IB[4] = {NULL};
    vks_tensor kt[4], it[4];
    vks_kron_cholesky_desc cd = VKS_KRON_CHOLESKY_DESC_INIT;
    cd.d = d;
    for (int t = 0; t < d; ++t) {
        kh[t] = spd_factor(n[t], 0.2, seed + t);
        KB[t] = upload_rounded(dt, kh[t], (size_t)(n[t] * n[t]));
        kt[t] = vks_tensor_2d(KB[t], dt, n[t], n[t]);
        cd.factors[t] = &kt[t];
        if (inverses) {
            IB[t] = vkt_poisoned(dt, (size_t)(n[t] * n[t]));
            it[t] = vks_tensor_2d(IB[t], dt, n[t], n[t]);
            cd.inverses[t] = &it[t];
        }
    }
    int64_t np = 0;
    double *a = dense_system(d, n, kh, 0, 0, NULL, &np);
    const int64_t kk = k ? k : 1;
    double *y = vkt_random(&rng, (size_t)(np * kk), -1, 1);
    vks_buffer *Y = upload_rounded(dt, y, (size_t)(np * kk)), *A = vkt_poisoned(dt, (size_t)(np * kk));
    vks_buffer *LD = vkt_poisoned(dt, 1), *ML = vkt_poisoned(dt, (size_t)kk);
    vks_tensor ty = k ? vks_tensor_2d(Y, dt, np, kk) : vks_tensor_1d(Y, dt, np);
    vks_tensor ta = k ? vks_tensor_2d(A, dt, np, kk) : vks_tensor_1d(A, dt, np);
    vks_tensor tld = vks_tensor_1d(LD, dt, 1), tml = vks_tensor_1d(ML, dt, kk);
    double used[4] = {-1, -1, -1, -1};
    cd.y = &ty, cd.alpha = &ta, cd.logdet = &tld, cd.mll = &tml, cd.jitter_used = used;
    VKT_OK(vks_kron_cholesky_solve(vkt->ctx, &cd));
    double *alpha = vkt_download(A, dt, 0, (size_t)(np * kk)), *ld = vkt_download(LD, dt, 0, 1);
    double *mll = vkt_download(ML, dt, 0, (size_t)kk);
    double *l = malloc(sizeof(double) * (size_t)(np * np)), *want = malloc(sizeof(double) * (size_t)(np * kk));
    assert_int_equal(ref_kron_cholesky(np, a, l), 0);
    memcpy(want, y, sizeof(double) * (size_t)(np * kk));
    ref_kron_cholesky_solve(np, l, want, kk);
    const double want_ld = ref_kron_cholesky_logdet(np, l);
    const double eps = dt == VKS_DTYPE_F64 ? DBL_EPSILON : FLT_EPSILON;
    /* Each factor has lambda_min >= 0.2 and ||K_i|| <~ n_i/3 + 0.2. */
    double cond = 1;
    for (int t = 0; t < d; ++t) cond *= ((double)n[t] / 3 + 0.2) / 0.2;
    const double tol = fmax(vkt_tol(dt), 16 * cond * eps);
    char what[96];
    snprintf(what, sizeof what, "kron_cholesky_solve %s d=%d k=%lld", dt == VKS_DTYPE_F64 ? "f64" : "f32", d, (long long)k);
    vkt_assert_close(alpha, want, (size_t)(np * kk), tol, what);
    const double ld_tol = (double)np * (dt == VKS_DTYPE_F64 ? 1e-12 : 2e-6);
    if (!(fabs(ld[0] - want_ld) <= ld_tol)) fail_msg("%s: logdet %.12g, want %.12g", what, ld[0], want_ld);
    for (int64_t r = 0; r < kk; ++r) {
        double quad = 0;
        for (int64_t e = 0; e < np; ++e) quad += y[e * kk + r] * want[e * kk + r];
        const double want_mll = -0.5 * quad - 0.5 * want_ld - 0.5 * (double)np * LOG_2PI;
        if (!(fabs(mll[r] - want_mll) <= ld_tol + tol * fabs(quad)))
            fail_msg("%s: mll %.12g, want %.12g", what, mll[r], want_mll);
    }
    for (int t = 0; t < d; ++t) assert_true(used[t] == 0.0);
    if (inverses) /* K_i K_i^-1 = I */
        for (int t = 0; t < d; ++t) {
            double *inv = vkt_download(IB[t], dt, 0, (size_t)(n[t] * n[t])), err = 0;
            for (int64_t i = 0; i < n[t]; ++i)
                for (int64_t j = 0; j < n[t]; ++j) {
                    double s = 0;
                    for (int64_t p = 0; p < n[t]; ++p) s += kh[t][i * n[t] + p] * inv[p * n[t] + j];
                    err = fmax(err, fabs(s - (i == j)));
                }
            assert_true(err < 64 * cond * eps);
            free(inv);
        }
    free(alpha), free(ld), free(mll), free(l), free(want), free(a), free(y);
    for (int t = 0; t < d; ++t) free(kh[t]), vks_buffer_destroy(KB[t]), vks_buffer_destroy(IB[t]);
    vks_buffer_destroy(Y), vks_buffer_destroy(A), vks_buffer_destroy(LD), vks_buffer_destroy(ML);
}

static void test_kron_cholesky_solve(void **state) {
    (void)state;
    const vks_dtype dt = has_f64() ? VKS_DTYPE_F64 : VKS_DTYPE_F32;
    const int64_t n1[] = {23}, n2[] = {9, 14}, n3[] = {5, 7, 6};
    run_cholesky(1, n1, dt, 0, true, 300);
    run_cholesky(2, n2, dt, 3, false, 301);
    run_cholesky(3, n3, dt, 0, true, 302);
    run_cholesky(2, n2, VKS_DTYPE_F32, 2, true, 303);
    const int64_t n4[] = {3, 2, 4, 3};
    run_cholesky(4, n4, dt, 2, false, 304);
}

/* A singular factor: not positive definite without jitter (status naming it), solved with
 * GPyTorch-style retries, and a negative definite one that no jitter rescues. */
static void test_kron_cholesky_jitter(void **state) {
    (void)state;
    const vks_dtype dt = has_f64() ? VKS_DTYPE_F64 : VKS_DTYPE_F32;
    enum { N = 8 };
    /* Two eigenvalues of -1e-9: singular beyond rounding, rescued by the first retry. */
    double lam[N] = {-1e-9, -1e-9, 0.3, 0.5, 1, 1.5, 2, 3}, neg[N] = {-1, 0.2, 0.3, 0.5, 1, 1.5, 2, 3}, q[N * N];
    double *ks = spectrum_factor(N, lam, 310, q), *kn = spectrum_factor(N, neg, 311, q), *kg = spd_factor(N, 0.3, 312);
    vks_buffer *KS = upload_rounded(dt, ks, N * N), *KN = upload_rounded(dt, kn, N * N), *KG = upload_rounded(dt, kg, N * N);
    vks_tensor ts = vks_tensor_2d(KS, dt, N, N), tn = vks_tensor_2d(KN, dt, N, N), tg = vks_tensor_2d(KG, dt, N, N);
    vks_buffer *LD = vkt_poisoned(dt, 1);
    vks_tensor tld = vks_tensor_1d(LD, dt, 1);
    vks_kron_cholesky_desc cd = VKS_KRON_CHOLESKY_DESC_INIT;
    cd.d = 2, cd.factors[0] = &tg, cd.factors[1] = &ts, cd.logdet = &tld;
    VKT_FAILS(vks_kron_cholesky_solve(vkt->ctx, &cd), VKS_ERROR_NOT_POSITIVE_DEFINITE, "factors[1] (n = 8) with jitter 0");
    double used[2] = {-1, -1};
    cd.jitter_retries = 8, cd.jitter_used = used;
    VKT_OK(vks_kron_cholesky_solve(vkt->ctx, &cd));
    assert_true(used[0] == 0.0 && used[1] == (dt == VKS_DTYPE_F32 ? 1e-6 : 1e-8));
    /* log det with the jitter found: N * log|Kg| + N * log|Ks + jI| from the known spectrum. */
    double *ld = vkt_download(LD, dt, 0, 1), *lg = malloc(sizeof(double) * N * N);
    assert_int_equal(ref_kron_cholesky(N, kg, lg), 0);
    double want = N * ref_kron_cholesky_logdet(N, lg);
    for (int i = 0; i < N; ++i) want += N * log(lam[i] + used[1]);
    assert_true(fabs(ld[0] - want) < 1e-4 * fabs(want));
    free(ld), free(lg);
    cd.factors[1] = &tn; /* -1 is beyond any retry */
    cd.jitter_retries = 3;
    VKT_FAILS(vks_kron_cholesky_solve(vkt->ctx, &cd), VKS_ERROR_NOT_POSITIVE_DEFINITE, "(after retries)");
    free(ks), free(kn), free(kg);
    vks_buffer_destroy(KS), vks_buffer_destroy(KN), vks_buffer_destroy(KG), vks_buffer_destroy(LD);
}

/* ---- end to end: kernels, eigh, solve, predictions off the grid ------------------------------------ */

static void test_kron_gp_posterior(void **state) {
    (void)state;
    const vks_dtype dt = has_f64() ? VKS_DTYPE_F64 : VKS_DTYPE_F32;
    enum { N1 = 11, N2 = 9, NP = N1 * N2, P = 17 };
    vkt_rng rng = vkt_rng_seed(400);
    double x1[N1], x2[N2], p1[P], p2[P], y[NP];
    for (int i = 0; i < N1; ++i) x1[i] = (double)i / (N1 - 1);
    for (int i = 0; i < N2; ++i) x2[i] = 2.0 * i / (N2 - 1);
    for (int i = 0; i < P; ++i) p1[i] = vkt_uniform(&rng, 0, 1), p2[i] = vkt_uniform(&rng, 0, 2);
    for (int e = 0; e < NP; ++e) y[e] = sin(3 * x1[e / N2]) * cos(2 * x2[e % N2]) + 0.1 * vkt_normal(&rng);
    vkt_round_to(dt, x1, N1), vkt_round_to(dt, x2, N2), vkt_round_to(dt, p1, P), vkt_round_to(dt, p2, P);
    vkt_round_to(dt, y, NP);
    vks_buffer *X1 = vkt_upload(dt, x1, N1), *X2 = vkt_upload(dt, x2, N2), *P1 = vkt_upload(dt, p1, P),
               *P2 = vkt_upload(dt, p2, P), *Y = vkt_upload(dt, y, NP);
    vks_buffer *K1 = vkt_poisoned(dt, N1 * N1), *K2 = vkt_poisoned(dt, N2 * N2), *C1 = vkt_poisoned(dt, P * N1),
               *C2 = vkt_poisoned(dt, P * N2);
    vks_tensor tx1 = vks_tensor_1d(X1, dt, N1), tx2 = vks_tensor_1d(X2, dt, N2), tp1 = vks_tensor_1d(P1, dt, P),
               tp2 = vks_tensor_1d(P2, dt, P);
    vks_tensor tk1 = vks_tensor_2d(K1, dt, N1, N1), tk2 = vks_tensor_2d(K2, dt, N2, N2);
    vks_tensor tc1 = vks_tensor_2d(C1, dt, P, N1), tc2 = vks_tensor_2d(C2, dt, P, N2);
    /* Dimension 1: RBF (l = 0.3, s = 1.5); dimension 2: Matern-5/2 (l = 0.8). */
    vks_kernel_desc kd1 = VKS_KERNEL_DESC_INIT, kd2 = VKS_KERNEL_DESC_INIT;
    kd1.lengthscale = 0.3, kd1.outputscale = 1.5;
    kd2.kind = VKS_KERNEL_MATERN52, kd2.lengthscale = 0.8;
    VKT_OK(vks_kron_kernel_matrix(vkt->ctx, &kd1, &tx1, &tx1, &tk1));
    VKT_OK(vks_kron_kernel_matrix(vkt->ctx, &kd2, &tx2, &tx2, &tk2));
    VKT_OK(vks_kron_kernel_matrix(vkt->ctx, &kd1, &tp1, &tx1, &tc1));
    VKT_OK(vks_kron_kernel_matrix(vkt->ctx, &kd2, &tp2, &tx2, &tc2));
    eig2 fe;
    eig2_run(dt, &tk1, &tk2, N1, N2, &fe);
    vks_buffer *A = vkt_poisoned(dt, NP), *M = vkt_poisoned(dt, P);
    vks_tensor ty = vks_tensor_1d(Y, dt, NP), ta = vks_tensor_1d(A, dt, NP), tm = vks_tensor_1d(M, dt, P);
    const double noise = 0.01;
    vks_kron_solve_desc sd = VKS_KRON_SOLVE_DESC_INIT;
    sd.d = 2, sd.eigvecs[0] = &fe.tq[0], sd.eigvecs[1] = &fe.tq[1], sd.eigvals[0] = &fe.tl[0], sd.eigvals[1] = &fe.tl[1];
    sd.noise = noise, sd.y = &ty, sd.alpha = &ta;
    VKT_OK(vks_kron_solve(vkt->ctx, &sd));
    const vks_tensor *cross[2] = {&tc1, &tc2};
    VKT_OK(vks_kron_predict(vkt->ctx, 2, cross, &ta, &tm));
    double *mean = vkt_download(M, dt, 0, P);
    /* Oracle: the textbook GP posterior mean k(x*, X) (K + noise I)^-1 y, all dense. */
    ref_kron_kernel r1 = ref_kron_kernel_rbf(0.3, 1.5), r2 = ref_kron_kernel_matern52(0.8, 1.0);
    double *kd = malloc(sizeof(double) * NP * NP), *l = malloc(sizeof(double) * NP * NP), alpha[NP], want[P];
    for (int i = 0; i < NP; ++i)
        for (int j = 0; j < NP; ++j)
            kd[i * NP + j] = ref_kron_kernel_value(&r1, x1[i / N2], x1[j / N2]) * ref_kron_kernel_value(&r2, x2[i % N2], x2[j % N2]) +
                             (i == j ? noise : 0.0);
    assert_int_equal(ref_kron_cholesky(NP, kd, l), 0);
    memcpy(alpha, y, sizeof alpha);
    ref_kron_cholesky_solve(NP, l, alpha, 1);
    for (int p = 0; p < P; ++p) {
        double s = 0;
        for (int e = 0; e < NP; ++e)
            s += ref_kron_kernel_value(&r1, p1[p], x1[e / N2]) * ref_kron_kernel_value(&r2, p2[p], x2[e % N2]) * alpha[e];
        want[p] = s;
    }
    vkt_assert_close(mean, want, P, dt == VKS_DTYPE_F64 ? 1e-9 : 1e-3, "GP posterior mean off the grid");
    /* On a test grid (5 x 4 points): the rectangular cross-covariances as Kronecker factors. */
    enum { T1 = 5, T2 = 4 };
    double g1[T1], g2[T2], wgrid[T1 * T2];
    for (int i = 0; i < T1; ++i) g1[i] = 0.1 + 0.2 * i;
    for (int i = 0; i < T2; ++i) g2[i] = 0.3 + 0.45 * i;
    vkt_round_to(dt, g1, T1), vkt_round_to(dt, g2, T2);
    vks_buffer *G1 = vkt_upload(dt, g1, T1), *G2 = vkt_upload(dt, g2, T2), *S1 = vkt_poisoned(dt, T1 * N1),
               *S2 = vkt_poisoned(dt, T2 * N2), *MG = vkt_poisoned(dt, T1 * T2);
    vks_tensor tg1 = vks_tensor_1d(G1, dt, T1), tg2 = vks_tensor_1d(G2, dt, T2), ts1 = vks_tensor_2d(S1, dt, T1, N1),
               ts2 = vks_tensor_2d(S2, dt, T2, N2), tmg = vks_tensor_1d(MG, dt, T1 * T2);
    VKT_OK(vks_kron_kernel_matrix(vkt->ctx, &kd1, &tg1, &tx1, &ts1));
    VKT_OK(vks_kron_kernel_matrix(vkt->ctx, &kd2, &tg2, &tx2, &ts2));
    const vks_tensor *tgrid[2] = {&ts1, &ts2};
    VKT_OK(vks_kron_matmul(vkt->ctx, 2, tgrid, VKS_NO_TRANS, 1.0, &ta, 0.0, &tmg));
    double *mgrid = vkt_download(MG, dt, 0, T1 * T2);
    for (int p = 0; p < T1 * T2; ++p) {
        double s = 0;
        for (int e = 0; e < NP; ++e)
            s += ref_kron_kernel_value(&r1, g1[p / T2], x1[e / N2]) * ref_kron_kernel_value(&r2, g2[p % T2], x2[e % N2]) *
                 alpha[e];
        wgrid[p] = s;
    }
    vkt_assert_close(mgrid, wgrid, T1 * T2, dt == VKS_DTYPE_F64 ? 1e-9 : 1e-3, "GP posterior mean on a test grid");
    free(mean), free(mgrid), free(kd), free(l);
    vks_buffer *bufs[] = {X1, X2, P1, P2, Y, K1, K2, C1, C2, fe.q[0], fe.q[1], fe.l[0], fe.l[1], A, M, G1, G2, S1, S2, MG};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; ++i) vks_buffer_destroy(bufs[i]);
}

/* log|K + noise I| alone (no right-hand side): no Kronecker products at all. */
static void test_kron_solve_logdet_only(void **state) {
    (void)state;
    const vks_dtype dt = has_f64() ? VKS_DTYPE_F64 : VKS_DTYPE_F32;
    enum { N1 = 10, N2 = 7 };
    double *k1 = spd_factor(N1, 0.1, 500), *k2 = se_factor(N2, 0.3, 501);
    vks_buffer *K1 = upload_rounded(dt, k1, N1 * N1), *K2 = upload_rounded(dt, k2, N2 * N2);
    vks_tensor t1 = vks_tensor_2d(K1, dt, N1, N1), t2 = vks_tensor_2d(K2, dt, N2, N2);
    eig2 fe;
    eig2_run(dt, &t1, &t2, N1, N2, &fe);
    vks_buffer *LD = vkt_poisoned(dt, 1);
    vks_tensor tld = vks_tensor_1d(LD, dt, 1);
    double *ks[2] = {k1, k2};
    const int64_t n[2] = {N1, N2};
    for (int i = 0; i < 3; ++i) {
        const double noise = i == 0 ? 1e-3 : i == 1 ? 0.5 : 20.0;
        vks_kron_solve_desc sd = VKS_KRON_SOLVE_DESC_INIT;
        sd.d = 2, sd.eigvecs[0] = &fe.tq[0], sd.eigvecs[1] = &fe.tq[1], sd.eigvals[0] = &fe.tl[0], sd.eigvals[1] = &fe.tl[1];
        sd.noise = noise, sd.eig_floor = 0, sd.logdet = &tld;
        VKT_OK(vks_kron_solve(vkt->ctx, &sd));
        double *ld = vkt_download(LD, dt, 0, 1);
        int64_t np;
        double *a = dense_system(2, n, ks, 0, noise, NULL, &np), *l = malloc(sizeof(double) * (size_t)(np * np));
        assert_int_equal(ref_kron_cholesky(np, a, l), 0);
        const double want = ref_kron_cholesky_logdet(np, l);
        if (!(fabs(ld[0] - want) <= (double)np * (dt == VKS_DTYPE_F64 ? 1e-11 : 1e-5)))
            fail_msg("logdet only, noise %g: %.12g, want %.12g", noise, ld[0], want);
        free(ld), free(a), free(l);
    }
    free(k1), free(k2);
    vks_buffer *bufs[] = {K1, K2, fe.q[0], fe.q[1], fe.l[0], fe.l[1], LD};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; ++i) vks_buffer_destroy(bufs[i]);
}

/* A 96 x 80 grid (N = 7680) in f32: residual (K + noise I) alpha - y at sampled points by
 * explicit sums, and the log-determinant against host eigenvalues of the factors. */
static void test_kron_solve_large(void **state) {
    (void)state;
    const vks_dtype dt = VKS_DTYPE_F32;
    enum { N1 = 96, N2 = 80, NP = N1 * N2 };
    double *k1 = se_factor(N1, 0.2, 600), *k2 = se_factor(N2, 0.35, 601);
    vks_buffer *K1 = upload_rounded(dt, k1, N1 * N1), *K2 = upload_rounded(dt, k2, N2 * N2);
    vks_tensor t1 = vks_tensor_2d(K1, dt, N1, N1), t2 = vks_tensor_2d(K2, dt, N2, N2);
    eig2 fe;
    eig2_run(dt, &t1, &t2, N1, N2, &fe);
    vkt_rng rng = vkt_rng_seed(602);
    double *y = vkt_random(&rng, NP, -1, 1);
    vks_buffer *Y = upload_rounded(dt, y, NP), *A = vkt_poisoned(dt, NP), *LD = vkt_poisoned(dt, 1);
    vks_tensor ty = vks_tensor_1d(Y, dt, NP), ta = vks_tensor_1d(A, dt, NP), tld = vks_tensor_1d(LD, dt, 1);
    const double noise = 0.05;
    vks_kron_solve_desc sd = VKS_KRON_SOLVE_DESC_INIT;
    sd.d = 2, sd.eigvecs[0] = &fe.tq[0], sd.eigvecs[1] = &fe.tq[1], sd.eigvals[0] = &fe.tl[0], sd.eigvals[1] = &fe.tl[1];
    sd.noise = noise, sd.y = &ty, sd.alpha = &ta, sd.logdet = &tld;
    VKT_OK(vks_kron_solve(vkt->ctx, &sd));
    double *alpha = vkt_download(A, dt, 0, NP), *ld = vkt_download(LD, dt, 0, 1);
    /* Normwise backward error |(K + noise I) alpha - y| / (||K + noise I|| |alpha| + |y|). */
    double res = 0, amax = 0, ymax = 0, r1 = 0, r2 = 0;
    for (int e = 0; e < NP; ++e) assert_true(isfinite(alpha[e])), amax = fmax(amax, fabs(alpha[e])), ymax = fmax(ymax, fabs(y[e]));
    for (int i = 0; i < N1; ++i) {
        double s = 0;
        for (int j = 0; j < N1; ++j) s += fabs(k1[i * N1 + j]);
        r1 = fmax(r1, s);
    }
    for (int i = 0; i < N2; ++i) {
        double s = 0;
        for (int j = 0; j < N2; ++j) s += fabs(k2[i * N2 + j]);
        r2 = fmax(r2, s);
    }
    for (int s = 0; s < 40; ++s) {
        const int e = (int)vkt_uniform(&rng, 0, NP), i1 = e / N2, i2 = e % N2;
        double v = noise * alpha[e];
        for (int j = 0; j < NP; ++j) v += k1[i1 * N1 + j / N2] * k2[i2 * N2 + j % N2] * alpha[j];
        res = fmax(res, fabs(v - y[e]));
    }
    const double backward = res / ((r1 * r2 + noise) * amax + ymax);
    if (!(backward < 1e-5)) fail_msg("large solve: backward error %.3g", backward);
    /* log det from the factors' spectra, each by a host Cholesky-free route: the dense
     * logdet of K1 ⊗ K2 + noise I equals sum log(l1 l2 + noise) — computed here from the
     * device's eigenvalues only after checking them against host traces. */
    double *l1 = vkt_download(fe.l[0], dt, 0, N1), *l2 = vkt_download(fe.l[1], dt, 0, N2), tr1 = 0, tr2 = 0, s1 = 0, s2 = 0;
    for (int i = 0; i < N1; ++i) tr1 += k1[i * N1 + i], s1 += l1[i];
    for (int i = 0; i < N2; ++i) tr2 += k2[i * N2 + i], s2 += l2[i];
    assert_true(fabs(s1 - tr1) < 1e-4 * tr1 && fabs(s2 - tr2) < 1e-4 * tr2);
    double want = 0;
    for (int i = 0; i < N1; ++i)
        for (int j = 0; j < N2; ++j) want += log(fmax(l1[i], 0) * fmax(l2[j], 0) + noise);
    assert_true(fabs(ld[0] - want) < 1e-5 * fabs(want));
    free(y), free(alpha), free(ld), free(l1), free(l2), free(k1), free(k2);
    vks_buffer *bufs[] = {K1, K2, fe.q[0], fe.q[1], fe.l[0], fe.l[1], Y, A, LD};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; ++i) vks_buffer_destroy(bufs[i]);
}

/* On a profiling context: vks_eigh synchronizes inside its op, whose timestamps must
 * still all be written (a runtime fix: reading them back used to fail with VK_NOT_READY). */
static void test_kron_eigh_profiled(void **state) {
    (void)state;
    vks_context_options o = vkt_options();
    o.flags |= VKS_CONTEXT_PROFILING;
    vks_context *ctx = NULL;
    VKT_OK(vks_context_create(&o, &ctx));
    enum { N = 40 };
    double *k = se_factor(N, 0.05, 700);
    vks_buffer *K = NULL, *Q = NULL, *L = NULL;
    VKT_OK(vks_buffer_create(ctx, N * N * 4, &K));
    VKT_OK(vks_buffer_create(ctx, N * N * 4, &Q));
    VKT_OK(vks_buffer_create(ctx, N * 4, &L));
    float kf[N * N];
    for (int i = 0; i < N * N; ++i) kf[i] = (float)k[i];
    VKT_OK(vks_buffer_write(K, 0, kf, sizeof kf));
    vks_tensor tk = vks_tensor_2d(K, VKS_DTYPE_F32, N, N), tq = vks_tensor_2d(Q, VKS_DTYPE_F32, N, N);
    vks_tensor tl = vks_tensor_1d(L, VKS_DTYPE_F32, N);
    vks_kron_eigh_desc ed = VKS_KRON_EIGH_DESC_INIT;
    ed.d = 1, ed.factors[0] = &tk, ed.eigvecs[0] = &tq, ed.eigvals[0] = &tl;
    VKT_OK(vks_kron_eigh(ctx, &ed));
    VKT_OK(vks_synchronize(ctx));
    size_t count = 0;
    VKT_OK(vks_profile_get(ctx, NULL, 0, &count));
    assert_true(count >= 2); /* kron_eigh_prep and kron_eigh_finish at least */
    free(k);
    VKT_OK(vks_context_destroy(ctx));
}

/* ---- errors ------------------------------------------------------------------------------------ */

static void test_kron_solve_errors(void **state) {
    (void)state;
    vks_context *ctx = vkt->ctx;
    const vks_dtype f32 = VKS_DTYPE_F32;
    vks_buffer *K = vkt_poisoned(f32, 64), *Q = vkt_poisoned(f32, 64), *L = vkt_poisoned(f32, 16), *Y = vkt_poisoned(f32, 64);
    vks_buffer *O = vkt_poisoned(f32, 64);
    vks_tensor k4 = vks_tensor_2d(K, f32, 4, 4), q4 = vks_tensor_2d(Q, f32, 4, 4), l4 = vks_tensor_1d(L, f32, 4);
    vks_tensor y = vks_tensor_1d(Y, f32, 16), o = vks_tensor_1d(O, f32, 16);

    /* vks_kron_eigh */
    VKT_FAILS(vks_kron_eigh(NULL, NULL), VKS_ERROR_INVALID_ARGUMENT, "ctx is NULL");
    VKT_FAILS(vks_kron_eigh(ctx, NULL), VKS_ERROR_INVALID_ARGUMENT, "desc is NULL");
    vks_kron_eigh_desc ed = VKS_KRON_EIGH_DESC_INIT;
    ed.struct_size = 3;
    VKT_FAILS(vks_kron_eigh(ctx, &ed), VKS_ERROR_INVALID_ARGUMENT, "desc->struct_size = 3");
    ed = (vks_kron_eigh_desc)VKS_KRON_EIGH_DESC_INIT;
    VKT_FAILS(vks_kron_eigh(ctx, &ed), VKS_ERROR_INVALID_ARGUMENT, "d = 0, expected 1..4");
    ed.d = 1, ed.jitter = -1;
    VKT_FAILS(vks_kron_eigh(ctx, &ed), VKS_ERROR_INVALID_ARGUMENT, "desc->jitter = -1");
    ed.jitter = 0;
    VKT_FAILS(vks_kron_eigh(ctx, &ed), VKS_ERROR_INVALID_ARGUMENT, "desc->factors[0] is NULL");
    ed.factors[0] = &k4;
    VKT_FAILS(vks_kron_eigh(ctx, &ed), VKS_ERROR_INVALID_ARGUMENT, "desc->eigvecs[0] is NULL");
    ed.eigvecs[0] = &q4, ed.eigvals[0] = &l4;
    vks_tensor k34 = vks_tensor_2d(K, f32, 3, 4);
    ed.factors[0] = &k34;
    VKT_FAILS(vks_kron_eigh(ctx, &ed), VKS_ERROR_SHAPE_MISMATCH, "desc->factors[0] is 3 x 4; expected a square matrix");
    ed.factors[0] = &k4;
    vks_tensor q5 = vks_tensor_2d(Q, f32, 5, 5);
    ed.eigvecs[0] = &q5;
    VKT_FAILS(vks_kron_eigh(ctx, &ed), VKS_ERROR_SHAPE_MISMATCH, "desc->eigvecs[0] is 5 x 5, expected 4 x 4");
    vks_tensor qs = {Q, 0, f32, 2, {4, 4}, {1, 4}};
    ed.eigvecs[0] = &qs;
    VKT_FAILS(vks_kron_eigh(ctx, &ed), VKS_ERROR_UNSUPPORTED, "expected compact (4, 1)");
    ed.eigvecs[0] = &q4;
    vks_tensor c3 = vks_tensor_1d(L, f32, 3);
    ed.noise_scales[0] = &c3;
    VKT_FAILS(vks_kron_eigh(ctx, &ed), VKS_ERROR_SHAPE_MISMATCH, "desc->noise_scales[0] has 3 elements, expected 4");
    ed.noise_scales[0] = NULL;
    vks_tensor lk = vks_tensor_1d(K, f32, 4);
    ed.eigvals[0] = &lk;
    VKT_FAILS(vks_kron_eigh(ctx, &ed), VKS_ERROR_INVALID_ARGUMENT, "desc->eigvals[0] overlaps desc->factors[0]");
    ed.eigvals[0] = &l4;
    vks_tensor l64 = vks_tensor_1d(L, VKS_DTYPE_F64, 4);
    ed.eigvals[0] = &l64;
    VKT_FAILS(vks_kron_eigh(ctx, &ed), VKS_ERROR_DTYPE_MISMATCH, "desc->eigvals[0] has dtype f64, expected f32");
    ed.eigvals[0] = &l4;
    ed.d = 2, ed.factors[1] = &k4, ed.eigvecs[1] = &q4, ed.eigvals[1] = &l4;
    vks_tensor k4b = {K, 4, f32, 2, {4, 4}, {4, 1}}; /* another factor, the same outputs */
    ed.factors[1] = &k4b;
    VKT_FAILS(vks_kron_eigh(ctx, &ed), VKS_ERROR_INVALID_ARGUMENT,
              "desc->eigvecs[1] overlaps desc->eigvecs[0] in memory (the same tensor for different factors)");
    vks_tensor q4b = {Q, 4, f32, 2, {3, 3}, {4, 1}};
    ed.factors[1] = &k4, ed.eigvecs[1] = &q4b;
    VKT_FAILS(vks_kron_eigh(ctx, &ed), VKS_ERROR_SHAPE_MISMATCH, "desc->eigvecs[1] is 3 x 3, expected 4 x 4");

    /* vks_kron_solve */
    vks_kron_solve_desc sd = VKS_KRON_SOLVE_DESC_INIT;
    VKT_FAILS(vks_kron_solve(ctx, NULL), VKS_ERROR_INVALID_ARGUMENT, "desc is NULL");
    sd.d = 2, sd.noise = -0.5;
    VKT_FAILS(vks_kron_solve(ctx, &sd), VKS_ERROR_INVALID_ARGUMENT, "desc->noise = -0.5");
    sd.noise = 0, sd.eig_floor = 0;
    VKT_FAILS(vks_kron_solve(ctx, &sd), VKS_ERROR_INVALID_ARGUMENT, "use vks_kron_cholesky_solve for the noiseless case");
    sd.noise = NAN;
    VKT_FAILS(vks_kron_solve(ctx, &sd), VKS_ERROR_INVALID_ARGUMENT, "desc->noise = nan");
    sd.noise = 0.1;
    VKT_FAILS(vks_kron_solve(ctx, &sd), VKS_ERROR_INVALID_ARGUMENT, "desc->eigvecs[0] is NULL");
    sd.eigvecs[0] = sd.eigvecs[1] = &q4;
    VKT_FAILS(vks_kron_solve(ctx, &sd), VKS_ERROR_INVALID_ARGUMENT, "desc->eigvals[0] is NULL");
    sd.eigvals[0] = sd.eigvals[1] = &l4;
    sd.alpha = &o;
    VKT_FAILS(vks_kron_solve(ctx, &sd), VKS_ERROR_INVALID_ARGUMENT, "desc->y is NULL but desc->alpha is requested");
    vks_tensor y15 = vks_tensor_1d(Y, f32, 15);
    sd.y = &y15;
    VKT_FAILS(vks_kron_solve(ctx, &sd), VKS_ERROR_SHAPE_MISMATCH, "desc->y has 15 rows, expected 16");
    sd.y = &y;
    vks_tensor o2 = vks_tensor_2d(O, f32, 16, 2);
    sd.alpha = &o2;
    VKT_FAILS(vks_kron_solve(ctx, &sd), VKS_ERROR_SHAPE_MISMATCH, "desc->alpha has 2 columns, expected 1");
    vks_tensor oy = vks_tensor_1d(Y, f32, 16);
    sd.alpha = &oy;
    VKT_FAILS(vks_kron_solve(ctx, &sd), VKS_ERROR_INVALID_ARGUMENT, "desc->alpha overlaps desc->y");
    sd.alpha = &o;
    vks_tensor m3 = vks_tensor_1d(L, f32, 3);
    sd.mll = &m3;
    VKT_FAILS(vks_kron_solve(ctx, &sd), VKS_ERROR_SHAPE_MISMATCH, "desc->mll has 3 elements, expected 1");
    sd.mll = NULL;
    vks_tensor lo = vks_tensor_1d(O, f32, 1);
    sd.logdet = &lo;
    VKT_FAILS(vks_kron_solve(ctx, &sd), VKS_ERROR_INVALID_ARGUMENT, "desc->logdet overlaps desc->alpha");
    sd.logdet = NULL;
    vks_tensor q64 = vks_tensor_2d(Q, VKS_DTYPE_F64, 4, 4);
    sd.eigvecs[1] = &q64;
    VKT_FAILS(vks_kron_solve(ctx, &sd), VKS_ERROR_DTYPE_MISMATCH, "desc->eigvecs[1] has dtype f64, expected f32");

    /* vks_kron_cholesky_solve */
    vks_kron_cholesky_desc cd = VKS_KRON_CHOLESKY_DESC_INIT;
    VKT_FAILS(vks_kron_cholesky_solve(ctx, &cd), VKS_ERROR_INVALID_ARGUMENT, "d = 0");
    cd.d = 1, cd.jitter_retries = 40;
    VKT_FAILS(vks_kron_cholesky_solve(ctx, &cd), VKS_ERROR_INVALID_ARGUMENT, "desc->jitter_retries = 40, expected 0..16");
    cd.jitter_retries = 0, cd.factors[0] = &k4, cd.mll = &lo;
    VKT_FAILS(vks_kron_cholesky_solve(ctx, &cd), VKS_ERROR_INVALID_ARGUMENT, "desc->y is NULL but desc->mll is requested");
    cd.mll = NULL;
    vks_tensor y4 = vks_tensor_1d(Y, f32, 4), inv = vks_tensor_2d(K, f32, 4, 4);
    cd.y = &y4, cd.inverses[0] = &inv;
    VKT_FAILS(vks_kron_cholesky_solve(ctx, &cd), VKS_ERROR_INVALID_ARGUMENT, "desc->inverses[0] overlaps desc->factors[0]");
    cd.inverses[0] = NULL;
    cd.struct_size = 1;
    VKT_FAILS(vks_kron_cholesky_solve(ctx, &cd), VKS_ERROR_INVALID_ARGUMENT, "desc->struct_size = 1");

    /* Nothing of the failed calls was recorded. */
    double *got = vkt_download(O, f32, 0, 64);
    for (int i = 0; i < 64; ++i) assert_true(isnan(got[i]));
    free(got);
    vks_buffer_destroy(K), vks_buffer_destroy(Q), vks_buffer_destroy(L), vks_buffer_destroy(Y), vks_buffer_destroy(O);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VKT_TEST(test_kron_solve_dims),        VKT_TEST(test_kron_solve_f32),
        VKT_TEST(test_kron_solve_rhs_layouts), VKT_TEST(test_kron_solve_noise_range),
        VKT_TEST(test_kron_solve_noise_scales), VKT_TEST(test_kron_solve_jitter),
        VKT_TEST(test_kron_solve_eig_floor),   VKT_TEST(test_kron_eigh_factors),
        VKT_TEST(test_kron_eigh_not_psd),      VKT_TEST(test_kron_cholesky_solve),
        VKT_TEST(test_kron_cholesky_jitter),   VKT_TEST(test_kron_gp_posterior),
        VKT_TEST(test_kron_solve_logdet_only), VKT_TEST(test_kron_solve_large),
        VKT_TEST(test_kron_eigh_profiled),     VKT_TEST(test_kron_solve_errors),
    };
    int failures = VKT_RUN(tests);
    /* On lavapipe, the end-to-end case once more through the kernels GPUs run. */
    if (vkt_device_is_cpu()) {
        const struct CMUnitTest gpu[] = {VKT_TEST(test_kron_solve_dims), VKT_TEST(test_kron_solve_noise_scales),
                                         VKT_TEST(test_kron_cholesky_solve), VKT_TEST(test_kron_gp_posterior)};
        failures += cmocka_run_group_tests_name("kron solves with GPU kernels", gpu, vkt_gpu_kernels_setup, vkt_group_teardown);
    }
    return failures;
}
