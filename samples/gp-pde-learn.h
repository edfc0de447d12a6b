/* gp-pde's spectral-mixture kernel learning (GP-HM's objective at the collocation solution),
 * host float64. Per grid dimension i: k_i(r) = sum_q w_iq phi_i(r) cos(2 pi f_iq r) with Q
 * frequencies f_iq log-spaced from 1 cycle per domain to the grid's Nyquist frequency, one
 * envelope phi_i (GP-HM's SE or Matern-5/2 base) of a lengthscale tied to the grid spacing,
 * and learned weights w_iq > 0 (parametrised by their logarithms).
 * K_i = k_i(grid_i, grid_i) + jitter * (sum_q w_iq) I: the jitter is relative to k_i(0), so
 * K_i scales with the weights and the collocation solution depends only on their ratios
 * (the sample hands the solver weights summing to 1 and the absolute jitter, the same
 * matrices up to a factor).
 *
 * Objective (GP-HM's prior terms; in the collocation limit its boundary and residual
 * terms are zero at the solution U):
 *   J(w) = sum_i (N/n_i) 1/2 log|K_i| + 1/2 U' K^-1 U,  K = K_1 ⊗ ... ⊗ K_d.
 * For fixed U its gradient is
 *   dJ/dw_iq = 1/2 (N/n_i) tr(K_i^-1 B_iq) - 1/2 alpha' (K_1 ⊗ .. B_iq .. ⊗ K_d) alpha,
 * alpha = K^-1 U, B_iq = dK_i/dw_iq. The grids are uniform, so every B_iq is symmetric
 * Toeplitz and each trace tr(M B_iq) is a sum over lags of the component times the sums
 * along the diagonals of M (K_i^-1, or the Gram matrix of alpha seen from dimension i):
 * O(n_i^2 + Q n_i) per step besides the O(n_i^3) factorisation and products, instead of
 * O(Q n_i^2) with Q stored n_i x n_i matrices. */
#ifndef GP_PDE_LEARN_H
#define GP_PDE_LEARN_H

#include <stdint.h>

#include <vkstruct/vkstruct.h>

#define SM_MAX_DIMS 2
#define SM_MAX_Q 64

typedef struct sm_learner {
    int d;                           /* 1 or 2 */
    int64_t n[SM_MAX_DIMS];          /* grid points per dimension */
    double h[SM_MAX_DIMS];           /* grid spacing */
    int q;                           /* components per dimension */
    double jitter;                   /* relative to k_i(0) */
    vks_sm_base base;                /* the envelope's form */
    double rho[SM_MAX_DIMS];         /* its rho (vks_kernel_desc's meaning for the base) */
    double freq[SM_MAX_DIMS][SM_MAX_Q];
    double log_w[SM_MAX_DIMS][SM_MAX_Q];
    double adam_m[SM_MAX_DIMS][SM_MAX_Q], adam_v[SM_MAX_DIMS][SM_MAX_Q];
    int adam_t;
    double weights[SM_MAX_DIMS][SM_MAX_Q]; /* for sm_kernel_desc: w / sum w */
    double rhos[SM_MAX_DIMS][SM_MAX_Q];    /* for sm_kernel_desc: rho per component */
} sm_learner;

/* Q components (1..SM_MAX_Q) on [0, hi_i - lo_i] = extent per dimension with n_i points;
 * envelope of lengthscale l = envelope_h * h_i: SE exp(-r^2 / (2 l^2)) (rho = 1/(2 l^2)) or
 * Matern-5/2 of lengthscale l (rho = 1/l); uniform weights 1/Q. Returns 0, or -1 for
 * arguments out of range. */
int sm_init(sm_learner *s, int d, const int64_t *n, const double *extent, int q, vks_sm_base base,
            double envelope_h, double jitter);

/* J at the grid values u (N = prod n_i, row-major, the first dimension slowest); with
 * grad != NULL also dJ/dlog(w) as grad[i * q + k]. Returns NaN if a K_i is not positive
 * definite. */
double sm_objective(const sm_learner *s, const double *u, double *grad);

/* `steps` Adam steps (lr, beta 0.9 / 0.999, as GP-HM's optax) on log w for fixed u;
 * returns J after the last step (NaN if a K_i failed). */
double sm_adam(sm_learner *s, const double *u, int steps, double lr);

/* Fills desc with dimension i's kernel: spectral mixture of the learner's base, weights normalised to
 * sum 1 (stored in s->weights[i], s->rhos[i]; desc points into s). */
void sm_kernel_desc(sm_learner *s, int i, vks_kernel_desc *desc);

/* The host kernel k_i at r (for tests against vks_kron_kernel_matrix). */
double sm_kernel_value(const sm_learner *s, int i, double r);

#endif
