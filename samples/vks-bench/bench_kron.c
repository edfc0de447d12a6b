/* kron rows: Kronecker mat-vec (kron_mvm), kernel-matrix assembly (kron_kernel), the noisy
 * GP solve from per-factor eigendecompositions (kron_solve), and dense Cholesky solves of
 * the same systems at small N (dense_solve) that show where the Kronecker path wins.
 * Shapes carry "points" (N) and "dims" (the grid), e.g. {"points":1048576,"dims":[1024,1024]}. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/* Cases of more than ~2 GFLOP on a CPU device (seconds per call on lavapipe) run one
 * warm-up call and at most three timed ones; restore_calls puts the counts back. */
typedef struct saved_calls {
    int warmup, iters;
} saved_calls;

static saved_calls limit_calls(bench_ctx *b, double flops) {
    saved_calls s = {b->warmup, b->iters};
    if (b->cpu && flops > 2e9) {
        b->warmup = 1;
        if (b->iters > 3) b->iters = 3;
    }
    return s;
}

static void restore_calls(bench_ctx *b, saved_calls s) { b->warmup = s.warmup, b->iters = s.iters; }

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
    /* GPUs run factors of at most 64 x 64 as in-place mode products, others as rotation GEMMs. */
    int64_t nmax = 0;
    for (int i = 0; i < d; ++i) nmax = n[i] > nmax ? n[i] : nmax;
    bench_row row = {.op = "kron_mvm", .variant = b->cpu || nmax > 64 ? "gemm" : "modes", .dtype = dt};
    shape_json(row.shape, sizeof row.shape, d, n, 1);
    row.flops = 2.0 * (double)m.points * nsum;
    row.bytes = set_bytes;
    const saved_calls calls = limit_calls(b, row.flops);
    if (st == VKS_OK) st = bench_time(b, record_mvm, &m, nsets, &row);
    restore_calls(b, calls);
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

/* ---- kron_solve --------------------------------------------------------------------------- */

/* A device buffer holding host doubles converted to dt. */
static vks_buffer *upload(bench_ctx *b, vks_dtype dt, const double *x, size_t n) {
    const size_t es = dtype_bytes(dt);
    uint8_t *bytes = malloc(n * es);
    vks_buffer *buf = NULL;
    if (bytes && vks_buffer_create(b->ctx, n * es, &buf) == VKS_OK) {
        for (size_t i = 0; i < n; ++i) {
            if (dt == VKS_DTYPE_F64) memcpy(bytes + 8 * i, &x[i], 8);
            else {
                const float f = (float)x[i];
                memcpy(bytes + 4 * i, &f, 4);
            }
        }
        if (vks_buffer_write(buf, 0, bytes, n * es) != VKS_OK) vks_buffer_destroy(buf), buf = NULL;
    }
    free(bytes);
    return buf;
}

/* The orthonormal DCT-II basis (columns) and an SE-like decaying spectrum: factors
 * K_i = Q_i diag(lambda_i) Q_i^T whose eigendecomposition is known exactly, so that the
 * solve rows need no eigensolver and their results can be checked on the host. */
static void dct_factor(int64_t n, double *q, double *lam) {
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < n; ++j)
            q[i * n + j] = sqrt((j ? 2.0 : 1.0) / (double)n) * cos(3.141592653589793 * ((double)i + 0.5) * (double)j / (double)n);
    for (int64_t j = 0; j < n; ++j) lam[j] = 0.2 * (double)n * exp(-0.5 * pow(8.0 * (double)j / (double)n, 2));
}

typedef struct solve_bench {
    bench_ctx *b;
    vks_dtype dt;
    int d;
    int64_t n[4], points, k;
    double noise;
    vks_buffer *q[4], *lam[4];
    vks_buffer *y[MAX_SETS], *alpha[MAX_SETS], *logdet[MAX_SETS], *mll[MAX_SETS];
} solve_bench;

