/* RandLoRA (against ΔW formed from PEFT's flattening rules index by index), LoRA merge and
 * unmerge (one rounding per element, checked per element in ulps of the stored dtype), and
 * GaLore's projections (both sides, the automatic choice, batches), f32 and f16, with
 * their error paths. Runs with the CPU kernels and with the GPU kernels (on lavapipe). */
#include <math.h>
#include <string.h>

#include "reference.h"
#include "reference_lowrank.h"
#include "vks_test.h"

static bool has_f16(void) { return (vkt->info.features & VKS_FEATURE_STORAGE16) != 0; }

static double *rounded_random(vkt_rng *rng, vks_dtype dt, size_t n, double amp) {
    double *v = vkt_random(rng, n, -amp, amp);
    vkt_round_to(dt, v, n);
    return v;
}

/* ---- RandLoRA ------------------------------------------------------------------------------ */

typedef struct rl_case {
    int64_t m, in, out, r;
    int64_t extra_d, extra_n; /* shared bases sized beyond this layer (PEFT slices them) */
    bool peft_a3;             /* randlora_A stored as PEFT's (r, 1, D) */
    bool w, bias;
    double beta;
    vks_dtype dt;
} rl_case;

static void run_randlora(const rl_case *c, uint64_t seed) {
    vkt_rng rng = vkt_rng_seed(seed);
    const vks_dtype dt = c->dt;
    const int64_t m = c->m, in = c->in, out = c->out, r = c->r;
    const int64_t dmin = in < out ? in : out, dmax = in < out ? out : in;
    const int64_t n = (dmin + r - 1) / r; /* PEFT: ceil(min(in, out) / r) */
    const int64_t da = dmin + c->extra_d, db = dmax + c->extra_d, nb_alloc = n + c->extra_n;
    double *x = rounded_random(&rng, dt, (size_t)(m * in), 1.0), *w = rounded_random(&rng, dt, (size_t)(out * in), 1.0);
    double *bias = rounded_random(&rng, dt, (size_t)out, 1.0), *y0 = rounded_random(&rng, dt, (size_t)(m * out), 1.0);
    double *a = rounded_random(&rng, dt, (size_t)(r * da), 1.0);
    double *b = rounded_random(&rng, dt, (size_t)(db * nb_alloc * r), 1.0);
    double *lambda = rounded_random(&rng, dt, (size_t)(r * n), 1.0);
    double *gamma = rounded_random(&rng, dt, (size_t)(n * dmin), 1.0);
    vks_buffer *X = vkt_upload(dt, x, (size_t)(m * in)), *W = vkt_upload(dt, w, (size_t)(out * in));
    vks_buffer *Bias = vkt_upload(dt, bias, (size_t)out), *A = vkt_upload(dt, a, (size_t)(r * da));
    vks_buffer *Bb = vkt_upload(dt, b, (size_t)(db * nb_alloc * r)), *L = vkt_upload(dt, lambda, (size_t)(r * n));
    vks_buffer *G = vkt_upload(dt, gamma, (size_t)(n * dmin));
    vks_buffer *Y = c->beta == 0 ? vkt_poisoned(dt, (size_t)(m * out)) : vkt_upload(dt, y0, (size_t)(m * out));
    vks_tensor tx = vks_tensor_2d(X, dt, m, in), tw = vks_tensor_2d(W, dt, out, in), tb = vks_tensor_1d(Bias, dt, out);
    vks_tensor ty = vks_tensor_2d(Y, dt, m, out);
    vks_tensor ta = c->peft_a3 ? vks_tensor_3d(A, dt, r, 1, da) : vks_tensor_2d(A, dt, r, da);
    vks_tensor tbb = vks_tensor_3d(Bb, dt, db, nb_alloc, r), tl = vks_tensor_2d(L, dt, r, n);
    vks_tensor tg = vks_tensor_2d(G, dt, n, dmin);
    vks_randlora_desc d = VKS_RANDLORA_DESC_INIT;
    d.x = &tx, d.w = c->w ? &tw : NULL, d.bias = c->bias ? &tb : NULL, d.y = &ty;
    d.basis_a = &ta, d.basis_b = &tbb, d.lambda = &tl, d.gamma = &tg, d.scale = 0.5, d.beta = c->beta;
    VKT_OK(vks_randlora_forward(vkt->ctx, &d));

    double *delta = calloc((size_t)(out * in), sizeof *delta), *want = malloc(sizeof(double) * (size_t)(m * out + 1));
    ref_randlora_delta(out, in, r, n, a, da, b, nb_alloc, lambda, gamma, delta);
    for (int64_t i = 0; i < out * in; ++i) delta[i] *= 0.5;
    memcpy(want, y0, sizeof(double) * (size_t)(m * out));
    ref_linear(m, in, out, x, in, c->w ? w : NULL, delta, c->bias ? bias : NULL, c->beta, want, out);
    double *got = vkt_download(Y, dt, 0, (size_t)(m * out));
    char what[160];
    snprintf(what, sizeof what, "randlora %s m=%lld in=%lld out=%lld r=%lld n=%lld", dt == VKS_DTYPE_F16 ? "f16" : "f32",
             (long long)m, (long long)in, (long long)out, (long long)r, (long long)n);
    vkt_assert_close(got, want, (size_t)(m * out), vkt_tol(dt), what);
    free(x), free(w), free(bias), free(y0), free(a), free(b), free(lambda), free(gamma), free(delta), free(want),
        free(got);
    vks_buffer *bufs[] = {X, W, Bias, A, Bb, L, G, Y};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; ++i) VKT_OK(vks_buffer_destroy(bufs[i]));
}

