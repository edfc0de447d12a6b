/* The thin SVD against the float64 one-sided Jacobi oracle: singular values, orthonormal u
 * and vh (also with zero singular values: the completion), the reconstruction, and the
 * vectors themselves where the spectrum is separated; tall, wide, square, vectors, batches,
 * kappa 1e6 (f64), f32/f64, NaN input and the argument errors. */
#include <math.h>
#include <string.h>

#include "reference_orthogonal.h"
#include "vks_test.h"

static bool have(vks_dtype dt) { return dt != VKS_DTYPE_F64 || (vkt->info.features & VKS_FEATURE_FLOAT64); }

typedef struct svd_case {
    vks_dtype dt;
    int64_t m, n, batch;
    int spectrum; /* 0 random entries, 1 separated (1..k), 2 kappa 1e6, 3 rank-deficient,
                   * 4 rank 1: a[i][j] = (i + 1)(j + 2) / 10 */
    bool vectors;
} svd_case;

static void run_svd(const svd_case *c, uint64_t seed) {
    if (!have(c->dt)) return;
    vkt_rng rng = vkt_rng_seed(seed);
    const int64_t m = c->m, n = c->n, nb = c->batch, k = m < n ? m : n, mn = m * n;
    double *a = calloc(nb * mn, sizeof *a), *sv = calloc(k, sizeof *sv);
    for (int64_t z = 0; z < nb; ++z) {
        if (c->spectrum == 0) {
            vkt_fill_uniform(&rng, a + z * mn, mn, -1, 1);
            continue;
        }
        if (c->spectrum == 4) {
            for (int64_t i = 0; i < m; ++i)
                for (int64_t j = 0; j < n; ++j) a[z * mn + i * n + j] = (double)((i + 1) * (j + 2)) / 10.0;
            continue;
        }
        for (int64_t i = 0; i < k; ++i) {
            const double t = k > 1 ? (double)i / (double)(k - 1) : 0;
            sv[i] = c->spectrum == 1 ? (double)(k - i) : c->spectrum == 2 ? pow(1e-6, t) : (i < k / 2 ? 2.0 - t : 0.0);
        }
        ref_matrix_with_singular_values(&rng, m, n, sv, a + z * mn);
    }
    vkt_round_to(c->dt, a, nb * mn);
    vks_buffer *A = vkt_upload(c->dt, a, nb * mn), *U = vkt_poisoned(c->dt, nb * m * k);
    vks_buffer *S = vkt_poisoned(c->dt, nb * k), *VH = vkt_poisoned(c->dt, nb * k * n);
    vks_tensor ta = nb > 1 ? vks_tensor_3d(A, c->dt, nb, m, n) : vks_tensor_2d(A, c->dt, m, n);
    vks_tensor tu = nb > 1 ? vks_tensor_3d(U, c->dt, nb, m, k) : vks_tensor_2d(U, c->dt, m, k);
    vks_tensor ts = nb > 1 ? vks_tensor_2d(S, c->dt, nb, k) : vks_tensor_1d(S, c->dt, k);
    vks_tensor tv = nb > 1 ? vks_tensor_3d(VH, c->dt, nb, k, n) : vks_tensor_2d(VH, c->dt, k, n);
    VKT_OK(vks_svd(vkt->ctx, &ta, c->vectors ? &tu : NULL, &ts, c->vectors ? &tv : NULL));
    double *u = vkt_download(U, c->dt, 0, nb * m * k), *s = vkt_download(S, c->dt, 0, nb * k);
    double *vh = vkt_download(VH, c->dt, 0, nb * k * n);
    double *rs = calloc(k, sizeof *rs), *ru = calloc(m * k, sizeof *ru), *rv = calloc(n * k, sizeof *rv);
    double *rec = calloc(mn, sizeof *rec), *us = calloc(m * k, sizeof *us), *v = calloc(n * k, sizeof *v);
    const double uu = c->dt == VKS_DTYPE_F64 ? 0x1p-53 : 0x1p-24;
    /* Gram-based: kappa 1e6 leaves ~u kappa^2 / kappa-sized errors in the small singular
     * triplets (documented); everything else is at working precision. */
    const double tol = c->spectrum == 2 ? 1e-10 : 64.0 * sqrt((double)(m + n)) * uu;
    for (int64_t z = 0; z < nb; ++z) {
        const double *az = a + z * mn, *sz = s + z * k, *uz = u + z * m * k, *vz = vh + z * k * n;
        char what[128];
        snprintf(what, sizeof what, "svd %s %lldx%lld matrix %lld spectrum %d", c->dt == VKS_DTYPE_F64 ? "f64" : "f32",
                 (long long)m, (long long)n, (long long)z, c->spectrum);
        ref_svd(m, n, az, rs, ru, rv);
        for (int64_t i = 0; i < k; ++i) {
            if (i && sz[i] > sz[i - 1]) fail_msg("%s: s not descending at %lld", what, (long long)i);
            if (!(fabs(sz[i] - rs[i]) <= tol * rs[0])) fail_msg("%s: s[%lld] = %.9g, want %.9g", what, (long long)i, sz[i], rs[i]);
        }
        if (!c->vectors) continue;
        const double ou = ref_orth_error(m, k, uz);
        for (int64_t i = 0; i < k; ++i)
            for (int64_t j = 0; j < n; ++j) v[j * k + i] = vz[i * n + j];
        const double ov = ref_orth_error(n, k, v);
        if (!(ou <= tol)) fail_msg("%s: ||U^T U - I|| = %.3g > %.3g", what, ou, tol);
        if (!(ov <= tol)) fail_msg("%s: ||V^T V - I|| = %.3g > %.3g", what, ov, tol);
        for (int64_t i = 0; i < m; ++i)
            for (int64_t j = 0; j < k; ++j) us[i * k + j] = uz[i * k + j] * sz[j];
        ref_matmul(m, n, k, us, 0, vz, 0, rec);
        const double res = ref_max_diff(rec, az, mn);
        if (!(res <= tol * rs[0])) fail_msg("%s: |A - U S Vh| = %.3g of s_max", what, res / rs[0]);
        if (c->spectrum == 1) /* separated: the vectors are the oracle's up to a common sign */
            for (int64_t j = 0; j < k; ++j) {
                double du = 0, dv = 0;
                for (int64_t i = 0; i < m; ++i) du += uz[i * k + j] * ru[i * k + j];
                for (int64_t i = 0; i < n; ++i) dv += vz[j * n + i] * rv[i * k + j];
                if (!(fabs(fabs(du) - 1) <= tol * k && fabs(du - dv) <= 2 * tol * k))
                    fail_msg("%s: singular vectors %lld: <u, u_ref> = %.9f, <v, v_ref> = %.9f", what, (long long)j, du, dv);
            }
    }
    free(a), free(sv), free(u), free(s), free(vh), free(rs), free(ru), free(rv), free(rec), free(us), free(v);
    vks_buffer_destroy(A), vks_buffer_destroy(U), vks_buffer_destroy(S), vks_buffer_destroy(VH);
}

