/* Dense GEMM against the float64 oracle: ragged shapes, every transpose, batches,
 * strided views, epilogues, every dtype; and its error paths. */
#include <math.h>
#include <string.h>

#include "reference.h"
#include "vks_test.h"

typedef struct gemm_case {
    int64_t m, n, k, batch;
    vks_transpose ta, tb;
    double alpha, beta;
    vks_dtype dt;
    vks_activation act;
    bool bias;
    int64_t pad;    /* extra elements per row of every stored matrix (ld > cols) */
    int64_t offset; /* elements before each matrix in its buffer (misaligns paired loads) */
} gemm_case;

/* Runs one case on the device and the oracle and compares. */
static void run_case(const gemm_case *gc, uint64_t seed) {
    vkt_rng rng = vkt_rng_seed(seed);
    const int64_t m = gc->m, n = gc->n, k = gc->k, nb = gc->batch;
    /* Stored shapes: A is m x k (or k x m when transposed), likewise B. */
    const int64_t ar = gc->ta ? k : m, ac = gc->ta ? m : k;
    const int64_t br = gc->tb ? n : k, bc = gc->tb ? k : n;
    const int64_t lda = ac + gc->pad, ldb = bc + gc->pad, ldc = n + gc->pad;
    const int64_t off = gc->offset;
    const size_t na = (size_t)(nb * ar * lda + off), nbb = (size_t)(nb * br * ldb + off), nc = (size_t)(nb * m * ldc + off);
    double *a = vkt_random(&rng, na, -1, 1), *b = vkt_random(&rng, nbb, -1, 1);
    double *c = vkt_random(&rng, nc, -1, 1), *bias = vkt_random(&rng, (size_t)n, -1, 1);
    vkt_round_to(gc->dt, a, na);
    vkt_round_to(gc->dt, b, nbb);
    vkt_round_to(gc->dt, c, nc);
    vkt_round_to(gc->dt, bias, (size_t)n);

    vks_buffer *A = vkt_upload(gc->dt, a, na), *B = vkt_upload(gc->dt, b, nbb), *Bias = vkt_upload(gc->dt, bias, (size_t)n);
    vks_buffer *C = gc->beta == 0 ? vkt_poisoned(gc->dt, nc) : vkt_upload(gc->dt, c, nc);
    const uint64_t ob = (uint64_t)off * vkt_dtype_bytes(gc->dt);
    vks_tensor ta = {A, ob, gc->dt, 3, {nb, ar, ac}, {ar * lda, lda, 1}};
    vks_tensor tb = {B, ob, gc->dt, 3, {nb, br, bc}, {br * ldb, ldb, 1}};
    vks_tensor tc = {C, ob, gc->dt, 3, {nb, m, n}, {m * ldc, ldc, 1}};
    vks_tensor tbias = vks_tensor_1d(Bias, gc->dt, n);
    vks_gemm_desc d = VKS_GEMM_DESC_INIT;
    d.trans_a = gc->ta, d.trans_b = gc->tb, d.alpha = gc->alpha, d.beta = gc->beta;
    d.a = &ta, d.b = &tb, d.c = &tc, d.bias = gc->bias ? &tbias : NULL, d.activation = gc->act;
    VKT_OK(vks_gemm_ex(vkt->ctx, &d));
    double *got = vkt_download(C, gc->dt, 0, nc);

    double *want = malloc(nc * sizeof *want);
    memcpy(want, c, nc * sizeof *want);
    for (int64_t z = 0; z < nb; ++z) {
        ref_mat ra = {a + off + z * ar * lda, ar, ac, lda, 1}, rb = {b + off + z * br * ldb, br, bc, ldb, 1};
        ref_mat rc = {want + off + z * m * ldc, m, n, ldc, 1};
        ref_gemm(gc->alpha, gc->ta ? ref_t(ra) : ra, gc->tb ? ref_t(rb) : rb, gc->beta, rc);
        for (int64_t i = 0; i < m; ++i)
            for (int64_t j = 0; j < n; ++j) {
                double *v = ref_at(&rc, i, j);
                *v = ref_activate(gc->act, *v + (gc->bias ? bias[j] : 0.0));
            }
    }
    /* Compare the matrix elements; padding columns must be untouched (NaN or c). */
    size_t cnt = 0;
    double *g = malloc(nc * sizeof *g), *w = malloc(nc * sizeof *w);
    for (int64_t z = 0; z < nb; ++z)
        for (int64_t i = 0; i < m; ++i)
            for (int64_t j = 0; j < ldc; ++j) {
                size_t idx = (size_t)(off + z * m * ldc + i * ldc + j);
                if (j < n) g[cnt] = got[idx], w[cnt++] = want[idx];
                else if (gc->beta == 0) assert_true(isnan(got[idx]));
                else assert_true(got[idx] == c[idx]);
            }
    char what[160];
    snprintf(what, sizeof what, "gemm %s m=%lld n=%lld k=%lld batch=%lld ta=%d tb=%d act=%d bias=%d pad=%lld",
             gc->dt == VKS_DTYPE_F16 ? "f16" : gc->dt == VKS_DTYPE_F64 ? "f64" : "f32", (long long)m, (long long)n,
             (long long)k, (long long)nb, gc->ta, gc->tb, gc->act, gc->bias, (long long)gc->pad);
    /* f16 rounds the output too: its tolerance covers one rounding of the result. */
    vkt_assert_close(g, w, cnt, vkt_tol_sum(gc->dt, k), what);
    free(g), free(w), free(got), free(want), free(a), free(b), free(c), free(bias);
    VKT_OK(vks_buffer_destroy(A));
    VKT_OK(vks_buffer_destroy(B));
    VKT_OK(vks_buffer_destroy(C));
    VKT_OK(vks_buffer_destroy(Bias));
}