static vks_status record_solve(void *user, int set) {
    solve_bench *sb = user;
    vks_tensor tq[4], tl[4];
    vks_kron_solve_desc sd = VKS_KRON_SOLVE_DESC_INIT;
    sd.d = sb->d, sd.noise = sb->noise;
    for (int i = 0; i < sb->d; ++i) {
        tq[i] = vks_tensor_2d(sb->q[i], sb->dt, sb->n[i], sb->n[i]), tl[i] = vks_tensor_1d(sb->lam[i], sb->dt, sb->n[i]);
        sd.eigvecs[i] = &tq[i], sd.eigvals[i] = &tl[i];
    }
    vks_tensor y = sb->k > 1 ? vks_tensor_2d(sb->y[set], sb->dt, sb->points, sb->k) : vks_tensor_1d(sb->y[set], sb->dt, sb->points);
    vks_tensor a = sb->k > 1 ? vks_tensor_2d(sb->alpha[set], sb->dt, sb->points, sb->k)
                             : vks_tensor_1d(sb->alpha[set], sb->dt, sb->points);
    vks_tensor ld = vks_tensor_1d(sb->logdet[set], sb->dt, 1), ml = vks_tensor_1d(sb->mll[set], sb->dt, sb->k);
    sd.y = &y, sd.alpha = &a, sd.logdet = &ld, sd.mll = &ml;
    return vks_kron_solve(sb->b->ctx, &sd);
}

/* The normwise backward error max|(K + noise I) alpha - y| / (||K + noise I|| max|alpha| + max|y|)
 * over sampled rows (first right-hand side; K's rows rebuilt on the host from the known
 * factors, ||.|| the 2-norm prod max lambda_i + noise), the relative residual
 * max|r| / max|y| in *residual, and log det against sum log(lambda + noise). */
static double solve_error(const solve_bench *sb, double *const *qh, double *const *lh, const double *yh,
                          double *logdet_err, double *residual) {
    double *alpha = malloc(sizeof(double) * (size_t)sb->points), *rows[4] = {NULL};
    if (!alpha) return INFINITY;
    const size_t es = dtype_bytes(sb->dt);
    uint8_t *bytes = malloc((size_t)(sb->points * sb->k) * es);
    double err = INFINITY;
    if (bytes && vks_buffer_read(sb->alpha[0], 0, bytes, (uint64_t)(sb->points * sb->k) * es) == VKS_OK) {
        for (int64_t e = 0; e < sb->points; ++e) {
            const size_t i = (size_t)(e * sb->k);
            if (sb->dt == VKS_DTYPE_F64) memcpy(&alpha[e], bytes + 8 * i, 8);
            else {
                float f;
                memcpy(&f, bytes + 4 * i, 4);
                alpha[e] = f;
            }
        }
        double res = 0, ymax = 0, amax = 0, knorm = 1;
        for (int64_t e = 0; e < sb->points; ++e) ymax = fmax(ymax, fabs(yh[e * sb->k])), amax = fmax(amax, fabs(alpha[e]));
        for (int i = 0; i < sb->d; ++i) {
            double m = 0;
            for (int64_t j = 0; j < sb->n[i]; ++j) m = fmax(m, lh[i][j]);
            knorm *= m;
        }
        for (int i = 0; i < sb->d; ++i) rows[i] = malloc(sizeof(double) * (size_t)sb->n[i]);
        uint64_t seed = 4242;
        for (int t = 0; t < 8; ++t) {
            const int64_t e = (int64_t)bench_uniform(&seed, 0, (double)sb->points);
            int64_t idx[4], rest = e;
            for (int i = sb->d - 1; i >= 0; --i) idx[i] = rest % sb->n[i], rest /= sb->n[i];
            for (int i = 0; i < sb->d; ++i) { /* row idx[i] of Q diag(lam) Q^T */
                const int64_t n = sb->n[i];
                for (int64_t j = 0; j < n; ++j) {
                    double s = 0;
                    for (int64_t p = 0; p < n; ++p) s += qh[i][idx[i] * n + p] * lh[i][p] * qh[i][j * n + p];
                    rows[i][j] = s;
                }
            }
            double v = sb->noise * alpha[e];
            for (int64_t j = 0; j < sb->points; ++j) {
                double kv = alpha[j];
                int64_t jr = j;
                for (int i = sb->d - 1; i >= 0; --i) kv *= rows[i][jr % sb->n[i]], jr /= sb->n[i];
                v += kv;
            }
            res = fmax(res, fabs(v - yh[e * sb->k]));
        }
        err = res / ((knorm + sb->noise) * amax + ymax);
        *residual = res / ymax;
        double want = 0;
        for (int64_t e = 0; e < sb->points; ++e) {
            double lam = 1;
            int64_t rest = e;
            for (int i = sb->d - 1; i >= 0; --i) lam *= lh[i][rest % sb->n[i]], rest /= sb->n[i];
            want += log(lam + sb->noise);
        }
        *logdet_err = fabs(bench_read_value(sb->logdet[0], sb->dt, 0) - want) / fabs(want);
    }
    for (int i = 0; i < sb->d; ++i) free(rows[i]);
    free(alpha), free(bytes);
    return err;
}

