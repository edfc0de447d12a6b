/* The Jacobi eigensolver against the float64 oracle (cyclic Jacobi in reference_orthogonal.c):
 * eigenvalues, the residual ||A V - V diag(w)||, the orthogonality of V, ascending order, the
 * sign convention, and the eigenvectors themselves where the spectrum is separated; random,
 * clustered, indefinite, ill-conditioned (kappa 1e6), rank-deficient, tiny and huge matrices;
 * ragged sizes around the pair block, batches, strided views, f32/f64; NaN input; the
 * fixed-sweep mode with its info tensor; every argument error. */
#include <math.h>
#include <string.h>

#include "reference_orthogonal.h"
#include "vks_test.h"

static double unit_roundoff(vks_dtype dt) { return dt == VKS_DTYPE_F64 ? 0x1p-53 : 0x1p-24; }
static bool have(vks_dtype dt) { return dt != VKS_DTYPE_F64 || (vkt->info.features & VKS_FEATURE_FLOAT64); }

typedef enum spectrum {
    SPEC_RANDOM,      /* uniform entries in [-1, 1] */
    SPEC_SEPARATED,   /* eigenvalues 1, 2, ..., n (eigenvectors checked too) */
    SPEC_CLUSTERED,   /* a few values, each repeated */
    SPEC_ILL,         /* geometric from 1 to 1e-6, all positive */
    SPEC_RANK_DEF,    /* half of them exactly 0 */
    SPEC_INDEFINITE,  /* +-geometric */
    SPEC_GRADED,      /* geometric from 1 to 1e-12 (kappa 1e12), all positive */
    SPEC_REPEATED     /* one eigenvalue n/2 times, the rest spread */
} spectrum;

static void make_matrix(vkt_rng *rng, spectrum sp, int64_t n, double scale, double *a) {
    double *w = calloc((size_t)n, sizeof *w);
    for (int64_t i = 0; i < n; ++i) {
        double t = n > 1 ? (double)i / (double)(n - 1) : 0;
        switch (sp) {
        case SPEC_SEPARATED: w[i] = (double)(i + 1); break;
        case SPEC_CLUSTERED: w[i] = (double)(1 + i % 3); break;
        case SPEC_ILL: w[i] = pow(1e-6, t); break;
        case SPEC_RANK_DEF: w[i] = i % 2 ? 0.0 : 1.0 + t; break;
        case SPEC_INDEFINITE: w[i] = (i % 2 ? -1.0 : 1.0) * pow(1e-3, t); break;
        case SPEC_GRADED: w[i] = pow(1e-12, t); break;
        case SPEC_REPEATED: w[i] = i < n / 2 ? 0.75 : -1.0 + t; break;
        default: break;
        }
    }
    if (sp == SPEC_RANDOM) {
        for (int64_t i = 0; i < n; ++i)
            for (int64_t j = 0; j <= i; ++j) a[i * n + j] = a[j * n + i] = vkt_uniform(rng, -1, 1);
    } else {
        ref_symmetric_with_spectrum(rng, n, w, a);
    }
    for (int64_t i = 0; i < n * n; ++i) a[i] *= scale;
    free(w);
}

typedef struct eigh_case {
    vks_dtype dt;
    int64_t n, batch;
    spectrum sp;
    double scale;
    bool col_major; /* a given through a column-major view */
    int fixed_sweeps;
    bool f32_work; /* VKS_EIGH_INPUT_PRECISION: iterate f32 in f32 */
    vks_eigh_method method; /* AUTO: through vks_eigh */
} eigh_case;

