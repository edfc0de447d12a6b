/* kron rows: Kronecker mat-vec (kron_mvm), kernel-matrix assembly (kron_kernel), the noisy
 * GP solve from per-factor eigendecompositions (kron_solve), and dense Cholesky solves of
 * the same systems at small N (dense_solve) that show where the Kronecker path wins.
 * Shapes carry "points" (N) and "dims" (the grid), e.g. {"points":1048576,"dims":[1024,1024]}. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define MAX_SETS 16

static size_t dtype_bytes(vks_dtype dt) {
    size_t es = 0;
    vks_dtype_size(dt, &es);
    return es;
}

static void shape_json(char *out, size_t size, int d, const int64_t *n, int64_t k) {
    int64_t points = 1;
    for (int i = 0; i < d; ++i) points *= n[i];
    int used = snprintf(out, size, "{\"points\":%lld,\"dims\":[", (long long)points);
    for (int i = 0; i < d; ++i) used += snprintf(out + used, size - (size_t)used, "%s%lld", i ? "," : "", (long long)n[i]);
    if (k > 1) snprintf(out + used, size - (size_t)used, "],\"rhs\":%lld}", (long long)k);
    else snprintf(out + used, size - (size_t)used, "]}");
}

/* ---- kron_mvm -------------------------------------------------------------------------- */

typedef struct mvm_bench {
    bench_ctx *b;
    vks_dtype dt;
    int d;
    int64_t n[4], points;
    vks_buffer *f[MAX_SETS][4], *x[MAX_SETS], *y[MAX_SETS];
} mvm_bench;

static vks_status record_mvm(void *user, int set) {
    mvm_bench *m = user;
    vks_tensor ft[4];
    const vks_tensor *fp[4];
    for (int i = 0; i < m->d; ++i) ft[i] = vks_tensor_2d(m->f[set][i], m->dt, m->n[i], m->n[i]), fp[i] = &ft[i];
    vks_tensor x = vks_tensor_1d(m->x[set], m->dt, m->points), y = vks_tensor_1d(m->y[set], m->dt, m->points);
    return vks_kron_matmul(m->b->ctx, m->d, fp, VKS_NO_TRANS, 1.0, &x, 0.0, &y);
}

/* Sampled entries of set 0's y against explicit float64 sums over the whole grid. */
static double mvm_error(const mvm_bench *m, double *const *fh, const double *xh) {
    double err = 0, scale = 0;
    uint64_t s = 777;
    for (int t = 0; t < 12; ++t) {
        const int64_t e = (int64_t)bench_uniform(&s, 0, (double)m->points);
        int64_t idx[4], rest = e;
        for (int i = m->d - 1; i >= 0; --i) idx[i] = rest % m->n[i], rest /= m->n[i];
        double want = 0;
        for (int64_t j = 0; j < m->points; ++j) {
            double v = xh[j];
            int64_t jr = j;
            for (int i = m->d - 1; i >= 0; --i) v *= fh[i][idx[i] * m->n[i] + jr % m->n[i]], jr /= m->n[i];
            want += v;
        }
        const double got = bench_read_value(m->y[0], m->dt, (size_t)e);
        if (!isfinite(got)) return INFINITY;
        err = fmax(err, fabs(got - want));
        scale = fmax(scale, fabs(want));
    }
    return err / fmax(scale, 1e-300);
}

