/* Batched Cholesky and triangular solves against the float64 oracles (reference_orthogonal.c):
 * ragged sizes around the block size, batches, f32 and f64, in place, strided views, the
 * not-positive-definite and NaN paths (status, message, no NaN in the output, the info
 * tensor), and every argument error. */
#include <math.h>
#include <string.h>

#include "reference_orthogonal.h"
#include "vks_test.h"

static double unit_roundoff(vks_dtype dt) { return dt == VKS_DTYPE_F64 ? 0x1p-53 : 0x1p-24; }

static bool have(vks_dtype dt) { return dt != VKS_DTYPE_F64 || (vkt->info.features & VKS_FEATURE_FLOAT64); }

/* A well-conditioned SPD matrix: B B^T / n + I (eigenvalues in [1, ~5]). */
static void random_spd(vkt_rng *rng, int64_t n, double *a) {
    double *b = vkt_random(rng, (size_t)(n * n), -1, 1);
    ref_matmul(n, n, n, b, 0, b, 1, a);
    for (int64_t i = 0; i < n * n; ++i) a[i] /= (double)n;
    for (int64_t i = 0; i < n; ++i) a[i * n + i] += 1.0;
    free(b);
}

/* Checks one factor against the oracle: entries, zeros above the diagonal, the residual. */
static void check_factor(vks_dtype dt, int64_t n, const double *a, const double *l, const char *what) {
    double *want = calloc((size_t)(n * n), sizeof *want), *llt = calloc((size_t)(n * n), sizeof *llt);
    assert_int_equal(ref_cholesky(n, a, want), -1);
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = i + 1; j < n; ++j)
            if (l[i * n + j] != 0) fail_msg("%s: l(%lld, %lld) = %g above the diagonal", what, (long long)i, (long long)j, l[i * n + j]);
    const double tol = 8.0 * (double)(n + 4) * unit_roundoff(dt);
    vkt_assert_close(l, want, (size_t)(n * n), tol, what);
    ref_matmul(n, n, n, l, 0, l, 1, llt);
    double sym[1];
    (void)sym;
    double res = 0, nrm = 0;
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j <= i; ++j) {
            res = fmax(res, fabs(llt[i * n + j] - a[i * n + j]));
            nrm = fmax(nrm, fabs(a[i * n + j]));
        }
    if (!(res <= tol * nrm)) fail_msg("%s: |l l^T - a| = %.3g > %.3g", what, res / nrm, tol);
    free(want), free(llt);
}

typedef struct chol_case {
    vks_dtype dt;
    int64_t n, batch;
    bool in_place, col_major;
} chol_case;

static void run_cholesky(const chol_case *c, uint64_t seed) {
    if (!have(c->dt)) return;
    vkt_rng rng = vkt_rng_seed(seed);
    const int64_t n = c->n, nb = c->batch, nn = n * n;
    double *a = calloc((size_t)(nb * nn), sizeof *a), *stored = calloc((size_t)(nb * nn), sizeof *stored);
    for (int64_t z = 0; z < nb; ++z) random_spd(&rng, n, a + z * nn);
    vkt_round_to(c->dt, a, (size_t)(nb * nn));
    /* The upper triangle is never read: poison it (in the logical matrix). */
    for (int64_t z = 0; z < nb; ++z)
        for (int64_t i = 0; i < n; ++i)
            for (int64_t j = 0; j < n; ++j) {
                double v = j > i ? NAN : a[z * nn + i * n + j];
                stored[z * nn + (c->col_major ? j * n + i : i * n + j)] = v;
            }
    vks_buffer *A = vkt_upload(c->dt, stored, (size_t)(nb * nn));
    vks_buffer *L = c->in_place ? A : vkt_poisoned(c->dt, (size_t)(nb * nn));
    vks_tensor ta = c->batch > 1 ? vks_tensor_3d(A, c->dt, nb, n, n) : vks_tensor_2d(A, c->dt, n, n);
    if (c->col_major) {
        int r = ta.ndim - 2;
        ta.strides[r] = 1, ta.strides[r + 1] = n;
    }
    vks_tensor tl = c->batch > 1 ? vks_tensor_3d(L, c->dt, nb, n, n) : vks_tensor_2d(L, c->dt, n, n);
    VKT_OK(vks_cholesky(vkt->ctx, &ta, c->in_place ? &ta : &tl));
    double *got = vkt_download(L, c->dt, 0, (size_t)(nb * nn));
    for (int64_t z = 0; z < nb; ++z) {
        char what[128];
        snprintf(what, sizeof what, "cholesky %s n=%lld matrix %lld%s%s", c->dt == VKS_DTYPE_F64 ? "f64" : "f32",
                 (long long)n, (long long)z, c->in_place ? " in place" : "", c->col_major ? " col-major a" : "");
        check_factor(c->dt, n, a + z * nn, got + z * nn, what);
    }
    free(a), free(stored), free(got);
    if (!c->in_place) VKT_OK(vks_buffer_destroy(L));
    VKT_OK(vks_buffer_destroy(A));
}

static void test_orthogonal_cholesky_f32(void **state) {
    (void)state;
    static const int64_t sizes[] = {1, 2, 5, 31, 32, 33, 64, 65, 97};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; ++i) {
        chol_case c = {VKS_DTYPE_F32, sizes[i], 2, false, false};
        run_cholesky(&c, 100 + i);
    }
    chol_case big = {VKS_DTYPE_F32, 256, 1, false, false};
    run_cholesky(&big, 120);
}

/* n = 2048 where it is fast (a GPU; skipped on lavapipe). */
static void test_orthogonal_cholesky_gpu_sizes(void **state) {
    (void)state;
    if (vkt->info.type == VKS_DEVICE_CPU) skip();
    chol_case c = {VKS_DTYPE_F32, 2048, 1, false, false};
    run_cholesky(&c, 130);
    c.dt = VKS_DTYPE_F64, c.n = 1500;
    run_cholesky(&c, 131);
}

