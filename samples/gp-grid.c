/*
 * gp-grid: Gaussian-process regression of a multi-scale 2-D field on an n x n grid with the
 * Kronecker-structured solves of vkstruct.
 *
 *   truth  f(x, y) = sin(2 pi x) sin(2 pi y) + 0.1 sin(40 pi x) sin(40 pi y)  on [0, 1]^2
 *   data   y = f + noise, noise ~ N(0, 0.05^2), seeded
 *   model  k((x, y), (x', y')) = k_rbf(x, x') k_rbf(y, y'), i.e. K = K_x ⊗ K_y, + s2 I
 *
 * For each candidate length-scale it builds K_x (= K_y) on the device, eigendecomposes it
 * once (vks_kron_eigh), and then scores every candidate noise variance s2 by the log
 * marginal likelihood (vks_kron_solve with only logdet and mll: one Kronecker product per
 * candidate). The best pair gives the posterior mean on the grid (K alpha), whose RMSE
 * against the noiseless truth is reported beside the data's own, and the posterior mean at
 * scattered points off the grid (vks_kron_predict).
 *
 * Usage: gp-grid [--quick] [--n N] [--f32] [--device D]
 *   --quick   a 256 x 256 grid and fewer candidates (well within a minute on lavapipe)
 *   default   1024 x 1024 (one million points) on a CPU device, 2048 x 2048 on a GPU
 */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <vkstruct/vkstruct.h>

#include "sample_device.h"

#define PI 3.14159265358979323846
#define NOISE_SD 0.05

#define CHECK(call) SAMPLE_CHECK("gp-grid", call)

static double truth(double x, double y) {
    return sin(2 * PI * x) * sin(2 * PI * y) + 0.1 * sin(40 * PI * x) * sin(40 * PI * y);
}

/* splitmix64 + Box-Muller: reproducible noise. */
static uint64_t rng_state = 20240611;
static double uniform01(void) {
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return (double)((z ^ (z >> 31)) >> 11) * 0x1.0p-53;
}
static double normal(void) { return sqrt(-2 * log(uniform01() + 1e-300)) * cos(2 * PI * uniform01()); }

typedef struct device_vec {
    vks_buffer *buf;
    vks_dtype dt;
    size_t n;
} device_vec;

static device_vec dev_alloc(vks_context *ctx, vks_dtype dt, size_t n) {
    device_vec v = {NULL, dt, n};
    size_t es = 0;
    vks_dtype_size(dt, &es);
    CHECK(vks_buffer_create(ctx, n * es, &v.buf));
    return v;
}

static void dev_write(device_vec v, const double *x) {
    if (v.dt == VKS_DTYPE_F64) {
        CHECK(vks_buffer_write(v.buf, 0, x, v.n * 8));
        return;
    }
    float *f = malloc(v.n * sizeof *f);
    for (size_t i = 0; i < v.n; ++i) f[i] = (float)x[i];
    CHECK(vks_buffer_write(v.buf, 0, f, v.n * 4));
    free(f);
}

static void dev_read(device_vec v, double *x) {
    if (v.dt == VKS_DTYPE_F64) {
        CHECK(vks_buffer_read(v.buf, 0, x, v.n * 8));
        return;
    }
    float *f = malloc(v.n * sizeof *f);
    CHECK(vks_buffer_read(v.buf, 0, f, v.n * 4));
    for (size_t i = 0; i < v.n; ++i) x[i] = f[i];
    free(f);
}

/* GPU milliseconds of the profiled ops named `op` since the last clear. */
static double profiled_ms(vks_context *ctx, const char *op, int *count) {
    size_t n = 0;
    CHECK(vks_profile_get(ctx, NULL, 0, &n));
    vks_profile_entry *e = calloc(n ? n : 1, sizeof *e);
    CHECK(vks_profile_get(ctx, e, n, &n));
    double ms = 0;
    *count = 0;
    for (size_t i = 0; i < n; ++i)
        if (!strcmp(e[i].op, op)) ms += e[i].gpu_ms, ++*count;
    free(e);
    return ms;
}

