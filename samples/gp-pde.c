/*
 * gp-pde: high-frequency and multi-scale PDEs by Gaussian-process collocation on Kronecker
 * grids (GP-HM's benchmark problems) with vks_kron_pde_solve, on [0, 1]^d, Dirichlet data
 * from the exact solution:
 *
 *   poisson1d-sin100   u'' = f,        u = sin(100x)
 *   poisson1d-multi    u'' = f,        u = sin(x) + 0.1 sin(20x) + 0.05 cos(100x)
 *   poisson2d-sin100   Δu = f,         u = sin(100x) sin(100y)
 *   poisson2d-mix      Δu = f,         u = sin(6x) sin(20x) + sin(6y) sin(20y)
 *   helmholtz2d        Δu + 10u = f,   u = sin(20x) cos(15y)
 *
 * Two priors per dimension (docs/kron-pde.md, "Choosing the kernel"):
 *   sm (default)  GP-HM's spectral mixture on a log-spaced frequency grid: 30 frequencies
 *                 from 1 cycle per domain to the grid's Nyquist 1/(2h), SE envelope of
 *                 lengthscale 6h (--base matern: Matern-5/2 envelope of lengthscale 48h),
 *                 jitter 1e-8 relative to k(0), weights learned per dimension by
 *                 vks_kron_pde_learn: solve with uniform weights, then 4 rounds of
 *                 30 Adam steps on GP-HM's prior objective at the current solution U,
 *                 sum_i (N/n_i)/2 log|K_i| + U'K^-1 U/2, each followed by a new solve.
 *   se            the fixed rule: squared exponential, lengthscale 3h, jitter 1e-8; one solve.
 * The error is the relative L2 error of the posterior mean against the exact solution on a
 * test grid of 2n - 1 points per dimension that interleaves the collocation grid (half of
 * its points are off the grid), predicted with vks_kron_matmul from alpha = K^-1 U and the
 * cross-covariances. The time is that of every solve plus the learning (host float64).
 *
 * Usage: gp-pde [--quick] [--kernel sm|se|both] [--rounds R] [--steps S] [--lr LR]
 *               [--jitter J] [--envelope E] [--base se|matern] [--n1 N] [--n2 N] [--only NAME] [--f32] [--device D]
 *   --quick   1-D on 256 points, 2-D on 128 x 128 (within 2 minutes on lavapipe, both kernels)
 *   default   1-D 512, 2-D 256 x 256 on a CPU device; 1-D 1024, 2-D 1024 x 1024 on a GPU
 *             (there the learning's O(n^3) host work per Adam step dominates: see the docs)
 */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <vkstruct/vkstruct.h>

#include "sample_device.h"

/* The learned kernel's fixed choices (docs/kron-pde.md, "Choosing the kernel"). */
#define SM_COMPONENTS 30

#define CHECK(call) SAMPLE_CHECK("gp-pde", call)

typedef struct problem {
    const char *name;
    int d;
    double kappa2;                            /* Helmholtz term */
    double (*u)(const double *x);             /* exact solution */
    double (*f)(const double *x);             /* L u */
} problem;

static double u_sin100(const double *x) { return sin(100 * x[0]); }
static double f_sin100(const double *x) { return -1e4 * sin(100 * x[0]); }
static double u_multi(const double *x) { return sin(x[0]) + 0.1 * sin(20 * x[0]) + 0.05 * cos(100 * x[0]); }
static double f_multi(const double *x) { return -sin(x[0]) - 40 * sin(20 * x[0]) - 500 * cos(100 * x[0]); }
static double u_sin100_2d(const double *x) { return sin(100 * x[0]) * sin(100 * x[1]); }
static double f_sin100_2d(const double *x) { return -2e4 * sin(100 * x[0]) * sin(100 * x[1]); }
/* sin(6t) sin(20t) = (cos 14t - cos 26t)/2 */
static double mix(double t) { return sin(6 * t) * sin(20 * t); }
static double mix_dd(double t) { return 0.5 * (-196 * cos(14 * t) + 676 * cos(26 * t)); }
static double u_mix(const double *x) { return mix(x[0]) + mix(x[1]); }
static double f_mix(const double *x) { return mix_dd(x[0]) + mix_dd(x[1]); }
static double u_helm(const double *x) { return sin(20 * x[0]) * cos(15 * x[1]); }
static double f_helm(const double *x) { return (-400.0 - 225.0 + 10.0) * sin(20 * x[0]) * cos(15 * x[1]); }

