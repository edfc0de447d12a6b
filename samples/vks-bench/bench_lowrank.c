/*
 * Low-rank rows (vks-bench --op lora):
 *   lora        fused    vks_lora_forward: y = x W^T + s (x A^T) B^T, W read once
 *               unfused  the same as separate vkstruct ops: base GEMM, shrink GEMM, expand
 *                        GEMM accumulating into y (beta = 1 is the add)
 *   lora_multi  sgmv     vks_lora_multi_forward, rows grouped by adapter (segments)
 *               bgmv     vks_lora_multi_forward, rows in arrival order with one id each
 *               loop     one vks_lora_forward per adapter present, on its rows
 * Multi-adapter batches draw each row's adapter from 32 adapters with Zipf popularity
 * (p_k ~ 1/(k+1)). Variants of one shape are timed in alternating rounds (the reported
 * time of each is the median over rounds of bench_time's medians), so that a noisy machine
 * shifts them alike. flops count the work of one call, bytes its least traffic: W, the
 * adapters it touches, x and y once.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define MAX_SETS 16
#define MAX_ADAPTERS 32

typedef struct lr_bench {
    bench_ctx *b;
    vks_dtype dt;
    int64_t m, in, out, r;
    double scale;
    int nsets;
    size_t es;
    vks_buffer *x[MAX_SETS], *w[MAX_SETS], *y[MAX_SETS];
    vks_buffer *a[MAX_SETS], *bb[MAX_SETS]; /* lora: one adapter; multi: the packed stack */
    vks_buffer *t;                           /* unfused: the (m, r) intermediate */
    /* multi */
    int32_t nad;
    int32_t ranks[MAX_ADAPTERS];
    double scales[MAX_ADAPTERS];
    int64_t a_off[MAX_ADAPTERS], b_off[MAX_ADAPTERS], a_total, b_total;
    int32_t *row_ids;   /* arrival order (bgmv) */
    int32_t *seg_rows;  /* rows sorted by adapter: seg_rows[j] = row of x used at position j */
    int32_t seg_starts[MAX_ADAPTERS + 1], seg_ids[MAX_ADAPTERS], nseg;
    int32_t *sorted_ids; /* the ids of the sorted batch, for the oracle */
    vks_buffer *xs[MAX_SETS]; /* x with rows sorted by adapter (sgmv and loop read this) */
} lr_bench;

static void free_bench(lr_bench *g) {
    for (int s = 0; s < MAX_SETS; ++s) {
        vks_buffer_destroy(g->x[s]), vks_buffer_destroy(g->w[s]), vks_buffer_destroy(g->y[s]);
        vks_buffer_destroy(g->a[s]), vks_buffer_destroy(g->bb[s]), vks_buffer_destroy(g->xs[s]);
    }
    vks_buffer_destroy(g->t);
    free(g->row_ids), free(g->seg_rows), free(g->sorted_ids);
}

/* The kernels vkstruct picks for m rows (mirrors choose_kernels() in backend/ops/lowrank.c):
 * named in the JSON rows so that reports say what ran. */
static const char *kernel_name(const bench_ctx *b, vks_dtype dt, int64_t m) {
    const vks_splitk_mode splitk = b->tuning.lowrank_splitk;
    if (splitk == VKS_SPLITK_FMA && m <= 64) return "splitk_fma+reduce";
    if (b->cpu_kernels) return m <= 2 ? "shrink+gemv" : "shrink+regtile";
    if (dt == VKS_DTYPE_F16 && (b->info.features & VKS_FEATURE_COOPMAT_NV) && m <= 64 && splitk != VKS_SPLITK_OFF)
        return "splitk_coopmat+reduce"; /* lowrank_splitk.c, single adapter */
    if (m <= 32) return "shrink+gemv";
    if (dt == VKS_DTYPE_F16 && (b->info.features & VKS_FEATURE_COOPMAT_NV)) return "shrink+coopmat_gemm+tiled_expand";
    return "shrink+tiled";
}

/* ---- lora: fused vs unfused --------------------------------------------------------------- */

