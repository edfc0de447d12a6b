/* Fused LoRA and factorized layers against float64 oracles that form ΔW densely: ragged
 * shapes, size 1, ranks 0..128, with and without base weight/bias/beta, strided and
 * misaligned views, f32 and f16; and their error paths. Runs twice on lavapipe: with the
 * CPU kernels and with the kernels GPUs run (VKS_CONTEXT_GPU_KERNELS). */
#include <math.h>
#include <string.h>

#include "reference_lowrank.h"
#include "vks_test.h"

/* A host matrix and its device copy: rows x cols, row stride ld, `off` elements before it. */
typedef struct dmat {
    double *h; /* rows * ld (+ off) values, as stored (rounded to dt) */
    vks_buffer *buf;
    vks_tensor t;
    int64_t rows, cols, ld, off;
} dmat;

static dmat dmat_random(vkt_rng *rng, vks_dtype dt, int64_t rows, int64_t cols, int64_t pad, int64_t off, double amp) {
    dmat m = {.rows = rows, .cols = cols, .ld = cols + pad, .off = off};
    const size_t n = (size_t)(rows * m.ld + off);
    m.h = vkt_random(rng, n, -amp, amp);
    vkt_round_to(dt, m.h, n);
    m.buf = vkt_upload(dt, m.h, n);
    m.t = (vks_tensor){m.buf, (uint64_t)off * vkt_dtype_bytes(dt), dt, 2, {rows, cols}, {m.ld, 1}};
    return m;
}

static void dmat_free(dmat *m) {
    free(m->h);
    if (m->buf) VKT_OK(vks_buffer_destroy(m->buf));
    memset(m, 0, sizeof *m);
}

/* Compact host copy of the matrix part (rows x cols). */
static double *dmat_compact(const dmat *m) {
    double *c = malloc(sizeof(double) * (size_t)(m->rows * m->cols + 1));
    for (int64_t i = 0; i < m->rows; ++i)
        for (int64_t j = 0; j < m->cols; ++j) c[i * m->cols + j] = m->h[m->off + i * m->ld + j];
    return c;
}

/* Compares y's matrix part with `want` (rows x cols compact) and checks that the padding
 * around it is untouched (equal to `before`). */
static void check_output(vks_buffer *buf, vks_dtype dt, const dmat *y, const double *before, const double *want,
                         double tol, const char *what) {
    const size_t n = (size_t)(y->rows * y->ld + y->off);
    double *got = vkt_download(buf, dt, 0, n);
    double *g = malloc(sizeof(double) * (size_t)(y->rows * y->cols + 1));
    for (size_t idx = 0; idx < n; ++idx) {
        const int64_t e = (int64_t)idx - y->off, i = e / (y->ld ? y->ld : 1), j = e - i * y->ld;
        if (e >= 0 && j < y->cols) g[i * y->cols + j] = got[idx];
        else if (!(isnan(before[idx]) ? isnan(got[idx]) : got[idx] == before[idx]))
            fail_msg("%s: element %zu outside the output was changed (%g -> %g)", what, idx, before[idx], got[idx]);
    }
    vkt_assert_close(g, want, (size_t)(y->rows * y->cols), tol, what);
    free(got);
    free(g);
}

typedef struct lora_case {
    int64_t m, in, out, r;
    bool w, bias;
    double beta;
    vks_dtype dt;
    int64_t pad; /* extra elements per row of x, w, a, b and y */
    int64_t off; /* elements before each matrix (misaligns vector loads) */
} lora_case;

