/* Monarch forward, MonarchLinear and block-diagonal linear against float64 oracles built
 * from dense block-diagonal matrices and explicit permutation matrices (reference_monarch.c):
 * every path (auto, fused, two-pass, the peers' unfused), ragged shapes, nblocks from 1 to 32,
 * batch 1, in != out, padding, strided rows, epilogues, f16; and every error path. */
#include <math.h>
#include <string.h>

#include "reference.h"
#include "reference_monarch.h"
#include "vks_test.h"

typedef struct fwd_case {
    int64_t k, q, p, l, s, r, batch;
    int64_t n_in, m_out; /* 0: k*p and l*s; smaller: padded (MonarchLinear semantics) */
    vks_dtype dt;
    bool bias;
    vks_activation act;
    int64_t ld_pad; /* extra elements per row of x and y */
} fwd_case;

/* Whether the GPU kernel family runs (the context's tuning, else the device type). */
static bool gpu_kernels(void) { return vkt_gpu_kernels(); }

static const char *path_name(vks_monarch_path p) {
    static const char *names[] = {"auto", "fused", "two-pass", "unfused"};
    return names[p];
}

/* Runs one case through vks_monarch_forward (or vks_monarch_linear) on one path and
 * compares with the oracle; y's padding columns must stay NaN. */
static void run_forward(const fwd_case *c, vks_monarch_path path, bool linear, uint64_t seed) {
    vkt_rng rng = vkt_rng_seed(seed);
    const int64_t n = c->k * c->p, m = c->l * c->s, B = c->batch;
    const int64_t n_in = c->n_in ? c->n_in : n, m_out = c->m_out ? c->m_out : m;
    const int64_t ldx = n_in + c->ld_pad, ldy = m_out + c->ld_pad;
    const size_t nx = (size_t)(B * ldx), n1 = (size_t)(c->k * c->q * c->p), n2 = (size_t)(c->l * c->s * c->r);
    const size_t ny = (size_t)(B * ldy);
    double *x = vkt_random(&rng, nx, -1, 1), *w1 = vkt_random(&rng, n1, -1, 1), *w2 = vkt_random(&rng, n2, -1, 1);
    double *bias = vkt_random(&rng, (size_t)m_out, -1, 1);
    vkt_round_to(c->dt, x, nx), vkt_round_to(c->dt, w1, n1), vkt_round_to(c->dt, w2, n2);
    vkt_round_to(c->dt, bias, (size_t)m_out);
    vks_buffer *X = vkt_upload(c->dt, x, nx), *W1 = vkt_upload(c->dt, w1, n1), *W2 = vkt_upload(c->dt, w2, n2);
    vks_buffer *Bias = vkt_upload(c->dt, bias, (size_t)m_out), *Y = vkt_poisoned(c->dt, ny);
    vks_tensor tx = {X, 0, c->dt, 2, {B, n_in}, {ldx, 1}}, ty = {Y, 0, c->dt, 2, {B, m_out}, {ldy, 1}};
    vks_tensor tw1 = vks_tensor_3d(W1, c->dt, c->k, c->q, c->p), tw2 = vks_tensor_3d(W2, c->dt, c->l, c->s, c->r);
    vks_tensor tb = vks_tensor_1d(Bias, c->dt, m_out);
    vks_monarch_desc d = VKS_MONARCH_DESC_INIT;
    d.x = &tx, d.w1 = &tw1, d.w2 = &tw2, d.y = &ty, d.bias = c->bias ? &tb : NULL, d.activation = c->act;
    d.path = path, d.padded = n_in < n || m_out < m;
    VKT_OK(linear ? vks_monarch_linear(vkt->ctx, &d) : vks_monarch_forward(vkt->ctx, &d));
    double *got = vkt_download(Y, c->dt, 0, ny);

    double *want = malloc((size_t)(B * m_out) * sizeof *want), *g = malloc((size_t)(B * m_out) * sizeof *g);
    refm_monarch_forward(x, B, n_in, ldx, w1, c->k, c->q, c->p, w2, c->l, c->s, c->r, m_out, c->bias ? bias : NULL,
                         c->act, want);
    for (int64_t b = 0; b < B; ++b)
        for (int64_t j = 0; j < ldy; ++j) {
            if (j < m_out) g[b * m_out + j] = got[b * ldy + j];
            else assert_true(isnan(got[b * ldy + j])); /* never written */
        }
    char what[200];
    snprintf(what, sizeof what, "%s %s w1 (%lld,%lld,%lld) w2 (%lld,%lld,%lld) batch %lld in %lld out %lld act %d bias %d",
             linear ? "monarch_linear" : "monarch_forward", path_name(path), (long long)c->k, (long long)c->q,
             (long long)c->p, (long long)c->l, (long long)c->s, (long long)c->r, (long long)B, (long long)n_in,
             (long long)m_out, c->act, c->bias);
    vkt_assert_close(g, want, (size_t)(B * m_out), vkt_tol(c->dt), what);
    free(x), free(w1), free(w2), free(bias), free(got), free(want), free(g);
    vks_buffer_destroy(X), vks_buffer_destroy(W1), vks_buffer_destroy(W2), vks_buffer_destroy(Bias);
    vks_buffer_destroy(Y);
}

static bool fusable(const fwd_case *c) {
    const size_t n1 = (size_t)(c->k * c->q * c->p), n2 = (size_t)(c->l * c->s * c->r);
    vks_buffer *W1 = vkt_poisoned(c->dt, n1), *W2 = vkt_poisoned(c->dt, n2);
    vks_tensor w1 = vks_tensor_3d(W1, c->dt, c->k, c->q, c->p), w2 = vks_tensor_3d(W2, c->dt, c->l, c->s, c->r);
    int32_t f = -1;
    VKT_OK(vks_monarch_fusable(vkt->ctx, &w1, &w2, c->batch, &f));
    assert_true(f == 0 || f == 1);
    vks_buffer_destroy(W1), vks_buffer_destroy(W2);
    return f == 1;
}

/* Every path on one case; the fused one where the shape allows it (and then it must). */
static void run_all_paths(const fwd_case *c, uint64_t seed) {
    for (int path = 0; path <= 3; ++path) {
        if (path == VKS_MONARCH_PATH_FUSED && !fusable(c)) continue;
        run_forward(c, (vks_monarch_path)path, false, seed);
    }
}

