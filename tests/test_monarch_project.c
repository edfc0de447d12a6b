/* Projection of dense matrices onto Monarch: an exactly-Monarch matrix is recovered to 1e-5,
 * and on general matrices the error never beats the Eckart-Young bound (computed in float64
 * by the oracle's own Jacobi SVD of each block) and comes close to it; the reported error
 * matches the float64 one of the returned factors; iteration control; f16; errors. */
#include <math.h>
#include <string.h>

#include "reference.h"
#include "reference_monarch.h"
#include "vks_test.h"

typedef struct proj_shape {
    int64_t k, q, p, l, s, r;
} proj_shape;

typedef struct proj_out {
    double device_error; /* as vks_monarch_project reports it */
    double error;        /* float64 ||M - M'||/||M|| of the returned factors */
    vks_monarch_project_result res;
} proj_out;

/* Projects the m_rows x n_cols matrix `mat` (dtype dt) and measures the returned factors. */
static proj_out project(const proj_shape *sh, const double *mat, int64_t m_rows, int64_t n_cols, vks_dtype dt,
                        int32_t max_iterations, double tol) {
    const size_t n1 = (size_t)(sh->k * sh->q * sh->p), n2 = (size_t)(sh->l * sh->s * sh->r);
    const size_t nm = (size_t)(m_rows * n_cols);
    vks_buffer *M = vkt_upload(dt, mat, nm), *W1 = vkt_poisoned(dt, n1), *W2 = vkt_poisoned(dt, n2);
    vks_tensor tm = vks_tensor_2d(M, dt, m_rows, n_cols);
    vks_tensor tw1 = vks_tensor_3d(W1, dt, sh->k, sh->q, sh->p), tw2 = vks_tensor_3d(W2, dt, sh->l, sh->s, sh->r);
    vks_monarch_project_desc d = VKS_MONARCH_PROJECT_DESC_INIT;
    d.m = &tm, d.w1 = &tw1, d.w2 = &tw2, d.max_iterations = max_iterations, d.tolerance = tol;
    d.padded = m_rows < sh->l * sh->s || n_cols < sh->k * sh->p;
    proj_out out = {.res = {sizeof(vks_monarch_project_result)}};
    VKT_OK(vks_monarch_project(vkt->ctx, &d, &out.res));
    out.device_error = out.res.relative_error;
    double *w1 = vkt_download(W1, dt, 0, n1), *w2 = vkt_download(W2, dt, 0, n2);
    double *approx = refm_monarch_dense(w1, sh->k, sh->q, sh->p, w2, sh->l, sh->s, sh->r);
    double num = 0, den = 0;
    const int64_t ncols_full = sh->k * sh->p;
    for (int64_t i = 0; i < sh->l * sh->s; ++i)
        for (int64_t j = 0; j < ncols_full; ++j) {
            const double want = i < m_rows && j < n_cols ? mat[i * n_cols + j] : 0.0;
            const double got = approx[i * ncols_full + j];
            if (!isfinite(got))
                fail_msg("projection (k=%lld q=%lld p=%lld l=%lld s=%lld r=%lld): non-finite factor product at (%lld, %lld)",
                         (long long)sh->k, (long long)sh->q, (long long)sh->p, (long long)sh->l, (long long)sh->s,
                         (long long)sh->r, (long long)i, (long long)j);
            num += (got - want) * (got - want), den += want * want;
        }
    out.error = sqrt(num / den);
    free(w1), free(w2), free(approx);
    vks_buffer_destroy(M), vks_buffer_destroy(W1), vks_buffer_destroy(W2);
    return out;
}

static double *random_monarch(const proj_shape *sh, vkt_rng *rng) {
    double *w1 = vkt_random(rng, (size_t)(sh->k * sh->q * sh->p), -1, 1);
    double *w2 = vkt_random(rng, (size_t)(sh->l * sh->s * sh->r), -1, 1);
    double *m = refm_monarch_dense(w1, sh->k, sh->q, sh->p, w2, sh->l, sh->s, sh->r);
    free(w1), free(w2);
    return m;
}

/* (k, q, p, l, s, r): square Monarch (rank 1 per block), q = 2l and 3l (rank 2, 3), q < l
 * (ranks 0 and 1), nblocks 1 (one block, a truncated SVD), rectangular. */
