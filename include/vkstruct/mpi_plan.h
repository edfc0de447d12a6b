/* vkstruct_mpi — the pure planning half of the MPI companion library (no MPI needed):
 * the deterministic partitions every rank computes alike. Include <vkstruct/mpi.h> for the
 * collective operations; this header alone serves hosts that plan without MPI (tests,
 * schedulers, torch.distributed front ends).
 */
#ifndef VKSTRUCT_MPI_PLAN_H
#define VKSTRUCT_MPI_PLAN_H

#include "vkstruct/vkstruct.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The calling thread's last vks_mpi_* failure ("" when none). Messages of failures inside
 * a core vkstruct call are quoted in it. */
VKS_API const char *vks_mpi_last_error(void);

/* Multiply-adds x 2 of one Newton-Schulz step on a rows x cols matrix, iterated on its short
 * side m = min(rows, cols), n = max: X X^T (2 m^2 n), its polynomial (2 m^3) and the update
 * (2 m^2 n): 4 m^2 n + 2 m^3. The partition's cost of a matrix (times its batch). */
VKS_API double vks_mpi_ns_step_flops(int64_t rows, int64_t cols);

/* Greedy longest-processing-time partition of `count` jobs over `ranks`: jobs in order of
 * decreasing cost (ties: lower index first), each to the rank with the least load so far
 * (ties: lower rank). Deterministic: every rank computes the same owner[] from the same
 * costs. Its largest load is at most (4/3 - 1/(3 ranks)) times the optimum (Graham 1969).
 * cost: count finite values >= 0; owner: count entries out; load: ranks entries out (the
 * summed cost per rank), or NULL. Errors: VKS_ERROR_INVALID_ARGUMENT (NULL arrays with
 * count > 0, ranks < 1, a negative or non-finite cost, naming its index). */
VKS_API vks_status vks_mpi_partition(uint32_t count, const double *cost, int32_t ranks, int32_t *owner, double *load);

/* The block distribution of n items over `ranks` (numpy.array_split's and
 * torch.tensor_split's, not torch.chunk's): rank r gets n / ranks items, plus one when
 * r < n % ranks, starting at *first. Ranks past n get 0 items. */
VKS_API vks_status vks_mpi_slab(int64_t n, int32_t ranks, int32_t rank, int64_t *first, int64_t *count);

#ifdef __cplusplus
}
#endif

#endif /* VKSTRUCT_MPI_PLAN_H */