/* Checks one decomposition of the (symmetric, rounded) a. */
static void check_eigh(const eigh_case *c, const double *a, const double *w, const double *v, const char *what) {
    const int64_t n = c->n;
    double *wr = calloc((size_t)n, sizeof *wr), *vr = calloc((size_t)(n * n), sizeof *vr);
    double *av = calloc((size_t)(n * n), sizeof *av);
    ref_eigh(n, a, wr, vr);
    double anorm = 0;
    for (int64_t i = 0; i < n; ++i) anorm = fmax(anorm, fabs(wr[i]));
    const double fro = ref_fro(a, (size_t)(n * n));
    /* f32 is iterated in f64 (the default where the device has it): errors are f32's
     * rounding; f64 keeps the rounding of the GEMM updates, ~1e-13 at these sizes. */
    const double u = unit_roundoff(c->dt);
    double tol = c->dt == VKS_DTYPE_F64 ? 2e-13 * sqrt((double)n + 1)
                 : c->f32_work        ? 4e-3 * (double)n / 200.0 + 1e-5
                                      : 16.0 * sqrt((double)n + 1) * u;
    /* The tridiagonal path: LAPACK's accuracy, a small multiple of n u (f32 results: one
     * rounding of f64 values per element, so sqrt(n) u). */
    if (c->method == VKS_EIGH_TRIDIAGONAL && !c->f32_work)
        tol = c->dt == VKS_DTYPE_F64 ? 8.0 * (double)(n + 1) * u : 4.0 * sqrt((double)n + 1) * u;
    for (int64_t i = 0; i < n; ++i) {
        if (!isfinite(w[i])) fail_msg("%s: w[%lld] = %g", what, (long long)i, w[i]);
        if (i && w[i] < w[i - 1]) fail_msg("%s: w not ascending at %lld: %g < %g", what, (long long)i, w[i], w[i - 1]);
        if (!(fabs(w[i] - wr[i]) <= tol * fmax(anorm, 1e-300)))
            fail_msg("%s: w[%lld] = %.9g, want %.9g (error %.3g of ||a||, tol %.3g)", what, (long long)i, w[i], wr[i],
                     fabs(w[i] - wr[i]) / anorm, tol);
    }
    /* Residual ||A V - V diag(w)||_F / ||A||_F and orthogonality ||V^T V - I||_F. */
    ref_matmul(n, n, n, a, 0, v, 0, av);
    double res = 0;
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < n; ++j) {
            double d = av[i * n + j] - v[i * n + j] * w[j];
            res += d * d;
        }
    res = sqrt(res) / fmax(fro, 1e-300);
    const double orth = ref_orth_error(n, n, v);
    if (!(res <= tol)) fail_msg("%s: ||A V - V W||_F / ||A||_F = %.3g > %.3g", what, res, tol);
    if (!(orth <= tol)) fail_msg("%s: ||V^T V - I||_F = %.3g > %.3g", what, orth, tol);
    /* Sign convention: the largest-magnitude component (first of equals) is positive. */
    for (int64_t j = 0; j < n; ++j) {
        int64_t best = 0;
        for (int64_t i = 1; i < n; ++i)
            if (fabs(v[i * n + j]) > fabs(v[best * n + j])) best = i;
        if (!(v[best * n + j] > 0)) fail_msg("%s: eigenvector %lld has its largest component negative", what, (long long)j);
    }
    if (c->sp == SPEC_SEPARATED) { /* unique up to sign: compare with the oracle's, signed alike */
        for (int64_t j = 0; j < n; ++j) {
            int64_t best = 0;
            for (int64_t i = 1; i < n; ++i)
                if (fabs(vr[i * n + j]) > fabs(vr[best * n + j])) best = i;
            double sg = vr[best * n + j] < 0 ? -1 : 1, err = 0;
            for (int64_t i = 0; i < n; ++i) err = fmax(err, fabs(v[i * n + j] - sg * vr[i * n + j]));
            if (!(err <= tol * n)) fail_msg("%s: eigenvector %lld differs from the oracle's by %.3g", what, (long long)j, err);
        }
    }
    free(wr), free(vr), free(av);
}

/* The Jacobi group reruns the AUTO cases with the method forced. */
static vks_eigh_method forced_method = VKS_EIGH_AUTO;

static void run_eigh(const eigh_case *c0, uint64_t seed) {
    eigh_case forced = *c0;
    if (forced_method && !forced.method) forced.method = forced_method;
    const eigh_case *c = &forced;
    if (!have(c->dt)) return;
    vkt_rng rng = vkt_rng_seed(seed);
    const int64_t n = c->n, nb = c->batch, nn = n * n;
    double *a = calloc((size_t)(nb * nn), sizeof *a), *stored = calloc((size_t)(nb * nn), sizeof *stored);
    for (int64_t z = 0; z < nb; ++z) make_matrix(&rng, c->sp, n, c->scale, a + z * nn);
    vkt_round_to(c->dt, a, (size_t)(nb * nn));
    for (int64_t z = 0; z < nb; ++z)
        for (int64_t i = 0; i < n; ++i)
            for (int64_t j = 0; j < n; ++j) {
                /* The lower triangle defines the matrix; the upper is never read. */
                double x = j > i ? NAN : a[z * nn + i * n + j];
                if (j > i) a[z * nn + i * n + j] = a[z * nn + j * n + i];
                stored[z * nn + (c->col_major ? j * n + i : i * n + j)] = x;
            }
    vks_buffer *A = vkt_upload(c->dt, stored, (size_t)(nb * nn)), *V = vkt_poisoned(c->dt, (size_t)(nb * nn));
    vks_buffer *W = vkt_poisoned(c->dt, (size_t)(nb * n)), *I = vkt_poisoned(VKS_DTYPE_I32, (size_t)nb);
    vks_tensor ta = nb > 1 ? vks_tensor_3d(A, c->dt, nb, n, n) : vks_tensor_2d(A, c->dt, n, n);
    if (c->col_major) ta.strides[ta.ndim - 2] = 1, ta.strides[ta.ndim - 1] = n;
    vks_tensor tv = nb > 1 ? vks_tensor_3d(V, c->dt, nb, n, n) : vks_tensor_2d(V, c->dt, n, n);
    vks_tensor tw = nb > 1 ? vks_tensor_2d(W, c->dt, nb, n) : vks_tensor_1d(W, c->dt, n);
    vks_tensor ti = vks_tensor_1d(I, VKS_DTYPE_I32, nb);
    if (c->fixed_sweeps || c->f32_work || c->method) {
        vks_eigh_options o = VKS_EIGH_OPTIONS_INIT;
        o.fixed_sweeps = c->fixed_sweeps;
        o.method = c->method;
        o.info = &ti;
        o.flags = c->f32_work ? VKS_EIGH_INPUT_PRECISION : 0u;
        VKT_OK(vks_eigh_ex(vkt->ctx, &ta, &tw, &tv, &o));
        double *info = vkt_download(I, VKS_DTYPE_I32, 0, (size_t)nb);
        for (int64_t z = 0; z < nb; ++z) assert_true(info[z] == 0);
        free(info);
    } else {
        VKT_OK(vks_eigh(vkt->ctx, &ta, &tw, &tv));
    }
    double *w = vkt_download(W, c->dt, 0, (size_t)(nb * n)), *v = vkt_download(V, c->dt, 0, (size_t)(nb * nn));
    for (int64_t z = 0; z < nb; ++z) {
        char what[160];
        snprintf(what, sizeof what, "eigh %s n=%lld matrix %lld spectrum %d scale %g%s%s method %d",
                 c->dt == VKS_DTYPE_F64 ? "f64" : "f32", (long long)n, (long long)z, (int)c->sp, c->scale,
                 c->col_major ? " col-major" : "", c->fixed_sweeps ? " fixed sweeps" : "", (int)c->method);
        check_eigh(c, a + z * nn, w + z * n, v + z * nn, what);
    }
    free(a), free(stored), free(w), free(v);
    vks_buffer_destroy(A), vks_buffer_destroy(V), vks_buffer_destroy(W), vks_buffer_destroy(I);
}

