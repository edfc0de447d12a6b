#include "bench.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int cmp_double(const void *x, const void *y) {
    double a = *(const double *)x, c = *(const double *)y;
    return (a > c) - (a < c);
}

vks_status bench_time(bench_ctx *b, bench_record_fn record, void *user, int nsets, bench_row *row) {
    if (nsets < 1) nsets = 1;
    /* Warm-up (pipelines, caches, clocks); also tells how many ops one call records. */
    BENCH_TRY(vks_profile_clear(b->ctx));
    for (int i = 0; i < b->warmup; ++i) BENCH_TRY(record(user, i % nsets));
    BENCH_TRY(vks_synchronize(b->ctx));
    size_t before = 0;
    BENCH_TRY(vks_profile_get(b->ctx, NULL, 0, &before));
    const size_t per_call = b->warmup > 0 ? before / (size_t)b->warmup : 1;
    BENCH_TRY(vks_profile_clear(b->ctx));

    const int n = b->iters;
    for (int i = 0; i < n; ++i) BENCH_TRY(record(user, i % nsets));
    BENCH_TRY(vks_synchronize(b->ctx));
    size_t count = 0;
    BENCH_TRY(vks_profile_get(b->ctx, NULL, 0, &count));
    vks_profile_entry *e = calloc(count ? count : 1, sizeof *e);
    double *ms = calloc((size_t)n, sizeof *ms);
    if (!e || !ms) {
        free(e), free(ms);
        return VKS_ERROR_OUT_OF_HOST_MEMORY;
    }
    BENCH_TRY(vks_profile_get(b->ctx, e, count, &count));
    int calls = per_call ? (int)(count / per_call) : 0;
    if (calls > n) calls = n;
    for (int i = 0; i < calls; ++i)
        for (size_t j = 0; j < per_call; ++j) ms[i] += e[(size_t)i * per_call + j].gpu_ms;
    qsort(ms, (size_t)calls, sizeof *ms, cmp_double);
    row->iters = calls;
    row->median_ms = calls ? (calls % 2 ? ms[calls / 2] : 0.5 * (ms[calls / 2 - 1] + ms[calls / 2])) : NAN;
    row->min_ms = calls ? ms[0] : NAN;
    free(e);
    free(ms);
    BENCH_TRY(vks_profile_clear(b->ctx));
    return VKS_OK;
}

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

vks_status bench_time_wall(bench_ctx *b, bench_record_fn record, void *user, int nsets, bench_row *row) {
    if (nsets < 1) nsets = 1;
    for (int i = 0; i < b->warmup; ++i) BENCH_TRY(record(user, i % nsets));
    BENCH_TRY(vks_synchronize(b->ctx));
    const int n = b->iters;
    double *ms = calloc((size_t)n, sizeof *ms);
    if (!ms) return VKS_ERROR_OUT_OF_HOST_MEMORY;
    for (int i = 0; i < n; ++i) {
        const double t0 = now_ms();
        vks_status st = record(user, i % nsets);
        if (st == VKS_OK) st = vks_synchronize(b->ctx);
        if (st != VKS_OK) {
            free(ms);
            return st;
        }
        ms[i] = now_ms() - t0;
    }
    qsort(ms, (size_t)n, sizeof *ms, cmp_double);
    row->iters = n;
    row->median_ms = n ? (n % 2 ? ms[n / 2] : 0.5 * (ms[n / 2 - 1] + ms[n / 2])) : NAN;
    row->min_ms = n ? ms[0] : NAN;
    free(ms);
    BENCH_TRY(vks_profile_clear(b->ctx));
    return VKS_OK;
}

int bench_sets(const bench_ctx *b, double bytes_per_set) {
    /* 256 MiB of inputs in rotation is beyond any L2/LLC we meet (H100: 50 MB). */
    double total = b->cpu ? 96e6 : 256e6;
    int sets = (int)ceil(total / fmax(bytes_per_set, 1.0));
    return sets < 2 ? 2 : sets > 16 ? 16 : sets;
}

const char *bench_dtype_name(vks_dtype dt) {
    switch (dt) {
    case VKS_DTYPE_F32: return "f32";
    case VKS_DTYPE_F16: return "f16";
    case VKS_DTYPE_F64: return "f64";
    case VKS_DTYPE_BF16: return "bf16";
    case VKS_DTYPE_I32: return "i32";
    default: return "?";
    }
}

static double peak_flops(const bench_ctx *b, vks_dtype dt) {
    /* f16 kernels accumulate in f32: their ceiling is the f32 FMA rate, or the matrix
     * units' rate where the device has them (vkstruct then uses them for f16). */
    double g = dt == VKS_DTYPE_F64 ? b->peaks.fma_gflops_f64 : b->peaks.fma_gflops_f32;
    if ((dt == VKS_DTYPE_F16 || dt == VKS_DTYPE_BF16) && b->peaks.mma_gflops_f16 > g) g = b->peaks.mma_gflops_f16;
    return g * 1e9;
}

void bench_table_header(void) {
    printf("%-16s %-10s %-5s %-38s %10s %10s %9s %9s %7s %9s\n", "op", "variant", "dtype", "shape", "median ms",
           "min ms", "GFLOP/s", "GB/s", "peak%", "rel err");
}

