/* Newton-Schulz (every schedule), Gram-NS, AuON / Hybrid-AuON and SYRK against float64
 * oracles: the iteration maps G = U S V^T to U p(S) V^T, so the float64 SVD of G and the
 * scalar composition of the schedule's polynomials predict every entry of the result and
 * its singular values; plus the schedules' theoretical bounds, scale invariance down to
 * ||G||_F = 1e-30, tall/wide/batched/grouped shapes, f16/bf16/f64, NaN/Inf, in place and
 * every argument error. */
#include <math.h>
#include <string.h>

#include "reference.h"
#include "reference_orthogonal.h"
#include "vks_test.h"

static bool have(vks_dtype dt) {
    if (dt == VKS_DTYPE_F64) return vkt->info.features & VKS_FEATURE_FLOAT64;
    if (dt == VKS_DTYPE_F16 || dt == VKS_DTYPE_BF16) return vkt->info.features & VKS_FEATURE_STORAGE16;
    return true;
}

static const char *dt_name(vks_dtype dt) {
    return dt == VKS_DTYPE_F64 ? "f64" : dt == VKS_DTYPE_F16 ? "f16" : dt == VKS_DTYPE_BF16 ? "bf16" : "f32";
}

/* p_T(...p_1(x)) for one singular value. */
static double compose(double x, const double *abc, int steps) {
    for (int t = 0; t < steps; ++t) {
        const double x2 = x * x;
        x = abc[3 * t] * x + abc[3 * t + 1] * x2 * x + abc[3 * t + 2] * x2 * x2 * x;
    }
    return x;
}

/* The float64 oracle: out = U p(S s) V^T with s = 1 / (factor ||g||_F + eps); also returns
 * the predicted singular values (descending as S, not sorted after p). */
static void ns_oracle(int64_t m, int64_t n, const double *g, const double *abc, int steps, double factor, double eps,
                      double *out, double *sv_pred) {
    const int64_t r = m < n ? m : n;
    double *s = calloc((size_t)r, sizeof *s), *u = calloc((size_t)(m * r), sizeof *u), *v = calloc((size_t)(n * r), sizeof *v);
    ref_svd(m, n, g, s, u, v);
    const double scale = 1.0 / (factor * ref_fro(g, (size_t)(m * n)) + eps);
    for (int64_t k = 0; k < r; ++k) sv_pred[k] = (s[k] > 0 && isfinite(scale)) ? compose(s[k] * scale, abc, steps) : 0.0;
    for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) {
            double t = 0;
            for (int64_t k = 0; k < r; ++k) t += u[i * r + k] * sv_pred[k] * v[j * r + k];
            out[i * n + j] = t;
        }
    free(s), free(u), free(v);
}

static int cmp_desc(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x < y) - (x > y);
}

/* Checks got against the oracle: entries and singular values. */
static void check_ns(int64_t m, int64_t n, const double *g, const double *got, const double *abc, int steps,
                     double factor, double eps, double tol, const char *what) {
    const int64_t r = m < n ? m : n;
    double *want = calloc((size_t)(m * n), sizeof *want), *pred = calloc((size_t)r, sizeof *pred);
    double *s = calloc((size_t)r, sizeof *s), *u = calloc((size_t)(m * r), sizeof *u), *v = calloc((size_t)(n * r), sizeof *v);
    ns_oracle(m, n, g, abc, steps, factor, eps, want, pred);
    double scale = 0;
    for (int64_t i = 0; i < m * n; ++i) scale = fmax(scale, fabs(want[i]));
    const double err = ref_max_diff(got, want, (size_t)(m * n)) / fmax(scale, 1e-300);
    if (!(err <= tol)) fail_msg("%s: result differs from U p(S) V^T by %.3g of its largest entry (tol %.3g)", what, err, tol);
    ref_svd(m, n, got, s, u, v);
    qsort(pred, (size_t)r, sizeof *pred, cmp_desc);
    double smax = 0;
    for (int64_t k = 0; k < r; ++k) smax = fmax(smax, pred[k]);
    for (int64_t k = 0; k < r; ++k)
        if (!(fabs(s[k] - pred[k]) <= tol * fmax(smax, 1e-300) * 4))
            fail_msg("%s: singular value %lld is %.6g, the schedule predicts %.6g", what, (long long)k, s[k], pred[k]);
    free(want), free(pred), free(s), free(u), free(v);
}

typedef struct ns_case {
    vks_dtype dt;
    int64_t m, n, batch;
    vks_ns_schedule schedule;
    int steps;
    vks_ns_gram gram;
    double scale, eps;
    bool in_place;
    uint32_t flags;
} ns_case;

static double ns_tol(vks_dtype dt, vks_ns_schedule s) {
    /* The polynomials amplify rounding (|p'| up to ~3.4 per step for Muon). */
    const double base = dt == VKS_DTYPE_F64 ? 1e-10 : dt == VKS_DTYPE_F16 ? 3e-2 : dt == VKS_DTYPE_BF16 ? 8e-2 : 2e-4;
    return s == VKS_NS_CUBIC || s == VKS_NS_QUINTIC ? base * 4 : base;
}