static void run_lora(const lora_case *lc, uint64_t seed) {
    vkt_rng rng = vkt_rng_seed(seed);
    const vks_dtype dt = lc->dt;
    const int64_t m = lc->m, in = lc->in, out = lc->out, r = lc->r;
    dmat x = dmat_random(&rng, dt, m, in, lc->pad, lc->off, 1.0);
    dmat w = lc->w ? dmat_random(&rng, dt, out, in, lc->pad, lc->off, 1.0) : (dmat){0};
    dmat a = dmat_random(&rng, dt, r, in, lc->pad, lc->off, 1.0);
    dmat b = dmat_random(&rng, dt, out, r, lc->pad, lc->off, 1.0);
    dmat bias = lc->bias ? dmat_random(&rng, dt, 1, out, 0, 0, 1.0) : (dmat){0};
    dmat y = dmat_random(&rng, dt, m, out, lc->pad, lc->off, 1.0);
    const size_t ny = (size_t)(m * y.ld + y.off);
    if (lc->beta == 0) { /* poisoned: every element of the output must be written */
        for (size_t i = 0; i < ny; ++i) y.h[i] = NAN;
        VKT_OK(vks_buffer_destroy(y.buf));
        y.buf = vkt_poisoned(dt, ny);
        y.t.buffer = y.buf;
    }
    double *before = malloc(sizeof(double) * (ny + 1));
    memcpy(before, y.h, sizeof(double) * ny);
    const double s = 0.75;
    vks_tensor tbias = vks_tensor_1d(bias.buf, dt, out);
    vks_lora_desc d = VKS_LORA_DESC_INIT;
    d.x = &x.t, d.w = lc->w ? &w.t : NULL, d.a = &a.t, d.b = &b.t, d.bias = lc->bias ? &tbias : NULL, d.y = &y.t;
    d.scale = s, d.beta = lc->beta;
    VKT_OK(vks_lora_forward(vkt->ctx, &d));

    double *cx = dmat_compact(&x), *ca = dmat_compact(&a), *cb = dmat_compact(&b);
    double *cw = lc->w ? dmat_compact(&w) : NULL, *want = dmat_compact(&y);
    double *delta = calloc((size_t)(out * in + 1), sizeof *delta);
    ref_lora_delta(out, in, r, s, cb, ca, delta);
    ref_linear(m, in, out, cx, in, cw, delta, lc->bias ? bias.h : NULL, lc->beta, want, out);
    char what[200];
    snprintf(what, sizeof what, "lora %s m=%lld in=%lld out=%lld r=%lld w=%d bias=%d beta=%g pad=%lld off=%lld",
             dt == VKS_DTYPE_F16 ? "f16" : "f32", (long long)m, (long long)in, (long long)out, (long long)r, lc->w,
             lc->bias, lc->beta, (long long)lc->pad, (long long)lc->off);
    check_output(y.buf, dt, &y, before, want, vkt_tol(dt), what);
    free(cx), free(ca), free(cb), free(cw), free(want), free(delta), free(before);
    dmat_free(&x), dmat_free(&w), dmat_free(&a), dmat_free(&b), dmat_free(&bias), dmat_free(&y);
}

static bool has_f16(void) { return (vkt->info.features & VKS_FEATURE_STORAGE16) != 0; }

/* Ragged shapes (no multiple of any tile or vector), size 1, decode-like few rows and more
 * rows than one tile; every rank of the issue. */
static void test_lowrank_lora_shapes(void **state) {
    (void)state;
    static const int64_t shapes[][4] = {{1, 1, 1, 1},     {1, 64, 48, 8},    {3, 37, 29, 5},  {7, 130, 67, 16},
                                        {16, 257, 100, 64}, {33, 96, 80, 1}, {20, 200, 150, 128}, {2, 9, 300, 8}};
    uint64_t seed = 1;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; ++i) {
        lora_case lc = {shapes[i][0], shapes[i][1], shapes[i][2], shapes[i][3], true, false, 0.0, VKS_DTYPE_F32};
        run_lora(&lc, seed++);
    }
}

static void test_lowrank_lora_bias_beta_nobase(void **state) {
    (void)state;
    lora_case lc = {5, 70, 45, 8, true, true, 0.0, VKS_DTYPE_F32};
    run_lora(&lc, 20);
    lc.beta = -0.5;
    run_lora(&lc, 21);
    lc.w = false, lc.bias = false, lc.beta = 0.0; /* the LoRA delta alone */
    run_lora(&lc, 22);
    lc.bias = true, lc.beta = 1.0;
    run_lora(&lc, 23);
}

/* Rank 0 (no delta), no rows, in = 0 (nothing to reduce). */
static void test_lowrank_lora_degenerate(void **state) {
    (void)state;
    lora_case lc = {4, 33, 17, 0, true, true, 0.0, VKS_DTYPE_F32};
    run_lora(&lc, 30);
    lc.m = 0;
    run_lora(&lc, 31);
    lc.m = 3, lc.in = 0, lc.r = 4;
    run_lora(&lc, 32);
}