int main(int argc, char **argv) {
    bool quick = false, f32 = false;
    int64_t n = 0;
    const char *device = NULL;
    for (int i = 1; i < argc; ++i) {
        if (!strcmp(argv[i], "--quick")) quick = true;
        else if (!strcmp(argv[i], "--f32")) f32 = true;
        else if (!strcmp(argv[i], "--n") && i + 1 < argc) n = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--device") && i + 1 < argc) device = argv[++i];
        else {
            fprintf(stderr, "usage: gp-grid [--quick] [--n N] [--f32] [--device D]\n");
            return 2;
        }
    }
    vks_context_options o = VKS_CONTEXT_OPTIONS_INIT;
    o.flags = VKS_CONTEXT_PROFILING;
    sample_choose_device(&o, device);
    vks_context *ctx = NULL;
    CHECK(vks_context_create(&o, &ctx));
    vks_device_info info = {.struct_size = sizeof info};
    CHECK(vks_context_get_device_info(ctx, &info));
    const bool cpu = info.type == VKS_DEVICE_CPU;
    if (n <= 0) n = quick ? 256 : cpu ? 1024 : 2048;
    const vks_dtype dt = (!f32 && (info.features & VKS_FEATURE_FLOAT64)) ? VKS_DTYPE_F64 : VKS_DTYPE_F32;
    const int64_t np = n * n;
    printf("gp-grid on %s: %lld x %lld grid (%lld points), %s, noise sd %.3g\n", info.name, (long long)n, (long long)n,
           (long long)np, dt == VKS_DTYPE_F64 ? "f64" : "f32", NOISE_SD);

    /* The data. The grid is the same along x and y: K_x = K_y, decomposed once. */
    double *grid = malloc(sizeof(double) * (size_t)n), *f = malloc(sizeof(double) * (size_t)np);
    double *y = malloc(sizeof(double) * (size_t)np), *mean = malloc(sizeof(double) * (size_t)np);
    for (int64_t i = 0; i < n; ++i) grid[i] = (double)i / (double)(n - 1);
    double data_se = 0;
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < n; ++j) {
            const int64_t e = i * n + j;
            f[e] = truth(grid[i], grid[j]);
            y[e] = f[e] + NOISE_SD * normal();
            data_se += (y[e] - f[e]) * (y[e] - f[e]);
        }
    device_vec xg = dev_alloc(ctx, dt, (size_t)n), yv = dev_alloc(ctx, dt, (size_t)np);
    device_vec kf = dev_alloc(ctx, dt, (size_t)(n * n)), q = dev_alloc(ctx, dt, (size_t)(n * n)), lam = dev_alloc(ctx, dt, (size_t)n);
    device_vec alpha = dev_alloc(ctx, dt, (size_t)np), mv = dev_alloc(ctx, dt, (size_t)np);
    device_vec ld = dev_alloc(ctx, dt, 1), mll = dev_alloc(ctx, dt, 1);
    dev_write(xg, grid);
    dev_write(yv, y);
    vks_tensor tx = vks_tensor_1d(xg.buf, dt, n), tk = vks_tensor_2d(kf.buf, dt, n, n);
    vks_tensor tq = vks_tensor_2d(q.buf, dt, n, n), tl = vks_tensor_1d(lam.buf, dt, n);
    vks_tensor ty = vks_tensor_1d(yv.buf, dt, np), ta = vks_tensor_1d(alpha.buf, dt, np), tm = vks_tensor_1d(mv.buf, dt, np);
    vks_tensor tld = vks_tensor_1d(ld.buf, dt, 1), tmll = vks_tensor_1d(mll.buf, dt, 1);

    /* Candidates: the fine scale's wavelength is 0.05, the coarse one's 1. */
    const double lengths[] = {0.005, 0.01, 0.02, 0.05, 0.1};
    const double noises[] = {1e-4, 1e-3, 2.5e-3, 1e-2, 1e-1};
    const int nl = quick ? 4 : 5, ns = 5;
    double best = -INFINITY, best_l = 0, best_s2 = 0, eigh_ms = 0, score_ms = 0;
    int scored = 0;
    printf("\n%10s %10s %16s %16s\n", "lengthscale", "noise var", "log marg. lik.", "log det");
    const int first = quick ? 1 : 0; /* --quick skips the finest length-scale */
    for (int li = first; li < first + nl; ++li) {
        vks_kernel_desc kd = VKS_KERNEL_DESC_INIT;
        kd.kind = VKS_KERNEL_RBF, kd.lengthscale = lengths[li];
        CHECK(vks_kron_kernel_matrix(ctx, &kd, &tx, &tx, &tk));
        /* One factor serves both dimensions: decompose it once (d = 1), use it twice. */
        vks_kron_eigh_desc ed = VKS_KRON_EIGH_DESC_INIT;
        ed.d = 1, ed.factors[0] = &tk, ed.eigvecs[0] = &tq, ed.eigvals[0] = &tl;
        const double t0 = sample_now_ms();
        CHECK(vks_kron_eigh(ctx, &ed));
        eigh_ms += sample_now_ms() - t0;
        for (int si = 0; si < ns; ++si) {
            vks_kron_solve_desc sd = VKS_KRON_SOLVE_DESC_INIT;
            sd.d = 2, sd.eigvecs[0] = sd.eigvecs[1] = &tq, sd.eigvals[0] = sd.eigvals[1] = &tl;
            sd.noise = noises[si], sd.y = &ty, sd.logdet = &tld, sd.mll = &tmll;
            CHECK(vks_profile_clear(ctx));
            CHECK(vks_kron_solve(ctx, &sd));
            double score, logdet;
            dev_read(mll, &score);
            dev_read(ld, &logdet);
            int cnt = 0;
            score_ms += profiled_ms(ctx, "kron_solve", &cnt);
            scored += cnt;
            printf("%10.3g %10.3g %16.6g %16.6g%s\n", lengths[li], noises[si], score, logdet, score > best ? "  *" : "");
            if (score > best) best = score, best_l = lengths[li], best_s2 = noises[si];
        }
    }
    printf("\nchosen: lengthscale %.3g, noise variance %.3g (true %.3g)\n", best_l, best_s2, NOISE_SD * NOISE_SD);

    /* The posterior mean at the chosen hyperparameters: alpha and K alpha in one solve. */
    vks_kernel_desc kd = VKS_KERNEL_DESC_INIT;
    kd.kind = VKS_KERNEL_RBF, kd.lengthscale = best_l;
    CHECK(vks_kron_kernel_matrix(ctx, &kd, &tx, &tx, &tk));
    vks_kron_eigh_desc ed = VKS_KRON_EIGH_DESC_INIT;
    ed.d = 1, ed.factors[0] = &tk, ed.eigvecs[0] = &tq, ed.eigvals[0] = &tl;
    CHECK(vks_kron_eigh(ctx, &ed));
    vks_kron_solve_desc sd = VKS_KRON_SOLVE_DESC_INIT;
    sd.d = 2, sd.eigvecs[0] = sd.eigvecs[1] = &tq, sd.eigvals[0] = sd.eigvals[1] = &tl;
    sd.noise = best_s2, sd.y = &ty, sd.alpha = &ta, sd.mean = &tm, sd.mll = &tmll;
    CHECK(vks_profile_clear(ctx));
    const double t0 = sample_now_ms();
    CHECK(vks_kron_solve(ctx, &sd));
    CHECK(vks_synchronize(ctx));
    const double solve_wall = sample_now_ms() - t0;
    int cnt = 0;
    const double solve_ms = profiled_ms(ctx, "kron_solve", &cnt);
    dev_read(mv, mean);
    double se = 0;
    for (int64_t e = 0; e < np; ++e) se += (mean[e] - f[e]) * (mean[e] - f[e]);

    /* Off the grid: 1000 scattered points, cross-covariances per dimension. */
    enum { P = 1000 };
    double px[P], py[P], pm[P];
    for (int i = 0; i < P; ++i) px[i] = uniform01(), py[i] = uniform01();
    device_vec dpx = dev_alloc(ctx, dt, P), dpy = dev_alloc(ctx, dt, P), cx = dev_alloc(ctx, dt, (size_t)(P * n)),
               cy = dev_alloc(ctx, dt, (size_t)(P * n)), dpm = dev_alloc(ctx, dt, P);
    dev_write(dpx, px);
    dev_write(dpy, py);
    vks_tensor tpx = vks_tensor_1d(dpx.buf, dt, P), tpy = vks_tensor_1d(dpy.buf, dt, P);
    vks_tensor tcx = vks_tensor_2d(cx.buf, dt, P, n), tcy = vks_tensor_2d(cy.buf, dt, P, n), tpm = vks_tensor_1d(dpm.buf, dt, P);
    CHECK(vks_kron_kernel_matrix(ctx, &kd, &tpx, &tx, &tcx));
    CHECK(vks_kron_kernel_matrix(ctx, &kd, &tpy, &tx, &tcy));
    const vks_tensor *cross[2] = {&tcx, &tcy};
    CHECK(vks_kron_predict(ctx, 2, cross, &ta, &tpm));
    dev_read(dpm, pm);
    double pse = 0;
    for (int i = 0; i < P; ++i) pse += pow(pm[i] - truth(px[i], py[i]), 2);

    printf("\nRMSE against the noiseless truth:\n");
    printf("  noisy data              %.5f\n", sqrt(data_se / (double)np));
    printf("  posterior mean, grid    %.5f\n", sqrt(se / (double)np));
    printf("  posterior mean, %d scattered points  %.5f\n", P, sqrt(pse / P));
    printf("\ntimes: eigendecomposition %.1f ms per length-scale (wall clock, n = %lld);\n", eigh_ms / nl,
           (long long)n);
    printf("       log-likelihood score %.2f ms per candidate (GPU time; one Kronecker product)\n",
           scored ? score_ms / scored : 0.0);
    printf("       full solve (alpha, posterior mean, mll) %.2f ms GPU time, %.2f ms wall clock\n", solve_ms, solve_wall);
    const int ok = sqrt(se / (double)np) < sqrt(data_se / (double)np);
    printf("%s\n", ok ? "gp-grid: the posterior mean is closer to the truth than the data" : "gp-grid: FAILED to denoise");

    device_vec all[] = {xg, yv, kf, q, lam, alpha, mv, ld, mll, dpx, dpy, cx, cy, dpm};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; ++i) vks_buffer_destroy(all[i].buf);
    vks_context_destroy(ctx);
    free(grid), free(f), free(y), free(mean);
    return ok ? 0 : 1;
}