/* (k, q, p, l, s, r, batch): nblocks 1, 2, 3, 4, 5, 8, 16, 32; q = R*l for R = 1, 2, 3 (fusable)
 * and q < l (not); square and rectangular; batch 1 and ragged batches. */
static const int64_t shapes[][7] = {
    {1, 5, 7, 1, 6, 5, 3},     {2, 2, 3, 2, 5, 2, 1},   {2, 6, 5, 3, 4, 4, 9},    {3, 2, 4, 6, 3, 1, 5},
    {4, 4, 4, 4, 4, 4, 17},    {4, 8, 5, 4, 3, 8, 2},   {5, 7, 9, 7, 11, 5, 13},  {8, 24, 6, 8, 10, 24, 19},
    {16, 16, 16, 16, 16, 16, 33}, {32, 2, 3, 32, 3, 2, 10}, {32, 32, 3, 32, 5, 32, 7}, {4, 4, 4, 4, 4, 4, 1},
};

static void test_monarch_forward_shapes(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; ++i) {
        const int64_t *s = shapes[i];
        fwd_case c = {s[0], s[1], s[2], s[3], s[4], s[5], s[6], 0, 0, VKS_DTYPE_F32};
        run_all_paths(&c, 100 + i);
    }
}

/* The closed form of the square case, checked on one element without any matrix: with
 * q = l and r = k, y[b, t*J + j] = sum_k w2[j, t, k] sum_i w1[k, j, i] x[b, k*I + i]. */
static void test_monarch_forward_closed_form(void **state) {
    (void)state;
    const int64_t K = 3, J = 4, I = 5, T = 2, B = 2; /* w1 (K, J, I), w2 (J, T, K) */
    vkt_rng rng = vkt_rng_seed(7);
    double *x = vkt_random(&rng, B * K * I, -1, 1), *w1 = vkt_random(&rng, K * J * I, -1, 1);
    double *w2 = vkt_random(&rng, J * T * K, -1, 1);
    vkt_round_to(VKS_DTYPE_F32, x, B * K * I), vkt_round_to(VKS_DTYPE_F32, w1, K * J * I);
    vkt_round_to(VKS_DTYPE_F32, w2, J * T * K);
    vks_buffer *X = vkt_upload(VKS_DTYPE_F32, x, B * K * I), *W1 = vkt_upload(VKS_DTYPE_F32, w1, K * J * I);
    vks_buffer *W2 = vkt_upload(VKS_DTYPE_F32, w2, J * T * K), *Y = vkt_poisoned(VKS_DTYPE_F32, B * T * J);
    vks_tensor tx = vks_tensor_2d(X, VKS_DTYPE_F32, B, K * I), ty = vks_tensor_2d(Y, VKS_DTYPE_F32, B, T * J);
    vks_tensor tw1 = vks_tensor_3d(W1, VKS_DTYPE_F32, K, J, I), tw2 = vks_tensor_3d(W2, VKS_DTYPE_F32, J, T, K);
    const fwd_case shape = {K, J, I, J, T, K, B, 0, 0, VKS_DTYPE_F32};
    for (int path = 0; path <= 3; ++path) {
        if (path == VKS_MONARCH_PATH_FUSED && !fusable(&shape)) continue;
        vks_monarch_desc d = VKS_MONARCH_DESC_INIT;
        d.x = &tx, d.w1 = &tw1, d.w2 = &tw2, d.y = &ty, d.path = (vks_monarch_path)path;
        VKT_OK(vks_monarch_forward(vkt->ctx, &d));
        double *got = vkt_download(Y, VKS_DTYPE_F32, 0, B * T * J), want[2 * 2 * 4];
        for (int64_t b = 0; b < B; ++b)
            for (int64_t t = 0; t < T; ++t)
                for (int64_t j = 0; j < J; ++j) {
                    double acc = 0;
                    for (int64_t k = 0; k < K; ++k) {
                        double inner = 0;
                        for (int64_t i = 0; i < I; ++i) inner += w1[(k * J + j) * I + i] * x[b * K * I + k * I + i];
                        acc += w2[(j * T + t) * K + k] * inner;
                    }
                    want[b * T * J + t * J + j] = acc;
                }
        vkt_assert_close(got, want, B * T * J, 1e-5, path_name((vks_monarch_path)path));
        free(got);
    }
    free(x), free(w1), free(w2);
    vks_buffer_destroy(X), vks_buffer_destroy(W1), vks_buffer_destroy(W2), vks_buffer_destroy(Y);
}

/* The oracle itself: its factor-by-factor forward against the dense M it builds. */
static void test_monarch_oracle_consistent(void **state) {
    (void)state;
    vkt_rng rng = vkt_rng_seed(9);
    const int64_t k = 2, q = 6, p = 5, l = 3, s = 4, r = 4, B = 3;
    double *x = vkt_random(&rng, B * k * p, -1, 1), *w1 = vkt_random(&rng, k * q * p, -1, 1);
    double *w2 = vkt_random(&rng, l * s * r, -1, 1), y1[3 * 12], y2[3 * 12];
    double *mm = refm_monarch_dense(w1, k, q, p, w2, l, s, r);
    refm_monarch_forward(x, B, k * p, k * p, w1, k, q, p, w2, l, s, r, l * s, NULL, 0, y1);
    refm_linear(x, B, k * p, k * p, mm, k * p, l * s, NULL, 0, y2);
    vkt_assert_close(y1, y2, B * l * s, 1e-14, "oracle forward vs dense M");
    /* And M against the reference's closed form of the q = l, r = k case is covered by
     * test_monarch_forward_closed_form through the device. */
    free(x), free(w1), free(w2), free(mm);
}

static void test_monarch_forward_epilogues(void **state) {
    (void)state;
    for (int act = 0; act <= 3; ++act) {
        fwd_case c = {4, 8, 5, 4, 3, 8, 11, 0, 0, VKS_DTYPE_F32, true, (vks_activation)act};
        run_all_paths(&c, 200 + act);
        fwd_case c2 = {3, 2, 4, 6, 3, 1, 6, 0, 0, VKS_DTYPE_F32, act != 1, (vks_activation)act};
        run_all_paths(&c2, 210 + act);
    }
}