static void run_ns(const ns_case *c, uint64_t seed) {
    if (!have(c->dt)) return;
    vkt_rng rng = vkt_rng_seed(seed);
    const int64_t m = c->m, n = c->n, nb = c->batch, mn = m * n;
    double *g = vkt_random(&rng, (size_t)(nb * mn), -1, 1);
    for (int64_t i = 0; i < nb * mn; ++i) g[i] *= c->scale;
    vkt_round_to(c->dt, g, (size_t)(nb * mn));
    vks_buffer *G = vkt_upload(c->dt, g, (size_t)(nb * mn)), *O = c->in_place ? G : vkt_poisoned(c->dt, (size_t)(nb * mn));
    vks_tensor tg = nb > 1 ? vks_tensor_3d(G, c->dt, nb, m, n) : vks_tensor_2d(G, c->dt, m, n);
    vks_tensor to = nb > 1 ? vks_tensor_3d(O, c->dt, nb, m, n) : vks_tensor_2d(O, c->dt, m, n);
    vks_newton_schulz_options o = VKS_NEWTON_SCHULZ_OPTIONS_INIT;
    o.schedule = c->schedule, o.steps = c->steps, o.gram = c->gram, o.eps = c->eps, o.flags = c->flags;
    VKT_OK(vks_newton_schulz(vkt->ctx, &tg, c->in_place ? &tg : &to, &o));
    double *got = vkt_download(O, c->dt, 0, (size_t)(nb * mn));
    double abc[300];
    int32_t steps = 0;
    VKT_OK(vks_newton_schulz_coefficients(c->schedule, c->steps, abc, 100, &steps));
    const double factor = c->schedule == VKS_NS_POLAR_EXPRESS ? 1.01 : 1.0;
    for (int64_t z = 0; z < nb; ++z) {
        char what[200];
        snprintf(what, sizeof what, "NS %s %lldx%lld matrix %lld schedule %d steps %d gram %d scale %g eps %g flags %u%s",
                 dt_name(c->dt), (long long)m, (long long)n, (long long)z, (int)c->schedule, steps, (int)c->gram,
                 c->scale, c->eps, c->flags, c->in_place ? " in place" : "");
        check_ns(m, n, g + z * mn, got + z * mn, abc, steps, factor, c->eps, ns_tol(c->dt, c->schedule), what);
    }
    free(g), free(got);
    vks_buffer_destroy(G);
    if (!c->in_place) vks_buffer_destroy(O);
}

static void test_orthogonal_ns_schedules(void **state) {
    (void)state;
    const vks_ns_schedule sch[] = {VKS_NS_MUON, VKS_NS_POLAR_EXPRESS, VKS_NS_CUBIC, VKS_NS_QUINTIC};
    for (int s = 0; s < 4; ++s) {
        ns_case c = {VKS_DTYPE_F32, 37, 53, 1, sch[s], 0, VKS_NS_GRAM_OFF, 1.0, 0.0, false};
        run_ns(&c, 10 + s);
        c.m = 53, c.n = 37; /* tall: iterated as its transpose */
        run_ns(&c, 20 + s);
    }
}

static void test_orthogonal_ns_shapes(void **state) {
    (void)state;
    static const int64_t shapes[][2] = {{1, 1}, {1, 9}, {9, 1}, {2, 2}, {16, 16}, {33, 33}, {64, 65}, {70, 40}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; ++s) {
        ns_case c = {VKS_DTYPE_F32, shapes[s][0], shapes[s][1], s % 2 ? 3 : 1, VKS_NS_MUON, 0, VKS_NS_GRAM_OFF, 1.0, 0.0};
        run_ns(&c, 30 + s);
    }
    ns_case big = {VKS_DTYPE_F32, 128, 192, 1, VKS_NS_POLAR_EXPRESS, 8, VKS_NS_GRAM_OFF, 1.0, 0.0};
    run_ns(&big, 40);
}

static void test_orthogonal_ns_gram(void **state) {
    (void)state;
    /* Aspect ratio >= 4: Gram-NS by default; forced on and off for both orientations. */
    ns_case c = {VKS_DTYPE_F32, 12, 60, 2, VKS_NS_MUON, 0, VKS_NS_GRAM_AUTO, 1.0, 0.0};
    run_ns(&c, 50);
    c.m = 70, c.n = 15, c.batch = 1, c.gram = VKS_NS_GRAM_ON, c.steps = 7; /* restarts twice */
    run_ns(&c, 51);
    c.schedule = VKS_NS_CUBIC, c.steps = 0, c.m = 20, c.n = 30; /* c = 0: the product is skipped */
    run_ns(&c, 52);
    c.gram = VKS_NS_GRAM_OFF, c.m = 12, c.n = 60, c.schedule = VKS_NS_MUON;
    run_ns(&c, 53);
}

static void test_orthogonal_ns_dtypes(void **state) {
    (void)state;
    const vks_dtype dts[] = {VKS_DTYPE_F16, VKS_DTYPE_BF16, VKS_DTYPE_F64};
    for (int d = 0; d < 3; ++d) {
        /* f16/bf16: on a device with tensor cores this is their path; NO_TENSOR_CORES the f32 one */
        ns_case c = {dts[d], 24, 40, 2, VKS_NS_MUON, 0, VKS_NS_GRAM_OFF, 1.0, 0.0};
        run_ns(&c, 60 + d);
        c.m = 40, c.n = 24, c.batch = 1, c.schedule = VKS_NS_POLAR_EXPRESS, c.flags = VKS_NS_NO_TENSOR_CORES;
        run_ns(&c, 70 + d);
    }
}

/* f16 working copies (the tensor-core path's precision; its kernels where the device has
 * VK_NV_cooperative_matrix, the portable ones elsewhere), ragged sizes across tiles. */
static void test_orthogonal_ns_half_work(void **state) {
    (void)state;
    static const int64_t shapes[][3] = {{24, 40, 2}, {40, 24, 1}, {130, 200, 1}, {1, 7, 1}, {17, 17, 3}};
    for (int d = 0; d < 2; ++d)
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes; ++s) {
            ns_case c = {d ? VKS_DTYPE_BF16 : VKS_DTYPE_F16, shapes[s][0], shapes[s][1], shapes[s][2],
                         s % 2 ? VKS_NS_POLAR_EXPRESS : VKS_NS_MUON, 0, VKS_NS_GRAM_AUTO, 1.0, 0.0, s == 4,
                         VKS_NS_HALF_WORK};
            run_ns(&c, 75 + 10 * d + s);
        }
}

/* The NeMo bug: a normalisation eps larger than ||G|| stops orthogonalizing. The default
 * (scaled norm, no eps) gives the same result at ||G|| = 1e-30 as at 1; eps = 1e-7 follows
 * its own formula (checked against the oracle with that eps). */