/* Both orders (in < out, in > out, in = out), n*r not equal to d_min, sliced shared bases,
 * PEFT's 3-d randlora_A, many rows and one, k long enough for the GPU shrink's split. */
static void test_lowrank_randlora(void **state) {
    (void)state;
    static const rl_case cases[] = {
        {3, 24, 40, 4, 0, 0, false, true, false, 0.0, VKS_DTYPE_F32},
        {5, 40, 24, 4, 0, 0, false, true, true, 0.0, VKS_DTYPE_F32},
        {4, 30, 30, 8, 5, 1, true, false, true, 1.0, VKS_DTYPE_F32}, /* in = out, no base weight */
        {7, 50, 30, 8, 2, 3, true, true, true, -0.5, VKS_DTYPE_F32},
        {1, 384, 256, 16, 0, 0, true, true, false, 0.0, VKS_DTYPE_F32},
        {40, 64, 48, 8, 1, 1, true, true, true, 0.0, VKS_DTYPE_F32},
        {40, 48, 64, 8, 1, 1, true, true, true, 0.0, VKS_DTYPE_F32},
        {1, 1, 1, 1, 0, 0, false, true, false, 0.0, VKS_DTYPE_F32},
        {2, 600, 640, 16, 0, 0, true, true, false, 0.0, VKS_DTYPE_F32}, /* long k, both orders */
        {3, 1030, 200, 8, 0, 0, true, true, false, 0.0, VKS_DTYPE_F32},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) run_randlora(&cases[i], 100 + i);
}

static void test_lowrank_randlora_f16(void **state) {
    (void)state;
    if (!has_f16()) skip();
    static const rl_case cases[] = {{3, 64, 96, 8, 2, 1, true, true, true, 0.0, VKS_DTYPE_F16},
                                    {5, 96, 64, 8, 2, 1, true, true, true, 0.0, VKS_DTYPE_F16}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) run_randlora(&cases[i], 120 + i);
}

