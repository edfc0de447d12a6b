/* Monarch and block-diagonal backward passes: dx, dw1, dw2, dbias against the float64
 * matrix-calculus oracle on the dense factors (reference_monarch.c), which is itself checked
 * by finite differences of the oracle forward; and the device gradients against finite
 * differences of the device forward. Ragged and padded (MonarchLinear) shapes, batch 1,
 * nblocks 1..32, partial output sets, f16; every error path. */
#include <math.h>
#include <string.h>

#include "reference.h"
#include "reference_monarch.h"
#include "vks_test.h"

typedef struct bwd_case {
    int64_t k, q, p, l, s, r, batch;
    int64_t n_in, m_out; /* 0: k*p, l*s */
    vks_dtype dt;
    unsigned outputs; /* bits: 1 dx, 2 dw1, 4 dw2, 8 dbias */
} bwd_case;

static void run_backward(const bwd_case *c, uint64_t seed) {
    vkt_rng rng = vkt_rng_seed(seed);
    const int64_t B = c->batch, n_in = c->n_in ? c->n_in : c->k * c->p, m_out = c->m_out ? c->m_out : c->l * c->s;
    const size_t nx = (size_t)(B * n_in), ny = (size_t)(B * m_out), n1 = (size_t)(c->k * c->q * c->p),
                 n2 = (size_t)(c->l * c->s * c->r);
    double *x = vkt_random(&rng, nx, -1, 1), *dy = vkt_random(&rng, ny, -1, 1);
    double *w1 = vkt_random(&rng, n1, -1, 1), *w2 = vkt_random(&rng, n2, -1, 1);
    vkt_round_to(c->dt, x, nx), vkt_round_to(c->dt, dy, ny), vkt_round_to(c->dt, w1, n1), vkt_round_to(c->dt, w2, n2);
    vks_buffer *X = vkt_upload(c->dt, x, nx), *DY = vkt_upload(c->dt, dy, ny), *W1 = vkt_upload(c->dt, w1, n1),
               *W2 = vkt_upload(c->dt, w2, n2);
    vks_buffer *DX = vkt_poisoned(c->dt, nx), *DW1 = vkt_poisoned(c->dt, n1), *DW2 = vkt_poisoned(c->dt, n2),
               *DB = vkt_poisoned(c->dt, (size_t)m_out);
    vks_tensor tx = vks_tensor_2d(X, c->dt, B, n_in), tdy = vks_tensor_2d(DY, c->dt, B, m_out);
    vks_tensor tw1 = vks_tensor_3d(W1, c->dt, c->k, c->q, c->p), tw2 = vks_tensor_3d(W2, c->dt, c->l, c->s, c->r);
    vks_tensor tdx = vks_tensor_2d(DX, c->dt, B, n_in), tdb = vks_tensor_1d(DB, c->dt, m_out);
    vks_tensor tdw1 = vks_tensor_3d(DW1, c->dt, c->k, c->q, c->p), tdw2 = vks_tensor_3d(DW2, c->dt, c->l, c->s, c->r);
    vks_monarch_backward_desc d = VKS_MONARCH_BACKWARD_DESC_INIT;
    d.x = &tx, d.w1 = &tw1, d.w2 = &tw2, d.dy = &tdy;
    d.dx = c->outputs & 1 ? &tdx : NULL, d.dw1 = c->outputs & 2 ? &tdw1 : NULL;
    d.dw2 = c->outputs & 4 ? &tdw2 : NULL, d.dbias = c->outputs & 8 ? &tdb : NULL;
    d.padded = n_in < c->k * c->p || m_out < c->l * c->s;
    VKT_OK(vks_monarch_backward(vkt->ctx, &d));

    double *wdx = malloc(nx * sizeof(double)), *wdw1 = malloc(n1 * sizeof(double)), *wdw2 = malloc(n2 * sizeof(double));
    double *wdb = calloc((size_t)m_out, sizeof(double));
    refm_monarch_grads(x, dy, B, n_in, m_out, w1, c->k, c->q, c->p, w2, c->l, c->s, c->r, wdx, wdw1, wdw2);
    for (int64_t b = 0; b < B; ++b)
        for (int64_t j = 0; j < m_out; ++j) wdb[j] += dy[b * m_out + j];
    char what[160];
    snprintf(what, sizeof what, "w1 (%lld,%lld,%lld) w2 (%lld,%lld,%lld) batch %lld in %lld out %lld %s",
             (long long)c->k, (long long)c->q, (long long)c->p, (long long)c->l, (long long)c->s, (long long)c->r,
             (long long)B, (long long)n_in, (long long)m_out, c->dt == VKS_DTYPE_F16 ? "f16" : "f32");
    /* f16 rounds the intermediate too: its weight gradients sum B rounded products. */
    /* The weight and bias gradients sum over the batch. */
    const double tol = c->dt == VKS_DTYPE_F16 ? 2e-2 : vkt_tol_sum(VKS_DTYPE_F32, B);
    struct { vks_buffer *buf; double *want; size_t n; unsigned bit; const char *name; } outs[] = {
        {DX, wdx, nx, 1, "dx"}, {DW1, wdw1, n1, 2, "dw1"}, {DW2, wdw2, n2, 4, "dw2"}, {DB, wdb, (size_t)m_out, 8, "dbias"}};
    for (int i = 0; i < 4; ++i) {
        double *got = vkt_download(outs[i].buf, c->dt, 0, outs[i].n);
        char w2n[200];
        snprintf(w2n, sizeof w2n, "%s: %s", outs[i].name, what);
        if (c->outputs & outs[i].bit) vkt_assert_close(got, outs[i].want, outs[i].n, tol, w2n);
        else
            for (size_t e = 0; e < outs[i].n; ++e) assert_true(isnan(got[e])); /* not asked for: untouched */
        free(got);
    }
    free(x), free(dy), free(w1), free(w2), free(wdx), free(wdw1), free(wdw2), free(wdb);
    vks_buffer *bufs[] = {X, DY, W1, W2, DX, DW1, DW2, DB};
    for (int i = 0; i < 8; ++i) vks_buffer_destroy(bufs[i]);
}

