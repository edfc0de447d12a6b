/* Multi-adapter LoRA batches against a float64 oracle that forms each adapter's ΔW densely:
 * ranks {1, 8, 16, 64, 128} mixed in one batch, adapter -1, empty segments, one token,
 * 100+ adapters, ragged dimensions, caller-given offsets with gaps, gathered and segmented
 * layouts in host and device memory, the shrink and expand stages alone; bad indices in
 * both residencies (a status and a message, and never a wrong row elsewhere). Runs with the
 * CPU kernels and with the GPU kernels (on lavapipe). */
#include <math.h>
#include <string.h>

#include "reference_lowrank.h"
#include "vks_test.h"

typedef struct multi_case {
    vks_dtype dt;
    int64_t m, in, out;
    int32_t nad;
    const int32_t *ranks;   /* nad */
    const int32_t *row_ids; /* gathered: m ids */
    int32_t nseg;           /* segmented: segments instead of row_ids */
    const int32_t *seg_starts, *seg_ids;
    bool device;     /* the mapping in device memory */
    bool w, bias;
    double beta;
    bool gaps;       /* caller-given offsets with gaps (and misaligned) instead of packed */
    bool stages;     /* shrink then expand (public stages) instead of forward */
} multi_case;

typedef struct multi_data {
    double *x, *w, *bias, *y0, *a, *b, *scales_d;
    int64_t a_off[256], b_off[256], na, nb;
    double scales[256];
    vks_buffer *X, *W, *Bias, *Y, *A, *B, *Ids, *Starts, *Segs;
    int32_t *ids; /* per row, for the oracle */
} multi_data;

static void make_data(const multi_case *mc, uint64_t seed, multi_data *md) {
    memset(md, 0, sizeof *md);
    vkt_rng rng = vkt_rng_seed(seed);
    const vks_dtype dt = mc->dt;
    const int64_t m = mc->m, in = mc->in, out = mc->out;
    int64_t a = 0, b = 0;
    for (int32_t i = 0; i < mc->nad; ++i) {
        const int64_t ga = mc->gaps ? 1 + i % 3 : 0, gb = mc->gaps ? 2 - i % 2 : 0;
        md->a_off[i] = a + ga, md->b_off[i] = b + gb;
        a += ga + (int64_t)mc->ranks[i] * in, b += gb + (int64_t)mc->ranks[i] * out;
        md->scales[i] = 0.25 + 0.125 * (i % 5);
    }
    md->na = a, md->nb = b;
    md->x = vkt_random(&rng, (size_t)(m * in), -1, 1);
    md->w = vkt_random(&rng, (size_t)(out * in), -1, 1);
    md->bias = vkt_random(&rng, (size_t)out, -1, 1);
    md->y0 = vkt_random(&rng, (size_t)(m * out), -1, 1);
    md->a = vkt_random(&rng, (size_t)a, -1, 1);
    md->b = vkt_random(&rng, (size_t)b, -1, 1);
    vkt_round_to(dt, md->x, (size_t)(m * in)), vkt_round_to(dt, md->w, (size_t)(out * in));
    vkt_round_to(dt, md->bias, (size_t)out), vkt_round_to(dt, md->y0, (size_t)(m * out));
    vkt_round_to(dt, md->a, (size_t)a), vkt_round_to(dt, md->b, (size_t)b);
    md->X = vkt_upload(dt, md->x, (size_t)(m * in));
    md->W = vkt_upload(dt, md->w, (size_t)(out * in));
    md->Bias = vkt_upload(dt, md->bias, (size_t)out);
    md->A = vkt_upload(dt, md->a, (size_t)a);
    md->B = vkt_upload(dt, md->b, (size_t)b);
    md->Y = mc->beta == 0 ? vkt_poisoned(dt, (size_t)(m * out)) : vkt_upload(dt, md->y0, (size_t)(m * out));
    md->ids = malloc(sizeof(int32_t) * (size_t)(m + 1));
    if (mc->row_ids) memcpy(md->ids, mc->row_ids, sizeof(int32_t) * (size_t)m);
    else
        for (int32_t s = 0; s < mc->nseg; ++s)
            for (int32_t i = mc->seg_starts[s]; i < mc->seg_starts[s + 1]; ++i) md->ids[i] = mc->seg_ids[s];
    if (mc->device) {
        double *tmp = malloc(sizeof(double) * (size_t)(m + mc->nseg + 2));
        if (mc->row_ids) {
            for (int64_t i = 0; i < m; ++i) tmp[i] = mc->row_ids[i];
            md->Ids = vkt_upload(VKS_DTYPE_I32, tmp, (size_t)m);
        } else {
            for (int32_t s = 0; s <= mc->nseg; ++s) tmp[s] = mc->seg_starts[s];
            md->Starts = vkt_upload(VKS_DTYPE_I32, tmp, (size_t)mc->nseg + 1);
            for (int32_t s = 0; s < mc->nseg; ++s) tmp[s] = mc->seg_ids[s];
            md->Segs = vkt_upload(VKS_DTYPE_I32, tmp, (size_t)mc->nseg);
        }
        free(tmp);
    }
}