static const proj_shape shapes[] = {{4, 4, 4, 4, 4, 4},    {8, 8, 8, 8, 8, 8}, {2, 6, 5, 3, 4, 4}, {4, 8, 5, 4, 3, 8},
                                    {3, 2, 4, 6, 3, 1},    {1, 3, 7, 1, 6, 3}, {8, 24, 6, 8, 10, 24},
                                    {16, 16, 16, 16, 16, 16}};

static void test_monarch_project_recovers_monarch(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; ++i) {
        vkt_rng rng = vkt_rng_seed(2000 + i);
        const proj_shape *sh = &shapes[i];
        double *m = random_monarch(sh, &rng);
        vkt_round_to(VKS_DTYPE_F32, m, (size_t)(sh->l * sh->s * sh->k * sh->p));
        proj_out o = project(sh, m, sh->l * sh->s, sh->k * sh->p, VKS_DTYPE_F32, 0, 0.0);
        if (!(o.error <= 1e-5 && o.device_error <= 1e-5))
            fail_msg("shape %zu: an exactly-Monarch matrix comes back with error %.3g (device says %.3g)", i, o.error,
                     o.device_error);
        /* iterations 0: the default path solves the blocks with the eigensolver (LAPACK) */
        if (o.res.unconverged != 0 || o.res.iterations < 0 || o.res.iterations > 64)
            fail_msg("shape %zu: %d of %lld blocks unconverged after %d iterations", i, o.res.unconverged,
                     (long long)o.res.blocks, o.res.iterations);
        assert_int_equal(o.res.blocks, sh->l * sh->k);
        free(m);
    }
}

/* n = 1024, nblocks = 32: 1024 blocks of 32 x 32. */
static void test_monarch_project_large(void **state) {
    (void)state;
    vkt_rng rng = vkt_rng_seed(2100);
    const proj_shape sh = {32, 32, 32, 32, 32, 32};
    double *m = random_monarch(&sh, &rng);
    vkt_round_to(VKS_DTYPE_F32, m, 1024 * 1024);
    proj_out o = project(&sh, m, 1024, 1024, VKS_DTYPE_F32, 0, 0.0);
    if (!(o.error <= 1e-5 && o.device_error <= 1e-5))
        fail_msg("n=1024 nblocks=32: error %.3g (device says %.3g)", o.error, o.device_error);
    assert_int_equal(o.res.max_rank, 1);
    free(m);
}

/* Blocks of 64 x 64 with rank 8: on lavapipe the iterations run in several dispatches (its
 * loop limiter), with the iteration state carried in between. */
static void test_monarch_project_many_dispatches(void **state) {
    (void)state;
    vkt_rng rng = vkt_rng_seed(2150);
    const proj_shape sh = {2, 16, 64, 2, 64, 16};
    double *m = random_monarch(&sh, &rng);
    vkt_round_to(VKS_DTYPE_F32, m, 128 * 128);
    proj_out o = project(&sh, m, 128, 128, VKS_DTYPE_F32, 0, 0.0);
    if (!(o.error <= 1e-5 && o.device_error <= 1e-5)) fail_msg("rank 8: error %.3g (device says %.3g)", o.error, o.device_error);
    assert_int_equal(o.res.max_rank, 8);
    free(m);
    m = vkt_random(&rng, 128 * 128, -1, 1);
    vkt_round_to(VKS_DTYPE_F32, m, 128 * 128);
    const double bound = refm_projection_bound(m, 128, 128, 2, 16, 64, 2, 64, 16, NULL);
    o = project(&sh, m, 128, 128, VKS_DTYPE_F32, 400, 1e-9);
    if (o.error < bound * (1 - 1e-5) - 1e-7 || o.error > bound * (1 + 1e-3) + 1e-6)
        fail_msg("rank 8 random: error %.9g vs bound %.9g (%d iterations, %d unconverged)", o.error, bound,
                 o.res.iterations, o.res.unconverged);
    free(m);
}

/* General matrices: Eckart-Young per block is the floor; the projection must not beat it
 * (that would mean a wrong error or a wrong bound) and must reach it closely. */