static void test_orthogonal_cholesky_f64(void **state) {
    (void)state;
    static const int64_t sizes[] = {1, 7, 33, 70, 130};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; ++i) {
        chol_case c = {VKS_DTYPE_F64, sizes[i], 2, false, false};
        run_cholesky(&c, 200 + i);
    }
}

static void test_orthogonal_cholesky_in_place_and_views(void **state) {
    (void)state;
    chol_case c = {VKS_DTYPE_F32, 45, 3, true, false};
    run_cholesky(&c, 300);
    c.in_place = false, c.col_major = true;
    run_cholesky(&c, 301);
    c.dt = VKS_DTYPE_F64, c.n = 70, c.batch = 1, c.in_place = true, c.col_major = false;
    run_cholesky(&c, 302);
}

/* An SPD matrix whose leading minor of order p+1 is indefinite: pivot p is exactly -1. */
static void spd_failing_at(vkt_rng *rng, int64_t n, int64_t p, double *a) {
    random_spd(rng, n, a);
    if (p < 0) return;
    double *l = calloc((size_t)(n * n), sizeof *l);
    assert_int_equal(ref_cholesky(n, a, l), -1);
    a[p * n + p] -= l[p * n + p] * l[p * n + p] + 1.0;
    free(l);
}

static void run_not_pd(vks_dtype dt, int64_t n, int64_t fail_pivot, bool with_info, uint64_t seed) {
    if (!have(dt)) return;
    vkt_rng rng = vkt_rng_seed(seed);
    const int64_t nb = 3, nn = n * n;
    double *a = calloc((size_t)(nb * nn), sizeof *a);
    for (int64_t z = 0; z < nb; ++z) spd_failing_at(&rng, n, z == 1 ? fail_pivot : -1, a + z * nn);
    vkt_round_to(dt, a, (size_t)(nb * nn));
    vks_buffer *A = vkt_upload(dt, a, (size_t)(nb * nn)), *L = vkt_poisoned(dt, (size_t)(nb * nn));
    vks_buffer *I = vkt_poisoned(VKS_DTYPE_I32, (size_t)nb);
    vks_tensor ta = vks_tensor_3d(A, dt, nb, n, n), tl = vks_tensor_3d(L, dt, nb, n, n);
    vks_tensor ti = vks_tensor_1d(I, VKS_DTYPE_I32, nb);
    if (with_info) {
        vks_cholesky_options o = VKS_CHOLESKY_OPTIONS_INIT;
        o.info = &ti;
        VKT_OK(vks_cholesky_ex(vkt->ctx, &ta, &tl, &o));
        double *info = vkt_download(I, VKS_DTYPE_I32, 0, (size_t)nb);
        assert_true(info[0] == -1 && info[2] == -1);
        assert_true(info[1] == (double)fail_pivot);
        free(info);
    } else {
        char want[96];
        snprintf(want, sizeof want, "matrix 1 of the batch) is not positive definite: pivot %lld", (long long)fail_pivot);
        VKT_FAILS(vks_cholesky(vkt->ctx, &ta, &tl), VKS_ERROR_NOT_POSITIVE_DEFINITE, want);
    }
    double *got = vkt_download(L, dt, 0, (size_t)(nb * nn));
    check_factor(dt, n, a, got, "matrix 0 beside a failing one");
    check_factor(dt, n, a + 2 * nn, got + 2 * nn, "matrix 2 beside a failing one");
    /* The failing matrix: its first p columns as the oracle's, zeros after, no NaN. */
    double *want = calloc((size_t)nn, sizeof *want);
    assert_int_equal(ref_cholesky(n, a + nn, want), (int)fail_pivot);
    const double tol = 8.0 * (double)(n + 4) * unit_roundoff(dt);
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < n; ++j) {
            double g = got[nn + i * n + j];
            if (j >= fail_pivot || j > i) {
                if (g != 0) fail_msg("failed matrix: l(%lld, %lld) = %g, expected 0", (long long)i, (long long)j, g);
            } else if (!(fabs(g - want[i * n + j]) <= tol * 2)) {
                fail_msg("failed matrix: l(%lld, %lld) = %g, want %g", (long long)i, (long long)j, g, want[i * n + j]);
            }
        }
    free(a), free(got), free(want);
    vks_buffer_destroy(A), vks_buffer_destroy(L), vks_buffer_destroy(I);
}

static void test_orthogonal_cholesky_not_positive_definite(void **state) {
    (void)state;
    run_not_pd(VKS_DTYPE_F32, 9, 0, false, 400);
    run_not_pd(VKS_DTYPE_F32, 80, 3, false, 401);
    run_not_pd(VKS_DTYPE_F32, 80, 70, false, 402); /* in a later block */
    run_not_pd(VKS_DTYPE_F64, 50, 40, true, 403);
    run_not_pd(VKS_DTYPE_F32, 40, 33, true, 404);
}

/* A NaN at (row, col) of the lower triangle of matrix 1 of 2: status NON_FINITE, that l all
 * zeros, matrix 0 exact; with an info tensor -2 and no error. */