static void test_lowrank_randlora_errors(void **state) {
    (void)state;
    vks_context *ctx = vkt->ctx;
    const vks_dtype f32 = VKS_DTYPE_F32;
    vks_buffer *P = vkt_poisoned(f32, 4096), *Y = vkt_poisoned(f32, 256);
    /* in 8 -> out 12, r 4, n 2 */
    vks_tensor x = vks_tensor_2d(P, f32, 2, 8), y = vks_tensor_2d(Y, f32, 2, 12);
    vks_tensor a = {P, 64 * 4, f32, 3, {4, 1, 8}, {8, 8, 1}}, b = {P, 128 * 4, f32, 3, {12, 2, 4}, {8, 4, 1}};
    vks_tensor l = {P, 256 * 4, f32, 2, {4, 2}, {2, 1}}, g = {P, 272 * 4, f32, 2, {2, 8}, {8, 1}};
    vks_randlora_desc d = VKS_RANDLORA_DESC_INIT;
    d.x = &x, d.y = &y, d.basis_a = &a, d.basis_b = &b, d.lambda = &l, d.gamma = &g;
    VKT_OK(vks_randlora_forward(ctx, &d));
    vks_randlora_desc e = d;
    VKT_FAILS(vks_randlora_forward(ctx, NULL), VKS_ERROR_INVALID_ARGUMENT, "desc is NULL");
    e.struct_size = 1;
    VKT_FAILS(vks_randlora_forward(ctx, &e), VKS_ERROR_INVALID_ARGUMENT, "desc->struct_size = 1");
    vks_tensor bad = a;
    bad.shape[1] = 2, bad.strides[0] = 16;
    e = d, e.basis_a = &bad;
    VKT_FAILS(vks_randlora_forward(ctx, &e), VKS_ERROR_UNSUPPORTED, "basis_a has shape (4, 2, 8); one A shared");
    bad = a, bad.shape[2] = 7;
    e = d, e.basis_a = &bad;
    VKT_FAILS(vks_randlora_forward(ctx, &e), VKS_ERROR_SHAPE_MISMATCH, "basis_a has 7 columns, expected >= min(in, out) = 8");
    bad = l, bad.shape[0] = 3;
    e = d, e.lambda = &bad;
    VKT_FAILS(vks_randlora_forward(ctx, &e), VKS_ERROR_SHAPE_MISMATCH, "lambda is 3 x 2, expected (r, n) with r = 4");
    bad = l, bad.strides[0] = 3;
    e = d, e.lambda = &bad;
    VKT_FAILS(vks_randlora_forward(ctx, &e), VKS_ERROR_UNSUPPORTED, "lambda must be compact");
    bad = g, bad.shape[1] = 7;
    e = d, e.gamma = &bad;
    VKT_FAILS(vks_randlora_forward(ctx, &e), VKS_ERROR_SHAPE_MISMATCH, "gamma is 2 x 7, expected (n, min(in, out)) = 2 x 8");
    bad = b, bad.shape[0] = 11;
    e = d, e.basis_b = &bad;
    VKT_FAILS(vks_randlora_forward(ctx, &e), VKS_ERROR_SHAPE_MISMATCH, "basis_b has shape (11, 2, 4), expected");
    bad = b, bad.strides[1] = 5, bad.strides[0] = 10;
    e = d, e.basis_b = &bad;
    VKT_FAILS(vks_randlora_forward(ctx, &e), VKS_ERROR_UNSUPPORTED, "basis_b's last two dimensions must be compact");
    bad = g, bad.dtype = VKS_DTYPE_F16;
    e = d, e.gamma = &bad;
    VKT_FAILS(vks_randlora_forward(ctx, &e), VKS_ERROR_DTYPE_MISMATCH, "gamma has dtype f16, expected f32");
    vks_tensor alias = {P, 272 * 4, f32, 2, {2, 12}, {12, 1}};
    e = d, e.y = &alias;
    VKT_FAILS(vks_randlora_forward(ctx, &e), VKS_ERROR_INVALID_ARGUMENT, "y overlaps gamma");
    e = d, e.basis_b = NULL;
    VKT_FAILS(vks_randlora_forward(ctx, &e), VKS_ERROR_INVALID_ARGUMENT, "basis_b is NULL");
    VKT_OK(vks_buffer_destroy(P));
    VKT_OK(vks_buffer_destroy(Y));
}

/* ---- merge / unmerge ----------------------------------------------------------------------- */

/* The spacing of the stored dtype at magnitude v (f16: subnormals below 2^-14). */
static double ulp_of(vks_dtype dt, double v) {
    v = fabs(v);
    const int mant = dt == VKS_DTYPE_F16 ? 10 : 23, emin = dt == VKS_DTYPE_F16 ? -14 : -126;
    int e = v > 0 ? (int)floor(log2(v)) : emin;
    if (e < emin) e = emin;
    return ldexp(1.0, e - mant);
}