static void test_orthogonal_ns_scale_invariance(void **state) {
    (void)state;
    const double scales[] = {1e-30, 1e-20, 1e20, 1e30};
    for (int s = 0; s < 4; ++s) {
        ns_case c = {VKS_DTYPE_F32, 20, 31, 1, VKS_NS_POLAR_EXPRESS, 0, VKS_NS_GRAM_OFF, scales[s] / 30.0, 0.0};
        run_ns(&c, 80); /* the same matrix every time */
    }
    ns_case c = {VKS_DTYPE_F32, 20, 31, 1, VKS_NS_MUON, 0, VKS_NS_GRAM_OFF, 1e-9, 1e-7};
    run_ns(&c, 81);
    c.dt = VKS_DTYPE_F64, c.scale = 1e-200, c.eps = 0;
    run_ns(&c, 82);
}

static void test_orthogonal_ns_in_place_and_custom(void **state) {
    (void)state;
    ns_case c = {VKS_DTYPE_F32, 30, 20, 2, VKS_NS_QUINTIC, 6, VKS_NS_GRAM_OFF, 1.0, 0.0, true};
    run_ns(&c, 90);
    /* Custom coefficients: a different (a, b, c) each step. */
    vkt_rng rng = vkt_rng_seed(91);
    const int64_t m = 18, n = 25;
    double *g = vkt_random(&rng, m * n, -1, 1), abc[9] = {2.0, -1.5, 0.5, 1.8, -1.2, 0.4, 1.5, -0.5, 0.0};
    vkt_round_to(VKS_DTYPE_F32, g, m * n);
    vks_buffer *G = vkt_upload(VKS_DTYPE_F32, g, m * n), *O = vkt_poisoned(VKS_DTYPE_F32, m * n);
    vks_tensor tg = vks_tensor_2d(G, VKS_DTYPE_F32, m, n), to = vks_tensor_2d(O, VKS_DTYPE_F32, m, n);
    vks_newton_schulz_options o = VKS_NEWTON_SCHULZ_OPTIONS_INIT;
    o.schedule = VKS_NS_CUSTOM, o.steps = 3, o.coefficients = abc;
    VKT_OK(vks_newton_schulz(vkt->ctx, &tg, &to, &o));
    double *got = vkt_download(O, VKS_DTYPE_F32, 0, m * n);
    check_ns(m, n, g, got, abc, 3, 1.0, 0.0, 2e-4, "custom coefficients");
    free(g), free(got);
    vks_buffer_destroy(G), vks_buffer_destroy(O);
}

/* Singular values chosen: ill-conditioned (kappa 1e6), rank-deficient, and the schedules'
 * bounds max |sigma_out - 1| <= max over [s_min, s_max] of |p(s) - 1|. */
static void test_orthogonal_ns_spectra_and_bounds(void **state) {
    (void)state;
    const int64_t m = 24, n = 40;
    for (int kind = 0; kind < 3; ++kind) {
        vkt_rng rng = vkt_rng_seed(100 + kind);
        double s[24], *g = calloc(m * n, sizeof *g);
        for (int k = 0; k < m; ++k) {
            double t = k / (double)(m - 1);
            s[k] = kind == 0 ? pow(1e-6, t) : kind == 1 ? (k < m / 2 ? 1.0 + t : 0.0) : pow(1e-2, t);
        }
        ref_matrix_with_singular_values(&rng, m, n, s, g);
        vkt_round_to(VKS_DTYPE_F32, g, m * n);
        const vks_ns_schedule sch = kind == 2 ? VKS_NS_CUBIC : VKS_NS_MUON;
        vks_buffer *G = vkt_upload(VKS_DTYPE_F32, g, m * n), *O = vkt_poisoned(VKS_DTYPE_F32, m * n);
        vks_tensor tg = vks_tensor_2d(G, VKS_DTYPE_F32, m, n), to = vks_tensor_2d(O, VKS_DTYPE_F32, m, n);
        vks_newton_schulz_options o = VKS_NEWTON_SCHULZ_OPTIONS_INIT;
        o.schedule = sch;
        VKT_OK(vks_newton_schulz(vkt->ctx, &tg, &to, &o));
        double *got = vkt_download(O, VKS_DTYPE_F32, 0, m * n), abc[300];
        int32_t steps;
        VKT_OK(vks_newton_schulz_coefficients(sch, 0, abc, 100, &steps));
        check_ns(m, n, g, got, abc, steps, 1.0, 0.0, ns_tol(VKS_DTYPE_F32, sch), kind == 0 ? "kappa 1e6" : kind == 1 ? "rank-deficient" : "cubic bound");
        /* The bound over the normalised input's singular-value range. */
        double sv[24], u[24 * 24], v[40 * 24], fro = ref_fro(g, m * n);
        ref_svd(m, n, got, sv, u, v);
        double gs[24], gu[24 * 24], gv[40 * 24];
        ref_svd(m, n, g, gs, gu, gv);
        double lo = gs[0] / fro, hi = 0;
        for (int k = 0; k < m; ++k)
            if (gs[k] > 1e-6 * gs[0]) lo = fmin(lo, gs[k] / fro), hi = fmax(hi, gs[k] / fro);
        double bound = 0;
        for (int i = 0; i <= 4000; ++i) bound = fmax(bound, fabs(compose(lo + (hi - lo) * i / 4000.0, abc, steps) - 1));
        double worst = 0;
        for (int k = 0; k < m; ++k)
            if (gs[k] > 1e-6 * gs[0]) worst = fmax(worst, fabs(sv[k] - 1));
        if (!(worst <= bound + 1e-3)) fail_msg("kind %d: max |sigma - 1| = %.4g beyond the schedule's bound %.4g", kind, worst, bound);
        if (kind == 2 && !(worst < 1e-3)) fail_msg("cubic from s >= 1e-2: max |sigma - 1| = %.3g", worst);
        if (kind == 1) /* the zero singular values stay 0 */
            for (int k = m / 2; k < m; ++k)
                if (!(sv[k] < 1e-4)) fail_msg("rank-deficient: singular value %d = %g, expected 0", k, sv[k]);
        free(g), free(got);
        vks_buffer_destroy(G), vks_buffer_destroy(O);
    }
}