static void run_non_finite(vks_dtype dt, int64_t n, int64_t row, int64_t col, uint64_t seed) {
    if (!have(dt)) return;
    vkt_rng rng = vkt_rng_seed(seed);
    const int64_t nn = n * n;
    double *a = calloc(2 * nn, sizeof *a);
    random_spd(&rng, n, a);
    random_spd(&rng, n, a + nn);
    a[nn + row * n + col] = NAN; /* lower triangle of matrix 1 */
    vks_buffer *A = vkt_upload(dt, a, 2 * nn), *L = vkt_poisoned(dt, 2 * nn);
    vks_tensor ta = vks_tensor_3d(A, dt, 2, n, n), tl = vks_tensor_3d(L, dt, 2, n, n);
    VKT_FAILS(vks_cholesky(vkt->ctx, &ta, &tl), VKS_ERROR_NON_FINITE, "a (matrix 1 of the batch) holds NaN or Inf");
    double *got = vkt_download(L, dt, 0, 2 * nn);
    for (int64_t i = 0; i < nn; ++i) assert_true(got[nn + i] == 0.0);
    vkt_round_to(dt, a, nn);
    check_factor(dt, n, a, got, "matrix beside a NaN one");
    /* With an info tensor: -2, and no error returned. */
    vks_buffer *I = vkt_poisoned(VKS_DTYPE_I32, 2);
    vks_tensor ti = vks_tensor_1d(I, VKS_DTYPE_I32, 2);
    vks_cholesky_options o = VKS_CHOLESKY_OPTIONS_INIT;
    o.info = &ti;
    VKT_OK(vks_cholesky_ex(vkt->ctx, &ta, &tl, &o));
    double *info = vkt_download(I, VKS_DTYPE_I32, 0, 2);
    assert_true(info[0] == -1 && info[1] == -2);
    free(a), free(got), free(info);
    vks_buffer_destroy(A), vks_buffer_destroy(L), vks_buffer_destroy(I);
}

static void test_orthogonal_cholesky_non_finite(void **state) {
    (void)state;
    run_non_finite(VKS_DTYPE_F32, 40, 30, 2, 500);
    /* small matrices (the one-subgroup kernel): off the diagonal, on it, at the last pivot */
    run_non_finite(VKS_DTYPE_F32, 16, 9, 4, 501);
    run_non_finite(VKS_DTYPE_F64, 7, 3, 3, 502);
    run_non_finite(VKS_DTYPE_F32, 1, 0, 0, 503);
    run_non_finite(VKS_DTYPE_F64, 32, 31, 31, 504);
    /* the blocked path: in a panel (fused and separate solve), in a later diagonal block */
    run_non_finite(VKS_DTYPE_F32, 97, 80, 2, 505);
    run_non_finite(VKS_DTYPE_F64, 131, 70, 70, 506);
    run_non_finite(VKS_DTYPE_F32, 960, 900, 10, 507);
    run_non_finite(VKS_DTYPE_F64, 200, 199, 150, 508);
}

/* Batches of small matrices (n up to and past the diagonal block: the one-dispatch kernel and
 * the blocked path), batches of 1 and 64, f32 and f64, also in place and from a column-major a. */
static void test_orthogonal_cholesky_small_batches(void **state) {
    (void)state;
    static const int64_t sizes[] = {1, 2, 3, 7, 16, 31, 32, 33, 64, 65};
    static const int64_t batches[] = {1, 64};
    uint64_t seed = 600;
    for (int d = 0; d < 2; ++d)
        for (size_t i = 0; i < sizeof sizes / sizeof *sizes; ++i)
            for (size_t b = 0; b < 2; ++b) {
                chol_case c = {d ? VKS_DTYPE_F64 : VKS_DTYPE_F32, sizes[i], batches[b], false, false};
                run_cholesky(&c, seed++);
            }
    chol_case c = {VKS_DTYPE_F32, 13, 5, true, false};
    run_cholesky(&c, seed++);
    c = (chol_case){VKS_DTYPE_F64, 29, 4, false, true};
    run_cholesky(&c, seed++);
    /* not positive definite: first, middle and last pivot */
    run_not_pd(VKS_DTYPE_F32, 1, 0, false, 620);
    run_not_pd(VKS_DTYPE_F32, 16, 5, false, 621);
    run_not_pd(VKS_DTYPE_F64, 32, 31, true, 622);
    run_not_pd(VKS_DTYPE_F64, 3, 0, true, 623);
    run_not_pd(VKS_DTYPE_F32, 31, 17, true, 624);
}

/* The blocked path's diagonal steps (on lavapipe's kernels one subgroup factoring each block of
 * 64, the panel solved by that subgroup (up to 104 rows below the block), by a workgroup of 64
 * (up to 832) or by the one-dispatch triangular solve; with the GPU kernels blocks of 64 (f32)
 * or 32 (f64)): ragged n around both block sizes, primes, batches of 3, f32 and f64; n = 257,
 * 600 and 640 take the 64-wide panel first and the one-subgroup panel last, 900 and 960 the
 * separate solve first. */
static void test_orthogonal_cholesky_blocked_ragged(void **state) {
    (void)state;
    static const int64_t sizes[] = {1, 31, 33, 37, 63, 64, 65, 96, 97, 127, 128, 129, 131};
    uint64_t seed = 800;
    for (int d = 0; d < 2; ++d)
        for (size_t i = 0; i < sizeof sizes / sizeof *sizes; ++i) {
            chol_case c = {d ? VKS_DTYPE_F64 : VKS_DTYPE_F32, sizes[i], 3, false, false};
            run_cholesky(&c, seed++);
        }
    chol_case c = {VKS_DTYPE_F32, 640, 1, false, false};
    run_cholesky(&c, seed++);
    c = (chol_case){VKS_DTYPE_F64, 600, 1, true, false};
    run_cholesky(&c, seed++);
    c = (chol_case){VKS_DTYPE_F32, 960, 1, false, false};
    run_cholesky(&c, seed++);
    c = (chol_case){VKS_DTYPE_F64, 900, 1, true, false};
    run_cholesky(&c, seed++);
    c = (chol_case){VKS_DTYPE_F32, 257, 2, false, true};
    run_cholesky(&c, seed++);
}

/* Not positive definite at a pivot in the first diagonal block, on a block's edge (31/32 and
 * 63/64), in the last block, and in steps of each panel path (n = 200: 64-wide then one-subgroup;
 * 640: 64-wide; 960: the separate solve first): the status must name the pivot, the columns
 * before it must be the factor's and the rest zeros. */