static void run_blockdiag_backward(int64_t nb, int64_t ob, int64_t ib, int64_t B, vks_dtype dt, uint64_t seed);

static void test_monarch_backward_shapes(void **state) {
    (void)state;
    static const int64_t shapes[][9] = {
        /* k, q, p, l, s, r, batch, n_in, m_out */
        {1, 5, 7, 1, 6, 5, 3, 0, 0},    {2, 2, 3, 2, 5, 2, 1, 0, 0},    {2, 6, 5, 3, 4, 4, 9, 0, 0},
        {3, 2, 4, 6, 3, 1, 5, 0, 0},    {4, 4, 4, 4, 4, 4, 17, 0, 0},   {4, 8, 5, 4, 3, 8, 2, 0, 0},
        {16, 16, 16, 16, 16, 16, 21, 0, 0}, {32, 2, 3, 32, 3, 2, 10, 0, 0},
        /* MonarchLinear(10, 13, 4): w1 (4, 3, 3), w2 (4, 4, 3); (37, 20, 3): w1 (3, 7, 13), w2 (3, 7, 7) */
        {4, 3, 3, 4, 4, 3, 5, 10, 13},  {3, 7, 13, 3, 7, 7, 4, 37, 20},
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; ++i) {
        const int64_t *s = shapes[i];
        bwd_case c = {s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], s[8], VKS_DTYPE_F32, 15};
        run_backward(&c, 1000 + i);
    }
}

/* A batch longer than the CPU kernels' reduction slices (dw1, dw2, dbias sum over it). */
static void test_monarch_backward_long_batch(void **state) {
    (void)state;
    bwd_case c = {2, 2, 3, 2, 2, 2, 70001, 0, 0, VKS_DTYPE_F32, 15};
    run_backward(&c, 1050);
    run_blockdiag_backward(2, 3, 2, 70001, VKS_DTYPE_F32, 1051);
}

/* Each output alone, and pairs: the passes skip what is not asked for. */
static void test_monarch_backward_partial_outputs(void **state) {
    (void)state;
    static const unsigned sets[] = {1, 2, 4, 8, 3, 6, 12, 5};
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; ++i) {
        bwd_case c = {2, 6, 5, 3, 4, 4, 7, 9, 11, VKS_DTYPE_F32, sets[i]};
        run_backward(&c, 1100 + i);
    }
}

static void test_monarch_backward_f16(void **state) {
    (void)state;
    if (!(vkt->info.features & VKS_FEATURE_STORAGE16)) skip();
    bwd_case c = {4, 8, 5, 4, 3, 8, 6, 0, 0, VKS_DTYPE_F16, 15};
    run_backward(&c, 1200);
    bwd_case c2 = {4, 3, 3, 4, 4, 3, 5, 10, 13, VKS_DTYPE_F16, 15};
    run_backward(&c2, 1201);
}