static void test_monarch_forward_f16(void **state) {
    (void)state;
    if (!(vkt->info.features & VKS_FEATURE_STORAGE16)) skip();
    static const int64_t f16_shapes[][7] = {{4, 4, 4, 4, 4, 4, 9}, {2, 6, 5, 3, 4, 4, 5}, {3, 2, 4, 6, 3, 1, 4},
                                            {16, 16, 16, 16, 16, 16, 21}};
    for (size_t i = 0; i < sizeof f16_shapes / sizeof f16_shapes[0]; ++i) {
        const int64_t *s = f16_shapes[i];
        fwd_case c = {s[0], s[1], s[2], s[3], s[4], s[5], s[6], 0, 0, VKS_DTYPE_F16, i % 2 == 1, VKS_ACT_GELU_TANH};
        run_all_paths(&c, 300 + i);
    }
}

/* Rows further apart than their width, and a rank-3 x (batch, seq, n). */
static void test_monarch_forward_strided_rows(void **state) {
    (void)state;
    fwd_case c = {4, 4, 5, 4, 6, 4, 7, 0, 0, VKS_DTYPE_F32, true, VKS_ACT_NONE, 3};
    run_all_paths(&c, 400);
    vkt_rng rng = vkt_rng_seed(401);
    const int64_t k = 2, q = 2, p = 3, l = 2, s = 2, r = 2, n = 6, m = 4;
    double *x = vkt_random(&rng, 2 * 3 * n, -1, 1), *w1 = vkt_random(&rng, k * q * p, -1, 1);
    double *w2 = vkt_random(&rng, l * s * r, -1, 1), want[6 * 4];
    vkt_round_to(VKS_DTYPE_F32, x, 36), vkt_round_to(VKS_DTYPE_F32, w1, 12), vkt_round_to(VKS_DTYPE_F32, w2, 8);
    vks_buffer *X = vkt_upload(VKS_DTYPE_F32, x, 36), *W1 = vkt_upload(VKS_DTYPE_F32, w1, 12);
    vks_buffer *W2 = vkt_upload(VKS_DTYPE_F32, w2, 8), *Y = vkt_poisoned(VKS_DTYPE_F32, 24);
    vks_tensor tx = vks_tensor_3d(X, VKS_DTYPE_F32, 2, 3, n), ty = vks_tensor_3d(Y, VKS_DTYPE_F32, 2, 3, m);
    vks_tensor tw1 = vks_tensor_3d(W1, VKS_DTYPE_F32, k, q, p), tw2 = vks_tensor_3d(W2, VKS_DTYPE_F32, l, s, r);
    vks_monarch_desc d = VKS_MONARCH_DESC_INIT;
    d.x = &tx, d.w1 = &tw1, d.w2 = &tw2, d.y = &ty;
    VKT_OK(vks_monarch_forward(vkt->ctx, &d));
    double *got = vkt_download(Y, VKS_DTYPE_F32, 0, 24);
    refm_monarch_forward(x, 6, n, n, w1, k, q, p, w2, l, s, r, m, NULL, 0, want);
    vkt_assert_close(got, want, 24, 1e-5, "rank-3 x");
    free(x), free(w1), free(w2), free(got);
    vks_buffer_destroy(X), vks_buffer_destroy(W1), vks_buffer_destroy(W2), vks_buffer_destroy(Y);
}

/* n = 1024, nblocks = 32 (the benchmark's shape), and a non-square R = 4 one. */
static void test_monarch_forward_large(void **state) {
    (void)state;
    fwd_case c = {32, 32, 32, 32, 32, 32, 37, 0, 0, VKS_DTYPE_F32, true, VKS_ACT_RELU};
    run_all_paths(&c, 500);
    fwd_case c2 = {16, 64, 64, 16, 48, 64, 29, 0, 0, VKS_DTYPE_F32};
    run_forward(&c2, VKS_MONARCH_PATH_AUTO, false, 501);
}

/* The fused path when the batch is not a multiple of any row tile and with 1..3 rows. */
static void test_monarch_forward_ragged_batches(void **state) {
    (void)state;
    static const int64_t batches[] = {1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 33, 65};
    for (size_t i = 0; i < sizeof batches / sizeof batches[0]; ++i) {
        fwd_case c = {8, 8, 8, 8, 8, 8, batches[i], 0, 0, VKS_DTYPE_F32};
        run_forward(&c, VKS_MONARCH_PATH_AUTO, false, 600 + i);
    }
}

/* fly's MonarchLinear: weight shapes from (in, out, nblocks), zero-padded input, truncated output. */
static void test_monarch_linear(void **state) {
    (void)state;
    static const int64_t cases[][4] = {/* in, out, nblocks, batch */
                                       {10, 13, 4, 5}, {37, 20, 3, 4}, {64, 64, 8, 9}, {100, 40, 32, 3},
                                       {5, 9, 4, 2},   {3, 3, 4, 2},   {48, 96, 4, 1}, {1024, 1024, 32, 6}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
        int64_t w1[3], w2[3];
        VKT_OK(vks_monarch_linear_shapes(cases[i][0], cases[i][1], cases[i][2], w1, w2));
        /* The rule, restated: in_blk = ceil(in/nb), out_blk = ceil(out/nb). */
        const int64_t nb = cases[i][2], ib = (cases[i][0] + nb - 1) / nb, ob = (cases[i][1] + nb - 1) / nb;
        if (ib * nb < ob * nb) {
            assert_true(w1[0] == nb && w1[1] == ib && w1[2] == ib && w2[0] == nb && w2[1] == ob && w2[2] == ib);
        } else {
            assert_true(w1[0] == nb && w1[1] == ob && w1[2] == ib && w2[0] == nb && w2[1] == ob && w2[2] == ob);
        }
        fwd_case c = {w1[0], w1[1], w1[2], w2[0], w2[1], w2[2], cases[i][3], cases[i][0], cases[i][1],
                      VKS_DTYPE_F32, true, i % 2 ? VKS_ACT_GELU_ERF : VKS_ACT_NONE};
        run_forward(&c, VKS_MONARCH_PATH_AUTO, true, 700 + i);
        if (i < 6) {
            run_forward(&c, VKS_MONARCH_PATH_TWO_PASS, true, 710 + i);
            run_forward(&c, VKS_MONARCH_PATH_UNFUSED, true, 720 + i);
            if (fusable(&c)) run_forward(&c, VKS_MONARCH_PATH_FUSED, true, 730 + i);
        }
    }
}

/* ---- block-diagonal linear ---------------------------------------------------------------------- */