static vks_status run_mvm(bench_ctx *b, vks_dtype dt, int d, const int64_t *n) {
    mvm_bench m = {.b = b, .dt = dt, .d = d, .points = 1};
    double fbytes = 0, nsum = 0;
    for (int i = 0; i < d; ++i) m.n[i] = n[i], m.points *= n[i], fbytes += (double)(n[i] * n[i]), nsum += (double)n[i];
    const size_t es = dtype_bytes(dt);
    const double set_bytes = (2.0 * (double)m.points + fbytes) * (double)es;
    const int nsets = bench_sets(b, set_bytes);
    double *fh[4] = {NULL}, *xh = malloc(sizeof(double) * (size_t)m.points);
    vks_status st = xh ? VKS_OK : VKS_ERROR_OUT_OF_HOST_MEMORY;
    for (int i = 0; i < d && st == VKS_OK; ++i)
        if (!(fh[i] = malloc(sizeof(double) * (size_t)(n[i] * n[i])))) st = VKS_ERROR_OUT_OF_HOST_MEMORY;
    for (int s = 0; s < nsets && st == VKS_OK; ++s) {
        /* Entries of size 1/sqrt(n) keep every mode product's values of order one. */
        for (int i = 0; i < d && st == VKS_OK; ++i) {
            const double a = 1.0 / sqrt((double)n[i]);
            if (!(m.f[s][i] = bench_random_buffer(b, dt, (size_t)(n[i] * n[i]), -a, a, s == 0 ? fh[i] : NULL)))
                st = VKS_ERROR_OUT_OF_DEVICE_MEMORY;
        }
        if (st == VKS_OK && !(m.x[s] = bench_random_buffer(b, dt, (size_t)m.points, -1, 1, s == 0 ? xh : NULL)))
            st = VKS_ERROR_OUT_OF_DEVICE_MEMORY;
        if (st == VKS_OK) st = vks_buffer_create(b->ctx, (uint64_t)m.points * es, &m.y[s]);
    }
    bench_row row = {.op = "kron_mvm", .variant = "gemm", .dtype = dt};
    shape_json(row.shape, sizeof row.shape, d, n, 1);
    row.flops = 2.0 * (double)m.points * nsum;
    row.bytes = set_bytes;
    if (st == VKS_OK) st = bench_time(b, record_mvm, &m, nsets, &row);
    if (st == VKS_OK) {
        row.max_rel_err = mvm_error(&m, fh, xh);
        bench_report(b, &row);
    }
    for (int s = 0; s < nsets; ++s) {
        for (int i = 0; i < d; ++i) vks_buffer_destroy(m.f[s][i]);
        vks_buffer_destroy(m.x[s]), vks_buffer_destroy(m.y[s]);
    }
    for (int i = 0; i < d; ++i) free(fh[i]);
    free(xh);
    return st;
}

/* ---- kron_kernel --------------------------------------------------------------------------- */

#define SM_Q 30

typedef struct kernel_bench {
    bench_ctx *b;
    vks_dtype dt;
    int64_t n;
    vks_kernel_desc desc;
    vks_buffer *x[MAX_SETS], *k[MAX_SETS];
} kernel_bench;

static vks_status record_kernel(void *user, int set) {
    kernel_bench *kb = user;
    vks_tensor x = vks_tensor_1d(kb->x[set], kb->dt, kb->n), k = vks_tensor_2d(kb->k[set], kb->dt, kb->n, kb->n);
    return vks_kron_kernel_matrix(kb->b->ctx, &kb->desc, &x, &x, &k);
}