/* L = sum(dy * y) as the oracle forward computes it (float64). */
static double oracle_loss(const double *x, const double *dy, int64_t B, int64_t n_in, int64_t m_out, const double *w1,
                          int64_t k, int64_t q, int64_t p, const double *w2, int64_t l, int64_t s, int64_t r) {
    double *y = malloc((size_t)(B * m_out) * sizeof *y), loss = 0;
    refm_monarch_forward(x, B, n_in, n_in, w1, k, q, p, w2, l, s, r, m_out, NULL, 0, y);
    for (int64_t i = 0; i < B * m_out; ++i) loss += dy[i] * y[i];
    free(y);
    return loss;
}

/* The oracle's gradients are the derivatives of the oracle's forward. */
static void test_monarch_backward_oracle_finite_differences(void **state) {
    (void)state;
    vkt_rng rng = vkt_rng_seed(1300);
    const int64_t k = 2, q = 6, p = 5, l = 3, s = 4, r = 4, B = 3, n_in = 9, m_out = 11;
    double *x = vkt_random(&rng, B * n_in, -1, 1), *dy = vkt_random(&rng, B * m_out, -1, 1);
    double *w1 = vkt_random(&rng, k * q * p, -1, 1), *w2 = vkt_random(&rng, l * s * r, -1, 1);
    double gx[27], g1[60], g2[48];
    refm_monarch_grads(x, dy, B, n_in, m_out, w1, k, q, p, w2, l, s, r, gx, g1, g2);
    struct { double *v, *g; int64_t n; } params[] = {{x, gx, B * n_in}, {w1, g1, k * q * p}, {w2, g2, l * s * r}};
    const double h = 1e-4;
    for (int t = 0; t < 3; ++t)
        for (int64_t e = 0; e < params[t].n; ++e) {
            const double keep = params[t].v[e];
            params[t].v[e] = keep + h;
            double up = oracle_loss(x, dy, B, n_in, m_out, w1, k, q, p, w2, l, s, r);
            params[t].v[e] = keep - h;
            double down = oracle_loss(x, dy, B, n_in, m_out, w1, k, q, p, w2, l, s, r);
            params[t].v[e] = keep;
            const double fd = (up - down) / (2 * h);
            if (fabs(fd - params[t].g[e]) > 1e-8 * fmax(1.0, fabs(fd)))
                fail_msg("oracle gradient %d[%lld] = %.12g, finite difference %.12g", t, (long long)e, params[t].g[e], fd);
        }
    free(x), free(dy), free(w1), free(w2);
}

/* The device gradients against central differences of the device forward (f32): L is
 * linear in each parameter, so the difference is exact up to the forward's rounding. */