/* 32000 rows: the long side at CPU devices' bound (test_orthogonal_svd_errors: past it). */
static void test_orthogonal_svd_shapes(void **state) {
    (void)state;
    static const int64_t shapes[][3] = {{1, 1, 1}, {1, 5, 1}, {5, 1, 2}, {50, 10, 2}, {10, 50, 1}, {33, 33, 1}, {130, 40, 1}, {32000, 3, 1}};
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; ++i) {
        svd_case c = {VKS_DTYPE_F32, shapes[i][0], shapes[i][1], shapes[i][2], 0, true};
        run_svd(&c, 10 + i);
        c.spectrum = 1;
        run_svd(&c, 20 + i);
    }
    svd_case c = {VKS_DTYPE_F32, 70, 20, 1, 0, false}; /* singular values only */
    run_svd(&c, 30);
}

static void test_orthogonal_svd_spectra(void **state) {
    (void)state;
    svd_case c = {VKS_DTYPE_F32, 60, 16, 1, 3, true}; /* rank-deficient: u completed */
    run_svd(&c, 40);
    c.m = 16, c.n = 60;
    run_svd(&c, 41);
    c.m = c.n = 8; /* square, half the values 0 */
    run_svd(&c, 44);
    /* Rank 1, a[i][j] = (i + 1)(j + 2) / 10: u and vh completed to orthonormal bases around
     * the one nonzero triplet (these returned NOT_CONVERGED before the tridiagonal eigensolver). */
    static const int64_t r1[][3] = {{6, 4, 1}, {8, 8, 1}, {5, 5, 2}, {4, 6, 1}};
    for (int dti = 0; dti < 2; ++dti)
        for (size_t i = 0; i < sizeof r1 / sizeof *r1; ++i) {
            svd_case o = {dti ? VKS_DTYPE_F64 : VKS_DTYPE_F32, r1[i][0], r1[i][1], r1[i][2], 4, true};
            run_svd(&o, 45 + i);
        }
    c.dt = VKS_DTYPE_F64, c.spectrum = 2, c.m = 80, c.n = 20; /* kappa 1e6 */
    run_svd(&c, 42);
    c.spectrum = 1, c.batch = 2;
    run_svd(&c, 43);
}

