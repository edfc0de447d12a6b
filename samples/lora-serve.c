/*
 * lora-serve: serves a stream of decode requests over N LoRA adapters (popularity Zipf:
 * adapter k is asked for with probability ~ 1/(k+1)) through a small stack of square
 * layers y = x W_l^T + s_a (x A_la^T) B_la^T, in three ways:
 *
 *   merge    per request: merge its adapter into every W_l, run its token, unmerge
 *   loop     per step and layer: one fused LoRA call per adapter present, on its rows
 *   multi    per step and layer: one multi-adapter call (BGMV, rows in arrival order)
 *
 * and reports tokens/s for each, after checking that the three produce the same outputs.
 *
 *   lora-serve [--quick] [--hidden H] [--layers L] [--adapters N] [--batch B] [--steps S]
 *              [--f16] [--device D]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <vkstruct/vkstruct.h>

#include "sample_device.h"

#define CHECK(call) SAMPLE_CHECK("lora-serve", call)

typedef struct config {
    int hidden, layers, adapters, batch, steps;
    vks_dtype dt;
    const char *device;
} config;

typedef struct model {
    config c;
    vks_context *ctx;
    size_t es;
    vks_buffer **w;        /* per layer (H, H) */
    vks_buffer **a, **b;   /* per layer: every adapter's A_k, B_k packed */
    int32_t *ranks;
    double *scales;
    int64_t *a_off, *b_off, a_total, b_total;
} model;

