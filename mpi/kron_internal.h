/* Private to the distributed Kronecker operations (mpi/kron*.c): the slab layouts and
 * their all-to-all transposes (kron_exchange.c). */
#ifndef VKS_MPI_KRON_INTERNAL_H
#define VKS_MPI_KRON_INTERNAL_H

#include <limits.h>

#include "mpi_internal.h"

/* The grid as (n0, n1, r2); layout A: slabs of mode 0, layout B: slabs of mode 1. */
typedef struct kron_layout {
    int rank, size;
    int64_t n0, n1, r2;
    size_t es;
    int64_t *f0, *c0, *f1, *c1;    /* per rank: first row and rows of mode 0 / mode 1 */
    int *pack_counts, *pack_displs; /* A side, in fibers of r2 elements, per peer */
    int *b_counts, *b_displs;       /* B side */
    uint64_t a_bytes, b_bytes;      /* this rank's slab in either layout */
    unsigned char *pack;            /* A-side staging, a_bytes */
    MPI_Datatype fiber;             /* r2 elements */
} kron_layout;

vks_status vks__mpi_kron_layout(kron_layout *l, int rank, int size, int64_t n0, int64_t n1, int64_t r2, size_t es,
                                const char *fn);
void vks__mpi_kron_layout_free(kron_layout *l);
/* a: this rank's layout-A slab (a_bytes), b: its layout-B slab (b_bytes); host memory. */
vks_status vks__mpi_kron_a_to_b(MPI_Comm comm, kron_layout *l, const unsigned char *a, unsigned char *b,
                                vks_mpi_stats *stats, const char *fn);
vks_status vks__mpi_kron_b_to_a(MPI_Comm comm, kron_layout *l, const unsigned char *b, unsigned char *a,
                                vks_mpi_stats *stats, const char *fn);

#endif /* VKS_MPI_KRON_INTERNAL_H */