static void run_blockdiag(int64_t nb, int64_t ob, int64_t ib, int64_t B, vks_dtype dt, bool bias, vks_activation act,
                          uint64_t seed) {
    vkt_rng rng = vkt_rng_seed(seed);
    const int64_t n = nb * ib, m = nb * ob;
    double *x = vkt_random(&rng, B * n, -1, 1), *w = vkt_random(&rng, nb * ob * ib, -1, 1);
    double *bv = vkt_random(&rng, m, -1, 1);
    vkt_round_to(dt, x, B * n), vkt_round_to(dt, w, nb * ob * ib), vkt_round_to(dt, bv, m);
    vks_buffer *X = vkt_upload(dt, x, B * n), *W = vkt_upload(dt, w, nb * ob * ib), *Bv = vkt_upload(dt, bv, m);
    vks_buffer *Y = vkt_poisoned(dt, B * m);
    vks_tensor tx = vks_tensor_2d(X, dt, B, n), tw = vks_tensor_3d(W, dt, nb, ob, ib), ty = vks_tensor_2d(Y, dt, B, m);
    vks_tensor tb = vks_tensor_1d(Bv, dt, m);
    vks_blockdiag_desc d = VKS_BLOCKDIAG_DESC_INIT;
    d.x = &tx, d.w = &tw, d.y = &ty, d.bias = bias ? &tb : NULL, d.activation = act;
    VKT_OK(vks_blockdiag_linear(vkt->ctx, &d));
    double *got = vkt_download(Y, dt, 0, B * m), *want = malloc(B * m * sizeof *want);
    double *bd = refm_blockdiag(w, nb, ob, ib);
    refm_linear(x, B, n, n, bd, n, m, bias ? bv : NULL, act, want);
    char what[128];
    snprintf(what, sizeof what, "blockdiag nb=%lld out_blk=%lld in_blk=%lld batch=%lld", (long long)nb, (long long)ob,
             (long long)ib, (long long)B);
    vkt_assert_close(got, want, B * m, vkt_tol(dt), what);
    free(x), free(w), free(bv), free(got), free(want), free(bd);
    vks_buffer_destroy(X), vks_buffer_destroy(W), vks_buffer_destroy(Bv), vks_buffer_destroy(Y);
}

static void test_monarch_blockdiag_linear(void **state) {
    (void)state;
    static const int64_t cases[][4] = {{1, 7, 5, 3}, {2, 3, 8, 1}, {4, 16, 16, 33}, {16, 5, 3, 17}, {32, 4, 4, 9},
                                       {3, 40, 70, 20}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i)
        run_blockdiag(cases[i][0], cases[i][1], cases[i][2], cases[i][3], VKS_DTYPE_F32, i % 2 == 0,
                      (vks_activation)(i % 4), 800 + i);
    if (vkt->info.features & VKS_FEATURE_STORAGE16) run_blockdiag(4, 12, 9, 7, VKS_DTYPE_F16, true, VKS_ACT_RELU, 810);
}

/* ---- errors ------------------------------------------------------------------------------------- */

