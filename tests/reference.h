/*
 * Float64 CPU oracles, written from the definitions (dense matrices, explicit loops and
 * permutations), never from a kernel's formulation.
 */
#ifndef VKS_REFERENCE_H
#define VKS_REFERENCE_H

#include <stddef.h>
#include <stdint.h>

/* A dense matrix view over doubles: element (i, j) at data[i*rs + j*cs]. */
typedef struct ref_mat {
    double *data;
    int64_t rows, cols, rs, cs;
} ref_mat;

static inline ref_mat ref_rowmajor(double *data, int64_t rows, int64_t cols) {
    ref_mat m = {data, rows, cols, cols, 1};
    return m;
}
static inline double *ref_at(const ref_mat *m, int64_t i, int64_t j) { return &m->data[i * m->rs + j * m->cs]; }
/* The transpose as a view (no copy). */
static inline ref_mat ref_t(ref_mat m) {
    ref_mat t = {m.data, m.cols, m.rows, m.cs, m.rs};
    return t;
}

/* C = alpha * A * B + beta * C by the definition; beta == 0 ignores C's contents. */
void ref_gemm(double alpha, ref_mat a, ref_mat b, double beta, ref_mat c);

/* The activations of enum vks_activation, in float64. */
double ref_activate(int activation, double x);

#endif
