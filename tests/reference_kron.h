/*
 * Float64 (and long double) oracles of the Kronecker-GP family, written from the
 * definitions: explicit Kronecker matrices, closed-form kernels differentiated by finite
 * differences, dense Cholesky solves. Never from the kernels' formulations.
 */
#ifndef VKS_REFERENCE_KRON_H
#define VKS_REFERENCE_KRON_H

#include <stdint.h>

#include "reference.h"

/* The dense (prod rows) x (prod cols) matrix A_1 ⊗ ... ⊗ A_d, row-major: entry
 * ((j_1..j_d), (i_1..i_d)) = prod_t A_t(j_t, i_t), multi-indices row-major. */
void ref_kron_dense(int d, const ref_mat *factors, double *out);

/* A stationary 1-D kernel as a spectral mixture g(r) = sum_q w_q phi(r; rho_q) cos(2 pi f_q r),
 * phi = exp(-rho r^2) (base 0) or (1 + s + s^2/3) exp(-s), s = sqrt(5) rho |r| (base 1). */
typedef struct ref_kron_kernel {
    int base;
    int q;
    double w[8], rho[8], f[8];
} ref_kron_kernel;

/* RBF / Matern-5/2 in GPyTorch's parametrisation, as one-component mixtures. */
ref_kron_kernel ref_kron_kernel_rbf(double lengthscale, double outputscale);
ref_kron_kernel ref_kron_kernel_matern52(double lengthscale, double outputscale);
/* k(x, x') from the closed form, in double. */
double ref_kron_kernel_value(const ref_kron_kernel *k, double x, double xp);
/* d^dx1/dx^dx1 d^dx2/dx'^dx2 k(x, x') by central differences in long double, Richardson-
 * extrapolated (h and h/2), with h = step. The stencil must not straddle a kink of phi. */
double ref_kron_kernel_derivative_fd(const ref_kron_kernel *k, int dx1, int dx2, double x, double xp, double step);
/* The same derivative at x = x' from phi's and cos' Taylor coefficients at 0. */
double ref_kron_kernel_derivative_at_zero(const ref_kron_kernel *k, int dx1, int dx2);

/* Dense Cholesky of an SPD n x n row-major a into l (lower, zeros above); returns 0, or
 * 1 + the failing pivot. */
int ref_kron_cholesky(int64_t n, const double *a, double *l);
/* Solves (l l^T) x = b in place for b of n rows and k columns (row-major). */
void ref_kron_cholesky_solve(int64_t n, const double *l, double *b, int64_t k);
/* log det of l l^T. */
double ref_kron_cholesky_logdet(int64_t n, const double *l);

/* a (n x n, row-major, overwritten) x = b by Gaussian elimination with partial pivoting; x in b. */
void ref_dense_solve(int64_t n, double *a, double *b);

#endif
