/* Kronecker products (vks_kron_matmul), kernel matrices with their derivatives
 * (vks_kron_kernel_matrix) and the posterior mean at scattered points (vks_kron_predict)
 * against float64 oracles built from explicit Kronecker matrices and closed-form kernels;
 * and their error paths. */
#include <math.h>
#include <string.h>

#include "reference_kron.h"
#include "vks_test.h"

/* ---- vks_kron_matmul ----------------------------------------------------------------- */

typedef struct matmul_case {
    int d;
    int64_t rows[4], cols[4]; /* of op(A_t) */
    vks_transpose trans;
    int64_t k;            /* right-hand sides; 0 = a plain vector (N) */
    bool row_major;       /* (N, k) strides {k, 1}, else {1, N} */
    double alpha, beta;
    vks_dtype dt;
    int factor_layout;    /* 0 compact, 1 padded rows (ld = cols + 3), 2 column-major */
    bool y_other_layout;  /* y in the layout x is not in */
} matmul_case;

static void run_matmul(const matmul_case *mc, uint64_t seed) {
    vkt_rng rng = vkt_rng_seed(seed);
    const int d = mc->d;
    const int64_t kk = mc->k ? mc->k : 1;
    int64_t n = 1, m = 1;
    for (int t = 0; t < d; ++t) n *= mc->cols[t], m *= mc->rows[t];
    vks_buffer *fb[4];
    vks_tensor ft[4];
    const vks_tensor *fp[4];
    double *fh[4];
    ref_mat op[4];
    for (int t = 0; t < d; ++t) {
        /* Stored shape: op(A) itself, or its transpose. */
        const int64_t sr = mc->trans ? mc->cols[t] : mc->rows[t], sc = mc->trans ? mc->rows[t] : mc->cols[t];
        const int64_t ld = mc->factor_layout == 1 ? sc + 3 : mc->factor_layout == 2 ? sr : sc;
        const size_t total = (size_t)(mc->factor_layout == 2 ? sc * ld : sr * ld);
        fh[t] = vkt_random(&rng, total, -1, 1);
        vkt_round_to(mc->dt, fh[t], total);
        fb[t] = vkt_upload(mc->dt, fh[t], total);
        ref_mat stored = mc->factor_layout == 2 ? (ref_mat){fh[t], sr, sc, 1, ld} : (ref_mat){fh[t], sr, sc, ld, 1};
        ft[t] = (vks_tensor){fb[t], 0, mc->dt, 2, {sr, sc}, {stored.rs, stored.cs}};
        fp[t] = &ft[t];
        op[t] = mc->trans ? ref_t(stored) : stored;
    }
    /* x and y as (N, k) matrices in the chosen layout. */
    double *x = vkt_random(&rng, (size_t)(n * kk), -1, 1), *y0 = vkt_random(&rng, (size_t)(m * kk), -1, 1);
    vkt_round_to(mc->dt, x, (size_t)(n * kk));
    vkt_round_to(mc->dt, y0, (size_t)(m * kk));
    vks_buffer *X = vkt_upload(mc->dt, x, (size_t)(n * kk));
    vks_buffer *Y = mc->beta == 0 ? vkt_poisoned(mc->dt, (size_t)(m * kk)) : vkt_upload(mc->dt, y0, (size_t)(m * kk));
    vks_tensor tx, ty;
    if (mc->k == 0) {
        tx = vks_tensor_1d(X, mc->dt, n), ty = vks_tensor_1d(Y, mc->dt, m);
    } else {
        tx = mc->row_major ? vks_tensor_2d(X, mc->dt, n, kk) : (vks_tensor){X, 0, mc->dt, 2, {n, kk}, {1, n}};
        const bool y_rows = mc->row_major != mc->y_other_layout;
        ty = y_rows ? vks_tensor_2d(Y, mc->dt, m, kk) : (vks_tensor){Y, 0, mc->dt, 2, {m, kk}, {1, m}};
    }
    const bool y_rows = mc->k != 0 && mc->row_major != mc->y_other_layout;
    VKT_OK(vks_kron_matmul(vkt->ctx, d, fp, mc->trans, mc->alpha, &tx, mc->beta, &ty));
    double *got = vkt_download(Y, mc->dt, 0, (size_t)(m * kk));

    double *kd = malloc(sizeof(double) * (size_t)(m * n)), *want = malloc(sizeof(double) * (size_t)(m * kk));
    ref_kron_dense(d, op, kd);
    for (int64_t r = 0; r < kk; ++r)
        for (int64_t i = 0; i < m; ++i) {
            double s = 0;
            for (int64_t j = 0; j < n; ++j) s += kd[i * n + j] * x[mc->row_major ? j * kk + r : r * n + j];
            const size_t o = (size_t)(y_rows ? i * kk + r : r * m + i);
            want[o] = mc->alpha * s + (mc->beta != 0 ? mc->beta * y0[o] : 0.0);
        }
    char what[200];
    snprintf(what, sizeof what, "kron_matmul %s d=%d dims=%lldx%lldx%lldx%lld->%lldx%lldx%lldx%lld trans=%d k=%lld %s",
             mc->dt == VKS_DTYPE_F64 ? "f64" : "f32", d, (long long)mc->cols[0], (long long)mc->cols[1],
             (long long)mc->cols[2], (long long)mc->cols[3], (long long)mc->rows[0], (long long)mc->rows[1],
             (long long)mc->rows[2], (long long)mc->rows[3], mc->trans, (long long)mc->k,
             mc->row_major ? "row-major" : "grids");
    /* Sums of up to N products: the tolerance grows with the reduction length. */
    const double tol = vkt_tol(mc->dt) * (mc->dt == VKS_DTYPE_F64 ? 10 : 1) * fmax(1.0, sqrt((double)n) / 8);
    vkt_assert_close(got, want, (size_t)(m * kk), tol, what);
    free(kd), free(want), free(got), free(x), free(y0);
    for (int t = 0; t < d; ++t) {
        free(fh[t]);
        VKT_OK(vks_buffer_destroy(fb[t]));
    }
    VKT_OK(vks_buffer_destroy(X));
    VKT_OK(vks_buffer_destroy(Y));
}