static vks_status record_fused(void *user, int set) {
    lr_bench *g = user;
    vks_tensor x = vks_tensor_2d(g->x[set], g->dt, g->m, g->in), w = vks_tensor_2d(g->w[set], g->dt, g->out, g->in);
    vks_tensor a = vks_tensor_2d(g->a[set], g->dt, g->r, g->in), b = vks_tensor_2d(g->bb[set], g->dt, g->out, g->r);
    vks_tensor y = vks_tensor_2d(g->y[set], g->dt, g->m, g->out);
    vks_lora_desc d = VKS_LORA_DESC_INIT;
    d.x = &x, d.w = &w, d.a = &a, d.b = &b, d.y = &y, d.scale = g->scale;
    return vks_lora_forward(g->b->ctx, &d);
}

static vks_status record_unfused(void *user, int set) {
    lr_bench *g = user;
    vks_tensor x = vks_tensor_2d(g->x[set], g->dt, g->m, g->in), w = vks_tensor_2d(g->w[set], g->dt, g->out, g->in);
    vks_tensor a = vks_tensor_2d(g->a[set], g->dt, g->r, g->in), b = vks_tensor_2d(g->bb[set], g->dt, g->out, g->r);
    vks_tensor y = vks_tensor_2d(g->y[set], g->dt, g->m, g->out), t = vks_tensor_2d(g->t, g->dt, g->m, g->r);
    BENCH_TRY(vks_gemm(g->b->ctx, VKS_NO_TRANS, VKS_TRANS, 1.0, &x, &w, 0.0, &y));
    BENCH_TRY(vks_gemm(g->b->ctx, VKS_NO_TRANS, VKS_TRANS, 1.0, &x, &a, 0.0, &t));
    return vks_gemm(g->b->ctx, VKS_NO_TRANS, VKS_TRANS, g->scale, &t, &b, 1.0, &y);
}

/* max relative error of y (set 0) on sampled entries against float64:
 * y[i, o] = x_i . W_o + s * sum_q (x_i . A_q) B[o, q], with the adapter of each row. */
typedef struct oracle_in {
    const double *x, *w, *a, *b; /* host copies of set 0 */
    const int32_t *ids;           /* per row of x (multi), NULL: adapter 0 */
} oracle_in;

static double sampled_error(lr_bench *g, const oracle_in *o, vks_buffer *y) {
    double err = 0, scale = 0;
    uint64_t s = 777;
    for (int n = 0; n < 48; ++n) {
        const int64_t i = (int64_t)bench_uniform(&s, 0, (double)g->m);
        const int64_t c = (int64_t)bench_uniform(&s, 0, (double)g->out);
        double want = 0;
        for (int64_t k = 0; k < g->in; ++k) want += o->x[i * g->in + k] * o->w[c * g->in + k];
        const int32_t ad = o->ids ? o->ids[i] : 0;
        if (ad >= 0) {
            const int64_t r = o->ids ? g->ranks[ad] : g->r;
            const double sc = o->ids ? g->scales[ad] : g->scale;
            const double *A = o->a + (o->ids ? g->a_off[ad] : 0), *B = o->b + (o->ids ? g->b_off[ad] : 0);
            for (int64_t q = 0; q < r; ++q) {
                double u = 0;
                for (int64_t k = 0; k < g->in; ++k) u += o->x[i * g->in + k] * A[q * g->in + k];
                want += sc * u * B[c * r + q];
            }
        }
        const double got = bench_read_value(y, g->dt, (size_t)(i * g->out + c));
        if (!isfinite(got)) return INFINITY;
        err = fmax(err, fabs(got - want));
        scale = fmax(scale, fabs(want));
    }
    return err / fmax(scale, 1e-300);
}

/* Times the variants in alternating rounds; row[v].median_ms is the median of the rounds. */
static vks_status time_alternating(bench_ctx *b, int nv, bench_record_fn *fns, void *user, int nsets, bench_row *rows) {
    enum { ROUNDS = 3 };
    double med[8][ROUNDS], mins[8];
    for (int v = 0; v < nv; ++v) mins[v] = INFINITY;
    for (int round = 0; round < ROUNDS; ++round)
        for (int v = 0; v < nv; ++v) {
            BENCH_TRY(bench_time(b, fns[v], user, nsets, &rows[v]));
            med[v][round] = rows[v].median_ms;
            mins[v] = fmin(mins[v], rows[v].min_ms);
        }
    for (int v = 0; v < nv; ++v) {
        double *m = med[v]; /* median of three */
        const double lo = fmin(m[0], fmin(m[1], m[2])), hi = fmax(m[0], fmax(m[1], m[2]));
        rows[v].median_ms = m[0] + m[1] + m[2] - lo - hi;
        rows[v].min_ms = mins[v];
        rows[v].iters *= ROUNDS;
    }
    return VKS_OK;
}