static const int64_t shapes[][3] = {{1, 1, 1}, {7, 13, 5}, {33, 65, 17}, {64, 64, 64},
                                    {129, 67, 130}, {1, 300, 257}, {300, 1, 31}, {5, 7, 0}};

static void test_gemm_f32_shapes_transposes(void **state) {
    (void)state;
    uint64_t seed = 1;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; ++s)
        for (int t = 0; t < 4; ++t) {
            gemm_case gc = {shapes[s][0], shapes[s][1], shapes[s][2], 1, t & 1, (t >> 1) & 1, 1.0, 0.0, VKS_DTYPE_F32};
            run_case(&gc, seed++);
        }
}

static void test_gemm_alpha_beta_and_padding(void **state) {
    (void)state;
    gemm_case gc = {45, 38, 29, 1, VKS_NO_TRANS, VKS_TRANS, -0.75, 0.5, VKS_DTYPE_F32, VKS_ACT_NONE, false, 3};
    run_case(&gc, 11);
    gc.ta = VKS_TRANS, gc.tb = VKS_NO_TRANS, gc.beta = 1.0, gc.pad = 1;
    run_case(&gc, 12);
}

/* The CPU kernel loads aligned pairs where it can; these shapes cross every condition:
 * even/odd K (a single last step), even/odd M and N, odd leading dimensions, odd batch
 * strides and a base misaligned by one element. */
static void test_gemm_paired_loads(void **state) {
    (void)state;
    static const int64_t dims[][4] = {{48, 80, 38, 1}, {48, 80, 37, 3}, {47, 81, 36, 1}, {32, 16, 9, 2}, {8, 2, 2, 1}};
    uint64_t seed = 100;
    for (size_t s = 0; s < sizeof dims / sizeof dims[0]; ++s)
        for (int t = 0; t < 4; ++t)
            for (int variant = 0; variant < 3; ++variant) {
                gemm_case gc = {dims[s][0], dims[s][1], dims[s][2], dims[s][3], t & 1, (t >> 1) & 1, 1.0, 0.0,
                                variant == 2 ? VKS_DTYPE_F16 : VKS_DTYPE_F32};
                gc.pad = variant == 1 ? 1 : 0;    /* odd leading dimensions */
                gc.offset = variant == 1 ? 1 : 0; /* base not pair-aligned */
                if (gc.dt == VKS_DTYPE_F16 && !(vkt->info.features & VKS_FEATURE_STORAGE16)) continue;
                run_case(&gc, seed++);
            }
}