static void test_kron_matmul_dims(void **state) {
    (void)state;
    static const int64_t dims[][4] = {{37, 1, 1, 1}, {13, 9, 1, 1}, {7, 5, 6, 1}, {3, 4, 5, 2}, {16, 16, 1, 1}};
    static const int ds[] = {1, 2, 3, 4, 2};
    for (size_t i = 0; i < sizeof ds / sizeof ds[0]; ++i) {
        matmul_case mc = {.d = ds[i], .k = 0, .alpha = 1, .dt = VKS_DTYPE_F32};
        memcpy(mc.rows, dims[i], sizeof mc.rows);
        memcpy(mc.cols, dims[i], sizeof mc.cols);
        run_matmul(&mc, 10 + i);
    }
}

/* Rectangular factors (test grids from training grids), and op(A) = A^T. */
static void test_kron_matmul_rectangular_transposed(void **state) {
    (void)state;
    for (int trans = 0; trans < 2; ++trans) {
        matmul_case mc = {.d = 3, .rows = {5, 11, 2, 1}, .cols = {9, 4, 7, 1}, .trans = trans, .alpha = 1,
                          .dt = VKS_DTYPE_F32};
        run_matmul(&mc, 20 + trans);
        matmul_case mc2 = {.d = 2, .rows = {1, 17, 1, 1}, .cols = {12, 3, 1, 1}, .trans = trans, .alpha = 1,
                           .dt = VKS_DTYPE_F32};
        run_matmul(&mc2, 22 + trans);
    }
}

/* Several right-hand sides in both layouts, with alpha and beta. */
static void test_kron_matmul_rhs_layouts(void **state) {
    (void)state;
    for (int layout = 0; layout < 2; ++layout) {
        matmul_case mc = {.d = 2, .rows = {10, 7, 1, 1}, .cols = {10, 7, 1, 1}, .k = 3, .row_major = layout == 0,
                          .alpha = -0.5, .beta = 0, .dt = VKS_DTYPE_F32};
        run_matmul(&mc, 30 + layout);
        mc.beta = 2.0, mc.d = 3, mc.rows[2] = mc.cols[2] = 4, mc.rows[0] = 6;
        run_matmul(&mc, 32 + layout);
        mc.d = 1, mc.k = 5, mc.beta = 0.25;
        run_matmul(&mc, 34 + layout);
        mc.d = 2, mc.y_other_layout = true; /* x in one layout, y in the other */
        run_matmul(&mc, 36 + layout);
    }
}

static void test_kron_matmul_strided_factors(void **state) {
    (void)state;
    for (int layout = 1; layout <= 2; ++layout)
        for (int trans = 0; trans < 2; ++trans) {
            matmul_case mc = {.d = 2, .rows = {8, 5, 1, 1}, .cols = {6, 9, 1, 1}, .trans = trans, .k = 2,
                              .row_major = true, .alpha = 1, .dt = VKS_DTYPE_F32, .factor_layout = layout};
            run_matmul(&mc, 40 + 2 * layout + trans);
        }
}

static void test_kron_matmul_f64(void **state) {
    (void)state;
    if (!(vkt->info.features & VKS_FEATURE_FLOAT64)) skip();
    matmul_case mc = {.d = 3, .rows = {7, 9, 5, 1}, .cols = {7, 9, 5, 1}, .k = 2, .row_major = true, .alpha = 1.5,
                      .beta = -1, .dt = VKS_DTYPE_F64};
    run_matmul(&mc, 50);
    matmul_case mc2 = {.d = 4, .rows = {2, 3, 4, 3}, .cols = {3, 2, 3, 4}, .trans = VKS_TRANS, .alpha = 1,
                       .dt = VKS_DTYPE_F64};
    run_matmul(&mc2, 51);
}

/* Size 1 everywhere, and grids with dimensions of size 1. */
static void test_kron_matmul_size_one(void **state) {
    (void)state;
    matmul_case mc = {.d = 1, .rows = {1, 1, 1, 1}, .cols = {1, 1, 1, 1}, .alpha = 1, .dt = VKS_DTYPE_F32};
    run_matmul(&mc, 60);
    mc.d = 4, mc.k = 1, mc.row_major = true;
    run_matmul(&mc, 61);
    matmul_case mc2 = {.d = 3, .rows = {1, 6, 1, 1}, .cols = {1, 6, 1, 1}, .k = 4, .row_major = true, .alpha = 1,
                       .dt = VKS_DTYPE_F32};
    run_matmul(&mc2, 62);
}