static vks_status run_lora(bench_ctx *b, vks_dtype dt, int64_t m, int64_t in, int64_t out, int64_t r) {
    lr_bench g = {.b = b, .dt = dt, .m = m, .in = in, .out = out, .r = r, .scale = 2.0};
    vks_dtype_size(dt, &g.es);
    const double set_bytes = (double)(m * in + out * in + r * in + out * r + m * out) * (double)g.es;
    g.nsets = bench_sets(b, set_bytes);
    double *hx = malloc(sizeof(double) * (size_t)(m * in)), *hw = malloc(sizeof(double) * (size_t)(out * in));
    double *ha = malloc(sizeof(double) * (size_t)(r * in)), *hb = malloc(sizeof(double) * (size_t)(out * r));
    vks_status st = hx && hw && ha && hb ? VKS_OK : VKS_ERROR_OUT_OF_HOST_MEMORY;
    for (int s = 0; s < g.nsets && st == VKS_OK; ++s) {
        g.x[s] = bench_random_buffer(b, dt, (size_t)(m * in), -1, 1, s ? NULL : hx);
        g.w[s] = bench_random_buffer(b, dt, (size_t)(out * in), -1, 1, s ? NULL : hw);
        g.a[s] = bench_random_buffer(b, dt, (size_t)(r * in), -1, 1, s ? NULL : ha);
        g.bb[s] = bench_random_buffer(b, dt, (size_t)(out * r), -1, 1, s ? NULL : hb);
        if (!g.x[s] || !g.w[s] || !g.a[s] || !g.bb[s] || vks_buffer_create(b->ctx, (uint64_t)(m * out) * g.es, &g.y[s]))
            st = VKS_ERROR_OUT_OF_DEVICE_MEMORY;
    }
    if (st == VKS_OK && vks_buffer_create(b->ctx, (uint64_t)(m * r) * g.es, &g.t)) st = VKS_ERROR_OUT_OF_DEVICE_MEMORY;
    bench_row rows[2] = {{.op = "lora", .variant = "fused", .dtype = dt}, {.op = "lora", .variant = "unfused", .dtype = dt}};
    for (int v = 0; v < 2; ++v) {
        snprintf(rows[v].shape, sizeof rows[v].shape, "{\"m\":%lld,\"in\":%lld,\"out\":%lld,\"r\":%lld}", (long long)m,
                 (long long)in, (long long)out, (long long)r);
        rows[v].flops = 2.0 * (double)m * (double)(in * out + in * r + r * out);
        rows[v].bytes = set_bytes;
    }
    snprintf(rows[0].extra, sizeof rows[0].extra, "\"kernel\":\"%s\"", kernel_name(b, dt, m));
    snprintf(rows[1].extra, sizeof rows[1].extra, "\"kernel\":\"3 x vks_gemm\"");
    bench_record_fn fns[2] = {record_fused, record_unfused};
    if (st == VKS_OK) st = time_alternating(b, 2, fns, &g, g.nsets, rows);
    if (st == VKS_OK) {
        oracle_in o = {hx, hw, ha, hb, NULL};
        for (int v = 0; v < 2; ++v) {
            BENCH_TRY(fns[v](&g, 0));
            rows[v].max_rel_err = sampled_error(&g, &o, g.y[0]);
            bench_report(b, &rows[v]);
        }
        printf("%-16s fused/unfused speed-up %.2fx\n", "", rows[1].median_ms / rows[0].median_ms);
    }
    free_bench(&g);
    free(hx), free(hw), free(ha), free(hb);
    return st;
}

/* ---- lora_multi: sgmv, bgmv and the per-adapter loop ------------------------------------------ */

