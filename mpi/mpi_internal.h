/* Private to vkstruct_mpi (the files in mpi/): messages, the status agreement every collective
 * starts with, MPI error mapping, host staging of tensors and the per-call statistics. */
#ifndef VKS_MPI_INTERNAL_H
#define VKS_MPI_INTERNAL_H

#include <stdbool.h>

#include "vkstruct/mpi_plan.h"

/* Sets the calling thread's vks_mpi_last_error() message; returns status. */
vks_status vks__mpi_error(vks_status status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same, quoting the core library's message of the failed call `what` returned. */
vks_status vks__mpi_core_error(vks_status status, const char *fn, const char *what);
/* Bytes of one element of dt (0 for an unknown dtype). */
size_t vks__mpi_dtype_bytes(vks_dtype dt);
/* Whether t is compact row-major: strides are the running products of the shape. */
bool vks__mpi_compact(const vks_tensor *t);
/* Elements of t (the product of its shape). */
int64_t vks__mpi_numel(const vks_tensor *t);
/* Checks that a compact tensor's bytes lie inside its buffer. */
vks_status vks__mpi_check_in_buffer(const vks_tensor *t, const char *fn, const char *arg);
/* Seconds since an arbitrary start (CLOCK_MONOTONIC). */
double vks__mpi_now(void);

#ifdef VKS_MPI_WITH_MPI
#include <mpi.h>

#include "vkstruct/mpi.h"

/* The collective status agreement: every rank passes its local status (its message already
 * set when it failed). Returns VKS_OK on every rank when all passed; otherwise every rank
 * returns the status of the lowest failing rank, and its message (prefixed with that rank
 * on the others). `mismatch`: a hash of what must be the same on every rank (list shapes,
 * dtypes, options): ranks that disagree all fail with VKS_ERROR_SHAPE_MISMATCH. */
vks_status vks__mpi_agree(MPI_Comm comm, vks_status local, const char *fn, const uint64_t *hash);
/* Maps an MPI return code to VKS_ERROR_IO with MPI's message. */
vks_status vks__mpi_check(int rc, const char *fn, const char *call);
/* Rank and size of comm (VKS_ERROR_INVALID_ARGUMENT for MPI_COMM_NULL). */
vks_status vks__mpi_comm_info(MPI_Comm comm, const char *fn, int *rank, int *size);
/* Round size per rank from the options: round_bytes / size, within [64 KiB, INT_MAX]. */
uint64_t vks__mpi_round_bytes(const vks_mpi_options *mpi, int size);
/* FNV-1a over bytes, chained. */
uint64_t vks__mpi_hash(uint64_t h, const void *data, size_t bytes);
/* Checks options' struct_size; writes zeroed stats. */
vks_status vks__mpi_check_options(const vks_mpi_options *mpi, const char *fn);
#endif

#endif /* VKS_MPI_INTERNAL_H */