static void test_orthogonal_eigh_small_f32(void **state) {
    (void)state;
    static const int64_t sizes[] = {1, 2, 3, 7, 16, 31, 32};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; ++i) {
        eigh_case c = {VKS_DTYPE_F32, sizes[i], 3, SPEC_RANDOM, 1.0, false, 0};
        run_eigh(&c, 10 + i);
        c.sp = SPEC_SEPARATED;
        run_eigh(&c, 30 + i);
    }
}

static void test_orthogonal_eigh_blocked_f32(void **state) {
    (void)state;
    static const int64_t sizes[] = {33, 50, 64, 65, 100};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; ++i) {
        eigh_case c = {VKS_DTYPE_F32, sizes[i], 2, SPEC_RANDOM, 1.0, false, 0};
        run_eigh(&c, 50 + i);
        c.sp = SPEC_SEPARATED, c.batch = 1;
        run_eigh(&c, 70 + i);
    }
}

static void test_orthogonal_eigh_spectra(void **state) {
    (void)state;
    const spectrum sps[] = {SPEC_CLUSTERED, SPEC_ILL, SPEC_RANK_DEF, SPEC_INDEFINITE};
    for (size_t s = 0; s < 4; ++s) {
        eigh_case c = {VKS_DTYPE_F32, 24, 2, sps[s], 1.0, false, 0};
        run_eigh(&c, 100 + s);
        c.n = 70, c.batch = 1;
        run_eigh(&c, 110 + s);
    }
}

static void test_orthogonal_eigh_scales_and_views(void **state) {
    (void)state;
    const double scales[] = {1e-30, 1e30, 1e-3};
    for (size_t s = 0; s < 3; ++s) {
        eigh_case c = {VKS_DTYPE_F32, 40, 2, SPEC_SEPARATED, scales[s], s == 2, 0};
        run_eigh(&c, 200 + s);
    }
    eigh_case c = {VKS_DTYPE_F32, 20, 2, SPEC_RANDOM, 1.0, true, 0};
    run_eigh(&c, 210);
}

static void test_orthogonal_eigh_f64(void **state) {
    (void)state;
    static const int64_t sizes[] = {1, 5, 32, 33, 80};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; ++i) {
        eigh_case c = {VKS_DTYPE_F64, sizes[i], 2, SPEC_RANDOM, 1.0, false, 0};
        run_eigh(&c, 300 + i);
    }
    eigh_case c = {VKS_DTYPE_F64, 48, 1, SPEC_ILL, 1.0, false, 0};
    run_eigh(&c, 320);
    c.sp = SPEC_SEPARATED, c.scale = 1e-200;
    run_eigh(&c, 321);
}

static void test_orthogonal_eigh_fixed_sweeps(void **state) {
    (void)state;
    eigh_case c = {VKS_DTYPE_F32, 70, 2, SPEC_RANDOM, 1.0, false, 12};
    run_eigh(&c, 400);
    c.n = 20, c.sp = SPEC_SEPARATED;
    run_eigh(&c, 401);
}