static void test_monarch_errors(void **state) {
    (void)state;
    vks_context *ctx = vkt->ctx;
    vks_buffer *X = vkt_poisoned(VKS_DTYPE_F32, 256), *W1 = vkt_poisoned(VKS_DTYPE_F32, 256);
    vks_buffer *W2 = vkt_poisoned(VKS_DTYPE_F32, 256), *Y = vkt_poisoned(VKS_DTYPE_F32, 256);
    vks_buffer *I = vkt_poisoned(VKS_DTYPE_I32, 256);
    /* x (3, 8), w1 (2, 4, 4), w2 (4, 3, 2), y (3, 12) */
    vks_tensor x = vks_tensor_2d(X, VKS_DTYPE_F32, 3, 8), y = vks_tensor_2d(Y, VKS_DTYPE_F32, 3, 12);
    vks_tensor w1 = vks_tensor_3d(W1, VKS_DTYPE_F32, 2, 4, 4), w2 = vks_tensor_3d(W2, VKS_DTYPE_F32, 4, 3, 2);
    vks_monarch_desc d = VKS_MONARCH_DESC_INIT;
    d.x = &x, d.w1 = &w1, d.w2 = &w2, d.y = &y;
    VKT_OK(vks_monarch_forward(ctx, &d));

    VKT_FAILS(vks_monarch_forward(NULL, &d), VKS_ERROR_INVALID_ARGUMENT, "vks_monarch_forward: ctx is NULL");
    VKT_FAILS(vks_monarch_forward(ctx, NULL), VKS_ERROR_INVALID_ARGUMENT, "desc is NULL");
    vks_monarch_desc e = d;
    e.struct_size = 8;
    VKT_FAILS(vks_monarch_forward(ctx, &e), VKS_ERROR_INVALID_ARGUMENT, "struct_size = 8");
    e = d, e.x = NULL;
    VKT_FAILS(vks_monarch_forward(ctx, &e), VKS_ERROR_INVALID_ARGUMENT, "x is NULL");
    e = d, e.w2 = NULL;
    VKT_FAILS(vks_monarch_forward(ctx, &e), VKS_ERROR_INVALID_ARGUMENT, "w2 is NULL");
    /* x's width is not k*p */
    vks_tensor bad = vks_tensor_2d(X, VKS_DTYPE_F32, 3, 9);
    e = d, e.x = &bad;
    VKT_FAILS(vks_monarch_forward(ctx, &e), VKS_ERROR_SHAPE_MISMATCH, "x has 9 columns, expected k*p = 2*4 = 8");
    /* l*r != k*q: nblocks of w2 not matching */
    vks_tensor bw2 = vks_tensor_3d(W2, VKS_DTYPE_F32, 3, 3, 2);
    e = d, e.w2 = &bw2;
    VKT_FAILS(vks_monarch_forward(ctx, &e), VKS_ERROR_SHAPE_MISMATCH, "expected l*r == k*q but 6 != 8");
    vks_tensor by = vks_tensor_2d(Y, VKS_DTYPE_F32, 3, 10);
    e = d, e.y = &by;
    VKT_FAILS(vks_monarch_forward(ctx, &e), VKS_ERROR_SHAPE_MISMATCH, "y has 10 columns, expected l*s = 4*3 = 12");
    by = vks_tensor_2d(Y, VKS_DTYPE_F32, 4, 12);
    e = d, e.y = &by;
    VKT_FAILS(vks_monarch_forward(ctx, &e), VKS_ERROR_SHAPE_MISMATCH, "x has 3 rows but y has 4");
    /* padded allows narrower x, but never wider */
    e = d, e.x = &bad, e.padded = 1;
    VKT_FAILS(vks_monarch_forward(ctx, &e), VKS_ERROR_SHAPE_MISMATCH, "expected 1 .. k*p");
    e = d, e.padded = 2;
    VKT_FAILS(vks_monarch_forward(ctx, &e), VKS_ERROR_INVALID_ARGUMENT, "padded = 2");
    /* unsupported dtypes: i32, and f64 (not a Monarch dtype) */
    vks_tensor iw1 = vks_tensor_3d(I, VKS_DTYPE_I32, 2, 4, 4);
    e = d, e.w1 = &iw1;
    VKT_FAILS(vks_monarch_forward(ctx, &e), VKS_ERROR_UNSUPPORTED, "w1 has dtype i32; expected f32 or f16");
    vks_tensor fw1 = vks_tensor_3d(W1, VKS_DTYPE_F64, 2, 4, 4);
    e = d, e.w1 = &fw1;
    VKT_FAILS(vks_monarch_forward(ctx, &e), VKS_ERROR_UNSUPPORTED, "w1 has dtype f64");
    vks_tensor hx = vks_tensor_2d(X, VKS_DTYPE_F16, 3, 8);
    e = d, e.x = &hx;
    VKT_FAILS(vks_monarch_forward(ctx, &e), VKS_ERROR_DTYPE_MISMATCH, "x has dtype f16, expected f32");
    /* weights must be rank 3, compact, non-empty */
    vks_tensor w2d = vks_tensor_2d(W1, VKS_DTYPE_F32, 8, 4);
    e = d, e.w1 = &w2d;
    VKT_FAILS(vks_monarch_forward(ctx, &e), VKS_ERROR_SHAPE_MISMATCH, "w1 has shape (8, 4) (rank 2), expected rank 3");
    vks_tensor wst = {W1, 0, VKS_DTYPE_F32, 3, {2, 4, 4}, {32, 8, 1}};
    e = d, e.w1 = &wst;
    VKT_FAILS(vks_monarch_forward(ctx, &e), VKS_ERROR_UNSUPPORTED, "weights must be compact");
    vks_tensor w0 = vks_tensor_3d(W1, VKS_DTYPE_F32, 2, 0, 4);
    e = d, e.w1 = &w0;
    VKT_FAILS(vks_monarch_forward(ctx, &e), VKS_ERROR_SHAPE_MISMATCH, "w1.shape[1] = 0, expected >= 1");
    /* x with a non-contiguous row, and overlapping rows */
    vks_tensor xs = {X, 0, VKS_DTYPE_F32, 2, {3, 8}, {16, 2}};
    e = d, e.x = &xs;
    VKT_FAILS(vks_monarch_forward(ctx, &e), VKS_ERROR_UNSUPPORTED, "x.strides[1] = 2");
    vks_tensor xo = {X, 0, VKS_DTYPE_F32, 2, {3, 8}, {4, 1}};
    e = d, e.x = &xo;
    VKT_FAILS(vks_monarch_forward(ctx, &e), VKS_ERROR_UNSUPPORTED, "x's row stride 4 is below its 8 columns (rows overlap)");
    /* One meaning for empty tensors: they touch no memory, so an empty batch whose x and y
     * start at the same byte aliases nothing (and writes nothing). */
    vks_tensor x0 = {X, 0, VKS_DTYPE_F32, 2, {0, 8}, {8, 1}}, y0 = {X, 0, VKS_DTYPE_F32, 2, {0, 12}, {12, 1}};
    e = d, e.x = &x0, e.y = &y0;
    VKT_OK(vks_monarch_forward(ctx, &e));
    /* A rank-4 y (2, 1, 3, 12) whose batches are 40 elements apart: the size-1 dimension's
     * stride (40) says nothing about how rows 0..2 and 3..5 sit, so the batch stride must be
     * checked against 3 rows of 12, not against that stride (the kernels would write the six
     * rows 12 apart, outside where this tensor lies). */
    vks_tensor y4 = {Y, 0, VKS_DTYPE_F32, 4, {2, 1, 3, 12}, {40, 40, 12, 1}};
    vks_tensor x4 = {X, 0, VKS_DTYPE_F32, 4, {2, 1, 3, 8}, {24, 24, 8, 1}};
    e = d, e.x = &x4, e.y = &y4;
    VKT_FAILS(vks_monarch_forward(ctx, &e), VKS_ERROR_UNSUPPORTED, "y.strides[0] = 40; leading dimensions must collapse into rows (expected 36)");
    vks_blockdiag_desc b4 = VKS_BLOCKDIAG_DESC_INIT;
    vks_tensor w4 = vks_tensor_3d(W1, VKS_DTYPE_F32, 2, 6, 4);
    b4.x = &x4, b4.w = &w4, b4.y = &y4;
    VKT_FAILS(vks_blockdiag_linear(ctx, &b4), VKS_ERROR_UNSUPPORTED, "y.strides[0] = 40; leading dimensions must collapse into rows (expected 36)");
    /* the same with compact batches is fine: six rows 12 apart */
    y4.strides[0] = y4.strides[1] = 36;
    VKT_OK(vks_monarch_forward(ctx, &e));
    /* bias, activation, path */
    vks_tensor b5 = vks_tensor_1d(W1, VKS_DTYPE_F32, 5);
    e = d, e.bias = &b5;
    VKT_FAILS(vks_monarch_forward(ctx, &e), VKS_ERROR_SHAPE_MISMATCH, "bias has shape (5) and stride 1, expected (12)");
    e = d, e.activation = (vks_activation)7;
    VKT_FAILS(vks_monarch_forward(ctx, &e), VKS_ERROR_INVALID_ARGUMENT, "activation = 7");
    e = d, e.path = (vks_monarch_path)9;
    VKT_FAILS(vks_monarch_forward(ctx, &e), VKS_ERROR_INVALID_ARGUMENT, "path = 9");
    /* y aliasing an input */
    vks_tensor ya = vks_tensor_2d(W1, VKS_DTYPE_F32, 3, 12);
    e = d, e.y = &ya;
    VKT_FAILS(vks_monarch_forward(ctx, &e), VKS_ERROR_INVALID_ARGUMENT, "y overlaps w1");
    /* out of the buffer */
    vks_tensor xb = vks_tensor_2d(X, VKS_DTYPE_F32, 40, 8);
    vks_tensor yb = vks_tensor_2d(Y, VKS_DTYPE_F32, 40, 12);
    e = d, e.x = &xb, e.y = &yb;
    VKT_FAILS(vks_monarch_forward(ctx, &e), VKS_ERROR_OUT_OF_RANGE, "x of shape (40, 8) spans bytes [0, 1280)");
    /* fused asked for a shape it cannot take: q = 2 < l = 4 */
    vks_tensor fq1 = vks_tensor_3d(W1, VKS_DTYPE_F32, 4, 2, 2), fq2 = vks_tensor_3d(W2, VKS_DTYPE_F32, 4, 3, 2);
    vks_buffer *X40 = vkt_poisoned(VKS_DTYPE_F32, 40 * 8), *Y40 = vkt_poisoned(VKS_DTYPE_F32, 40 * 12);
    vks_tensor x40 = vks_tensor_2d(X40, VKS_DTYPE_F32, 40, 8), y40 = vks_tensor_2d(Y40, VKS_DTYPE_F32, 40, 12);
    e = d, e.x = &x40, e.y = &y40, e.w1 = &fq1, e.w2 = &fq2, e.path = VKS_MONARCH_PATH_FUSED; /* batch 40: every device */
    VKT_FAILS(vks_monarch_forward(ctx, &e), VKS_ERROR_UNSUPPORTED, "q = 2 is not a multiple of l = 4");
    vks_buffer_destroy(X40), vks_buffer_destroy(Y40);
    int32_t f = -1;
    VKT_OK(vks_monarch_fusable(ctx, &fq1, &fq2, 3, &f));
    assert_int_equal(f, gpu_kernels() ? 1 : 0); /* the GPU decode kernel takes any shape */
    VKT_FAILS(vks_monarch_fusable(ctx, &fq1, &bw2, 3, &f), VKS_ERROR_SHAPE_MISMATCH, "l*r = 6 but k*q = 8");
    VKT_FAILS(vks_monarch_fusable(ctx, &fq1, &fq2, 3, NULL), VKS_ERROR_INVALID_ARGUMENT, "fusable is NULL");
    VKT_FAILS(vks_monarch_fusable(ctx, &fq1, &fq2, 0, &f), VKS_ERROR_INVALID_ARGUMENT, "batch = 0");

    /* The unfused path's zero-padded copy of x is B x k*p and its out2 B x l*s, indexed with
     * 32 bits like every tensor: padded shapes whose copies pass 2^32 elements fail up front
     * (here B = 8192 rows of one column against k*p = 2^20, and l*s = 2^20 against one). */
    {
        vks_buffer *WB = vkt_poisoned(VKS_DTYPE_F32, (size_t)1 << 20), *XB = vkt_poisoned(VKS_DTYPE_F32, 8192);
        vks_buffer *YB = vkt_poisoned(VKS_DTYPE_F32, 8192), *W1s = vkt_poisoned(VKS_DTYPE_F32, 1);
        vks_tensor pw1 = vks_tensor_3d(WB, VKS_DTYPE_F32, 1, 1, 1 << 20), pw2 = vks_tensor_3d(W1s, VKS_DTYPE_F32, 1, 1, 1);
        vks_tensor px = vks_tensor_2d(XB, VKS_DTYPE_F32, 8192, 1), py = vks_tensor_2d(YB, VKS_DTYPE_F32, 8192, 1);
        e = d, e.x = &px, e.y = &py, e.w1 = &pw1, e.w2 = &pw2, e.padded = 1, e.path = VKS_MONARCH_PATH_UNFUSED;
        VKT_FAILS(vks_monarch_forward(ctx, &e), VKS_ERROR_OUT_OF_RANGE,
                  "the unfused path's zero-padded x would be 8192 x 1048576 elements, past 2^32");
        vks_tensor qw1 = vks_tensor_3d(W1s, VKS_DTYPE_F32, 1, 1, 1), qw2 = vks_tensor_3d(WB, VKS_DTYPE_F32, 1, 1 << 20, 1);
        e = d, e.x = &px, e.y = &py, e.w1 = &qw1, e.w2 = &qw2, e.padded = 1, e.path = VKS_MONARCH_PATH_UNFUSED;
        VKT_FAILS(vks_monarch_forward(ctx, &e), VKS_ERROR_OUT_OF_RANGE,
                  "the unfused path's out2 would be 8192 x 1048576 elements, past 2^32");
        /* Two-pass needs neither copy (two rows: 8192 would be 2^33 multiply-adds of zeros). */
        vks_tensor px2 = vks_tensor_2d(XB, VKS_DTYPE_F32, 2, 1), py2 = vks_tensor_2d(YB, VKS_DTYPE_F32, 2, 1);
        e.x = &px2, e.y = &py2, e.path = VKS_MONARCH_PATH_TWO_PASS;
        VKT_OK(vks_monarch_forward(ctx, &e));
        VKT_OK(vks_synchronize(ctx));
        vks_buffer_destroy(WB), vks_buffer_destroy(XB), vks_buffer_destroy(YB), vks_buffer_destroy(W1s);
    }

    /* MonarchLinear: the shapes rule */
    int64_t s1[3], s2[3];
    VKT_FAILS(vks_monarch_linear_shapes(10, 10, 0, s1, s2), VKS_ERROR_INVALID_ARGUMENT, "nblocks = 0, expected >= 1");
    VKT_FAILS(vks_monarch_linear_shapes(0, 10, 2, s1, s2), VKS_ERROR_INVALID_ARGUMENT, "in_features = 0");
    /* The largest sizes: no overflow in the ceiling divisions (UBSan checks). */
    VKT_OK(vks_monarch_linear_shapes(INT64_MAX, INT64_MAX - 1, 3, s1, s2));
    assert_true(s1[2] == INT64_MAX / 3 + 1 && s2[1] == (INT64_MAX - 2) / 3 + 1);
    VKT_FAILS(vks_monarch_linear_shapes(10, 10, 2, NULL, s2), VKS_ERROR_INVALID_ARGUMENT, "w1_shape is NULL");
    /* in = 8, out = 12, nblocks = 2 wants w1 (2, 4, 4), w2 (2, 6, 4); ours are (2,4,4), (4,3,2) */
    VKT_FAILS(vks_monarch_linear(ctx, &d), VKS_ERROR_SHAPE_MISMATCH, "MonarchLinear(in=8, out=12, nblocks=2) has w1 (2, 4, 4) and w2 (2, 6, 4)");

    /* block-diagonal linear */
    vks_tensor bw = vks_tensor_3d(W1, VKS_DTYPE_F32, 2, 6, 4), bx = vks_tensor_2d(X, VKS_DTYPE_F32, 3, 8);
    vks_tensor bo = vks_tensor_2d(Y, VKS_DTYPE_F32, 3, 12);
    vks_blockdiag_desc bdd = VKS_BLOCKDIAG_DESC_INIT;
    bdd.x = &bx, bdd.w = &bw, bdd.y = &bo;
    VKT_OK(vks_blockdiag_linear(ctx, &bdd));
    vks_blockdiag_desc be = bdd;
    vks_tensor bx3 = vks_tensor_2d(X, VKS_DTYPE_F32, 3, 9); /* nblocks does not divide: 9 = 2 * 4.5 */
    be.x = &bx3;
    VKT_FAILS(vks_blockdiag_linear(ctx, &be), VKS_ERROR_SHAPE_MISMATCH, "x has 9 columns, expected nblocks*in_blk = 2*4 = 8");
    vks_tensor bo2 = vks_tensor_2d(Y, VKS_DTYPE_F32, 3, 13);
    be = bdd, be.y = &bo2;
    VKT_FAILS(vks_blockdiag_linear(ctx, &be), VKS_ERROR_SHAPE_MISMATCH, "y has 13 columns, expected nblocks*out_blk = 2*6 = 12");
    vks_tensor ibw = vks_tensor_3d(I, VKS_DTYPE_I32, 2, 6, 4);
    be = bdd, be.w = &ibw;
    VKT_FAILS(vks_blockdiag_linear(ctx, &be), VKS_ERROR_UNSUPPORTED, "w has dtype i32");
    be = bdd, be.struct_size = 1;
    VKT_FAILS(vks_blockdiag_linear(ctx, &be), VKS_ERROR_INVALID_ARGUMENT, "vks_blockdiag_linear: desc->struct_size = 1");
    VKT_FAILS(vks_blockdiag_linear(NULL, &bdd), VKS_ERROR_INVALID_ARGUMENT, "ctx is NULL");
    vks_tensor by2 = vks_tensor_2d(X, VKS_DTYPE_F32, 3, 12);
    be = bdd, be.y = &by2;
    VKT_FAILS(vks_blockdiag_linear(ctx, &be), VKS_ERROR_INVALID_ARGUMENT, "y overlaps x");

    VKT_OK(vks_synchronize(ctx));
    vks_buffer_destroy(X), vks_buffer_destroy(W1), vks_buffer_destroy(W2), vks_buffer_destroy(Y), vks_buffer_destroy(I);
}