static void test_monarch_backward_device_finite_differences(void **state) {
    (void)state;
    vkt_rng rng = vkt_rng_seed(1400);
    const int64_t k = 4, q = 8, p = 5, l = 4, s = 3, r = 8, B = 6, n = k * p, m = l * s;
    const vks_dtype dt = VKS_DTYPE_F32;
    double *x = vkt_random(&rng, B * n, -1, 1), *dy = vkt_random(&rng, B * m, -1, 1);
    double *w1 = vkt_random(&rng, k * q * p, -1, 1), *w2 = vkt_random(&rng, l * s * r, -1, 1);
    vkt_round_to(dt, x, B * n), vkt_round_to(dt, dy, B * m), vkt_round_to(dt, w1, k * q * p);
    vkt_round_to(dt, w2, l * s * r);
    vks_buffer *X = vkt_upload(dt, x, B * n), *DY = vkt_upload(dt, dy, B * m), *W1 = vkt_upload(dt, w1, k * q * p);
    vks_buffer *W2 = vkt_upload(dt, w2, l * s * r), *Y = vkt_poisoned(dt, B * m);
    vks_buffer *DX = vkt_poisoned(dt, B * n), *DW1 = vkt_poisoned(dt, k * q * p), *DW2 = vkt_poisoned(dt, l * s * r);
    vks_tensor tx = vks_tensor_2d(X, dt, B, n), tdy = vks_tensor_2d(DY, dt, B, m), ty = vks_tensor_2d(Y, dt, B, m);
    vks_tensor tw1 = vks_tensor_3d(W1, dt, k, q, p), tw2 = vks_tensor_3d(W2, dt, l, s, r);
    vks_tensor tdx = vks_tensor_2d(DX, dt, B, n), tdw1 = vks_tensor_3d(DW1, dt, k, q, p);
    vks_tensor tdw2 = vks_tensor_3d(DW2, dt, l, s, r);
    vks_monarch_backward_desc bd = VKS_MONARCH_BACKWARD_DESC_INIT;
    bd.x = &tx, bd.w1 = &tw1, bd.w2 = &tw2, bd.dy = &tdy, bd.dx = &tdx, bd.dw1 = &tdw1, bd.dw2 = &tdw2;
    VKT_OK(vks_monarch_backward(vkt->ctx, &bd));
    double *gx = vkt_download(DX, dt, 0, B * n), *g1 = vkt_download(DW1, dt, 0, k * q * p);
    double *g2 = vkt_download(DW2, dt, 0, l * s * r);
    vks_monarch_desc fd = VKS_MONARCH_DESC_INIT;
    fd.x = &tx, fd.w1 = &tw1, fd.w2 = &tw2, fd.y = &ty;
    struct { double *host, *grad; vks_buffer *buf; int64_t n; const char *name; } params[] = {
        {x, gx, X, B * n, "dx"}, {w1, g1, W1, k * q * p, "dw1"}, {w2, g2, W2, l * s * r, "dw2"}};
    const double h = 0.125; /* exact in f32 */
    for (int t = 0; t < 3; ++t) {
        double scale = 0;
        for (int64_t e = 0; e < params[t].n; ++e) scale = fmax(scale, fabs(params[t].grad[e]));
        for (int probe = 0; probe < 6; ++probe) {
            const int64_t e = (int64_t)(vkt_next(&rng) % (uint64_t)params[t].n);
            double loss[2];
            for (int side = 0; side < 2; ++side) {
                float v = (float)(params[t].host[e] + (side ? -h : h));
                VKT_OK(vks_buffer_write(params[t].buf, (uint64_t)e * 4, &v, 4));
                VKT_OK(vks_monarch_forward(vkt->ctx, &fd));
                double *y = vkt_download(Y, dt, 0, B * m);
                loss[side] = 0;
                for (int64_t i = 0; i < B * m; ++i) loss[side] += dy[i] * y[i];
                free(y);
            }
            float keep = (float)params[t].host[e];
            VKT_OK(vks_buffer_write(params[t].buf, (uint64_t)e * 4, &keep, 4));
            const double diff = (loss[0] - loss[1]) / (2 * h);
            if (fabs(diff - params[t].grad[e]) > 1e-4 * scale)
                fail_msg("%s[%lld]: device gradient %.7g, finite difference of the device forward %.7g", params[t].name,
                         (long long)e, params[t].grad[e], diff);
        }
    }
    free(x), free(dy), free(w1), free(w2), free(gx), free(g1), free(g2);
    vks_buffer *bufs[] = {X, DY, W1, W2, Y, DX, DW1, DW2};
    for (int i = 0; i < 8; ++i) vks_buffer_destroy(bufs[i]);
}