/* Iterating f32 in f32: the GEMM updates' rounding shows (documented accuracy). */
static void test_orthogonal_eigh_f32_working_precision(void **state) {
    (void)state;
    eigh_case c = {VKS_DTYPE_F32, 20, 2, SPEC_RANDOM, 1.0, false, 0, true};
    run_eigh(&c, 450);
    c.n = 100, c.batch = 1;
    run_eigh(&c, 451);
}

static void test_orthogonal_eigh_large(void **state) {
    (void)state;
    eigh_case c = {VKS_DTYPE_F32, 200, 1, SPEC_RANDOM, 1.0, false, 0};
    run_eigh(&c, 500);
}

/* The sizes, where they are fast (a GPU; skipped on lavapipe): n = 2048 f32 and 1024
 * f64, checked by the residual and orthogonality (an O(n^3) oracle is too slow here). */
static void test_orthogonal_eigh_gpu_sizes(void **state) {
    (void)state;
    if (vkt->info.type == VKS_DEVICE_CPU) skip();
    const int64_t sizes[] = {2048, 1024};
    const vks_dtype dts[] = {VKS_DTYPE_F32, VKS_DTYPE_F64};
    for (int c = 0; c < 2; ++c) {
        if (!have(dts[c])) continue;
        const int64_t n = sizes[c];
        vkt_rng rng = vkt_rng_seed(700 + c);
        double *a = calloc(n * n, sizeof *a);
        for (int64_t i = 0; i < n; ++i)
            for (int64_t j = 0; j <= i; ++j) a[i * n + j] = a[j * n + i] = vkt_uniform(&rng, -1, 1);
        vkt_round_to(dts[c], a, n * n);
        vks_buffer *A = vkt_upload(dts[c], a, n * n), *V = vkt_poisoned(dts[c], n * n), *W = vkt_poisoned(dts[c], n);
        vks_tensor ta = vks_tensor_2d(A, dts[c], n, n), tv = vks_tensor_2d(V, dts[c], n, n), tw = vks_tensor_1d(W, dts[c], n);
        VKT_OK(vks_eigh(vkt->ctx, &ta, &tw, &tv));
        double *w = vkt_download(W, dts[c], 0, n), *v = vkt_download(V, dts[c], 0, n * n);
        /* 64 sampled columns: ||A v_j - w_j v_j|| and <v_j, v_k>. */
        double res = 0, orth = 0, fro = ref_fro(a, n * n);
        for (int64_t s = 0; s < 64; ++s) {
            const int64_t j = (s * 997) % n, k = (s * 463 + 11) % n;
            double r2 = 0, d = 0;
            for (int64_t i = 0; i < n; ++i) {
                double t = 0;
                for (int64_t q = 0; q < n; ++q) t += a[i * n + q] * v[q * n + j];
                t -= w[j] * v[i * n + j];
                r2 += t * t;
                d += v[i * n + j] * v[i * n + k];
            }
            res = fmax(res, sqrt(r2) / fro);
            orth = fmax(orth, fabs(d - (j == k ? 1.0 : 0.0)));
            if (j && w[j] < w[j - 1]) fail_msg("n=%lld: w not ascending at %lld", (long long)n, (long long)j);
        }
        const double tol = dts[c] == VKS_DTYPE_F64 ? 1e-11 : 2e-6;
        if (!(res <= tol && orth <= tol)) fail_msg("eigh n=%lld %s: residual %.3g, orthogonality %.3g (tol %.3g)", (long long)n,
                                                 dts[c] == VKS_DTYPE_F64 ? "f64" : "f32", res, orth, tol);
        free(a), free(w), free(v);
        vks_buffer_destroy(A), vks_buffer_destroy(V), vks_buffer_destroy(W);
    }
}

/* ---- the tridiagonal (LAPACK) path ------------------------------------------------------ */

/* Ragged n (primes, 1, around the back-transformation's block widths 32/64), every spectrum,
 * f32 and f64, batches of matrices with different spectra, against the float64 oracle with
 * LAPACK's tolerances (a small multiple of n u). */