static void multi_desc(lr_bench *g, int set, bool sorted, vks_lora_adapters *ad, vks_lora_multi_desc *d,
                       vks_tensor *x, vks_tensor *w, vks_tensor *y, vks_tensor *a, vks_tensor *bb) {
    *x = vks_tensor_2d(sorted ? g->xs[set] : g->x[set], g->dt, g->m, g->in);
    *w = vks_tensor_2d(g->w[set], g->dt, g->out, g->in);
    *y = vks_tensor_2d(g->y[set], g->dt, g->m, g->out);
    *a = vks_tensor_1d(g->a[set], g->dt, g->a_total), *bb = vks_tensor_1d(g->bb[set], g->dt, g->b_total);
    *ad = (vks_lora_adapters)VKS_LORA_ADAPTERS_INIT;
    ad->count = g->nad, ad->ranks = g->ranks, ad->scales = g->scales, ad->a = a, ad->b = bb;
    *d = (vks_lora_multi_desc)VKS_LORA_MULTI_DESC_INIT;
    d->x = x, d->w = w, d->y = y, d->adapters = ad;
}

static vks_status record_sgmv(void *user, int set) {
    lr_bench *g = user;
    vks_lora_adapters ad;
    vks_lora_multi_desc d;
    vks_tensor x, w, y, a, bb;
    multi_desc(g, set, true, &ad, &d, &x, &w, &y, &a, &bb);
    d.layout = VKS_LORA_SEGMENTED, d.num_segments = g->nseg, d.seg_starts = g->seg_starts, d.seg_adapters = g->seg_ids;
    return vks_lora_multi_forward(g->b->ctx, &d);
}

static vks_status record_bgmv(void *user, int set) {
    lr_bench *g = user;
    vks_lora_adapters ad;
    vks_lora_multi_desc d;
    vks_tensor x, w, y, a, bb;
    multi_desc(g, set, false, &ad, &d, &x, &w, &y, &a, &bb);
    d.layout = VKS_LORA_GATHERED, d.indices = g->row_ids;
    return vks_lora_multi_forward(g->b->ctx, &d);
}

/* One fused LoRA call per adapter present, on its rows (a segment of the sorted batch). */
static vks_status record_loop(void *user, int set) {
    lr_bench *g = user;
    for (int32_t s = 0; s < g->nseg; ++s) {
        const int64_t r0 = g->seg_starts[s], rows = g->seg_starts[s + 1] - r0;
        const int32_t k = g->seg_ids[s];
        vks_tensor x = {g->xs[set], (uint64_t)(r0 * g->in) * g->es, g->dt, 2, {rows, g->in}, {g->in, 1}};
        vks_tensor y = {g->y[set], (uint64_t)(r0 * g->out) * g->es, g->dt, 2, {rows, g->out}, {g->out, 1}};
        vks_tensor w = vks_tensor_2d(g->w[set], g->dt, g->out, g->in);
        vks_tensor a = {g->a[set], (uint64_t)g->a_off[k] * g->es, g->dt, 2, {g->ranks[k], g->in}, {g->in, 1}};
        vks_tensor b = {g->bb[set], (uint64_t)g->b_off[k] * g->es, g->dt, 2, {g->out, g->ranks[k]}, {g->ranks[k], 1}};
        vks_lora_desc d = VKS_LORA_DESC_INIT;
        d.x = &x, d.w = &w, d.a = &a, d.b = &b, d.y = &y, d.scale = g->scales[k];
        BENCH_TRY(vks_lora_forward(g->b->ctx, &d));
    }
    return VKS_OK;
}

/* Zipf: adapter k with probability proportional to 1/(k+1). */
static int32_t zipf_draw(uint64_t *state, int32_t n) {
    double h = 0;
    for (int32_t k = 0; k < n; ++k) h += 1.0 / (k + 1);
    double u = bench_uniform(state, 0, h);
    for (int32_t k = 0; k < n; ++k) {
        u -= 1.0 / (k + 1);
        if (u <= 0) return k;
    }
    return n - 1;
}