static vks_status run_solve(bench_ctx *b, vks_dtype dt, int d, const int64_t *n, int64_t k) {
    solve_bench sb = {.b = b, .dt = dt, .d = d, .points = 1, .k = k, .noise = 0.01};
    double *qh[4] = {NULL}, *lh[4] = {NULL}, nsum = 0, fbytes = 0;
    vks_status st = VKS_OK;
    for (int i = 0; i < d && st == VKS_OK; ++i) {
        sb.n[i] = n[i], sb.points *= n[i], nsum += (double)n[i], fbytes += (double)(n[i] * n[i] + n[i]);
        qh[i] = malloc(sizeof(double) * (size_t)(n[i] * n[i])), lh[i] = malloc(sizeof(double) * (size_t)n[i]);
        if (!qh[i] || !lh[i]) {
            st = VKS_ERROR_OUT_OF_HOST_MEMORY;
            break;
        }
        dct_factor(n[i], qh[i], lh[i]);
        sb.q[i] = upload(b, dt, qh[i], (size_t)(n[i] * n[i]));
        sb.lam[i] = upload(b, dt, lh[i], (size_t)n[i]);
        if (!sb.q[i] || !sb.lam[i]) st = VKS_ERROR_OUT_OF_DEVICE_MEMORY;
    }
    const size_t es = dtype_bytes(dt);
    const double set_bytes = 2.0 * (double)(sb.points * k) * (double)es;
    const int nsets = bench_sets(b, set_bytes);
    double *yh = malloc(sizeof(double) * (size_t)(sb.points * k));
    if (!yh) st = VKS_ERROR_OUT_OF_HOST_MEMORY;
    for (int s = 0; s < nsets && st == VKS_OK; ++s) {
        if (!(sb.y[s] = bench_random_buffer(b, dt, (size_t)(sb.points * k), -1, 1, s == 0 ? yh : NULL)))
            st = VKS_ERROR_OUT_OF_DEVICE_MEMORY;
        if (st == VKS_OK) st = vks_buffer_create(b->ctx, (uint64_t)(sb.points * k) * es, &sb.alpha[s]);
        if (st == VKS_OK) st = vks_buffer_create(b->ctx, es, &sb.logdet[s]);
        if (st == VKS_OK) st = vks_buffer_create(b->ctx, (uint64_t)k * es, &sb.mll[s]);
    }
    bench_row row = {.op = "kron_solve", .variant = "eig_given", .dtype = dt};
    shape_json(row.shape, sizeof row.shape, d, n, k);
    /* Two Kronecker products (Q^T, Q) and the fused scaling pass. */
    row.flops = 4.0 * (double)(sb.points * k) * nsum + 4.0 * (double)(sb.points * k);
    row.bytes = set_bytes + fbytes * (double)es;
    const saved_calls calls = limit_calls(b, row.flops);
    if (st == VKS_OK) st = bench_time(b, record_solve, &sb, nsets, &row);
    restore_calls(b, calls);
    if (st == VKS_OK) {
        double ld_err = INFINITY, residual = INFINITY;
        row.max_rel_err = solve_error(&sb, qh, lh, yh, &ld_err, &residual);
        snprintf(row.extra, sizeof row.extra,
                 "\"error\":\"backward\",\"residual_rel\":%.3g,\"noise\":%g,\"logdet_rel_err\":%.3g", residual, sb.noise,
                 ld_err);
        bench_report(b, &row);
    }
    for (int s = 0; s < nsets; ++s)
        vks_buffer_destroy(sb.y[s]), vks_buffer_destroy(sb.alpha[s]), vks_buffer_destroy(sb.logdet[s]),
            vks_buffer_destroy(sb.mll[s]);
    for (int i = 0; i < d; ++i) vks_buffer_destroy(sb.q[i]), vks_buffer_destroy(sb.lam[i]), free(qh[i]), free(lh[i]);
    free(yh);
    return st;
}

