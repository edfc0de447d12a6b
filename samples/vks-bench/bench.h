/*
 * vks-bench: times vkstruct ops with timestamp queries (the context's profiling), after
 * warm-up, as the median of N calls, rotating over several input sets so that caches do
 * not flatter; prints a table and writes JSON lines. Each op family adds a bench_<op>.c
 * with one entry in main.c's table.
 */
#ifndef VKS_BENCH_H
#define VKS_BENCH_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <vkstruct/vkstruct.h>

typedef struct bench_ctx {
    vks_context *ctx;
    vks_device_info info;
    vks_device_peaks peaks;
    FILE *json;
    int iters;  /* timed calls per case */
    int warmup; /* untimed calls first */
    bool quick;
    bool cpu;   /* the device is a CPU (lavapipe): smaller sizes */
    bool cpu_kernels; /* the context runs the CPU kernel family (its tuning, else the device) */
    vks_tuning tuning; /* the context's kernel choices (--kernels, the environment) */
    uint64_t seed;
} bench_ctx;

/* One row: what was timed and how fast it ran. */
typedef struct bench_row {
    const char *op, *variant;
    const char *impl; /* NULL: "vkstruct" */
    vks_dtype dtype;
    char shape[256];  /* a JSON object, e.g. {"m":1024,"n":1024,"k":1024} */
    char extra[256];  /* more JSON fields without braces, e.g. "orth_err":0.3 ("" if none) */
    double flops, bytes; /* the work and the least traffic of one call */
    double max_rel_err;  /* against a float64 oracle on the same inputs; <0: not measured */
    double median_ms, min_ms;
    int iters;
} bench_row;

/* Records one call of the op on input set `set` (0..nsets-1). Returns a status. */
typedef vks_status (*bench_record_fn)(void *user, int set);

/* Times `record`: warm-up, then b->iters calls, one synchronize, per-call GPU time from
 * the profile entries. Fills row->median_ms/min_ms/iters. */
vks_status bench_time(bench_ctx *b, bench_record_fn record, void *user, int nsets, bench_row *row);
/* bench_time by the wall clock, each call synchronized: for ops with a host stage (the
 * tridiagonal eigensolver) whose time the timestamps do not see. */
vks_status bench_time_wall(bench_ctx *b, bench_record_fn record, void *user, int nsets, bench_row *row);
/* Prints the row (and its fraction of the measured peaks) and writes its JSON line. */
void bench_report(bench_ctx *b, const bench_row *row);
/* How many input sets of `bytes_per_set` rotate out of the caches (2..16). */
int bench_sets(const bench_ctx *b, double bytes_per_set);
void bench_table_header(void);

/* Helpers for benches: device buffers of random values, and host copies. */
vks_buffer *bench_random_buffer(bench_ctx *b, vks_dtype dt, size_t n, double lo, double hi, double *host_copy);
double bench_read_value(vks_buffer *buf, vks_dtype dt, size_t index);
const char *bench_dtype_name(vks_dtype dt);
double bench_uniform(uint64_t *state, double lo, double hi);

#define BENCH_TRY(call)                                                                              \
    do {                                                                                             \
        vks_status bench_s_ = (call);                                                                \
        if (bench_s_ != VKS_OK) {                                                                    \
            fprintf(stderr, "vks-bench: %s: %s: %s\n", #call, vks_status_string(bench_s_), vks_last_error(NULL)); \
            return bench_s_;                                                                         \
        }                                                                                            \
    } while (0)

/* The op families. */
vks_status bench_gemm(bench_ctx *b);
vks_status bench_monarch(bench_ctx *b);
vks_status bench_orthogonal(bench_ctx *b);
vks_status bench_kron(bench_ctx *b);
vks_status bench_lowrank(bench_ctx *b);

#endif