static void test_orthogonal_svd_errors(void **state) {
    (void)state;
    vks_context *ctx = vkt->ctx;
    vks_buffer *A = vkt_poisoned(VKS_DTYPE_F32, 64), *O = vkt_poisoned(VKS_DTYPE_F32, 64);
    vks_tensor a = vks_tensor_2d(A, VKS_DTYPE_F32, 6, 4), s = vks_tensor_1d(O, VKS_DTYPE_F32, 4);
    vks_tensor u = vks_tensor_2d(O, VKS_DTYPE_F32, 6, 4), vh = vks_tensor_2d(O, VKS_DTYPE_F32, 4, 4);
    u.byte_offset = 16, vh.byte_offset = 16 + 96;
    VKT_FAILS(vks_svd(NULL, &a, &u, &s, &vh), VKS_ERROR_INVALID_ARGUMENT, "ctx is NULL");
    VKT_FAILS(vks_svd(ctx, &a, &u, NULL, &vh), VKS_ERROR_INVALID_ARGUMENT, "vks_svd: s is NULL");
    vks_tensor bad = vks_tensor_1d(O, VKS_DTYPE_F32, 6);
    VKT_FAILS(vks_svd(ctx, &a, &u, &bad, &vh), VKS_ERROR_SHAPE_MISMATCH, "s has rank 1 and 6 values per matrix");
    bad = s, bad.strides[0] = 0; /* s is written: values on one element would race */
    VKT_FAILS(vks_svd(ctx, &a, &u, &bad, &vh), VKS_ERROR_INVALID_ARGUMENT,
              "vks_svd: s's values collide (strides (0) for 4 values)");
    bad = u, bad.shape[1] = 6;
    VKT_FAILS(vks_svd(ctx, &a, &bad, &s, &vh), VKS_ERROR_SHAPE_MISMATCH, "u is (6, 6) x batch 1; expected (6, 4)");
    bad = u, bad.strides[0] = 2;
    VKT_FAILS(vks_svd(ctx, &a, &bad, &s, &vh), VKS_ERROR_INVALID_ARGUMENT,
              "vks_svd: u's rows overlap (strides (2, 1) for 6 x 4)");
    bad = vh, bad.shape[0] = 3;
    VKT_FAILS(vks_svd(ctx, &a, &u, &s, &bad), VKS_ERROR_SHAPE_MISMATCH, "vh is (3, 4) x batch 1; expected (4, 4)");
    bad = vh, bad.dtype = VKS_DTYPE_F64, bad.byte_offset = 128;
    if (vkt->info.features & VKS_FEATURE_FLOAT64)
        VKT_FAILS(vks_svd(ctx, &a, &u, &s, &bad), VKS_ERROR_DTYPE_MISMATCH, "vh has dtype f64 but a has f32");
    bad = vks_tensor_2d(A, VKS_DTYPE_F32, 4, 4);
    bad.byte_offset = 8;
    VKT_FAILS(vks_svd(ctx, &a, &u, &s, &bad), VKS_ERROR_INVALID_ARGUMENT, "vh overlaps a in memory");
    bad = vh, bad.byte_offset = u.byte_offset;
    VKT_FAILS(vks_svd(ctx, &a, &u, &s, &bad), VKS_ERROR_INVALID_ARGUMENT, "vh overlaps u in memory");
    vks_tensor a16 = vks_tensor_2d(A, VKS_DTYPE_F16, 6, 4);
    VKT_FAILS(vks_svd(ctx, &a16, NULL, &s, NULL), VKS_ERROR_UNSUPPORTED, "a has dtype f16");
    /* CPU devices (lavapipe ends every loop of an invocation after 65535 iterations): the
     * column-norm kernel's two passes over the long side bound it; past that a clear refusal,
     * not a wrong s or a NOT_CONVERGED. */
    if (vkt->info.type == VKS_DEVICE_CPU) {
        vks_buffer *LA = NULL, *LS = NULL;
        VKT_OK(vks_buffer_create(ctx, 40000 * 2 * 4, &LA));
        VKT_OK(vks_buffer_create(ctx, 2 * 4, &LS));
        vks_tensor tla = vks_tensor_2d(LA, VKS_DTYPE_F32, 40000, 2), tls = vks_tensor_1d(LS, VKS_DTYPE_F32, 2);
        VKT_FAILS(vks_svd(ctx, &tla, NULL, &tls, NULL), VKS_ERROR_UNSUPPORTED,
                  "vks_svd: a is 40000 x 2; on CPU devices the long side must be at most 32000");
        tla = vks_tensor_2d(LA, VKS_DTYPE_F32, 2, 40000);
        VKT_FAILS(vks_svd(ctx, &tla, NULL, &tls, NULL), VKS_ERROR_UNSUPPORTED, "vks_svd: a is 2 x 40000");
        VKT_OK(vks_buffer_destroy(LA));
        VKT_OK(vks_buffer_destroy(LS));
    }
    /* NaN input */
    double x[24];
    for (int i = 0; i < 24; ++i) x[i] = i == 7 ? NAN : sin(i);
    vks_buffer *N = vkt_upload(VKS_DTYPE_F32, x, 24);
    vks_tensor tn = vks_tensor_2d(N, VKS_DTYPE_F32, 6, 4);
    VKT_FAILS(vks_svd(ctx, &tn, &u, &s, &vh), VKS_ERROR_NON_FINITE, "a (matrix 0 of the batch) holds NaN or Inf");
    vks_buffer_destroy(A), vks_buffer_destroy(O), vks_buffer_destroy(N);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VKT_TEST(test_orthogonal_svd_shapes),
        VKT_TEST(test_orthogonal_svd_spectra),
        VKT_TEST(test_orthogonal_svd_errors),
    };
    return VKT_RUN(tests);
}