/* A list of matrices of different shapes (two of one shape, transposed), a batch among them. */
static void test_orthogonal_ns_grouped(void **state) {
    (void)state;
    const int64_t shapes[][3] = {{20, 30, 1}, {30, 20, 1}, {16, 16, 3}, {5, 40, 1}, {1, 7, 1}, {20, 30, 2}};
    enum { K = 6 };
    vkt_rng rng = vkt_rng_seed(120);
    vks_tensor tg[K], to[K];
    vks_buffer *G[K], *O[K];
    double *g[K];
    for (int k = 0; k < K; ++k) {
        const int64_t n = shapes[k][0] * shapes[k][1] * shapes[k][2];
        g[k] = vkt_random(&rng, n, -1, 1);
        vkt_round_to(VKS_DTYPE_F32, g[k], n);
        G[k] = vkt_upload(VKS_DTYPE_F32, g[k], n), O[k] = vkt_poisoned(VKS_DTYPE_F32, n);
        tg[k] = shapes[k][2] > 1 ? vks_tensor_3d(G[k], VKS_DTYPE_F32, shapes[k][2], shapes[k][0], shapes[k][1])
                                 : vks_tensor_2d(G[k], VKS_DTYPE_F32, shapes[k][0], shapes[k][1]);
        to[k] = tg[k], to[k].buffer = O[k];
    }
    vks_buffer *S = vkt_poisoned(VKS_DTYPE_I32, 9);
    vks_tensor ts = vks_tensor_1d(S, VKS_DTYPE_I32, 9);
    vks_newton_schulz_options o = VKS_NEWTON_SCHULZ_OPTIONS_INIT;
    o.status = &ts;
    VKT_OK(vks_newton_schulz_grouped(vkt->ctx, K, tg, to, &o));
    double *st = vkt_download(S, VKS_DTYPE_I32, 0, 9), abc[15];
    for (int i = 0; i < 9; ++i) assert_true(st[i] == 0);
    VKT_OK(vks_newton_schulz_coefficients(VKS_NS_MUON, 0, abc, 5, NULL));
    for (int k = 0; k < K; ++k) {
        const int64_t mn = shapes[k][0] * shapes[k][1];
        double *got = vkt_download(O[k], VKS_DTYPE_F32, 0, mn * shapes[k][2]);
        for (int64_t z = 0; z < shapes[k][2]; ++z) {
            char what[64];
            snprintf(what, sizeof what, "grouped entry %d (%lldx%lld) matrix %lld", k, (long long)shapes[k][0],
                     (long long)shapes[k][1], (long long)z);
            check_ns(shapes[k][0], shapes[k][1], g[k] + z * mn, got + z * mn, abc, 5, 1.0, 0.0, 2e-4, what);
        }
        free(got), free(g[k]);
        vks_buffer_destroy(G[k]), vks_buffer_destroy(O[k]);
    }
    free(st);
    vks_buffer_destroy(S);
}

static void test_orthogonal_ns_non_finite(void **state) {
    (void)state;
    vkt_rng rng = vkt_rng_seed(130);
    const int64_t m = 10, n = 14, mn = m * n;
    double *g = vkt_random(&rng, 3 * mn, -1, 1);
    vkt_round_to(VKS_DTYPE_F32, g, 3 * mn);
    g[mn + 17] = NAN;
    g[2 * mn + 3] = INFINITY;
    vks_buffer *G = vkt_upload(VKS_DTYPE_F32, g, 3 * mn), *O = vkt_poisoned(VKS_DTYPE_F32, 3 * mn);
    vks_tensor tg = vks_tensor_3d(G, VKS_DTYPE_F32, 3, m, n), to = vks_tensor_3d(O, VKS_DTYPE_F32, 3, m, n);
    VKT_FAILS(vks_newton_schulz(vkt->ctx, &tg, &to, NULL), VKS_ERROR_NON_FINITE, "matrix 1 of the call holds NaN or Inf");
    double *got = vkt_download(O, VKS_DTYPE_F32, 0, 3 * mn), abc[15];
    for (int64_t i = mn; i < 3 * mn; ++i) assert_true(got[i] == 0);
    VKT_OK(vks_newton_schulz_coefficients(VKS_NS_MUON, 0, abc, 5, NULL));
    check_ns(m, n, g, got, abc, 5, 1.0, 0.0, 2e-4, "beside NaN/Inf matrices");
    vks_buffer *S = vkt_poisoned(VKS_DTYPE_I32, 3);
    vks_tensor ts = vks_tensor_1d(S, VKS_DTYPE_I32, 3);
    vks_auon_options ao = VKS_AUON_OPTIONS_INIT;
    ao.status = &ts;
    VKT_OK(vks_auon(vkt->ctx, &tg, &to, &ao));
    double *st = vkt_download(S, VKS_DTYPE_I32, 0, 3);
    assert_true(st[0] == 0 && st[1] == 1 && st[2] == 1);
    free(got), free(st);
    got = vkt_download(O, VKS_DTYPE_F32, 0, 3 * mn);
    for (int64_t i = mn; i < 3 * mn; ++i) assert_true(got[i] == 0);
    /* A zero matrix is not an error: its output is 0. */
    memset(g, 0, sizeof(double) * mn);
    vks_buffer *Z = vkt_upload(VKS_DTYPE_F32, g, mn);
    vks_tensor tz = vks_tensor_2d(Z, VKS_DTYPE_F32, m, n), tzo = vks_tensor_2d(O, VKS_DTYPE_F32, m, n);
    VKT_OK(vks_newton_schulz(vkt->ctx, &tz, &tzo, NULL));
    free(got);
    got = vkt_download(O, VKS_DTYPE_F32, 0, mn);
    for (int64_t i = 0; i < mn; ++i) assert_true(got[i] == 0);
    free(g), free(got);
    vks_buffer_destroy(G), vks_buffer_destroy(O), vks_buffer_destroy(S), vks_buffer_destroy(Z);
}

/* ---- AuON ------------------------------------------------------------------------------------ */