static void test_orthogonal_cholesky_blocked_not_pd(void **state) {
    (void)state;
    run_not_pd(VKS_DTYPE_F32, 97, 0, false, 820);
    run_not_pd(VKS_DTYPE_F64, 97, 31, true, 821);
    run_not_pd(VKS_DTYPE_F32, 97, 32, true, 822);
    run_not_pd(VKS_DTYPE_F64, 97, 63, false, 823);
    run_not_pd(VKS_DTYPE_F32, 97, 64, false, 824);
    run_not_pd(VKS_DTYPE_F64, 131, 130, false, 825);
    run_not_pd(VKS_DTYPE_F32, 200, 5, true, 826);
    run_not_pd(VKS_DTYPE_F64, 200, 70, false, 827);
    run_not_pd(VKS_DTYPE_F32, 960, 5, false, 828);
    run_not_pd(VKS_DTYPE_F32, 640, 100, true, 829);
    run_not_pd(VKS_DTYPE_F64, 600, 590, false, 830);
}

/* Dispatches of vks_cholesky for a batch of 64 matrices, from the profile (reported in
 * docs/orthogonal.md): small ones take one where the device's workgroup can be one subgroup
 * (the one-subgroup kernel); n = 80 on a CPU device two per block column (the panel solved in
 * the diagonal block's dispatch, no copy + GEMM) plus the copy and the fixup: 5 with lavapipe's
 * kernels (blocks of 64, the subgroup kernel), at most 7 with the GPU kernels there. */
static void test_orthogonal_cholesky_small_dispatches(void **state) {
    (void)state;
    vks_context_options o = vkt_options();
    o.flags |= VKS_CONTEXT_PROFILING;
    vks_context *ctx = NULL;
    VKT_OK(vks_context_create(&o, &ctx));
    const bool fits = (vkt->info.features & VKS_FEATURE_SUBGROUP_CONTROL) ||
                      vkt->info.min_subgroup_size == vkt->info.max_subgroup_size;
    static const int64_t sizes[] = {16, 32, 80};
    for (size_t s = 0; s < 3; ++s) {
        const int64_t n = sizes[s], batch = 64, nn = n * n;
        vkt_rng rng = vkt_rng_seed(700 + s);
        double *a = calloc((size_t)(batch * nn), sizeof *a);
        for (int64_t z = 0; z < batch; ++z) random_spd(&rng, n, a + z * nn);
        vks_buffer *A = NULL, *L = NULL;
        float *af = malloc((size_t)(batch * nn) * sizeof *af);
        for (int64_t i = 0; i < batch * nn; ++i) af[i] = (float)a[i];
        VKT_OK(vks_buffer_create(ctx, (size_t)(batch * nn) * 4, &A));
        VKT_OK(vks_buffer_create(ctx, (size_t)(batch * nn) * 4, &L));
        VKT_OK(vks_buffer_write(A, 0, af, (size_t)(batch * nn) * 4));
        vks_tensor ta = vks_tensor_3d(A, VKS_DTYPE_F32, batch, n, n), tl = vks_tensor_3d(L, VKS_DTYPE_F32, batch, n, n);
        vks_buffer *I = NULL;
        VKT_OK(vks_buffer_create(ctx, (size_t)batch * 4, &I));
        vks_tensor ti = vks_tensor_1d(I, VKS_DTYPE_I32, batch);
        vks_cholesky_options co = VKS_CHOLESKY_OPTIONS_INIT;
        co.info = &ti; /* no status read inside the op: its profile entry is complete */
        VKT_OK(vks_profile_clear(ctx));
        VKT_OK(vks_cholesky_ex(ctx, &ta, &tl, &co));
        VKT_OK(vks_synchronize(ctx));
        vks_profile_entry e[16];
        size_t count = 0;
        VKT_OK(vks_profile_get(ctx, e, 16, &count));
        uint32_t dispatches = 0;
        bool seen = false;
        for (size_t i = 0; i < count && i < 16; ++i)
            if (strcmp(e[i].op, "cholesky") == 0) dispatches += e[i].dispatches, seen = true;
        for (size_t i = 0; !seen && i < count && i < 16; ++i) print_message("profile entry %zu: %s %u\n", i, e[i].op, e[i].dispatches);
        if (!seen) fail_msg("no cholesky entry among %zu profile entries", count);
        print_message("cholesky of 64 x %lld x %lld f32: %u dispatches\n", (long long)n, (long long)n, dispatches);
        if (n == 80) {
            /* lavapipe's kernels (blocks of 64): copy + 2 diagonal steps (the first solving its
             * 16-row panel) + 1 SYRK + fixup */
            if (vkt_device_is_cpu() && !vkt_gpu_kernels() && fits && dispatches != 5)
                fail_msg("cholesky of 64 x 80 x 80: %u dispatches, expected 5", dispatches);
            if (vkt->info.type == VKS_DEVICE_CPU && dispatches > 2 * 3 + 1)
                fail_msg("cholesky of 64 x 80 x 80: %u dispatches, expected at most 7", dispatches);
        } else if (fits && dispatches != 1) fail_msg("cholesky of 64 x %lld x %lld: %u dispatches, expected 1", (long long)n, (long long)n, dispatches);
        /* the factor is right too (one matrix is enough here: the other tests check batches) */
        float *lf = malloc((size_t)nn * sizeof *lf);
        double *ld = malloc((size_t)nn * sizeof *ld), *a0 = malloc((size_t)nn * sizeof *a0);
        VKT_OK(vks_buffer_read(L, (size_t)(63 * nn) * 4, lf, (size_t)nn * 4));
        for (int64_t i = 0; i < nn; ++i) ld[i] = lf[i], a0[i] = af[63 * nn + i];
        check_factor(VKS_DTYPE_F32, n, a0, ld, "profiled cholesky, matrix 63");
        free(a), free(af), free(lf), free(ld), free(a0);
        VKT_OK(vks_buffer_destroy(A));
        VKT_OK(vks_buffer_destroy(L));
        VKT_OK(vks_buffer_destroy(I));
    }
    VKT_OK(vks_context_destroy(ctx));
}

