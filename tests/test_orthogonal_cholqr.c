/* CholeskyQR2 / shifted CholeskyQR3 against a float64 QR (Gram-Schmidt twice, R = Q^T A):
 * Q, R, ||Q^T Q - I|| (also as the call reports it), the residual ||A - Q R||; ragged
 * tall shapes, batches, kappa up to 1e6 (f32 AUTO falls back to the shifted variant; f64,
 * or f32 iterated in f64, handle 1e6), rank deficiency and NaN as errors, in place, the info
 * tensor, every argument error. */
#include <math.h>
#include <string.h>

#include "reference_orthogonal.h"
#include "vks_test.h"

static bool have(vks_dtype dt) { return dt != VKS_DTYPE_F64 || (vkt->info.features & VKS_FEATURE_FLOAT64); }

/* Thin QR by modified Gram-Schmidt applied twice, R = Q^T A; diag(R) > 0. */
static void ref_qr(int64_t m, int64_t n, const double *a, double *q, double *r) {
    memcpy(q, a, sizeof(double) * m * n);
    ref_orthonormalize_columns(m, n, q);
    ref_matmul(n, n, m, q, 1, a, 0, r);
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < i; ++j) r[i * n + j] = 0;
}

typedef struct cq_case {
    vks_dtype dt;
    int64_t m, n, batch;
    double kappa; /* 0: uniform random entries */
    vks_cholqr_mode mode;
    uint32_t flags;
    bool in_place, want_r, use_info;
    int expect_shifted; /* -1: either */
} cq_case;

static void run_cholqr(const cq_case *c, uint64_t seed) {
    if (!have(c->dt) || ((c->flags & VKS_CHOLQR_F64_WORK) && !have(VKS_DTYPE_F64))) return;
    vkt_rng rng = vkt_rng_seed(seed);
    const int64_t m = c->m, n = c->n, nb = c->batch, mn = m * n;
    double *a = calloc(nb * mn, sizeof *a);
    for (int64_t z = 0; z < nb; ++z) {
        if (c->kappa > 0) {
            double *s = calloc(n, sizeof *s);
            for (int64_t k = 0; k < n; ++k) s[k] = pow(1.0 / c->kappa, n > 1 ? (double)k / (double)(n - 1) : 0.0);
            ref_matrix_with_singular_values(&rng, m, n, s, a + z * mn);
            free(s);
        } else {
            vkt_fill_uniform(&rng, a + z * mn, mn, -1, 1);
        }
    }
    vkt_round_to(c->dt, a, nb * mn);
    vks_buffer *A = vkt_upload(c->dt, a, nb * mn), *Q = c->in_place ? A : vkt_poisoned(c->dt, nb * mn);
    vks_buffer *R = vkt_poisoned(c->dt, nb * n * n), *I = vkt_poisoned(VKS_DTYPE_I32, nb);
    vks_tensor ta = vks_tensor_3d(A, c->dt, nb, m, n), tq = vks_tensor_3d(Q, c->dt, nb, m, n);
    vks_tensor tr = vks_tensor_3d(R, c->dt, nb, n, n), ti = vks_tensor_1d(I, VKS_DTYPE_I32, nb);
    vks_cholqr_options o = VKS_CHOLQR_OPTIONS_INIT;
    double orth = -1;
    int32_t shifted = -1;
    o.mode = c->mode, o.flags = c->flags, o.shifted = &shifted;
    if (c->use_info) o.info = &ti;
    else o.orth_error = &orth;
    VKT_OK(vks_cholqr(vkt->ctx, &ta, &tq, c->want_r ? &tr : NULL, &o));
    if (c->expect_shifted >= 0) assert_int_equal(shifted, c->expect_shifted);
    double *q = vkt_download(Q, c->dt, 0, nb * mn), *r = vkt_download(R, c->dt, 0, nb * n * n);
    double *qw = calloc(mn, sizeof *qw), *rw = calloc(n * n, sizeof *rw), *qr = calloc(mn, sizeof *qr);
    const bool f32_out = c->dt == VKS_DTYPE_F32;
    const double u = f32_out ? 0x1p-24 : 0x1p-53;
    /* Orthogonality and residual: working precision (f32 iterated in f64 ends in f32's rounding). */
    const double tol_orth = 8.0 * (double)(n + 2) * u * sqrt((double)m) + (c->kappa > 1e5 && !f32_out ? 1e-12 : 0);
    for (int64_t z = 0; z < nb; ++z) {
        const double *az = a + z * mn, *qz = q + z * mn, *rz = r + z * n * n;
        char what[160];
        snprintf(what, sizeof what, "cholqr %s %lldx%lld matrix %lld kappa %g mode %d flags %u", f32_out ? "f32" : "f64",
                 (long long)m, (long long)n, (long long)z, c->kappa, (int)c->mode, c->flags);
        const double oe = ref_orth_error(m, n, qz);
        if (!(oe <= tol_orth)) fail_msg("%s: ||Q^T Q - I||_F = %.3g > %.3g", what, oe, tol_orth);
        if (!c->use_info && !(orth >= 0 && orth <= 4 * tol_orth))
            fail_msg("%s: reported ||Q^T Q - I|| = %.3g (measured %.3g)", what, orth, oe);
        if (!c->want_r) continue;
        for (int64_t i = 0; i < n; ++i) {
            if (!(rz[i * n + i] > 0)) fail_msg("%s: r(%lld, %lld) = %g, expected > 0", what, (long long)i, (long long)i, rz[i * n + i]);
            for (int64_t j = 0; j < i; ++j)
                if (rz[i * n + j] != 0) fail_msg("%s: r(%lld, %lld) = %g below the diagonal", what, (long long)i, (long long)j, rz[i * n + j]);
        }
        ref_matmul(m, n, n, qz, 0, rz, 0, qr);
        double res = 0;
        for (int64_t i = 0; i < mn; ++i) res = fmax(res, fabs(qr[i] - az[i]));
        double amax = 0;
        for (int64_t i = 0; i < mn; ++i) amax = fmax(amax, fabs(az[i]));
        if (!(res <= 16.0 * (double)(n + 2) * u * amax)) fail_msg("%s: |A - Q R| = %.3g of max|A|", what, res / amax);
        if (c->kappa <= 100) { /* well conditioned: Q and R are those of the float64 QR */
            ref_qr(m, n, az, qw, rw);
            vkt_assert_close(qz, qw, mn, 64.0 * (double)(n + 2) * u, what);
            vkt_assert_close(rz, rw, n * n, 64.0 * (double)(n + 2) * u, what);
        }
    }
    if (c->use_info) {
        double *info = vkt_download(I, VKS_DTYPE_I32, 0, nb);
        for (int64_t z = 0; z < nb; ++z) assert_true(info[z] == -1);
        free(info);
    }
    free(a), free(q), free(r), free(qw), free(rw), free(qr);
    vks_buffer_destroy(A), vks_buffer_destroy(R), vks_buffer_destroy(I);
    if (!c->in_place) vks_buffer_destroy(Q);
}