static void run_merge(vks_dtype dt, int64_t out, int64_t in, int64_t r, int64_t pad, uint64_t seed) {
    vkt_rng rng = vkt_rng_seed(seed);
    const int64_t ld = in + pad;
    const double s = 0.37;
    double *w = rounded_random(&rng, dt, (size_t)(out * ld), 1.0), *a = rounded_random(&rng, dt, (size_t)(r * in), 1.0);
    double *b = rounded_random(&rng, dt, (size_t)(out * r), 1.0);
    vks_buffer *W = vkt_upload(dt, w, (size_t)(out * ld)), *A = vkt_upload(dt, a, (size_t)(r * in));
    vks_buffer *B = vkt_upload(dt, b, (size_t)(out * r));
    vks_tensor tw = {W, 0, dt, 2, {out, in}, {ld, 1}};
    vks_tensor ta = vks_tensor_2d(A, dt, r, in), tb = vks_tensor_2d(B, dt, out, r);
    VKT_OK(vks_lora_merge(vkt->ctx, &tw, &ta, &tb, s));
    double *w1 = vkt_download(W, dt, 0, (size_t)(out * ld));
    VKT_OK(vks_lora_unmerge(vkt->ctx, &tw, &ta, &tb, s));
    double *w2 = vkt_download(W, dt, 0, (size_t)(out * ld));
    int64_t restored = 0;
    for (int64_t o = 0; o < out; ++o)
        for (int64_t k = 0; k < ld; ++k) {
            const size_t e = (size_t)(o * ld + k);
            if (k >= in) { /* padding: untouched */
                assert_true(w1[e] == w[e] && w2[e] == w[e]);
                continue;
            }
            double u = 0, mag = 0;
            for (int64_t q = 0; q < r; ++q) {
                u += b[o * r + q] * a[q * in + k];
                mag += fabs(b[o * r + q] * a[q * in + k]);
            }
            const double exact = w[e] + s * u;
            /* merge: one rounding to dt (f16 via an f32 sum), plus the f32 error of s*B*A */
            const double f32_err = 4.0 * (double)(r + 2) * ldexp(1.0, -24) * (s * mag + fabs(exact));
            const double tol1 = 0.5 * ulp_of(dt, exact) + f32_err;
            if (!(fabs(w1[e] - exact) <= tol1))
                fail_msg("merge %s %lldx%lld r=%lld: W[%lld,%lld] = %.9g, exact %.9g (tolerance %.3g)",
                         dt == VKS_DTYPE_F16 ? "f16" : "f32", (long long)out, (long long)in, (long long)r, (long long)o,
                         (long long)k, w1[e], exact, tol1);
            /* unmerge after merge: the same f32 update subtracted, one more rounding */
            const double big = fmax(fabs(w[e]), fmax(fabs(w1[e]), fabs(w2[e])));
            const double tol2 = 0.5 * ulp_of(dt, w1[e]) + 0.5 * ulp_of(dt, w2[e]) +
                                (dt == VKS_DTYPE_F16 ? ulp_of(VKS_DTYPE_F32, big) : 0.0);
            if (!(fabs(w2[e] - w[e]) <= tol2))
                fail_msg("unmerge(merge(W)) %s: W[%lld,%lld] = %.9g, was %.9g (%.3g ulp apart)",
                         dt == VKS_DTYPE_F16 ? "f16" : "f32", (long long)o, (long long)k, w2[e], w[e],
                         fabs(w2[e] - w[e]) / ulp_of(dt, big));
            restored += w2[e] == w[e];
        }
    /* Most elements come back exactly (not asserted per element: a rounding may not). */
    assert_true(out * in == 0 || restored * 2 >= out * in);
    free(w), free(a), free(b), free(w1), free(w2);
    VKT_OK(vks_buffer_destroy(W));
    VKT_OK(vks_buffer_destroy(A));
    VKT_OK(vks_buffer_destroy(B));
}

static void test_lowrank_merge(void **state) {
    (void)state;
    static const int64_t shapes[][4] = {{1, 1, 1, 0}, {37, 29, 5, 0}, {37, 29, 0, 0}, {130, 67, 64, 1},
                                        {256, 384, 128, 0}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; ++i) {
        run_merge(VKS_DTYPE_F32, shapes[i][0], shapes[i][1], shapes[i][2], shapes[i][3], 200 + i);
        if (has_f16()) run_merge(VKS_DTYPE_F16, shapes[i][0], shapes[i][1], shapes[i][2], shapes[i][3], 220 + i);
    }
}

