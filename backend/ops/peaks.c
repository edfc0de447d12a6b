/*
 * The device's measured peaks, the denominators of every benchmark's "fraction of
 * peak": a vec4 copy kernel for bandwidth (bytes read + written) and an FMA kernel for
 * arithmetic. Best of several timestamped runs.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define REPS 7u
#define MIB (1024ull * 1024ull)

typedef struct copy_push {
    uint64_t src, dst;
    uint32_t n;
} copy_push;

typedef struct mma_push {
    uint64_t out;
    uint32_t iters;
} mma_push;

typedef struct fma_push {
    uint64_t out;
    uint32_t iters;
    float seed;
} fma_push;

static double best_ms(const uint64_t *ts, uint32_t first_pair, uint32_t pairs, double period_ns, uint64_t mask) {
    double best = 1e300;
    for (uint32_t r = 0; r < pairs; ++r) {
        uint64_t t0 = ts[2 * (first_pair + r)] & mask, t1 = ts[2 * (first_pair + r) + 1] & mask;
        double ms = (double)((t1 - t0) & mask) * period_ns * 1e-6;
        if (ms > 0 && ms < best) best = ms;
    }
    return best;
}

static vks_status measure_locked(vks_context *ctx, vks_device_peaks *out) {
    const bool cpu = ctx->probe.info.type == VKS_DEVICE_CPU; /* sizes and load width follow the device */
    static const vks_shader_id fma_shaders[3] = {VKS_SHADER_PEAK_FMA_F32, VKS_SHADER_PEAK_FMA_F16,
                                                 VKS_SHADER_PEAK_FMA_F64};
    const bool has[3] = {true, vks__has_feature(ctx, VKS_FEATURE_FLOAT16), vks__has_feature(ctx, VKS_FEATURE_FLOAT64)};
    uint64_t bytes = cpu ? 64 * MIB : VKS_MIN(256 * MIB, VKS_MAX(ctx->probe.info.device_local_bytes / 16, 16 * MIB));
    const uint32_t fma_groups = cpu ? 32 : 4096, fma_iters = cpu ? 256 : 1024;
    const uint32_t fma_threads = fma_groups * 256;

    vks_buffer *src = NULL, *dst = NULL, *sink = NULL;
    VkQueryPool pool = VK_NULL_HANDLE;
    /* Matrix units, where the GEMM uses them: 4 subgroups x 8 fragments of 16x16 per group. */
    const bool mma = vks__has_feature(ctx, VKS_FEATURE_COOPMAT_NV) && ctx->probe.info.subgroup_size == 32;
    const uint32_t mma_groups = 1024, mma_iters = 64;
    const uint32_t npairs = 5 * REPS; /* copy, FMA in f32, f16, f64, then MMA */
    uint64_t ts[2 * 5 * REPS] = {0};
    vks_status st = vks__flush_locked(ctx);
    if (st == VKS_OK) st = vks__buffer_create_locked(ctx, bytes, true, &src);
    if (st == VKS_OK) st = vks__buffer_create_locked(ctx, bytes, true, &dst);
    const uint64_t sink_bytes = VKS_MAX((uint64_t)fma_threads * 4, mma ? (uint64_t)mma_groups * 4 * 8 * 1024 : 0);
    if (st == VKS_OK) st = vks__buffer_create_locked(ctx, sink_bytes, true, &sink);
    if (st == VKS_OK) {
        VkQueryPoolCreateInfo qi = {.sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
                                    .queryType = VK_QUERY_TYPE_TIMESTAMP,
                                    .queryCount = 2 * npairs};
        VkResult r = ctx->vk.vkCreateQueryPool(ctx->device, &qi, NULL, &pool);
        if (r != VK_SUCCESS) st = vks__vk_error(r, "vkCreateQueryPool");
    }
    if (st == VKS_OK) st = vks__record_query_reset(ctx, pool, 0, 2 * npairs);
    /* 1.0f everywhere: timing never runs on zeros. */
    if (st == VKS_OK) st = vks__record_fill(ctx, src->buffer, 0, bytes, 0x3f800000u);
    const uint32_t n = (uint32_t)(bytes / 16);
    const uint32_t copy_groups = VKS_MIN(VKS_CEIL_DIV(n, 256u), 65535u);
    for (uint32_t r = 0; r < REPS && st == VKS_OK; ++r) {
        copy_push cp = {src->address, dst->address, n};
        const vks_spec spec = {.count = 1, .values = {cpu}};
        st = vks__record_timestamp(ctx, pool, 2 * r);
        if (st == VKS_OK) st = vks__dispatch(ctx, VKS_SHADER_PEAK_COPY, &spec, &cp, sizeof cp, copy_groups, 1, 1);
        if (st == VKS_OK) st = vks__record_timestamp(ctx, pool, 2 * r + 1);
    }
    for (uint32_t v = 0; v < 3; ++v)
        for (uint32_t r = 0; r < REPS && st == VKS_OK && has[v]; ++r) {
            fma_push fp = {sink->address, fma_iters, 1e-3f};
            uint32_t q = 2 * ((1 + v) * REPS + r);
            st = vks__record_timestamp(ctx, pool, q);
            if (st == VKS_OK)
                st = vks__dispatch(ctx, fma_shaders[v], NULL, &fp, sizeof fp, fma_groups, 1, 1);
            if (st == VKS_OK) st = vks__record_timestamp(ctx, pool, q + 1);
        }
    for (uint32_t r = 0; r < REPS && st == VKS_OK && mma; ++r) {
        mma_push mp = {sink->address, mma_iters};
        uint32_t q = 2 * (4 * REPS + r);
        st = vks__record_timestamp(ctx, pool, q);
        if (st == VKS_OK) st = vks__dispatch(ctx, VKS_SHADER_PEAK_MMA, NULL, &mp, sizeof mp, mma_groups, 1, 1);
        if (st == VKS_OK) st = vks__record_timestamp(ctx, pool, q + 1);
    }
    if (st == VKS_OK) st = vks__flush_locked(ctx);
    if (st == VKS_OK) {
        /* Only the pairs that ran were written: read those. */
        for (uint32_t v = 0; v < 5 && st == VKS_OK; ++v) {
            if ((v > 0 && v < 4 && !has[v - 1]) || (v == 4 && !mma)) continue;
            VkResult r = ctx->vk.vkGetQueryPoolResults(ctx->device, pool, 2 * v * REPS, 2 * REPS, 2 * REPS * sizeof ts[0],
                                                       ts + 2 * v * REPS, sizeof ts[0],
                                                       VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT);
            if (r != VK_SUCCESS) st = vks__vk_error(r, "vkGetQueryPoolResults");
        }
    }
    if (st == VKS_OK) {
        const double period = ctx->probe.info.timestamp_period_ns;
        const uint32_t bits = ctx->probe.timestamp_valid_bits;
        const uint64_t mask = bits >= 64 ? ~0ull : ((1ull << bits) - 1);
        const double flops = (double)fma_threads * fma_iters * 32.0; /* 8 vec2 FMAs per round */
        out->copy_gbps = 2.0 * (double)bytes / (best_ms(ts, 0, REPS, period, mask) * 1e-3) * 1e-9;
        out->fma_gflops_f32 = flops / (best_ms(ts, REPS, REPS, period, mask) * 1e-3) * 1e-9;
        out->fma_gflops_f16 = has[1] ? flops / (best_ms(ts, 2 * REPS, REPS, period, mask) * 1e-3) * 1e-9 : 0.0;
        out->fma_gflops_f64 = has[2] ? flops / (best_ms(ts, 3 * REPS, REPS, period, mask) * 1e-3) * 1e-9 : 0.0;
        const double mma_flops = (double)mma_groups * 4 * 8 * mma_iters * 8192.0;
        out->mma_gflops_f16 = mma ? mma_flops / (best_ms(ts, 4 * REPS, REPS, period, mask) * 1e-3) * 1e-9 : 0.0;
    }
    if (pool) ctx->vk.vkDestroyQueryPool(ctx->device, pool, NULL);
    if (src) vks__buffer_destroy_locked(src);
    if (dst) vks__buffer_destroy_locked(dst);
    if (sink) vks__buffer_destroy_locked(sink);
    return st;
}