static const problem problems[] = {
    {"poisson1d-sin100", 1, 0, u_sin100, f_sin100},   {"poisson1d-multi", 1, 0, u_multi, f_multi},
    {"poisson2d-sin100", 2, 0, u_sin100_2d, f_sin100_2d}, {"poisson2d-mix", 2, 0, u_mix, f_mix},
    {"helmholtz2d", 2, 10, u_helm, f_helm},
};

typedef struct device_vec {
    vks_buffer *buf;
    vks_tensor t;
} device_vec;

static device_vec dev_vec(vks_context *ctx, vks_dtype dt, int64_t n, const double *x) {
    device_vec v;
    const size_t es = dt == VKS_DTYPE_F64 ? 8 : 4;
    CHECK(vks_buffer_create(ctx, (size_t)n * es, &v.buf));
    v.t = vks_tensor_1d(v.buf, dt, n);
    if (!x) return v;
    if (dt == VKS_DTYPE_F64) {
        CHECK(vks_buffer_write(v.buf, 0, x, (size_t)n * 8));
    } else {
        float *f = malloc((size_t)n * sizeof *f);
        for (int64_t i = 0; i < n; ++i) f[i] = (float)x[i];
        CHECK(vks_buffer_write(v.buf, 0, f, (size_t)n * 4));
        free(f);
    }
    return v;
}

static void dev_read(const device_vec *v, vks_dtype dt, int64_t n, double *x) {
    if (dt == VKS_DTYPE_F64) {
        CHECK(vks_buffer_read(v->buf, 0, x, (size_t)n * 8));
        return;
    }
    float *f = malloc((size_t)n * sizeof *f);
    CHECK(vks_buffer_read(v->buf, 0, f, (size_t)n * 4));
    for (int64_t i = 0; i < n; ++i) x[i] = f[i];
    free(f);
}

typedef struct solve_result {
    vks_status status;
    int32_t iterations;
    double relres, ms, error;
} solve_result;

/* One vks_kron_pde_solve with per-dimension kernels, or with learn one vks_kron_pde_learn
 * (kernels then point at its outputs, filled by the call); the relative L2 error of the
 * posterior mean on the test grid to the result. */