static void free_data(multi_data *md) {
    free(md->x), free(md->w), free(md->bias), free(md->y0), free(md->a), free(md->b), free(md->ids);
    vks_buffer *bufs[] = {md->X, md->W, md->Bias, md->Y, md->A, md->B, md->Ids, md->Starts, md->Segs};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; ++i)
        if (bufs[i]) VKT_OK(vks_buffer_destroy(bufs[i]));
}

/* The oracle: y_i = beta*y0_i + x_i (W + ΔW_a)^T + bias, ΔW_a = s_a B_a A_a formed densely;
 * ids[i] = -1 (or `bad` rows) use W alone. */
static double *oracle(const multi_case *mc, const multi_data *md, const int32_t *ids) {
    const int64_t m = mc->m, in = mc->in, out = mc->out;
    double *want = malloc(sizeof(double) * (size_t)(m * out + 1));
    memcpy(want, md->y0, sizeof(double) * (size_t)(m * out));
    double *delta = malloc(sizeof(double) * (size_t)(out * in + 1));
    for (int32_t a = -1; a < mc->nad; ++a) {
        bool used = false;
        for (int64_t i = 0; i < m; ++i) used = used || ids[i] == a;
        if (!used) continue;
        memset(delta, 0, sizeof(double) * (size_t)(out * in));
        if (a >= 0)
            ref_lora_delta(out, in, mc->ranks[a], md->scales[a], md->b + md->b_off[a], md->a + md->a_off[a], delta);
        for (int64_t i = 0; i < m; ++i)
            if (ids[i] == a)
                ref_linear(1, in, out, md->x + i * in, in, mc->w ? md->w : NULL, delta, mc->bias ? md->bias : NULL,
                           mc->beta, want + i * out, out);
    }
    free(delta);
    return want;
}

static vks_tensor flat(vks_buffer *b, vks_dtype dt, int64_t n) { return vks_tensor_1d(b, dt, n > 0 ? n : 1); }

typedef struct multi_call {
    vks_lora_adapters ad;
    vks_lora_multi_desc d;
    vks_tensor x, w, bias, y, a, b, ids, starts, segs;
} multi_call;

/* Fills the descriptor of a case (tensors live in `c`). */
static void describe(const multi_case *mc, multi_data *md, multi_call *c) {
    const vks_dtype dt = mc->dt;
    c->x = vks_tensor_2d(md->X, dt, mc->m, mc->in), c->w = vks_tensor_2d(md->W, dt, mc->out, mc->in);
    c->bias = vks_tensor_1d(md->Bias, dt, mc->out), c->y = vks_tensor_2d(md->Y, dt, mc->m, mc->out);
    c->a = flat(md->A, dt, md->na), c->b = flat(md->B, dt, md->nb);
    c->ad = (vks_lora_adapters)VKS_LORA_ADAPTERS_INIT;
    c->ad.count = mc->nad, c->ad.ranks = mc->ranks, c->ad.scales = md->scales, c->ad.a = &c->a, c->ad.b = &c->b;
    if (mc->gaps) c->ad.a_offsets = md->a_off, c->ad.b_offsets = md->b_off;
    c->d = (vks_lora_multi_desc)VKS_LORA_MULTI_DESC_INIT;
    c->d.x = &c->x, c->d.w = mc->w ? &c->w : NULL, c->d.bias = mc->bias ? &c->bias : NULL, c->d.y = &c->y;
    c->d.beta = mc->beta, c->d.adapters = &c->ad;
    c->d.layout = mc->row_ids ? VKS_LORA_GATHERED : VKS_LORA_SEGMENTED;
    if (mc->device) {
        if (mc->row_ids) c->ids = vks_tensor_1d(md->Ids, VKS_DTYPE_I32, mc->m), c->d.indices_dev = &c->ids;
        else {
            c->starts = vks_tensor_1d(md->Starts, VKS_DTYPE_I32, mc->nseg + 1);
            c->segs = vks_tensor_1d(md->Segs, VKS_DTYPE_I32, mc->nseg);
            c->d.seg_starts_dev = &c->starts, c->d.seg_adapters_dev = &c->segs;
        }
    } else if (mc->row_ids) {
        c->d.indices = mc->row_ids;
    } else {
        c->d.num_segments = mc->nseg, c->d.seg_starts = mc->seg_starts, c->d.seg_adapters = mc->seg_ids;
    }
}

