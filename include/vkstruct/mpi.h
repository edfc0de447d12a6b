/* vkstruct_mpi — an optional companion library (libvkstruct_mpi) that spreads vkstruct's
 * work over the ranks of the host's MPI communicator. The core library has no MPI
 * dependency; this one links the host's MPI and the shared vkstruct, and uses only
 * vkstruct's public API. docs/scale-out.md has the patterns, the cost model and the limits.
 *
 * Conventions
 *  - Every function is collective over `comm`: all its ranks call it with the same list
 *    shapes and options, each with its own context (one device per rank; several ranks may
 *    share a device). Results land in device tensors of that rank's context.
 *  - A rank whose arguments are bad (or whose device fails) does not leave the others
 *    waiting: the ranks agree on a status (MPI_Allreduce) before every exchange that would
 *    otherwise block, and every rank returns the same status. The message of the failing
 *    rank goes to all of them: vks_mpi_last_error() reads
 *      "vks_mpi_newton_schulz: rank 1: g[3] is 64 x 32 on this rank but 64 x 48 on rank 0"
 *    on rank 1 and "vks_mpi_newton_schulz: rank 1 failed: ..." with the same text elsewhere.
 *  - Data moves through host memory (vks_buffer_read -> MPI -> vks_buffer_write): MPI
 *    libraries cannot address Vulkan memory. Exchanges run in rounds of at most
 *    vks_mpi_options.round_bytes per rank so host memory stays bounded.
 *  - MPI failures are reported as VKS_ERROR_IO when the communicator's error handler
 *    returns them (MPI_ERRORS_RETURN); with MPI's default handler MPI aborts first.
 */
#ifndef VKSTRUCT_MPI_H
#define VKSTRUCT_MPI_H

#include <mpi.h>

#include "vkstruct/mpi_plan.h"
#include "vkstruct/vkstruct.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What one call did on this rank (filled when vks_mpi_options.stats is given). */
typedef struct vks_mpi_stats {
    size_t struct_size;      /* sizeof(vks_mpi_stats) */
    uint64_t bytes_sent;     /* to other ranks (bytes a rank keeps for itself are not counted) */
    uint64_t bytes_received;
    uint32_t exchanges;      /* collective data exchanges (rounds included), agreements excluded */
    uint32_t items;          /* matrices (Newton-Schulz) or grid points / 1 (Kronecker: slab rows) this rank computed */
    double flops;            /* this rank's share of the work, by the cost model */
    double compute_seconds;  /* recording + device time up to the last read-back before an exchange */
    double exchange_seconds; /* host staging + MPI */
} vks_mpi_stats;

typedef struct vks_mpi_options {
    size_t struct_size;   /* sizeof(vks_mpi_options) */
    uint64_t round_bytes; /* host bytes staged per exchange round across all ranks; 0: 1 GiB */
    vks_mpi_stats *stats; /* optional out */
} vks_mpi_options;

#define VKS_MPI_OPTIONS_INIT {sizeof(vks_mpi_options), 0u, NULL}

/* ---- distributed Newton-Schulz (Muon's pattern) ------------------------------------------ */

/* Every rank holds the whole list g[0..count) (as after a data-parallel all-reduce of the
 * gradients); matrix i is orthogonalized by rank owner[i] of vks_mpi_partition over the cost
 * vks_mpi_ns_step_flops(rows, cols) x batch, with vks_newton_schulz on that matrix alone (so
 * its bits do not depend on the rank count), and the results are all-gathered into out[i] on
 * every rank: bit-identical to a one-rank run and to vks_newton_schulz on each matrix.
 * g[i]: what vks_newton_schulz takes; out[i]: compact row-major, same shape and dtype (may be
 * g[i]). options: as vks_newton_schulz's (NULL: Muon, 5 steps); options->status must be NULL
 * (a matrix holding NaN/Inf makes every rank return VKS_ERROR_NON_FINITE naming it). */
VKS_API vks_status vks_mpi_newton_schulz(vks_context *ctx, MPI_Comm comm, uint32_t count, const vks_tensor *g,
                                         const vks_tensor *out, const vks_newton_schulz_options *options,
                                         const vks_mpi_options *mpi);