static solve_result solve(vks_context *ctx, vks_dtype dt, const problem *p, int64_t n,
                          const vks_kernel_desc *const *kernels, double jitter, const vks_kron_pde_learn_desc *learn) {
    const int d = p->d;
    int64_t points = 1, test_points = 1;
    const int64_t m = 2 * n - 1; /* test points per dimension: the grid and every midpoint */
    for (int i = 0; i < d; ++i) points *= n, test_points *= m;
    const double h = 1.0 / (double)(n - 1);
    double *fv = malloc(sizeof(double) * (size_t)points), *gv = malloc(sizeof(double) * (size_t)points);
    for (int64_t e = 0; e < points; ++e) {
        double x[2] = {0, 0};
        int64_t rest = e;
        for (int i = d - 1; i >= 0; --i) x[i] = (double)(rest % n) * h, rest /= n;
        fv[e] = p->f(x);
        gv[e] = p->u(x); /* only the boundary entries are used */
    }
    device_vec f = dev_vec(ctx, dt, points, fv), g = dev_vec(ctx, dt, points, gv);
    device_vec u = dev_vec(ctx, dt, points, NULL), alpha = dev_vec(ctx, dt, points, NULL);

    vks_kron_pde_desc pd = VKS_KRON_PDE_DESC_INIT;
    pd.d = d;
    for (int i = 0; i < d; ++i) pd.n[i] = n, pd.lo[i] = 0, pd.hi[i] = 1, pd.kernels[i] = kernels[i], pd.coef_xx[i] = 1;
    pd.coef_u = p->kappa2;
    pd.jitter = jitter;
    pd.tolerance = dt == VKS_DTYPE_F64 ? 1e-7 : 1e-4;
    pd.f = &f.t, pd.boundary = &g.t, pd.u = &u.t, pd.alpha = &alpha.t;
    solve_result res = {0};
    pd.iterations = &res.iterations, pd.residual = &res.relres;
    const double t0 = sample_now_ms();
    res.status = learn ? vks_kron_pde_learn(ctx, &pd, learn) : vks_kron_pde_solve(ctx, &pd);
    res.ms = sample_now_ms() - t0;
    if (res.status != VKS_OK && res.status != VKS_ERROR_NOT_CONVERGED) CHECK(res.status);

    /* Posterior mean on the test grid: (⊗ k_i(x*, grid)) alpha. */
    double *xs = malloc(sizeof(double) * (size_t)m), *xg = malloc(sizeof(double) * (size_t)n);
    for (int64_t j = 0; j < m; ++j) xs[j] = (double)j * h / 2;
    for (int64_t j = 0; j < n; ++j) xg[j] = (double)j * h;
    device_vec ts = dev_vec(ctx, dt, m, xs), tg = dev_vec(ctx, dt, n, xg);
    vks_buffer *cb[2] = {NULL, NULL};
    vks_tensor cross[2];
    const vks_tensor *factors[2];
    for (int i = 0; i < d; ++i) {
        CHECK(vks_buffer_create(ctx, (size_t)(m * n) * (dt == VKS_DTYPE_F64 ? 8 : 4), &cb[i]));
        cross[i] = vks_tensor_2d(cb[i], dt, m, n);
        CHECK(vks_kron_kernel_matrix(ctx, kernels[i], &ts.t, &tg.t, &cross[i]));
        factors[i] = &cross[i];
    }
    device_vec pred = dev_vec(ctx, dt, test_points, NULL);
    CHECK(vks_kron_matmul(ctx, d, factors, VKS_NO_TRANS, 1.0, &alpha.t, 0.0, &pred.t));
    double *pv = malloc(sizeof(double) * (size_t)test_points);
    dev_read(&pred, dt, test_points, pv);
    double num = 0, den = 0;
    for (int64_t e = 0; e < test_points; ++e) {
        double x[2] = {0, 0};
        int64_t rest = e;
        for (int i = d - 1; i >= 0; --i) x[i] = xs[rest % m], rest /= m;
        const double ex = p->u(x);
        num += (pv[e] - ex) * (pv[e] - ex), den += ex * ex;
    }
    res.error = sqrt(num / den);
    vks_buffer *bufs[] = {f.buf, g.buf, u.buf, alpha.buf, ts.buf, tg.buf, pred.buf, cb[0], cb[1]};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; ++i)
        if (bufs[i]) vks_buffer_destroy(bufs[i]);
    free(fv), free(gv), free(xs), free(xg), free(pv);
    return res;
}

static void report(const problem *p, int64_t n, const char *kernel, const solve_result *r, int solves, int steps) {
    int64_t points = 1;
    for (int i = 0; i < p->d; ++i) points *= n;
    printf("%-18s %-4s grid %5lld^%d  N = %8lld  dense N x N f64 = %9.3g GB  iterations %4d  solves %d  "
           "steps %3d  time %8.1f ms  rel L2 error %.2e%s\n",
           p->name, kernel, (long long)n, p->d, (long long)points, (double)points * (double)points * 8 / 1e9,
           r->iterations, solves, steps, r->ms, r->error, r->status == VKS_OK ? "" : "  NOT CONVERGED");
    fflush(stdout);
}

typedef struct kernel_options {
    double jitter;   /* both kernels (relative to k(0) for SM, which is 1 for SE) */
    double envelope; /* SM: envelope lengthscale in grid spacings (0: 6 for SE, 48 for Matern-5/2) */
    vks_sm_base base; /* SM: the envelope's form */
    int rounds, steps;
    double lr;
} kernel_options;