static void run_blockdiag_backward(int64_t nb, int64_t ob, int64_t ib, int64_t B, vks_dtype dt, uint64_t seed) {
    vkt_rng rng = vkt_rng_seed(seed);
    const int64_t n = nb * ib, m = nb * ob, nw = nb * ob * ib;
    double *x = vkt_random(&rng, B * n, -1, 1), *w = vkt_random(&rng, nw, -1, 1), *dy = vkt_random(&rng, B * m, -1, 1);
    vkt_round_to(dt, x, B * n), vkt_round_to(dt, w, nw), vkt_round_to(dt, dy, B * m);
    vks_buffer *X = vkt_upload(dt, x, B * n), *W = vkt_upload(dt, w, nw), *DY = vkt_upload(dt, dy, B * m);
    vks_buffer *DX = vkt_poisoned(dt, B * n), *DW = vkt_poisoned(dt, nw), *DB = vkt_poisoned(dt, m);
    vks_tensor tx = vks_tensor_2d(X, dt, B, n), tw = vks_tensor_3d(W, dt, nb, ob, ib), tdy = vks_tensor_2d(DY, dt, B, m);
    vks_tensor tdx = vks_tensor_2d(DX, dt, B, n), tdw = vks_tensor_3d(DW, dt, nb, ob, ib), tdb = vks_tensor_1d(DB, dt, m);
    vks_blockdiag_backward_desc d = VKS_BLOCKDIAG_BACKWARD_DESC_INIT;
    d.x = &tx, d.w = &tw, d.dy = &tdy, d.dx = &tdx, d.dw = &tdw, d.dbias = &tdb;
    VKT_OK(vks_blockdiag_backward(vkt->ctx, &d));
    /* Oracle on the dense BD(w): dx = dy BD, dBD = dy^T x restricted to the blocks. */
    double *bd = refm_blockdiag(w, nb, ob, ib), *wdx = refm_matmul(dy, bd, B, m, n);
    double *dyt = refm_transpose(dy, B, m), *gm = refm_matmul(dyt, x, m, B, n);
    double *wdw = malloc(nw * sizeof *wdw), *wdb = calloc(m, sizeof *wdb);
    for (int64_t i = 0; i < nb; ++i)
        for (int64_t j = 0; j < ob; ++j)
            for (int64_t a = 0; a < ib; ++a) wdw[(i * ob + j) * ib + a] = gm[(i * ob + j) * n + i * ib + a];
    for (int64_t b = 0; b < B; ++b)
        for (int64_t j = 0; j < m; ++j) wdb[j] += dy[b * m + j];
    const double tol = dt == VKS_DTYPE_F16 ? 2e-2 : 1e-5;
    double *gdx = vkt_download(DX, dt, 0, B * n), *gdw = vkt_download(DW, dt, 0, nw), *gdb = vkt_download(DB, dt, 0, m);
    vkt_assert_close(gdx, wdx, B * n, tol, "blockdiag dx");
    vkt_assert_close(gdw, wdw, nw, tol, "blockdiag dw");
    vkt_assert_close(gdb, wdb, m, tol, "blockdiag dbias");
    free(x), free(w), free(dy), free(bd), free(wdx), free(dyt), free(gm), free(wdw), free(wdb);
    free(gdx), free(gdw), free(gdb);
    vks_buffer *bufs[] = {X, W, DY, DX, DW, DB};
    for (int i = 0; i < 6; ++i) vks_buffer_destroy(bufs[i]);
}

static void test_monarch_blockdiag_backward(void **state) {
    (void)state;
    run_blockdiag_backward(1, 6, 5, 4, VKS_DTYPE_F32, 1500);
    run_blockdiag_backward(4, 7, 9, 13, VKS_DTYPE_F32, 1501);
    run_blockdiag_backward(32, 3, 2, 1, VKS_DTYPE_F32, 1502);
    run_blockdiag_backward(16, 16, 16, 40, VKS_DTYPE_F32, 1503);
    if (vkt->info.features & VKS_FEATURE_STORAGE16) run_blockdiag_backward(2, 10, 12, 9, VKS_DTYPE_F16, 1504);
}

/* The other device family's kernels (see test_monarch_other_kernel_family). */
static void test_monarch_backward_other_kernel_family(void **state) {
    (void)state;
    vks_tuning other = VKS_TUNING_INIT;
    other.kernels = vkt_gpu_kernels() ? VKS_KERNELS_CPU : VKS_KERNELS_GPU;
    vkt_push_tuned_context(&other);
    bwd_case c = {2, 6, 5, 3, 4, 4, 9, 0, 0, VKS_DTYPE_F32, 15};
    run_backward(&c, 1600);
    bwd_case c2 = {4, 3, 3, 4, 4, 3, 5, 10, 13, VKS_DTYPE_F32, 15};
    run_backward(&c2, 1601);
    run_blockdiag_backward(4, 7, 9, 13, VKS_DTYPE_F32, 1602);
    vkt_pop_context();
}

/* An empty batch: the weight and bias gradients are sums over no rows, so they are zero
 * (written, not left as they were), as vks_blockdiag_backward does; in both kernel
 * families, unpadded and padded. */