static void run_multi(const multi_case *mc, uint64_t seed, const char *what) {
    multi_data md;
    make_data(mc, seed, &md);
    multi_call c;
    describe(mc, &md, &c);
    if (mc->stages) {
        int32_t maxr = 1;
        for (int32_t i = 0; i < mc->nad; ++i) maxr = mc->ranks[i] > maxr ? mc->ranks[i] : maxr;
        const int64_t ldt = maxr + 3; /* a padded, odd row stride */
        vks_buffer *T = vkt_poisoned(VKS_DTYPE_F32, (size_t)(mc->m * ldt));
        vks_tensor t = {T, 0, VKS_DTYPE_F32, 2, {mc->m, maxr}, {ldt, 1}};
        VKT_OK(vks_lora_multi_shrink(vkt->ctx, &c.d, &t));
        VKT_OK(vks_lora_multi_expand(vkt->ctx, &c.d, &t));
        VKT_OK(vks_buffer_destroy(T));
    } else {
        VKT_OK(vks_lora_multi_forward(vkt->ctx, &c.d));
    }
    double *got = vkt_download(md.Y, mc->dt, 0, (size_t)(mc->m * mc->out)), *want = oracle(mc, &md, md.ids);
    char msg[256];
    snprintf(msg, sizeof msg, "%s (%s m=%lld in=%lld out=%lld adapters=%d %s %s%s)", what,
             mc->dt == VKS_DTYPE_F16 ? "f16" : "f32", (long long)mc->m, (long long)mc->in, (long long)mc->out, mc->nad,
             mc->row_ids ? "gathered" : "segmented", mc->device ? "device" : "host", mc->stages ? " stages" : "");
    vkt_assert_close(got, want, (size_t)(mc->m * mc->out), vkt_tol(mc->dt), msg);
    free(got), free(want);
    free_data(&md);
}

static bool has_f16(void) { return (vkt->info.features & VKS_FEATURE_STORAGE16) != 0; }

/* Random ids in [-1, nad) for m rows. */
static int32_t *random_ids(vkt_rng *rng, int64_t m, int32_t nad, bool base_rows) {
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)(m + 1));
    for (int64_t i = 0; i < m; ++i) ids[i] = (int32_t)vkt_uniform(rng, base_rows ? -1 : 0, nad);
    if (base_rows && m > 2) ids[1] = -1;
    return ids;
}

static const int32_t mixed_ranks[] = {1, 8, 16, 64, 128, 8, 1, 16, 0, 64, 3};

/* Every rank of the issue in one batch, base-only rows, every layout and residency. */
static void test_lowrank_multi_mixed_ranks(void **state) {
    (void)state;
    vkt_rng rng = vkt_rng_seed(1);
    const int64_t m = 29;
    int32_t *ids = random_ids(&rng, m, 11, true);
    /* Segments: runs over the rows, with an empty one and a base-only one. */
    static const int32_t starts[] = {0, 3, 3, 10, 11, 20, 29}, segs[] = {4, 2, 0, -1, 3, 9};
    for (int dev = 0; dev < 2; ++dev) {
        multi_case g = {VKS_DTYPE_F32, m, 70, 53, 11, mixed_ranks, ids, .device = dev, .w = true, .bias = true};
        run_multi(&g, 10 + dev, "mixed ranks");
        multi_case s = {VKS_DTYPE_F32, m, 70, 53, 11, mixed_ranks, NULL, 6, starts, segs, .device = dev, .w = true};
        run_multi(&s, 20 + dev, "mixed ranks");
    }
    free(ids);
}

static void test_lowrank_multi_f16(void **state) {
    (void)state;
    if (!has_f16()) skip();
    vkt_rng rng = vkt_rng_seed(2);
    int32_t *ids = random_ids(&rng, 13, 11, true);
    multi_case g = {VKS_DTYPE_F16, 13, 96, 72, 11, mixed_ranks, ids, .w = true, .bias = true, .beta = 0.5};
    run_multi(&g, 30, "f16");
    g.m = 2, g.in = 33, g.out = 17; /* gemv path, ragged */
    run_multi(&g, 31, "f16 two rows");
    g.m = 13, g.gaps = true, g.device = true; /* misaligned stacks: the scalar paths */
    run_multi(&g, 32, "f16 with gaps");
    free(ids);
}