static void test_monarch_project_svd_bound(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0] - 1; ++i) {
        vkt_rng rng = vkt_rng_seed(2200 + i);
        const proj_shape *sh = &shapes[i];
        const int64_t rows = sh->l * sh->s, cols = sh->k * sh->p;
        double *m = vkt_random(&rng, (size_t)(rows * cols), -1, 1);
        vkt_round_to(VKS_DTYPE_F32, m, (size_t)(rows * cols));
        int max_rank = 0;
        const double bound = refm_projection_bound(m, rows, cols, sh->k, sh->q, sh->p, sh->l, sh->s, sh->r, &max_rank);
        proj_out o = project(sh, m, rows, cols, VKS_DTYPE_F32, 2000, 1e-9);
        assert_int_equal(o.res.max_rank, max_rank);
        if (o.error < bound * (1 - 1e-5) - 1e-7)
            fail_msg("shape %zu: error %.9g beats the SVD bound %.9g", i, o.error, bound);
        if (o.error > bound * (1 + 1e-3) + 1e-6)
            fail_msg("shape %zu: error %.9g is far above the SVD bound %.9g", i, o.error, bound);
        if (fabs(o.device_error - o.error) > 1e-4 * o.error + 1e-6)
            fail_msg("shape %zu: device reports %.9g, the factors give %.9g", i, o.device_error, o.error);
        free(m);
    }
}

/* A matrix with a decaying spectrum per block (a trained layer's shape of things) and
 * MonarchLinear's padded shapes: M (13 x 10) onto nblocks = 4 (w1 (4,3,3), w2 (4,4,3)). */
static void test_monarch_project_padded_and_decaying(void **state) {
    (void)state;
    vkt_rng rng = vkt_rng_seed(2300);
    const proj_shape sh = {4, 3, 3, 4, 4, 3};
    const int64_t rows = 13, cols = 10;
    double *m = vkt_random(&rng, rows * cols, -1, 1);
    vkt_round_to(VKS_DTYPE_F32, m, rows * cols);
    int mr = 0;
    const double bound = refm_projection_bound(m, rows, cols, sh.k, sh.q, sh.p, sh.l, sh.s, sh.r, &mr);
    proj_out o = project(&sh, m, rows, cols, VKS_DTYPE_F32, 2000, 1e-9);
    if (o.error < bound * (1 - 1e-5) - 1e-7 || o.error > bound * (1 + 1e-3) + 1e-6)
        fail_msg("padded: error %.9g vs bound %.9g", o.error, bound);
    free(m);
    /* Decaying: M = sum_k 0.5^k a_k b_k^T. */
    const proj_shape sq = {8, 8, 8, 8, 8, 8};
    double *d = calloc(64 * 64, sizeof *d);
    for (int t = 0; t < 12; ++t) {
        double *a = vkt_random(&rng, 64, -1, 1), *b = vkt_random(&rng, 64, -1, 1);
        for (int i = 0; i < 64; ++i)
            for (int j = 0; j < 64; ++j) d[i * 64 + j] += pow(0.5, t) * a[i] * b[j];
        free(a), free(b);
    }
    vkt_round_to(VKS_DTYPE_F32, d, 64 * 64);
    const double b2 = refm_projection_bound(d, 64, 64, 8, 8, 8, 8, 8, 8, NULL);
    proj_out o2 = project(&sq, d, 64, 64, VKS_DTYPE_F32, 0, 0.0);
    if (o2.error < b2 * (1 - 1e-5) - 1e-7 || o2.error > b2 * (1 + 1e-2) + 1e-6)
        fail_msg("decaying: error %.9g vs bound %.9g", o2.error, b2);
    free(d);
}

/* One iteration is not enough for a general matrix: reported as unconverged, and the
 * error still never beats the bound. */
static void test_monarch_project_iteration_control(void **state) {
    (void)state;
    vkt_rng rng = vkt_rng_seed(2400);
    const proj_shape sh = {4, 8, 5, 4, 3, 8};
    const int64_t rows = 12, cols = 20;
    double *m = vkt_random(&rng, rows * cols, -1, 1);
    vkt_round_to(VKS_DTYPE_F32, m, rows * cols);
    const double bound = refm_projection_bound(m, rows, cols, 4, 8, 5, 4, 3, 8, NULL);
    proj_out one = project(&sh, m, rows, cols, VKS_DTYPE_F32, 1, 1e-9);
    assert_int_equal(one.res.iterations, 1);
    assert_true(one.res.unconverged > 0);
    assert_true(one.error >= bound * (1 - 1e-5));
    proj_out many = project(&sh, m, rows, cols, VKS_DTYPE_F32, 3000, 1e-7);
    assert_int_equal(many.res.unconverged, 0);
    assert_true(many.res.iterations > 1 && many.res.iterations < 3000);
    assert_true(many.error <= one.error * (1 + 1e-6));
    free(m);
}

