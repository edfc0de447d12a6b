/*
 * vks_kron_pde_learn's host float64 learner (kron_pde_learn_objective.c): the spectral
 * mixture per dimension, GP-HM's prior objective J and its gradient, Adam on log w.
 * Self-contained (no allocation, no context): the caller hands it the work space, so that
 * tests/test_kron_pde_learn.c compiles it in to check J against a dense oracle and the
 * gradient against finite differences.
 *
 * K_i = k_i(grid_i, grid_i) + jitter (sum_q w_iq) I: the jitter is relative to k_i(0), so K_i
 * scales with the weights and the collocation solution depends only on their ratios (the
 * solver gets weights summing to 1 and the absolute jitter, the same matrices up to a factor).
 * For fixed U,
 *   dJ/dw_iq = 1/2 (N/n_i) tr(K_i^-1 B_iq) - 1/2 alpha^T (K_1 ⊗ .. B_iq .. ⊗ K_d) alpha,
 * alpha = K^-1 U, B_iq = dK_i/dw_iq. The grids are uniform, so every B_iq is symmetric
 * Toeplitz and each trace tr(M B_iq) is a sum over lags of the component times the sums
 * along the diagonals of M (K_i^-1, or the Gram matrix of alpha seen from dimension i):
 * O(n_i^2 + Q n_i) per dimension besides the O(n_i^3) factorisation and the O(N n_i) mode
 * products, instead of O(Q n_i^2) with Q stored n_i x n_i matrices.
 */
#ifndef VKS_KRON_PDE_LEARN_INTERNAL_H
#define VKS_KRON_PDE_LEARN_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <vkstruct/vkstruct.h>

#define VKS_SM_LEARN_MAX_Q 64

typedef struct vks__sm_learner {
    int d;                          /* 1..VKS_KRON_MAX_DIMS */
    int64_t n[VKS_KRON_MAX_DIMS];   /* grid points per dimension (>= 3) */
    double h[VKS_KRON_MAX_DIMS];    /* grid spacing */
    int q;                          /* components per dimension */
    double jitter;                  /* relative to k_i(0) */
    vks_sm_base base;               /* the envelope's form */
    double rho[VKS_KRON_MAX_DIMS];  /* its rho (vks_kernel_desc's meaning for the base) */
    double freq[VKS_KRON_MAX_DIMS][VKS_SM_LEARN_MAX_Q];
    double log_w[VKS_KRON_MAX_DIMS][VKS_SM_LEARN_MAX_Q];
    double adam_m[VKS_KRON_MAX_DIMS][VKS_SM_LEARN_MAX_Q], adam_v[VKS_KRON_MAX_DIMS][VKS_SM_LEARN_MAX_Q];
    int adam_t;
    double weights[VKS_KRON_MAX_DIMS][VKS_SM_LEARN_MAX_Q]; /* w / sum w (vks__sm_kernel_desc) */
    double rhos[VKS_KRON_MAX_DIMS][VKS_SM_LEARN_MAX_Q];    /* rho per component */
    int failed_dim;                 /* the K_i that was not positive definite (J NaN), or -1 */
} vks__sm_learner;

/* Q components (1..VKS_SM_LEARN_MAX_Q) on extent[i] = hi_i - lo_i with n[i] points; envelope of
 * lengthscale l = envelope_h * h_i: SE exp(-r^2 / (2 l^2)) (rho = 1/(2 l^2)) or Matern-5/2 of
 * lengthscale l (rho = 1/l); uniform weights 1/Q. The arguments are the caller's to check. */
void vks__sm_init(vks__sm_learner *s, int d, const int64_t *n, const double *extent, int q, vks_sm_base base,
                  double envelope_h, double jitter);

/* Doubles of work space vks__sm_objective / vks__sm_adam need. */
size_t vks__sm_work_doubles(const vks__sm_learner *s);

/* J at the grid values u (N = prod n_i, row-major, the first dimension slowest); with
 * grad != NULL also dJ/dlog(w) as grad[i * q + k]. NaN if a K_i is not positive definite
 * (s->failed_dim says which). */
double vks__sm_objective(vks__sm_learner *s, const double *u, double *grad, double *work);

/* `steps` Adam steps (lr, beta 0.9 / 0.999, eps 1e-8) on log w for fixed u; returns J after
 * the last step (NaN, with the weights of the failed step, if a K_i failed). */
double vks__sm_adam(vks__sm_learner *s, const double *u, int steps, double lr, double *work);

/* Fills desc with dimension i's kernel: the spectral mixture of the learner's base, weights
 * normalised to sum 1 (into s->weights[i], s->rhos[i]; desc points into s). */
void vks__sm_kernel_desc(vks__sm_learner *s, int i, vks_kernel_desc *desc);

/* Host float64 dense helpers, shared with vks_kron_pde_solve's setup (row-major n x n):
 * in-place lower Cholesky of a, returning the failing pivot's index (its value in *pivot when
 * pivot is not NULL) or -1; and inv = (L L^T)^-1 from the factor, with x an n x n scratch
 * (row oriented so that every inner loop runs along contiguous memory). */
int64_t vks__host_cholesky(double *a, int64_t n, double *pivot);
void vks__host_cholesky_inverse(const double *l, int64_t n, double *inv, double *x);

#endif