static void test_orthogonal_cholesky_errors(void **state) {
    (void)state;
    vks_context *ctx = vkt->ctx;
    vks_buffer *A = vkt_poisoned(VKS_DTYPE_F32, 64), *L = vkt_poisoned(VKS_DTYPE_F32, 64);
    vks_tensor a = vks_tensor_2d(A, VKS_DTYPE_F32, 4, 4), l = vks_tensor_2d(L, VKS_DTYPE_F32, 4, 4);
    VKT_FAILS(vks_cholesky(NULL, &a, &l), VKS_ERROR_INVALID_ARGUMENT, "ctx is NULL");
    vks_tensor lrow = l;
    lrow.strides[0] = 2; /* rows 2 apart, 4 long: they overlap */
    VKT_FAILS(vks_cholesky(ctx, &a, &lrow), VKS_ERROR_INVALID_ARGUMENT,
              "vks_cholesky: l's rows overlap (strides (2, 1) for 4 x 4)");
    VKT_FAILS(vks_cholesky(ctx, NULL, &l), VKS_ERROR_INVALID_ARGUMENT, "vks_cholesky: a is NULL");
    VKT_FAILS(vks_cholesky(ctx, &a, NULL), VKS_ERROR_INVALID_ARGUMENT, "vks_cholesky: l is NULL");
    vks_tensor bad = vks_tensor_2d(A, VKS_DTYPE_F32, 4, 5);
    VKT_FAILS(vks_cholesky(ctx, &bad, &l), VKS_ERROR_SHAPE_MISMATCH, "a is 4 x 5; expected a square matrix");
    bad = vks_tensor_2d(L, VKS_DTYPE_F32, 3, 3);
    VKT_FAILS(vks_cholesky(ctx, &a, &bad), VKS_ERROR_SHAPE_MISMATCH, "l has shape (3, 3)");
    bad = vks_tensor_2d(L, VKS_DTYPE_F16, 4, 4);
    VKT_FAILS(vks_cholesky(ctx, &a, &bad), VKS_ERROR_DTYPE_MISMATCH, "a has dtype f32 but l has f16");
    vks_tensor a16 = vks_tensor_2d(A, VKS_DTYPE_F16, 4, 4);
    VKT_FAILS(vks_cholesky(ctx, &a16, &bad), VKS_ERROR_UNSUPPORTED, "a has dtype f16; expected f32 or f64");
    bad = vks_tensor_1d(A, VKS_DTYPE_F32, 16);
    VKT_FAILS(vks_cholesky(ctx, &bad, &l), VKS_ERROR_SHAPE_MISMATCH, "expected rank 2..3");
    bad = a, bad.byte_offset = 4; /* partial overlap with a */
    VKT_FAILS(vks_cholesky(ctx, &a, &bad), VKS_ERROR_INVALID_ARGUMENT, "l overlaps a without being the same tensor");
    bad = l, bad.strides[0] = 1, bad.strides[1] = 4;
    VKT_FAILS(vks_cholesky(ctx, &a, &bad), VKS_ERROR_UNSUPPORTED, "l must have a unit column stride");
    vks_cholesky_options o = VKS_CHOLESKY_OPTIONS_INIT;
    o.struct_size = 3;
    VKT_FAILS(vks_cholesky_ex(ctx, &a, &l, &o), VKS_ERROR_INVALID_ARGUMENT, "options->struct_size = 3");
    o = (vks_cholesky_options)VKS_CHOLESKY_OPTIONS_INIT;
    vks_tensor info = vks_tensor_1d(A, VKS_DTYPE_F32, 1);
    o.info = &info;
    VKT_FAILS(vks_cholesky_ex(ctx, &a, &l, &o), VKS_ERROR_DTYPE_MISMATCH, "options->info has dtype f32, expected i32");
    vks_tensor b3 = vks_tensor_3d(A, VKS_DTYPE_F32, 2, 4, 4);
    info = vks_tensor_1d(L, VKS_DTYPE_I32, 3);
    VKT_FAILS(vks_cholesky_ex(ctx, &b3, &l, &o), VKS_ERROR_SHAPE_MISMATCH, "l has shape (4, 4) x batch 1");
    vks_tensor l3 = vks_tensor_3d(L, VKS_DTYPE_F32, 2, 4, 4);
    VKT_FAILS(vks_cholesky_ex(ctx, &b3, &l3, &o), VKS_ERROR_SHAPE_MISMATCH, "options->info has 3 elements");
    /* info is written on the device: it may not share memory with a or l */
    info = vks_tensor_1d(L, VKS_DTYPE_I32, 1);
    VKT_FAILS(vks_cholesky_ex(ctx, &a, &l, &o), VKS_ERROR_INVALID_ARGUMENT, "vks_cholesky_ex: options->info overlaps l in memory");
    info = vks_tensor_1d(A, VKS_DTYPE_I32, 1);
    info.byte_offset = 60;
    VKT_FAILS(vks_cholesky_ex(ctx, &a, &l, &o), VKS_ERROR_INVALID_ARGUMENT, "vks_cholesky_ex: options->info overlaps a in memory");
    /* Nothing ran: l is still poisoned. */
    double *got = vkt_download(L, VKS_DTYPE_F32, 0, 16);
    for (int i = 0; i < 16; ++i) assert_true(isnan(got[i]));
    free(got);
    vks_buffer_destroy(A), vks_buffer_destroy(L);
}