/* ---- the crossover: dense Cholesky against the Kronecker path at small N ---------------------- */

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

static int cmp_ms(const void *x, const void *y) {
    const double a = *(const double *)x, c = *(const double *)y;
    return (a > c) - (a < c);
}

/* Wall-clock timing (synchronize after each call) for work that synchronizes by itself
 * (vks_kron_eigh reads its eigenvalues back): warm-up, median of b->iters. */
static vks_status wall_time(bench_ctx *b, bench_record_fn record, void *user, bench_row *row) {
    for (int i = 0; i < b->warmup; ++i) {
        BENCH_TRY(record(user, 0));
        BENCH_TRY(vks_synchronize(b->ctx));
    }
    double ms[64];
    const int n = b->iters < 64 ? b->iters : 64;
    for (int i = 0; i < n; ++i) {
        const double t0 = now_ms();
        BENCH_TRY(record(user, 0));
        BENCH_TRY(vks_synchronize(b->ctx));
        ms[i] = now_ms() - t0;
    }
    qsort(ms, (size_t)n, sizeof ms[0], cmp_ms);
    row->iters = n;
    row->median_ms = n % 2 ? ms[n / 2] : 0.5 * (ms[n / 2 - 1] + ms[n / 2]);
    row->min_ms = ms[0];
    return VKS_OK;
}

typedef struct cross_bench {
    bench_ctx *b;
    vks_dtype dt;
    int64_t n, points; /* an n x n grid */
    double noise;
    vks_buffer *kf, *q[2], *lam[2], *y, *alpha, *dense, *l, *x, *info;
} cross_bench;

static vks_status record_dense(void *user, int set) {
    (void)set;
    cross_bench *c = user;
    vks_tensor a = vks_tensor_2d(c->dense, c->dt, c->points, c->points), l = vks_tensor_2d(c->l, c->dt, c->points, c->points);
    vks_tensor y = vks_tensor_2d(c->y, c->dt, c->points, 1), x = vks_tensor_2d(c->x, c->dt, c->points, 1);
    vks_tensor info = vks_tensor_1d(c->info, VKS_DTYPE_I32, 1);
    vks_cholesky_options o = VKS_CHOLESKY_OPTIONS_INIT;
    o.info = &info; /* records only: the status stays on the device */
    BENCH_TRY(vks_cholesky_ex(c->b->ctx, &a, &l, &o));
    BENCH_TRY(vks_trsm(c->b->ctx, VKS_NO_TRANS, &l, &y, &x));
    return vks_trsm(c->b->ctx, VKS_TRANS, &l, &x, &x);
}

static vks_status record_eigh_solve(void *user, int set) {
    (void)set;
    cross_bench *c = user;
    vks_tensor k = vks_tensor_2d(c->kf, c->dt, c->n, c->n), tq[2], tl[2];
    vks_kron_eigh_desc ed = VKS_KRON_EIGH_DESC_INIT;
    vks_kron_solve_desc sd = VKS_KRON_SOLVE_DESC_INIT;
    ed.d = sd.d = 2, sd.noise = c->noise;
    for (int i = 0; i < 2; ++i) {
        tq[i] = vks_tensor_2d(c->q[i], c->dt, c->n, c->n), tl[i] = vks_tensor_1d(c->lam[i], c->dt, c->n);
        ed.factors[i] = &k, ed.eigvecs[i] = sd.eigvecs[i] = &tq[i], ed.eigvals[i] = sd.eigvals[i] = &tl[i];
    }
    BENCH_TRY(vks_kron_eigh(c->b->ctx, &ed));
    vks_tensor y = vks_tensor_1d(c->y, c->dt, c->points), a = vks_tensor_1d(c->alpha, c->dt, c->points);
    sd.y = &y, sd.alpha = &a;
    return vks_kron_solve(c->b->ctx, &sd);
}