/* The sharded form (Dion's / FSDP's): matrix i is rows[i] x cols[i] and every rank holds the
 * row slab vks_mpi_slab(rows[i], size, rank) of it, compact row-major, in g_shards[i] (a
 * tensor (slab rows, cols[i]) whose dtype is set on every rank; its buffer may be NULL where
 * the slab is empty). One all-to-all brings each
 * matrix whole to its owner, which orthogonalizes it; a second returns the row slabs of the
 * result to out_shards[i] (may be g_shards[i]). Results bit-identical to a one-rank run. */
VKS_API vks_status vks_mpi_newton_schulz_sharded(vks_context *ctx, MPI_Comm comm, uint32_t count, const int64_t *rows,
                                                 const int64_t *cols, const vks_tensor *g_shards,
                                                 const vks_tensor *out_shards, const vks_newton_schulz_options *options,
                                                 const vks_mpi_options *mpi);

/* ---- distributed Kronecker products and solves (slab decomposition) ---------------------- */

/* The grid (n_0, ..., n_{d-1}), d = 2..4, is split along its first mode: rank r holds the
 * slab of vks_mpi_slab(n_0, size, r) rows, i.e. grid points [first * R, (first + count) * R)
 * of vec(Y), R = n_1 ... n_{d-1}, as a compact vector on its context. Factors (and their
 * eigendecompositions) are replicated: every rank has all of them. n_0 and n_1 must each be
 * at least the number of ranks. f32 or f64; one right-hand side. */

/* y_local = (op(A_0) ⊗ ... ⊗ op(A_{d-1})) x_local for square factors: the modes 1..d-1 on the
 * slab (no communication), one all-to-all to slabs of mode 1, mode 0 as one GEMM, and one
 * all-to-all back. x_local and y_local must not overlap. */
VKS_API vks_status vks_mpi_kron_matmul(vks_context *ctx, MPI_Comm comm, int32_t d, const vks_tensor *const *factors,
                                       vks_transpose trans, const vks_tensor *x_local, const vks_tensor *y_local,
                                       const vks_mpi_options *mpi);

typedef struct vks_mpi_kron_solve_desc {
    size_t struct_size; /* sizeof(vks_mpi_kron_solve_desc) */
    int32_t d;
    const vks_tensor *eigvecs[VKS_KRON_MAX_DIMS]; /* Q_i (n_i, n_i) from vks_kron_eigh, on every rank */
    const vks_tensor *eigvals[VKS_KRON_MAX_DIMS]; /* lambda_i (n_i), on every rank */
    double noise;     /* sigma^2 */
    double eig_floor; /* as vks_kron_solve_desc.eig_floor */
    const vks_tensor *y;     /* this rank's slab of y */
    const vks_tensor *alpha; /* out: its slab of (K + sigma^2 I)^-1 y; or NULL */
    const vks_tensor *mean;  /* out: its slab of the posterior mean K alpha; or NULL */
    double *logdet;          /* out (host): log|K + sigma^2 I|, the same on every rank; or NULL */
    double *mll;             /* out (host): log marginal likelihood, as vks_kron_solve's; or NULL */
} vks_mpi_kron_solve_desc;

#define VKS_MPI_KRON_SOLVE_DESC_INIT \
    {sizeof(vks_mpi_kron_solve_desc), 0, {NULL}, {NULL}, 0.0, VKS_KRON_EIG_FLOOR_DEFAULT, NULL, NULL, NULL, NULL, NULL}

/* Saatci's eigenbasis solve over the slabs: w = (I ⊗ Q_1 ⊗ ... )^T y on the slab, one
 * all-to-all to slabs of mode 1, there vks_kron_solve with the factors (Q_0, I, ..., I) and
 * the eigenvalues (lambda_0, lambda_1[slab], lambda_2, ...) — mode 0's products, the scaling
 * by (Lambda + sigma^2)^-1 and the partial log-determinant and y^T alpha — one all-to-all back
 * and the modes 1..d-1 again. log-determinant and mll: the partial sums reduced with
 * MPI_Allreduce (in f64). Per-factor noise scales are not supported. */
VKS_API vks_status vks_mpi_kron_solve(vks_context *ctx, MPI_Comm comm, const vks_mpi_kron_solve_desc *desc,
                                      const vks_mpi_options *mpi);

#ifdef __cplusplus
}
#endif

#endif /* VKSTRUCT_MPI_H */