/* One token; every row base-only; a single row per adapter; no base weight. */
static void test_lowrank_multi_small(void **state) {
    (void)state;
    static const int32_t one[] = {3}, base[] = {-1, -1, -1}, each[] = {4, 0, 2, 1, 3};
    multi_case c = {VKS_DTYPE_F32, 1, 40, 30, 5, mixed_ranks, one, .w = true, .bias = true};
    run_multi(&c, 40, "one token");
    c.m = 3, c.row_ids = base;
    run_multi(&c, 41, "base only");
    c.m = 5, c.row_ids = each, c.w = false, c.beta = 1.0;
    run_multi(&c, 42, "no base weight");
    static const int32_t starts[] = {0, 0, 0}, segs[] = {1, 2};
    multi_case e = {VKS_DTYPE_F32, 0, 16, 8, 5, mixed_ranks, NULL, 2, starts, segs, .w = true}; /* no rows */
    run_multi(&e, 43, "no rows");
}

/* 120 adapters of ranks 1..128, Zipf-like use, offsets given with gaps (misaligned). */
static void test_lowrank_multi_many_adapters(void **state) {
    (void)state;
    enum { NAD = 120 };
    int32_t ranks[NAD];
    for (int i = 0; i < NAD; ++i) ranks[i] = (int32_t[]){1, 8, 16, 64, 128, 4, 2}[i % 7];
    vkt_rng rng = vkt_rng_seed(3);
    const int64_t m = 96;
    int32_t *ids = malloc(sizeof(int32_t) * m);
    for (int64_t i = 0; i < m; ++i) ids[i] = (int32_t)(NAD / (1 + vkt_uniform(&rng, 0, 40))) - 1;
    multi_case c = {VKS_DTYPE_F32, m, 48, 40, NAD, ranks, ids, .w = true, .gaps = true};
    run_multi(&c, 50, "120 adapters with gaps");
    c.device = true, c.gaps = false;
    run_multi(&c, 51, "120 adapters");
    free(ids);
}

/* The public shrink and expand stages, both layouts. */
static void test_lowrank_multi_stages(void **state) {
    (void)state;
    vkt_rng rng = vkt_rng_seed(4);
    int32_t *ids = random_ids(&rng, 21, 11, true);
    multi_case c = {VKS_DTYPE_F32, 21, 64, 48, 11, mixed_ranks, ids, .w = true, .bias = true, .stages = true};
    run_multi(&c, 60, "stages");
    c.w = false, c.beta = -1.0;
    run_multi(&c, 61, "stages without base");
    static const int32_t starts[] = {0, 5, 21}, segs[] = {3, 4};
    multi_case s = {VKS_DTYPE_F32, 21, 64, 48, 11, mixed_ranks, NULL, 2, starts, segs, .device = true, .w = true,
                    .stages = true};
    run_multi(&s, 62, "stages");
    free(ids);
}

/* The largest batch that stays fast: a decode-sized layer with 32 adapters. */
static void test_lowrank_multi_large(void **state) {
    (void)state;
    int32_t ranks[32];
    for (int i = 0; i < 32; ++i) ranks[i] = (int32_t[]){8, 16, 64}[i % 3];
    vkt_rng rng = vkt_rng_seed(5);
    int32_t *ids = random_ids(&rng, 64, 32, false);
    multi_case c = {VKS_DTYPE_F32, 64, 512, 384, 32, ranks, ids, .w = true, .bias = true};
    run_multi(&c, 70, "large");
    free(ids);
    /* Decode rows with a long, ragged k (the GPU shrink splits k in parts) and every rank. */
    ids = random_ids(&rng, 20, 11, true);
    multi_case d = {VKS_DTYPE_F32, 20, 1100, 90, 11, mixed_ranks, ids, .w = true, .bias = true};
    run_multi(&d, 71, "long k");
    /* Longer than lavapipe's loop limiter lets one dispatch run: sliced there. */
    d.m = 6, d.in = 70001, d.out = 12;
    run_multi(&d, 72, "k past the loop limiter");
    free(ids);
}

/* Device-resident ids out of range: never an out-of-bounds read; the bad rows get the base
 * output, the others their adapter's; a status and a message. */