static void test_orthogonal_cholqr_shapes(void **state) {
    (void)state;
    static const int64_t shapes[][3] = {{1, 1, 1}, {5, 1, 2}, {40, 7, 1}, {129, 33, 2}, {300, 20, 3}, {64, 64, 1}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; ++s) {
        cq_case c = {VKS_DTYPE_F32, shapes[s][0], shapes[s][1], shapes[s][2], 0, VKS_CHOLQR_AUTO, 0, false, true, false, -1};
        run_cholqr(&c, 10 + s);
    }
    cq_case big = {VKS_DTYPE_F32, 1000, 64, 1, 10, VKS_CHOLQR_2, 0, false, true, false, 0};
    run_cholqr(&big, 20);
    cq_case f64 = {VKS_DTYPE_F64, 200, 30, 2, 0, VKS_CHOLQR_AUTO, 0, false, true, false, 0};
    run_cholqr(&f64, 21);
}

static void test_orthogonal_cholqr_conditioning(void **state) {
    (void)state;
    /* f32, kappa 1e4: beyond CholeskyQR2 (~4e3): AUTO escalates to f64 working precision where
     * the device has it (there CholeskyQR2 suffices), else takes the shifted variant. */
    const int f64_dev = have(VKS_DTYPE_F64);
    cq_case c = {VKS_DTYPE_F32, 400, 12, 1, 1e4, VKS_CHOLQR_AUTO, 0, false, true, false, f64_dev ? 0 : 1};
    run_cholqr(&c, 30);
    /* The case: 2003 x 37 in f32 at kappa 3e4 and 1e5 (shifted f32 fails from ~3e4; numpy's
     * f32 shifted CholeskyQR3 reaches 1e5). AUTO must reach them (through f64 where the device has
     * it; without shaderFloat64 only 3e4 is within reach, and 1e5 is not run). */
    cq_case hard = {VKS_DTYPE_F32, 2003, 37, 1, 3e4, VKS_CHOLQR_AUTO, 0, false, true, false, -1};
    run_cholqr(&hard, 35);
    hard.kappa = 1e5, hard.in_place = true;
    if (f64_dev) run_cholqr(&hard, 36);
    c.kappa = 10, c.expect_shifted = 0; /* and not when it need not */
    run_cholqr(&c, 31);
    cq_case s3 = {VKS_DTYPE_F32, 300, 10, 2, 1e3, VKS_CHOLQR_SHIFTED_3, 0, false, true, false, 1};
    run_cholqr(&s3, 32);
    /* kappa 1e6: f64 with plain CholeskyQR2; f32 iterated in f64. */
    cq_case f64 = {VKS_DTYPE_F64, 300, 16, 1, 1e6, VKS_CHOLQR_2, 0, false, true, false, 0};
    run_cholqr(&f64, 33);
    cq_case w64 = {VKS_DTYPE_F32, 300, 16, 1, 1e6, VKS_CHOLQR_AUTO, VKS_CHOLQR_F64_WORK, false, true, false, 0};
    run_cholqr(&w64, 34);
}