/* ---- triangular solves ---------------------------------------------------------------------- */

typedef struct trsm_case {
    vks_dtype dt;
    int64_t n, k, batch;
    vks_transpose trans;
    bool broadcast_l, in_place, col_major;
} trsm_case;

static void run_trsm(const trsm_case *c, uint64_t seed) {
    if (!have(c->dt)) return;
    vkt_rng rng = vkt_rng_seed(seed);
    const int64_t n = c->n, k = c->k, nb = c->batch, nn = n * n, nk = n * k;
    const int64_t lb = c->broadcast_l ? 1 : nb;
    double *l = calloc((size_t)(lb * nn), sizeof *l), *a = calloc((size_t)nn, sizeof *a);
    for (int64_t z = 0; z < lb; ++z) {
        random_spd(&rng, n, a);
        assert_int_equal(ref_cholesky(n, a, l + z * nn), -1);
        for (int64_t i = 0; i < n; ++i)
            for (int64_t j = i + 1; j < n; ++j) l[z * nn + i * n + j] = NAN; /* never read */
    }
    double *b = vkt_random(&rng, (size_t)(nb * nk), -1, 1), *bs = calloc((size_t)(nb * nk), sizeof *bs);
    vkt_round_to(c->dt, l, (size_t)(lb * nn));
    vkt_round_to(c->dt, b, (size_t)(nb * nk));
    for (int64_t z = 0; z < nb; ++z)
        for (int64_t i = 0; i < n; ++i)
            for (int64_t j = 0; j < k; ++j) bs[z * nk + (c->col_major ? j * n + i : i * k + j)] = b[z * nk + i * k + j];
    vks_buffer *L = vkt_upload(c->dt, l, (size_t)(lb * nn)), *B = vkt_upload(c->dt, bs, (size_t)(nb * nk));
    vks_buffer *X = c->in_place ? B : vkt_poisoned(c->dt, (size_t)(nb * nk));
    vks_tensor tl = c->broadcast_l ? vks_tensor_2d(L, c->dt, n, n) : vks_tensor_3d(L, c->dt, nb, n, n);
    vks_tensor tb = vks_tensor_3d(B, c->dt, nb, n, k), tx = vks_tensor_3d(X, c->dt, nb, n, k);
    if (c->col_major) tb.strides[1] = tx.strides[1] = 1, tb.strides[2] = tx.strides[2] = n;
    VKT_OK(vks_trsm(vkt->ctx, c->trans, &tl, &tb, c->in_place ? &tb : &tx));
    double *got = vkt_download(X, c->dt, 0, (size_t)(nb * nk)), *want = calloc((size_t)nk, sizeof *want);
    double *g = calloc((size_t)nk, sizeof *g);
    for (int64_t z = 0; z < nb; ++z) {
        double *lz = l + (c->broadcast_l ? 0 : z * nn);
        double *lc = calloc((size_t)nn, sizeof *lc);
        for (int64_t i = 0; i < n; ++i)
            for (int64_t j = 0; j <= i; ++j) lc[i * n + j] = lz[i * n + j];
        ref_trsm(c->trans == VKS_TRANS, n, k, lc, b + z * nk, want);
        for (int64_t i = 0; i < n; ++i)
            for (int64_t j = 0; j < k; ++j) g[i * k + j] = got[z * nk + (c->col_major ? j * n + i : i * k + j)];
        char what[160];
        snprintf(what, sizeof what, "trsm %s n=%lld k=%lld matrix %lld trans=%d bcast=%d in_place=%d col_major=%d",
                 c->dt == VKS_DTYPE_F64 ? "f64" : "f32", (long long)n, (long long)k, (long long)z, c->trans,
                 c->broadcast_l, c->in_place, c->col_major);
        vkt_assert_close(g, want, (size_t)nk, 16.0 * (double)(n + 4) * unit_roundoff(c->dt), what);
        free(lc);
    }
    free(l), free(a), free(b), free(bs), free(got), free(want), free(g);
    vks_buffer_destroy(L), vks_buffer_destroy(B);
    if (!c->in_place) vks_buffer_destroy(X);
}

static void test_orthogonal_trsm(void **state) {
    (void)state;
    static const int64_t sizes[][2] = {{1, 1}, {5, 3}, {32, 17}, {33, 1}, {70, 9}, {130, 20}};
    uint64_t seed = 600;
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; ++s)
        for (int t = 0; t < 2; ++t) {
            trsm_case c = {VKS_DTYPE_F32, sizes[s][0], sizes[s][1], 2, (vks_transpose)t, false, false, false};
            run_trsm(&c, seed++);
            c.dt = VKS_DTYPE_F64;
            if (s % 2 == 1) run_trsm(&c, seed++);
        }
}

static void test_orthogonal_trsm_in_place_broadcast_views(void **state) {
    (void)state;
    uint64_t seed = 700;
    for (int t = 0; t < 2; ++t) {
        trsm_case c = {VKS_DTYPE_F32, 67, 5, 3, (vks_transpose)t, true, false, false};
        run_trsm(&c, seed++);
        c.broadcast_l = false, c.in_place = true;
        run_trsm(&c, seed++);
        c.in_place = false, c.col_major = true;
        run_trsm(&c, seed++);
        c.in_place = true;
        run_trsm(&c, seed++);
    }
}

/* The sizes around one diagonal block (32 on lavapipe's kernels, 64 on GPUs'), 1, 5, 16 and 64
 * right-hand sides (each of lavapipe's three paths: one dispatch, per block row in place + GEMM,
 * the inverses' GEMMs), batches 1 and 16, every mode: each case against the float64 oracle with
 * x poisoned by NaN (or b itself overwritten, in place). */