/* Padded rows (ld > cols, odd) and bases one element off alignment: the scalar paths. */
static void test_lowrank_lora_strided(void **state) {
    (void)state;
    lora_case lc = {6, 67, 41, 12, true, true, 0.5, VKS_DTYPE_F32, 3, 1};
    run_lora(&lc, 40);
    lc.pad = 4, lc.off = 0; /* aligned rows with padding */
    run_lora(&lc, 41);
    lc.m = 40;
    run_lora(&lc, 42);
}

static void test_lowrank_lora_f16(void **state) {
    (void)state;
    if (!has_f16()) skip();
    static const int64_t shapes[][4] = {{1, 64, 40, 8}, {5, 131, 77, 16}, {24, 96, 64, 64}, {3, 50, 30, 3}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; ++i) {
        lora_case lc = {shapes[i][0], shapes[i][1], shapes[i][2], shapes[i][3], true, true, 0.0, VKS_DTYPE_F16};
        run_lora(&lc, 50 + i);
    }
    lora_case lc = {7, 45, 33, 5, true, true, 1.0, VKS_DTYPE_F16, 1, 1};
    run_lora(&lc, 60);
}

/* The decode path on tensor cores (backend/ops/lowrank_splitk.c: split-K over [W; A], then
 * the reduce epilogue), f16, single adapter, up to 64 rows. On devices without
 * VK_NV_cooperative_matrix it runs with emulated fragments (tuning: VKS_SPLITK_EMULATE), so
 * that lavapipe checks the tiling, staging and partial sums; on NVIDIA it runs as shipped,
 * and once more with forced slice counts. Shapes: aligned (fragments straight from W),
 * k % 16 != 0, ragged out, padded and misaligned rows (staged fragments), ranks 1..256, no
 * base weight, bias and beta; and the first shapes past its limits. Then the same cases, in
 * f16 and in f32, through the pass on FMA units (VKS_SPLITK_FMA, any device). Each mode on a
 * context tuned for it. */
static void test_lowrank_lora_splitk(void **state) {
    (void)state;
    if (!has_f16()) skip();
    const bool tensor_cores = (vkt->info.features & VKS_FEATURE_COOPMAT_NV) != 0;
    static const lora_case cases[] = {
        {1, 256, 128, 8, true, true, 0.0, VKS_DTYPE_F16},        {16, 512, 256, 16, true, false, 0.5, VKS_DTYPE_F16},
        {5, 1000, 130, 5, true, true, 0.0, VKS_DTYPE_F16},       {33, 384, 200, 64, true, true, 1.0, VKS_DTYPE_F16, 8, 0},
        {64, 320, 96, 128, true, false, 0.0, VKS_DTYPE_F16, 3, 1}, {17, 256, 64, 256, false, true, 0.0, VKS_DTYPE_F16},
        {2, 4096, 64, 16, true, true, 0.0, VKS_DTYPE_F16},       {48, 128, 1, 1, true, true, -1.0, VKS_DTYPE_F16},
        /* just past the path's limits (65 rows, rank 257): the general kernels take them */
        {65, 64, 40, 8, true, true, 0.0, VKS_DTYPE_F16},         {2, 64, 32, 257, true, false, 0.0, VKS_DTYPE_F16},
    };
    /* as shipped (emulated without tensor cores), 1 and 7 slices on tensor cores, FMA units */
    const struct {
        bool run;
        vks_splitk_mode mode;
        uint32_t slices;
    } modes[] = {{true, tensor_cores ? VKS_SPLITK_AUTO : VKS_SPLITK_EMULATE, 0},
                 {tensor_cores, VKS_SPLITK_AUTO, 1},
                 {tensor_cores, VKS_SPLITK_AUTO, 7},
                 {true, VKS_SPLITK_FMA, 0}};
    for (size_t mi = 0; mi < 4; ++mi) {
        if (!modes[mi].run) continue;
        vks_tuning t = VKS_TUNING_INIT;
        t.lowrank_splitk = modes[mi].mode, t.lowrank_splitk_slices = modes[mi].slices;
        vkt_push_tuned_context(&t);
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) run_lora(&cases[i], 300 + i);
        if (mi == 3)
            for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
                lora_case c = cases[i];
                c.dt = VKS_DTYPE_F32;
                run_lora(&c, 320 + i);
            }
        vkt_pop_context();
    }
}