static void test_orthogonal_eigh_tridiagonal(void **state) {
    (void)state;
    static const int64_t sizes[] = {1, 2, 3, 13, 31, 64, 65, 97, 131};
    const spectrum sps[] = {SPEC_RANDOM, SPEC_SEPARATED, SPEC_CLUSTERED, SPEC_REPEATED, SPEC_RANK_DEF, SPEC_INDEFINITE};
    for (int dti = 0; dti < 2; ++dti)
        for (size_t i = 0; i < sizeof sizes / sizeof *sizes; ++i) {
            eigh_case c = {dti ? VKS_DTYPE_F64 : VKS_DTYPE_F32, sizes[i], 2, sps[i % 6], 1.0, i == 4, 0, false,
                           VKS_EIGH_TRIDIAGONAL};
            run_eigh(&c, 800 + 20 * dti + i);
        }
    /* Graded, kappa 1e12 (f64), and 1e6 in f32 */
    eigh_case g = {VKS_DTYPE_F64, 90, 1, SPEC_GRADED, 1.0, false, 0, false, VKS_EIGH_TRIDIAGONAL};
    run_eigh(&g, 850);
    g.dt = VKS_DTYPE_F32, g.sp = SPEC_ILL;
    run_eigh(&g, 851);
    /* Tiny and huge norms (scaled by a power of two inside, as dsyevd does) */
    const double scales[] = {1e-30, 1e30};
    for (int s = 0; s < 2; ++s) {
        eigh_case c = {VKS_DTYPE_F32, 37, 2, SPEC_SEPARATED, scales[s], false, 0, false, VKS_EIGH_TRIDIAGONAL};
        run_eigh(&c, 860 + s);
        c.dt = VKS_DTYPE_F64, c.scale = s ? 1e140 : 1e-280; /* the oracle squares a: 1e140 keeps ||a||_F finite */
        run_eigh(&c, 870 + s);
    }
    /* f32 data with f32 working precision (the GEMMs of the back-transformation in f32) */
    eigh_case w32 = {VKS_DTYPE_F32, 70, 1, SPEC_RANDOM, 1.0, false, 0, true, VKS_EIGH_TRIDIAGONAL};
    run_eigh(&w32, 880);
    /* AUTO for a larger single matrix (the tridiagonal path) and for a batch of small ones
     * (Jacobi): the same answers */
    eigh_case big = {VKS_DTYPE_F64, 300, 1, SPEC_RANDOM, 1.0, false, 0, false, VKS_EIGH_AUTO};
    run_eigh(&big, 890);
    eigh_case jac = {VKS_DTYPE_F64, 19, 4, SPEC_CLUSTERED, 1.0, false, 0, false, VKS_EIGH_JACOBI};
    run_eigh(&jac, 891);
}

/* Eigenvalues only (v = NULL): no vectors computed, the values those of the full call. */
static void test_orthogonal_eigh_values_only(void **state) {
    (void)state;
    for (int m = 0; m < 2; ++m) {
        const vks_dtype dt = have(VKS_DTYPE_F64) ? VKS_DTYPE_F64 : VKS_DTYPE_F32;
        const int64_t n = 57, nb = 2, nn = n * n;
        vkt_rng rng = vkt_rng_seed(900 + m);
        double *a = calloc((size_t)(nb * nn), sizeof *a), *wr = calloc((size_t)n, sizeof *wr),
               *vr = calloc((size_t)nn, sizeof *vr);
        for (int64_t z = 0; z < nb; ++z) make_matrix(&rng, z ? SPEC_INDEFINITE : SPEC_RANDOM, n, 1.0, a + z * nn);
        vkt_round_to(dt, a, (size_t)(nb * nn));
        vks_buffer *A = vkt_upload(dt, a, (size_t)(nb * nn)), *W = vkt_poisoned(dt, (size_t)(nb * n));
        vks_tensor ta = vks_tensor_3d(A, dt, nb, n, n), tw = vks_tensor_2d(W, dt, nb, n);
        vks_eigh_options o = VKS_EIGH_OPTIONS_INIT;
        o.method = m ? VKS_EIGH_JACOBI : VKS_EIGH_TRIDIAGONAL;
        VKT_OK(vks_eigh_ex(vkt->ctx, &ta, &tw, NULL, &o));
        double *w = vkt_download(W, dt, 0, (size_t)(nb * n));
        const double tol = (m ? 1e-12 : 4.0 * (double)n * 0x1p-53) * (dt == VKS_DTYPE_F64 ? 1.0 : 0x1p29);
        for (int64_t z = 0; z < nb; ++z) {
            ref_eigh(n, a + z * nn, wr, vr);
            double an = 0;
            for (int64_t i = 0; i < n; ++i) an = fmax(an, fabs(wr[i]));
            for (int64_t i = 0; i < n; ++i)
                if (!(fabs(w[z * n + i] - wr[i]) <= tol * an))
                    fail_msg("values only, method %d, matrix %lld: w[%lld] = %.17g, want %.17g", (int)o.method, (long long)z,
                             (long long)i, w[z * n + i], wr[i]);
        }
        free(a), free(wr), free(vr), free(w);
        vks_buffer_destroy(A), vks_buffer_destroy(W);
    }
}