typedef struct peaks_call {
    vks_device_peaks *peaks;
    vks_device_peaks p;
} peaks_call;

static vks_status peaks_check(vks_context *ctx, void *call, bool *empty) {
    const peaks_call *c = call;
    (void)empty;
    VKS_TRY(vks__struct_check("vks_measure_peaks", "peaks", VKS_STRUCT_DEVICE_PEAKS, c->peaks));
    if (!vks__has_feature(ctx, VKS_FEATURE_TIMESTAMPS))
        return vks__error(VKS_ERROR_UNSUPPORTED, "vks_measure_peaks: device '%s' has no timestamp queries on its "
                                                 "compute queue",
                          ctx->probe.info.name);
    return VKS_OK;
}

/* Its own op regions, timed one by one. */
static vks_status peaks_record(vks_context *ctx, void *call) { return measure_locked(ctx, &((peaks_call *)call)->p); }

vks_status vks_measure_peaks(vks_context *ctx, vks_device_peaks *peaks) {
    peaks_call call = {.peaks = peaks, .p = {.struct_size = sizeof(vks_device_peaks)}};
    const vks_op op = {.fn = "vks_measure_peaks", .validate = peaks_check, .record = peaks_record};
    vks_status st = vks__op_run(ctx, &op, &call);
    if (st == VKS_OK) st = vks__struct_out("vks_measure_peaks", "peaks", VKS_STRUCT_DEVICE_PEAKS, peaks, &call.p);
    return st;
}