static vks_status run_multi(bench_ctx *b, vks_dtype dt, int64_t m, int64_t in, int64_t out, const int32_t *ranks,
                            const char *rank_label) {
    lr_bench g = {.b = b, .dt = dt, .m = m, .in = in, .out = out, .nad = MAX_ADAPTERS};
    vks_dtype_size(dt, &g.es);
    for (int32_t k = 0; k < g.nad; ++k) g.ranks[k] = ranks[k % 3], g.scales[k] = 2.0 / (1 + k % 4);
    BENCH_TRY(vks_lora_pack_offsets(g.nad, g.ranks, in, out, g.a_off, g.b_off, &g.a_total, &g.b_total));
    /* The batch: each row's adapter drawn by popularity; the sorted copy groups them. */
    g.row_ids = malloc(sizeof(int32_t) * (size_t)m);
    g.seg_rows = malloc(sizeof(int32_t) * (size_t)m);
    g.sorted_ids = malloc(sizeof(int32_t) * (size_t)m);
    if (!g.row_ids || !g.seg_rows || !g.sorted_ids) return VKS_ERROR_OUT_OF_HOST_MEMORY;
    uint64_t zs = 2024 + (uint64_t)m;
    for (int64_t i = 0; i < m; ++i) g.row_ids[i] = zipf_draw(&zs, g.nad);
    int64_t used_a = 0, used_b = 0, pos = 0, flops_lora = 0;
    for (int32_t k = 0; k < g.nad; ++k) {
        const int64_t first = pos;
        for (int64_t i = 0; i < m; ++i)
            if (g.row_ids[i] == k) g.seg_rows[pos] = (int32_t)i, g.sorted_ids[pos++] = k;
        if (pos == first) continue;
        g.seg_starts[g.nseg] = (int32_t)first, g.seg_ids[g.nseg++] = k;
        used_a += g.ranks[k] * in, used_b += g.ranks[k] * out;
        flops_lora += 2 * (pos - first) * g.ranks[k] * (in + out);
    }
    g.seg_starts[g.nseg] = (int32_t)m;
    const double set_bytes = (double)(out * in + used_a + used_b + 2 * m * in + m * out) * (double)g.es;
    g.nsets = bench_sets(b, set_bytes + (double)(g.a_total + g.b_total - used_a - used_b) * (double)g.es);
    double *hx = malloc(sizeof(double) * (size_t)(m * in)), *hw = malloc(sizeof(double) * (size_t)(out * in));
    double *ha = malloc(sizeof(double) * (size_t)g.a_total), *hb = malloc(sizeof(double) * (size_t)g.b_total);
    vks_status st = hx && hw && ha && hb ? VKS_OK : VKS_ERROR_OUT_OF_HOST_MEMORY;
    uint8_t *rowbuf = malloc((size_t)(m * in) * g.es);
    if (!rowbuf) st = VKS_ERROR_OUT_OF_HOST_MEMORY;
    for (int s = 0; s < g.nsets && st == VKS_OK; ++s) {
        g.x[s] = bench_random_buffer(b, dt, (size_t)(m * in), -1, 1, s ? NULL : hx);
        g.w[s] = bench_random_buffer(b, dt, (size_t)(out * in), -1, 1, s ? NULL : hw);
        g.a[s] = bench_random_buffer(b, dt, (size_t)g.a_total, -1, 1, s ? NULL : ha);
        g.bb[s] = bench_random_buffer(b, dt, (size_t)g.b_total, -1, 1, s ? NULL : hb);
        if (!g.x[s] || !g.w[s] || !g.a[s] || !g.bb[s] ||
            vks_buffer_create(b->ctx, (uint64_t)(m * out) * g.es, &g.y[s]) ||
            vks_buffer_create(b->ctx, (uint64_t)(m * in) * g.es, &g.xs[s])) {
            st = VKS_ERROR_OUT_OF_DEVICE_MEMORY;
            break;
        }
        /* x with its rows grouped by adapter, for sgmv and the loop. */
        st = vks_buffer_read(g.x[s], 0, rowbuf, (uint64_t)(m * in) * g.es);
        uint8_t *sorted = malloc((size_t)(m * in) * g.es);
        if (!sorted) st = VKS_ERROR_OUT_OF_HOST_MEMORY;
        for (int64_t j = 0; j < m && st == VKS_OK; ++j)
            memcpy(sorted + (size_t)(j * in) * g.es, rowbuf + (size_t)(g.seg_rows[j] * in) * g.es, (size_t)in * g.es);
        if (st == VKS_OK) st = vks_buffer_write(g.xs[s], 0, sorted, (uint64_t)(m * in) * g.es);
        free(sorted);
    }
    free(rowbuf);
    bench_row rows[3] = {{.op = "lora_multi", .variant = "sgmv", .dtype = dt},
                         {.op = "lora_multi", .variant = "bgmv", .dtype = dt},
                         {.op = "lora_multi", .variant = "loop", .dtype = dt}};
    for (int v = 0; v < 3; ++v) {
        snprintf(rows[v].shape, sizeof rows[v].shape,
                 "{\"m\":%lld,\"in\":%lld,\"out\":%lld,\"r\":%s,\"adapters\":%d,\"used\":%d}", (long long)m,
                 (long long)in, (long long)out, rank_label, g.nad, g.nseg);
        rows[v].flops = 2.0 * (double)m * (double)(in * out) + (double)flops_lora;
        rows[v].bytes = set_bytes - (double)(m * in) * (double)g.es; /* x counted once */
        snprintf(rows[v].extra, sizeof rows[v].extra, "\"kernel\":\"%s\"",
                 v == 2 ? "vks_lora_forward per adapter" : kernel_name(b, dt, m));
    }
    bench_record_fn fns[3] = {record_sgmv, record_bgmv, record_loop};
    if (st == VKS_OK) st = time_alternating(b, 3, fns, &g, g.nsets, rows);
    if (st == VKS_OK) {
        /* The oracle reads x in the order each variant gives it. */
        double *hxs = malloc(sizeof(double) * (size_t)(m * in));
        if (!hxs) st = VKS_ERROR_OUT_OF_HOST_MEMORY;
        for (int64_t j = 0; hxs && j < m; ++j)
            memcpy(hxs + j * in, hx + g.seg_rows[j] * in, sizeof(double) * (size_t)in);
        for (int v = 0; v < 3 && st == VKS_OK; ++v) {
            BENCH_TRY(fns[v](&g, 0));
            oracle_in o = {v == 1 ? hx : hxs, hw, ha, hb, v == 1 ? g.row_ids : g.sorted_ids};
            rows[v].max_rel_err = sampled_error(&g, &o, g.y[0]);
            bench_report(b, &rows[v]);
        }
        if (st == VKS_OK)
            printf("%-16s sgmv/loop speed-up %.2fx, bgmv/loop %.2fx (%d of %d adapters in the batch)\n", "",
                   rows[2].median_ms / rows[0].median_ms, rows[2].median_ms / rows[1].median_ms, g.nseg, g.nad);
        free(hxs);
    }
    free_bench(&g);
    free(hx), free(hw), free(ha), free(hb);
    return st;
}