static void test_gemm_batched(void **state) {
    (void)state;
    gemm_case gc = {19, 23, 31, 5, VKS_NO_TRANS, VKS_NO_TRANS, 1.0, 0.0, VKS_DTYPE_F32};
    run_case(&gc, 21);
    gc.ta = VKS_TRANS, gc.beta = 2.0;
    run_case(&gc, 22);
}

/* A shared by every batch entry: a rank-2 A against rank-3 B and C. */
static void test_gemm_batch_broadcast(void **state) {
    (void)state;
    vkt_rng rng = vkt_rng_seed(31);
    const int64_t m = 9, n = 14, k = 11, nb = 4;
    double *a = vkt_random(&rng, m * k, -1, 1), *b = vkt_random(&rng, nb * k * n, -1, 1);
    vkt_round_to(VKS_DTYPE_F32, a, m * k);
    vkt_round_to(VKS_DTYPE_F32, b, nb * k * n);
    vks_buffer *A = vkt_upload(VKS_DTYPE_F32, a, m * k), *B = vkt_upload(VKS_DTYPE_F32, b, nb * k * n);
    vks_buffer *C = vkt_poisoned(VKS_DTYPE_F32, nb * m * n);
    vks_tensor ta = vks_tensor_2d(A, VKS_DTYPE_F32, m, k), tb = vks_tensor_3d(B, VKS_DTYPE_F32, nb, k, n);
    vks_tensor tc = vks_tensor_3d(C, VKS_DTYPE_F32, nb, m, n);
    VKT_OK(vks_gemm(vkt->ctx, VKS_NO_TRANS, VKS_NO_TRANS, 1.0, &ta, &tb, 0.0, &tc));
    double *got = vkt_download(C, VKS_DTYPE_F32, 0, nb * m * n), *want = calloc(nb * m * n, sizeof *want);
    for (int64_t z = 0; z < nb; ++z)
        ref_gemm(1.0, ref_rowmajor(a, m, k), ref_rowmajor(b + z * k * n, k, n), 0.0, ref_rowmajor(want + z * m * n, m, n));
    vkt_assert_close(got, want, nb * m * n, 1e-5, "broadcast A");
    free(a), free(b), free(got), free(want);
    vks_buffer_destroy(A), vks_buffer_destroy(B), vks_buffer_destroy(C);
}

static void test_gemm_epilogues(void **state) {
    (void)state;
    for (int act = 0; act <= 3; ++act) {
        gemm_case gc = {37, 41, 23, 1, VKS_NO_TRANS, VKS_TRANS, 1.5, 0.0, VKS_DTYPE_F32, (vks_activation)act, true};
        run_case(&gc, 40 + act);
    }
}

static void test_gemm_f16(void **state) {
    (void)state;
    if (!(vkt->info.features & VKS_FEATURE_STORAGE16)) skip();
    for (int t = 0; t < 4; ++t) {
        gemm_case gc = {70, 45, 100, 2, t & 1, (t >> 1) & 1, 1.0, 0.0, VKS_DTYPE_F16, VKS_ACT_GELU_TANH, true};
        run_case(&gc, 50 + t);
    }
}

static void test_gemm_f64(void **state) {
    (void)state;
    if (!(vkt->info.features & VKS_FEATURE_FLOAT64)) skip();
    for (int t = 0; t < 4; ++t) {
        gemm_case gc = {67, 35, 90, 2, t & 1, (t >> 1) & 1, 0.5, 0.25, VKS_DTYPE_F64, VKS_ACT_NONE, t == 3};
        run_case(&gc, 60 + t);
    }
}