static void test_lowrank_merge_errors(void **state) {
    (void)state;
    vks_context *ctx = vkt->ctx;
    vks_buffer *P = vkt_poisoned(VKS_DTYPE_F32, 1024);
    vks_tensor w = vks_tensor_2d(P, VKS_DTYPE_F32, 8, 16), a = {P, 512 * 4, VKS_DTYPE_F32, 2, {2, 16}, {16, 1}};
    vks_tensor b = {P, 600 * 4, VKS_DTYPE_F32, 2, {8, 2}, {2, 1}};
    VKT_FAILS(vks_lora_merge(NULL, &w, &a, &b, 1.0), VKS_ERROR_INVALID_ARGUMENT, "vks_lora_merge: ctx is NULL");
    VKT_FAILS(vks_lora_unmerge(ctx, NULL, &a, &b, 1.0), VKS_ERROR_INVALID_ARGUMENT, "vks_lora_unmerge: w is NULL");
    vks_tensor bad = a;
    bad.shape[1] = 15;
    VKT_FAILS(vks_lora_merge(ctx, &w, &bad, &b, 1.0), VKS_ERROR_SHAPE_MISMATCH, "a is 2 x 15, expected (r, in) with in = 16");
    bad = b, bad.shape[0] = 7;
    VKT_FAILS(vks_lora_merge(ctx, &w, &a, &bad, 1.0), VKS_ERROR_SHAPE_MISMATCH, "b is 7 x 2, expected (out, r) = 8 x 2");
    bad = b, bad.dtype = VKS_DTYPE_F16;
    VKT_FAILS(vks_lora_merge(ctx, &w, &a, &bad, 1.0), VKS_ERROR_DTYPE_MISMATCH, "w, a, b have dtypes f32, f32, f16");
    bad = vks_tensor_2d(P, VKS_DTYPE_F32, 2, 16);
    VKT_FAILS(vks_lora_merge(ctx, &w, &bad, &b, 1.0), VKS_ERROR_INVALID_ARGUMENT, "w overlaps a");
    bad = w, bad.dtype = VKS_DTYPE_F64;
    VKT_FAILS(vks_lora_merge(ctx, &bad, &a, &b, 1.0), VKS_ERROR_UNSUPPORTED, "vks_lora_merge: w has dtype f64; expected f32 or f16");
    VKT_OK(vks_buffer_destroy(P));
}

/* ---- GaLore ------------------------------------------------------------------------------- */

static void run_galore(vks_dtype dt, int64_t batch, int64_t m, int64_t n, int64_t rank, vks_galore_side side,
                       bool shared_p, uint64_t seed) {
    vkt_rng rng = vkt_rng_seed(seed);
    const bool right = side == VKS_GALORE_RIGHT || (side == VKS_GALORE_AUTO && m >= n);
    const int64_t pr = right ? rank : m, pc = right ? n : rank, rr = right ? m : rank, rc = right ? rank : n;
    const int64_t pb = shared_p ? 1 : batch;
    double *g = rounded_random(&rng, dt, (size_t)(batch * m * n), 1.0);
    double *p = rounded_random(&rng, dt, (size_t)(pb * pr * pc), 1.0);
    vks_buffer *G = vkt_upload(dt, g, (size_t)(batch * m * n)), *P = vkt_upload(dt, p, (size_t)(pb * pr * pc));
    vks_buffer *R = vkt_poisoned(dt, (size_t)(batch * rr * rc)), *G2 = vkt_poisoned(dt, (size_t)(batch * m * n));
    vks_tensor tg = vks_tensor_3d(G, dt, batch, m, n), tr = vks_tensor_3d(R, dt, batch, rr, rc);
    vks_tensor tg2 = vks_tensor_3d(G2, dt, batch, m, n);
    vks_tensor tp = shared_p ? vks_tensor_2d(P, dt, pr, pc) : vks_tensor_3d(P, dt, batch, pr, pc);
    VKT_OK(vks_galore_project(vkt->ctx, side, &tg, &tp, &tr));
    VKT_OK(vks_galore_project_back(vkt->ctx, side, &tr, &tp, 0.25, &tg2));
    double *got_r = vkt_download(R, dt, 0, (size_t)(batch * rr * rc));
    double *got_g = vkt_download(G2, dt, 0, (size_t)(batch * m * n));
    double *want_r = calloc((size_t)(batch * rr * rc), sizeof(double));
    double *want_g = calloc((size_t)(batch * m * n), sizeof(double));
    for (int64_t z = 0; z < batch; ++z) {
        ref_mat rg = ref_rowmajor(g + z * m * n, m, n), rp = ref_rowmajor(p + (shared_p ? 0 : z) * pr * pc, pr, pc);
        ref_mat rr_ = ref_rowmajor(want_r + z * rr * rc, rr, rc), rg2 = ref_rowmajor(want_g + z * m * n, m, n);
        /* The back-projection of the device's R (rounded to dt), as a user would get it. */
        ref_mat rgot = ref_rowmajor(got_r + z * rr * rc, rr, rc);
        if (right) {
            ref_gemm(1.0, rg, ref_t(rp), 0.0, rr_);
            ref_gemm(0.25, rgot, rp, 0.0, rg2);
        } else {
            ref_gemm(1.0, ref_t(rp), rg, 0.0, rr_);
            ref_gemm(0.25, rp, rgot, 0.0, rg2);
        }
    }
    char what[128];
    snprintf(what, sizeof what, "galore %s batch=%lld m=%lld n=%lld rank=%lld side=%d", dt == VKS_DTYPE_F16 ? "f16" : "f32",
             (long long)batch, (long long)m, (long long)n, (long long)rank, (int)side);
    vkt_assert_close(got_r, want_r, (size_t)(batch * rr * rc), vkt_tol(dt), what);
    vkt_assert_close(got_g, want_g, (size_t)(batch * m * n), vkt_tol(dt), what);
    free(g), free(p), free(got_r), free(got_g), free(want_r), free(want_g);
    VKT_OK(vks_buffer_destroy(G));
    VKT_OK(vks_buffer_destroy(P));
    VKT_OK(vks_buffer_destroy(R));
    VKT_OK(vks_buffer_destroy(G2));
}