static void test_orthogonal_cholqr_in_place_and_info(void **state) {
    (void)state;
    cq_case c = {VKS_DTYPE_F32, 90, 17, 2, 0, VKS_CHOLQR_AUTO, 0, true, false, false, 0};
    run_cholqr(&c, 40);
    c.mode = VKS_CHOLQR_2, c.in_place = false, c.want_r = true, c.use_info = true;
    run_cholqr(&c, 41);
    c.mode = VKS_CHOLQR_SHIFTED_3, c.expect_shifted = 1, c.in_place = true;
    run_cholqr(&c, 42);
}

static void test_orthogonal_cholqr_failures(void **state) {
    (void)state;
    vkt_rng rng = vkt_rng_seed(50);
    const int64_t m = 60, n = 8;
    double *a = vkt_random(&rng, 2 * m * n, -1, 1);
    for (int64_t i = 0; i < m; ++i) a[m * n + i * n + 5] = 0; /* matrix 1: a zero column */
    vks_buffer *A = vkt_upload(VKS_DTYPE_F32, a, 2 * m * n), *Q = vkt_poisoned(VKS_DTYPE_F32, 2 * m * n);
    vks_tensor ta = vks_tensor_3d(A, VKS_DTYPE_F32, 2, m, n), tq = vks_tensor_3d(Q, VKS_DTYPE_F32, 2, m, n);
    VKT_FAILS(vks_cholqr(vkt->ctx, &ta, &tq, NULL, NULL), VKS_ERROR_NOT_POSITIVE_DEFINITE,
              "a (matrix 1 of the batch) is numerically rank-deficient");
    vks_cholqr_options o = VKS_CHOLQR_OPTIONS_INIT;
    o.mode = VKS_CHOLQR_2;
    VKT_FAILS(vks_cholqr(vkt->ctx, &ta, &tq, NULL, &o), VKS_ERROR_NOT_POSITIVE_DEFINITE, "try VKS_CHOLQR_SHIFTED_3 or AUTO");
    a[m * n + 7] = 0, a[3] = NAN;
    vks_buffer *N = vkt_upload(VKS_DTYPE_F32, a, 2 * m * n);
    vks_tensor tn = vks_tensor_3d(N, VKS_DTYPE_F32, 2, m, n);
    VKT_FAILS(vks_cholqr(vkt->ctx, &tn, &tq, NULL, NULL), VKS_ERROR_NON_FINITE, "a (matrix 0 of the batch) holds NaN or Inf");
    free(a);
    vks_buffer_destroy(A), vks_buffer_destroy(Q), vks_buffer_destroy(N);
}

