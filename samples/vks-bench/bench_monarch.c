/* monarch rows: y = x M^T for a square Monarch layer (fly's MonarchLinear(n, n, nblocks)
 * weight shapes), as
 *   fused     one dispatch, the intermediate on chip (VKS_MONARCH_PATH_FUSED)
 *   two_pass  two dispatches, the permutations folded into the addressing
 *   unfused   the peers' way: 2 block-diagonal GEMMs + 2 explicit permutation passes
 *   dense     vkstruct's GEMM with the equivalent dense M (m x n)
 * Variants are timed in alternating rounds (each round times every variant once) and the
 * median over rounds is reported, so that a slow phase of a busy machine hits all alike. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

enum { V_FUSED, V_TWO_PASS, V_UNFUSED, V_DENSE, V_COUNT };
static const char *const variant_names[V_COUNT] = {"fused", "two_pass", "unfused", "dense"};

typedef struct monarch_bench {
    bench_ctx *b;
    vks_dtype dt;
    int64_t n, nblocks, batch;
    int64_t w1s[3], w2s[3];
    int nsets;
    int variant;
    vks_buffer *x[16], *y[16], *w1[16], *w2[16], *dense[16];
} monarch_bench;

static vks_status record(void *user, int set) {
    monarch_bench *m = user;
    vks_tensor x = vks_tensor_2d(m->x[set], m->dt, m->batch, m->n), y = vks_tensor_2d(m->y[set], m->dt, m->batch, m->n);
    if (m->variant == V_DENSE) {
        vks_tensor d = vks_tensor_2d(m->dense[set], m->dt, m->n, m->n);
        return vks_gemm(m->b->ctx, VKS_NO_TRANS, VKS_TRANS, 1.0, &x, &d, 0.0, &y);
    }
    vks_tensor w1 = vks_tensor_3d(m->w1[set], m->dt, m->w1s[0], m->w1s[1], m->w1s[2]);
    vks_tensor w2 = vks_tensor_3d(m->w2[set], m->dt, m->w2s[0], m->w2s[1], m->w2s[2]);
    vks_monarch_desc d = VKS_MONARCH_DESC_INIT;
    d.x = &x, d.w1 = &w1, d.w2 = &w2, d.y = &y;
    d.path = m->variant == V_FUSED ? VKS_MONARCH_PATH_FUSED
             : m->variant == V_TWO_PASS ? VKS_MONARCH_PATH_TWO_PASS : VKS_MONARCH_PATH_UNFUSED;
    return vks_monarch_forward(m->b->ctx, &d);
}

/* The dense M of (w1, w2) in float64: M[t*l + li, i*p + a] sums w2[li, t, rho] w1[i, j, a]
 * over the rho whose intermediate channel c = rho*l + li comes from w1's block i = c / q
 * (j = c % q): the reference's middle permutation. */
static double *dense_of(const double *w1, const int64_t *s1, const double *w2, const int64_t *s2) {
    const int64_t k = s1[0], q = s1[1], p = s1[2], l = s2[0], s = s2[1], r = s2[2];
    double *m = calloc((size_t)(l * s * k * p), sizeof *m);
    if (!m) return NULL;
    for (int64_t li = 0; li < l; ++li)
        for (int64_t rho = 0; rho < r; ++rho) {
            const int64_t c = rho * l + li, i = c / q, j = c % q;
            for (int64_t t = 0; t < s; ++t) {
                const double w = w2[(li * s + t) * r + rho];
                double *row = m + (t * l + li) * (k * p) + i * p;
                const double *v = w1 + (i * q + j) * p;
                for (int64_t a = 0; a < p; ++a) row[a] += w * v[a];
            }
        }
    return m;
}

static vks_status upload(bench_ctx *b, vks_dtype dt, const double *host, size_t n, vks_buffer **out) {
    size_t es = 0;
    vks_dtype_size(dt, &es);
    uint8_t *bytes = malloc(n * es);
    if (!bytes) return VKS_ERROR_OUT_OF_HOST_MEMORY;
    for (size_t i = 0; i < n; ++i) {
        if (dt == VKS_DTYPE_F32) {
            float f = (float)host[i];
            memcpy(bytes + 4 * i, &f, 4);
        } else { /* f16, rounded to nearest even (normal range: M's entries are moderate) */
            float f = (float)host[i];
            uint32_t u;
            memcpy(&u, &f, 4);
            uint32_t sign = (u >> 16) & 0x8000u, mant = u & 0x7FFFFFu;
            int e = (int)((u >> 23) & 0xFF) - 127 + 15;
            uint16_t h = (uint16_t)sign;
            if (e >= 31) h = (uint16_t)(sign | 0x7C00u);
            else if (e > 0) {
                uint32_t hv = ((uint32_t)e << 10) | (mant >> 13), rem = mant & 0x1FFFu;
                if (rem > 0x1000u || (rem == 0x1000u && (hv & 1))) ++hv;
                h = (uint16_t)(sign | hv);
            }
            memcpy(bytes + 2 * i, &h, 2);
        }
    }
    vks_status st = vks_buffer_create(b->ctx, n * es, out);
    if (st == VKS_OK) st = vks_buffer_write(*out, 0, bytes, n * es);
    free(bytes);
    return st;
}