/* Decode at the hidden size (one token and a small batch), within lavapipe's time. */
static void test_lowrank_lora_large(void **state) {
    (void)state;
    lora_case lc = {1, 4096, 1024, 16, true, true, 0.0, VKS_DTYPE_F32};
    run_lora(&lc, 70);
    lc.m = 64, lc.in = 1024, lc.out = 512, lc.r = 64;
    run_lora(&lc, 71);
}

/* Reductions longer than lavapipe's loop limiter allows in one dispatch (65535 iterations per
 * invocation): sliced on CPU devices; every kernel path (gemv, register tiles, scalar loads). */
static void test_lowrank_lora_long_k(void **state) {
    (void)state;
    lora_case lc = {2, 140001, 24, 8, true, true, 0.0, VKS_DTYPE_F32};
    run_lora(&lc, 75);
    lc.m = 5, lc.beta = 0.5;
    run_lora(&lc, 76);
    lc.off = 1; /* misaligned: one element per iteration */
    run_lora(&lc, 77);
    if (!has_f16()) return;
    lora_case lh = {3, 70001, 16, 4, true, true, 0.0, VKS_DTYPE_F16};
    run_lora(&lh, 78);
}

/* x and y of rank 3 (batch, seq, features), flattened into rows. */
static void test_lowrank_lora_rank3(void **state) {
    (void)state;
    vkt_rng rng = vkt_rng_seed(80);
    const int64_t nb = 2, seq = 3, in = 20, out = 12, r = 4, m = nb * seq;
    const vks_dtype f32 = VKS_DTYPE_F32;
    dmat x = dmat_random(&rng, f32, m, in, 0, 0, 1.0), w = dmat_random(&rng, f32, out, in, 0, 0, 1.0);
    dmat a = dmat_random(&rng, f32, r, in, 0, 0, 1.0), b = dmat_random(&rng, f32, out, r, 0, 0, 1.0);
    vks_buffer *Y = vkt_poisoned(VKS_DTYPE_F32, (size_t)(m * out));
    vks_tensor tx = vks_tensor_3d(x.buf, f32, nb, seq, in), ty = vks_tensor_3d(Y, f32, nb, seq, out);
    vks_lora_desc d = VKS_LORA_DESC_INIT;
    d.x = &tx, d.w = &w.t, d.a = &a.t, d.b = &b.t, d.y = &ty, d.scale = 2.0;
    VKT_OK(vks_lora_forward(vkt->ctx, &d));
    double *got = vkt_download(Y, VKS_DTYPE_F32, 0, (size_t)(m * out)), *want = calloc((size_t)(m * out), sizeof *want);
    double *delta = calloc((size_t)(out * in), sizeof *delta);
    ref_lora_delta(out, in, r, 2.0, b.h, a.h, delta);
    ref_linear(m, in, out, x.h, in, w.h, delta, NULL, 0.0, want, out);
    vkt_assert_close(got, want, (size_t)(m * out), vkt_tol(VKS_DTYPE_F32), "lora rank-3 x and y");
    free(got), free(want), free(delta);
    VKT_OK(vks_buffer_destroy(Y));
    dmat_free(&x), dmat_free(&w), dmat_free(&a), dmat_free(&b);
}

static void test_lowrank_factorized(void **state) {
    (void)state;
    static const int64_t shapes[][4] = {{1, 1, 1, 1}, {9, 100, 70, 12}, {1, 512, 300, 128}, {37, 64, 65, 33}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; ++s)
        for (int dti = 0; dti < 2; ++dti) {
            const vks_dtype dt = dti ? VKS_DTYPE_F16 : VKS_DTYPE_F32;
            if (dti && !has_f16()) continue;
            vkt_rng rng = vkt_rng_seed(90 + s);
            const int64_t m = shapes[s][0], in = shapes[s][1], out = shapes[s][2], r = shapes[s][3];
            dmat x = dmat_random(&rng, dt, m, in, 0, 0, 1.0), v = dmat_random(&rng, dt, r, in, 0, 0, 1.0);
            dmat u = dmat_random(&rng, dt, out, r, 0, 0, 1.0), bias = dmat_random(&rng, dt, 1, out, 0, 0, 1.0);
            vks_buffer *Y = vkt_poisoned(dt, (size_t)(m * out));
            vks_tensor ty = vks_tensor_2d(Y, dt, m, out), tb = vks_tensor_1d(bias.buf, dt, out);
            VKT_OK(vks_factorized_linear(vkt->ctx, &x.t, &v.t, &u.t, s % 2 ? &tb : NULL, &ty));
            /* The oracle: W = U V formed densely. */
            double *wd = calloc((size_t)(out * in), sizeof *wd), *want = calloc((size_t)(m * out), sizeof *want);
            ref_lora_delta(out, in, r, 1.0, u.h, v.h, wd);
            ref_linear(m, in, out, x.h, in, wd, NULL, s % 2 ? bias.h : NULL, 0.0, want, out);
            double *got = vkt_download(Y, dt, 0, (size_t)(m * out));
            char what[96];
            snprintf(what, sizeof what, "factorized %s m=%lld in=%lld out=%lld r=%lld", dti ? "f16" : "f32",
                     (long long)m, (long long)in, (long long)out, (long long)r);
            vkt_assert_close(got, want, (size_t)(m * out), vkt_tol(dt), what);
            free(wd), free(want), free(got);
            VKT_OK(vks_buffer_destroy(Y));
            dmat_free(&x), dmat_free(&v), dmat_free(&u), dmat_free(&bias);
        }
}