static void test_orthogonal_cholqr_errors(void **state) {
    (void)state;
    vks_context *ctx = vkt->ctx;
    vks_buffer *A = vkt_poisoned(VKS_DTYPE_F32, 64), *Q = vkt_poisoned(VKS_DTYPE_F32, 64), *R = vkt_poisoned(VKS_DTYPE_F32, 64);
    vks_tensor a = vks_tensor_2d(A, VKS_DTYPE_F32, 6, 4), q = vks_tensor_2d(Q, VKS_DTYPE_F32, 6, 4), r = vks_tensor_2d(R, VKS_DTYPE_F32, 4, 4);
    VKT_FAILS(vks_cholqr(NULL, &a, &q, &r, NULL), VKS_ERROR_INVALID_ARGUMENT, "ctx is NULL");
    VKT_FAILS(vks_cholqr(ctx, NULL, &q, &r, NULL), VKS_ERROR_INVALID_ARGUMENT, "vks_cholqr: a is NULL");
    vks_tensor qrow = q, rrow = r;
    qrow.strides[0] = 0, rrow.strides[0] = 3;
    VKT_FAILS(vks_cholqr(ctx, &a, &qrow, &r, NULL), VKS_ERROR_INVALID_ARGUMENT,
              "vks_cholqr: q's rows overlap (strides (0, 1) for 6 x 4)");
    VKT_FAILS(vks_cholqr(ctx, &a, &q, &rrow, NULL), VKS_ERROR_INVALID_ARGUMENT,
              "vks_cholqr: r's rows overlap (strides (3, 1) for 4 x 4)");
    vks_tensor wide = vks_tensor_2d(A, VKS_DTYPE_F32, 4, 6), qw = vks_tensor_2d(Q, VKS_DTYPE_F32, 4, 6);
    VKT_FAILS(vks_cholqr(ctx, &wide, &qw, NULL, NULL), VKS_ERROR_SHAPE_MISMATCH, "a is 4 x 6; expected a tall matrix");
    vks_tensor bad = vks_tensor_2d(Q, VKS_DTYPE_F32, 6, 3);
    VKT_FAILS(vks_cholqr(ctx, &a, &bad, &r, NULL), VKS_ERROR_SHAPE_MISMATCH, "q is (6, 3) x batch 1");
    bad = vks_tensor_2d(R, VKS_DTYPE_F32, 3, 3);
    VKT_FAILS(vks_cholqr(ctx, &a, &q, &bad, NULL), VKS_ERROR_SHAPE_MISMATCH, "r is (3, 3) x batch 1");
    bad = vks_tensor_2d(R, VKS_DTYPE_F64, 4, 4);
    VKT_FAILS(vks_cholqr(ctx, &a, &q, &bad, NULL), VKS_ERROR_DTYPE_MISMATCH, "a, q, r have dtypes f32, f32, f64");
    bad = a, bad.byte_offset = 4;
    VKT_FAILS(vks_cholqr(ctx, &a, &bad, NULL, NULL), VKS_ERROR_INVALID_ARGUMENT, "q overlaps a without being the same tensor");
    bad = vks_tensor_2d(Q, VKS_DTYPE_F32, 4, 4);
    VKT_FAILS(vks_cholqr(ctx, &a, &q, &bad, NULL), VKS_ERROR_INVALID_ARGUMENT, "r overlaps q in memory");
    vks_cholqr_options o = VKS_CHOLQR_OPTIONS_INIT;
    o.mode = (vks_cholqr_mode)5;
    VKT_FAILS(vks_cholqr(ctx, &a, &q, &r, &o), VKS_ERROR_INVALID_ARGUMENT, "options->mode = 5");
    o = (vks_cholqr_options)VKS_CHOLQR_OPTIONS_INIT;
    o.flags = 8;
    VKT_FAILS(vks_cholqr(ctx, &a, &q, &r, &o), VKS_ERROR_INVALID_ARGUMENT, "options->flags = 0x8");
    o = (vks_cholqr_options)VKS_CHOLQR_OPTIONS_INIT;
    o.struct_size = 0;
    VKT_FAILS(vks_cholqr(ctx, &a, &q, &r, &o), VKS_ERROR_INVALID_ARGUMENT, "options->struct_size = 0");
    /* info is written on the device: it may not share memory with a, q or r */
    o = (vks_cholqr_options)VKS_CHOLQR_OPTIONS_INIT;
    o.mode = VKS_CHOLQR_2;
    vks_tensor info = vks_tensor_1d(R, VKS_DTYPE_I32, 1);
    o.info = &info;
    VKT_FAILS(vks_cholqr(ctx, &a, &q, &r, &o), VKS_ERROR_INVALID_ARGUMENT, "vks_cholqr: options->info overlaps r in memory");
    info = vks_tensor_1d(Q, VKS_DTYPE_I32, 1);
    info.byte_offset = 8;
    VKT_FAILS(vks_cholqr(ctx, &a, &q, &r, &o), VKS_ERROR_INVALID_ARGUMENT, "vks_cholqr: options->info overlaps q in memory");
    info = vks_tensor_1d(A, VKS_DTYPE_I32, 1);
    VKT_FAILS(vks_cholqr(ctx, &a, &q, &r, &o), VKS_ERROR_INVALID_ARGUMENT, "vks_cholqr: options->info overlaps a in memory");
    double *got = vkt_download(Q, VKS_DTYPE_F32, 0, 24);
    for (int i = 0; i < 24; ++i) assert_true(isnan(got[i]));
    free(got);
    vks_buffer_destroy(A), vks_buffer_destroy(Q), vks_buffer_destroy(R);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VKT_TEST(test_orthogonal_cholqr_shapes),   VKT_TEST(test_orthogonal_cholqr_conditioning),
        VKT_TEST(test_orthogonal_cholqr_in_place_and_info), VKT_TEST(test_orthogonal_cholqr_failures),
        VKT_TEST(test_orthogonal_cholqr_errors),
    };
    int failures = VKT_RUN(tests);
    if (vkt_device_is_cpu()) {
        const struct CMUnitTest gpu[] = {VKT_TEST(test_orthogonal_cholqr_shapes), VKT_TEST(test_orthogonal_cholqr_conditioning)};
        failures += cmocka_run_group_tests_name("cholqr with GPU kernels", gpu, vkt_gpu_kernels_setup, vkt_group_teardown);
    }
    return failures;
}