/* Every path on f32 cases (k, q, p, l, s, r, batch), bias on every other one, the
 * activations in turn. */
static void run_all_paths_f32(const int64_t (*shapes7)[7], size_t count, uint64_t seed) {
    for (size_t i = 0; i < count; ++i) {
        const int64_t *s = shapes7[i];
        fwd_case c = {s[0], s[1], s[2], s[3], s[4], s[5], s[6], 0, 0, VKS_DTYPE_F32, i % 2 == 0,
                      (vks_activation)(i % 4)};
        run_all_paths(&c, seed + i);
    }
}

/* Working memory the device cannot give (the unfused path's zero-padded copy of x: 2^30
 * elements of f32, past a 2 GiB heap): a status whose message names the op, not the buffer
 * allocator the caller never called; the context stays usable. */
static void test_monarch_scratch_too_large(void **state) {
    (void)state;
    if (vkt->info.device_local_bytes >= (4ull << 30)) skip(); /* it would run */
    vks_buffer *X = vkt_poisoned(VKS_DTYPE_F32, 8192), *W1 = vkt_poisoned(VKS_DTYPE_F32, 512 * 256);
    vks_buffer *W2 = vkt_poisoned(VKS_DTYPE_F32, 512), *Y = vkt_poisoned(VKS_DTYPE_F32, 8192 * 512);
    vks_tensor x = vks_tensor_2d(X, VKS_DTYPE_F32, 8192, 1), y = vks_tensor_2d(Y, VKS_DTYPE_F32, 8192, 512);
    vks_tensor w1 = vks_tensor_3d(W1, VKS_DTYPE_F32, 512, 1, 256), w2 = vks_tensor_3d(W2, VKS_DTYPE_F32, 512, 1, 1);
    vks_monarch_desc d = VKS_MONARCH_DESC_INIT;
    d.x = &x, d.w1 = &w1, d.w2 = &w2, d.y = &y, d.padded = 1, d.path = VKS_MONARCH_PATH_UNFUSED;
    const vks_status st = vks_monarch_forward(vkt->ctx, &d);
    assert_true(st == VKS_ERROR_OUT_OF_DEVICE_MEMORY || st == VKS_ERROR_OUT_OF_RANGE);
    assert_non_null(strstr(vks_last_error(NULL), "monarch_forward: its working memory (4"));
    VKT_OK(vks_synchronize(vkt->ctx));
    vks_buffer_destroy(X), vks_buffer_destroy(W1), vks_buffer_destroy(W2), vks_buffer_destroy(Y);
}

