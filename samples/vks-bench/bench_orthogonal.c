/*
 * Orthogonalization rows:
 *   newton_schulz (Muon schedule, 5 steps) and polar_express (5 steps): square and wide
 *     matrices, f32 and bf16, a batch; fields orth_err = max |sigma_i - 1| of the result and
 *     polar_err = ||X - polar(G)||_2, both from float64 eigendecompositions on the device
 *     (up to 2048 rows); max_rel_err against the same iteration run in float64.
 *     FLOPs: the peers' count, (4 m^2 n + 2 m^3) per step (vkstruct's SYRK does less).
 *   syrk: X X^T through the SYRK kernel (variant syrk) and through vks_gemm (variant gemm).
 *   cholesky, eigh (fixed sweeps, no synchronization), cholqr2.
 * Every timed call records work only (status/info tensors instead of read-backs).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define MAX_SETS 16

static size_t dt_size(vks_dtype dt) {
    size_t es = 0;
    vks_dtype_size(dt, &es);
    return es;
}

/* Host values of a buffer (any float dtype) as doubles. */
static double *read_all(vks_buffer *b, vks_dtype dt, size_t n) {
    const size_t es = dt_size(dt);
    uint8_t *raw = malloc(n * es);
    double *out = malloc(n * sizeof *out);
    if (!raw || !out || vks_buffer_read(b, 0, raw, n * es) != VKS_OK) {
        free(raw), free(out);
        return NULL;
    }
    for (size_t i = 0; i < n; ++i) {
        if (dt == VKS_DTYPE_F64) memcpy(&out[i], raw + 8 * i, 8);
        else if (dt == VKS_DTYPE_F32) {
            float f;
            memcpy(&f, raw + 4 * i, 4);
            out[i] = f;
        } else if (dt == VKS_DTYPE_BF16) {
            uint32_t u = (uint32_t)(raw[2 * i] | raw[2 * i + 1] << 8) << 16;
            float f;
            memcpy(&f, &u, 4);
            out[i] = f;
        } else {
            out[i] = NAN;
        }
    }
    free(raw);
    return out;
}

static vks_buffer *upload_f64(bench_ctx *b, const double *x, size_t n) {
    vks_buffer *buf = NULL;
    if (vks_buffer_create(b->ctx, n * 8, &buf) != VKS_OK) return NULL;
    if (vks_buffer_write(buf, 0, x, n * 8) != VKS_OK) {
        vks_buffer_destroy(buf);
        return NULL;
    }
    return buf;
}