/* Error on 64 sampled entries of set 0's output against the float64 dense product. */
static double sampled_error(monarch_bench *m, const double *x, const double *dense) {
    double err = 0, scale = 0;
    uint64_t s = 777;
    for (int t = 0; t < 64; ++t) {
        const int64_t b = (int64_t)bench_uniform(&s, 0, (double)m->batch), o = (int64_t)bench_uniform(&s, 0, (double)m->n);
        double want = 0;
        for (int64_t i = 0; i < m->n; ++i) want += dense[o * m->n + i] * x[b * m->n + i];
        const double got = bench_read_value(m->y[0], m->dt, (size_t)(b * m->n + o));
        if (!isfinite(got)) return INFINITY;
        err = fmax(err, fabs(got - want));
        scale = fmax(scale, fabs(want));
    }
    return err / fmax(scale, 1e-300);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static vks_status run(bench_ctx *b, vks_dtype dt, int64_t n, int64_t nblocks, int64_t batch) {
    monarch_bench m = {.b = b, .dt = dt, .n = n, .nblocks = nblocks, .batch = batch};
    BENCH_TRY(vks_monarch_linear_shapes(n, n, nblocks, m.w1s, m.w2s));
    size_t es = 0;
    vks_dtype_size(dt, &es);
    const int64_t n1 = m.w1s[0] * m.w1s[1] * m.w1s[2], n2 = m.w2s[0] * m.w2s[1] * m.w2s[2];
    /* Rotation covers everything one call of the largest variant touches (dense M included). */
    m.nsets = bench_sets(b, (double)(2 * batch * n + n * n + n1 + n2) * (double)es);
    double *hx = malloc(sizeof(double) * (size_t)(batch * n)), *hw1 = malloc(sizeof(double) * (size_t)n1);
    double *hw2 = malloc(sizeof(double) * (size_t)n2);
    vks_status st = hx && hw1 && hw2 ? VKS_OK : VKS_ERROR_OUT_OF_HOST_MEMORY;
    double *dense0 = NULL;
    for (int s = 0; s < m.nsets && st == VKS_OK; ++s) {
        /* Weights scaled like a trained layer's (|entries| ~ 1/sqrt(fan-in)), so f16 stays in range. */
        const double a1 = 1.0 / sqrt((double)m.w1s[2]), a2 = 1.0 / sqrt((double)m.w2s[2]);
        m.x[s] = bench_random_buffer(b, dt, (size_t)(batch * n), -1, 1, s == 0 ? hx : NULL);
        /* hw1/hw2 end up holding the last set's weights; set 0's dense M is kept for the error. */
        m.w1[s] = bench_random_buffer(b, dt, (size_t)n1, -a1, a1, hw1);
        m.w2[s] = bench_random_buffer(b, dt, (size_t)n2, -a2, a2, hw2);
        if (!m.x[s] || !m.w1[s] || !m.w2[s]) st = VKS_ERROR_OUT_OF_DEVICE_MEMORY;
        if (st == VKS_OK) st = vks_buffer_create(b->ctx, (uint64_t)(batch * n) * es, &m.y[s]);
        if (st == VKS_OK) { /* every set's dense M from its own (rounded) weights */
            double *dm = dense_of(hw1, m.w1s, hw2, m.w2s);
            st = dm ? upload(b, dt, dm, (size_t)(n * n), &m.dense[s]) : VKS_ERROR_OUT_OF_HOST_MEMORY;
            if (s == 0) dense0 = dm;
            else free(dm);
        }
    }
    int32_t fusable = 0;
    if (st == VKS_OK) {
        vks_tensor w1 = vks_tensor_3d(m.w1[0], dt, m.w1s[0], m.w1s[1], m.w1s[2]);
        vks_tensor w2 = vks_tensor_3d(m.w2[0], dt, m.w2s[0], m.w2s[1], m.w2s[2]);
        st = vks_monarch_fusable(b->ctx, &w1, &w2, batch, &fusable);
    }
    bench_row rows[V_COUNT];
    const int rounds = b->quick ? 1 : 3;
    double med[V_COUNT][8], mins[V_COUNT];
    for (int v = 0; v < V_COUNT; ++v) mins[v] = INFINITY;
    for (int round = 0; round < rounds && st == VKS_OK; ++round)
        for (int v = 0; v < V_COUNT && st == VKS_OK; ++v) {
            if (v == V_FUSED && !fusable) continue;
            m.variant = v;
            bench_row *row = &rows[v];
            *row = (bench_row){.op = "monarch", .variant = variant_names[v], .dtype = dt};
            st = bench_time(b, record, &m, m.nsets, row);
            med[v][round] = row->median_ms;
            mins[v] = fmin(mins[v], row->min_ms);
        }
    for (int v = 0; v < V_COUNT && st == VKS_OK; ++v) {
        if (v == V_FUSED && !fusable) continue;
        bench_row *row = &rows[v];
        qsort(med[v], (size_t)rounds, sizeof(double), cmp_double);
        row->median_ms = med[v][rounds / 2];
        row->min_ms = mins[v];
        row->iters *= rounds;
        snprintf(row->shape, sizeof row->shape, "{\"n\":%lld,\"nblocks\":%lld,\"batch\":%lld}", (long long)n,
                 (long long)nblocks, (long long)batch);
        if (v == V_DENSE) {
            row->flops = 2.0 * (double)batch * (double)n * (double)n;
            row->bytes = (double)(2 * batch * n + n * n) * (double)es;
        } else {
            row->flops = 2.0 * (double)batch * (double)(n1 + n2);
            row->bytes = (double)(2 * batch * n + n1 + n2) * (double)es;
        }
        /* Opt-in kernels change what a row measures: say so in it. */
        static const char *const switches[] = {"", "0", "1"}, *const coopmats[] = {"", "0", "1", "emulate"};
        const char *grouped = switches[b->tuning.monarch_grouped], *coopmat = coopmats[b->tuning.monarch_coopmat];
        snprintf(row->extra, sizeof row->extra,
                 "\"w1\":[%lld,%lld,%lld],\"w2\":[%lld,%lld,%lld],\"rounds\":%d,\"grouped\":\"%s\",\"coopmat\":\"%s\"",
                 (long long)m.w1s[0], (long long)m.w1s[1], (long long)m.w1s[2], (long long)m.w2s[0],
                 (long long)m.w2s[1], (long long)m.w2s[2], rounds, grouped, coopmat);
        /* Re-run set 0 once more for the error (the rotation left another set's output last). */
        m.variant = v;
        st = record(&m, 0);
        if (st == VKS_OK) st = vks_synchronize(b->ctx);
        row->max_rel_err = st == VKS_OK ? sampled_error(&m, hx, dense0) : -1;
        if (st == VKS_OK) bench_report(b, row);
    }
    if (st == VKS_OK && fusable && rows[V_FUSED].median_ms > 0)
        printf("  -> fused vs dense %.2fx, vs unfused %.2fx, vs two-pass %.2fx\n",
               rows[V_DENSE].median_ms / rows[V_FUSED].median_ms, rows[V_UNFUSED].median_ms / rows[V_FUSED].median_ms,
               rows[V_TWO_PASS].median_ms / rows[V_FUSED].median_ms);
    for (int s = 0; s < m.nsets; ++s) {
        vks_buffer_destroy(m.x[s]), vks_buffer_destroy(m.y[s]), vks_buffer_destroy(m.w1[s]);
        vks_buffer_destroy(m.w2[s]), vks_buffer_destroy(m.dense[s]);
    }
    free(hx), free(hw1), free(hw2), free(dense0);
    if (st != VKS_OK) fprintf(stderr, "vks-bench: monarch n=%lld nblocks=%lld batch=%lld: %s: %s\n", (long long)n,
                              (long long)nblocks, (long long)batch, vks_status_string(st), vks_last_error(NULL));
    return st;
}

vks_status bench_monarch(bench_ctx *b) {
    /* (n, nblocks, batch): the n=1024/nblocks=32/batch 256, decode-like batches 1..16,
     * other block counts; on GPUs the n=4096/nblocks=64 at batch 16384 and 16. */
    static const int64_t cpu_sizes[][3] = {{1024, 32, 256}, {1024, 32, 1}, {1024, 32, 4},  {1024, 32, 16},
                                           {1024, 16, 256}, {1024, 4, 256}, {512, 16, 256}, {4096, 64, 16}};
    static const int64_t gpu_sizes[][3] = {{4096, 64, 16384}, {4096, 64, 16},   {4096, 64, 1},  {4096, 64, 256},
                                           {1024, 32, 256},   {1024, 32, 1},    {1024, 32, 16}, {1024, 32, 16384},
                                           {4096, 16, 16384}, {8192, 64, 4096}};
    const int64_t(*sizes)[3] = b->cpu ? cpu_sizes : gpu_sizes;
    size_t count = b->cpu ? sizeof cpu_sizes / sizeof cpu_sizes[0] : sizeof gpu_sizes / sizeof gpu_sizes[0];
    if (b->quick) count = 2;
    const char *only = getenv("VKS_BENCH_MONARCH"); /* "n,nblocks,batch": one shape (development) */
    const vks_dtype dts[] = {VKS_DTYPE_F32, VKS_DTYPE_F16};
    for (size_t d = 0; d < (b->quick ? 1u : 2u); ++d) {
        if (dts[d] == VKS_DTYPE_F16 && !(b->info.features & VKS_FEATURE_STORAGE16)) continue;
        if (only) {
            long long n, nb, batch;
            if (sscanf(only, "%lld,%lld,%lld", &n, &nb, &batch) == 3) BENCH_TRY(run(b, dts[d], n, nb, batch));
            continue;
        }
        for (size_t i = 0; i < count; ++i) BENCH_TRY(run(b, dts[d], sizes[i][0], sizes[i][1], sizes[i][2]));
    }
    return VKS_OK;
}