static void run_empty_batch(void) {
    vks_context *ctx = vkt->ctx;
    vks_buffer *A = vkt_poisoned(VKS_DTYPE_F32, 16), *W1 = vkt_poisoned(VKS_DTYPE_F32, 16),
               *W2 = vkt_poisoned(VKS_DTYPE_F32, 24), *D = vkt_poisoned(VKS_DTYPE_F32, 16);
    vks_buffer *G1 = vkt_poisoned(VKS_DTYPE_F32, 16), *G2 = vkt_poisoned(VKS_DTYPE_F32, 24),
               *DB = vkt_poisoned(VKS_DTYPE_F32, 12), *DX = vkt_poisoned(VKS_DTYPE_F32, 16);
    /* w1 (2, 4, 2), w2 (4, 3, 2): k*p = 4, l*s = 12 */
    vks_tensor w1 = vks_tensor_3d(W1, VKS_DTYPE_F32, 2, 4, 2), w2 = vks_tensor_3d(W2, VKS_DTYPE_F32, 4, 3, 2);
    vks_tensor g1 = vks_tensor_3d(G1, VKS_DTYPE_F32, 2, 4, 2), g2 = vks_tensor_3d(G2, VKS_DTYPE_F32, 4, 3, 2);
    for (int padded = 0; padded < 2; ++padded) {
        const int64_t n = padded ? 3 : 4, m = padded ? 10 : 12;
        vks_tensor x = vks_tensor_2d(A, VKS_DTYPE_F32, 0, n), dy = vks_tensor_2d(D, VKS_DTYPE_F32, 0, m);
        vks_tensor dx = vks_tensor_2d(DX, VKS_DTYPE_F32, 0, n), db = vks_tensor_1d(DB, VKS_DTYPE_F32, m);
        vks_monarch_backward_desc d = VKS_MONARCH_BACKWARD_DESC_INIT;
        d.x = &x, d.w1 = &w1, d.w2 = &w2, d.dy = &dy, d.dx = &dx, d.dw1 = &g1, d.dw2 = &g2, d.dbias = &db;
        d.padded = padded;
        VKT_OK(vks_monarch_backward(ctx, &d));
        double *got1 = vkt_download(G1, VKS_DTYPE_F32, 0, 16), *got2 = vkt_download(G2, VKS_DTYPE_F32, 0, 24),
               *gotb = vkt_download(DB, VKS_DTYPE_F32, 0, 12);
        for (int i = 0; i < 16; ++i) assert_true(got1[i] == 0.0);
        for (int i = 0; i < 24; ++i) assert_true(got2[i] == 0.0);
        for (int i = 0; i < m; ++i) assert_true(gotb[i] == 0.0);
        free(got1), free(got2), free(gotb);
        VKT_OK(vks_buffer_fill(G1, 0, 64, 0x7fc00000u));
        VKT_OK(vks_buffer_fill(G2, 0, 96, 0x7fc00000u));
        VKT_OK(vks_buffer_fill(DB, 0, 48, 0x7fc00000u));
    }
    vks_buffer *bufs[] = {A, W1, W2, D, G1, G2, DB, DX};
    for (int i = 0; i < 8; ++i) vks_buffer_destroy(bufs[i]);
}

static void test_monarch_backward_empty_batch(void **state) {
    (void)state;
    run_empty_batch();
    vks_tuning other = VKS_TUNING_INIT;
    other.kernels = vkt_gpu_kernels() ? VKS_KERNELS_CPU : VKS_KERNELS_GPU;
    vkt_push_tuned_context(&other);
    run_empty_batch();
    vkt_pop_context();
}