static void test_gemm_large(void **state) {
    (void)state;
    gemm_case gc = {384, 320, 512, 1, VKS_NO_TRANS, VKS_NO_TRANS, 1.0, 0.0, VKS_DTYPE_F32};
    run_case(&gc, 70);
}

/* A reduction longer than lavapipe's loop limiter lets one invocation run (65535 loop
 * iterations): K = 140001 with bias and activation, which belong to the last slice. */
static void test_gemm_long_k(void **state) {
    (void)state;
    gemm_case gc = {3, 5, 140001, 1, VKS_NO_TRANS, VKS_TRANS, 1.0, 0.0, VKS_DTYPE_F32, VKS_ACT_RELU, true};
    run_case(&gc, 75);
}

/* Column-major storage, given through strides: A^T stored, and a column-major C. */
static void test_gemm_strided_views(void **state) {
    (void)state;
    vkt_rng rng = vkt_rng_seed(80);
    const int64_t m = 13, n = 17, k = 9;
    double *a = vkt_random(&rng, m * k, -1, 1), *b = vkt_random(&rng, k * n, -1, 1);
    vkt_round_to(VKS_DTYPE_F32, a, m * k);
    vkt_round_to(VKS_DTYPE_F32, b, k * n);
    /* a holds A column-major (A(i,k) = a[k*m + i]); C is written column-major. */
    vks_buffer *A = vkt_upload(VKS_DTYPE_F32, a, m * k), *B = vkt_upload(VKS_DTYPE_F32, b, k * n);
    vks_buffer *C = vkt_poisoned(VKS_DTYPE_F32, m * n + 8);
    vks_tensor ta = {A, 0, VKS_DTYPE_F32, 2, {m, k}, {1, m}};
    vks_tensor tb = vks_tensor_2d(B, VKS_DTYPE_F32, k, n);
    vks_tensor tc = {C, 8 * 4, VKS_DTYPE_F32, 2, {m, n}, {1, m}};
    VKT_OK(vks_gemm(vkt->ctx, VKS_NO_TRANS, VKS_NO_TRANS, 1.0, &ta, &tb, 0.0, &tc));
    double *got = vkt_download(C, VKS_DTYPE_F32, 8, m * n), *want = calloc(m * n, sizeof *want);
    ref_mat ra = {a, m, k, 1, m}, rc = {want, m, n, 1, m};
    ref_gemm(1.0, ra, ref_rowmajor(b, k, n), 0.0, rc);
    vkt_assert_close(got, want, m * n, 1e-5, "column-major A and C");
    free(a), free(b), free(got), free(want);
    vks_buffer_destroy(A), vks_buffer_destroy(B), vks_buffer_destroy(C);
}

