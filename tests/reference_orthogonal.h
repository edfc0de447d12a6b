/*
 * Float64 oracles of the orthogonalization family, written from the definitions: the
 * Cholesky recurrence, forward/backward substitution, cyclic Jacobi for the symmetric
 * eigenproblem and one-sided (Hestenes) Jacobi for the SVD, each iterated to float64
 * accuracy; plus generators of matrices with a prescribed spectrum. All matrices are dense
 * row-major doubles.
 */
#ifndef VKS_REFERENCE_ORTHOGONAL_H
#define VKS_REFERENCE_ORTHOGONAL_H

#include <stddef.h>
#include <stdint.h>

#include "vks_test.h"

/* l = chol(a) (lower, zeros above); returns -1, or the first pivot that is not > 0 (l's
 * columns from there on are left 0). Reads a's lower triangle. */
int ref_cholesky(int64_t n, const double *a, double *l);
/* x = l^{-1} b or l^{-T} b for l lower n x n, b n x k (x may be b). */
void ref_trsm(int trans, int64_t n, int64_t k, const double *l, const double *b, double *x);
/* a = v diag(w) v^T, w ascending, eigenvectors in v's columns (a symmetric, n x n). */
void ref_eigh(int64_t n, const double *a, double *w, double *v);
/* a (m x n) = u diag(s) v^T, s descending (min(m, n) values), u m x r, v n x r, r = min(m, n).
 * Columns of u for zero singular values are 0. */
void ref_svd(int64_t m, int64_t n, const double *a, double *s, double *u, double *v);
/* The polar factor u v^T of a (m x n). */
void ref_polar(int64_t m, int64_t n, const double *a, double *p);

/* q: an m x n matrix with orthonormal columns (m >= n), Haar-ish random. */
/* Orthonormalizes the n columns of the row-major m x n matrix q in place: modified
 * Gram-Schmidt applied twice (enough for orthogonality to rounding). */
void ref_orthonormalize_columns(int64_t m, int64_t n, double *q);
void ref_random_orthonormal(vkt_rng *rng, int64_t m, int64_t n, double *q);
/* a = q diag(w) q^T with a random orthogonal q. */
void ref_symmetric_with_spectrum(vkt_rng *rng, int64_t n, const double *w, double *a);
/* a (m x n) = u diag(s) v^T with random orthonormal u, v; s has min(m, n) values. */
void ref_matrix_with_singular_values(vkt_rng *rng, int64_t m, int64_t n, const double *s, double *a);

/* c (m x n) = a (m x k) * b (k x n), optionally transposing a (stored k x m) or b (stored n x k). */
void ref_matmul(int64_t m, int64_t n, int64_t k, const double *a, int ta, const double *b, int tb, double *c);
/* ||a||_F of n values; max |a_i - b_i|; ||q^T q - I||_F for q m x n. */
double ref_fro(const double *a, size_t n);
double ref_max_diff(const double *a, const double *b, size_t n);
double ref_orth_error(int64_t m, int64_t n, const double *q);

#endif