static void test_lowrank_multi_bad_device_ids(void **state) {
    (void)state;
    static const int32_t ranks[] = {4, 8, 2};
    static const int32_t ids[] = {0, 7, 1, -1, -5, 2, 1, 3, 0};
    const int64_t m = 9;
    multi_case c = {VKS_DTYPE_F32, m, 24, 16, 3, ranks, ids, .device = true, .w = true, .bias = true};
    multi_data md;
    make_data(&c, 80, &md);
    multi_call call;
    describe(&c, &md, &call);
    VKT_FAILS(vks_lora_multi_forward(vkt->ctx, &call.d), VKS_ERROR_OUT_OF_RANGE,
              "indices_dev[1] = 7, expected -1..2 (adapters->count = 3); 3 row(s) with a bad id");
    int32_t as_base[9];
    for (int i = 0; i < 9; ++i) as_base[i] = ids[i] < -1 || ids[i] >= 3 ? -1 : ids[i];
    double *got = vkt_download(md.Y, c.dt, 0, (size_t)(m * c.out)), *want = oracle(&c, &md, as_base);
    vkt_assert_close(got, want, (size_t)(m * c.out), vkt_tol(c.dt), "bad device ids: the other rows");
    free(got), free(want);
    /* With a status tensor: no wait, the status says what happened. */
    vks_buffer *S = vkt_poisoned(VKS_DTYPE_I32, 4);
    vks_tensor ts = vks_tensor_1d(S, VKS_DTYPE_I32, 2);
    call.d.status = &ts;
    VKT_OK(vks_lora_multi_forward(vkt->ctx, &call.d));
    double *status = vkt_download(S, VKS_DTYPE_I32, 0, 2);
    assert_true(status[0] == 3 && status[1] == 1);
    free(status);
    /* A clean batch resets it. */
    static const int32_t good[] = {0, 2, 1, -1, 0, 2, 1, 2, 0};
    vks_buffer *G = NULL;
    double gd[9];
    for (int i = 0; i < 9; ++i) gd[i] = good[i];
    G = vkt_upload(VKS_DTYPE_I32, gd, 9);
    vks_tensor tg = vks_tensor_1d(G, VKS_DTYPE_I32, 9);
    call.d.indices_dev = &tg;
    VKT_OK(vks_lora_multi_forward(vkt->ctx, &call.d));
    status = vkt_download(S, VKS_DTYPE_I32, 0, 2);
    assert_true(status[0] == 0 && status[1] == INT32_MAX);
    free(status);
    /* An empty batch also leaves a clean status (after a bad one). */
    call.d.indices_dev = &call.ids; /* the bad ids again: status {3, 1} */
    VKT_OK(vks_lora_multi_forward(vkt->ctx, &call.d));
    vks_tensor x0 = call.x, y0 = call.y, i0 = tg;
    x0.shape[0] = 0, y0.shape[0] = 0, i0.shape[0] = 0;
    call.d.x = &x0, call.d.y = &y0, call.d.indices_dev = &i0;
    VKT_OK(vks_lora_multi_forward(vkt->ctx, &call.d));
    status = vkt_download(S, VKS_DTYPE_I32, 0, 2);
    assert_true(status[0] == 0 && status[1] == INT32_MAX);
    free(status);
    VKT_OK(vks_buffer_destroy(G));
    VKT_OK(vks_buffer_destroy(S));
    free_data(&md);
}

static void test_lowrank_multi_bad_device_segments(void **state) {
    (void)state;
    static const int32_t ranks[] = {4, 8};
    const int64_t m = 8;
    /* An adapter id out of range in segment 1 (rows 2..4). */
    static const int32_t starts[] = {0, 2, 5, 8}, segs[] = {0, 2, 1};
    multi_case c = {VKS_DTYPE_F32, m, 16, 12, 2, ranks, NULL, 3, starts, segs, .device = true, .w = true};
    multi_data md;
    make_data(&c, 90, &md);
    multi_call call;
    describe(&c, &md, &call);
    VKT_FAILS(vks_lora_multi_forward(vkt->ctx, &call.d), VKS_ERROR_OUT_OF_RANGE, "row 2 lies outside the segments or");
    int32_t as_base[8] = {0, 0, -1, -1, -1, 1, 1, 1};
    double *got = vkt_download(md.Y, c.dt, 0, (size_t)(m * c.out)), *want = oracle(&c, &md, as_base);
    vkt_assert_close(got, want, (size_t)(m * c.out), vkt_tol(c.dt), "bad device segment: the other rows");
    free(got), free(want);
    free_data(&md);
    /* Starts out of order, and not ending at m. */
    static const int32_t bad_starts[] = {0, 5, 2, 8}, ok_segs[] = {0, 1, 0};
    multi_case b = {VKS_DTYPE_F32, m, 16, 12, 2, ranks, NULL, 3, bad_starts, ok_segs, .device = true, .w = true};
    make_data(&b, 91, &md);
    describe(&b, &md, &call);
    VKT_FAILS(vks_lora_multi_forward(vkt->ctx, &call.d), VKS_ERROR_OUT_OF_RANGE, "seg_starts_dev[1] breaks the segments");
    free_data(&md);
    static const int32_t short_starts[] = {0, 2, 5, 7};
    b.seg_starts = short_starts;
    make_data(&b, 92, &md);
    describe(&b, &md, &call);
    VKT_FAILS(vks_lora_multi_forward(vkt->ctx, &call.d), VKS_ERROR_OUT_OF_RANGE, "row 7 lies outside the segments");
    free_data(&md);
}