static void test_gemm_errors(void **state) {
    (void)state;
    vks_buffer *A = vkt_poisoned(VKS_DTYPE_F32, 64), *B = vkt_poisoned(VKS_DTYPE_F32, 64), *C = vkt_poisoned(VKS_DTYPE_F32, 64);
    vks_buffer *I = vkt_poisoned(VKS_DTYPE_I32, 64);
    vks_tensor a = vks_tensor_2d(A, VKS_DTYPE_F32, 4, 5), b = vks_tensor_2d(B, VKS_DTYPE_F32, 5, 6);
    vks_tensor c = vks_tensor_2d(C, VKS_DTYPE_F32, 4, 6);
    vks_context *ctx = vkt->ctx;

    VKT_FAILS(vks_gemm(NULL, 0, 0, 1, &a, &b, 0, &c), VKS_ERROR_INVALID_ARGUMENT, "ctx is NULL");
    VKT_FAILS(vks_gemm(ctx, 0, 0, 1, NULL, &b, 0, &c), VKS_ERROR_INVALID_ARGUMENT, "a is NULL");
    VKT_FAILS(vks_gemm(ctx, 0, 0, 1, &a, &b, 0, NULL), VKS_ERROR_INVALID_ARGUMENT, "c is NULL");
    vks_tensor bad = vks_tensor_2d(B, VKS_DTYPE_F32, 4, 6);
    VKT_FAILS(vks_gemm(ctx, 0, 0, 1, &a, &bad, 0, &c), VKS_ERROR_SHAPE_MISMATCH, "inner dimensions differ");
    bad = vks_tensor_2d(C, VKS_DTYPE_F32, 4, 7);
    VKT_FAILS(vks_gemm(ctx, 0, 0, 1, &a, &b, 0, &bad), VKS_ERROR_SHAPE_MISMATCH, "c is 4 x 7, expected");
    bad = vks_tensor_2d(B, VKS_DTYPE_F16, 5, 6);
    VKT_FAILS(vks_gemm(ctx, 0, 0, 1, &a, &bad, 0, &c), VKS_ERROR_DTYPE_MISMATCH, "dtypes f32, f16, f32");
    vks_tensor ia = vks_tensor_2d(I, VKS_DTYPE_I32, 4, 5), ib = vks_tensor_2d(I, VKS_DTYPE_I32, 5, 6);
    vks_tensor ic = {I, 40 * 4, VKS_DTYPE_I32, 2, {4, 6}, {6, 1}};
    VKT_FAILS(vks_gemm(ctx, 0, 0, 1, &ia, &ib, 0, &ic), VKS_ERROR_UNSUPPORTED, "c has dtype i32; expected f32, f16 or f64");
    bad = vks_tensor_1d(A, VKS_DTYPE_F32, 20);
    VKT_FAILS(vks_gemm(ctx, 0, 0, 1, &bad, &b, 0, &c), VKS_ERROR_SHAPE_MISMATCH, "expected rank 2..3");
    bad = vks_tensor_2d(A, VKS_DTYPE_F32, 10, 10);
    VKT_FAILS(vks_gemm(ctx, 0, 0, 1, &bad, &b, 0, &c), VKS_ERROR_OUT_OF_RANGE, "spans bytes [0, 400) but its buffer has 256");
    bad = a, bad.shape[0] = -1;
    VKT_FAILS(vks_gemm(ctx, 0, 0, 1, &bad, &b, 0, &c), VKS_ERROR_INVALID_ARGUMENT, "a.shape[0] = -1");
    bad = a, bad.byte_offset = 2;
    VKT_FAILS(vks_gemm(ctx, 0, 0, 1, &bad, &b, 0, &c), VKS_ERROR_INVALID_ARGUMENT, "byte_offset = 2");
    bad = a, bad.strides[0] = 2, bad.strides[1] = 3;
    VKT_FAILS(vks_gemm(ctx, 0, 0, 1, &bad, &b, 0, &c), VKS_ERROR_UNSUPPORTED, "must be 1");
    VKT_FAILS(vks_gemm(ctx, 7, 0, 1, &a, &b, 0, &c), VKS_ERROR_INVALID_ARGUMENT, "trans_a = 7");
    vks_tensor alias = vks_tensor_2d(A, VKS_DTYPE_F32, 4, 6);
    VKT_FAILS(vks_gemm(ctx, 0, 0, 1, &a, &b, 0, &alias), VKS_ERROR_INVALID_ARGUMENT, "c overlaps a");
    /* An output whose rows collide (stride 0 between rows; a column-major one with too small
     * a column stride): invocations would race on one element. */
    vks_tensor crow = c;
    crow.strides[0] = 0;
    VKT_FAILS(vks_gemm(ctx, 0, 0, 1, &a, &b, 0, &crow), VKS_ERROR_INVALID_ARGUMENT,
              "vks_gemm: c's rows overlap (strides (0, 1) for 4 x 6)");
    vks_tensor ccol = {C, 0, VKS_DTYPE_F32, 2, {4, 6}, {1, 3}};
    VKT_FAILS(vks_gemm(ctx, 0, 0, 1, &a, &b, 0, &ccol), VKS_ERROR_INVALID_ARGUMENT,
              "vks_gemm: c's rows overlap (strides (1, 3) for 4 x 6)");
    vks_tensor cbatch = {C, 0, VKS_DTYPE_F32, 3, {2, 4, 6}, {0, 6, 1}};
    vks_tensor a2 = {A, 0, VKS_DTYPE_F32, 3, {2, 4, 5}, {0, 5, 1}};
    VKT_FAILS(vks_gemm(ctx, 0, 0, 1, &a2, &b, 0, &cbatch), VKS_ERROR_INVALID_ARGUMENT,
              "vks_gemm: c has batch 2 with batch stride 0");
    /* Batch entries that overlap each other: matrix 1 starts at matrix 0's second row. */
    vks_tensor cover = {C, 0, VKS_DTYPE_F32, 3, {2, 4, 6}, {6, 6, 1}};
    VKT_FAILS(vks_gemm(ctx, 0, 0, 1, &a2, &b, 0, &cover), VKS_ERROR_INVALID_ARGUMENT,
              "vks_gemm: c's batch entries overlap (batch stride 6 for 4 x 6 matrices with strides (6, 1))");
    /* Interleaved but distinct (rows of the two matrices alternate) is fine. */
    vks_tensor cinter = {C, 0, VKS_DTYPE_F32, 3, {2, 4, 6}, {6, 12, 1}};
    VKT_OK(vks_gemm(ctx, 0, 0, 1, &a2, &b, 0, &cinter));
    vks_gemm_desc d = VKS_GEMM_DESC_INIT;
    d.a = &a, d.b = &b, d.c = &c;
    vks_tensor tb5 = vks_tensor_1d(B, VKS_DTYPE_F32, 5);
    d.bias = &tb5;
    VKT_FAILS(vks_gemm_ex(ctx, &d), VKS_ERROR_SHAPE_MISMATCH, "vks_gemm_ex: bias has shape (5)");
    /* A bias inside c (its last row): the epilogue would read what other workgroups write. */
    vks_tensor bias_in_c = vks_tensor_1d(C, VKS_DTYPE_F32, 6);
    bias_in_c.byte_offset = 18 * 4;
    d.bias = &bias_in_c;
    VKT_FAILS(vks_gemm_ex(ctx, &d), VKS_ERROR_INVALID_ARGUMENT, "vks_gemm_ex: c overlaps bias in memory");
    d.bias = NULL;
    d.bias = NULL, d.activation = (vks_activation)9;
    VKT_FAILS(vks_gemm_ex(ctx, &d), VKS_ERROR_INVALID_ARGUMENT, "activation = 9");
    d.activation = VKS_ACT_NONE, d.struct_size = 8;
    VKT_FAILS(vks_gemm_ex(ctx, &d), VKS_ERROR_INVALID_ARGUMENT, "struct_size = 8");
    /* A buffer of another context. */
    vks_context *other = NULL;
    vks_context_options o = vkt_options();
    VKT_OK(vks_context_create(&o, &other));
    vks_buffer *foreign = NULL;
    VKT_OK(vks_buffer_create(other, 256, &foreign));
    bad = vks_tensor_2d(foreign, VKS_DTYPE_F32, 4, 5);
    VKT_FAILS(vks_gemm(ctx, 0, 0, 1, &bad, &b, 0, &c), VKS_ERROR_INVALID_ARGUMENT, "belongs to another context");
    VKT_OK(vks_context_destroy(other)); /* destroys `foreign` too */
    /* Nothing of the failed calls was recorded: the poisoned C is still NaN. */
    double *got = vkt_download(C, VKS_DTYPE_F32, 0, 24);
    for (int i = 0; i < 24; ++i) assert_true(isnan(got[i]));
    free(got);
    vks_buffer_destroy(A), vks_buffer_destroy(B), vks_buffer_destroy(C), vks_buffer_destroy(I);
}

