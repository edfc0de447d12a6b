/* gp-pde's spectral-mixture kernel learning (samples/gp-pde-learn.c): its host kernel
 * against vks_kron_kernel_matrix; its objective J against a dense float64 oracle of
 * 1/2 log|K| + 1/2 U' K^-1 U with K = K_1 ⊗ K_2 formed N x N from the library's kernel
 * matrices; its gradient against central finite differences of J; and that learning
 * lowers J and reaches a stated collocation error through vks_kron_pde_solve. */
#include <math.h>
#include <string.h>

#include "gp-pde-learn.h"
#include "reference_kron.h"
#include "vks_test.h"

static bool has_f64(void) { return (vkt->info.features & VKS_FEATURE_FLOAT64) != 0; }

static void random_weights(sm_learner *s, vkt_rng *rng) {
    for (int i = 0; i < s->d; ++i)
        for (int c = 0; c < s->q; ++c) s->log_w[i][c] = vkt_uniform(rng, -3, 1);
}

/* K_i as the library evaluates it (weights normalised to sum 1), times sum w, plus the
 * relative jitter: the learner's K_i. Row-major n x n. */
static double *library_factor(sm_learner *s, int i) {
    const int64_t n = s->n[i];
    double *x = malloc(sizeof(double) * (size_t)n), sum_w = 0;
    for (int64_t j = 0; j < n; ++j) x[j] = (double)j * s->h[i];
    for (int c = 0; c < s->q; ++c) sum_w += exp(s->log_w[i][c]);
    vks_kernel_desc k;
    sm_kernel_desc(s, i, &k);
    vks_buffer *xb = vkt_upload(VKS_DTYPE_F64, x, (size_t)n), *kb = vkt_poisoned(VKS_DTYPE_F64, (size_t)(n * n));
    vks_tensor xt = vks_tensor_1d(xb, VKS_DTYPE_F64, n), kt = vks_tensor_2d(kb, VKS_DTYPE_F64, n, n);
    VKT_OK(vks_kron_kernel_matrix(vkt->ctx, &k, &xt, &xt, &kt));
    double *kf = vkt_download(kb, VKS_DTYPE_F64, 0, (size_t)(n * n));
    for (int64_t r = 0; r < n; ++r)
        for (int64_t c = 0; c < n; ++c) kf[r * n + c] = sum_w * (kf[r * n + c] + (r == c ? s->jitter : 0.0));
    VKT_OK(vks_buffer_destroy(xb));
    VKT_OK(vks_buffer_destroy(kb));
    free(x);
    return kf;
}

/* The host kernel against vks_kron_kernel_matrix, ragged grids, one component and many. */
static void test_learn_kernel_matches_library(void **state) {
    (void)state;
    if (!has_f64()) skip();
    vkt_rng rng = vkt_rng_seed(71);
    const int qs[2] = {1, 30};
    for (int t = 0; t < 4; ++t) {
        sm_learner s;
        const int64_t n[2] = {17, 40};
        const double extent[2] = {1, 2.5};
        const vks_sm_base base = t < 2 ? VKS_SM_BASE_SE : VKS_SM_BASE_MATERN52;
        assert_int_equal(sm_init(&s, 2, n, extent, qs[t % 2], base, 6, 1e-8), 0);
        random_weights(&s, &rng);
        for (int i = 0; i < 2; ++i) {
            double *kf = library_factor(&s, i), sum_w = 0, err = 0;
            for (int c = 0; c < s.q; ++c) sum_w += exp(s.log_w[i][c]);
            for (int64_t r = 0; r < n[i]; ++r)
                for (int64_t c = 0; c < n[i]; ++c) {
                    const double kv = sm_kernel_value(&s, i, (double)(r - c) * s.h[i]);
                    const double want = sum_w * (kv + (r == c ? 1e-8 : 0));
                    err = fmax(err, fabs(kf[r * n[i] + c] - want) / sum_w);
                }
            assert_true(err < 1e-13);
            free(kf);
        }
    }
}