/* A 256 x 200 grid (and 40 x 36 x 30): entries sampled against explicit sums. */
static void run_large(int d, const int64_t *dims, vks_dtype dt, uint64_t seed) {
    vkt_rng rng = vkt_rng_seed(seed);
    int64_t n = 1;
    vks_buffer *fb[3];
    vks_tensor ft[3];
    const vks_tensor *fp[3];
    double *fh[3];
    for (int t = 0; t < d; ++t) {
        n *= dims[t];
        fh[t] = vkt_random(&rng, (size_t)(dims[t] * dims[t]), -1, 1);
        vkt_round_to(dt, fh[t], (size_t)(dims[t] * dims[t]));
        fb[t] = vkt_upload(dt, fh[t], (size_t)(dims[t] * dims[t]));
        ft[t] = vks_tensor_2d(fb[t], dt, dims[t], dims[t]);
        fp[t] = &ft[t];
    }
    double *x = vkt_random(&rng, (size_t)n, -1, 1);
    vkt_round_to(dt, x, (size_t)n);
    vks_buffer *X = vkt_upload(dt, x, (size_t)n), *Y = vkt_poisoned(dt, (size_t)n);
    vks_tensor tx = vks_tensor_1d(X, dt, n), ty = vks_tensor_1d(Y, dt, n);
    VKT_OK(vks_kron_matmul(vkt->ctx, d, fp, VKS_NO_TRANS, 1.0, &tx, 0.0, &ty));
    double *got = vkt_download(Y, dt, 0, (size_t)n);
    enum { SAMPLES = 24 };
    double g[SAMPLES], w[SAMPLES];
    for (int s = 0; s < SAMPLES; ++s) {
        const int64_t e = (int64_t)vkt_uniform(&rng, 0, (double)n);
        int64_t idx[3], rest = e;
        for (int t = d - 1; t >= 0; --t) idx[t] = rest % dims[t], rest /= dims[t];
        double sum = 0;
        for (int64_t j = 0; j < n; ++j) { /* y[e] = sum_j prod_t A_t(e_t, j_t) x[j] */
            double v = x[j];
            int64_t jr = j;
            for (int t = d - 1; t >= 0; --t) v *= fh[t][idx[t] * dims[t] + jr % dims[t]], jr /= dims[t];
            sum += v;
        }
        g[s] = got[e], w[s] = sum;
    }
    for (int64_t i = 0; i < n; ++i) assert_true(isfinite(got[i])); /* every element written */
    vkt_assert_close(g, w, SAMPLES, vkt_tol(dt) * (dt == VKS_DTYPE_F64 ? 10 : 4) * sqrt((double)n) / 32, "large kron");
    free(x), free(got);
    for (int t = 0; t < d; ++t) free(fh[t]), vks_buffer_destroy(fb[t]);
    vks_buffer_destroy(X), vks_buffer_destroy(Y);
}

/* Tall factors: the grid grows through the modes (1600 -> 80000 -> 4e6 points, and
 * 1 -> 50000), well inside 32-bit indexing. Each intermediate size is counted once (a
 * double-evaluating max once counted 1e10 and 2.5e9 and refused these calls). Checked
 * at sampled outputs against y[i, j] = sum_{p, q} A[i, p] B[j, q] x[p, q]. */
static void run_tall(int d, int64_t rows, int64_t cols, uint64_t seed) {
    const vks_dtype dt = VKS_DTYPE_F32;
    vkt_rng rng = vkt_rng_seed(seed);
    int64_t n = 1, m = 1;
    vks_buffer *fb[2];
    vks_tensor ft[2];
    const vks_tensor *fp[2];
    double *fh[2];
    for (int t = 0; t < d; ++t) {
        n *= cols, m *= rows;
        fh[t] = vkt_random(&rng, (size_t)(rows * cols), -1, 1);
        vkt_round_to(dt, fh[t], (size_t)(rows * cols));
        fb[t] = vkt_upload(dt, fh[t], (size_t)(rows * cols));
        ft[t] = vks_tensor_2d(fb[t], dt, rows, cols);
        fp[t] = &ft[t];
    }
    double *x = vkt_random(&rng, (size_t)n, -1, 1);
    vkt_round_to(dt, x, (size_t)n);
    vks_buffer *X = vkt_upload(dt, x, (size_t)n), *Y = vkt_poisoned(dt, (size_t)m);
    vks_tensor tx = vks_tensor_1d(X, dt, n), ty = vks_tensor_1d(Y, dt, m);
    VKT_OK(vks_kron_matmul(vkt->ctx, d, fp, VKS_NO_TRANS, 1.0, &tx, 0.0, &ty));
    double *got = vkt_download(Y, dt, 0, (size_t)m);
    for (int64_t i = 0; i < m; ++i) assert_true(isfinite(got[i])); /* every element written */
    enum { SAMPLES = 32 };
    double g[SAMPLES], w[SAMPLES];
    for (int s = 0; s < SAMPLES; ++s) {
        const int64_t e = (int64_t)vkt_uniform(&rng, 0, (double)m);
        const int64_t i = d == 2 ? e / rows : e, j = d == 2 ? e % rows : 0;
        double sum = 0;
        for (int64_t p = 0; p < cols; ++p)
            for (int64_t q = 0; q < (d == 2 ? cols : 1); ++q)
                sum += fh[0][i * cols + p] * (d == 2 ? fh[1][j * cols + q] : 1.0) * x[p * (d == 2 ? cols : 1) + q];
        g[s] = got[e], w[s] = sum;
    }
    char what[64];
    snprintf(what, sizeof what, "kron_matmul d=%d %lldx%lld factors", d, (long long)rows, (long long)cols);
    vkt_assert_close(g, w, SAMPLES, vkt_tol(dt) * 4, what);
    free(x), free(got);
    for (int t = 0; t < d; ++t) free(fh[t]), vks_buffer_destroy(fb[t]);
    vks_buffer_destroy(X), vks_buffer_destroy(Y);
}

static void test_kron_matmul_tall_factors(void **state) {
    (void)state;
    run_tall(2, 2000, 40, 80);
    run_tall(1, 50000, 1, 81);
}

static void test_kron_matmul_large(void **state) {
    (void)state;
    const int64_t two[] = {256, 200}, three[] = {40, 36, 30};
    run_large(2, two, VKS_DTYPE_F32, 70);
    if (vkt->info.features & VKS_FEATURE_FLOAT64) run_large(3, three, VKS_DTYPE_F64, 71);
}

/* ---- vks_kron_kernel_matrix --------------------------------------------------------------- */

typedef struct kernel_case {
    vks_kernel_desc desc;
    ref_kron_kernel ref;
} kernel_case;

static kernel_case rbf_case(double l, double s) {
    kernel_case c = {.desc = VKS_KERNEL_DESC_INIT, .ref = ref_kron_kernel_rbf(l, s)};
    c.desc.kind = VKS_KERNEL_RBF, c.desc.lengthscale = l, c.desc.outputscale = s;
    return c;
}

static kernel_case matern_case(double l, double s) {
    kernel_case c = {.desc = VKS_KERNEL_DESC_INIT, .ref = ref_kron_kernel_matern52(l, s)};
    c.desc.kind = VKS_KERNEL_MATERN52, c.desc.lengthscale = l, c.desc.outputscale = s;
    return c;
}