static uint64_t rng_state = 12345;
static double uniform(double lo, double hi) {
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return lo + (hi - lo) * ((double)(z >> 11) * 0x1.0p-53);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A device buffer of n values uniform in [-amp, amp] (f32 or f16). */
static vks_buffer *random_buffer(model *m, size_t n, double amp) {
    vks_buffer *buf = NULL;
    CHECK(vks_buffer_create(m->ctx, (n ? n : 1) * m->es, &buf));
    float *f = malloc((n ? n : 1) * sizeof *f);
    uint16_t *h = malloc((n ? n : 1) * sizeof *h);
    if (!f || !h) exit(1);
    for (size_t i = 0; i < n; ++i) f[i] = (float)uniform(-amp, amp);
    if (m->c.dt == VKS_DTYPE_F16) {
        for (size_t i = 0; i < n; ++i) { /* round to nearest f16 (values are normal here) */
            uint32_t x;
            memcpy(&x, &f[i], 4);
            uint32_t sign = (x >> 16) & 0x8000u, mant = x & 0x7FFFFFu;
            int e = (int)((x >> 23) & 0xFF) - 127 + 15;
            uint32_t v = e <= 0 ? 0 : ((uint32_t)e << 10) | (mant >> 13), rem = mant & 0x1FFFu;
            if (e > 0 && (rem > 0x1000u || (rem == 0x1000u && (v & 1)))) ++v;
            h[i] = (uint16_t)(sign | v);
        }
        if (n) CHECK(vks_buffer_write(buf, 0, h, n * 2));
    } else if (n) {
        CHECK(vks_buffer_write(buf, 0, f, n * 4));
    }
    free(f), free(h);
    return buf;
}

static double read_value(const model *m, const void *bytes, size_t i) {
    if (m->c.dt == VKS_DTYPE_F32) return ((const float *)bytes)[i];
    uint16_t h = ((const uint16_t *)bytes)[i];
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1F, mant = h & 0x3FF, x;
    if (e == 0) return (sign ? -1 : 1) * ldexp(mant, -24);
    x = sign | ((e == 31 ? 255 : e - 15 + 127) << 23) | (mant << 13);
    float f;
    memcpy(&f, &x, 4);
    return f;
}

static int32_t zipf(int32_t n) {
    double h = 0;
    for (int32_t k = 0; k < n; ++k) h += 1.0 / (k + 1);
    double u = uniform(0, h);
    for (int32_t k = 0; k < n; ++k)
        if ((u -= 1.0 / (k + 1)) <= 0) return k;
    return n - 1;
}

static vks_tensor rows_of(const model *m, vks_buffer *buf, int64_t first, int64_t rows) {
    const int64_t H = m->c.hidden;
    vks_tensor t = {buf, (uint64_t)(first * H) * m->es, m->c.dt, 2, {rows, H}, {H, 1}};
    return t;
}

static vks_tensor adapter_a(const model *m, int l, int k) {
    vks_tensor t = {m->a[l], (uint64_t)m->a_off[k] * m->es, m->c.dt, 2, {m->ranks[k], m->c.hidden}, {m->c.hidden, 1}};
    return t;
}

static vks_tensor adapter_b(const model *m, int l, int k) {
    vks_tensor t = {m->b[l], (uint64_t)m->b_off[k] * m->es, m->c.dt, 2, {m->c.hidden, m->ranks[k]}, {m->ranks[k], 1}};
    return t;
}

/* merge: one request (one row) at a time, its adapter merged into every layer. */
static void serve_merge(model *m, vks_buffer *x, const int32_t *ids, vks_buffer **h) {
    const int H = m->c.hidden, L = m->c.layers;
    for (int i = 0; i < m->c.batch; ++i) {
        const int32_t k = ids[i];
        for (int l = 0; l < L; ++l) {
            vks_tensor w = vks_tensor_2d(m->w[l], m->c.dt, H, H), a = adapter_a(m, l, k), b = adapter_b(m, l, k);
            CHECK(vks_lora_merge(m->ctx, &w, &a, &b, m->scales[k]));
        }
        for (int l = 0; l < L; ++l) {
            vks_tensor in = rows_of(m, l ? h[l - 1] : x, i, 1), out = rows_of(m, h[l], i, 1);
            vks_tensor w = vks_tensor_2d(m->w[l], m->c.dt, H, H);
            CHECK(vks_gemm(m->ctx, VKS_NO_TRANS, VKS_TRANS, 1.0, &in, &w, 0.0, &out));
        }
        for (int l = 0; l < L; ++l) {
            vks_tensor w = vks_tensor_2d(m->w[l], m->c.dt, H, H), a = adapter_a(m, l, k), b = adapter_b(m, l, k);
            CHECK(vks_lora_unmerge(m->ctx, &w, &a, &b, m->scales[k]));
        }
    }
    CHECK(vks_synchronize(m->ctx));
}

/* loop: rows grouped by adapter (device copies), one fused call per adapter and layer. */
static void serve_loop(model *m, vks_buffer *x, const int32_t *ids, vks_buffer *xg, vks_buffer **h, int32_t *order) {
    const int H = m->c.hidden, L = m->c.layers, B = m->c.batch;
    int32_t *starts = malloc(sizeof(int32_t) * (size_t)(m->c.adapters + 1));
    int pos = 0;
    for (int32_t k = 0; k < m->c.adapters; ++k) {
        starts[k] = pos;
        for (int i = 0; i < B; ++i)
            if (ids[i] == k) {
                order[pos] = i;
                const uint64_t row = (uint64_t)H * m->es;
                CHECK(vks_buffer_copy(x, (uint64_t)i * row, xg, (uint64_t)pos * row, row));
                ++pos;
            }
    }
    starts[m->c.adapters] = pos;
    for (int l = 0; l < L; ++l)
        for (int32_t k = 0; k < m->c.adapters; ++k) {
            const int rows = starts[k + 1] - starts[k];
            if (!rows) continue;
            vks_tensor in = rows_of(m, l ? h[l - 1] : xg, starts[k], rows), out = rows_of(m, h[l], starts[k], rows);
            vks_tensor w = vks_tensor_2d(m->w[l], m->c.dt, H, H), a = adapter_a(m, l, k), b = adapter_b(m, l, k);
            vks_lora_desc d = VKS_LORA_DESC_INIT;
            d.x = &in, d.w = &w, d.a = &a, d.b = &b, d.y = &out, d.scale = m->scales[k];
            CHECK(vks_lora_forward(m->ctx, &d));
        }
    CHECK(vks_synchronize(m->ctx));
    free(starts);
}

/* multi: every row in arrival order with its adapter id, one call per layer. */
static void serve_multi(model *m, vks_buffer *x, const int32_t *ids, vks_buffer **h) {
    const int H = m->c.hidden, L = m->c.layers, B = m->c.batch;
    for (int l = 0; l < L; ++l) {
        vks_tensor in = rows_of(m, l ? h[l - 1] : x, 0, B), out = rows_of(m, h[l], 0, B);
        vks_tensor w = vks_tensor_2d(m->w[l], m->c.dt, H, H);
        vks_tensor a = vks_tensor_1d(m->a[l], m->c.dt, m->a_total), b = vks_tensor_1d(m->b[l], m->c.dt, m->b_total);
        vks_lora_adapters ad = VKS_LORA_ADAPTERS_INIT;
        ad.count = m->c.adapters, ad.ranks = m->ranks, ad.scales = m->scales, ad.a_offsets = m->a_off;
        ad.b_offsets = m->b_off, ad.a = &a, ad.b = &b;
        vks_lora_multi_desc d = VKS_LORA_MULTI_DESC_INIT;
        d.x = &in, d.w = &w, d.y = &out, d.adapters = &ad, d.layout = VKS_LORA_GATHERED, d.indices = ids;
        CHECK(vks_lora_multi_forward(m->ctx, &d));
    }
    CHECK(vks_synchronize(m->ctx));
}

static void usage(void) {
    fprintf(stderr, "usage: lora-serve [--quick] [--hidden H] [--layers L] [--adapters N] [--batch B] [--steps S] "
                    "[--f16] [--device D]\n");
    exit(2);
}

int main(int argc, char **argv) {
    config c = {.hidden = 1024, .layers = 4, .adapters = 32, .batch = 32, .steps = 3, .dt = VKS_DTYPE_F32};
    for (int i = 1; i < argc; ++i) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(argv[i], "--quick")) c.hidden = 512, c.layers = 2, c.adapters = 16, c.batch = 16, c.steps = 2;
        else if (!strcmp(argv[i], "--f16")) c.dt = VKS_DTYPE_F16;
        else if (!strcmp(argv[i], "--hidden") && v) c.hidden = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--layers") && v) c.layers = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--adapters") && v) c.adapters = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--batch") && v) c.batch = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--steps") && v) c.steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--device") && v) c.device = argv[++i];
        else usage();
    }
    if (c.hidden < 1 || c.layers < 1 || c.adapters < 1 || c.batch < 1 || c.steps < 1) usage();
    model m = {.c = c};
    vks_context_options o = VKS_CONTEXT_OPTIONS_INIT;
    o.device_name = c.device;
    CHECK(vks_context_create(&o, &m.ctx));
    vks_device_info info = {.struct_size = sizeof info};
    CHECK(vks_context_get_device_info(m.ctx, &info));
    if (c.dt == VKS_DTYPE_F16 && !(info.features & VKS_FEATURE_STORAGE16)) {
        fprintf(stderr, "lora-serve: %s has no 16-bit storage; run without --f16\n", info.name);
        return 1;
    }
    CHECK(vks_dtype_size(c.dt, &m.es));
    const int H = c.hidden, L = c.layers, N = c.adapters, B = c.batch;
    static const int32_t rank_mix[] = {8, 16, 64, 16};
    m.ranks = malloc(sizeof(int32_t) * (size_t)N), m.scales = malloc(sizeof(double) * (size_t)N);
    m.a_off = malloc(sizeof(int64_t) * (size_t)N), m.b_off = malloc(sizeof(int64_t) * (size_t)N);
    for (int k = 0; k < N; ++k) m.ranks[k] = rank_mix[k % 4], m.scales[k] = 16.0 / m.ranks[k]; /* alpha = 16 */
    CHECK(vks_lora_pack_offsets(N, m.ranks, H, H, m.a_off, m.b_off, &m.a_total, &m.b_total));
    m.w = calloc((size_t)L, sizeof *m.w), m.a = calloc((size_t)L, sizeof *m.a), m.b = calloc((size_t)L, sizeof *m.b);
    const double amp = sqrt(3.0 / H); /* unit-variance activations through the stack */
    for (int l = 0; l < L; ++l) {
        m.w[l] = random_buffer(&m, (size_t)H * H, amp);
        m.a[l] = random_buffer(&m, (size_t)m.a_total, amp);
        m.b[l] = random_buffer(&m, (size_t)m.b_total, 0.02);
    }
    printf("lora-serve on %s: %d layers of %d x %d, %d adapters (ranks 8/16/64, Zipf popularity), %s, %d tokens per "
           "step, %d steps\n",
           info.name, L, H, H, N, c.dt == VKS_DTYPE_F16 ? "f16" : "f32", B, c.steps);

    vks_buffer *x = NULL, *xg = NULL, *hm[3][64] = {{NULL}};
    if (L > 64) usage();
    CHECK(vks_buffer_create(m.ctx, (uint64_t)B * H * m.es, &xg));
    for (int s = 0; s < 3; ++s)
        for (int l = 0; l < L; ++l) CHECK(vks_buffer_create(m.ctx, (uint64_t)B * H * m.es, &hm[s][l]));
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)B), *order = malloc(sizeof(int32_t) * (size_t)B);
    uint8_t *out[3];
    for (int s = 0; s < 3; ++s) out[s] = malloc((size_t)B * H * m.es);
    double seconds[3] = {0, 0, 0}, worst = 0;
    static const char *const names[3] = {"merge per request", "per-adapter loop", "multi-adapter batch"};

    /* One untimed step first: pipelines are created on first use. */
    for (int step = -1; step < c.steps; ++step) {
        for (int i = 0; i < B; ++i) ids[i] = zipf(N);
        x = random_buffer(&m, (size_t)B * H, 1.0);
        CHECK(vks_synchronize(m.ctx));
        for (int s = 0; s < 3; ++s) {
            const double t0 = now_s();
            if (s == 0) serve_merge(&m, x, ids, hm[0]);
            else if (s == 1) serve_loop(&m, x, ids, xg, hm[1], order);
            else serve_multi(&m, x, ids, hm[2]);
            if (step >= 0) seconds[s] += now_s() - t0;
            CHECK(vks_buffer_read(hm[s][L - 1], 0, out[s], (uint64_t)B * H * m.es));
        }
        /* The three agree (loop's rows are in grouped order). */
        double scale = 0, diff = 0;
        for (int i = 0; i < B; ++i)
            for (int j = 0; j < H; ++j) {
                const double ref = read_value(&m, out[2], (size_t)i * H + j);
                scale = fmax(scale, fabs(ref));
                diff = fmax(diff, fabs(read_value(&m, out[0], (size_t)i * H + j) - ref));
            }
        for (int p = 0; p < B; ++p)
            for (int j = 0; j < H; ++j)
                diff = fmax(diff, fabs(read_value(&m, out[1], (size_t)p * H + j) -
                                       read_value(&m, out[2], (size_t)order[p] * H + j)));
        worst = fmax(worst, diff / fmax(scale, 1e-30));
        CHECK(vks_buffer_destroy(x));
    }
    const double tol = c.dt == VKS_DTYPE_F16 ? 2e-2 : 1e-4;
    int distinct = 0;
    for (int k = 0; k < N; ++k)
        for (int i = 0; i < B; ++i)
            if (ids[i] == k) {
                ++distinct;
                break;
            }
    printf("outputs: the three strategies agree to %.2e relative (tolerance %.0e): %s\n", worst, tol,
           worst <= tol ? "ok" : "MISMATCH");
    printf("last step used %d of %d adapters\n\n%-22s %12s %12s %10s\n", distinct, N, "strategy", "ms / step",
           "tokens/s", "vs merge");
    for (int s = 0; s < 3; ++s)
        printf("%-22s %12.2f %12.1f %9.1fx\n", names[s], 1e3 * seconds[s] / c.steps, c.steps * B / seconds[s],
               seconds[0] / seconds[s]);

    for (int s = 0; s < 3; ++s) {
        free(out[s]);
        for (int l = 0; l < L; ++l) vks_buffer_destroy(hm[s][l]);
    }
    for (int l = 0; l < L; ++l) vks_buffer_destroy(m.w[l]), vks_buffer_destroy(m.a[l]), vks_buffer_destroy(m.b[l]);
    vks_buffer_destroy(xg);
    free(ids), free(order), free(m.w), free(m.a), free(m.b);
    free(m.ranks), free(m.scales), free(m.a_off), free(m.b_off);
    vks_context_destroy(m.ctx);
    return worst <= tol ? 0 : 1;
}