static void test_orthogonal_eigh_non_finite(void **state) {
    (void)state;
    const int64_t sizes[] = {6, 45};
    for (int s = 0; s < 2; ++s) {
        const int64_t n = sizes[s], nn = n * n;
        vkt_rng rng = vkt_rng_seed(600 + s);
        double *a = calloc(2 * nn, sizeof *a);
        make_matrix(&rng, SPEC_SEPARATED, n, 1.0, a);
        make_matrix(&rng, SPEC_SEPARATED, n, 1.0, a + nn);
        a[(n - 1) * n + 1] = INFINITY; /* lower triangle of matrix 0 */
        vks_buffer *A = vkt_upload(VKS_DTYPE_F32, a, 2 * nn), *V = vkt_poisoned(VKS_DTYPE_F32, 2 * nn);
        vks_buffer *W = vkt_poisoned(VKS_DTYPE_F32, 2 * n);
        vks_tensor ta = vks_tensor_3d(A, VKS_DTYPE_F32, 2, n, n), tv = vks_tensor_3d(V, VKS_DTYPE_F32, 2, n, n);
        vks_tensor tw = vks_tensor_2d(W, VKS_DTYPE_F32, 2, n);
        VKT_FAILS(vks_eigh(vkt->ctx, &ta, &tw, &tv), VKS_ERROR_NON_FINITE, "a (matrix 0 of the batch) holds NaN or Inf");
        double *w = vkt_download(W, VKS_DTYPE_F32, 0, 2 * n), *v = vkt_download(V, VKS_DTYPE_F32, 0, 2 * nn);
        for (int64_t i = 0; i < n; ++i) assert_true(w[i] == 0);
        for (int64_t i = 0; i < nn; ++i) assert_true(v[i] == (i % (n + 1) == 0 ? 1.0 : 0.0));
        eigh_case c = {VKS_DTYPE_F32, n, 1, SPEC_SEPARATED, 1.0, false, 0};
        vkt_round_to(VKS_DTYPE_F32, a + nn, nn);
        check_eigh(&c, a + nn, w + n, v + nn, "matrix beside an Inf one");
        free(a), free(w), free(v);
        vks_buffer_destroy(A), vks_buffer_destroy(V), vks_buffer_destroy(W);
    }
}

