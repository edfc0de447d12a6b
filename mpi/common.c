/* The MPI side of every vkstruct_mpi call: communicator checks, the status agreement that
 * keeps a failing rank from leaving the others blocked in an exchange, MPI error mapping. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "mpi_internal.h"

vks_status vks__mpi_check(int rc, const char *fn, const char *call) {
    if (rc == MPI_SUCCESS) return VKS_OK;
    char text[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS) snprintf(text, sizeof text, "MPI error %d", rc);
    return vks__mpi_error(VKS_ERROR_IO, "%s: %s failed: %s", fn, call, text);
}

vks_status vks__mpi_comm_info(MPI_Comm comm, const char *fn, int *rank, int *size) {
    if (comm == MPI_COMM_NULL) return vks__mpi_error(VKS_ERROR_INVALID_ARGUMENT, "%s: comm is MPI_COMM_NULL", fn);
    vks_status st = vks__mpi_check(MPI_Comm_rank(comm, rank), fn, "MPI_Comm_rank");
    if (st == VKS_OK) st = vks__mpi_check(MPI_Comm_size(comm, size), fn, "MPI_Comm_size");
    return st;
}

uint64_t vks__mpi_round_bytes(const vks_mpi_options *mpi, int size) {
    uint64_t total = mpi && mpi->round_bytes ? mpi->round_bytes : (1ull << 30);
    uint64_t per = total / (uint64_t)(size > 0 ? size : 1);
    if (per < (64u << 10)) per = 64u << 10;
    /* Counts and displacements of one round are ints. */
    if (per > (uint64_t)INT_MAX / (uint64_t)(size > 0 ? size : 1)) per = (uint64_t)INT_MAX / (uint64_t)size;
    return per;
}

uint64_t vks__mpi_hash(uint64_t h, const void *data, size_t bytes) {
    const unsigned char *p = data;
    for (size_t i = 0; i < bytes; ++i) h = (h ^ p[i]) * 0x100000001B3ull;
    return h;
}

vks_status vks__mpi_check_options(const vks_mpi_options *mpi, const char *fn) {
    if (!mpi) return VKS_OK;
    if (mpi->struct_size < sizeof(vks_mpi_options))
        return vks__mpi_error(VKS_ERROR_INVALID_ARGUMENT, "%s: mpi->struct_size is %zu, expected %zu", fn,
                              mpi->struct_size, sizeof(vks_mpi_options));
    if (mpi->stats) {
        if (mpi->stats->struct_size < sizeof(vks_mpi_stats))
            return vks__mpi_error(VKS_ERROR_INVALID_ARGUMENT, "%s: mpi->stats->struct_size is %zu, expected %zu", fn,
                                  mpi->stats->struct_size, sizeof(vks_mpi_stats));
        const size_t s = mpi->stats->struct_size;
        memset(mpi->stats, 0, sizeof *mpi->stats);
        mpi->stats->struct_size = s;
    }
    return VKS_OK;
}

/* What the failing rank tells the others. */
typedef struct failure_note {
    int32_t status;
    char message[1024];
} failure_note;

vks_status vks__mpi_agree(MPI_Comm comm, vks_status local, const char *fn, const uint64_t *hash) {
    int rank = 0, size = 1;
    vks_status st = vks__mpi_comm_info(comm, fn, &rank, &size);
    if (st != VKS_OK) return st;
    /* One reduction carries the lowest failing rank and the minimum and maximum hash. */
    uint64_t mine[3] = {local != VKS_OK ? (uint64_t)rank : UINT64_MAX, hash ? *hash : 0, hash ? ~*hash : 0}, all[3];
    st = vks__mpi_check(MPI_Allreduce(mine, all, 3, MPI_UINT64_T, MPI_MIN, comm), fn, "MPI_Allreduce (status)");
    if (st != VKS_OK) return st;
    if (all[0] != UINT64_MAX) {
        const int root = (int)all[0];
        failure_note note;
        memset(&note, 0, sizeof note);
        if (rank == root) {
            /* "fn: detail" becomes "fn: rank R: detail". */
            const char *msg = vks_mpi_last_error();
            const size_t fl = strlen(fn);
            const char *detail = strncmp(msg, fn, fl) == 0 && msg[fl] == ':' ? msg + fl + 2 : msg;
            char own[1024];
            snprintf(own, sizeof own, "%s", detail);
            note.status = (int32_t)local;
            snprintf(note.message, sizeof note.message, "%s", own);
            vks__mpi_error(local, "%s: rank %d: %s", fn, rank, own);
        }
        st = vks__mpi_check(MPI_Bcast(&note, (int)sizeof note, MPI_BYTE, root, comm), fn, "MPI_Bcast (status)");
        if (st != VKS_OK) return st;
        if (rank != root)
            vks__mpi_error((vks_status)note.status, "%s: rank %d failed, so no rank went on: %s", fn, root,
                           note.message);
        return (vks_status)note.status;
    }
    if (hash && all[1] != ~all[2])
        return vks__mpi_error(VKS_ERROR_SHAPE_MISMATCH,
                              "%s: the ranks disagree on the list's shapes, dtypes or the options (every rank must pass "
                              "the same ones); this rank's digest is %016llx",
                              fn, (unsigned long long)*hash);
    return VKS_OK;
}