static void auon_oracle(int64_t mn, const double *y, vks_auon_variant variant, double gamma, double eps, double *out) {
    const double nrm = ref_fro(y, mn);
    double s = 0;
    for (int64_t i = 0; i < mn; ++i) {
        const double c = cosh(gamma * y[i] / (nrm + eps));
        s += c * c;
    }
    const double r = sqrt(s / (double)mn);
    for (int64_t i = 0; i < mn; ++i) out[i] = (variant == VKS_AUON_PAPER ? y[i] / (nrm + eps) : y[i]) / (r + 1e-8);
}

static void run_auon(vks_dtype dt, int64_t m, int64_t n, vks_auon_variant variant, int ns_steps, double scale, uint64_t seed) {
    if (!have(dt)) return;
    vkt_rng rng = vkt_rng_seed(seed);
    const int64_t mn = m * n;
    double *g = vkt_random(&rng, mn, -1, 1), *want = calloc(mn, sizeof *want), *y = calloc(mn, sizeof *y);
    for (int64_t i = 0; i < mn; ++i) g[i] *= scale;
    vkt_round_to(dt, g, mn);
    vks_buffer *G = vkt_upload(dt, g, mn), *O = vkt_poisoned(dt, mn);
    vks_tensor tg = vks_tensor_2d(G, dt, m, n), to = vks_tensor_2d(O, dt, m, n);
    vks_auon_options o = VKS_AUON_OPTIONS_INIT;
    o.variant = variant, o.ns_steps = ns_steps;
    VKT_OK(vks_auon(vkt->ctx, &tg, &to, &o));
    double *got = vkt_download(O, dt, 0, mn);
    if (ns_steps) {
        double abc[300], pred[64];
        VKT_OK(vks_newton_schulz_coefficients(VKS_NS_MUON, ns_steps, abc, 100, NULL));
        ns_oracle(m, n, g, abc, ns_steps, 1.0, 0.0, y, pred);
    } else {
        memcpy(y, g, sizeof(double) * mn);
    }
    auon_oracle(mn, y, variant, 1.5, 0.0, want);
    char what[128];
    snprintf(what, sizeof what, "AuON %s %lldx%lld variant %d ns_steps %d scale %g", dt_name(dt), (long long)m,
             (long long)n, (int)variant, ns_steps, scale);
    const double tol = dt == VKS_DTYPE_F64 ? 1e-6 : dt == VKS_DTYPE_F16 ? 1e-2 : dt == VKS_DTYPE_BF16 ? 3e-2 : 2e-4;
    vkt_assert_close(got, want, mn, tol, what);
    free(g), free(want), free(y), free(got);
    vks_buffer_destroy(G), vks_buffer_destroy(O);
}

static void test_orthogonal_auon(void **state) {
    (void)state;
    for (int v = 0; v < 2; ++v) {
        run_auon(VKS_DTYPE_F32, 23, 31, (vks_auon_variant)v, 0, 1.0, 140 + v);
        run_auon(VKS_DTYPE_F32, 31, 23, (vks_auon_variant)v, 1, 1.0, 142 + v); /* Hybrid, paper: 1 step */
        run_auon(VKS_DTYPE_F32, 20, 44, (vks_auon_variant)v, 5, 1.0, 144 + v); /* Hybrid, code: 5 steps */
        run_auon(VKS_DTYPE_BF16, 16, 24, (vks_auon_variant)v, 5, 1.0, 146 + v);
        run_auon(VKS_DTYPE_F32, 12, 9, (vks_auon_variant)v, 0, 1e-30, 148 + v);
    }
    run_auon(VKS_DTYPE_F16, 16, 24, VKS_AUON_CODE, 0, 1.0, 150);
    run_auon(VKS_DTYPE_F64, 16, 24, VKS_AUON_PAPER, 5, 1.0, 151);
}

/* ---- SYRK ------------------------------------------------------------------------------------ */

static void run_syrk(vks_dtype dt, int64_t n, int64_t k, int64_t batch, vks_transpose trans, double alpha, double beta,
                     bool mirror, uint64_t seed) {
    if (!have(dt)) return;
    vkt_rng rng = vkt_rng_seed(seed);
    const int64_t na = batch * n * k, nc = batch * n * n;
    double *a = vkt_random(&rng, na, -1, 1), *c = vkt_random(&rng, nc, -1, 1);
    vkt_round_to(dt, a, na);
    vkt_round_to(dt, c, nc);
    vks_buffer *A = vkt_upload(dt, a, na), *C = beta != 0 ? vkt_upload(dt, c, nc) : vkt_poisoned(dt, nc);
    vks_tensor ta = trans ? vks_tensor_3d(A, dt, batch, k, n) : vks_tensor_3d(A, dt, batch, n, k);
    vks_tensor tc = vks_tensor_3d(C, dt, batch, n, n);
    VKT_OK(vks_syrk(vkt->ctx, trans, alpha, &ta, beta, &tc, mirror));
    double *got = vkt_download(C, dt, 0, nc), *want = calloc(n * n, sizeof *want);
    for (int64_t z = 0; z < batch; ++z) {
        const double *az = a + z * n * k;
        ref_mat ra = trans ? ref_t(ref_rowmajor((double *)az, k, n)) : ref_rowmajor((double *)az, n, k);
        memcpy(want, c + z * n * n, sizeof(double) * n * n);
        ref_gemm(alpha, ra, ref_t(ra), beta, ref_rowmajor(want, n, n));
        for (int64_t i = 0; i < n; ++i)
            for (int64_t j = i + 1; j < n; ++j) {
                double gv = got[z * n * n + i * n + j];
                if (mirror) { /* the upper triangle is the transposed lower one (c's lower is what is read) */
                    want[i * n + j] = want[j * n + i];
                    continue;
                }
                /* Without mirror the strict upper triangle keeps what was there (NaN when beta = 0). */
                if (beta == 0 ? !isnan(gv) : gv != c[z * n * n + i * n + j]) fail_msg("syrk wrote the upper triangle at (%lld, %lld)", (long long)i, (long long)j);
                want[i * n + j] = gv = 0;
                got[z * n * n + i * n + j] = 0;
            }
        char what[96];
        snprintf(what, sizeof what, "syrk %s n=%lld k=%lld trans=%d mirror=%d beta=%g", dt_name(dt), (long long)n,
                 (long long)k, trans, mirror, beta);
        vkt_assert_close(got + z * n * n, want, n * n, vkt_tol(dt) * 4, what);
    }
    free(a), free(c), free(got), free(want);
    vks_buffer_destroy(A), vks_buffer_destroy(C);
}

