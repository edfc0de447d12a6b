/*
 * vks-bench [--op NAME|all] [--quick] [--json FILE] [--device D] [--iters N] [--kernels K] [--list]
 * Measures the device's peaks once (copy bandwidth, FMA rate), then times each op.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "sample_device.h"

static const struct {
    const char *name;
    vks_status (*run)(bench_ctx *b);
    const char *what;
} ops[] = {
    {"gemm", bench_gemm, "dense GEMM, the baseline every structured op is compared with"},
    {"monarch", bench_monarch, "Monarch forward: fused vs two-pass vs the peers' unfused way vs dense GEMM"},
    {"orthogonal", bench_orthogonal, "Newton-Schulz / Polar Express (orth_err, polar_err), SYRK vs GEMM, Cholesky, eigh, CholeskyQR2"},
    {"kron", bench_kron, "Kronecker GP: mode products, kernel matrices, noisy solves vs dense solves"},
    {"lora", bench_lowrank, "fused LoRA vs unfused; multi-adapter SGMV/BGMV vs a per-adapter loop"},
};

/* vkstruct's own notices (VKS_PIPELINE_STATS=1 compiler statistics, cache notices). */
static void print_notice(void *user, vks_message_source source, vks_message_severity sev, const char *msg) {
    (void)user, (void)sev;
    if (source == VKS_SOURCE_LIBRARY) fprintf(stderr, "vkstruct: %s\n", msg);
}

static void usage(FILE *f) {
    fprintf(f, "usage: vks-bench [--op NAME|all] [--quick] [--json FILE] [--device D] [--iters N] [--kernels K] [--list]\n"
               "  --op      which op family (default all)\n"
               "  --quick   a few sizes, few iterations (make demo)\n"
               "  --json    append one JSON line per row to FILE\n"
               "  --device  device index or name substring (default: $VKS_DEVICE, else the best)\n"
               "  --iters   timed calls per case (median reported)\n"
               "  --kernels auto|cpu|gpu: the kernel family (vks_tuning.kernels; default: $VKS_KERNELS, else auto)\n"
               "  other kernel choices come from the environment (VKS_MONARCH_COOPMAT, ...: docs/API.md)\n");
}