static void test_lowrank_multi_errors(void **state) {
    (void)state;
    vks_context *ctx = vkt->ctx;
    static const int32_t ranks[] = {4, 8, 2};
    static const int32_t ids[] = {0, 2, 1, -1, 2};
    multi_case c = {VKS_DTYPE_F32, 5, 24, 16, 3, ranks, ids, .w = true};
    multi_data md;
    make_data(&c, 100, &md);
    multi_call k;
    describe(&c, &md, &k);
    VKT_OK(vks_lora_multi_forward(ctx, &k.d));
    vks_lora_multi_desc d = k.d;
    vks_lora_adapters ad = k.ad;
    VKT_FAILS(vks_lora_multi_forward(NULL, &d), VKS_ERROR_INVALID_ARGUMENT, "ctx is NULL");
    VKT_FAILS(vks_lora_multi_forward(ctx, NULL), VKS_ERROR_INVALID_ARGUMENT, "desc is NULL");
    d.adapters = NULL;
    VKT_FAILS(vks_lora_multi_forward(ctx, &d), VKS_ERROR_INVALID_ARGUMENT, "adapters is NULL");
    d = k.d, d.adapters = &ad;
    static const int32_t bad_ids[] = {0, 2, 3, -1, 2};
    d.indices = bad_ids;
    VKT_FAILS(vks_lora_multi_forward(ctx, &d), VKS_ERROR_OUT_OF_RANGE,
              "indices[2] = 3, expected -1..2 (adapters->count = 3)");
    static const int32_t neg_ids[] = {0, -2, 0, 0, 0};
    d.indices = neg_ids;
    VKT_FAILS(vks_lora_multi_forward(ctx, &d), VKS_ERROR_OUT_OF_RANGE, "indices[1] = -2");
    d.indices = NULL;
    VKT_FAILS(vks_lora_multi_forward(ctx, &d), VKS_ERROR_INVALID_ARGUMENT, "exactly one of indices (host) and indices_dev");
    d = k.d, d.layout = VKS_LORA_SEGMENTED, d.indices = NULL;
    static const int32_t st1[] = {0, 2, 5}, sa1[] = {1, 5};
    d.num_segments = 2, d.seg_starts = st1, d.seg_adapters = sa1;
    VKT_FAILS(vks_lora_multi_forward(ctx, &d), VKS_ERROR_OUT_OF_RANGE, "seg_adapters[1] = 5, expected -1..2");
    static const int32_t st2[] = {1, 2, 5}, st3[] = {0, 2, 4}, st4[] = {0, 3, 2, 5}, sa4[] = {0, 1, 2};
    d.seg_starts = st2;
    VKT_FAILS(vks_lora_multi_forward(ctx, &d), VKS_ERROR_INVALID_ARGUMENT, "seg_starts[0] = 1, expected 0");
    d.seg_starts = st3;
    VKT_FAILS(vks_lora_multi_forward(ctx, &d), VKS_ERROR_INVALID_ARGUMENT, "seg_starts[2] = 4, expected the 5 rows");
    d.num_segments = 3, d.seg_starts = st4, d.seg_adapters = sa4;
    VKT_FAILS(vks_lora_multi_forward(ctx, &d), VKS_ERROR_INVALID_ARGUMENT, "seg_starts[2] = 2 is below seg_starts[1] = 3");
    /* A middle start far past the rows, the order broken only after it: nothing may be
     * written for its segment (the rows end at seg_starts[S] = 5). */
    static const int32_t st5[] = {0, 1 << 26, 5};
    d.num_segments = 2, d.seg_starts = st5, d.seg_adapters = sa4;
    VKT_FAILS(vks_lora_multi_forward(ctx, &d), VKS_ERROR_INVALID_ARGUMENT,
              "seg_starts[2] = 5 is below seg_starts[1] = 67108864");
    d.layout = (vks_lora_layout)7;
    VKT_FAILS(vks_lora_multi_forward(ctx, &d), VKS_ERROR_INVALID_ARGUMENT, "layout = 7");
    /* Adapters. */
    d = k.d;
    ad = k.ad, ad.struct_size = 4, d.adapters = &ad;
    VKT_FAILS(vks_lora_multi_forward(ctx, &d), VKS_ERROR_INVALID_ARGUMENT, "adapters->struct_size = 4");
    static const int32_t neg_rank[] = {4, -1, 2}, big_rank[] = {4, 8, 200};
    ad = k.ad, ad.ranks = neg_rank;
    VKT_FAILS(vks_lora_multi_forward(ctx, &d), VKS_ERROR_INVALID_ARGUMENT, "adapters->ranks[1] = -1");
    ad.ranks = big_rank; /* the packed stack is too small for it */
    VKT_FAILS(vks_lora_multi_forward(ctx, &d), VKS_ERROR_OUT_OF_RANGE, "adapter 2's A (200 x 24 at element 288)");
    int64_t aoff[] = {0, 96, 10000}, boff[] = {0, 64, 192};
    ad = k.ad, ad.a_offsets = aoff, ad.b_offsets = boff;
    VKT_FAILS(vks_lora_multi_forward(ctx, &d), VKS_ERROR_OUT_OF_RANGE, "adapter 2's A (2 x 24 at element 10000)");
    aoff[2] = 288, boff[2] = -3;
    VKT_FAILS(vks_lora_multi_forward(ctx, &d), VKS_ERROR_OUT_OF_RANGE, "adapter 2's B (16 x 2 at element -3)");
    ad = k.ad, ad.ranks = NULL;
    VKT_FAILS(vks_lora_multi_forward(ctx, &d), VKS_ERROR_INVALID_ARGUMENT, "adapters->ranks is NULL");
    /* A count past any real stack is refused before anything is allocated or read for it
     * (INT32_MAX once tried a 128 GiB table). */
    ad = k.ad, ad.count = INT32_MAX;
    VKT_FAILS(vks_lora_multi_forward(ctx, &d), VKS_ERROR_INVALID_ARGUMENT,
              "vks_lora_multi_forward: adapters->count = 2147483647, expected 0..1048576");
    ad = k.ad, ad.a = NULL;
    VKT_FAILS(vks_lora_multi_forward(ctx, &d), VKS_ERROR_INVALID_ARGUMENT, "vks_lora_multi_forward: adapters->a is NULL");
    ad = k.ad, ad.b = NULL;
    VKT_FAILS(vks_lora_multi_forward(ctx, &d), VKS_ERROR_INVALID_ARGUMENT, "vks_lora_multi_forward: adapters->b is NULL");
    vks_tensor a16 = k.a;
    a16.dtype = VKS_DTYPE_F16;
    ad = k.ad, ad.a = &a16;
    VKT_FAILS(vks_lora_multi_forward(ctx, &d), VKS_ERROR_DTYPE_MISMATCH, "adapters->a has dtype f16, expected f32");
    vks_tensor astr = {md.A, 0, VKS_DTYPE_F32, 2, {4, 10}, {20, 1}};
    ad = k.ad, ad.a = &astr;
    VKT_FAILS(vks_lora_multi_forward(ctx, &d), VKS_ERROR_UNSUPPORTED, "adapters->a must be compact");
    /* Shapes, aliasing, status, stages. */
    d = k.d;
    vks_tensor w2 = vks_tensor_2d(md.W, VKS_DTYPE_F32, 16, 23);
    d.w = &w2;
    VKT_FAILS(vks_lora_multi_forward(ctx, &d), VKS_ERROR_SHAPE_MISMATCH, "w is 16 x 23, expected (out, in) = 16 x 24");
    d = k.d;
    vks_tensor yx = vks_tensor_2d(md.X, VKS_DTYPE_F32, 5, 16);
    d.y = &yx;
    VKT_FAILS(vks_lora_multi_forward(ctx, &d), VKS_ERROR_INVALID_ARGUMENT, "y overlaps x");
    d = k.d;
    vks_tensor st = vks_tensor_1d(md.Bias, VKS_DTYPE_I32, 2);
    d.status = &st;
    VKT_FAILS(vks_lora_multi_forward(ctx, &d), VKS_ERROR_INVALID_ARGUMENT, "status is for device-resident mappings");
    d = k.d;
    VKT_FAILS(vks_lora_multi_shrink(ctx, &d, NULL), VKS_ERROR_INVALID_ARGUMENT, "t is NULL");
    vks_buffer *T = vkt_poisoned(VKS_DTYPE_F32, 64);
    vks_tensor t = vks_tensor_2d(T, VKS_DTYPE_F32, 5, 7);
    VKT_FAILS(vks_lora_multi_shrink(ctx, &d, &t), VKS_ERROR_SHAPE_MISMATCH, "t is 5 x 7, expected 5 rows and >= 8 columns");
    t = vks_tensor_2d(T, VKS_DTYPE_F16, 5, 8);
    VKT_FAILS(vks_lora_multi_expand(ctx, &d, &t), VKS_ERROR_DTYPE_MISMATCH, "t has dtype f16, expected f32");
    VKT_OK(vks_buffer_destroy(T));
    {   /* A device mapping of more rows than one row of the plan kernel's workgroups covers
         * (4.2M > 65535 x 64): a clear error before anything is recorded (status untouched). */
        const int64_t rows = 4200000;
        vks_buffer *R = vkt_poisoned(VKS_DTYPE_F32, (size_t)(2 * rows + 8));
        vks_tensor xr = {md.X, 0, VKS_DTYPE_F32, 2, {rows, 1}, {0, 1}}, yr = vks_tensor_2d(R, VKS_DTYPE_F32, rows, 1);
        vks_tensor ir = {R, (uint64_t)rows * 4, VKS_DTYPE_I32, 1, {rows}, {1}};
        vks_tensor sr = {R, (uint64_t)(2 * rows) * 4, VKS_DTYPE_I32, 1, {2}, {1}};
        static const int32_t one[] = {1};
        vks_tensor a1 = vks_tensor_1d(md.A, VKS_DTYPE_F32, 1), b1 = vks_tensor_1d(md.B, VKS_DTYPE_F32, 1);
        vks_lora_adapters ar = VKS_LORA_ADAPTERS_INIT;
        ar.count = 1, ar.ranks = one, ar.a = &a1, ar.b = &b1;
        vks_lora_multi_desc dr = VKS_LORA_MULTI_DESC_INIT;
        dr.x = &xr, dr.y = &yr, dr.adapters = &ar, dr.indices_dev = &ir, dr.status = &sr;
        VKT_FAILS(vks_lora_multi_forward(ctx, &dr), VKS_ERROR_OUT_OF_RANGE,
                  "vks_lora_multi_forward: 4200000 rows with a device-resident mapping; at most");
        double *sv = vkt_download(R, VKS_DTYPE_F32, (size_t)(2 * rows), 2);
        assert_true(isnan(sv[0]) && isnan(sv[1]));
        free(sv);
        VKT_OK(vks_buffer_destroy(R));
    }
    /* Host helper. */
    int64_t ao[3], bo[3], na = 0, nb = 0;
    VKT_OK(vks_lora_pack_offsets(3, ranks, 24, 16, ao, bo, &na, &nb));
    assert_true(ao[0] == 0 && ao[1] == 96 && ao[2] == 288 && na == 336 && bo[2] == 192 && nb == 224);
    VKT_FAILS(vks_lora_pack_offsets(3, neg_rank, 24, 16, ao, bo, &na, &nb), VKS_ERROR_INVALID_ARGUMENT, "ranks[1] = -1");
    VKT_FAILS(vks_lora_pack_offsets(-1, ranks, 24, 16, NULL, NULL, NULL, NULL), VKS_ERROR_INVALID_ARGUMENT, "count = -1");
    VKT_FAILS(vks_lora_pack_offsets(VKS_LORA_MAX_ADAPTERS + 1, ranks, 24, 16, NULL, NULL, NULL, NULL),
              VKS_ERROR_INVALID_ARGUMENT, "vks_lora_pack_offsets: count = 1048577, expected 0..1048576");
    VKT_FAILS(vks_lora_pack_offsets(1, ranks, 24, -16, NULL, NULL, NULL, NULL), VKS_ERROR_INVALID_ARGUMENT,
              "out_features = -16");
    free_data(&md);
}

#define MULTI_TESTS                                                                                                   \
    VKT_TEST(test_lowrank_multi_mixed_ranks), VKT_TEST(test_lowrank_multi_f16), VKT_TEST(test_lowrank_multi_small),   \
        VKT_TEST(test_lowrank_multi_many_adapters), VKT_TEST(test_lowrank_multi_stages),                              \
        VKT_TEST(test_lowrank_multi_large), VKT_TEST(test_lowrank_multi_bad_device_ids),                              \
        VKT_TEST(test_lowrank_multi_bad_device_segments), VKT_TEST(test_lowrank_multi_errors)

int main(void) {
    const struct CMUnitTest tests[] = {MULTI_TESTS};
    int failures = VKT_RUN(tests);
    if (vkt_device_is_cpu())
        failures += cmocka_run_group_tests_name("lowrank multi with GPU kernels", tests, vkt_gpu_kernels_setup,
                                                vkt_group_teardown);
    return failures;
}