static void test_monarch_backward_errors(void **state) {
    (void)state;
    vks_context *ctx = vkt->ctx;
    vks_buffer *A = vkt_poisoned(VKS_DTYPE_F32, 128), *W1 = vkt_poisoned(VKS_DTYPE_F32, 64),
               *W2 = vkt_poisoned(VKS_DTYPE_F32, 64), *D = vkt_poisoned(VKS_DTYPE_F32, 128),
               *O = vkt_poisoned(VKS_DTYPE_F32, 256);
    /* x (3, 8), w1 (2, 4, 4), w2 (4, 3, 2), dy (3, 12) */
    vks_tensor x = vks_tensor_2d(A, VKS_DTYPE_F32, 3, 8), dy = vks_tensor_2d(D, VKS_DTYPE_F32, 3, 12);
    vks_tensor w1 = vks_tensor_3d(W1, VKS_DTYPE_F32, 2, 4, 4), w2 = vks_tensor_3d(W2, VKS_DTYPE_F32, 4, 3, 2);
    vks_tensor dx = vks_tensor_2d(O, VKS_DTYPE_F32, 3, 8);
    vks_monarch_backward_desc d = VKS_MONARCH_BACKWARD_DESC_INIT;
    d.x = &x, d.w1 = &w1, d.w2 = &w2, d.dy = &dy, d.dx = &dx;
    VKT_OK(vks_monarch_backward(ctx, &d));
    vks_monarch_backward_desc e = d;
    e.dx = NULL;
    VKT_FAILS(vks_monarch_backward(ctx, &e), VKS_ERROR_INVALID_ARGUMENT, "dx, dw1, dw2 and dbias are all NULL");
    VKT_FAILS(vks_monarch_backward(NULL, &d), VKS_ERROR_INVALID_ARGUMENT, "vks_monarch_backward: ctx is NULL");
    VKT_FAILS(vks_monarch_backward(ctx, NULL), VKS_ERROR_INVALID_ARGUMENT, "desc is NULL");
    e = d, e.struct_size = 3;
    VKT_FAILS(vks_monarch_backward(ctx, &e), VKS_ERROR_INVALID_ARGUMENT, "struct_size = 3");
    vks_tensor bdy = vks_tensor_2d(D, VKS_DTYPE_F32, 3, 11);
    e = d, e.dy = &bdy;
    VKT_FAILS(vks_monarch_backward(ctx, &e), VKS_ERROR_SHAPE_MISMATCH, "dy has 11 columns, expected l*s = 12");
    vks_tensor bdx = vks_tensor_2d(O, VKS_DTYPE_F32, 3, 7);
    e = d, e.dx = &bdx;
    VKT_FAILS(vks_monarch_backward(ctx, &e), VKS_ERROR_SHAPE_MISMATCH, "dx is 3 x 7, expected x's shape 3 x 8");
    vks_tensor bw1 = vks_tensor_3d(O, VKS_DTYPE_F32, 2, 4, 3);
    e = d, e.dw1 = &bw1;
    VKT_FAILS(vks_monarch_backward(ctx, &e), VKS_ERROR_SHAPE_MISMATCH, "dw1 is (2, 4, 3), expected w1's shape");
    vks_tensor bw2 = vks_tensor_3d(W2, VKS_DTYPE_F32, 4, 3, 3);
    e = d, e.w2 = &bw2;
    VKT_FAILS(vks_monarch_backward(ctx, &e), VKS_ERROR_SHAPE_MISMATCH, "l*r = 12 but k*q = 8");
    vks_tensor hdy = vks_tensor_2d(D, VKS_DTYPE_F16, 3, 12);
    e = d, e.dy = &hdy;
    VKT_FAILS(vks_monarch_backward(ctx, &e), VKS_ERROR_DTYPE_MISMATCH, "dy has dtype f16, expected f32");
    vks_tensor iw1 = vks_tensor_3d(W1, VKS_DTYPE_I32, 2, 4, 4);
    e = d, e.w1 = &iw1;
    VKT_FAILS(vks_monarch_backward(ctx, &e), VKS_ERROR_UNSUPPORTED, "w1 has dtype i32");
    vks_tensor adx = vks_tensor_2d(D, VKS_DTYPE_F32, 3, 8);
    e = d, e.dx = &adx;
    VKT_FAILS(vks_monarch_backward(ctx, &e), VKS_ERROR_INVALID_ARGUMENT, "dx overlaps dy");
    /* An output over another output, and an output that is an input's very tensor (the same
     * pointer: refused like any overlap, not skipped). */
    vks_tensor odw1 = vks_tensor_3d(O, VKS_DTYPE_F32, 2, 4, 4);
    e = d, e.dw1 = &odw1;
    VKT_FAILS(vks_monarch_backward(ctx, &e), VKS_ERROR_INVALID_ARGUMENT,
              "vks_monarch_backward: dw1 overlaps dx in memory; outputs must not alias each other");
    e = d, e.dx = &x;
    VKT_FAILS(vks_monarch_backward(ctx, &e), VKS_ERROR_INVALID_ARGUMENT, "vks_monarch_backward: dx overlaps x in memory");
    e = d, e.padded = -1;
    VKT_FAILS(vks_monarch_backward(ctx, &e), VKS_ERROR_INVALID_ARGUMENT, "padded = -1");
    vks_tensor db = vks_tensor_1d(O, VKS_DTYPE_F32, 13);
    e = d, e.dx = NULL, e.dbias = &db;
    VKT_FAILS(vks_monarch_backward(ctx, &e), VKS_ERROR_SHAPE_MISMATCH, "dbias has shape (13)");
    /* Padded shapes: the zero-padded copies of x (B x k*p) and dy (B x l*s) are indexed with
     * 32 bits; past 2^32 elements they fail up front. */
    {
        vks_buffer *WB = vkt_poisoned(VKS_DTYPE_F32, (size_t)1 << 20), *XB = vkt_poisoned(VKS_DTYPE_F32, 8192);
        vks_buffer *YB = vkt_poisoned(VKS_DTYPE_F32, 8192), *W1s = vkt_poisoned(VKS_DTYPE_F32, 1);
        vks_buffer *GB = vkt_poisoned(VKS_DTYPE_F32, 8192);
        vks_tensor pw1 = vks_tensor_3d(WB, VKS_DTYPE_F32, 1, 1, 1 << 20), pw2 = vks_tensor_3d(W1s, VKS_DTYPE_F32, 1, 1, 1);
        vks_tensor px = vks_tensor_2d(XB, VKS_DTYPE_F32, 8192, 1), pdy = vks_tensor_2d(YB, VKS_DTYPE_F32, 8192, 1);
        vks_tensor pdx = vks_tensor_2d(GB, VKS_DTYPE_F32, 8192, 1);
        e = d, e.x = &px, e.dy = &pdy, e.dx = &pdx, e.w1 = &pw1, e.w2 = &pw2, e.padded = 1;
        VKT_FAILS(vks_monarch_backward(ctx, &e), VKS_ERROR_OUT_OF_RANGE,
                  "the zero-padded x would be 8192 x 1048576 elements, past 2^32");
        vks_tensor qw1 = vks_tensor_3d(W1s, VKS_DTYPE_F32, 1, 1, 1), qw2 = vks_tensor_3d(WB, VKS_DTYPE_F32, 1, 1 << 20, 1);
        e.w1 = &qw1, e.w2 = &qw2;
        VKT_FAILS(vks_monarch_backward(ctx, &e), VKS_ERROR_OUT_OF_RANGE,
                  "the zero-padded dy would be 8192 x 1048576 elements, past 2^32");
        vks_buffer_destroy(WB), vks_buffer_destroy(XB), vks_buffer_destroy(YB), vks_buffer_destroy(W1s);
        vks_buffer_destroy(GB);
    }
    /* block-diagonal backward */
    vks_tensor bw = vks_tensor_3d(W1, VKS_DTYPE_F32, 2, 6, 4);
    vks_blockdiag_backward_desc b = VKS_BLOCKDIAG_BACKWARD_DESC_INIT;
    b.x = &x, b.w = &bw, b.dy = &dy, b.dx = &dx;
    VKT_OK(vks_blockdiag_backward(ctx, &b));
    vks_blockdiag_backward_desc be = b;
    be.dx = NULL;
    VKT_FAILS(vks_blockdiag_backward(ctx, &be), VKS_ERROR_INVALID_ARGUMENT, "dx, dw and dbias are all NULL");
    vks_tensor bdw = vks_tensor_3d(O, VKS_DTYPE_F32, 2, 6, 5);
    be = b, be.dw = &bdw;
    VKT_FAILS(vks_blockdiag_backward(ctx, &be), VKS_ERROR_SHAPE_MISMATCH, "dw is (2, 6, 5), expected w's shape (2, 6, 4)");
    be = b, be.dy = &bdy;
    VKT_FAILS(vks_blockdiag_backward(ctx, &be), VKS_ERROR_SHAPE_MISMATCH, "dy has 11 columns, expected nblocks*out_blk");
    VKT_OK(vks_synchronize(ctx));
    vks_buffer *bufs[] = {A, W1, W2, D, O};
    for (int i = 0; i < 5; ++i) vks_buffer_destroy(bufs[i]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VKT_TEST(test_monarch_backward_oracle_finite_differences),
        VKT_TEST(test_monarch_backward_shapes),
        VKT_TEST(test_monarch_backward_long_batch),
        VKT_TEST(test_monarch_backward_partial_outputs),
        VKT_TEST(test_monarch_backward_f16),
        VKT_TEST(test_monarch_backward_device_finite_differences),
        VKT_TEST(test_monarch_blockdiag_backward),
        VKT_TEST(test_monarch_backward_other_kernel_family),
        VKT_TEST(test_monarch_backward_empty_batch),
        VKT_TEST(test_monarch_backward_errors),
    };
    return VKT_RUN(tests);
}
