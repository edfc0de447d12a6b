/*
 * Float64 oracles of the Monarch family, built from the definitions: dense block-diagonal
 * matrices and explicit permutation matrices, multiplied densely (never the kernels'
 * folded-index formulas). Matrices are row-major doubles, malloc'd; the caller frees.
 * "Column-vector form": a matrix A acts as v -> A v, so a row-major batch x (B, n) maps
 * to x A^T.
 */
#ifndef VKS_REFERENCE_MONARCH_H
#define VKS_REFERENCE_MONARCH_H

#include <stdint.h>

/* BD(w) for w (nb, rows, cols): the (nb*rows) x (nb*cols) block-diagonal matrix. */
double *refm_blockdiag(const double *w, int64_t nb, int64_t rows, int64_t cols);
/* The permutation matrix of einops 'b (a c) -> b (c a)' on vectors of length a*c:
 * out[ci*a + ai] = in[ai*c + ci]. */
double *refm_perm_swap(int64_t a, int64_t c);
/* C = A B (m x k times k x n). */
double *refm_matmul(const double *a, const double *b, int64_t m, int64_t k, int64_t n);
double *refm_transpose(const double *a, int64_t rows, int64_t cols);

/* The dense (l*s) x (k*p) matrix M of a Monarch product in the reference convention
 * (y = x M^T): M = P_out BD(w2) P_mid BD(w1), P_mid = 'b (r l) -> b (l r)',
 * P_out = 'b (l s) -> b (s l)'. */
double *refm_monarch_dense(const double *w1, int64_t k, int64_t q, int64_t p, const double *w2, int64_t l, int64_t s,
                           int64_t r);

/* The forward by applying the four dense factors to each row in turn (O(batch n^2), for
 * sizes where M itself is too costly): y = act(P_out BD2 P_mid BD1 [x; 0] + bias), the
 * output truncated to m_out; y (batch, m_out) compact. */
void refm_monarch_forward(const double *x, int64_t batch, int64_t n_in, int64_t ldx, const double *w1, int64_t k,
                          int64_t q, int64_t p, const double *w2, int64_t l, int64_t s, int64_t r, int64_t m_out,
                          const double *bias, int activation, double *y);

/* y = act(x[:, :n_in] M[:m_out, :n_in]^T + bias) for a dense M of `mcols` columns, x of
 * row stride ldx; y is (batch, m_out) compact. bias may be NULL. */
void refm_linear(const double *x, int64_t batch, int64_t n_in, int64_t ldx, const double *m, int64_t mcols,
                 int64_t m_out, const double *bias, int activation, double *y);

/* Gradients of L = sum(dy * y) for y = x M^T with M = P_out BD(w2) P_mid BD(w1) (padded:
 * x zero-extended to k*p, y truncated to m_out), by matrix calculus on the dense factors:
 * dL/dM = dy^T x; dx = dy M; dBD1 = (P_out BD2 P_mid)^T dL/dM; dBD2 = P_out^T dL/dM (P_mid BD1)^T;
 * dw1 and dw2 are the diagonal blocks. Any output may be NULL. */
void refm_monarch_grads(const double *x, const double *dy, int64_t batch, int64_t n_in, int64_t m_out,
                        const double *w1, int64_t k, int64_t q, int64_t p, const double *w2, int64_t l, int64_t s,
                        int64_t r, double *dx, double *dw1, double *dw2);

/* Singular values of an m x n matrix (one-sided Jacobi, float64), descending, min(m, n) of
 * them into sv. */
void refm_singular_values(const double *a, int64_t m, int64_t n, double *sv);

/* The least relative Frobenius error any Monarch (w1 (k,q,p), w2 (l,s,r)) can reach on the
 * dense M (m_rows x n_cols, zero-extended to (l*s) x (k*p)): by Eckart-Young, per block
 * (l_idx, i) of M the singular values past the block's rank, where the rank counts the
 * intermediate channels that P_mid routes from w1's block i to w2's block l_idx. */
double refm_projection_bound(const double *m, int64_t m_rows, int64_t n_cols, int64_t k, int64_t q, int64_t p,
                             int64_t l, int64_t s, int64_t r, int *max_rank);

#endif