void bench_report(bench_ctx *b, const bench_row *r) {
    const double s = r->median_ms * 1e-3;
    const double gflops = r->flops / s * 1e-9, gbps = r->bytes / s * 1e-9;
    /* The floor: the larger of compute time at the FMA peak and traffic time at the copy
     * bandwidth. Fraction of peak = floor / measured. */
    const double pf = peak_flops(b, r->dtype), pb = b->peaks.copy_gbps * 1e9;
    const double floor_s = fmax(pf > 0 ? r->flops / pf : 0, pb > 0 ? r->bytes / pb : 0);
    const double frac = s > 0 ? floor_s / s : 0;
    char err[32] = "-";
    if (r->max_rel_err >= 0) snprintf(err, sizeof err, "%.2e", r->max_rel_err);
    printf("%-16s %-10s %-5s %-38.38s %10.4f %10.4f %9.1f %9.1f %6.1f%% %9s\n", r->op, r->variant,
           bench_dtype_name(r->dtype), r->shape, r->median_ms, r->min_ms, gflops, gbps, 100 * frac, err);
    fflush(stdout);
    if (!b->json) return;
    fprintf(b->json,
            "{\"op\":\"%s\",\"variant\":\"%s\",\"impl\":\"%s\",\"dtype\":\"%s\",\"shape\":%s,\"device\":\"%s\","
            "\"driver\":\"%s %s\",\"median_ms\":%.6g,\"min_ms\":%.6g,\"iters\":%d,\"flops\":%.6g,\"bytes\":%.6g,"
            "\"gflops\":%.6g,\"gbps\":%.6g,\"peak_fraction\":%.4g,\"max_rel_err\":%s%s%s}\n",
            r->op, r->variant, r->impl ? r->impl : "vkstruct", bench_dtype_name(r->dtype), r->shape, b->info.name,
            b->info.driver_name, b->info.driver_info, r->median_ms, r->min_ms, r->iters, r->flops, r->bytes, gflops, gbps,
            frac, r->max_rel_err >= 0 ? err : "null", r->extra[0] ? "," : "", r->extra);
    fflush(b->json);
}

double bench_uniform(uint64_t *state, double lo, double hi) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return lo + (hi - lo) * ((z >> 11) * 0x1.0p-53);
}

static uint16_t to_half(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u;
    int e = (int)((x >> 23) & 0xFF) - 127 + 15;
    uint32_t m = x & 0x7FFFFFu;
    if (e <= 0) return (uint16_t)sign; /* benches use values far from the subnormal range */
    if (e >= 31) return (uint16_t)(sign | 0x7C00u);
    uint32_t h = ((uint32_t)e << 10) | (m >> 13), rem = m & 0x1FFFu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) ++h;
    return (uint16_t)(sign | h);
}

static float from_half(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1F, m = h & 0x3FF, x;
    if (e == 0) return sign ? -ldexpf((float)m, -24) : ldexpf((float)m, -24);
    x = sign | ((e == 31 ? 255 : e - 15 + 127) << 23) | (m << 13);
    float f;
    memcpy(&f, &x, 4);
    return f;
}

vks_buffer *bench_random_buffer(bench_ctx *b, vks_dtype dt, size_t n, double lo, double hi, double *host) {
    size_t es = 0;
    vks_dtype_size(dt, &es);
    vks_buffer *buf = NULL;
    if (vks_buffer_create(b->ctx, n * es, &buf) != VKS_OK) return NULL;
    uint8_t *bytes = malloc(n * es);
    if (!bytes) {
        vks_buffer_destroy(buf);
        return NULL;
    }
    for (size_t i = 0; i < n; ++i) {
        double v = bench_uniform(&b->seed, lo, hi);
        if (dt == VKS_DTYPE_F32) {
            float f = (float)v;
            memcpy(bytes + 4 * i, &f, 4);
            v = f;
        } else if (dt == VKS_DTYPE_F16) {
            uint16_t h = to_half((float)v);
            memcpy(bytes + 2 * i, &h, 2);
            v = from_half(h);
        } else if (dt == VKS_DTYPE_F64) {
            memcpy(bytes + 8 * i, &v, 8);
        }
        if (host) host[i] = v;
    }
    vks_status st = vks_buffer_write(buf, 0, bytes, n * es);
    free(bytes);
    if (st != VKS_OK) {
        vks_buffer_destroy(buf);
        return NULL;
    }
    return buf;
}

double bench_read_value(vks_buffer *buf, vks_dtype dt, size_t index) {
    uint8_t v[8] = {0};
    size_t es = 0;
    vks_dtype_size(dt, &es);
    if (vks_buffer_read(buf, index * es, v, es) != VKS_OK) return NAN;
    if (dt == VKS_DTYPE_F32) {
        float f;
        memcpy(&f, v, 4);
        return f;
    }
    if (dt == VKS_DTYPE_F16) {
        uint16_t h;
        memcpy(&h, v, 2);
        return from_half(h);
    }
    double d;
    memcpy(&d, v, 8);
    return d;
}