static void test_lowrank_galore(void **state) {
    (void)state;
    run_galore(VKS_DTYPE_F32, 1, 70, 45, 8, VKS_GALORE_AUTO, true, 300);  /* m >= n: right */
    run_galore(VKS_DTYPE_F32, 1, 45, 70, 8, VKS_GALORE_AUTO, true, 301);  /* m < n: left */
    run_galore(VKS_DTYPE_F32, 1, 70, 45, 5, VKS_GALORE_LEFT, true, 303);  /* forced side */
    run_galore(VKS_DTYPE_F32, 3, 40, 24, 4, VKS_GALORE_AUTO, false, 305); /* batches, own P each */
    run_galore(VKS_DTYPE_F32, 3, 24, 40, 4, VKS_GALORE_AUTO, true, 306);  /* batches, one P */
    run_galore(VKS_DTYPE_F32, 1, 1, 1, 1, VKS_GALORE_AUTO, true, 307);
    run_galore(VKS_DTYPE_F32, 1, 512, 256, 64, VKS_GALORE_AUTO, true, 308);
    if (has_f16()) run_galore(VKS_DTYPE_F16, 2, 64, 96, 16, VKS_GALORE_AUTO, true, 309);
}

/* GaLore with P from the orthogonalization family: vks_svd's vh[:rank] (m >= n) or u[:, :rank]
 * (m < n), passed as views without a copy; P's rows (columns) come out orthonormal, and at full
 * rank the back-projection returns scale * G. */