/* gemm_tiled's options that are off by default (vks_tuning.gemm_tiled: double-buffered
 * shared memory, columns in runs of 4, other tiles), through the kernels GPUs run: f32/f16
 * tiles of 128 x 128 and 128 x 64 with both options, and a 3-term step that leaves partial
 * steps everywhere. f64 at 128 x 128 does not fit lavapipe's 32 KiB and takes the default there. */
static const vks_gemm_tile tiled_options[] = {
    {.bm = 128, .bn = 128, .bk = 8, .tm = 8, .tn = 8, .nbuf = 2, .col4 = 1},
    {.bm = 128, .bn = 64, .bk = 4, .tm = 8, .tn = 4, .nbuf = 2, .col4 = 1},
    {.bm = 32, .bn = 64, .bk = 3, .tm = 4, .tn = 4, .nbuf = 2, .col4 = 0},
};
static const char *const tiled_option_names[] = {"gemm_tiled 128,128,8,8,8,2,1", "gemm_tiled 128,64,4,8,4,2,1",
                                                 "gemm_tiled 32,64,3,4,4,2,0"};
static size_t tiled_option;

static int tiled_options_setup(void **state) {
    vks_tuning t = VKS_TUNING_INIT;
    t.kernels = VKS_KERNELS_GPU;
    t.gemm_tiled = tiled_options[tiled_option];
    vkt_set_tuning(&t); /* vkt_group_teardown resets it */
    if (vkt_group_setup(state)) return -1;
    vks_tuning got = {.struct_size = sizeof got}; /* the context took the tile */
    return vks_context_get_tuning(vkt->ctx, &got) == VKS_OK &&
                   !memcmp(&got.gemm_tiled, &t.gemm_tiled, sizeof got.gemm_tiled)
               ? 0
               : -1;
}