/* J against the dense N x N oracle; the gradient against central differences of J. */
static void check_objective(int d, const int64_t *n, int q, vks_sm_base base, uint64_t seed) {
    vkt_rng rng = vkt_rng_seed(seed);
    sm_learner s;
    const double extent[2] = {1, 0.7};
    assert_int_equal(sm_init(&s, d, n, extent, q, base, 2.5, 1e-6), 0);
    random_weights(&s, &rng);
    int64_t big_n = 1;
    for (int i = 0; i < d; ++i) big_n *= n[i];
    double *u = vkt_random(&rng, (size_t)big_n, -1, 1);
    double *f[2] = {library_factor(&s, 0), d == 2 ? library_factor(&s, 1) : NULL};
    double *k = malloc(sizeof(double) * (size_t)(big_n * big_n)), *l = malloc(sizeof(double) * (size_t)(big_n * big_n));
    const int64_t n2 = d == 2 ? n[1] : 1;
    for (int64_t r = 0; r < big_n; ++r)
        for (int64_t c = 0; c < big_n; ++c)
            k[r * big_n + c] = f[0][(r / n2) * n[0] + c / n2] * (d == 2 ? f[1][(r % n2) * n2 + c % n2] : 1.0);
    assert_int_equal(ref_kron_cholesky(big_n, k, l), 0);
    double logdet = 0, quad = 0;
    for (int64_t r = 0; r < big_n; ++r) logdet += 2 * log(l[r * big_n + r]);
    double *alpha = malloc(sizeof(double) * (size_t)big_n);
    memcpy(alpha, u, sizeof(double) * (size_t)big_n);
    ref_kron_cholesky_solve(big_n, l, alpha, 1);
    for (int64_t e = 0; e < big_n; ++e) quad += u[e] * alpha[e];
    const double j_oracle = 0.5 * logdet + 0.5 * quad;
    double grad[SM_MAX_DIMS * SM_MAX_Q];
    const double j = sm_objective(&s, u, grad);
    print_message("d = %d, n = (%lld, %lld), Q = %d, %s base: J %.10g, oracle %.10g\n", d, (long long)n[0],
                  (long long)n2, q, base == VKS_SM_BASE_SE ? "SE" : "Matern", j, j_oracle);
    assert_true(fabs(j - j_oracle) <= 1e-9 * (fabs(j_oracle) + fabs(quad)));
    const double step = 1e-5;
    double worst = 0, scale = 0;
    for (int i = 0; i < d; ++i)
        for (int c = 0; c < q; ++c) {
            const double keep = s.log_w[i][c];
            s.log_w[i][c] = keep + step;
            const double jp = sm_objective(&s, u, NULL);
            s.log_w[i][c] = keep - step;
            const double jm = sm_objective(&s, u, NULL);
            s.log_w[i][c] = keep;
            const double fd = (jp - jm) / (2 * step);
            worst = fmax(worst, fabs(fd - grad[i * q + c]));
            scale = fmax(scale, fabs(fd));
        }
    print_message("  gradient: max |analytic - central difference| %.2e (max |dJ/dlog w| %.2e)\n", worst, scale);
    assert_true(scale > 0);
    assert_true(worst <= 1e-6 * scale);
    free(u), free(f[0]), free(f[1]), free(k), free(l), free(alpha);
}

static void test_learn_objective_and_gradient(void **state) {
    (void)state;
    if (!has_f64()) skip();
    const int64_t n1[1] = {23}, n2[2] = {9, 6}, n3[2] = {3, 11};
    check_objective(1, n1, 5, VKS_SM_BASE_SE, 3);
    check_objective(2, n2, 4, VKS_SM_BASE_SE, 5);
    check_objective(2, n3, 1, VKS_SM_BASE_SE, 7); /* the smallest grid, one component */
    check_objective(2, n2, 30, VKS_SM_BASE_SE, 11);
    check_objective(1, n1, 6, VKS_SM_BASE_MATERN52, 13);
    check_objective(2, n2, 30, VKS_SM_BASE_MATERN52, 17);
}

static double u_sin(double x) { return sin(60 * x); }

/* Relative L2 error on the grid of the collocation solution of u'' = f, u = sin(60x), on
 * n points with the learner's kernel; the grid values go to u. */