static void test_orthogonal_trsm_block_sizes(void **state) {
    (void)state;
    static const int64_t ns[] = {1, 2, 3, 7, 31, 32, 33, 64, 65, 200, 300}, ks[] = {1, 5, 16, 64};
    uint64_t seed = 900;
    for (size_t s = 0; s < sizeof ns / sizeof *ns; ++s)
        for (size_t q = 0; q < 4; ++q)
            for (int t = 0; t < 2; ++t) {
                const unsigned v = (unsigned)(s + q + (size_t)t);
                trsm_case c = {(v % 2) ? VKS_DTYPE_F64 : VKS_DTYPE_F32, ns[s], ks[q], (v % 3 == 0) ? 1 : 16,
                               (vks_transpose)t, v % 4 == 1, v % 4 >= 2, v % 5 == 3};
                if (ns[s] >= 200 && ks[q] >= 16) c.batch = 1; /* the oracle's time */
                run_trsm(&c, seed++);
            }
}

/* Dispatches of vks_trsm from the profile: a system of one diagonal block (n <= 32 on every
 * device) is solved whole in one dispatch, in place or not, l broadcast or not; so is n <= 256
 * with at most 8 columns on CPU devices (lavapipe's kernels); 65 x 16 there takes 2 per block
 * row (minus the last GEMM) + the copy; 65 x 64 is the blocked path's everywhere. */
static void test_orthogonal_trsm_dispatches(void **state) {
    (void)state;
    vks_context_options o = vkt_options();
    o.flags |= VKS_CONTEXT_PROFILING;
    vks_context *ctx = NULL;
    VKT_OK(vks_context_create(&o, &ctx));
    const bool cpu = vkt_device_is_cpu() && !vkt_gpu_kernels();
    static const int64_t nks[][2] = {{1, 5}, {32, 64}, {33, 5}, {200, 8}, {65, 64}, {65, 16}};
    for (size_t s = 0; s < 6; ++s)
        for (int mode = 0; mode < 2; ++mode) {
            const int64_t n = nks[s][0], k = nks[s][1], batch = 16;
            const bool one = n <= 32 || (cpu && n <= 256 && k <= 8);
            vks_buffer *L = NULL, *B = NULL, *X = NULL;
            float *lf = calloc((size_t)(n * n), sizeof *lf), *bf = calloc((size_t)(batch * n * k), sizeof *bf);
            for (int64_t i = 0; i < n; ++i) {
                lf[i * n + i] = 2.0f;
                if (i) lf[i * n + i - 1] = 1.0f;
            }
            for (int64_t i = 0; i < batch * n * k; ++i) bf[i] = 1.0f;
            VKT_OK(vks_buffer_create(ctx, (size_t)(n * n) * 4, &L));
            VKT_OK(vks_buffer_create(ctx, (size_t)(batch * n * k) * 4, &B));
            VKT_OK(vks_buffer_create(ctx, (size_t)(batch * n * k) * 4, &X));
            VKT_OK(vks_buffer_write(L, 0, lf, (size_t)(n * n) * 4));
            VKT_OK(vks_buffer_write(B, 0, bf, (size_t)(batch * n * k) * 4));
            vks_tensor tl = vks_tensor_2d(L, VKS_DTYPE_F32, n, n), tb = vks_tensor_3d(B, VKS_DTYPE_F32, batch, n, k);
            vks_tensor tx = vks_tensor_3d(X, VKS_DTYPE_F32, batch, n, k);
            VKT_OK(vks_profile_clear(ctx));
            VKT_OK(vks_trsm(ctx, mode ? VKS_TRANS : VKS_NO_TRANS, &tl, &tb, mode ? &tb : &tx));
            VKT_OK(vks_synchronize(ctx));
            vks_profile_entry e[16];
            size_t count = 0;
            VKT_OK(vks_profile_get(ctx, e, 16, &count));
            uint32_t dispatches = 0;
            bool seen = false;
            for (size_t i = 0; i < count && i < 16; ++i)
                if (strcmp(e[i].op, "trsm") == 0) dispatches += e[i].dispatches, seen = true;
            if (!seen) fail_msg("no trsm entry among %zu profile entries", count);
            print_message("trsm of 16 x %lld x %lld f32 (%s, %s kernels): %u dispatches\n", (long long)n, (long long)k,
                          mode ? "transposed, in place" : "not in place", cpu ? "CPU" : "GPU", dispatches);
            if (one && dispatches != 1)
                fail_msg("trsm of 16 x %lld x %lld: %u dispatches, expected 1", (long long)n, (long long)k, dispatches);
            /* lavapipe's kernels, 3 blocks of 32: [copy] + solve, GEMM, solve, GEMM, solve */
            if (cpu && n == 65 && k == 16 && dispatches != (mode ? 5u : 6u))
                fail_msg("trsm of 16 x 65 x 16: %u dispatches, expected %u", dispatches, mode ? 5u : 6u);
            if (n == 65 && dispatches < 2)
                fail_msg("trsm of 16 x 65 x %lld: %u dispatches, expected the blocked path's", (long long)k, dispatches);
            /* the solution is right too: x_i of L x = 1 (L = 2 I + subdiagonal 1), by recurrence */
            float *xf = malloc((size_t)(n * k) * 4);
            VKT_OK(vks_buffer_read(mode ? B : X, (size_t)(15 * n * k) * 4, xf, (size_t)(n * k) * 4));
            double *want = calloc((size_t)n, sizeof *want);
            for (int64_t r = 0; r < n; ++r) {
                const int64_t i = mode ? n - 1 - r : r, nb = mode ? i + 1 : i - 1;
                want[i] = (1.0 - ((mode ? i + 1 < n : i > 0) ? want[nb] : 0.0)) / 2.0;
            }
            for (int64_t i = 0; i < n; ++i)
                for (int64_t j = 0; j < k; ++j)
                    if (!(fabs(xf[i * k + j] - want[i]) <= 1e-5))
                        fail_msg("trsm n=%lld x[%lld][%lld] = %g, expected %g", (long long)n, (long long)i, (long long)j,
                                 (double)xf[i * k + j], want[i]);
            free(xf), free(want), free(lf), free(bf);
            vks_buffer_destroy(L), vks_buffer_destroy(B), vks_buffer_destroy(X);
        }
    VKT_OK(vks_context_destroy(ctx));
}