static void test_orthogonal_syrk(void **state) {
    (void)state;
    static const int64_t sizes[][2] = {{1, 1}, {7, 3}, {33, 17}, {64, 64}, {100, 37}, {130, 2}};
    uint64_t seed = 160;
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; ++s)
        for (int t = 0; t < 2; ++t) {
            run_syrk(VKS_DTYPE_F32, sizes[s][0], sizes[s][1], 2, (vks_transpose)t, 1.0, 0.0, true, seed++);
            run_syrk(VKS_DTYPE_F32, sizes[s][0], sizes[s][1], 1, (vks_transpose)t, -0.5, 1.5, s % 2 == 0, seed++);
        }
    run_syrk(VKS_DTYPE_F64, 45, 29, 2, VKS_TRANS, 2.0, -1.0, false, seed++);
    run_syrk(VKS_DTYPE_F64, 70, 33, 1, VKS_NO_TRANS, 1.0, 0.0, true, seed++);
}

/* ---- coefficients and errors ------------------------------------------------------------------ */

static void test_orthogonal_ns_coefficients(void **state) {
    (void)state;
    double abc[300];
    int32_t steps = 0;
    VKT_OK(vks_newton_schulz_coefficients(VKS_NS_MUON, 0, abc, 100, &steps));
    assert_int_equal(steps, 5);
    assert_true(abc[12] == 3.4445 && abc[13] == -4.7750 && abc[14] == 2.0315);
    /* Polar Express against a float64 oracle of the paper's schedule: the list of eight, the
     * safety factor on the first seven entries, step t uses entry min(t, 7). */
    static const double pe[8][3] = {
        {8.28721201814563, -23.595886519098837, 17.300387312530933},
        {4.107059111542203, -2.9478499167379106, 0.5448431082926601},
        {3.9486908534822946, -2.908902115962949, 0.5518191394370137},
        {3.3184196573706015, -2.488488024314874, 0.51004894012372},
        {2.300652019954817, -1.6689039845747493, 0.4188073119525673},
        {1.891301407787398, -1.2679958271945868, 0.37680408948524835},
        {1.8750014808534479, -1.2500016453999487, 0.3750001645474248},
        {1.875, -1.25, 0.375}};
    VKT_OK(vks_newton_schulz_coefficients(VKS_NS_POLAR_EXPRESS, 11, abc, 100, &steps));
    assert_int_equal(steps, 11);
    for (int t = 0; t < 11; ++t) {
        const int k = t < 7 ? t : 7;
        const double f = k < 7 ? 1.01 : 1.0;
        const double want[3] = {pe[k][0] / f, pe[k][1] / (f * f * f), pe[k][2] / (f * f * f * f * f)};
        for (int j = 0; j < 3; ++j) assert_true(fabs(abc[3 * t + j] - want[j]) <= 1e-15 * fabs(want[j]));
    }
    /* Step 6 is the seventh polynomial divided by the safety factor, not (1.875, -1.25, 0.375). */
    assert_true(fabs(abc[18] - 1.8750014808534479 / 1.01) < 1e-14 && abc[18] < 1.875);
    for (int t = 7; t < 11; ++t) assert_true(abc[3 * t] == 1.875 && abc[3 * t + 1] == -1.25 && abc[3 * t + 2] == 0.375);
    VKT_OK(vks_newton_schulz_coefficients(VKS_NS_CUBIC, 0, abc, 100, &steps));
    assert_true(steps == 18 && abc[0] == 1.5 && abc[1] == -0.5 && abc[2] == 0);
    VKT_OK(vks_newton_schulz_coefficients(VKS_NS_QUINTIC, 0, abc, 100, &steps));
    assert_true(steps == 12 && abc[0] == 15.0 / 8 && abc[1] == -10.0 / 8 && abc[2] == 3.0 / 8);
    VKT_FAILS(vks_newton_schulz_coefficients(VKS_NS_CUSTOM, 0, abc, 100, NULL), VKS_ERROR_INVALID_ARGUMENT,
              "schedule = 4 has no built-in coefficients");
    VKT_FAILS(vks_newton_schulz_coefficients(VKS_NS_MUON, 500, abc, 100, NULL), VKS_ERROR_INVALID_ARGUMENT, "steps = 500");
    VKT_FAILS(vks_newton_schulz_coefficients(VKS_NS_MUON, 0, abc, 3, NULL), VKS_ERROR_INVALID_ARGUMENT,
              "capacity_steps = 3 but the schedule has 5 steps");
}