static void test_lowrank_galore_svd(void **state) {
    (void)state;
    static const int64_t shapes[][3] = {{96, 64, 16}, {48, 80, 12}, {40, 24, 24}};
    for (size_t c = 0; c < sizeof shapes / sizeof shapes[0]; ++c) {
        const int64_t m = shapes[c][0], n = shapes[c][1], rank = shapes[c][2], k = m < n ? m : n;
        const bool right = m >= n;
        vkt_rng rng = vkt_rng_seed(400 + c);
        const vks_dtype f32 = VKS_DTYPE_F32;
        double *g = rounded_random(&rng, f32, (size_t)(m * n), 1.0);
        vks_buffer *G = vkt_upload(f32, g, (size_t)(m * n)), *U = vkt_poisoned(f32, (size_t)(m * k));
        vks_buffer *S = vkt_poisoned(f32, (size_t)k), *VH = vkt_poisoned(f32, (size_t)(k * n));
        const int64_t rr = right ? m : rank, rc = right ? rank : n;
        vks_buffer *R = vkt_poisoned(f32, (size_t)(rr * rc)), *G2 = vkt_poisoned(f32, (size_t)(m * n));
        vks_tensor tg = vks_tensor_2d(G, f32, m, n), tu = vks_tensor_2d(U, f32, m, k), ts = vks_tensor_1d(S, f32, k);
        vks_tensor tvh = vks_tensor_2d(VH, f32, k, n), tr = vks_tensor_2d(R, f32, rr, rc);
        vks_tensor tg2 = vks_tensor_2d(G2, f32, m, n);
        VKT_OK(vks_svd(vkt->ctx, &tg, &tu, &ts, &tvh));
        /* P: the leading rank rows of vh, or columns of u, as views. */
        vks_tensor tp = right ? (vks_tensor){VH, 0, f32, 2, {rank, n}, {n, 1}}
                              : (vks_tensor){U, 0, f32, 2, {m, rank}, {k, 1}};
        VKT_OK(vks_galore_project(vkt->ctx, VKS_GALORE_AUTO, &tg, &tp, &tr));
        VKT_OK(vks_galore_project_back(vkt->ctx, VKS_GALORE_AUTO, &tr, &tp, 0.25, &tg2));
        double *uu = vkt_download(U, f32, 0, (size_t)(m * k)), *vh = vkt_download(VH, f32, 0, (size_t)(k * n));
        double *got_r = vkt_download(R, f32, 0, (size_t)(rr * rc)), *got_g = vkt_download(G2, f32, 0, (size_t)(m * n));
        /* P as stored, then the oracle products. */
        const int64_t pr = right ? rank : m, pc = right ? n : rank;
        double *p = malloc(sizeof(double) * (size_t)(pr * pc)), *ppt = calloc((size_t)(rank * rank), sizeof(double));
        for (int64_t i = 0; i < pr; ++i)
            for (int64_t j = 0; j < pc; ++j) p[i * pc + j] = right ? vh[i * n + j] : uu[i * k + j];
        ref_mat rp = ref_rowmajor(p, pr, pc), rid = ref_rowmajor(ppt, rank, rank);
        if (right) ref_gemm(1.0, rp, ref_t(rp), 0.0, rid);
        else ref_gemm(1.0, ref_t(rp), rp, 0.0, rid);
        for (int64_t i = 0; i < rank; ++i)
            for (int64_t j = 0; j < rank; ++j) assert_true(fabs(ppt[i * rank + j] - (i == j)) < 1e-4);
        double *want_r = calloc((size_t)(rr * rc), sizeof(double)), *want_g = calloc((size_t)(m * n), sizeof(double));
        ref_mat rg = ref_rowmajor(g, m, n), rwr = ref_rowmajor(want_r, rr, rc), rwg = ref_rowmajor(want_g, m, n);
        ref_mat rgot = ref_rowmajor(got_r, rr, rc);
        if (right) ref_gemm(1.0, rg, ref_t(rp), 0.0, rwr), ref_gemm(0.25, rgot, rp, 0.0, rwg);
        else ref_gemm(1.0, ref_t(rp), rg, 0.0, rwr), ref_gemm(0.25, rp, rgot, 0.0, rwg);
        vkt_assert_close(got_r, want_r, (size_t)(rr * rc), 1e-5, "galore with P from vks_svd: R");
        vkt_assert_close(got_g, want_g, (size_t)(m * n), 1e-5, "galore with P from vks_svd: back-projection");
        if (rank == k) { /* full rank: P^T P = I on G's side, so the round trip is scale * G */
            for (int64_t i = 0; i < m * n; ++i) want_g[i] = 0.25 * g[i];
            vkt_assert_close(got_g, want_g, (size_t)(m * n), 1e-4, "galore full-rank round trip");
        }
        free(g), free(uu), free(vh), free(got_r), free(got_g), free(p), free(ppt), free(want_r), free(want_g);
        vks_buffer *bufs[] = {G, U, S, VH, R, G2};
        for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; ++i) VKT_OK(vks_buffer_destroy(bufs[i]));
    }
}

