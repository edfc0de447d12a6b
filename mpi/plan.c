/* The pure half of vkstruct_mpi: messages, tensor helpers and the deterministic partitions
 * (no MPI here, so hosts and tests can plan without it). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mpi_internal.h"

/* Per thread, like the core library's vks_last_error(). */
static _Thread_local char tls_message[1536];

const char *vks_mpi_last_error(void) { return tls_message; }

vks_status vks__mpi_error(vks_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tls_message, sizeof tls_message, fmt, ap);
    va_end(ap);
    return status;
}

vks_status vks__mpi_core_error(vks_status status, const char *fn, const char *what) {
    char core[1024];
    snprintf(core, sizeof core, "%s", vks_last_error(NULL));
    return vks__mpi_error(status, "%s: %s: %s", fn, what, core[0] ? core : vks_status_string(status));
}

size_t vks__mpi_dtype_bytes(vks_dtype dt) {
    size_t b = 0;
    return vks_dtype_size(dt, &b) == VKS_OK ? b : 0;
}

bool vks__mpi_compact(const vks_tensor *t) {
    int64_t stride = 1;
    for (int32_t i = t->ndim - 1; i >= 0; --i) {
        if (t->shape[i] != 1 && t->strides[i] != stride) return false;
        stride *= t->shape[i];
    }
    return true;
}

int64_t vks__mpi_numel(const vks_tensor *t) {
    int64_t n = 1;
    for (int32_t i = 0; i < t->ndim && i < VKS_MAX_DIMS; ++i) n *= t->shape[i];
    return n;
}

vks_status vks__mpi_check_in_buffer(const vks_tensor *t, const char *fn, const char *arg) {
    uint64_t size = 0;
    vks_status st = vks_buffer_get_size(t->buffer, &size);
    if (st != VKS_OK) return vks__mpi_core_error(st, fn, arg);
    const uint64_t bytes = (uint64_t)vks__mpi_numel(t) * vks__mpi_dtype_bytes(t->dtype);
    if (t->byte_offset > size || bytes > size - t->byte_offset)
        return vks__mpi_error(VKS_ERROR_OUT_OF_RANGE, "%s: %s covers bytes [%llu, %llu) of a buffer of %llu bytes", fn,
                              arg, (unsigned long long)t->byte_offset, (unsigned long long)(t->byte_offset + bytes),
                              (unsigned long long)size);
    return VKS_OK;
}

double vks__mpi_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double vks_mpi_ns_step_flops(int64_t rows, int64_t cols) {
    if (rows <= 0 || cols <= 0) return 0.0;
    const double m = (double)(rows < cols ? rows : cols), n = (double)(rows < cols ? cols : rows);
    return 4.0 * m * m * n + 2.0 * m * m * m;
}

/* Job order of the partition: decreasing cost, then increasing index. */
typedef struct job {
    double cost;
    uint32_t index;
} job;

static int job_order(const void *pa, const void *pb) {
    const job *a = pa, *b = pb;
    if (a->cost != b->cost) return a->cost > b->cost ? -1 : 1;
    return (a->index > b->index) - (a->index < b->index);
}

vks_status vks_mpi_partition(uint32_t count, const double *cost, int32_t ranks, int32_t *owner, double *load) {
    static const char fn[] = "vks_mpi_partition";
    if (ranks < 1) return vks__mpi_error(VKS_ERROR_INVALID_ARGUMENT, "%s: ranks is %d, expected >= 1", fn, (int)ranks);
    if (count > 0 && (!cost || !owner))
        return vks__mpi_error(VKS_ERROR_INVALID_ARGUMENT, "%s: %s is NULL with count %u", fn, cost ? "owner" : "cost",
                              count);
    for (uint32_t i = 0; i < count; ++i)
        if (!(cost[i] >= 0.0) || !isfinite(cost[i]))
            return vks__mpi_error(VKS_ERROR_INVALID_ARGUMENT, "%s: cost[%u] is %g, expected a finite value >= 0", fn, i,
                                  cost[i]);
    job *jobs = malloc((count ? count : 1) * sizeof *jobs);
    double *sum = calloc((size_t)ranks, sizeof *sum);
    if (!jobs || !sum) {
        free(jobs), free(sum);
        return vks__mpi_error(VKS_ERROR_OUT_OF_HOST_MEMORY, "%s: no host memory for %u jobs over %d ranks", fn, count,
                              (int)ranks);
    }
    for (uint32_t i = 0; i < count; ++i) jobs[i] = (job){cost[i], i};
    qsort(jobs, count, sizeof *jobs, job_order);
    for (uint32_t j = 0; j < count; ++j) {
        int32_t best = 0;
        for (int32_t r = 1; r < ranks; ++r)
            if (sum[r] < sum[best]) best = r;
        owner[jobs[j].index] = best;
        sum[best] += jobs[j].cost;
    }
    if (load) memcpy(load, sum, (size_t)ranks * sizeof *sum);
    free(jobs), free(sum);
    return VKS_OK;
}

vks_status vks_mpi_slab(int64_t n, int32_t ranks, int32_t rank, int64_t *first, int64_t *count) {
    static const char fn[] = "vks_mpi_slab";
    if (n < 0) return vks__mpi_error(VKS_ERROR_INVALID_ARGUMENT, "%s: n is %lld, expected >= 0", fn, (long long)n);
    if (ranks < 1) return vks__mpi_error(VKS_ERROR_INVALID_ARGUMENT, "%s: ranks is %d, expected >= 1", fn, (int)ranks);
    if (rank < 0 || rank >= ranks)
        return vks__mpi_error(VKS_ERROR_INVALID_ARGUMENT, "%s: rank is %d, expected 0..%d", fn, (int)rank,
                              (int)ranks - 1);
    if (!first || !count)
        return vks__mpi_error(VKS_ERROR_INVALID_ARGUMENT, "%s: %s is NULL", fn, first ? "count" : "first");
    const int64_t base = n / ranks, extra = n % ranks;
    *count = base + (rank < extra ? 1 : 0);
    *first = (int64_t)rank * base + (rank < extra ? rank : extra);
    return VKS_OK;
}