static void test_orthogonal_ns_errors(void **state) {
    (void)state;
    vks_context *ctx = vkt->ctx;
    vks_buffer *G = vkt_poisoned(VKS_DTYPE_F32, 64), *O = vkt_poisoned(VKS_DTYPE_F32, 64);
    vks_tensor g = vks_tensor_2d(G, VKS_DTYPE_F32, 4, 6), o = vks_tensor_2d(O, VKS_DTYPE_F32, 4, 6);
    VKT_FAILS(vks_newton_schulz(NULL, &g, &o, NULL), VKS_ERROR_INVALID_ARGUMENT, "ctx is NULL");
    VKT_FAILS(vks_newton_schulz(ctx, NULL, &o, NULL), VKS_ERROR_INVALID_ARGUMENT, "vks_newton_schulz: g is NULL");
    vks_tensor bad = vks_tensor_2d(O, VKS_DTYPE_F32, 6, 4);
    VKT_FAILS(vks_newton_schulz(ctx, &g, &bad, NULL), VKS_ERROR_SHAPE_MISMATCH, "out is (6, 4) x batch 1 but g is (4, 6)");
    bad = vks_tensor_2d(O, VKS_DTYPE_I32, 4, 6);
    vks_tensor gi = vks_tensor_2d(G, VKS_DTYPE_I32, 4, 6);
    VKT_FAILS(vks_newton_schulz(ctx, &gi, &bad, NULL), VKS_ERROR_UNSUPPORTED, "g has dtype i32; expected f32, f16, bf16 or f64");
    bad = vks_tensor_2d(O, VKS_DTYPE_F16, 4, 6);
    VKT_FAILS(vks_newton_schulz(ctx, &g, &bad, NULL), VKS_ERROR_DTYPE_MISMATCH, "out f16; expected f32");
    bad = g, bad.byte_offset = 8;
    VKT_FAILS(vks_newton_schulz(ctx, &g, &bad, NULL), VKS_ERROR_INVALID_ARGUMENT, "out overlaps g without being the same tensor");
    vks_newton_schulz_options op = VKS_NEWTON_SCHULZ_OPTIONS_INIT;
    op.steps = 101;
    VKT_FAILS(vks_newton_schulz(ctx, &g, &o, &op), VKS_ERROR_INVALID_ARGUMENT, "options->steps = 101");
    op = (vks_newton_schulz_options)VKS_NEWTON_SCHULZ_OPTIONS_INIT;
    op.schedule = VKS_NS_CUSTOM, op.steps = 2;
    VKT_FAILS(vks_newton_schulz(ctx, &g, &o, &op), VKS_ERROR_INVALID_ARGUMENT, "coefficients is NULL for VKS_NS_CUSTOM");
    double nanc[6] = {1, 2, 3, NAN, 0, 0};
    op.coefficients = nanc;
    VKT_FAILS(vks_newton_schulz(ctx, &g, &o, &op), VKS_ERROR_INVALID_ARGUMENT, "options->coefficients[3] = nan");
    op = (vks_newton_schulz_options)VKS_NEWTON_SCHULZ_OPTIONS_INIT;
    op.schedule = (vks_ns_schedule)9;
    VKT_FAILS(vks_newton_schulz(ctx, &g, &o, &op), VKS_ERROR_INVALID_ARGUMENT, "options->schedule = 9");
    op = (vks_newton_schulz_options)VKS_NEWTON_SCHULZ_OPTIONS_INIT;
    op.flags = 0x10;
    VKT_FAILS(vks_newton_schulz(ctx, &g, &o, &op), VKS_ERROR_INVALID_ARGUMENT, "options->flags = 0x10");
    op = (vks_newton_schulz_options)VKS_NEWTON_SCHULZ_OPTIONS_INIT;
    op.eps = -1;
    VKT_FAILS(vks_newton_schulz(ctx, &g, &o, &op), VKS_ERROR_INVALID_ARGUMENT, "eps = -1");
    op = (vks_newton_schulz_options)VKS_NEWTON_SCHULZ_OPTIONS_INIT;
    op.struct_size = 4;
    VKT_FAILS(vks_newton_schulz(ctx, &g, &o, &op), VKS_ERROR_INVALID_ARGUMENT, "options->struct_size = 4");
    op = (vks_newton_schulz_options)VKS_NEWTON_SCHULZ_OPTIONS_INIT;
    vks_tensor st = vks_tensor_1d(O, VKS_DTYPE_I32, 2);
    st.byte_offset = 200;
    op.status = &st;
    VKT_FAILS(vks_newton_schulz(ctx, &g, &o, &op), VKS_ERROR_SHAPE_MISMATCH, "options->status has 2 elements");
    /* The status word inside the result or the input. */
    vks_tensor in_out = vks_tensor_1d(O, VKS_DTYPE_I32, 1), in_g = vks_tensor_1d(G, VKS_DTYPE_I32, 1);
    in_out.byte_offset = 8, in_g.byte_offset = 4;
    op.status = &in_out;
    VKT_FAILS(vks_newton_schulz(ctx, &g, &o, &op), VKS_ERROR_INVALID_ARGUMENT,
              "vks_newton_schulz: options->status overlaps out in memory");
    op.status = &in_g;
    VKT_FAILS(vks_newton_schulz(ctx, &g, &o, &op), VKS_ERROR_INVALID_ARGUMENT,
              "vks_newton_schulz: options->status overlaps g in memory");
    /* Grouped: one dtype per call, outputs distinct. */
    vks_buffer *H = vkt_poisoned(VKS_DTYPE_F16, 64);
    vks_tensor gl[2] = {g, vks_tensor_2d(H, VKS_DTYPE_F16, 2, 3)}, ol[2] = {o, vks_tensor_2d(H, VKS_DTYPE_F16, 2, 3)};
    ol[1].byte_offset = 64;
    if (vkt->info.features & VKS_FEATURE_STORAGE16)
        VKT_FAILS(vks_newton_schulz_grouped(ctx, 2, gl, ol, NULL), VKS_ERROR_DTYPE_MISMATCH, "one dtype per call");
    vks_tensor ol2[2] = {o, vks_tensor_2d(O, VKS_DTYPE_F32, 2, 3)}, gl2[2] = {g, vks_tensor_2d(G, VKS_DTYPE_F32, 2, 3)};
    gl2[1].byte_offset = 30 * 4;
    VKT_FAILS(vks_newton_schulz_grouped(ctx, 2, gl2, ol2, NULL), VKS_ERROR_INVALID_ARGUMENT, "out[1] overlaps out[0] in memory");
    /* One group's output over another group's input: group 0 would read g[0] while group 1
     * writes it (only out[i] == g[i] is in place). */
    vks_tensor gl3[2] = {g, gl2[1]}, ol3[2] = {o, vks_tensor_2d(G, VKS_DTYPE_F32, 2, 3)};
    VKT_FAILS(vks_newton_schulz_grouped(ctx, 2, gl3, ol3, NULL), VKS_ERROR_INVALID_ARGUMENT,
              "vks_newton_schulz_grouped: out[1] overlaps g[0] in memory");
    /* A group of one names the grouped function (the one called), not vks_newton_schulz. */
    vks_newton_schulz_options bad_size = VKS_NEWTON_SCHULZ_OPTIONS_INIT;
    bad_size.struct_size = 3;
    VKT_FAILS(vks_newton_schulz_grouped(ctx, 1, gl2, ol2, &bad_size), VKS_ERROR_INVALID_ARGUMENT,
              "vks_newton_schulz_grouped: options->struct_size = 3");
    vks_auon_options bad_auon = VKS_AUON_OPTIONS_INIT;
    bad_auon.struct_size = 3;
    VKT_FAILS(vks_auon_grouped(ctx, 1, gl2, ol2, &bad_auon), VKS_ERROR_INVALID_ARGUMENT,
              "vks_auon_grouped: options->struct_size = 3");
    /* An output whose rows collide (every row of out at the same place). */
    vks_tensor orow = o;
    orow.strides[0] = 0;
    VKT_FAILS(vks_newton_schulz(ctx, &g, &orow, NULL), VKS_ERROR_INVALID_ARGUMENT,
              "vks_newton_schulz: out's rows overlap (strides (0, 1) for 4 x 6)");
    VKT_OK(vks_newton_schulz_grouped(ctx, 0, NULL, NULL, NULL));
    /* Shapes past a launch's workgroup counts (lavapipe: 65535 per dimension; its kernels
     * take 64 columns a workgroup): a status that names the op, the kernel and the limit. */
    if (vkt->info.max_workgroup_count[0] <= 65535) {
        const int64_t wide = (int64_t)vkt->info.max_workgroup_count[0] * 64 + 64;
        vks_buffer *GW = vkt_poisoned(VKS_DTYPE_F32, (size_t)(2 * wide)), *OW = vkt_poisoned(VKS_DTYPE_F32, (size_t)(2 * wide));
        vks_tensor gw = vks_tensor_2d(GW, VKS_DTYPE_F32, 2, wide), ow = vks_tensor_2d(OW, VKS_DTYPE_F32, 2, wide);
        VKT_FAILS(vks_newton_schulz(ctx, &gw, &ow, NULL), VKS_ERROR_OUT_OF_RANGE, "newton_schulz: these shapes need");
        vks_buffer_destroy(GW), vks_buffer_destroy(OW);
    }
    vks_auon_options ao = VKS_AUON_OPTIONS_INIT;
    ao.variant = (vks_auon_variant)3;
    VKT_FAILS(vks_auon(ctx, &g, &o, &ao), VKS_ERROR_INVALID_ARGUMENT, "options->variant = 3");
    ao = (vks_auon_options)VKS_AUON_OPTIONS_INIT;
    ao.ns_steps = -1;
    VKT_FAILS(vks_auon(ctx, &g, &o, &ao), VKS_ERROR_INVALID_ARGUMENT, "options->ns_steps = -1");
    /* SYRK */
    vks_tensor c = vks_tensor_2d(O, VKS_DTYPE_F32, 4, 4);
    VKT_FAILS(vks_syrk(ctx, 3, 1, &g, 0, &c, 1), VKS_ERROR_INVALID_ARGUMENT, "trans = 3");
    VKT_FAILS(vks_syrk(ctx, VKS_TRANS, 1, &g, 0, &c, 1), VKS_ERROR_SHAPE_MISMATCH, "c is 4 x 4; expected op(a) op(a)^T = 6 x 6");
    vks_tensor ca = vks_tensor_2d(G, VKS_DTYPE_F32, 4, 4);
    VKT_FAILS(vks_syrk(ctx, VKS_NO_TRANS, 1, &g, 0, &ca, 1), VKS_ERROR_INVALID_ARGUMENT, "c overlaps a");
    vks_tensor crow = c;
    crow.strides[0] = 0;
    VKT_FAILS(vks_syrk(ctx, VKS_NO_TRANS, 1, &g, 0, &crow, 1), VKS_ERROR_INVALID_ARGUMENT,
              "vks_syrk: c's rows overlap (strides (0, 1) for 4 x 4)");
    VKT_FAILS(vks_syrk(ctx, VKS_NO_TRANS, NAN, &g, 0, &c, 1), VKS_ERROR_INVALID_ARGUMENT, "alpha = nan");
    double *got = vkt_download(O, VKS_DTYPE_F32, 0, 24);
    for (int i = 0; i < 24; ++i) assert_true(isnan(got[i]));
    free(got);
    vks_buffer_destroy(G), vks_buffer_destroy(O), vks_buffer_destroy(H);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VKT_TEST(test_orthogonal_ns_schedules),         VKT_TEST(test_orthogonal_ns_shapes),
        VKT_TEST(test_orthogonal_ns_gram),              VKT_TEST(test_orthogonal_ns_dtypes),
        VKT_TEST(test_orthogonal_ns_half_work),
        VKT_TEST(test_orthogonal_ns_scale_invariance),  VKT_TEST(test_orthogonal_ns_in_place_and_custom),
        VKT_TEST(test_orthogonal_ns_spectra_and_bounds), VKT_TEST(test_orthogonal_ns_grouped),
        VKT_TEST(test_orthogonal_ns_non_finite),        VKT_TEST(test_orthogonal_auon),
        VKT_TEST(test_orthogonal_syrk),                 VKT_TEST(test_orthogonal_ns_coefficients),
        VKT_TEST(test_orthogonal_ns_errors),
    };
    int failures = VKT_RUN(tests);
    if (vkt_device_is_cpu()) {
        const struct CMUnitTest gpu[] = {VKT_TEST(test_orthogonal_ns_schedules), VKT_TEST(test_orthogonal_ns_gram),
                                         VKT_TEST(test_orthogonal_ns_half_work),
                                         VKT_TEST(test_orthogonal_ns_grouped), VKT_TEST(test_orthogonal_syrk)};
        failures += cmocka_run_group_tests_name("newton-schulz with GPU kernels", gpu, vkt_gpu_kernels_setup, vkt_group_teardown);
    }
    return failures;
}