/* Three components; the desc points into the returned struct's ref arrays. */
static kernel_case *sm_case(kernel_case *c, int base) {
    static const double w[3] = {0.7, 0.2, 0.1}, rho[2][3] = {{8.0, 30.0, 120.0}, {3.0, 6.0, 12.0}};
    static const double f[3] = {0.0, 1.5, 4.0};
    *c = (kernel_case){.desc = VKS_KERNEL_DESC_INIT, .ref = {.base = base, .q = 3}};
    for (int q = 0; q < 3; ++q) c->ref.w[q] = w[q], c->ref.rho[q] = rho[base][q], c->ref.f[q] = f[q];
    c->desc.kind = VKS_KERNEL_SPECTRAL_MIXTURE;
    c->desc.sm_base = base ? VKS_SM_BASE_MATERN52 : VKS_SM_BASE_SE;
    c->desc.num_mixtures = 3;
    c->desc.sm_weights = c->ref.w, c->desc.sm_rhos = c->ref.rho, c->desc.sm_freqs = c->ref.f;
    return c;
}

/* Points: x1 on a ragged grid in [0, 1], x2 = x1 shifted plus a few of x1's own points
 * (r = 0 entries). Returns the device matrix for (dx1, dx2). */
static double *eval_kernel(const kernel_case *c, vks_dtype dt, int dx1, int dx2, const double *x1, int64_t n1,
                           const double *x2, int64_t n2) {
    vks_buffer *X1 = vkt_upload(dt, x1, (size_t)n1), *X2 = vkt_upload(dt, x2, (size_t)n2);
    vks_buffer *K = vkt_poisoned(dt, (size_t)(n1 * n2));
    vks_tensor t1 = vks_tensor_1d(X1, dt, n1), t2 = vks_tensor_1d(X2, dt, n2), tk = vks_tensor_2d(K, dt, n1, n2);
    vks_kernel_desc desc = c->desc;
    desc.dx1 = dx1, desc.dx2 = dx2;
    VKT_OK(vks_kron_kernel_matrix(vkt->ctx, &desc, &t1, &t2, &tk));
    double *got = vkt_download(K, dt, 0, (size_t)(n1 * n2));
    vks_buffer_destroy(X1), vks_buffer_destroy(X2), vks_buffer_destroy(K);
    return got;
}

static void points(vks_dtype dt, double *x1, int64_t n1, double *x2, int64_t n2) {
    for (int64_t i = 0; i < n1; ++i) x1[i] = (double)i / (double)(n1 - 1);
    for (int64_t j = 0; j < n2; ++j) x2[j] = j % 5 == 0 ? x1[(j * 7) % n1] : 0.013 + 0.9 * (double)j / (double)n2;
    vkt_round_to(dt, x1, (size_t)n1);
    vkt_round_to(dt, x2, (size_t)n2);
}

static void test_kron_kernel_values(void **state) {
    (void)state;
    enum { N1 = 37, N2 = 29 };
    kernel_case cases[4];
    cases[0] = rbf_case(0.2, 1.7);
    cases[1] = matern_case(0.35, 0.6);
    sm_case(&cases[2], 0);
    sm_case(&cases[3], 1);
    for (int dti = 0; dti < 2; ++dti) {
        const vks_dtype dt = dti ? VKS_DTYPE_F64 : VKS_DTYPE_F32;
        if (dt == VKS_DTYPE_F64 && !(vkt->info.features & VKS_FEATURE_FLOAT64)) continue;
        double x1[N1], x2[N2], want[N1 * N2];
        points(dt, x1, N1, x2, N2);
        for (int c = 0; c < 4; ++c) {
            double *got = eval_kernel(&cases[c], dt, 0, 0, x1, N1, x2, N2);
            for (int i = 0; i < N1; ++i)
                for (int j = 0; j < N2; ++j) want[i * N2 + j] = ref_kron_kernel_value(&cases[c].ref, x1[i], x2[j]);
            char what[64];
            snprintf(what, sizeof what, "kernel %d %s", c, dt == VKS_DTYPE_F64 ? "f64" : "f32");
            vkt_assert_close(got, want, N1 * N2, dt == VKS_DTYPE_F64 ? 1e-13 : 2e-6, what);
            free(got);
        }
    }
}

/* Thousands of spectral-mixture matrices recorded without a synchronize: each call's
 * parameter table goes into the context's parameter ring, which must grow (and keep the
 * earlier tables alive) instead of writing past its end. Each call has its own weights,
 * so a table overwritten or lost shows in that call's slice of the output. */
static void test_kron_kernel_many_unsynchronized(void **state) {
    (void)state;
    enum { CALLS = 5000, N1 = 2, N2 = 3 };
    const vks_dtype dt = VKS_DTYPE_F32;
    double x1[N1] = {0.0, 0.25}, x2[N2] = {0.5, 0.0, 1.0};
    vks_buffer *X1 = vkt_upload(dt, x1, N1), *X2 = vkt_upload(dt, x2, N2);
    vks_buffer *K = vkt_poisoned(dt, (size_t)CALLS * N1 * N2);
    kernel_case c;
    sm_case(&c, 0);
    vks_tensor t1 = vks_tensor_1d(X1, dt, N1), t2 = vks_tensor_1d(X2, dt, N2);
    for (int call = 0; call < CALLS; ++call) {
        vks_kernel_desc desc = c.desc;
        double w[3];
        for (int q = 0; q < 3; ++q) w[q] = c.ref.w[q] * (1.0 + call % 97);
        desc.sm_weights = w;
        const int64_t shape[2] = {N1, N2};
        vks_tensor tk = vks_tensor_make(K, (uint64_t)call * N1 * N2 * 4, dt, 2, shape);
        VKT_OK(vks_kron_kernel_matrix(vkt->ctx, &desc, &t1, &t2, &tk));
    }
    double *got = vkt_download(K, dt, 0, (size_t)CALLS * N1 * N2);
    double want[N1 * N2];
    for (int call = 0; call < CALLS; ++call) {
        ref_kron_kernel ref = c.ref;
        for (int q = 0; q < 3; ++q) ref.w[q] *= 1.0 + call % 97;
        for (int i = 0; i < N1; ++i)
            for (int j = 0; j < N2; ++j) want[i * N2 + j] = ref_kron_kernel_value(&ref, x1[i], x2[j]);
        char what[64];
        snprintf(what, sizeof what, "unsynchronized call %d", call);
        vkt_assert_close(got + (size_t)call * N1 * N2, want, N1 * N2, 2e-6, what);
    }
    free(got);
    vks_buffer_destroy(X1), vks_buffer_destroy(X2), vks_buffer_destroy(K);
}