/* Relative difference of the two paths' solutions (both against the same system). */
static double cross_diff(const cross_bench *c) {
    double err = 0, scale = 0;
    uint64_t seed = 5;
    for (int t = 0; t < 64; ++t) {
        const size_t e = (size_t)bench_uniform(&seed, 0, (double)c->points);
        const double a = bench_read_value(c->alpha, c->dt, e), x = bench_read_value(c->x, c->dt, e);
        if (!isfinite(a) || !isfinite(x)) return INFINITY;
        err = fmax(err, fabs(a - x)), scale = fmax(scale, fabs(x));
    }
    return err / fmax(scale, 1e-300);
}

static vks_status run_crossover(bench_ctx *b, vks_dtype dt, int64_t n) {
    cross_bench c = {.b = b, .dt = dt, .n = n, .points = n * n, .noise = 0.1};
    const size_t es = dtype_bytes(dt);
    const int64_t np = c.points;
    double *grid = malloc(sizeof(double) * (size_t)n), *eye = calloc((size_t)(np * np), sizeof(double));
    vks_status st = grid && eye ? VKS_OK : VKS_ERROR_OUT_OF_HOST_MEMORY;
    for (int64_t i = 0; st == VKS_OK && i < n; ++i) grid[i] = (double)i / (double)(n - 1);
    vks_buffer *xg = st == VKS_OK ? upload(b, dt, grid, (size_t)n) : NULL;
    if (st == VKS_OK) {
        for (int64_t i = 0; i < np; ++i) eye[i * np + i] = c.noise;
        c.dense = upload(b, dt, eye, (size_t)(np * np)); /* noise I; the product is added below */
        for (int64_t i = 0; i < np; ++i) eye[i * np + i] = 1.0;
        c.x = upload(b, dt, eye, (size_t)(np * np)); /* I, then the solution */
    }
    if (!xg || !c.dense || !c.x) st = VKS_ERROR_OUT_OF_DEVICE_MEMORY;
    if (st == VKS_OK) st = vks_buffer_create(b->ctx, (uint64_t)(n * n) * es, &c.kf);
    for (int i = 0; i < 2 && st == VKS_OK; ++i) {
        st = vks_buffer_create(b->ctx, (uint64_t)(n * n) * es, &c.q[i]);
        if (st == VKS_OK) st = vks_buffer_create(b->ctx, (uint64_t)n * es, &c.lam[i]);
    }
    if (st == VKS_OK) st = vks_buffer_create(b->ctx, (uint64_t)(np * np) * es, &c.l);
    if (st == VKS_OK) st = vks_buffer_create(b->ctx, (uint64_t)np * es, &c.alpha);
    if (st == VKS_OK) st = vks_buffer_create(b->ctx, 4, &c.info);
    if (st == VKS_OK && !(c.y = bench_random_buffer(b, dt, (size_t)np, -1, 1, NULL))) st = VKS_ERROR_OUT_OF_DEVICE_MEMORY;
    if (st == VKS_OK) { /* K = RBF on the grid; dense = K ⊗ K + noise I = (K ⊗ K) I + 1 * (noise I) */
        vks_kernel_desc kd = VKS_KERNEL_DESC_INIT;
        kd.lengthscale = 0.2;
        vks_tensor tx = vks_tensor_1d(xg, dt, n), tk = vks_tensor_2d(c.kf, dt, n, n);
        st = vks_kron_kernel_matrix(b->ctx, &kd, &tx, &tx, &tk);
        const vks_tensor *fs[2] = {&tk, &tk};
        vks_tensor ti = vks_tensor_2d(c.x, dt, np, np), td = vks_tensor_2d(c.dense, dt, np, np);
        if (st == VKS_OK) st = vks_kron_matmul(b->ctx, 2, fs, VKS_NO_TRANS, 1.0, &ti, 1.0, &td);
    }
    free(eye), free(grid);
    char shape[256];
    const int64_t dims[2] = {n, n};
    shape_json(shape, sizeof shape, 2, dims, 1);
    bench_row dense = {.op = "dense_solve", .variant = "chol_trsm", .dtype = dt};
    bench_row kron = {.op = "kron_solve", .variant = "eigh+solve", .dtype = dt};
    snprintf(dense.shape, sizeof dense.shape, "%s", shape);
    snprintf(kron.shape, sizeof kron.shape, "%s", shape);
    const double N = (double)np;
    dense.flops = N * N * N / 3 + 2 * N * N, dense.bytes = (N * N + 2 * N) * (double)es;
    kron.flops = 9.0 * (double)(n * n * n) + 4 * N * 2 * (double)n; /* ~9 n^3: one eigh (the factor is given twice) */
    kron.bytes = (3.0 * (double)(n * n) + 2 * N) * (double)es;
    const saved_calls calls = limit_calls(b, dense.flops);
    if (st == VKS_OK) st = bench_time(b, record_dense, &c, 1, &dense);
    if (st == VKS_OK) st = wall_time(b, record_eigh_solve, &c, &kron);
    restore_calls(b, calls);
    if (st == VKS_OK) {
        dense.max_rel_err = kron.max_rel_err = cross_diff(&c);
        snprintf(dense.extra, sizeof dense.extra, "\"error\":\"vs kron_solve\",\"timing\":\"timestamps\"");
        snprintf(kron.extra, sizeof kron.extra, "\"error\":\"vs dense_solve\",\"timing\":\"wall clock (eigh synchronizes)\"");
        bench_report(b, &dense);
        bench_report(b, &kron);
    }
    vks_buffer *bufs[] = {xg, c.kf, c.q[0], c.q[1], c.lam[0], c.lam[1], c.y, c.alpha, c.dense, c.l, c.x, c.info};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; ++i) vks_buffer_destroy(bufs[i]);
    return st;
}