static int tiled_options_teardown(void **state) { return vkt_group_teardown(state); }

/* The same cases through the kernels GPUs run (on lavapipe: VKS_CONTEXT_GPU_KERNELS). */
int main(void) {
    const struct CMUnitTest tests[] = {
        VKT_TEST(test_gemm_f32_shapes_transposes), VKT_TEST(test_gemm_alpha_beta_and_padding),
        VKT_TEST(test_gemm_paired_loads),
        VKT_TEST(test_gemm_batched),               VKT_TEST(test_gemm_batch_broadcast),
        VKT_TEST(test_gemm_epilogues),             VKT_TEST(test_gemm_f16),
        VKT_TEST(test_gemm_f64),                   VKT_TEST(test_gemm_large),
        VKT_TEST(test_gemm_long_k),
        VKT_TEST(test_gemm_strided_views),         VKT_TEST(test_gemm_errors),
    };
    int failures = VKT_RUN(tests);
    /* On a GPU the first run already used the GPU kernels. */
    if (vkt_device_is_cpu()) failures += cmocka_run_group_tests_name("gemm with GPU kernels", tests, vkt_gpu_kernels_setup,
                                                                     vkt_group_teardown);
    const struct CMUnitTest tiled[] = {
        VKT_TEST(test_gemm_f32_shapes_transposes), VKT_TEST(test_gemm_alpha_beta_and_padding),
        VKT_TEST(test_gemm_batched),               VKT_TEST(test_gemm_epilogues),
        VKT_TEST(test_gemm_f16),                   VKT_TEST(test_gemm_f64),
        VKT_TEST(test_gemm_long_k),                VKT_TEST(test_gemm_strided_views),
    };
    for (tiled_option = 0; tiled_option < sizeof tiled_options / sizeof tiled_options[0]; ++tiled_option)
        failures += cmocka_run_group_tests_name(tiled_option_names[tiled_option], tiled, tiled_options_setup,
                                                tiled_options_teardown);
    return failures;
}