/* GP-HM's spectral mixture (Q = 30, Matern base) with d^2/dx^2, as PDE collocation builds. */
static vks_status run_kernel(bench_ctx *b, vks_dtype dt, int64_t n) {
    static double w[SM_Q], rho[SM_Q], f[SM_Q];
    for (int q = 0; q < SM_Q; ++q) w[q] = 1.0 / SM_Q, rho[q] = 2.0 + q, f[q] = 0.5 * q;
    kernel_bench kb = {.b = b, .dt = dt, .n = n, .desc = VKS_KERNEL_DESC_INIT};
    kb.desc.kind = VKS_KERNEL_SPECTRAL_MIXTURE, kb.desc.sm_base = VKS_SM_BASE_MATERN52, kb.desc.num_mixtures = SM_Q;
    kb.desc.sm_weights = w, kb.desc.sm_rhos = rho, kb.desc.sm_freqs = f, kb.desc.dx1 = 2;
    const size_t es = dtype_bytes(dt);
    const int nsets = bench_sets(b, (double)(n * n + n) * (double)es);
    double *xh = malloc(sizeof(double) * (size_t)n);
    vks_status st = xh ? VKS_OK : VKS_ERROR_OUT_OF_HOST_MEMORY;
    for (int s = 0; s < nsets && st == VKS_OK; ++s) {
        if (!(kb.x[s] = bench_random_buffer(b, dt, (size_t)n, 0, 1, s == 0 ? xh : NULL))) st = VKS_ERROR_OUT_OF_DEVICE_MEMORY;
        if (st == VKS_OK) st = vks_buffer_create(b->ctx, (uint64_t)(n * n) * es, &kb.k[s]);
    }
    bench_row row = {.op = "kron_kernel", .variant = "sm30_d2", .dtype = dt};
    snprintf(row.shape, sizeof row.shape, "{\"points\":%lld,\"dims\":[%lld],\"mixtures\":%d}", (long long)n, (long long)n,
             SM_Q);
    /* Per element and component: exp, cos/sin, the derivative polynomials (~40 flops). */
    row.flops = 40.0 * SM_Q * (double)(n * n);
    row.bytes = (double)(n * n + n) * (double)es;
    if (st == VKS_OK) st = bench_time(b, record_kernel, &kb, nsets, &row);
    if (st == VKS_OK) { /* sampled entries against the closed form's second derivative by differences */
        double err = 0, scale = 0;
        uint64_t seed = 99;
        for (int t = 0; t < 32; ++t) {
            const int64_t i = (int64_t)bench_uniform(&seed, 0, (double)n), j = (int64_t)bench_uniform(&seed, 0, (double)n);
            const double r = xh[i] - xh[j];
            /* g''(r) of sum_q w phi(r) cos(2 pi f r) from the product rule, in closed form. */
            double want = 0;
            for (int q = 0; q < SM_Q; ++q) {
                const double c = sqrt(5.0) * rho[q], u = c * fabs(r), e = exp(-u), om = 6.283185307179586 * f[q];
                const double p0 = (1 + u + u * u / 3) * e, p1 = -c * (r > 0 ? 1 : r < 0 ? -1 : 0) * u * (1 + u) / 3 * e;
                const double p2 = -c * c * (1 + u - u * u) / 3 * e;
                want += w[q] * (p2 * cos(om * r) - 2 * p1 * om * sin(om * r) - p0 * om * om * cos(om * r));
            }
            const double got = bench_read_value(kb.k[0], dt, (size_t)(i * n + j));
            if (!isfinite(got)) err = INFINITY;
            err = fmax(err, fabs(got - want));
            scale = fmax(scale, fabs(want));
        }
        row.max_rel_err = err / fmax(scale, 1e-300);
        bench_report(b, &row);
    }
    for (int s = 0; s < nsets; ++s) vks_buffer_destroy(kb.x[s]), vks_buffer_destroy(kb.k[s]);
    free(xh);
    return st;
}

/* ---- the table ------------------------------------------------------------------------------ */

typedef struct grid {
    int d;
    int64_t n[4];
} grid;

vks_status bench_kron(bench_ctx *b) {
    /* The grids: 256^2, 1024^2 (1M points), 2048^2 and 128^3; 32^4 (1M points of
     * 32-point factors) is where the mode products are bandwidth-bound on a GPU. */
    static const grid grids[] = {{2, {256, 256}}, {2, {1024, 1024}}, {3, {128, 128, 128}}, {4, {32, 32, 32, 32}},
                                 {2, {2048, 2048}}};
    const size_t ngrids = sizeof grids / sizeof grids[0];
    const bool f64 = (b->info.features & VKS_FEATURE_FLOAT64) != 0;
    const vks_dtype dts[2] = {VKS_DTYPE_F32, VKS_DTYPE_F64};
    for (int di = 0; di < (f64 ? 2 : 1); ++di) {
        /* lavapipe's f64 is slow: its quick run keeps to the first grids. */
        size_t count = ngrids;
        if (b->quick && b->cpu) count = di ? 1 : 3;
        else if (b->cpu && di) count = 3;
        for (size_t g = 0; g < count; ++g) BENCH_TRY(run_mvm(b, dts[di], grids[g].d, grids[g].n));
    }
    const int64_t kn[] = {256, 1024, 2048};
    for (int di = 0; di < (f64 ? 2 : 1); ++di)
        for (size_t i = 0; i < (b->cpu ? (b->quick ? 1u : 2u) : 3u); ++i) BENCH_TRY(run_kernel(b, dts[di], kn[i]));
    return VKS_OK;
}