vks_status bench_lowrank(bench_ctx *b) {
    /* (m, in, out, r): the hidden 4096 and 4096 -> 11008 at decode batches; lavapipe
     * takes the decode sizes that fit its time and a smaller layer for the large batches. */
    static const int64_t gpu[][4] = {
        {1, 4096, 4096, 8},     {1, 4096, 4096, 16},    {1, 4096, 4096, 64},    {16, 4096, 4096, 8},
        {16, 4096, 4096, 16},   {16, 4096, 4096, 64},   {64, 4096, 4096, 16},   {64, 4096, 4096, 64},
        {256, 4096, 4096, 16},  {256, 4096, 4096, 64},  {1, 4096, 11008, 16},   {1, 4096, 11008, 64},
        {16, 4096, 11008, 16},  {16, 4096, 11008, 64},  {64, 4096, 11008, 16},  {256, 4096, 11008, 16}};
    static const int64_t cpu[][4] = {{1, 4096, 4096, 8},  {1, 4096, 4096, 16},  {1, 4096, 4096, 64},
                                     {16, 4096, 4096, 16}, {1, 4096, 11008, 16}, {64, 1024, 1024, 16},
                                     {256, 1024, 1024, 16}};
    static const int64_t quick_cpu[][4] = {{1, 4096, 4096, 16}, {16, 1024, 1024, 16}};
    const int64_t(*sizes)[4] = b->quick ? (b->cpu ? quick_cpu : gpu) : (b->cpu ? cpu : gpu);
    size_t count = b->quick ? (b->cpu ? 2 : 6) : (b->cpu ? sizeof cpu / sizeof cpu[0] : sizeof gpu / sizeof gpu[0]);
    const vks_dtype dts[] = {VKS_DTYPE_F16, VKS_DTYPE_F32};
    /* VKS_BENCH_LORA=f16|f32|single|multi (comma list) narrows the rows (development). */
    const char *only = getenv("VKS_BENCH_LORA");
    const bool want_dt[2] = {!only || strstr(only, "f16") || !strstr(only, "f32"),
                             !only || strstr(only, "f32") || !strstr(only, "f16")};
    const bool want_single = !only || strstr(only, "single") || !strstr(only, "multi");
    const bool want_multi = !only || strstr(only, "multi") || !strstr(only, "single");
    for (size_t d = 0; d < 2 && want_single; ++d) {
        if (dts[d] == VKS_DTYPE_F16 && !(b->info.features & VKS_FEATURE_STORAGE16)) continue;
        if (b->cpu && dts[d] == VKS_DTYPE_F16 && b->quick) continue;
        if (!want_dt[d]) continue;
        const char *shape = getenv("VKS_BENCH_LORA_SHAPE"); /* "m,in,out,r": one shape (development) */
        long long sm, sin, sout, sr;
        if (shape && sscanf(shape, "%lld,%lld,%lld,%lld", &sm, &sin, &sout, &sr) == 4) {
            BENCH_TRY(run_lora(b, dts[d], sm, sin, sout, sr));
            continue;
        }
        for (size_t i = 0; i < count; ++i)
            BENCH_TRY(run_lora(b, dts[d], sizes[i][0], sizes[i][1], sizes[i][2], sizes[i][3]));
    }
    /* 32 adapters, Zipf popularity: (m, in, out, r) with r for every adapter, or 0 for the
     * ranks 8, 16, 64 mixed. */
    static const int64_t gpu_multi[][4] = {{1, 4096, 4096, 16},  {16, 4096, 4096, 8},  {16, 4096, 4096, 16},
                                           {16, 4096, 4096, 64}, {64, 4096, 4096, 16}, {64, 4096, 4096, 0},
                                           {256, 4096, 4096, 16}, {16, 4096, 11008, 16}, {64, 4096, 11008, 16},
                                           {256, 4096, 11008, 0}};
    static const int64_t cpu_multi[][4] = {{1, 4096, 4096, 16}, {16, 4096, 4096, 16}, {16, 4096, 4096, 0},
                                           {64, 1024, 1024, 16}, {256, 1024, 1024, 16}};
    static const int64_t quick_multi[][4] = {{16, 2048, 2048, 16}};
    const int64_t(*msizes)[4] = b->quick && b->cpu ? quick_multi : (b->cpu ? cpu_multi : gpu_multi);
    size_t mcount = b->quick ? (b->cpu ? 1 : 3) : (b->cpu ? sizeof cpu_multi / sizeof cpu_multi[0]
                                                          : sizeof gpu_multi / sizeof gpu_multi[0]);
    for (size_t d = 0; d < 2 && want_multi; ++d) {
        if (dts[d] == VKS_DTYPE_F16 && !(b->info.features & VKS_FEATURE_STORAGE16)) continue;
        if (b->cpu && dts[d] == VKS_DTYPE_F16 && b->quick) continue;
        if (!want_dt[d]) continue;
        for (size_t i = 0; i < mcount; ++i) {
            const int32_t r = (int32_t)msizes[i][3];
            const int32_t ranks[3] = {r ? r : 8, r ? r : 16, r ? r : 64};
            char label[32];
            snprintf(label, sizeof label, r ? "%d" : "\"8,16,64\"", r);
            BENCH_TRY(run_multi(b, dts[d], msizes[i][0], msizes[i][1], msizes[i][2], ranks, label));
        }
    }
    return VKS_OK;
}