/* The kernels of the other device family (GPU kernels on lavapipe, CPU ones on a GPU), forced
 * through a context tuned for them, so that both are checked wherever the suite runs. */
static void test_monarch_other_kernel_family(void **state) {
    (void)state;
    vks_tuning t = VKS_TUNING_INIT;
    t.kernels = gpu_kernels() ? VKS_KERNELS_CPU : VKS_KERNELS_GPU;
    vkt_push_tuned_context(&t);
    static const int64_t some[][7] = {{2, 6, 5, 3, 4, 4, 9}, {3, 2, 4, 6, 3, 1, 5}, {5, 7, 9, 7, 11, 5, 13},
                                      {16, 16, 16, 16, 16, 16, 33}, {8, 16, 8, 8, 8, 16, 70}};
    run_all_paths_f32(some, sizeof some / sizeof some[0], 900);
    fwd_case lin = {4, 3, 3, 4, 4, 3, 5, 10, 13, VKS_DTYPE_F32, true};
    run_forward(&lin, VKS_MONARCH_PATH_AUTO, true, 910);
    if (vkt->info.features & VKS_FEATURE_STORAGE16) {
        fwd_case h = {4, 4, 4, 4, 4, 4, 9, 0, 0, VKS_DTYPE_F16, true, VKS_ACT_GELU_ERF};
        run_all_paths(&h, 911);
    }
    run_blockdiag(4, 7, 9, 13, VKS_DTYPE_F32, true, VKS_ACT_RELU, 912);
    vkt_pop_context();
}