static void test_orthogonal_eigh_errors(void **state) {
    (void)state;
    vks_context *ctx = vkt->ctx;
    vks_buffer *A = vkt_poisoned(VKS_DTYPE_F32, 64), *V = vkt_poisoned(VKS_DTYPE_F32, 64), *W = vkt_poisoned(VKS_DTYPE_F32, 8);
    vks_tensor a = vks_tensor_2d(A, VKS_DTYPE_F32, 4, 4), v = vks_tensor_2d(V, VKS_DTYPE_F32, 4, 4);
    vks_tensor w = vks_tensor_1d(W, VKS_DTYPE_F32, 4);
    VKT_FAILS(vks_eigh(NULL, &a, &w, &v), VKS_ERROR_INVALID_ARGUMENT, "ctx is NULL");
    VKT_FAILS(vks_eigh(ctx, NULL, &w, &v), VKS_ERROR_INVALID_ARGUMENT, "vks_eigh: a is NULL");
    VKT_FAILS(vks_eigh(ctx, &a, NULL, &v), VKS_ERROR_INVALID_ARGUMENT, "vks_eigh: w is NULL");
    vks_tensor vrow = v;
    vrow.strides[0] = 0;
    VKT_FAILS(vks_eigh(ctx, &a, &w, &vrow), VKS_ERROR_INVALID_ARGUMENT,
              "vks_eigh: v's rows overlap (strides (0, 1) for 4 x 4)");
    vks_tensor bad = vks_tensor_2d(A, VKS_DTYPE_F32, 4, 3);
    VKT_FAILS(vks_eigh(ctx, &bad, &w, &v), VKS_ERROR_SHAPE_MISMATCH, "a is 4 x 3; expected a square matrix");
    bad = vks_tensor_1d(W, VKS_DTYPE_F32, 3);
    VKT_FAILS(vks_eigh(ctx, &a, &bad, &v), VKS_ERROR_SHAPE_MISMATCH, "w has rank 1 and 3 eigenvalues");
    /* w is written: eigenvalues that land on one element would race (a stride of 2 is fine) */
    bad = w, bad.strides[0] = 0;
    VKT_FAILS(vks_eigh(ctx, &a, &bad, &v), VKS_ERROR_INVALID_ARGUMENT,
              "vks_eigh: w's values collide (strides (0) for 4 values)");
    vks_buffer *W2 = vkt_poisoned(VKS_DTYPE_F32, 16), *A2 = vkt_poisoned(VKS_DTYPE_F32, 32), *V2 = vkt_poisoned(VKS_DTYPE_F32, 32);
    vks_tensor a2 = vks_tensor_3d(A2, VKS_DTYPE_F32, 2, 4, 4), v2 = vks_tensor_3d(V2, VKS_DTYPE_F32, 2, 4, 4);
    vks_tensor w2 = {W2, 0, VKS_DTYPE_F32, 2, {2, 4}, {2, 1}}; /* matrix 1's values start at matrix 0's third */
    VKT_FAILS(vks_eigh(ctx, &a2, &w2, &v2), VKS_ERROR_INVALID_ARGUMENT,
              "vks_eigh: w's values collide (strides (2, 1) for 2 x 4 values)");
    w2.strides[0] = 1, w2.strides[1] = 2; /* interleaved, but distinct: accepted (a2 is NaN, so it runs into that) */
    VKT_FAILS(vks_eigh(ctx, &a2, &w2, &v2), VKS_ERROR_NON_FINITE, "holds NaN or Inf");
    vks_buffer_destroy(W2), vks_buffer_destroy(A2), vks_buffer_destroy(V2);
    bad = vks_tensor_2d(V, VKS_DTYPE_F32, 3, 3);
    VKT_FAILS(vks_eigh(ctx, &a, &w, &bad), VKS_ERROR_SHAPE_MISMATCH, "v has shape (3, 3)");
    bad = vks_tensor_2d(V, VKS_DTYPE_F64, 4, 4);
    VKT_FAILS(vks_eigh(ctx, &a, &w, &bad), VKS_ERROR_DTYPE_MISMATCH, "dtypes f32, f32, f64");
    vks_tensor a16 = vks_tensor_2d(A, VKS_DTYPE_F16, 4, 4), v16 = vks_tensor_2d(V, VKS_DTYPE_F16, 4, 4);
    vks_tensor w16 = vks_tensor_1d(W, VKS_DTYPE_F16, 4);
    VKT_FAILS(vks_eigh(ctx, &a16, &w16, &v16), VKS_ERROR_UNSUPPORTED, "a has dtype f16; expected f32 or f64");
    VKT_FAILS(vks_eigh(ctx, &a, &w, &a), VKS_ERROR_INVALID_ARGUMENT, "v overlaps a in memory");
    bad = vks_tensor_1d(V, VKS_DTYPE_F32, 4);
    VKT_FAILS(vks_eigh(ctx, &a, &bad, &v), VKS_ERROR_INVALID_ARGUMENT, "w overlaps v in memory");
    vks_eigh_options o = VKS_EIGH_OPTIONS_INIT;
    o.fixed_sweeps = -2;
    VKT_FAILS(vks_eigh_ex(ctx, &a, &w, &v, &o), VKS_ERROR_INVALID_ARGUMENT, "options->fixed_sweeps = -2");
    o = (vks_eigh_options)VKS_EIGH_OPTIONS_INIT;
    o.method = (vks_eigh_method)7;
    VKT_FAILS(vks_eigh_ex(ctx, &a, &w, &v, &o), VKS_ERROR_INVALID_ARGUMENT,
              "vks_eigh_ex: options->method = 7, expected VKS_EIGH_AUTO, VKS_EIGH_JACOBI or VKS_EIGH_TRIDIAGONAL");
    /* eigenvalues only: v = NULL is fine, but w must still be right */
    VKT_FAILS(vks_eigh_ex(ctx, &a, NULL, NULL, NULL), VKS_ERROR_INVALID_ARGUMENT, "vks_eigh_ex: w is NULL");
    o = (vks_eigh_options)VKS_EIGH_OPTIONS_INIT;
    o.struct_size = 1;
    VKT_FAILS(vks_eigh_ex(ctx, &a, &w, &v, &o), VKS_ERROR_INVALID_ARGUMENT, "options->struct_size = 1");
    o = (vks_eigh_options)VKS_EIGH_OPTIONS_INIT;
    vks_tensor info = vks_tensor_1d(W, VKS_DTYPE_I32, 2);
    info.byte_offset = 16;
    o.info = &info;
    VKT_FAILS(vks_eigh_ex(ctx, &a, &w, &v, &o), VKS_ERROR_SHAPE_MISMATCH, "options->info has 2 elements");
    /* info is written on the device: it may not share memory with a, w or v */
    info = vks_tensor_1d(V, VKS_DTYPE_I32, 1);
    info.byte_offset = 4;
    VKT_FAILS(vks_eigh_ex(ctx, &a, &w, &v, &o), VKS_ERROR_INVALID_ARGUMENT, "vks_eigh_ex: options->info overlaps v in memory");
    info = vks_tensor_1d(W, VKS_DTYPE_I32, 1);
    info.byte_offset = 12;
    VKT_FAILS(vks_eigh_ex(ctx, &a, &w, &v, &o), VKS_ERROR_INVALID_ARGUMENT, "vks_eigh_ex: options->info overlaps w in memory");
    info = vks_tensor_1d(A, VKS_DTYPE_I32, 1);
    VKT_FAILS(vks_eigh_ex(ctx, &a, &w, &v, &o), VKS_ERROR_INVALID_ARGUMENT, "vks_eigh_ex: options->info overlaps a in memory");
    double *got = vkt_download(V, VKS_DTYPE_F32, 0, 16);
    for (int i = 0; i < 16; ++i) assert_true(isnan(got[i]));
    free(got);
    vks_buffer_destroy(A), vks_buffer_destroy(V), vks_buffer_destroy(W);
}