/* More points on either side than one row of workgroups covers (cross-covariances of many
 * test points with a grid dimension, for vks_kron_predict): 600000 x 2 and 1 x 2200000. */
static void test_kron_kernel_many_points(void **state) {
    (void)state;
    static const int64_t shapes[][2] = {{600000, 2}, {1, 2200000}};
    kernel_case c = rbf_case(0.2, 1.7);
    for (int s = 0; s < 2; ++s) {
        const int64_t n1 = shapes[s][0], n2 = shapes[s][1];
        double *x1 = malloc(sizeof(double) * (size_t)n1), *x2 = malloc(sizeof(double) * (size_t)n2);
        for (int64_t i = 0; i < n1; ++i) x1[i] = (double)(i % 1000) / 1000.0;
        for (int64_t j = 0; j < n2; ++j) x2[j] = 0.3 + (double)(j % 777) / 1000.0;
        vkt_round_to(VKS_DTYPE_F32, x1, (size_t)n1);
        vkt_round_to(VKS_DTYPE_F32, x2, (size_t)n2);
        double *got = eval_kernel(&c, VKS_DTYPE_F32, 0, 0, x1, n1, x2, n2);
        double *want = malloc(sizeof(double) * (size_t)(n1 * n2));
        for (int64_t i = 0; i < n1; ++i)
            for (int64_t j = 0; j < n2; ++j) want[i * n2 + j] = ref_kron_kernel_value(&c.ref, x1[i], x2[j]);
        vkt_assert_close(got, want, (size_t)(n1 * n2), 2e-6, s ? "kernel 1 x 2200000" : "kernel 600000 x 2");
        free(x1), free(x2), free(got), free(want);
    }
}

/* Every derivative pair (dx1, dx2) in 0..2 of every kind against finite differences in
 * long double (entries with r = 0 against the Taylor coefficients at 0). */
static void test_kron_kernel_derivatives(void **state) {
    (void)state;
    enum { N1 = 23, N2 = 19 };
    kernel_case cases[4];
    cases[0] = rbf_case(0.3, 1.2);
    cases[1] = matern_case(0.4, 0.8);
    sm_case(&cases[2], 0);
    sm_case(&cases[3], 1);
    for (int dti = 0; dti < 2; ++dti) {
        const vks_dtype dt = dti ? VKS_DTYPE_F64 : VKS_DTYPE_F32;
        if (dt == VKS_DTYPE_F64 && !(vkt->info.features & VKS_FEATURE_FLOAT64)) continue;
        double x1[N1], x2[N2], g[N1 * N2], w[N1 * N2];
        points(dt, x1, N1, x2, N2);
        for (int c = 0; c < 4; ++c)
            for (int dx1 = 0; dx1 <= 2; ++dx1)
                for (int dx2 = 0; dx2 <= 2; ++dx2) {
                    double *got = eval_kernel(&cases[c], dt, dx1, dx2, x1, N1, x2, N2);
                    /* A step well inside the shortest length scale of the kernel. */
                    double shortest = 1e9;
                    for (int q = 0; q < cases[c].ref.q; ++q) {
                        const double rho = cases[c].ref.rho[q];
                        shortest = fmin(shortest, cases[c].ref.base == 0 ? 1 / sqrt(2 * rho) : 1 / (sqrt(5) * rho));
                        if (cases[c].ref.f[q] > 0) shortest = fmin(shortest, 1 / (2 * M_PI * cases[c].ref.f[q]));
                    }
                    /* Balances the stencil's truncation (h^4 after Richardson) against long
                     * double rounding (eps/h^n): ~1e-9 relative up to order 4. */
                    static const double step[5] = {0.002, 0.002, 0.006, 0.008, 0.012};
                    const double h = step[dx1 + dx2] * shortest;
                    size_t cnt = 0;
                    for (int i = 0; i < N1; ++i)
                        for (int j = 0; j < N2; ++j) {
                            const double r = x1[i] - x2[j];
                            double v;
                            if (r == 0) v = ref_kron_kernel_derivative_at_zero(&cases[c].ref, dx1, dx2);
                            else if (cases[c].ref.base == 1 && fabs(r) < 3 * h) continue; /* stencil over the kink */
                            else v = ref_kron_kernel_derivative_fd(&cases[c].ref, dx1, dx2, x1[i], x2[j], h);
                            g[cnt] = got[i * N2 + j], w[cnt++] = v;
                        }
                    char what[96];
                    snprintf(what, sizeof what, "kernel %d d^%d/dx d^%d/dx' %s", c, dx1, dx2,
                             dt == VKS_DTYPE_F64 ? "f64" : "f32");
                    /* f32 loses digits to cancellation in the higher derivatives. */
                    const int order = dx1 + dx2;
                    const double tol = dt == VKS_DTYPE_F64 ? (order == 0 ? 1e-12 : 1e-8) : 2e-5 * (1 + order);
                    vkt_assert_close(g, w, cnt, tol, what);
                    assert_true(cnt > N1 * N2 / 2);
                    free(got);
                }
    }
}

/* Symmetry facts a PDE user relies on: d2k/dxdx' is symmetric on one point set,
 * dk/dx' = -dk/dx, and the kernel of Matern-5/2 at r = 0 has the analytic curvature. */