/* ---- the table ------------------------------------------------------------------------------ */

typedef struct grid {
    int d;
    int64_t n[4];
} grid;

vks_status bench_kron(bench_ctx *b) {
    /* The grids: 256^2, 1024^2 (1M points), 2048^2 and 128^3; 32^4 (1M points of
     * 32-point factors) is where the mode products are bandwidth-bound on a GPU; 256^3 is
     * the GPyTorch comparison. */
    static const grid grids[] = {{2, {256, 256}},         {2, {1024, 1024}}, {3, {128, 128, 128}},
                                 {4, {32, 32, 32, 32}},   {2, {2048, 2048}}, {3, {256, 256, 256}}};
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
    /* VKS_BENCH_KRON=mvm: the mode products alone (development: they are GEMMs). */
    const char *only = getenv("VKS_BENCH_KRON");
    if (only && !strcmp(only, "mvm")) return VKS_OK;
    const int64_t kn[] = {256, 1024, 2048};
    for (int di = 0; di < (f64 ? 2 : 1); ++di)
        for (size_t i = 0; i < (b->cpu ? (b->quick ? 1u : 2u) : 3u); ++i) BENCH_TRY(run_kernel(b, dts[di], kn[i]));
    /* Solves given the factors' eigendecompositions, on the same grids. */
    for (int di = 0; di < (f64 ? 2 : 1); ++di) {
        size_t count = ngrids;
        if (b->quick && b->cpu) count = di ? 1 : 3;
        else if (b->cpu && di) count = 3;
        for (size_t g = 0; g < count; ++g) BENCH_TRY(run_solve(b, dts[di], grids[g].d, grids[g].n, 1));
        if (!b->cpu || !b->quick) BENCH_TRY(run_solve(b, dts[di], grids[0].d, grids[0].n, 8)); /* 8 right-hand sides */
    }
    /* The crossover: dense Cholesky against eigh + Kronecker solve on n x n grids. */
    static const int64_t cpu_n[] = {4, 8, 16, 32}, gpu_n[] = {4, 8, 16, 32, 64, 96};
    const int64_t *cn = b->cpu ? cpu_n : gpu_n;
    const size_t ncross = b->cpu ? (b->quick ? 3 : 4) : 6;
    for (int di = 0; di < (f64 ? 2 : 1); ++di)
        for (size_t i = 0; i < ncross; ++i) BENCH_TRY(run_crossover(b, dts[di], cn[i]));
    return VKS_OK;
}