/* ---- the reduction on the device (vks_tuning.eigh_reduction = DEVICE) ------------------ */

/* Run in the group whose context forces the device reduction (orthogonal_sytrd.c): larger and
 * ragged n across several panels of 64 columns, batches, clustered and repeated spectra. The
 * group also reruns the tridiagonal, values-only (the eigenvalues of the device's tridiagonal
 * T itself, through dsterf, against the oracle's of A) and NaN cases. */
static void test_orthogonal_eigh_device_reduction(void **state) {
    (void)state;
    vks_tuning t = VKS_TUNING_INIT;
    VKT_OK(vks_context_get_tuning(vkt->ctx, &t));
    assert_int_equal(t.eigh_reduction, VKS_EIGH_REDUCTION_DEVICE);
    eigh_case c = {VKS_DTYPE_F64, 200, 3, SPEC_CLUSTERED, 1.0, false, 0, false, VKS_EIGH_TRIDIAGONAL};
    run_eigh(&c, 1000);
    c.n = 139, c.batch = 2, c.sp = SPEC_RANDOM;
    run_eigh(&c, 1001);
    c.dt = VKS_DTYPE_F32, c.n = 128, c.sp = SPEC_REPEATED;
    run_eigh(&c, 1002);
    c.dt = VKS_DTYPE_F64, c.n = 7, c.batch = 5, c.sp = SPEC_REPEATED;
    run_eigh(&c, 1003);
    c.n = 160, c.batch = 1, c.sp = SPEC_GRADED;
    run_eigh(&c, 1004);
    /* The trailing updates on the GPU GEMM kernels (what a GPU runs) */
    t.kernels = VKS_KERNELS_GPU;
    vkt_push_tuned_context(&t);
    c.n = 131, c.batch = 2, c.sp = SPEC_INDEFINITE;
    run_eigh(&c, 1005);
    vkt_pop_context();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VKT_TEST(test_orthogonal_eigh_small_f32),  VKT_TEST(test_orthogonal_eigh_blocked_f32),
        VKT_TEST(test_orthogonal_eigh_spectra),    VKT_TEST(test_orthogonal_eigh_scales_and_views),
        VKT_TEST(test_orthogonal_eigh_f64),        VKT_TEST(test_orthogonal_eigh_fixed_sweeps),
        VKT_TEST(test_orthogonal_eigh_f32_working_precision),
        VKT_TEST(test_orthogonal_eigh_large),      VKT_TEST(test_orthogonal_eigh_non_finite),
        VKT_TEST(test_orthogonal_eigh_errors),     VKT_TEST(test_orthogonal_eigh_gpu_sizes),
        VKT_TEST(test_orthogonal_eigh_tridiagonal), VKT_TEST(test_orthogonal_eigh_values_only),
    };
    int failures = VKT_RUN(tests);
    /* AUTO takes the tridiagonal path for single matrices: the Jacobi solver on the same cases. */
    forced_method = VKS_EIGH_JACOBI;
    const struct CMUnitTest jacobi[] = {VKT_TEST(test_orthogonal_eigh_blocked_f32), VKT_TEST(test_orthogonal_eigh_spectra),
                                        VKT_TEST(test_orthogonal_eigh_f64)};
    failures += cmocka_run_group_tests_name("eigh by Jacobi", jacobi, vkt_group_setup, vkt_group_teardown);
    forced_method = VKS_EIGH_AUTO;
    vks_tuning device_reduction = VKS_TUNING_INIT;
    device_reduction.eigh_reduction = VKS_EIGH_REDUCTION_DEVICE;
    vkt_set_tuning(&device_reduction);
    const struct CMUnitTest reduction[] = {
        VKT_TEST(test_orthogonal_eigh_device_reduction), VKT_TEST(test_orthogonal_eigh_tridiagonal),
        VKT_TEST(test_orthogonal_eigh_values_only), VKT_TEST(test_orthogonal_eigh_non_finite)};
    failures += cmocka_run_group_tests_name("eigh with the device reduction", reduction, vkt_group_setup,
                                            vkt_group_teardown);
    if (vkt_device_is_cpu()) {
        /* The GPU kernels' pair block (64) on lavapipe: the sizes around it. */
        /* (f32 iterated in f32 there takes the pair block 48.) */
        const struct CMUnitTest gpu[] = {VKT_TEST(test_orthogonal_eigh_small_f32), VKT_TEST(test_orthogonal_eigh_blocked_f32),
                                         VKT_TEST(test_orthogonal_eigh_f64), VKT_TEST(test_orthogonal_eigh_non_finite),
                                         VKT_TEST(test_orthogonal_eigh_f32_working_precision)};
        failures += cmocka_run_group_tests_name("eigh with GPU kernels", gpu, vkt_gpu_kernels_setup, vkt_group_teardown);
    }
    return failures;
}