static void test_kron_kernel_identities(void **state) {
    (void)state;
    if (!(vkt->info.features & VKS_FEATURE_FLOAT64)) skip();
    enum { N = 31 };
    double x[N];
    for (int i = 0; i < N; ++i) x[i] = 0.1 + 0.8 * i / (N - 1.0) + 0.01 * sin(i);
    kernel_case c;
    sm_case(&c, 1);
    double *dxx = eval_kernel(&c, VKS_DTYPE_F64, 1, 1, x, N, x, N);
    double *d10 = eval_kernel(&c, VKS_DTYPE_F64, 1, 0, x, N, x, N), *d01 = eval_kernel(&c, VKS_DTYPE_F64, 0, 1, x, N, x, N);
    double *k0 = eval_kernel(&c, VKS_DTYPE_F64, 0, 0, x, N, x, N);
    double t[N * N], neg[N * N];
    for (int i = 0; i < N; ++i)
        for (int j = 0; j < N; ++j) t[i * N + j] = dxx[j * N + i], neg[i * N + j] = -d10[i * N + j];
    vkt_assert_close(dxx, t, N * N, 1e-14, "d2k/dxdx' symmetric");
    vkt_assert_close(d01, neg, N * N, 1e-14, "dk/dx' = -dk/dx");
    for (int i = 0; i < N; ++i) assert_true(fabs(k0[i * N + i] - 1.0) < 1e-14); /* sum of w = 1 */
    free(dxx), free(d10), free(d01), free(k0);
}

/* ---- vks_kron_predict ---------------------------------------------------------------------- */

static void run_predict(int d, const int64_t *dims, int64_t points, int64_t k, vks_dtype dt, uint64_t seed) {
    vkt_rng rng = vkt_rng_seed(seed);
    int64_t n = 1;
    vks_buffer *cb[4];
    vks_tensor ct[4];
    const vks_tensor *cp[4];
    double *ch[4];
    for (int t = 0; t < d; ++t) {
        n *= dims[t];
        ch[t] = vkt_random(&rng, (size_t)(points * dims[t]), -1, 1);
        vkt_round_to(dt, ch[t], (size_t)(points * dims[t]));
        cb[t] = vkt_upload(dt, ch[t], (size_t)(points * dims[t]));
        ct[t] = vks_tensor_2d(cb[t], dt, points, dims[t]);
        cp[t] = &ct[t];
    }
    const int64_t kk = k ? k : 1;
    double *a = vkt_random(&rng, (size_t)(n * kk), -1, 1);
    vkt_round_to(dt, a, (size_t)(n * kk));
    vks_buffer *A = vkt_upload(dt, a, (size_t)(n * kk)), *M = vkt_poisoned(dt, (size_t)(points * kk));
    vks_tensor ta = k ? vks_tensor_2d(A, dt, n, k) : vks_tensor_1d(A, dt, n);
    vks_tensor tm = k ? vks_tensor_2d(M, dt, points, k) : vks_tensor_1d(M, dt, points);
    VKT_OK(vks_kron_predict(vkt->ctx, d, cp, &ta, &tm));
    double *got = vkt_download(M, dt, 0, (size_t)(points * kk));
    double *want = calloc((size_t)(points * kk), sizeof *want);
    for (int64_t p = 0; p < points; ++p)
        for (int64_t e = 0; e < n; ++e) {
            double w = 1;
            int64_t rest = e;
            for (int t = d - 1; t >= 0; --t) w *= ch[t][p * dims[t] + rest % dims[t]], rest /= dims[t];
            for (int64_t r = 0; r < kk; ++r) want[p * kk + r] += w * a[e * kk + r];
        }
    vkt_assert_close(got, want, (size_t)(points * kk), vkt_tol(dt) * (dt == VKS_DTYPE_F64 ? 10 : 2) * sqrt((double)n) / 4,
                     "kron_predict");
    free(got), free(want), free(a);
    for (int t = 0; t < d; ++t) free(ch[t]), vks_buffer_destroy(cb[t]);
    vks_buffer_destroy(A), vks_buffer_destroy(M);
}

static void test_kron_predict_points(void **state) {
    (void)state;
    const int64_t d1[] = {41}, d2[] = {13, 17}, d3[] = {6, 7, 5}, d4[] = {3, 4, 2, 5};
    run_predict(1, d1, 33, 0, VKS_DTYPE_F32, 80);
    run_predict(2, d2, 57, 0, VKS_DTYPE_F32, 81);
    run_predict(3, d3, 29, 3, VKS_DTYPE_F32, 82);
    run_predict(2, d2, 1, 2, VKS_DTYPE_F32, 83);
    if (vkt->info.features & VKS_FEATURE_FLOAT64) run_predict(4, d4, 45, 2, VKS_DTYPE_F64, 84);
}

/* ---- errors -------------------------------------------------------------------------------- */

