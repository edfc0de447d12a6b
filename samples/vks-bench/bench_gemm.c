/* gemm rows: C = A * B (row-major, no transposes) at several sizes and dtypes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"

typedef struct gemm_bench {
    bench_ctx *b;
    vks_dtype dt;
    int64_t m, n, k;
    int nsets;
    vks_buffer *a[16], *bb[16], *c[16];
} gemm_bench;

static vks_status record_gemm(void *user, int set) {
    gemm_bench *g = user;
    vks_tensor a = vks_tensor_2d(g->a[set], g->dt, g->m, g->k), b = vks_tensor_2d(g->bb[set], g->dt, g->k, g->n);
    vks_tensor c = vks_tensor_2d(g->c[set], g->dt, g->m, g->n);
    return vks_gemm(g->b->ctx, VKS_NO_TRANS, VKS_NO_TRANS, 1.0, &a, &b, 0.0, &c);
}

/* Error on 64 sampled entries of set 0's output against float64 dot products. */
static double sampled_error(gemm_bench *g, const double *a, const double *b) {
    double err = 0, scale = 0;
    uint64_t s = 12345;
    for (int t = 0; t < 64; ++t) {
        int64_t i = (int64_t)bench_uniform(&s, 0, (double)g->m), j = (int64_t)bench_uniform(&s, 0, (double)g->n);
        double want = 0;
        for (int64_t k = 0; k < g->k; ++k) want += a[i * g->k + k] * b[k * g->n + j];
        double got = bench_read_value(g->c[0], g->dt, (size_t)(i * g->n + j));
        err = fmax(err, fabs(got - want));
        scale = fmax(scale, fabs(want));
        if (!isfinite(got)) return INFINITY;
    }
    return err / fmax(scale, 1e-300);
}

static vks_status run(bench_ctx *b, vks_dtype dt, int64_t m, int64_t n, int64_t k) {
    size_t es = 0;
    vks_dtype_size(dt, &es);
    gemm_bench g = {.b = b, .dt = dt, .m = m, .n = n, .k = k};
    const double set_bytes = (double)(m * k + k * n + m * n) * (double)es;
    g.nsets = bench_sets(b, set_bytes);
    double *ha = malloc(sizeof(double) * (size_t)(m * k)), *hb = malloc(sizeof(double) * (size_t)(k * n));
    vks_status st = (ha && hb) ? VKS_OK : VKS_ERROR_OUT_OF_HOST_MEMORY;
    for (int s = 0; s < g.nsets && st == VKS_OK; ++s) {
        g.a[s] = bench_random_buffer(b, dt, (size_t)(m * k), -1, 1, s == 0 ? ha : NULL);
        g.bb[s] = bench_random_buffer(b, dt, (size_t)(k * n), -1, 1, s == 0 ? hb : NULL);
        if (!g.a[s] || !g.bb[s] || vks_buffer_create(b->ctx, (uint64_t)(m * n) * es, &g.c[s]) != VKS_OK)
            st = VKS_ERROR_OUT_OF_DEVICE_MEMORY;
    }
    /* The kernel vks_gemm picks (backend/ops/gemm.c): named so reports say what ran. */
    bench_row row = {.op = "gemm", .variant = "tiled", .dtype = dt};
    if (b->info.type == VKS_DEVICE_CPU) row.variant = "regtile";
    else if (dt == VKS_DTYPE_F16 && (b->info.features & VKS_FEATURE_COOPMAT_NV)) row.variant = "coopmat";
    snprintf(row.shape, sizeof row.shape, "{\"m\":%lld,\"n\":%lld,\"k\":%lld}", (long long)m, (long long)n, (long long)k);
    row.flops = 2.0 * (double)m * (double)n * (double)k;
    row.bytes = set_bytes;
    if (st == VKS_OK) st = bench_time(b, record_gemm, &g, g.nsets, &row);
    if (st == VKS_OK) {
        row.max_rel_err = sampled_error(&g, ha, hb);
        bench_report(b, &row);
    }
    for (int s = 0; s < g.nsets; ++s) vks_buffer_destroy(g.a[s]), vks_buffer_destroy(g.bb[s]), vks_buffer_destroy(g.c[s]);
    free(ha);
    free(hb);
    return st;
}

vks_status bench_gemm(bench_ctx *b) {
    static const int64_t cpu_sizes[][3] = {{256, 256, 256}, {512, 512, 512}, {1024, 1024, 1024}, {1, 4096, 4096}};
    static const int64_t gpu_sizes[][3] = {{1024, 1024, 1024}, {2048, 2048, 2048}, {4096, 4096, 4096},
                                           {8192, 8192, 8192}, {16, 4096, 4096},   {16384, 4096, 1024}};
    const int64_t(*sizes)[3] = b->cpu ? cpu_sizes : gpu_sizes;
    size_t count = b->cpu ? sizeof cpu_sizes / sizeof cpu_sizes[0] : sizeof gpu_sizes / sizeof gpu_sizes[0];
    if (b->quick) count = b->cpu ? 2 : 3;
    const vks_dtype dts[] = {VKS_DTYPE_F32, VKS_DTYPE_F16};
    /* "m,n,k": one shape in f32, f16 and f64 (development; f64 is what the Kronecker mode
     * products run). */
    const char *only = getenv("VKS_BENCH_GEMM");
    long long m, n, k;
    if (only && sscanf(only, "%lld,%lld,%lld", &m, &n, &k) == 3) {
        BENCH_TRY(run(b, VKS_DTYPE_F32, m, n, k));
        if (b->info.features & VKS_FEATURE_STORAGE16) BENCH_TRY(run(b, VKS_DTYPE_F16, m, n, k));
        if (b->info.features & VKS_FEATURE_FLOAT64) BENCH_TRY(run(b, VKS_DTYPE_F64, m, n, k));
        return VKS_OK;
    }
    for (size_t d = 0; d < (b->quick ? 1u : 2u); ++d) {
        if (dts[d] == VKS_DTYPE_F16 && !(b->info.features & VKS_FEATURE_STORAGE16)) continue;
        for (size_t i = 0; i < count; ++i) BENCH_TRY(run(b, dts[d], sizes[i][0], sizes[i][1], sizes[i][2]));
    }
    return VKS_OK;
}