static void test_lowrank_galore_errors(void **state) {
    (void)state;
    vks_context *ctx = vkt->ctx;
    const vks_dtype f32 = VKS_DTYPE_F32;
    vks_buffer *P = vkt_poisoned(f32, 2048), *R = vkt_poisoned(f32, 512);
    vks_tensor g = vks_tensor_2d(P, f32, 20, 10), p = {P, 1024 * 4, f32, 2, {4, 10}, {10, 1}};
    vks_tensor r = vks_tensor_2d(R, f32, 20, 4);
    VKT_OK(vks_galore_project(ctx, VKS_GALORE_AUTO, &g, &p, &r));
    VKT_FAILS(vks_galore_project(NULL, VKS_GALORE_AUTO, &g, &p, &r), VKS_ERROR_INVALID_ARGUMENT, "ctx is NULL");
    VKT_FAILS(vks_galore_project(ctx, (vks_galore_side)5, &g, &p, &r), VKS_ERROR_INVALID_ARGUMENT, "side = 5");
    VKT_FAILS(vks_galore_project(ctx, VKS_GALORE_AUTO, &g, NULL, &r), VKS_ERROR_INVALID_ARGUMENT, "p is NULL");
    vks_tensor bad = p;
    bad.shape[1] = 9;
    VKT_FAILS(vks_galore_project(ctx, VKS_GALORE_AUTO, &g, &bad, &r), VKS_ERROR_SHAPE_MISMATCH,
              "side RIGHT: p is 4 x 9, expected (rank, n) with n = 10");
    VKT_FAILS(vks_galore_project(ctx, VKS_GALORE_LEFT, &g, &p, &r), VKS_ERROR_SHAPE_MISMATCH,
              "side LEFT: p is 4 x 10, expected (m, rank) with m = 20");
    bad = vks_tensor_2d(R, f32, 20, 5);
    VKT_FAILS(vks_galore_project(ctx, VKS_GALORE_AUTO, &g, &p, &bad), VKS_ERROR_SHAPE_MISMATCH,
              "r is 20 x 5, expected (m, rank) = 20 x 4");
    VKT_FAILS(vks_galore_project_back(ctx, VKS_GALORE_AUTO, &bad, &p, 0.25, &g), VKS_ERROR_SHAPE_MISMATCH,
              "vks_galore_project_back: side RIGHT: r is 20 x 5, expected (m, rank) = 20 x 4");
    bad = p, bad.dtype = VKS_DTYPE_F16;
    VKT_FAILS(vks_galore_project(ctx, VKS_GALORE_AUTO, &g, &bad, &r), VKS_ERROR_DTYPE_MISMATCH,
              "g, p, r have dtypes f32, f16, f32");
    /* Errors of the products name GaLore's function and arguments, not vks_gemm's. */
    vks_tensor gi = g, pi = p, ri = r;
    gi.dtype = pi.dtype = ri.dtype = VKS_DTYPE_I32;
    VKT_FAILS(vks_galore_project(ctx, VKS_GALORE_AUTO, &gi, &pi, &ri), VKS_ERROR_UNSUPPORTED,
              "vks_galore_project: g has dtype i32; expected f32, f16 or f64");
    bad = (vks_tensor){P, 100 * 4, f32, 2, {20, 4}, {4, 1}}; /* inside g */
    VKT_FAILS(vks_galore_project(ctx, VKS_GALORE_AUTO, &g, &p, &bad), VKS_ERROR_INVALID_ARGUMENT,
              "vks_galore_project: r overlaps g in memory");
    vks_tensor g3 = vks_tensor_3d(P, f32, 3, 20, 10), r3 = vks_tensor_3d(R, f32, 2, 20, 4);
    VKT_FAILS(vks_galore_project(ctx, VKS_GALORE_AUTO, &g3, &p, &r3), VKS_ERROR_SHAPE_MISMATCH,
              "vks_galore_project: g has batch 3, r has 2; expected equal or 1");
    r3.strides[0] = 0, r3.shape[0] = 3;
    VKT_FAILS(vks_galore_project(ctx, VKS_GALORE_AUTO, &g3, &p, &r3), VKS_ERROR_INVALID_ARGUMENT,
              "vks_galore_project: r has batch 3 with batch stride 0");
    bad = g, bad.strides[0] = 0; /* every row of the output at the same place */
    VKT_FAILS(vks_galore_project_back(ctx, VKS_GALORE_AUTO, &r, &p, 0.25, &bad), VKS_ERROR_INVALID_ARGUMENT,
              "vks_galore_project_back: g's rows overlap (strides (0, 1) for 20 x 10)");
    VKT_OK(vks_buffer_destroy(P));
    VKT_OK(vks_buffer_destroy(R));
}

#define EXTRA_TESTS                                                                                                  \
    VKT_TEST(test_lowrank_randlora), VKT_TEST(test_lowrank_randlora_f16), VKT_TEST(test_lowrank_randlora_errors),    \
        VKT_TEST(test_lowrank_merge), VKT_TEST(test_lowrank_merge_errors), VKT_TEST(test_lowrank_galore),            \
        VKT_TEST(test_lowrank_galore_svd), VKT_TEST(test_lowrank_galore_errors)

int main(void) {
    const struct CMUnitTest tests[] = {EXTRA_TESTS};
    int failures = VKT_RUN(tests);
    if (vkt_device_is_cpu())
        failures += cmocka_run_group_tests_name("lowrank extra with GPU kernels", tests, vkt_gpu_kernels_setup,
                                                vkt_group_teardown);
    return failures;
}