static void test_kron_errors(void **state) {
    (void)state;
    vks_context *ctx = vkt->ctx;
    const vks_dtype f32 = VKS_DTYPE_F32;
    vks_buffer *A = vkt_poisoned(f32, 64), *B = vkt_poisoned(f32, 64), *X = vkt_poisoned(f32, 64);
    vks_buffer *Y = vkt_poisoned(f32, 64), *I = vkt_poisoned(VKS_DTYPE_I32, 64);
    vks_tensor a = vks_tensor_2d(A, f32, 4, 4), b = vks_tensor_2d(B, f32, 3, 3);
    vks_tensor x = vks_tensor_1d(X, f32, 12), y = vks_tensor_1d(Y, f32, 12);
    const vks_tensor *fs[2] = {&a, &b};

    VKT_FAILS(vks_kron_matmul(NULL, 2, fs, 0, 1, &x, 0, &y), VKS_ERROR_INVALID_ARGUMENT, "ctx is NULL");
    VKT_FAILS(vks_kron_matmul(ctx, 0, fs, 0, 1, &x, 0, &y), VKS_ERROR_INVALID_ARGUMENT, "d = 0, expected 1..4");
    VKT_FAILS(vks_kron_matmul(ctx, 5, fs, 0, 1, &x, 0, &y), VKS_ERROR_INVALID_ARGUMENT, "d = 5");
    VKT_FAILS(vks_kron_matmul(ctx, 2, NULL, 0, 1, &x, 0, &y), VKS_ERROR_INVALID_ARGUMENT, "factors is NULL");
    VKT_FAILS(vks_kron_matmul(ctx, 2, fs, 3, 1, &x, 0, &y), VKS_ERROR_INVALID_ARGUMENT, "trans = 3");
    const vks_tensor *fnull[2] = {&a, NULL};
    VKT_FAILS(vks_kron_matmul(ctx, 2, fnull, 0, 1, &x, 0, &y), VKS_ERROR_INVALID_ARGUMENT, "factors[1] is NULL");
    vks_tensor bad = vks_tensor_1d(X, f32, 13);
    VKT_FAILS(vks_kron_matmul(ctx, 2, fs, 0, 1, &bad, 0, &y), VKS_ERROR_SHAPE_MISMATCH,
              "x has 13 rows, expected 12 (one per grid point)");
    bad = vks_tensor_2d(Y, f32, 12, 2);
    vks_tensor x2 = vks_tensor_2d(X, f32, 12, 3);
    VKT_FAILS(vks_kron_matmul(ctx, 2, fs, 0, 1, &x2, 0, &bad), VKS_ERROR_SHAPE_MISMATCH,
              "y has 2 columns, expected 3 (right-hand sides)");
    bad = (vks_tensor){X, 0, f32, 2, {12, 2}, {3, 1}};
    vks_tensor y2 = vks_tensor_2d(Y, f32, 12, 2);
    VKT_FAILS(vks_kron_matmul(ctx, 2, fs, 0, 1, &bad, 0, &y2), VKS_ERROR_UNSUPPORTED,
              "x has strides (3, 1); expected (2, 1) (row-major, GPyTorch's layout) or (1, 12)");
    bad = vks_tensor_1d(X, VKS_DTYPE_F16, 12);
    VKT_FAILS(vks_kron_matmul(ctx, 2, fs, 0, 1, &bad, 0, &y), VKS_ERROR_DTYPE_MISMATCH, "x has dtype f16, expected f32");
    vks_tensor ia = vks_tensor_2d(I, VKS_DTYPE_I32, 4, 4);
    const vks_tensor *fi[1] = {&ia};
    VKT_FAILS(vks_kron_matmul(ctx, 1, fi, 0, 1, &x, 0, &y), VKS_ERROR_UNSUPPORTED, "dtype i32; expected f32 or f64");
    vks_tensor a3 = vks_tensor_3d(A, f32, 1, 4, 4);
    const vks_tensor *f3[2] = {&a3, &b};
    VKT_FAILS(vks_kron_matmul(ctx, 2, f3, 0, 1, &x, 0, &y), VKS_ERROR_SHAPE_MISMATCH, "expected rank 2");
    vks_tensor a0 = vks_tensor_2d(A, f32, 0, 4);
    const vks_tensor *f0[2] = {&a0, &b};
    VKT_FAILS(vks_kron_matmul(ctx, 2, f0, 0, 1, &x, 0, &y), VKS_ERROR_INVALID_ARGUMENT, "is 0 x 4; expected at least 1 x 1");
    vks_tensor alias = vks_tensor_1d(X, f32, 12);
    VKT_FAILS(vks_kron_matmul(ctx, 2, fs, 0, 1, &x, 0, &alias), VKS_ERROR_INVALID_ARGUMENT, "y overlaps x");
    vks_tensor on_a = vks_tensor_1d(A, f32, 12);
    VKT_FAILS(vks_kron_matmul(ctx, 2, fs, 0, 1, &x, 0, &on_a), VKS_ERROR_INVALID_ARGUMENT, "y overlaps factors[0]");
    bad = vks_tensor_2d(A, f32, 9, 9);
    const vks_tensor *fbig[1] = {&bad};
    VKT_FAILS(vks_kron_matmul(ctx, 1, fbig, 0, 1, &x, 0, &y), VKS_ERROR_OUT_OF_RANGE, "but its buffer has 256 bytes");

    /* Kernel matrices. */
    vks_tensor p1 = vks_tensor_1d(X, f32, 4), p2 = vks_tensor_1d(Y, f32, 3), kk = vks_tensor_2d(A, f32, 4, 3);
    vks_kernel_desc kd = VKS_KERNEL_DESC_INIT;
    VKT_FAILS(vks_kron_kernel_matrix(ctx, NULL, &p1, &p2, &kk), VKS_ERROR_INVALID_ARGUMENT, "desc is NULL");
    kd.struct_size = 4;
    VKT_FAILS(vks_kron_kernel_matrix(ctx, &kd, &p1, &p2, &kk), VKS_ERROR_INVALID_ARGUMENT, "desc->struct_size = 4");
    kd = (vks_kernel_desc)VKS_KERNEL_DESC_INIT;
    kd.lengthscale = 0;
    VKT_FAILS(vks_kron_kernel_matrix(ctx, &kd, &p1, &p2, &kk), VKS_ERROR_INVALID_ARGUMENT,
              "desc->lengthscale = 0, expected a finite value > 0");
    kd.lengthscale = 1, kd.dx1 = 3;
    VKT_FAILS(vks_kron_kernel_matrix(ctx, &kd, &p1, &p2, &kk), VKS_ERROR_INVALID_ARGUMENT, "vks_kron_kernel_matrix: desc->dx1 = 3, desc->dx2 = 0; expected 0..2 each");
    kd.dx1 = 0, kd.kind = (vks_kernel_kind)7;
    VKT_FAILS(vks_kron_kernel_matrix(ctx, &kd, &p1, &p2, &kk), VKS_ERROR_INVALID_ARGUMENT, "desc->kind = 7");
    kd.kind = VKS_KERNEL_SPECTRAL_MIXTURE, kd.num_mixtures = 0;
    VKT_FAILS(vks_kron_kernel_matrix(ctx, &kd, &p1, &p2, &kk), VKS_ERROR_INVALID_ARGUMENT, "num_mixtures = 0, expected 1..1024");
    double w[2] = {1, 1}, rho[2] = {1, -2}, f[2] = {0, 1};
    kd.num_mixtures = 2, kd.sm_weights = w, kd.sm_rhos = rho;
    VKT_FAILS(vks_kron_kernel_matrix(ctx, &kd, &p1, &p2, &kk), VKS_ERROR_INVALID_ARGUMENT, "desc->sm_freqs is NULL");
    kd.sm_freqs = f;
    VKT_FAILS(vks_kron_kernel_matrix(ctx, &kd, &p1, &p2, &kk), VKS_ERROR_INVALID_ARGUMENT, "sm_rhos[1] = -2");
    rho[1] = 2, kd.sm_base = (vks_sm_base)5;
    VKT_FAILS(vks_kron_kernel_matrix(ctx, &kd, &p1, &p2, &kk), VKS_ERROR_INVALID_ARGUMENT, "sm_base = 5");
    kd.sm_base = VKS_SM_BASE_SE;
    bad = vks_tensor_2d(A, f32, 3, 4);
    VKT_FAILS(vks_kron_kernel_matrix(ctx, &kd, &p1, &p2, &bad), VKS_ERROR_SHAPE_MISMATCH,
              "k is 3 x 4, expected 4 x 3 (x1's by x2's points)");
    bad = vks_tensor_1d(Y, VKS_DTYPE_F64, 3);
    VKT_FAILS(vks_kron_kernel_matrix(ctx, &kd, &p1, &bad, &kk), VKS_ERROR_DTYPE_MISMATCH, "x2 has dtype f64, expected f32");
    bad = vks_tensor_2d(X, f32, 4, 3);
    VKT_FAILS(vks_kron_kernel_matrix(ctx, &kd, &p1, &p2, &bad), VKS_ERROR_INVALID_ARGUMENT, "k overlaps x1");
    bad = kk, bad.strides[0] = 0; /* every row of the output at the same place */
    VKT_FAILS(vks_kron_kernel_matrix(ctx, &kd, &p1, &p2, &bad), VKS_ERROR_INVALID_ARGUMENT,
              "vks_kron_kernel_matrix: k's rows overlap (strides (0, 1) for 4 x 3)");
    bad = kk, bad.strides[0] = 1, bad.strides[1] = 2; /* column-major, columns 2 apart for 4 rows */
    VKT_FAILS(vks_kron_kernel_matrix(ctx, &kd, &p1, &p2, &bad), VKS_ERROR_INVALID_ARGUMENT,
              "vks_kron_kernel_matrix: k's rows overlap (strides (1, 2) for 4 x 3)");

    /* Predictions. */
    vks_tensor c1 = vks_tensor_2d(A, f32, 5, 4), c2 = vks_tensor_2d(B, f32, 6, 3), m = vks_tensor_1d(Y, f32, 5);
    const vks_tensor *cs[2] = {&c1, &c2};
    VKT_FAILS(vks_kron_predict(ctx, 2, cs, &x, &m), VKS_ERROR_SHAPE_MISMATCH, "cross[1] has 6 rows but cross[0] has 5");
    c2 = vks_tensor_2d(B, f32, 5, 3);
    VKT_FAILS(vks_kron_predict(ctx, 2, NULL, &x, &m), VKS_ERROR_INVALID_ARGUMENT, "cross is NULL");
    bad = vks_tensor_1d(Y, f32, 6);
    VKT_FAILS(vks_kron_predict(ctx, 2, cs, &x, &bad), VKS_ERROR_SHAPE_MISMATCH, "mean has 6 rows, expected 5");
    vks_tensor xg = (vks_tensor){X, 0, f32, 2, {12, 2}, {1, 12}};
    vks_tensor mg = vks_tensor_2d(Y, f32, 5, 2);
    VKT_FAILS(vks_kron_predict(ctx, 2, cs, &xg, &mg), VKS_ERROR_UNSUPPORTED, "must be row-major (N, k)");
    bad = vks_tensor_1d(X, f32, 5);
    vks_tensor xa = vks_tensor_1d(X, f32, 12);
    VKT_FAILS(vks_kron_predict(ctx, 2, cs, &xa, &bad), VKS_ERROR_INVALID_ARGUMENT, "mean overlaps alpha");

    /* Nothing of the failed calls was recorded: the poisoned outputs are still NaN. */
    double *got = vkt_download(Y, f32, 0, 64);
    for (int i = 0; i < 64; ++i) assert_true(isnan(got[i]));
    free(got);
    vks_buffer_destroy(A), vks_buffer_destroy(B), vks_buffer_destroy(X), vks_buffer_destroy(Y), vks_buffer_destroy(I);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VKT_TEST(test_kron_matmul_dims),
        VKT_TEST(test_kron_matmul_rectangular_transposed),
        VKT_TEST(test_kron_matmul_rhs_layouts),
        VKT_TEST(test_kron_matmul_strided_factors),
        VKT_TEST(test_kron_matmul_f64),
        VKT_TEST(test_kron_matmul_size_one),
        VKT_TEST(test_kron_matmul_large),
        VKT_TEST(test_kron_matmul_tall_factors),
        VKT_TEST(test_kron_kernel_values),
        VKT_TEST(test_kron_kernel_many_points),
        VKT_TEST(test_kron_kernel_many_unsynchronized),
        VKT_TEST(test_kron_kernel_derivatives),
        VKT_TEST(test_kron_kernel_identities),
        VKT_TEST(test_kron_predict_points),
        VKT_TEST(test_kron_errors),
    };
    int failures = VKT_RUN(tests);
    /* On lavapipe, once more through the kernels GPUs run (VKS_CONTEXT_GPU_KERNELS). */
    if (vkt_device_is_cpu())
        failures += cmocka_run_group_tests_name("kron with GPU kernels", tests, vkt_gpu_kernels_setup, vkt_group_teardown);
    return failures;
}