static void test_orthogonal_trsm_errors(void **state) {
    (void)state;
    vks_context *ctx = vkt->ctx;
    vks_buffer *L = vkt_poisoned(VKS_DTYPE_F32, 64), *B = vkt_poisoned(VKS_DTYPE_F32, 64), *X = vkt_poisoned(VKS_DTYPE_F32, 64);
    vks_tensor l = vks_tensor_2d(L, VKS_DTYPE_F32, 4, 4), b = vks_tensor_2d(B, VKS_DTYPE_F32, 4, 3);
    vks_tensor x = vks_tensor_2d(X, VKS_DTYPE_F32, 4, 3);
    VKT_FAILS(vks_trsm(NULL, 0, &l, &b, &x), VKS_ERROR_INVALID_ARGUMENT, "ctx is NULL");
    VKT_FAILS(vks_trsm(ctx, 5, &l, &b, &x), VKS_ERROR_INVALID_ARGUMENT, "trans = 5");
    VKT_FAILS(vks_trsm(ctx, 0, NULL, &b, &x), VKS_ERROR_INVALID_ARGUMENT, "vks_trsm: l is NULL");
    vks_tensor xrow = x;
    xrow.strides[0] = 0;
    VKT_FAILS(vks_trsm(ctx, 0, &l, &b, &xrow), VKS_ERROR_INVALID_ARGUMENT,
              "vks_trsm: x's rows overlap (strides (0, 1) for 4 x 3)");
    vks_tensor bad = vks_tensor_2d(L, VKS_DTYPE_F32, 4, 3);
    VKT_FAILS(vks_trsm(ctx, 0, &bad, &b, &x), VKS_ERROR_SHAPE_MISMATCH, "l is 4 x 3; expected a square matrix");
    bad = vks_tensor_2d(B, VKS_DTYPE_F32, 5, 3);
    VKT_FAILS(vks_trsm(ctx, 0, &l, &bad, &x), VKS_ERROR_SHAPE_MISMATCH, "b has 5 rows but l is 4 x 4");
    bad = vks_tensor_2d(X, VKS_DTYPE_F32, 4, 2);
    VKT_FAILS(vks_trsm(ctx, 0, &l, &b, &bad), VKS_ERROR_SHAPE_MISMATCH, "x is (4, 2) x batch 1");
    bad = vks_tensor_2d(X, VKS_DTYPE_F64, 4, 3);
    VKT_FAILS(vks_trsm(ctx, 0, &l, &b, &bad), VKS_ERROR_DTYPE_MISMATCH, "dtypes f32, f32, f64");
    vks_tensor l3 = vks_tensor_3d(L, VKS_DTYPE_F32, 2, 4, 4), b3 = vks_tensor_3d(B, VKS_DTYPE_F32, 3, 4, 3);
    vks_tensor x3 = vks_tensor_3d(X, VKS_DTYPE_F32, 3, 4, 3);
    VKT_FAILS(vks_trsm(ctx, 0, &l3, &b3, &x3), VKS_ERROR_SHAPE_MISMATCH, "l has batch 2 but b has 3");
    bad = b, bad.byte_offset = 4;
    VKT_FAILS(vks_trsm(ctx, 0, &l, &b, &bad), VKS_ERROR_INVALID_ARGUMENT, "x overlaps b without being the same tensor");
    bad = vks_tensor_2d(L, VKS_DTYPE_F32, 4, 3);
    bad.byte_offset = 8 * 4;
    VKT_FAILS(vks_trsm(ctx, 0, &l, &b, &bad), VKS_ERROR_INVALID_ARGUMENT, "x overlaps l in memory");
    double *got = vkt_download(X, VKS_DTYPE_F32, 0, 12);
    for (int i = 0; i < 12; ++i) assert_true(isnan(got[i]));
    free(got);
    vks_buffer_destroy(L), vks_buffer_destroy(B), vks_buffer_destroy(X);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VKT_TEST(test_orthogonal_cholesky_f32),
        VKT_TEST(test_orthogonal_cholesky_f64),
        VKT_TEST(test_orthogonal_cholesky_gpu_sizes),
        VKT_TEST(test_orthogonal_cholesky_in_place_and_views),
        VKT_TEST(test_orthogonal_cholesky_not_positive_definite),
        VKT_TEST(test_orthogonal_cholesky_non_finite),
        VKT_TEST(test_orthogonal_cholesky_small_batches),
        VKT_TEST(test_orthogonal_cholesky_small_dispatches),
        VKT_TEST(test_orthogonal_cholesky_blocked_ragged),
        VKT_TEST(test_orthogonal_cholesky_blocked_not_pd),
        VKT_TEST(test_orthogonal_cholesky_errors),
        VKT_TEST(test_orthogonal_trsm),
        VKT_TEST(test_orthogonal_trsm_in_place_broadcast_views),
        VKT_TEST(test_orthogonal_trsm_block_sizes),
        VKT_TEST(test_orthogonal_trsm_dispatches),
        VKT_TEST(test_orthogonal_trsm_errors),
    };
    int failures = VKT_RUN(tests);
    /* On lavapipe, the same cases once more through the kernels GPUs run. */
    if (vkt_device_is_cpu())
        failures += cmocka_run_group_tests_name("cholesky/trsm with GPU kernels", tests, vkt_gpu_kernels_setup,
                                                vkt_group_teardown);
    return failures;
}
