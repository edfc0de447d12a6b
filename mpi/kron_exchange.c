/* The slab transposes of the distributed Kronecker operations (the distributed-FFT slab
 * pattern). The grid is viewed as (n0, n1, r2), r2 = n_2 ... n_{d-1}:
 *   layout A: rank r holds rows [f0_r, f0_r + c0_r) of mode 0:   (c0_r, n1, r2)
 *   layout B: rank r holds rows [f1_r, f1_r + c1_r) of mode 1:   (n0, c1_r, r2)
 * A -> B packs each destination's columns of mode 1 and receives straight into B (the blocks
 * from the ranks stack along mode 0); B -> A is the reverse. MPI counts are in units of one
 * r2-fiber (a derived datatype), so slabs beyond 2^31 bytes still fit an int count. */
#include <stdlib.h>
#include <string.h>

#include "kron_internal.h"

void vks__mpi_kron_layout_free(kron_layout *l) {
    free(l->f0), free(l->c0), free(l->f1), free(l->c1);
    free(l->pack_counts), free(l->pack_displs), free(l->b_counts), free(l->b_displs), free(l->pack);
    if (l->fiber != MPI_DATATYPE_NULL) MPI_Type_free(&l->fiber);
}

vks_status vks__mpi_kron_layout(kron_layout *l, int rank, int size, int64_t n0, int64_t n1, int64_t r2, size_t es,
                                const char *fn) {
    memset(l, 0, sizeof *l);
    l->fiber = MPI_DATATYPE_NULL;
    l->rank = rank, l->size = size, l->n0 = n0, l->n1 = n1, l->r2 = r2, l->es = es;
    const size_t n = (size_t)size;
    l->f0 = calloc(n, sizeof *l->f0), l->c0 = calloc(n, sizeof *l->c0);
    l->f1 = calloc(n, sizeof *l->f1), l->c1 = calloc(n, sizeof *l->c1);
    l->pack_counts = calloc(n, sizeof(int)), l->pack_displs = calloc(n, sizeof(int));
    l->b_counts = calloc(n, sizeof(int)), l->b_displs = calloc(n, sizeof(int));
    if (!l->f0 || !l->c0 || !l->f1 || !l->c1 || !l->pack_counts || !l->pack_displs || !l->b_counts || !l->b_displs)
        return vks__mpi_error(VKS_ERROR_OUT_OF_HOST_MEMORY, "%s: no host memory for the slab plan", fn);
    for (int r = 0; r < size; ++r) {
        vks_mpi_slab(n0, size, r, &l->f0[r], &l->c0[r]);
        vks_mpi_slab(n1, size, r, &l->f1[r], &l->c1[r]);
    }
    /* Fibers per peer: A side sends c0_me x c1_s, B side receives c0_r x c1_me. */
    int64_t pa = 0, pb = 0;
    for (int r = 0; r < size; ++r) {
        const int64_t a = l->c0[rank] * l->c1[r], b = l->c0[r] * l->c1[rank];
        if (pa + a > INT_MAX || pb + b > INT_MAX)
            return vks__mpi_error(VKS_ERROR_OUT_OF_RANGE, "%s: more than %d fibers of the grid on one rank", fn, INT_MAX);
        l->pack_counts[r] = (int)a, l->pack_displs[r] = (int)pa, pa += a;
        l->b_counts[r] = (int)b, l->b_displs[r] = (int)pb, pb += b;
    }
    if ((uint64_t)r2 * es > (uint64_t)INT_MAX)
        return vks__mpi_error(VKS_ERROR_OUT_OF_RANGE, "%s: one fiber of modes 2.. has %lld bytes, more than %d", fn,
                              (long long)((uint64_t)r2 * es), INT_MAX);
    l->a_bytes = (uint64_t)(l->c0[rank] * n1 * r2) * es;
    l->b_bytes = (uint64_t)(n0 * l->c1[rank] * r2) * es;
    l->pack = malloc(l->a_bytes ? l->a_bytes : 1);
    if (!l->pack) return vks__mpi_error(VKS_ERROR_OUT_OF_HOST_MEMORY, "%s: no host memory for %llu staging bytes", fn,
                                        (unsigned long long)l->a_bytes);
    vks_status st = vks__mpi_check(MPI_Type_contiguous((int)((uint64_t)r2 * es), MPI_BYTE, &l->fiber), fn,
                                   "MPI_Type_contiguous");
    if (st == VKS_OK) st = vks__mpi_check(MPI_Type_commit(&l->fiber), fn, "MPI_Type_commit");
    return st;
}

static void count(const kron_layout *l, vks_mpi_stats *stats, const int *sent, const int *received, double t0) {
    if (!stats) return;
    const uint64_t fiber = (uint64_t)l->r2 * l->es;
    stats->exchanges++;
    stats->exchange_seconds += vks__mpi_now() - t0;
    for (int r = 0; r < l->size; ++r)
        if (r != l->rank) stats->bytes_sent += fiber * (uint64_t)sent[r], stats->bytes_received += fiber * (uint64_t)received[r];
}

vks_status vks__mpi_kron_a_to_b(MPI_Comm comm, kron_layout *l, const unsigned char *a, unsigned char *b,
                                vks_mpi_stats *stats, const char *fn) {
    const double t0 = vks__mpi_now();
    const size_t fiber = (size_t)l->r2 * l->es;
    for (int s = 0; s < l->size; ++s)
        for (int64_t i = 0; i < l->c0[l->rank]; ++i)
            memcpy(l->pack + ((size_t)l->pack_displs[s] + (size_t)(i * l->c1[s])) * fiber,
                   a + (size_t)(i * l->n1 + l->f1[s]) * fiber, (size_t)l->c1[s] * fiber);
    vks_status st = vks__mpi_check(MPI_Alltoallv(l->pack, l->pack_counts, l->pack_displs, l->fiber, b, l->b_counts,
                                                 l->b_displs, l->fiber, comm),
                                   fn, "MPI_Alltoallv (slabs of mode 0 to slabs of mode 1)");
    count(l, stats, l->pack_counts, l->b_counts, t0);
    return st;
}

vks_status vks__mpi_kron_b_to_a(MPI_Comm comm, kron_layout *l, const unsigned char *b, unsigned char *a,
                                vks_mpi_stats *stats, const char *fn) {
    const double t0 = vks__mpi_now();
    const size_t fiber = (size_t)l->r2 * l->es;
    vks_status st = vks__mpi_check(MPI_Alltoallv(b, l->b_counts, l->b_displs, l->fiber, l->pack, l->pack_counts,
                                                 l->pack_displs, l->fiber, comm),
                                   fn, "MPI_Alltoallv (slabs of mode 1 to slabs of mode 0)");
    for (int s = 0; st == VKS_OK && s < l->size; ++s)
        for (int64_t i = 0; i < l->c0[l->rank]; ++i)
            memcpy(a + (size_t)(i * l->n1 + l->f1[s]) * fiber,
                   l->pack + ((size_t)l->pack_displs[s] + (size_t)(i * l->c1[s])) * fiber, (size_t)l->c1[s] * fiber);
    count(l, stats, l->b_counts, l->pack_counts, t0);
    return st;
}