static void test_monarch_project_f16(void **state) {
    (void)state;
    if (!(vkt->info.features & VKS_FEATURE_STORAGE16)) skip();
    vkt_rng rng = vkt_rng_seed(2500);
    const proj_shape sh = {4, 8, 5, 4, 3, 8};
    double *m = random_monarch(&sh, &rng);
    vkt_round_to(VKS_DTYPE_F16, m, 12 * 20);
    proj_out o = project(&sh, m, 12, 20, VKS_DTYPE_F16, 0, 0.0);
    if (!(o.error <= 1e-2)) fail_msg("f16: an exactly-Monarch matrix comes back with error %.3g", o.error);
    free(m);
}

/* The GPU kernel's workgroup shape on this device, and the CPU one on a GPU. */
static void test_monarch_project_other_kernel_family(void **state) {
    (void)state;
    vks_tuning other = VKS_TUNING_INIT;
    other.kernels = vkt_gpu_kernels() ? VKS_KERNELS_CPU : VKS_KERNELS_GPU;
    vkt_push_tuned_context(&other);
    vkt_rng rng = vkt_rng_seed(2600);
    const proj_shape sh = {2, 6, 5, 3, 4, 4};
    double *m = random_monarch(&sh, &rng);
    vkt_round_to(VKS_DTYPE_F32, m, 12 * 10);
    proj_out o = project(&sh, m, 12, 10, VKS_DTYPE_F32, 0, 0.0);
    if (!(o.error <= 1e-5)) fail_msg("other kernels: error %.3g", o.error);
    free(m);
    vkt_pop_context();
}