/* The fixed rule: squared exponential, lengthscale 3h, jitter 1e-8 (or --jitter). */
static void run_se(vks_context *ctx, vks_dtype dt, const problem *p, int64_t n, const kernel_options *o) {
    vks_kernel_desc kernel = VKS_KERNEL_DESC_INIT;
    kernel.kind = VKS_KERNEL_RBF;
    kernel.lengthscale = 3.0 / (double)(n - 1);
    const vks_kernel_desc *kernels[2] = {&kernel, &kernel};
    const solve_result r = solve(ctx, dt, p, n, kernels, o->jitter, NULL);
    report(p, n, "SE", &r, 1, 0);
}

/* GP-HM's learning on a log-spaced frequency grid (vks_kron_pde_learn): solve with uniform
 * weights, then `rounds` times Adam steps on the weights for the current U and a new solve. */
static void run_sm(vks_context *ctx, vks_dtype dt, const problem *p, int64_t n, const kernel_options *o) {
    vks_kron_pde_learn_desc learn = VKS_KRON_PDE_LEARN_DESC_INIT;
    learn.num_mixtures = SM_COMPONENTS, learn.base = o->base, learn.envelope = o->envelope;
    learn.relative_jitter = o->jitter, learn.rounds = o->rounds, learn.steps = o->steps, learn.learning_rate = o->lr;
    double weights[2][SM_COMPONENTS], rhos[2][SM_COMPONENTS], freqs[2][SM_COMPONENTS], objective = NAN;
    vks_kernel_desc descs[2];
    const vks_kernel_desc *kernels[2] = {&descs[0], &descs[1]};
    for (int i = 0; i < p->d; ++i) { /* the learned kernels, for the prediction on the test grid */
        learn.weights[i] = weights[i], learn.rhos[i] = rhos[i], learn.freqs[i] = freqs[i];
        descs[i] = (vks_kernel_desc)VKS_KERNEL_DESC_INIT;
        descs[i].kind = VKS_KERNEL_SPECTRAL_MIXTURE, descs[i].sm_base = o->base, descs[i].num_mixtures = SM_COMPONENTS;
        descs[i].sm_weights = weights[i], descs[i].sm_rhos = rhos[i], descs[i].sm_freqs = freqs[i];
    }
    learn.objective = &objective;
    const solve_result r = solve(ctx, dt, p, n, kernels, o->jitter, &learn);
    printf("%-18s SM   J after learning %.6g\n", p->name, objective);
    for (int i = 0; i < p->d; ++i) { /* where the learned weight went: the 3 largest components */
        printf("%-18s SM   dimension %d, largest weights:", p->name, i);
        bool shown[SM_COMPONENTS] = {false};
        for (int t = 0; t < 3; ++t) {
            int best = -1;
            for (int c = 0; c < SM_COMPONENTS; ++c)
                if (!shown[c] && (best < 0 || weights[i][c] > weights[i][best])) best = c;
            shown[best] = true;
            printf("  f = %.3g: %.3f", freqs[i][best], weights[i][best]);
        }
        printf("\n");
    }
    report(p, n, "SM", &r, o->rounds + 1, o->rounds * o->steps);
}