int main(int argc, char **argv) {
    const char *op = "all", *json = NULL, *device = NULL;
    bench_ctx b = {.iters = 0, .warmup = 3, .seed = 42};
    vks_tuning tuning = VKS_TUNING_INIT;
    for (int i = 1; i < argc; ++i) {
        if (!strcmp(argv[i], "--op") && i + 1 < argc) op = argv[++i];
        else if (!strcmp(argv[i], "--kernels") && i + 1 < argc && !strcmp(argv[i + 1], "auto")) ++i;
        else if (!strcmp(argv[i], "--kernels") && i + 1 < argc && !strcmp(argv[i + 1], "cpu"))
            tuning.kernels = VKS_KERNELS_CPU, ++i;
        else if (!strcmp(argv[i], "--kernels") && i + 1 < argc && !strcmp(argv[i + 1], "gpu"))
            tuning.kernels = VKS_KERNELS_GPU, ++i;
        else if (!strcmp(argv[i], "--json") && i + 1 < argc) json = argv[++i];
        else if (!strcmp(argv[i], "--device") && i + 1 < argc) device = argv[++i];
        else if (!strcmp(argv[i], "--iters") && i + 1 < argc) b.iters = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--quick")) b.quick = true;
        else if (!strcmp(argv[i], "--list")) {
            for (size_t k = 0; k < sizeof ops / sizeof ops[0]; ++k) printf("%-12s %s\n", ops[k].name, ops[k].what);
            return 0;
        } else {
            usage(strcmp(argv[i], "--help") ? stderr : stdout);
            return strcmp(argv[i], "--help") ? 2 : 0;
        }
    }
    vks_context_options o = VKS_CONTEXT_OPTIONS_INIT;
    o.flags = VKS_CONTEXT_PROFILING;
    if (getenv("VKS_PIPELINE_STATS")) o.message_callback = print_notice;
    o.tuning = &tuning; /* fields left at AUTO take the environment's values */
    sample_choose_device(&o, device);
    vks_status st = vks_context_create(&o, &b.ctx);
    if (st != VKS_OK) {
        fprintf(stderr, "vks-bench: %s: %s\n", vks_status_string(st), vks_last_error(NULL));
        return 1;
    }
    b.info.struct_size = sizeof b.info;
    vks_context_get_device_info(b.ctx, &b.info);
    b.cpu = b.info.type == VKS_DEVICE_CPU;
    b.tuning.struct_size = sizeof b.tuning;
    vks_context_get_tuning(b.ctx, &b.tuning);
    b.cpu_kernels = b.tuning.kernels == VKS_KERNELS_AUTO ? b.cpu : b.tuning.kernels == VKS_KERNELS_CPU;
    if (b.iters <= 0) b.iters = b.quick ? 5 : (b.cpu ? 10 : 50);
    if (json && !(b.json = fopen(json, "a"))) {
        fprintf(stderr, "vks-bench: cannot open %s\n", json);
        vks_context_destroy(b.ctx);
        return 1;
    }
    b.peaks.struct_size = sizeof b.peaks;
    st = vks_measure_peaks(b.ctx, &b.peaks);
    if (st != VKS_OK) {
        fprintf(stderr, "vks-bench: measuring peaks: %s: %s\n", vks_status_string(st), vks_last_error(NULL));
        vks_context_destroy(b.ctx);
        return 1;
    }
    printf("device: %s (%s %s)\n", b.info.name, b.info.driver_name, b.info.driver_info);
    printf("peaks:  copy %.1f GB/s, FMA f32 %.1f GFLOP/s, f16 %.1f GFLOP/s, f64 %.1f GFLOP/s, MMA f16 %.1f GFLOP/s\n\n",
           b.peaks.copy_gbps, b.peaks.fma_gflops_f32, b.peaks.fma_gflops_f16, b.peaks.fma_gflops_f64,
           b.peaks.mma_gflops_f16);
    if (b.json) {
        const char *names[] = {"peak_copy", "peak_fma"};
        for (int k = 0; k < 2; ++k)
            fprintf(b.json,
                    "{\"op\":\"%s\",\"variant\":\"probe\",\"impl\":\"vkstruct\",\"dtype\":\"f32\",\"shape\":{},"
                    "\"device\":\"%s\",\"driver\":\"%s %s\",\"median_ms\":null,\"min_ms\":null,\"iters\":7,"
                    "\"flops\":null,\"bytes\":null,\"gflops\":%.6g,\"gbps\":%.6g,\"peak_fraction\":1,"
                    "\"max_rel_err\":null,\"fma_gflops_f16\":%.6g,\"fma_gflops_f64\":%.6g,\"mma_gflops_f16\":%.6g}\n",
                    names[k], b.info.name, b.info.driver_name, b.info.driver_info, k ? b.peaks.fma_gflops_f32 : 0.0,
                    k ? 0.0 : b.peaks.copy_gbps, b.peaks.fma_gflops_f16, b.peaks.fma_gflops_f64, b.peaks.mma_gflops_f16);
    }
    bench_table_header();
    int failures = 0, ran = 0;
    for (size_t k = 0; k < sizeof ops / sizeof ops[0]; ++k) {
        if (strcmp(op, "all") && strcmp(op, ops[k].name)) continue;
        ++ran;
        if (ops[k].run(&b) != VKS_OK) ++failures;
    }
    if (!ran) {
        fprintf(stderr, "vks-bench: unknown op '%s' (--list shows them)\n", op);
        failures = 1;
    }
    if (b.json) fclose(b.json);
    vks_context_destroy(b.ctx);
    return failures ? 1 : 0;
}