static double collocation(sm_learner *s, int64_t n, double *u) {
    const double h = 1.0 / (double)(n - 1);
    double *f = malloc(sizeof(double) * (size_t)n), *g = malloc(sizeof(double) * (size_t)n);
    for (int64_t j = 0; j < n; ++j) f[j] = -3600 * u_sin((double)j * h), g[j] = u_sin((double)j * h);
    const vks_dtype dt = VKS_DTYPE_F64;
    vks_buffer *fb = vkt_upload(dt, f, (size_t)n), *gb = vkt_upload(dt, g, (size_t)n);
    vks_buffer *ub = vkt_poisoned(dt, (size_t)n);
    vks_tensor ft = vks_tensor_1d(fb, dt, n), gt = vks_tensor_1d(gb, dt, n), ut = vks_tensor_1d(ub, dt, n);
    vks_kernel_desc k;
    sm_kernel_desc(s, 0, &k);
    vks_kron_pde_desc desc = VKS_KRON_PDE_DESC_INIT;
    desc.d = 1, desc.n[0] = n, desc.lo[0] = 0, desc.hi[0] = 1, desc.coef_xx[0] = 1, desc.kernels[0] = &k;
    desc.jitter = s->jitter, desc.f = &ft, desc.boundary = &gt, desc.u = &ut, desc.tolerance = 1e-10;
    VKT_OK(vks_kron_pde_solve(vkt->ctx, &desc));
    double *got = vkt_download(ub, dt, 0, (size_t)n);
    memcpy(u, got, sizeof(double) * (size_t)n);
    const double err = vkt_rel_err(got, g, (size_t)n);
    free(f), free(g), free(got);
    VKT_OK(vks_buffer_destroy(fb));
    VKT_OK(vks_buffer_destroy(gb));
    VKT_OK(vks_buffer_destroy(ub));
    return err;
}

/* The sample's scheme on a small problem: uniform weights, then rounds of Adam steps on J
 * for the current U and a new solve. Every round lowers J (for its U) and the final
 * error is below 1e-3 and below the uniform kernel's. */
static void test_learn_lowers_objective_and_error(void **state) {
    (void)state;
    if (!has_f64()) skip();
    const int64_t n = 96;
    sm_learner s;
    const double extent = 1;
    assert_int_equal(sm_init(&s, 1, &n, &extent, 30, VKS_SM_BASE_SE, 6, 1e-8), 0);
    double *u = malloc(sizeof(double) * (size_t)n);
    const double err0 = collocation(&s, n, u);
    double err = err0;
    for (int round = 0; round < 4; ++round) {
        const double before = sm_objective(&s, u, NULL);
        const double after = sm_adam(&s, u, 30, 0.3);
        print_message("round %d: error %.2e, J %.6g -> %.6g\n", round, err, before, after);
        assert_true(after < before);
        err = collocation(&s, n, u);
    }
    print_message("sin(60x) on 96 points: uniform weights %.2e, learned %.2e\n", err0, err);
    assert_true(err < 1e-3);
    assert_true(err < 0.1 * err0);
    free(u);
}

static void test_learn_bad_arguments(void **state) {
    (void)state;
    sm_learner s;
    const int64_t n[2] = {8, 8}, n_small[2] = {2, 8};
    const double extent[2] = {1, 1}, bad_extent[2] = {1, 0};
    assert_int_equal(sm_init(&s, 3, n, extent, 4, VKS_SM_BASE_SE, 6, 1e-8), -1);
    assert_int_equal(sm_init(&s, 0, n, extent, 4, VKS_SM_BASE_SE, 6, 1e-8), -1);
    assert_int_equal(sm_init(&s, 2, n, extent, 0, VKS_SM_BASE_SE, 6, 1e-8), -1);
    assert_int_equal(sm_init(&s, 2, n, extent, SM_MAX_Q + 1, VKS_SM_BASE_SE, 6, 1e-8), -1);
    assert_int_equal(sm_init(&s, 2, n_small, extent, 4, VKS_SM_BASE_SE, 6, 1e-8), -1);
    assert_int_equal(sm_init(&s, 2, n, bad_extent, 4, VKS_SM_BASE_SE, 6, 1e-8), -1);
    assert_int_equal(sm_init(&s, 2, n, extent, 4, VKS_SM_BASE_SE, 0, 1e-8), -1);
    assert_int_equal(sm_init(&s, 2, n, extent, 4, VKS_SM_BASE_SE, 6, -1), -1);
    assert_int_equal(sm_init(&s, 2, n, extent, 4, VKS_SM_BASE_SE, NAN, 1e-8), -1);
    assert_int_equal(sm_init(&s, 2, n, extent, 4, (vks_sm_base)7, 6, 1e-8), -1);
    /* A kernel that is not positive definite (no jitter, far too long an envelope): NaN. */
    assert_int_equal(sm_init(&s, 1, n, extent, 1, VKS_SM_BASE_SE, 1e4, 0), 0);
    double u[8] = {0};
    assert_true(isnan(sm_objective(&s, u, NULL)));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VKT_TEST(test_learn_kernel_matches_library),
        VKT_TEST(test_learn_objective_and_gradient),
        VKT_TEST(test_learn_lowers_objective_and_error),
        VKT_TEST(test_learn_bad_arguments),
    };
    return VKT_RUN(tests);
}