int main(int argc, char **argv) {
    bool quick = false, f32 = false;
    int64_t n1 = 0, n2 = 0;
    const char *device = NULL, *only = NULL, *kernel = "sm";
    kernel_options so = {1e-8, 0.0, VKS_SM_BASE_SE, 4, 30, 0.3};
    const char *base = "se";
    for (int i = 1; i < argc; ++i) {
        if (!strcmp(argv[i], "--quick")) quick = true;
        else if (!strcmp(argv[i], "--f32")) f32 = true;
        else if (!strcmp(argv[i], "--n1") && i + 1 < argc) n1 = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--n2") && i + 1 < argc) n2 = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
        else if (!strcmp(argv[i], "--kernel") && i + 1 < argc) kernel = argv[++i];
        else if (!strcmp(argv[i], "--rounds") && i + 1 < argc) so.rounds = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--steps") && i + 1 < argc) so.steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--lr") && i + 1 < argc) so.lr = atof(argv[++i]);
        else if (!strcmp(argv[i], "--jitter") && i + 1 < argc) so.jitter = atof(argv[++i]);
        else if (!strcmp(argv[i], "--envelope") && i + 1 < argc) so.envelope = atof(argv[++i]);
        else if (!strcmp(argv[i], "--base") && i + 1 < argc) base = argv[++i];
        else if (!strcmp(argv[i], "--device") && i + 1 < argc) device = argv[++i];
        else {
            fprintf(stderr, "usage: gp-pde [--quick] [--kernel sm|se|both] [--rounds R] [--steps S] [--lr LR] "
                            "[--jitter J] [--envelope E] [--base se|matern]\n"
                            "              [--n1 N] [--n2 N] [--only NAME] [--f32] [--device D]\n");
            return 2;
        }
    }
    so.base = !strcmp(base, "matern") ? VKS_SM_BASE_MATERN52 : VKS_SM_BASE_SE;
    if (so.envelope == 0) so.envelope = so.base == VKS_SM_BASE_SE ? 6.0 : 48.0;
    const bool se = !strcmp(kernel, "se") || !strcmp(kernel, "both");
    const bool sm = !strcmp(kernel, "sm") || !strcmp(kernel, "both");
    if ((!se && !sm) || so.rounds < 0 || so.steps < 1 || !(so.lr > 0) || !(so.jitter >= 0) || !(so.envelope > 0) ||
        (strcmp(base, "se") && strcmp(base, "matern"))) {
        fprintf(stderr, "gp-pde: --kernel is se, sm or both; --base se or matern; --rounds, --jitter >= 0; --steps >= 1; "
                        "--lr, --envelope > 0\n");
        return 2;
    }
    vks_context_options o = VKS_CONTEXT_OPTIONS_INIT;
    sample_choose_device(&o, device);
    vks_context *ctx = NULL;
    CHECK(vks_context_create(&o, &ctx));
    vks_device_info info = {.struct_size = sizeof info};
    CHECK(vks_context_get_device_info(ctx, &info));
    const bool cpu = info.type == VKS_DEVICE_CPU;
    if (n1 <= 0) n1 = quick ? 256 : cpu ? 512 : 1024;
    if (n2 <= 0) n2 = quick ? 128 : cpu ? 256 : 1024;
    const vks_dtype dt = (!f32 && (info.features & VKS_FEATURE_FLOAT64)) ? VKS_DTYPE_F64 : VKS_DTYPE_F32;
    printf("gp-pde on %s, %s\n", info.name, dt == VKS_DTYPE_F64 ? "f64" : "f32");
    if (se) printf("SE: squared exponential, lengthscale 3h, jitter %g\n", so.jitter);
    if (sm)
        printf("SM: spectral mixture, %d frequencies log-spaced 1..1/(2h), %s envelope %gh, jitter %g relative; "
               "weights learned: %d rounds of %d Adam steps (lr %g) on GP-HM's prior objective at the collocation "
               "solution\n",
               SM_COMPONENTS, so.base == VKS_SM_BASE_SE ? "SE" : "Matern-5/2", so.envelope, so.jitter, so.rounds,
               so.steps, so.lr);
    const double t0 = sample_now_ms();
    for (size_t i = 0; i < sizeof problems / sizeof *problems; ++i) {
        if (only && !strstr(problems[i].name, only)) continue;
        const int64_t n = problems[i].d == 1 ? n1 : n2;
        if (se) run_se(ctx, dt, &problems[i], n, &so);
        if (sm) run_sm(ctx, dt, &problems[i], n, &so);
    }
    printf("total %.1f s\n", (sample_now_ms() - t0) / 1e3);
    vks_context_destroy(ctx);
    return 0;
}