static void test_lowrank_lora_errors(void **state) {
    (void)state;
    vks_context *ctx = vkt->ctx;
    vkt_rng rng = vkt_rng_seed(99);
    double *vals = vkt_random(&rng, 4096, -1, 1);
    vks_buffer *B = vkt_upload(VKS_DTYPE_F32, vals, 4096);
    free(vals);
    vks_buffer *Y = vkt_poisoned(VKS_DTYPE_F32, 256);
    vks_tensor x = vks_tensor_2d(B, VKS_DTYPE_F32, 4, 16), w = {B, 64 * 4, VKS_DTYPE_F32, 2, {8, 16}, {16, 1}};
    vks_tensor a = {B, 192 * 4, VKS_DTYPE_F32, 2, {2, 16}, {16, 1}}, b = {B, 224 * 4, VKS_DTYPE_F32, 2, {8, 2}, {2, 1}};
    vks_tensor y = vks_tensor_2d(Y, VKS_DTYPE_F32, 4, 8);
    vks_lora_desc d = VKS_LORA_DESC_INIT;
    d.x = &x, d.w = &w, d.a = &a, d.b = &b, d.y = &y;
    VKT_OK(vks_lora_forward(ctx, &d)); /* the valid call the cases below break one at a time */
    VKT_OK(vks_synchronize(ctx));
    {
        /* One meaning for size-1 dimensions: their strides are never used, so x and y as
         * (4, 1, n) with any stride on the middle dimension are the same rows, and give the
         * same y bit for bit. */
        double *want = vkt_download(Y, VKS_DTYPE_F32, 0, 32);
        vks_buffer *Y1 = vkt_poisoned(VKS_DTYPE_F32, 256);
        vks_tensor x1 = {B, 0, VKS_DTYPE_F32, 3, {4, 1, 16}, {16, 999, 1}};
        vks_tensor y1 = {Y1, 0, VKS_DTYPE_F32, 3, {4, 1, 8}, {8, 12345, 1}};
        vks_lora_desc d1 = d;
        d1.x = &x1, d1.y = &y1;
        VKT_OK(vks_lora_forward(ctx, &d1));
        double *got = vkt_download(Y1, VKS_DTYPE_F32, 0, 32);
        for (int i = 0; i < 32; ++i) assert_true(!isnan(want[i]) && got[i] == want[i]);
        free(want), free(got);
        vks_buffer_destroy(Y1);
    }
    VKT_FAILS(vks_lora_forward(NULL, &d), VKS_ERROR_INVALID_ARGUMENT, "ctx is NULL");
    VKT_FAILS(vks_lora_forward(ctx, NULL), VKS_ERROR_INVALID_ARGUMENT, "desc is NULL");
    vks_lora_desc e = d;
    e.struct_size = 8;
    VKT_FAILS(vks_lora_forward(ctx, &e), VKS_ERROR_INVALID_ARGUMENT, "struct_size = 8");
    e = d, e.x = NULL;
    VKT_FAILS(vks_lora_forward(ctx, &e), VKS_ERROR_INVALID_ARGUMENT, "x is NULL");
    e = d, e.a = NULL;
    VKT_FAILS(vks_lora_forward(ctx, &e), VKS_ERROR_INVALID_ARGUMENT, "a is NULL");
    vks_tensor bad = w;
    bad.shape[1] = 15;
    e = d, e.w = &bad;
    VKT_FAILS(vks_lora_forward(ctx, &e), VKS_ERROR_SHAPE_MISMATCH, "w is 8 x 15, expected (out, in) = 8 x 16");
    bad = a, bad.shape[1] = 12;
    e = d, e.a = &bad;
    VKT_FAILS(vks_lora_forward(ctx, &e), VKS_ERROR_SHAPE_MISMATCH, "a is 2 x 12, expected (r, in) with in = 16");
    bad = b, bad.shape[1] = 1;
    e = d, e.b = &bad;
    VKT_FAILS(vks_lora_forward(ctx, &e), VKS_ERROR_SHAPE_MISMATCH, "b is 8 x 1, expected (out, r) = 8 x 2");
    bad = y, bad.shape[0] = 3;
    e = d, e.y = &bad;
    VKT_FAILS(vks_lora_forward(ctx, &e), VKS_ERROR_SHAPE_MISMATCH, "y has 3 rows but x has 4");
    bad = w, bad.dtype = VKS_DTYPE_F16;
    e = d, e.w = &bad;
    VKT_FAILS(vks_lora_forward(ctx, &e), VKS_ERROR_DTYPE_MISMATCH, "w has dtype f16, expected f32");
    vks_tensor xi = x, yi = y;
    xi.dtype = VKS_DTYPE_I32, yi.dtype = VKS_DTYPE_I32;
    e = d, e.x = &xi, e.y = &yi;
    VKT_FAILS(vks_lora_forward(ctx, &e), VKS_ERROR_UNSUPPORTED, "vks_lora_forward: x has dtype i32; expected f32 or f16");
    bad = w, bad.strides[0] = 1, bad.strides[1] = 8; /* a transposed (Conv1D) view */
    e = d, e.w = &bad;
    VKT_FAILS(vks_lora_forward(ctx, &e), VKS_ERROR_UNSUPPORTED, "w.strides[1] = 8; the last dimension must have stride 1");
    bad = vks_tensor_1d(B, VKS_DTYPE_F32, 64);
    e = d, e.x = &bad;
    VKT_FAILS(vks_lora_forward(ctx, &e), VKS_ERROR_SHAPE_MISMATCH, "expected rank 2..4");
    vks_tensor bias = vks_tensor_1d(B, VKS_DTYPE_F32, 7);
    e = d, e.bias = &bias;
    VKT_FAILS(vks_lora_forward(ctx, &e), VKS_ERROR_SHAPE_MISMATCH, "bias has shape (7)");
    vks_tensor alias = vks_tensor_2d(B, VKS_DTYPE_F32, 4, 8);
    e = d, e.y = &alias;
    VKT_FAILS(vks_lora_forward(ctx, &e), VKS_ERROR_INVALID_ARGUMENT, "y overlaps x");
    bad = y, bad.strides[0] = 4;
    e = d, e.y = &bad;
    VKT_FAILS(vks_lora_forward(ctx, &e), VKS_ERROR_INVALID_ARGUMENT, "y's row stride 4 is below its 8 columns");
    bad = x, bad.shape[0] = 400;
    e = d, e.x = &bad;
    VKT_FAILS(vks_lora_forward(ctx, &e), VKS_ERROR_OUT_OF_RANGE, "spans bytes");
    vks_tensor x3 = {B, 0, VKS_DTYPE_F32, 3, {2, 2, 16}, {64, 16, 1}}; /* batch stride breaks flattening */
    e = d, e.x = &x3;
    VKT_FAILS(vks_lora_forward(ctx, &e), VKS_ERROR_UNSUPPORTED, "x.strides[0] = 64; leading dimensions must collapse into rows (expected 32)");
    /* Broadcast leading dimensions whose row count overflows 64 bits (2^64 rows, 0 if it wraps),
     * or merely passes 2^31. */
    vks_tensor xb = {B, 0, VKS_DTYPE_F32, 3, {1ll << 32, 1ll << 32, 16}, {0, 0, 1}};
    vks_tensor yb = {Y, 0, VKS_DTYPE_F32, 3, {1ll << 32, 1ll << 32, 8}, {0, 0, 1}};
    e = d, e.x = &xb, e.y = &yb;
    VKT_FAILS(vks_lora_forward(ctx, &e), VKS_ERROR_OUT_OF_RANGE, "x has more than 2^63 rows");
    xb.shape[0] = 1ll << 31, xb.shape[1] = 1;
    e = d, e.x = &xb;
    VKT_FAILS(vks_lora_forward(ctx, &e), VKS_ERROR_OUT_OF_RANGE, "x has 2147483648 rows; at most 2^31 - 1");
    VKT_FAILS(vks_factorized_linear(ctx, &x, &a, &b, NULL, NULL), VKS_ERROR_INVALID_ARGUMENT, "y is NULL");
    VKT_FAILS(vks_factorized_linear(ctx, &x, &b, &a, NULL, &y), VKS_ERROR_SHAPE_MISMATCH,
              "v is 8 x 2, expected (r, in) with in = 16");
    if (vkt->info.type == VKS_DEVICE_CPU) { /* lavapipe's loop limiter bounds the rank of one dispatch */
        vks_buffer *R = vkt_poisoned(VKS_DTYPE_F32, 40000 * 16 + 8 * 40000);
        vks_tensor ar = vks_tensor_2d(R, VKS_DTYPE_F32, 40000, 16);
        vks_tensor br = {R, 40000 * 16 * 4, VKS_DTYPE_F32, 2, {8, 40000}, {40000, 1}};
        e = d, e.a = &ar, e.b = &br;
        VKT_FAILS(vks_lora_forward(ctx, &e), VKS_ERROR_UNSUPPORTED, "rank 40000 (x 1 adapters) exceeds what a CPU");
        VKT_OK(vks_buffer_destroy(R));
    }
    {   /* More output columns than one row of workgroups covers (1.2M > 65535 x 16): a clear error
         * before anything is recorded, not the dispatch's. */
        const int64_t wide = 1200000;
        vks_buffer *O = vkt_poisoned(VKS_DTYPE_F32, (size_t)(3 * wide));
        vks_tensor wo = {O, 0, VKS_DTYPE_F32, 2, {wide, 1}, {1, 1}}, bo = {O, (uint64_t)wide * 4, VKS_DTYPE_F32, 2, {wide, 1}, {1, 1}};
        vks_tensor yo = {O, (uint64_t)(2 * wide) * 4, VKS_DTYPE_F32, 2, {1, wide}, {wide, 1}};
        vks_tensor xo = vks_tensor_2d(B, VKS_DTYPE_F32, 1, 1), ao = vks_tensor_2d(B, VKS_DTYPE_F32, 1, 1);
        e = d, e.x = &xo, e.w = &wo, e.a = &ao, e.b = &bo, e.y = &yo;
        VKT_FAILS(vks_lora_forward(ctx, &e), VKS_ERROR_OUT_OF_RANGE, "vks_lora_forward: y has 1200000 columns; at most");
        VKT_OK(vks_buffer_destroy(O));
    }
    /* Nothing of the failed calls was recorded: y still holds the valid call's result. */
    double *before = vkt_download(Y, VKS_DTYPE_F32, 0, 32);
    for (int i = 0; i < 32; ++i) assert_false(isnan(before[i]));
    free(before);
    VKT_OK(vks_buffer_destroy(B));
    VKT_OK(vks_buffer_destroy(Y));
}

/* Every test of this file, run once per kernel set. */
#define LOWRANK_TESTS                                                                                                \
    VKT_TEST(test_lowrank_lora_shapes), VKT_TEST(test_lowrank_lora_bias_beta_nobase),                                \
        VKT_TEST(test_lowrank_lora_degenerate), VKT_TEST(test_lowrank_lora_strided), VKT_TEST(test_lowrank_lora_f16), \
        VKT_TEST(test_lowrank_lora_splitk), \
        VKT_TEST(test_lowrank_lora_large), VKT_TEST(test_lowrank_lora_long_k), VKT_TEST(test_lowrank_lora_rank3),     \
        VKT_TEST(test_lowrank_factorized),                                                                           \
        VKT_TEST(test_lowrank_lora_errors)

int main(void) {
    const struct CMUnitTest tests[] = {LOWRANK_TESTS};
    int failures = VKT_RUN(tests);
    if (vkt_device_is_cpu())
        failures += cmocka_run_group_tests_name("lowrank with GPU kernels", tests, vkt_gpu_kernels_setup, vkt_group_teardown);
    return failures;
}