/* A buffer of n uniform values in [-1, 1] of dtype dt (bf16 rounded from f32); host copy. */
static vks_buffer *random_buffer(bench_ctx *b, vks_dtype dt, size_t n, double *host) {
    if (dt != VKS_DTYPE_BF16) return bench_random_buffer(b, dt, n, -1, 1, host);
    uint16_t *bits = malloc(n * 2);
    if (!bits) return NULL;
    for (size_t i = 0; i < n; ++i) {
        float f = (float)bench_uniform(&b->seed, -1, 1);
        uint32_t u;
        memcpy(&u, &f, 4);
        bits[i] = (uint16_t)((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
        if (host) {
            u = (uint32_t)bits[i] << 16;
            memcpy(&f, &u, 4);
            host[i] = f;
        }
    }
    vks_buffer *buf = NULL;
    if (vks_buffer_create(b->ctx, n * 2, &buf) == VKS_OK && vks_buffer_write(buf, 0, bits, n * 2) != VKS_OK) {
        vks_buffer_destroy(buf);
        buf = NULL;
    }
    free(bits);
    return buf;
}

/* Eigenvalues (ascending) of the m x m Gram matrix x x^T (x m x n, f64 on the host), on the
 * device in float64; optionally the eigenvectors (m x m). */
static vks_status gram_eigh(bench_ctx *b, const double *x, int64_t m, int64_t n, double *w, double *v) {
    vks_buffer *X = upload_f64(b, x, (size_t)(m * n)), *G = NULL, *W = NULL, *V = NULL;
    vks_status st = X ? VKS_OK : VKS_ERROR_OUT_OF_DEVICE_MEMORY;
    if (st == VKS_OK) st = vks_buffer_create(b->ctx, (uint64_t)(m * m) * 8, &G);
    if (st == VKS_OK) st = vks_buffer_create(b->ctx, (uint64_t)m * 8, &W);
    if (st == VKS_OK) st = vks_buffer_create(b->ctx, (uint64_t)(m * m) * 8, &V);
    if (st == VKS_OK) {
        vks_tensor tx = vks_tensor_2d(X, VKS_DTYPE_F64, m, n), tg = vks_tensor_2d(G, VKS_DTYPE_F64, m, m);
        vks_tensor tw = vks_tensor_1d(W, VKS_DTYPE_F64, m), tv = vks_tensor_2d(V, VKS_DTYPE_F64, m, m);
        st = vks_syrk(b->ctx, VKS_NO_TRANS, 1.0, &tx, 0.0, &tg, 1);
        if (st == VKS_OK) st = vks_eigh(b->ctx, &tg, &tw, &tv);
        if (st == VKS_OK) st = vks_buffer_read(W, 0, w, (uint64_t)m * 8);
        if (st == VKS_OK && v) st = vks_buffer_read(V, 0, v, (uint64_t)(m * m) * 8);
    }
    vks_buffer_destroy(X), vks_buffer_destroy(G), vks_buffer_destroy(W), vks_buffer_destroy(V);
    return st;
}

/* C = A B in float64 on the device (A m x k, B k x n, host arrays; trans_a: A given as k x m). */
static vks_status gemm_f64(bench_ctx *b, const double *a, bool trans_a, const double *bm, int64_t m, int64_t n, int64_t k,
                           double *c) {
    vks_buffer *A = upload_f64(b, a, (size_t)(m * k)), *B = upload_f64(b, bm, (size_t)(k * n)), *C = NULL;
    vks_status st = (A && B) ? vks_buffer_create(b->ctx, (uint64_t)(m * n) * 8, &C) : VKS_ERROR_OUT_OF_DEVICE_MEMORY;
    if (st == VKS_OK) {
        vks_tensor ta = trans_a ? vks_tensor_2d(A, VKS_DTYPE_F64, k, m) : vks_tensor_2d(A, VKS_DTYPE_F64, m, k);
        vks_tensor tb = vks_tensor_2d(B, VKS_DTYPE_F64, k, n), tc = vks_tensor_2d(C, VKS_DTYPE_F64, m, n);
        st = vks_gemm(b->ctx, trans_a ? VKS_TRANS : VKS_NO_TRANS, VKS_NO_TRANS, 1.0, &ta, &tb, 0.0, &tc);
        if (st == VKS_OK) st = vks_buffer_read(C, 0, c, (uint64_t)(m * n) * 8);
    }
    vks_buffer_destroy(A), vks_buffer_destroy(B), vks_buffer_destroy(C);
    return st;
}

/* orth_err = max |sigma_i(x) - 1|; polar_err = ||x - polar(g)||_2 with polar(g) = U L^-1/2 U^T g
 * from g g^T = U L U^T; all in float64 on the device. x, g: m x n (m <= n), host arrays. */
static vks_status ns_errors(bench_ctx *b, const double *x, const double *g, int64_t m, int64_t n, double *orth,
                            double *polar) {
    double *w = malloc(sizeof(double) * (size_t)m), *u = malloc(sizeof(double) * (size_t)(m * m));
    double *us = malloc(sizeof(double) * (size_t)(m * m)), *t = malloc(sizeof(double) * (size_t)(m * n));
    double *p = malloc(sizeof(double) * (size_t)(m * n));
    vks_status st = (w && u && us && t && p) ? gram_eigh(b, x, m, n, w, NULL) : VKS_ERROR_OUT_OF_HOST_MEMORY;
    *orth = 0;
    for (int64_t i = 0; st == VKS_OK && i < m; ++i) *orth = fmax(*orth, fabs(sqrt(fmax(w[i], 0)) - 1));
    if (st == VKS_OK) st = gram_eigh(b, g, m, n, w, u);
    if (st == VKS_OK) { /* us = U L^-1/2, t = us^T g, p = U t */
        for (int64_t i = 0; i < m; ++i)
            for (int64_t k = 0; k < m; ++k) us[i * m + k] = w[k] > 0 ? u[i * m + k] / sqrt(w[k]) : 0;
        st = gemm_f64(b, us, true, g, m, n, m, t);
    }
    if (st == VKS_OK) st = gemm_f64(b, u, false, t, m, n, m, p);
    if (st == VKS_OK) {
        for (int64_t i = 0; i < m * n; ++i) p[i] = x[i] - p[i];
        st = gram_eigh(b, p, m, n, w, NULL);
        *polar = st == VKS_OK ? sqrt(fmax(w[m - 1], 0)) : NAN;
    }
    free(w), free(u), free(us), free(t), free(p);
    return st;
}

/* ---- Newton-Schulz ------------------------------------------------------------------------- */

typedef struct ns_bench {
    bench_ctx *b;
    vks_dtype dt;
    int64_t batch, m, n;
    vks_ns_schedule schedule;
    vks_ns_gram gram;
    uint32_t flags;
    vks_buffer *g[MAX_SETS], *out[MAX_SETS], *status;
} ns_bench;

static vks_status record_ns(void *user, int set) {
    ns_bench *t = user;
    int64_t shape[3] = {t->batch, t->m, t->n};
    vks_tensor g = vks_tensor_make(t->g[set], 0, t->dt, t->batch > 1 ? 3 : 2, t->batch > 1 ? shape : shape + 1);
    vks_tensor o = g;
    o.buffer = t->out[set];
    vks_tensor s = vks_tensor_1d(t->status, VKS_DTYPE_I32, t->batch);
    vks_newton_schulz_options opt = VKS_NEWTON_SCHULZ_OPTIONS_INIT;
    opt.schedule = t->schedule, opt.gram = t->gram, opt.status = &s, opt.flags = t->flags;
    return vks_newton_schulz(t->b->ctx, &g, &o, &opt);
}

static vks_status run_ns(bench_ctx *b, vks_ns_schedule schedule, vks_dtype dt, int64_t batch, int64_t m, int64_t n,
                         vks_ns_gram gram, bool errors, uint32_t flags) {
    const size_t es = dt_size(dt), numel = (size_t)(batch * m * n);
    ns_bench t = {.b = b, .dt = dt, .batch = batch, .m = m, .n = n, .schedule = schedule, .gram = gram, .flags = flags};
    const int nsets = bench_sets(b, 2.0 * (double)numel * (double)es);
    double *host = malloc(sizeof(double) * numel);
    vks_status st = host ? vks_buffer_create(b->ctx, 4 * (uint64_t)batch, &t.status) : VKS_ERROR_OUT_OF_HOST_MEMORY;
    for (int s = 0; s < nsets && st == VKS_OK; ++s) {
        t.g[s] = random_buffer(b, dt, numel, s == 0 ? host : NULL);
        if (!t.g[s] || vks_buffer_create(b->ctx, numel * es, &t.out[s]) != VKS_OK) st = VKS_ERROR_OUT_OF_DEVICE_MEMORY;
    }
    const int64_t mm = m < n ? m : n, nn = m < n ? n : m;
    const bool half = dt == VKS_DTYPE_F16 || dt == VKS_DTYPE_BF16;
    const bool coopmat = half && !b->cpu && (b->info.features & VKS_FEATURE_COOPMAT_NV) && !(flags & VKS_NS_NO_TENSOR_CORES);
    const bool gram_used = !coopmat && (gram == VKS_NS_GRAM_ON || (gram == VKS_NS_GRAM_AUTO && nn >= 4 * mm));
    bench_row row = {.op = schedule == VKS_NS_MUON ? "newton_schulz" : "polar_express",
                     .variant = coopmat ? "coopmat" : gram_used ? "gram" : "syrk",
                     .dtype = dt,
                     .max_rel_err = -1};
    snprintf(row.shape, sizeof row.shape, "{\"batch\":%lld,\"m\":%lld,\"n\":%lld,\"steps\":5}", (long long)batch,
             (long long)m, (long long)n);
    row.flops = (double)batch * 5.0 * (4.0 * (double)mm * mm * nn + 2.0 * (double)mm * mm * mm);
    row.bytes = 2.0 * (double)numel * (double)es;
    if (st == VKS_OK) st = bench_time(b, record_ns, &t, nsets, &row);
    if (st == VKS_OK && errors) {
        /* Against the same iteration in float64 on the same (rounded) input, matrix 0. */
        double *got = read_all(t.out[0], dt, (size_t)(m * n));
        vks_buffer *G64 = upload_f64(b, host, (size_t)(m * n)), *O64 = NULL;
        if (got && G64 && vks_buffer_create(b->ctx, (uint64_t)(m * n) * 8, &O64) == VKS_OK) {
            vks_tensor g = vks_tensor_2d(G64, VKS_DTYPE_F64, m, n), o = vks_tensor_2d(O64, VKS_DTYPE_F64, m, n);
            vks_newton_schulz_options opt = VKS_NEWTON_SCHULZ_OPTIONS_INIT;
            opt.schedule = schedule, opt.gram = VKS_NS_GRAM_OFF;
            double *want = NULL;
            if (vks_newton_schulz(b->ctx, &g, &o, &opt) == VKS_OK && (want = read_all(O64, VKS_DTYPE_F64, (size_t)(m * n)))) {
                double e = 0, sc = 0;
                for (int64_t i = 0; i < m * n; ++i) e = fmax(e, fabs(got[i] - want[i])), sc = fmax(sc, fabs(want[i]));
                row.max_rel_err = e / fmax(sc, 1e-300);
            }
            free(want);
            /* The metrics of the issue, in the wide orientation (their float64 eigensolves are
             * slow on lavapipe: up to 256 rows there). */
            if (mm <= (b->cpu ? 256 : 2048)) {
                double *xw = malloc(sizeof(double) * (size_t)(m * n)), *gw = malloc(sizeof(double) * (size_t)(m * n));
                double orth = NAN, polar = NAN;
                if (xw && gw) {
                    for (int64_t i = 0; i < m; ++i)
                        for (int64_t j = 0; j < n; ++j) {
                            const size_t src = (size_t)(i * n + j), dst = m <= n ? src : (size_t)(j * m + i);
                            xw[dst] = got[src], gw[dst] = host[src];
                        }
                    vks_status es2 = ns_errors(b, xw, gw, mm, nn, &orth, &polar);
                    if (es2 == VKS_OK)
                        snprintf(row.extra, sizeof row.extra, "\"orth_err\":%.6g,\"polar_err\":%.6g", orth, polar);
                    else
                        fprintf(stderr, "vks-bench: orth_err/polar_err: %s: %s\n", vks_status_string(es2), vks_last_error(NULL));
                }
                free(xw), free(gw);
            }
        }
        free(got);
        vks_buffer_destroy(G64), vks_buffer_destroy(O64);
    }
    if (st == VKS_OK) bench_report(b, &row);
    if (st == VKS_OK && row.extra[0]) printf("%16s %s\n", "", row.extra);
    for (int s = 0; s < nsets; ++s) vks_buffer_destroy(t.g[s]), vks_buffer_destroy(t.out[s]);
    vks_buffer_destroy(t.status);
    free(host);
    return st;
}

/* ---- SYRK vs GEMM for X X^T ----------------------------------------------------------------- */

typedef struct syrk_bench {
    bench_ctx *b;
    int64_t m, k;
    bool gemm;
    vks_buffer *x[MAX_SETS], *c[MAX_SETS];
} syrk_bench;

static vks_status record_syrk(void *user, int set) {
    syrk_bench *t = user;
    vks_tensor x = vks_tensor_2d(t->x[set], VKS_DTYPE_F32, t->m, t->k), c = vks_tensor_2d(t->c[set], VKS_DTYPE_F32, t->m, t->m);
    if (t->gemm) return vks_gemm(t->b->ctx, VKS_NO_TRANS, VKS_TRANS, 1.0, &x, &x, 0.0, &c);
    return vks_syrk(t->b->ctx, VKS_NO_TRANS, 1.0, &x, 0.0, &c, 1);
}

static vks_status run_syrk(bench_ctx *b, int64_t m, int64_t k) {
    syrk_bench t = {.b = b, .m = m, .k = k};
    const int nsets = bench_sets(b, 4.0 * (double)(m * k + m * m));
    double *host = malloc(sizeof(double) * (size_t)(m * k));
    vks_status st = host ? VKS_OK : VKS_ERROR_OUT_OF_HOST_MEMORY;
    for (int s = 0; s < nsets && st == VKS_OK; ++s) {
        t.x[s] = bench_random_buffer(b, VKS_DTYPE_F32, (size_t)(m * k), -1, 1, s == 0 ? host : NULL);
        if (!t.x[s] || vks_buffer_create(b->ctx, (uint64_t)(m * m) * 4, &t.c[s]) != VKS_OK) st = VKS_ERROR_OUT_OF_DEVICE_MEMORY;
    }
    /* The two variants alternate: the ratio is what to trust on a noisy machine. */
    for (int v = 0; v < 2 && st == VKS_OK; ++v) {
        t.gemm = v == 1;
        bench_row row = {.op = "syrk", .variant = t.gemm ? "gemm" : "syrk", .dtype = VKS_DTYPE_F32, .max_rel_err = -1};
        snprintf(row.shape, sizeof row.shape, "{\"m\":%lld,\"k\":%lld}", (long long)m, (long long)k);
        row.flops = 2.0 * (double)m * m * k; /* X X^T as a GEMM counts it: the work SYRK halves */
        row.bytes = 4.0 * (double)(m * k + m * m);
        st = bench_time(b, record_syrk, &t, nsets, &row);
        if (st != VKS_OK) break;
        double err = 0, sc = 0;
        uint64_t seed = 7;
        for (int q = 0; q < 32; ++q) {
            const int64_t i = (int64_t)bench_uniform(&seed, 0, (double)m), j = (int64_t)bench_uniform(&seed, 0, (double)m);
            double want = 0;
            for (int64_t l = 0; l < k; ++l) want += host[i * k + l] * host[j * k + l];
            const double got = bench_read_value(t.c[0], VKS_DTYPE_F32, (size_t)(i * m + j));
            err = fmax(err, fabs(got - want)), sc = fmax(sc, fabs(want));
        }
        row.max_rel_err = err / fmax(sc, 1e-300);
        bench_report(b, &row);
    }
    for (int s = 0; s < nsets; ++s) vks_buffer_destroy(t.x[s]), vks_buffer_destroy(t.c[s]);
    free(host);
    return st;
}

/* ---- Cholesky, eigh, CholeskyQR2 ------------------------------------------------------------------ */

typedef struct fact_bench {
    bench_ctx *b;
    vks_dtype dt;
    int64_t m, n, batch; /* batch: Cholesky only (a batch of copies of one matrix) */
    int which; /* 0 cholesky, 1 eigh (Jacobi, fixed sweeps), 2 cholqr2, 3 eigh (tridiagonal: LAPACK's pipeline) */
    int sweeps;
    vks_buffer *a[MAX_SETS], *o[MAX_SETS], *w, *r, *info;
} fact_bench;

static vks_status record_fact(void *user, int set) {
    fact_bench *t = user;
    vks_tensor info = vks_tensor_1d(t->info, VKS_DTYPE_I32, t->batch > 1 ? t->batch : 1);
    if (t->which == 0) {
        vks_tensor a = vks_tensor_2d(t->a[set], t->dt, t->n, t->n), l = vks_tensor_2d(t->o[set], t->dt, t->n, t->n);
        if (t->batch > 1)
            a = vks_tensor_3d(t->a[set], t->dt, t->batch, t->n, t->n), l = vks_tensor_3d(t->o[set], t->dt, t->batch, t->n, t->n);
        vks_cholesky_options o = VKS_CHOLESKY_OPTIONS_INIT;
        o.info = &info;
        return vks_cholesky_ex(t->b->ctx, &a, &l, &o);
    }
    if (t->which == 1 || t->which == 3) {
        vks_tensor a = vks_tensor_2d(t->a[set], t->dt, t->n, t->n), v = vks_tensor_2d(t->o[set], t->dt, t->n, t->n);
        vks_tensor w = vks_tensor_1d(t->w, t->dt, t->n);
        vks_eigh_options o = VKS_EIGH_OPTIONS_INIT;
        o.info = &info;
        if (t->which == 1) o.fixed_sweeps = t->sweeps, o.method = VKS_EIGH_JACOBI;
        else o.method = VKS_EIGH_TRIDIAGONAL;
        return vks_eigh_ex(t->b->ctx, &a, &w, &v, &o);
    }
    vks_tensor a = vks_tensor_2d(t->a[set], t->dt, t->m, t->n), q = vks_tensor_2d(t->o[set], t->dt, t->m, t->n);
    vks_tensor r = vks_tensor_2d(t->r, t->dt, t->n, t->n);
    vks_cholqr_options o = VKS_CHOLQR_OPTIONS_INIT;
    o.mode = VKS_CHOLQR_2, o.info = &info;
    return vks_cholqr(t->b->ctx, &a, &q, &r, &o);
}

/* SPD test matrices: B B^T / n + I (batch copies of it). */
static vks_buffer *spd_buffer(bench_ctx *b, vks_dtype dt, int64_t n, int64_t batch, double *host) {
    double *x = malloc(sizeof(double) * (size_t)(n * n));
    if (!x) return NULL;
    for (int64_t i = 0; i < n * n; ++i) x[i] = bench_uniform(&b->seed, -1, 1);
    vks_buffer *X = upload_f64(b, x, (size_t)(n * n)), *G = NULL, *out = NULL;
    if (X && vks_buffer_create(b->ctx, (uint64_t)(n * n) * 8, &G) == VKS_OK) {
        vks_tensor tx = vks_tensor_2d(X, VKS_DTYPE_F64, n, n), tg = vks_tensor_2d(G, VKS_DTYPE_F64, n, n);
        if (vks_syrk(b->ctx, VKS_NO_TRANS, 1.0 / (double)n, &tx, 0.0, &tg, 1) == VKS_OK) {
            double *g = read_all(G, VKS_DTYPE_F64, (size_t)(n * n));
            if (g) {
                for (int64_t i = 0; i < n; ++i) g[i * n + i] += 1.0;
                const size_t es = dt_size(dt);
                uint8_t *raw = malloc((size_t)(n * n) * es);
                for (int64_t i = 0; raw && i < n * n; ++i) {
                    if (dt == VKS_DTYPE_F64) memcpy(raw + 8 * i, &g[i], 8);
                    else {
                        float f = (float)g[i];
                        memcpy(raw + 4 * i, &f, 4);
                        g[i] = f;
                    }
                }
                if (host) memcpy(host, g, sizeof(double) * (size_t)(n * n));
                if (raw && vks_buffer_create(b->ctx, (uint64_t)(batch * n * n) * es, &out) == VKS_OK)
                    for (int64_t z = 0; z < batch; ++z)
                        vks_buffer_write(out, (uint64_t)(z * n * n) * es, raw, (uint64_t)(n * n) * es);
                free(raw), free(g);
            }
        }
    }
    vks_buffer_destroy(X), vks_buffer_destroy(G);
    free(x);
    return out;
}

static vks_status run_fact_batch(bench_ctx *b, int which, vks_dtype dt, int64_t m, int64_t n, int64_t batch) {
    const size_t es = dt_size(dt);
    fact_bench t = {.b = b, .dt = dt, .m = m, .n = n, .batch = batch, .which = which, .sweeps = dt == VKS_DTYPE_F64 ? 14 : 10};
    const int64_t rows = which == 2 ? m : n;
    const int nsets = bench_sets(b, 2.0 * (double)(batch * rows * n) * (double)es);
    double *host = malloc(sizeof(double) * (size_t)(rows * n));
    vks_status st = host ? VKS_OK : VKS_ERROR_OUT_OF_HOST_MEMORY;
    if (st == VKS_OK) st = vks_buffer_create(b->ctx, 4 * (uint64_t)(batch > 16 ? batch : 16), &t.info);
    if (st == VKS_OK) st = vks_buffer_create(b->ctx, (uint64_t)n * es, &t.w);
    if (st == VKS_OK) st = vks_buffer_create(b->ctx, (uint64_t)(n * n) * es, &t.r);
    for (int s = 0; s < nsets && st == VKS_OK; ++s) {
        t.a[s] = which == 2 ? bench_random_buffer(b, dt, (size_t)(m * n), -1, 1, s == 0 ? host : NULL)
                            : spd_buffer(b, dt, n, batch, s == 0 ? host : NULL);
        if (!t.a[s] || vks_buffer_create(b->ctx, (uint64_t)(batch * rows * n) * es, &t.o[s]) != VKS_OK)
            st = VKS_ERROR_OUT_OF_DEVICE_MEMORY;
    }
    static const char *const ops[] = {"cholesky", "eigh", "cholqr2", "eigh"};
    static const char *const variants[] = {"blocked", "jacobi", "cholqr2", "tridiagonal"};
    bench_row row = {.op = ops[which], .variant = variants[which], .dtype = dt, .max_rel_err = -1};
    const double nd = (double)n, md = (double)m;
    if (which == 0) {
        if (batch > 1) snprintf(row.shape, sizeof row.shape, "{\"batch\":%lld,\"n\":%lld}", (long long)batch, (long long)n);
        else snprintf(row.shape, sizeof row.shape, "{\"n\":%lld}", (long long)n);
        row.flops = (double)batch * nd * nd * nd / 3, row.bytes = 2 * (double)batch * nd * nd * (double)es;
    } else if (which == 3) {
        snprintf(row.shape, sizeof row.shape, "{\"n\":%lld}", (long long)n);
        row.flops = 9 * nd * nd * nd, row.bytes = 2 * nd * nd * (double)es;
    } else if (which == 1) {
        snprintf(row.shape, sizeof row.shape, "{\"n\":%lld,\"sweeps\":%d}", (long long)n, t.sweeps);
        row.flops = 9 * nd * nd * nd, row.bytes = 2 * nd * nd * (double)es; /* LAPACK's count for eigenvectors */
    } else {
        snprintf(row.shape, sizeof row.shape, "{\"m\":%lld,\"n\":%lld}", (long long)m, (long long)n);
        row.flops = 2 * (3 * md * nd * nd + nd * nd * nd), row.bytes = 2 * md * nd * (double)es;
    }
    /* The tridiagonal path's host stage is invisible to the timestamps: the wall clock. */
    if (st == VKS_OK) st = which == 3 ? bench_time_wall(b, record_fact, &t, nsets, &row) : bench_time(b, record_fact, &t, nsets, &row);
    if (st == VKS_OK) st = record_fact(&t, 0); /* w and r are shared by the sets: set 0's again */
    if (st == VKS_OK) {
        /* The residual on sampled entries: L L^T - A, A V - V W (columns), Q R - A. */
        const bool eig = which == 1 || which == 3;
        double *o = read_all(t.o[0], dt, (size_t)(rows * n)), *w = eig ? read_all(t.w, dt, (size_t)n) : NULL;
        double *r = which == 2 ? read_all(t.r, dt, (size_t)(n * n)) : NULL;
        double err = 0, sc = 0;
        uint64_t seed = 11;
        for (int q = 0; o && q < 48; ++q) {
            const int64_t i = (int64_t)bench_uniform(&seed, 0, (double)rows), j = (int64_t)bench_uniform(&seed, 0, (double)n);
            double got = 0, want = host[i * n + j];
            if (which == 0)
                for (int64_t k = 0; k < n; ++k) got += o[i * n + k] * o[j * n + k];
            else if (eig) {
                for (int64_t k = 0; k < n; ++k) got += host[i * n + k] * o[k * n + j];
                want = o[i * n + j] * w[j];
            } else
                for (int64_t k = 0; k < n; ++k) got += o[i * n + k] * r[k * n + j];
            err = fmax(err, fabs(got - want)), sc = fmax(sc, fabs(eig ? w[n - 1] : host[i * n + j]));
        }
        if (o) row.max_rel_err = err / fmax(sc, 1e-300);
        free(o), free(w), free(r);
        bench_report(b, &row);
    }
    for (int s = 0; s < nsets; ++s) vks_buffer_destroy(t.a[s]), vks_buffer_destroy(t.o[s]);
    vks_buffer_destroy(t.w), vks_buffer_destroy(t.r), vks_buffer_destroy(t.info);
    free(host);
    return st;
}

static vks_status run_fact(bench_ctx *b, int which, vks_dtype dt, int64_t m, int64_t n) {
    return run_fact_batch(b, which, dt, m, n, 1);
}

/* VKS_BENCH_ORTHOGONAL=ns,syrk,fact runs only those parts (development; default all);
 * =chol runs only the Cholesky sweep below (not part of the default run). */
static bool part(const char *name) {
    const char *only = getenv("VKS_BENCH_ORTHOGONAL");
    return !only || strstr(only, name) != NULL;
}

/* Cholesky alone, f32 and f64: ragged and blocked sizes, a batch of 16 at n = 128 and of 64 at 96
 * (issue 13's measurement of the diagonal-block kernel; the numpy peer's cholesky rows). */
static vks_status bench_cholesky_sweep(bench_ctx *b, bool f64) {
    /* VKS_BENCH_CHOL=n,batch,f32|f64 runs that one case (development: interleaved A/B runs). */
    const char *one = getenv("VKS_BENCH_CHOL");
    if (one) {
        long long n = 0, batch = 1;
        char dt[8] = "f32";
        if (sscanf(one, "%lld,%lld,%7s", &n, &batch, dt) < 1 || n < 1 || batch < 1) return VKS_ERROR_INVALID_ARGUMENT;
        const bool d = strcmp(dt, "f64") == 0;
        if (d && !f64) return VKS_OK;
        return run_fact_batch(b, 0, d ? VKS_DTYPE_F64 : VKS_DTYPE_F32, 0, n, batch);
    }
    static const int64_t ns[] = {100, 256, 512, 1024};
    for (int d = 0; d < (f64 ? 2 : 1); ++d) {
        const vks_dtype dt = d ? VKS_DTYPE_F64 : VKS_DTYPE_F32;
        for (size_t i = 0; i < (b->quick ? 2u : 4u); ++i) BENCH_TRY(run_fact(b, 0, dt, 0, ns[i]));
        BENCH_TRY(run_fact_batch(b, 0, dt, 0, 128, 16));
        BENCH_TRY(run_fact_batch(b, 0, dt, 0, 96, 64)); /* dominated by the diagonal blocks */
    }
    return VKS_OK;
}

vks_status bench_orthogonal(bench_ctx *b) {
    const bool bf16 = (b->info.features & VKS_FEATURE_STORAGE16) != 0, f64 = (b->info.features & VKS_FEATURE_FLOAT64) != 0;
    const vks_ns_schedule sch[2] = {VKS_NS_MUON, VKS_NS_POLAR_EXPRESS};
    const char *only = getenv("VKS_BENCH_ORTHOGONAL");
    if (only && strcmp(only, "chol") == 0) return bench_cholesky_sweep(b, f64);
    if (b->cpu) {
        static const int64_t shapes[][2] = {{256, 256}, {512, 512}, {256, 1024}};
        const size_t count = b->quick ? 1 : 3;
        for (int s = 0; s < 2 && part("ns"); ++s)
            for (size_t i = 0; i < count; ++i)
                BENCH_TRY(run_ns(b, sch[s], VKS_DTYPE_F32, 1, shapes[i][0], shapes[i][1], VKS_NS_GRAM_AUTO, true, 0));
        if (!b->quick && part("ns")) BENCH_TRY(run_ns(b, VKS_NS_MUON, VKS_DTYPE_F32, 1, 256, 1024, VKS_NS_GRAM_OFF, false, 0));
        if (part("syrk")) BENCH_TRY(run_syrk(b, 256, 256));
        if (!b->quick && part("syrk")) BENCH_TRY(run_syrk(b, 512, 512));
        if (!part("fact")) return VKS_OK;
        BENCH_TRY(run_fact(b, 0, VKS_DTYPE_F32, 0, b->quick ? 128 : 256));
        BENCH_TRY(run_fact(b, 1, VKS_DTYPE_F32, 0, b->quick ? 64 : 128));
        BENCH_TRY(run_fact(b, 2, VKS_DTYPE_F32, b->quick ? 2048 : 4096, 64));
        /* The rows beside numpy's eigh / cholesky (orthogonal_numpy.py): f64. */
        if (f64) {
            static const int64_t ef[] = {256, 512, 1024};
            for (size_t i = 0; i < (b->quick ? 1u : 3u); ++i) {
                BENCH_TRY(run_fact(b, 3, VKS_DTYPE_F64, 0, ef[i]));
                BENCH_TRY(run_fact(b, 0, VKS_DTYPE_F64, 0, ef[i]));
            }
        }
        return VKS_OK;
    }
    /* GPUs: the sizes with the error metrics, then the torch comparison's sizes. */
    static const int64_t shapes[][3] = {{1, 256, 256}, {1, 512, 512}, {1, 1024, 1024}, {1, 2048, 2048}, {1, 1024, 4096}};
    const size_t count = b->quick ? 3 : 5;
    for (int s = 0; s < 2 && part("ns"); ++s)
        for (size_t i = 0; i < count; ++i)
            BENCH_TRY(run_ns(b, sch[s], VKS_DTYPE_F32, shapes[i][0], shapes[i][1], shapes[i][2], VKS_NS_GRAM_AUTO, true, 0));
    if (!b->quick && part("ns")) {
        BENCH_TRY(run_ns(b, VKS_NS_MUON, VKS_DTYPE_F32, 1, 1024, 4096, VKS_NS_GRAM_OFF, false, 0));
        static const int64_t peer[][3] = {{1, 4096, 4096}, {1, 4096, 11008}, {8, 1024, 1024}};
        for (int s = 0; s < 2; ++s)
            for (int d = 0; d < 2; ++d)
                for (size_t i = 0; i < 3; ++i) {
                    if (d == 1 && !bf16) continue;
                    BENCH_TRY(run_ns(b, sch[s], d ? VKS_DTYPE_BF16 : VKS_DTYPE_F32, peer[i][0], peer[i][1], peer[i][2],
                                     VKS_NS_GRAM_AUTO, false, 0));
                }
        /* bf16 without tensor cores (f32 iteration), for the comparison. */
        if (bf16 && (b->info.features & VKS_FEATURE_COOPMAT_NV))
            BENCH_TRY(run_ns(b, VKS_NS_MUON, VKS_DTYPE_BF16, 1, 4096, 4096, VKS_NS_GRAM_AUTO, false, VKS_NS_NO_TENSOR_CORES));
        /* bf16 with errors: the tensor-core path's orth_err/polar_err at 1024. */
        if (bf16) BENCH_TRY(run_ns(b, VKS_NS_MUON, VKS_DTYPE_BF16, 1, 1024, 1024, VKS_NS_GRAM_AUTO, true, 0));
    }
    static const int64_t sy[] = {1024, 2048, 4096};
    for (size_t i = 0; i < (b->quick ? 1u : 3u) && part("syrk"); ++i) BENCH_TRY(run_syrk(b, sy[i], sy[i]));
    if (!part("fact")) return VKS_OK;
    static const int64_t ch[] = {256, 1024, 2048};
    for (size_t i = 0; i < (b->quick ? 1u : 3u); ++i) {
        BENCH_TRY(run_fact(b, 0, VKS_DTYPE_F32, 0, ch[i]));
        if (f64 && !b->quick) BENCH_TRY(run_fact(b, 0, VKS_DTYPE_F64, 0, ch[i]));
    }
    static const int64_t ei[] = {128, 512, 1024, 2048};
    for (size_t i = 0; i < (b->quick ? 2u : 4u); ++i) {
        BENCH_TRY(run_fact(b, 1, VKS_DTYPE_F32, 0, ei[i]));
        if (f64 && !b->quick) BENCH_TRY(run_fact(b, 1, VKS_DTYPE_F64, 0, ei[i]));
    }
    static const int64_t cq[][2] = {{16384, 256}, {65536, 128}, {32768, 512}};
    for (size_t i = 0; i < (b->quick ? 1u : 3u); ++i) BENCH_TRY(run_fact(b, 2, VKS_DTYPE_F32, cq[i][0], cq[i][1]));
    return VKS_OK;
}