static void test_monarch_project_errors(void **state) {
    (void)state;
    vks_context *ctx = vkt->ctx;
    vks_buffer *M = vkt_poisoned(VKS_DTYPE_F32, 256), *W1 = vkt_poisoned(VKS_DTYPE_F32, 64),
               *W2 = vkt_poisoned(VKS_DTYPE_F32, 64);
    double ones[12 * 8];
    for (int i = 0; i < 96; ++i) ones[i] = 1.0 + (i % 7);
    VKT_OK(vks_buffer_write(M, 0, (float[]){0}, 4)); /* keep the poisoned rest */
    vks_buffer *G = vkt_upload(VKS_DTYPE_F32, ones, 96);
    /* M (12 x 8), w1 (2, 4, 4), w2 (4, 3, 2) */
    vks_tensor m = vks_tensor_2d(G, VKS_DTYPE_F32, 12, 8);
    vks_tensor w1 = vks_tensor_3d(W1, VKS_DTYPE_F32, 2, 4, 4), w2 = vks_tensor_3d(W2, VKS_DTYPE_F32, 4, 3, 2);
    vks_monarch_project_desc d = VKS_MONARCH_PROJECT_DESC_INIT;
    d.m = &m, d.w1 = &w1, d.w2 = &w2;
    VKT_OK(vks_monarch_project(ctx, &d, NULL));
    vks_monarch_project_desc e = d;
    VKT_FAILS(vks_monarch_project(NULL, &d, NULL), VKS_ERROR_INVALID_ARGUMENT, "vks_monarch_project: ctx is NULL");
    VKT_FAILS(vks_monarch_project(ctx, NULL, NULL), VKS_ERROR_INVALID_ARGUMENT, "desc is NULL");
    e.struct_size = 4;
    VKT_FAILS(vks_monarch_project(ctx, &e, NULL), VKS_ERROR_INVALID_ARGUMENT, "desc->struct_size = 4");
    vks_monarch_project_result r = {1};
    VKT_FAILS(vks_monarch_project(ctx, &d, &r), VKS_ERROR_INVALID_ARGUMENT, "result->struct_size = 1");
    vks_tensor bm = vks_tensor_2d(G, VKS_DTYPE_F32, 12, 7);
    e = d, e.m = &bm;
    VKT_FAILS(vks_monarch_project(ctx, &e, NULL), VKS_ERROR_SHAPE_MISMATCH, "m is 12 x 7, expected (l*s) x (k*p) = 12 x 8");
    e.padded = 1; /* narrower is fine when padded */
    VKT_OK(vks_monarch_project(ctx, &e, NULL));
    vks_tensor big = vks_tensor_2d(M, VKS_DTYPE_F32, 13, 8);
    e = d, e.m = &big, e.padded = 1;
    VKT_FAILS(vks_monarch_project(ctx, &e, NULL), VKS_ERROR_SHAPE_MISMATCH, "m is 13 x 8, expected at most");
    /* Long thin weights and a tiny padded m: 2^40 block pairs, refused before any work. */
    vks_buffer *L1 = vkt_poisoned(VKS_DTYPE_F32, 1u << 20), *L2 = vkt_poisoned(VKS_DTYPE_F32, 1u << 20);
    vks_tensor lw1 = vks_tensor_3d(L1, VKS_DTYPE_F32, 1 << 20, 1, 1), lw2 = vks_tensor_3d(L2, VKS_DTYPE_F32, 1 << 20, 1, 1);
    vks_tensor tiny = vks_tensor_2d(G, VKS_DTYPE_F32, 1, 1);
    e = d, e.m = &tiny, e.w1 = &lw1, e.w2 = &lw2, e.padded = 1;
    VKT_FAILS(vks_monarch_project(ctx, &e, NULL), VKS_ERROR_OUT_OF_RANGE, "l * k = 1048576 * 1048576 block pairs");
    vks_buffer_destroy(L1), vks_buffer_destroy(L2);
    vks_tensor bw2 = vks_tensor_3d(W2, VKS_DTYPE_F32, 3, 3, 2);
    e = d, e.w2 = &bw2;
    VKT_FAILS(vks_monarch_project(ctx, &e, NULL), VKS_ERROR_SHAPE_MISMATCH, "l*r = 6 but k*q = 8");
    vks_tensor im = vks_tensor_2d(M, VKS_DTYPE_I32, 12, 8);
    e = d, e.m = &im;
    VKT_FAILS(vks_monarch_project(ctx, &e, NULL), VKS_ERROR_UNSUPPORTED, "m has dtype i32");
    vks_tensor hw1 = vks_tensor_3d(W1, VKS_DTYPE_F16, 2, 4, 4);
    e = d, e.w1 = &hw1;
    VKT_FAILS(vks_monarch_project(ctx, &e, NULL), VKS_ERROR_DTYPE_MISMATCH, "w1 has dtype f16, expected f32");
    vks_tensor m3 = vks_tensor_3d(G, VKS_DTYPE_F32, 1, 12, 8);
    e = d, e.m = &m3;
    VKT_FAILS(vks_monarch_project(ctx, &e, NULL), VKS_ERROR_SHAPE_MISMATCH, "expected rank 2");
    e = d, e.max_iterations = -1;
    VKT_FAILS(vks_monarch_project(ctx, &e, NULL), VKS_ERROR_OUT_OF_RANGE, "max_iterations = -1");
    e = d, e.tolerance = NAN;
    VKT_FAILS(vks_monarch_project(ctx, &e, NULL), VKS_ERROR_OUT_OF_RANGE, "tolerance = nan");
    e = d, e.padded = 3;
    VKT_FAILS(vks_monarch_project(ctx, &e, NULL), VKS_ERROR_INVALID_ARGUMENT, "padded = 3");
    vks_tensor aw1 = vks_tensor_3d(G, VKS_DTYPE_F32, 2, 4, 4);
    e = d, e.w1 = &aw1;
    VKT_FAILS(vks_monarch_project(ctx, &e, NULL), VKS_ERROR_INVALID_ARGUMENT, "w1 overlaps m");
    /* M holding NaN (the poisoned buffer) */
    vks_tensor nm = vks_tensor_2d(M, VKS_DTYPE_F32, 12, 8);
    e = d, e.m = &nm;
    VKT_FAILS(vks_monarch_project(ctx, &e, NULL), VKS_ERROR_NON_FINITE, "m holds NaN or Inf");
    vks_buffer_destroy(M), vks_buffer_destroy(W1), vks_buffer_destroy(W2), vks_buffer_destroy(G);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VKT_TEST(test_monarch_project_recovers_monarch), VKT_TEST(test_monarch_project_large),
        VKT_TEST(test_monarch_project_many_dispatches), VKT_TEST(test_monarch_project_svd_bound),        VKT_TEST(test_monarch_project_padded_and_decaying),
        VKT_TEST(test_monarch_project_iteration_control), VKT_TEST(test_monarch_project_f16),
        VKT_TEST(test_monarch_project_other_kernel_family), VKT_TEST(test_monarch_project_errors),
    };
    return VKT_RUN(tests);
}