/* The tensor-core GEMM tiles (f16): on a device with VK_NV_cooperative_matrix the real
 * kernel (opt-in monarch_coopmat = VKS_COOPMAT_ON), elsewhere its emulation (EMULATE), with
 * the GPU kernel family forced. Shapes that cover every 16 x 16 fragment of the 64 x 64 tiles,
 * several 32-term steps with a ragged last one, and ragged edges. */
static void test_monarch_coopmat_tiles(void **state) {
    (void)state;
    if (!(vkt->info.features & VKS_FEATURE_STORAGE16)) skip();
    const bool real = (vkt->info.features & VKS_FEATURE_COOPMAT_NV) && (vkt->info.features & VKS_FEATURE_FLOAT16);
    vks_tuning t = VKS_TUNING_INIT;
    t.kernels = VKS_KERNELS_GPU;
    t.monarch_coopmat = real ? VKS_COOPMAT_ON : VKS_COOPMAT_EMULATE;
    vkt_push_tuned_context(&t);
    run_blockdiag(2, 70, 45, 100, VKS_DTYPE_F16, true, VKS_ACT_GELU_TANH, 950);
    run_blockdiag(3, 130, 97, 67, VKS_DTYPE_F16, false, VKS_ACT_NONE, 951);
    fwd_case c = {2, 64, 40, 2, 72, 64, 90, 0, 0, VKS_DTYPE_F16, true, VKS_ACT_RELU};
    run_forward(&c, VKS_MONARCH_PATH_TWO_PASS, false, 952);
    run_forward(&c, VKS_MONARCH_PATH_UNFUSED, false, 953);
    vkt_pop_context();
}

/* The grouped block-batched kernel (opt-in monarch_grouped = ON, GPU family forced): every
 * product of every path through it. Block counts that fill groups of 8 (f32) and 16 (f16),
 * ragged groups (5, 20, 33 blocks), one block, rows not a multiple of the 32- and 16-row
 * tiles, blocks narrower than 8 columns, padding, and a 60000-term reduction: one pass
 * would meet lavapipe's loop limiter, so CPU devices cut it into slices of 25256. */
static void test_monarch_grouped_kernel(void **state) {
    (void)state;
    vks_tuning t = VKS_TUNING_INIT;
    t.kernels = VKS_KERNELS_GPU;
    t.monarch_grouped = VKS_TUNING_ON;
    vkt_push_tuned_context(&t);
    static const int64_t some[][7] = {{2, 6, 5, 3, 4, 4, 9},      {5, 7, 9, 7, 11, 5, 13}, {16, 16, 16, 16, 16, 16, 33},
                                      {20, 20, 8, 20, 9, 20, 41}, {1, 5, 7, 1, 6, 5, 3},   {33, 33, 2, 33, 70, 33, 3}};
    run_all_paths_f32(some, sizeof some / sizeof some[0], 960);
    fwd_case lin = {4, 3, 3, 4, 4, 3, 5, 10, 13, VKS_DTYPE_F32, true};
    run_forward(&lin, VKS_MONARCH_PATH_TWO_PASS, true, 970);
    if (vkt->info.features & VKS_FEATURE_STORAGE16) {
        fwd_case h = {32, 32, 32, 32, 32, 32, 37, 0, 0, VKS_DTYPE_F16, true, VKS_ACT_GELU_ERF};
        run_forward(&h, VKS_MONARCH_PATH_TWO_PASS, false, 971);
        fwd_case h2 = {20, 20, 8, 20, 9, 20, 17, 0, 0, VKS_DTYPE_F16, false, VKS_ACT_NONE, 3};
        run_forward(&h2, VKS_MONARCH_PATH_TWO_PASS, false, 972);
        run_blockdiag(17, 5, 40, 21, VKS_DTYPE_F16, true, VKS_ACT_RELU, 973);
    }
    run_blockdiag(9, 70, 13, 35, VKS_DTYPE_F32, true, VKS_ACT_GELU_TANH, 974);
    run_blockdiag(2, 3, 60000, 2, VKS_DTYPE_F32, true, VKS_ACT_NONE, 975);
    vkt_pop_context();
}

/* Nothing leaks: every buffer of the tests is gone; the plugin table lists the family. */
static void test_monarch_no_leaks_and_plugin_table(void **state) {
    (void)state;
    vks_context_stats st = {sizeof st};
    VKT_OK(vks_context_get_stats(vkt->ctx, &st));
    assert_int_equal(st.live_buffers, 0);
    assert_non_null(vks_get_proc_address("vks_monarch_forward"));
    assert_non_null(vks_get_proc_address("vks_monarch_project"));
    assert_true(vks_get_proc_address("vks_monarch_linear") == (vks_proc)vks_monarch_linear);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VKT_TEST(test_monarch_oracle_consistent),    VKT_TEST(test_monarch_forward_closed_form),
        VKT_TEST(test_monarch_forward_shapes),       VKT_TEST(test_monarch_forward_epilogues),
        VKT_TEST(test_monarch_forward_f16),          VKT_TEST(test_monarch_forward_strided_rows),
        VKT_TEST(test_monarch_forward_ragged_batches), VKT_TEST(test_monarch_forward_large),
        VKT_TEST(test_monarch_linear),               VKT_TEST(test_monarch_blockdiag_linear),
        VKT_TEST(test_monarch_other_kernel_family),  VKT_TEST(test_monarch_coopmat_tiles),
        VKT_TEST(test_monarch_grouped_kernel),       VKT_TEST(test_monarch_scratch_too_large),
        VKT_TEST(test_monarch_errors),
        VKT_TEST(test_monarch_no_leaks_and_plugin_table),
    };
    return VKT_RUN(tests);
}
