/* vkstruct — Kronecker-structured Gaussian processes: mode products, noisy solves, log-likelihood, kernels.
 * Include <vkstruct/vkstruct.h>; it includes this header.
 *
 * Conventions (those of GPyTorch's KroneckerProductLinearOperator and torch.kron):
 *  - A grid has d = 1..4 dimensions of n_1, ..., n_d points, N = n_1 * ... * n_d.
 *    factors[0] belongs to the first (slowest-varying) grid dimension: grid data Y of
 *    shape (n_1, ..., n_d), flattened row-major, is the vector vec(Y) of length N and
 *    (A_1 ⊗ ... ⊗ A_d) vec(Y) is the product along every mode of Y.
 *  - Grid vectors are tensors of shape (N) or (N, k) for k right-hand sides: row-major
 *    (N, k) as GPyTorch stores them (strides {k, 1}), or k grids one after another
 *    (strides {1, N}). Outputs take the same forms. Nothing of size N x N is ever formed.
 *  - f32 and f64 (f64 needs shaderFloat64); all tensors of one call share the dtype.
 *    docs/kron.md states the accuracy of each dtype.
 */
#ifndef VKSTRUCT_KRON_H
#define VKSTRUCT_KRON_H

#include "vkstruct/vkstruct.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VKS_KRON_MAX_DIMS 4

/* ---- Kronecker products ------------------------------------------------------------ */

typedef vks_status vks_kron_matmul_fn(vks_context *ctx, int32_t d, const vks_tensor *const *factors,
                                      vks_transpose trans, double alpha, const vks_tensor *x, double beta,
                                      const vks_tensor *y);
/* y = alpha * (op(A_1) ⊗ ... ⊗ op(A_d)) x + beta * y, op(A) = A or A^T (trans, for all
 * factors). factors[i]: a matrix (rows, cols), any strides with one of them 1; op(A_i)
 * may be rectangular (m_i x n_i): then x has N = prod n_i rows and y M = prod m_i rows
 * (e.g. cross-covariances from the training grid to a test grid). x: (N) or (N, k);
 * y: (M) or (M, k), same k, must not overlap x. With beta == 0, y is not read. Computed
 * as d GEMMs that each contract the leading mode and rotate it to the back. */
VKS_API vks_kron_matmul_fn vks_kron_matmul;

/* ---- kernel matrices on 1-D grids ---------------------------------------------------- */

typedef enum vks_kernel_kind {
    VKS_KERNEL_RBF = 0,              /* outputscale * exp(-r^2 / (2 lengthscale^2)) (GPyTorch RBFKernel) */
    VKS_KERNEL_MATERN52 = 1,         /* outputscale * (1 + s + s^2/3) exp(-s), s = sqrt(5)|r|/lengthscale */
    VKS_KERNEL_SPECTRAL_MIXTURE = 2  /* GP-HM: sum_q w_q phi(|r|; rho_q) cos(2 pi f_q r), see below */
} vks_kernel_kind;

/* The base phi of a spectral-mixture component (GP-HM's two forms). */
typedef enum vks_sm_base {
    VKS_SM_BASE_SE = 0,       /* phi = exp(-rho r^2) */
    VKS_SM_BASE_MATERN52 = 1  /* phi = (1 + sqrt5 rho|r| + 5/3 rho^2 r^2) exp(-sqrt5 rho|r|) */
} vks_sm_base;

typedef struct vks_kernel_desc {
    size_t struct_size; /* sizeof(vks_kernel_desc) */
    vks_kernel_kind kind;
    double lengthscale; /* RBF, Matern-5/2: > 0 */
    double outputscale; /* RBF, Matern-5/2: the factor in front (GPyTorch's ScaleKernel) */
    /* Spectral mixture: Q components, host arrays of Q values each (Q <= 1024). */
    vks_sm_base sm_base;
    int32_t num_mixtures;
    const double *sm_weights; /* w_q */
    const double *sm_rhos;    /* rho_q > 0 (an inverse squared length for SE, inverse length for Matern) */
    const double *sm_freqs;   /* f_q (cycles per unit of x) */
    /* Derivative kernels: K[i][j] = d^dx1/dx^dx1 d^dx2/dx'^dx2 k(x, x') at x = x1[i],
     * x' = x2[j]; each order 0..2 (Matern-5/2 is four times differentiable at r = 0). */
    int32_t dx1, dx2;
} vks_kernel_desc;

#define VKS_KERNEL_DESC_INIT {sizeof(vks_kernel_desc), VKS_KERNEL_RBF, 1.0, 1.0, VKS_SM_BASE_SE, 0, NULL, NULL, NULL, 0, 0}

typedef vks_status vks_kron_kernel_matrix_fn(vks_context *ctx, const vks_kernel_desc *desc, const vks_tensor *x1,
                                             const vks_tensor *x2, const vks_tensor *k);
/* k[i][j] = kernel(x1[i], x2[j]) (or its derivative, see vks_kernel_desc) with r = x - x'.
 * x1: (n1), x2: (n2) points of one dimension (any stride); k: (n1, n2), any strides with
 * one of them 1. Evaluated on the device; f64 uses double-precision exp/cos of its own
 * (GLSL has none), f32 the device's float functions on reduced arguments. */
VKS_API vks_kron_kernel_matrix_fn vks_kron_kernel_matrix;

/* ---- solves with noise: per-factor eigendecompositions (Saatci) ------------------- */

/* Noise model: K + noise * D with K = K_1 ⊗ ... ⊗ K_d and D = diag(c_1) ⊗ ... ⊗ diag(c_d)
 * (per-factor diagonal noise; D = I when no noise_scales are given). With scales the
 * eigendecompositions are of D_i^-1/2 K_i D_i^-1/2 (as GPyTorch's
 * KroneckerProductAddedDiagLinearOperator does), so the same noise_scales must be passed
 * to vks_kron_eigh and vks_kron_solve. */
typedef struct vks_kron_eigh_desc {
    size_t struct_size; /* sizeof(vks_kron_eigh_desc) */
    int32_t d;
    const vks_tensor *factors[VKS_KRON_MAX_DIMS];      /* K_i: (n_i, n_i), symmetric (averaged with
                                                          its transpose), not modified */
    const vks_tensor *noise_scales[VKS_KRON_MAX_DIMS]; /* optional c_i: (n_i), > 0; NULL: ones */
    double jitter;                                     /* added to each factor's diagonal; >= 0 */
    const vks_tensor *eigvecs[VKS_KRON_MAX_DIMS];      /* out Q_i: (n_i, n_i) compact, columns */
    const vks_tensor *eigvals[VKS_KRON_MAX_DIMS];      /* out lambda_i: (n_i) compact, ascending */
} vks_kron_eigh_desc;

#define VKS_KRON_EIGH_DESC_INIT {sizeof(vks_kron_eigh_desc), 0, {NULL}, {NULL}, 0.0, {NULL}, {NULL}}

typedef vks_status vks_kron_eigh_fn(vks_context *ctx, const vks_kron_eigh_desc *desc);
/* Eigendecomposes every factor with vks_eigh's default method (LAPACK's tridiagonal
 * pipeline; Jacobi, with up to 100 sweeps for kernel matrices' clusters of tiny eigenvalues,
 * where vks_eigh falls back to it), in float64 when the device has it (also for f32
 * tensors, as GPyTorch does), and checks that it is positive semi-definite: an eigenvalue
 * below -tol_i, tol_i = 16 n_i eps max|lambda_i| (eps of the factors' dtype), returns
 * VKS_ERROR_NOT_POSITIVE_DEFINITE naming the factor and its smallest eigenvalue; negative
 * eigenvalues within the tolerance are stored as 0. A factor given twice (the same tensor
 * and scales) is decomposed once, and may name the same outputs twice. Synchronizes (reads
 * the eigenvalues back), so not during external recording (VKS_ERROR_UNSUPPORTED). */
VKS_API vks_kron_eigh_fn vks_kron_eigh;

/* GPyTorch's clamp of K's own eigenvalues (linear_operator 0.6). */
#define VKS_KRON_EIG_FLOOR_DEFAULT 1e-7

enum {
    /* Clamp lambda + sigma^2 at eig_floor instead of clamping K's eigenvalue lambda before
     * sigma^2 is added (the default, GPyTorch's constant-noise path). Differs from the
     * default only where sigma^2 < eig_floor. */
    VKS_KRON_SOLVE_FLOOR_AFTER_NOISE = 1u << 0
};

typedef struct vks_kron_solve_desc {
    size_t struct_size; /* sizeof(vks_kron_solve_desc) */
    int32_t d;
    const vks_tensor *eigvecs[VKS_KRON_MAX_DIMS];      /* Q_i from vks_kron_eigh */
    const vks_tensor *eigvals[VKS_KRON_MAX_DIMS];      /* lambda_i from vks_kron_eigh */
    const vks_tensor *noise_scales[VKS_KRON_MAX_DIMS]; /* the c_i given to vks_kron_eigh, or NULL */
    double noise;     /* sigma^2 >= 0 */
    /* Each eigenvalue lambda of K (a product of the factors' lambda_i, those clamped at 0) is
     * clamped below at this before sigma^2 is added, with no clamp after, as GPyTorch's solve
     * and log-det with a constant noise (0: no clamp). See VKS_KRON_SOLVE_FLOOR_AFTER_NOISE. */
    double eig_floor;
    const vks_tensor *y;      /* (N) or (N, k); NULL when only logdet is wanted */
    const vks_tensor *alpha;  /* out like y: (K + sigma^2 D)^-1 y; or NULL */
    const vks_tensor *mean;   /* out like y: K alpha, the posterior mean on the grid; or NULL */
    const vks_tensor *logdet; /* out (1): log|K + sigma^2 D|; or NULL */
    const vks_tensor *mll;    /* out (k) (or (1) for a vector y): log marginal likelihood per
                                 right-hand side, -y'alpha/2 - logdet/2 - N log(2 pi)/2; or NULL */
    uint32_t flags; /* VKS_KRON_SOLVE_*; 0: the default */
} vks_kron_solve_desc;

#define VKS_KRON_SOLVE_DESC_INIT                                                                              \
    {sizeof(vks_kron_solve_desc), 0, {NULL}, {NULL}, {NULL}, 0.0, VKS_KRON_EIG_FLOOR_DEFAULT, NULL, NULL, NULL, \
     NULL, NULL, 0u}

typedef vks_status vks_kron_solve_fn(vks_context *ctx, const vks_kron_solve_desc *desc);
/* alpha = D^-1/2 Q (Lambda + sigma^2)^-1 Q^T D^-1/2 y with Q = ⊗Q_i, Lambda = ⊗lambda_i:
 * two Kronecker products and one fused pass that scales, and sums the log-determinant
 * and y'alpha. Does not synchronize. noise + eig_floor must be > 0 (the noiseless case
 * is vks_kron_cholesky_solve). */
VKS_API vks_kron_solve_fn vks_kron_solve;

/* ---- the noiseless case: per-factor Cholesky --------------------------------------- */

typedef struct vks_kron_cholesky_desc {
    size_t struct_size; /* sizeof(vks_kron_cholesky_desc) */
    int32_t d;
    const vks_tensor *factors[VKS_KRON_MAX_DIMS]; /* K_i: (n_i, n_i) symmetric positive definite */
    double jitter;          /* added to each factor's diagonal; >= 0 */
    int32_t jitter_retries; /* a factor that is not positive definite is retried this many
                               times with its jitter times 10 (from 1e-6 for f32, 1e-8 for
                               f64 when jitter is 0), as GPyTorch's psd_safe_cholesky */
    double *jitter_used;    /* optional out: d doubles, the jitter each factor needed */
    const vks_tensor *y;        /* (N) or (N, k); NULL when only logdet / inverses are wanted */
    const vks_tensor *alpha;    /* out like y: (⊗K_i)^-1 y; or NULL */
    const vks_tensor *logdet;   /* out (1): log|⊗K_i| = sum_i (N/n_i) log|K_i|; or NULL */
    const vks_tensor *mll;      /* out (k) or (1); or NULL */
    const vks_tensor *inverses[VKS_KRON_MAX_DIMS]; /* optional out: K_i^-1 (n_i, n_i) compact, for
                                                      more right-hand sides via vks_kron_matmul */
} vks_kron_cholesky_desc;

#define VKS_KRON_CHOLESKY_DESC_INIT                                                                  \
    {sizeof(vks_kron_cholesky_desc), 0, {NULL}, 0.0, 0, NULL, NULL, NULL, NULL, NULL, {NULL}}

typedef vks_status vks_kron_cholesky_solve_fn(vks_context *ctx, const vks_kron_cholesky_desc *desc);
/* (⊗K_i)^-1 = ⊗K_i^-1, each K_i^-1 from vks_cholesky and two vks_trsm; a factor that is
 * not positive definite (after its retries) returns VKS_ERROR_NOT_POSITIVE_DEFINITE
 * naming the factor. Synchronizes (each Cholesky reports its pivots), so not during
 * external recording (VKS_ERROR_UNSUPPORTED). */
VKS_API vks_kron_cholesky_solve_fn vks_kron_cholesky_solve;

/* ---- posterior mean at scattered points --------------------------------------------- */

typedef vks_status vks_kron_predict_fn(vks_context *ctx, int32_t d, const vks_tensor *const *cross,
                                       const vks_tensor *alpha, const vks_tensor *mean);
/* mean[p] = sum over grid points e of prod_i cross_i[p][e_i] * alpha[e]: the posterior mean
 * at P points off the grid, cross_i = k_i(x*_i, grid_i) of shape (P, n_i) the
 * cross-covariances of the points' i-th coordinates with grid dimension i (from
 * vks_kron_kernel_matrix). alpha: (N) or row-major (N, k); mean: (P) or row-major (P, k).
 * For test points that form a grid, vks_kron_matmul with the (m_i, n_i) cross-covariances
 * is cheaper. */
VKS_API vks_kron_predict_fn vks_kron_predict;

/* ---- linear PDEs by GP collocation (GP-HM) -------------------------------------------- */

/* L u = f on the box [lo_1, hi_1] x ... x [lo_d, hi_d] with Dirichlet data u = g on its
 * boundary, L u = sum_i coef_xx[i] d2u/dx_i^2 + coef_u u (Poisson: coef_xx = 1, coef_u = 0;
 * Helmholtz: coef_u = kappa^2). The unknowns are the values U of u on a uniform tensor grid
 * of n_i points per dimension (both ends included, h_i = (hi_i - lo_i)/(n_i - 1)) under the
 * GP prior K = ⊗K_i, K_i = k_i(grid_i, grid_i) + jitter I; second derivatives are the GP's:
 * U_xixi = K_i'' K_i^-1 U along mode i (K_i'' = d2k_i/dx2 on the grid). Two models
 * (docs/kron-pde.md):
 *  - collocation (weight_boundary = weight_residual = 0, the default): U = g on the boundary
 *    and (L U)(x) = f(x) at every interior grid point exactly, GP-HM's objective in the limit
 *    of infinite weights;
 *  - GP-HM's objective with finite weights lambda_b = weight_boundary, lambda_r =
 *    weight_residual (both > 0): U minimizes
 *      1/2 U^T K^-1 U + lambda_b ||U - g||^2 (boundary points) + lambda_r ||L U - f||^2 (interior points),
 *    a quadratic whose minimizer is the GP posterior mean given the boundary values and the
 *    PDE residuals observed with noise variances 1/(2 lambda). */
typedef struct vks_kron_pde_desc {
    size_t struct_size; /* sizeof(vks_kron_pde_desc) */
    int32_t d;          /* 1..4 */
    int64_t n[VKS_KRON_MAX_DIMS];       /* grid points per dimension, >= 3, boundary included */
    double lo[VKS_KRON_MAX_DIMS];       /* the box: lo[i] < hi[i], finite */
    double hi[VKS_KRON_MAX_DIMS];
    const vks_kernel_desc *kernels[VKS_KRON_MAX_DIMS]; /* k_i (any kind; their dx1, dx2 are ignored) */
    double jitter;                      /* added to each K_i's diagonal; >= 0 (default 1e-8) */
    double coef_xx[VKS_KRON_MAX_DIMS];  /* a_i of L; finite, not all 0 */
    double coef_u;                      /* c of L; finite */
    const vks_tensor *f;        /* (N) f at every grid point (boundary entries unused but finite) */
    const vks_tensor *boundary; /* (N) g at the boundary points (interior entries unused but finite) */
    const vks_tensor *u;        /* out (N): U, the solution at the grid points */
    const vks_tensor *alpha;    /* optional out (N): (⊗K_i)^-1 U, so that u(x*) = (⊗k_i(x*_i, grid_i)) alpha
                                   (vks_kron_matmul / vks_kron_predict with cross-covariances) */
    int32_t max_iterations;     /* Krylov iterations, 1..100000 (default 1000) */
    double tolerance;           /* stop at ||r|| <= tolerance ||r_0||, 0 < tolerance < 1 (default 1e-8;
                                   with finite weights use ~1e-11: docs/kron-pde.md) */
    int32_t *iterations;        /* optional out: iterations run */
    double *residual;           /* optional out: ||r|| / ||r_0|| reached */
    /* Appended after the first release: */
    double weight_boundary;     /* lambda_b: 0 (collocation, the default) or finite > 0, with ... */
    double weight_residual;     /* ... lambda_r: 0 together with weight_boundary, or finite > 0 */
    double *objective;          /* optional out: the objective at U (finite weights; the
                                   collocation limit reports its prior term 1/2 U^T K^-1 U) */
} vks_kron_pde_desc;

#define VKS_KRON_PDE_DESC_INIT                                                                                   \
    {sizeof(vks_kron_pde_desc), 0, {0}, {0.0}, {0.0}, {NULL}, 1e-8, {0.0}, 0.0, NULL, NULL, NULL, NULL, 1000, 1e-8, \
     NULL, NULL, 0.0, 0.0, NULL}

typedef vks_status vks_kron_pde_solve_fn(vks_context *ctx, const vks_kron_pde_desc *desc);
/* Collocation: BiCGStab on the interior values (mode products with the per-dimension
 * K_i'' K_i^-1 restricted to the interior), preconditioned by the finite-difference operator
 * in its sine eigenbasis. Finite weights: conjugate gradients on the normal equations in
 * whitened variables U = (⊗Q_i Lambda_i^1/2) V (K_i = Q_i Lambda_i Q_i^T), preconditioned by
 * their exact diagonal in that basis (computed in Kronecker form); more iterations than
 * collocation, more for larger weights and in 2-D (docs/kron-pde.md has the counts). Both
 * never form anything N x N. The n_i x n_i setup (Cholesky of K_i, K_i^-1, K_i'' K_i^-1, the
 * eigendecomposition by the system's LAPACK for finite weights) runs on the host in float64
 * and needs a device with shaderFloat64; the iteration runs in the tensors' dtype (f64
 * recommended). Synchronizes (reads dot products back every iteration), so not during
 * external recording. Errors: a factor K_i not positive definite ->
 * VKS_ERROR_NOT_POSITIVE_DEFINITE naming the kernel and the Cholesky pivot; no convergence
 * within max_iterations -> VKS_ERROR_NOT_CONVERGED (u then holds the last iterate); NaN/Inf
 * anywhere in f or boundary -> VKS_ERROR_NON_FINITE naming the entry (also a right-hand side that
 * overflows the dtype: weights or data too large). */
VKS_API vks_kron_pde_solve_fn vks_kron_pde_solve;

/* ---- learning the kernel: GP-HM's spectral mixture, weights by Adam ------------------- */

/* GP-HM's kernel choice for vks_kron_pde_solve (docs/kron-pde.md, "Choosing the kernel"):
 * per grid dimension i a spectral mixture k_i(r) = sum_q w_iq phi_i(r) cos(2 pi f_iq r) with
 * Q frequencies f_iq log-spaced from 1/(hi_i - lo_i) (one cycle per domain) to the grid's
 * Nyquist frequency 1/(2 h_i), one envelope phi_i of lengthscale l_i = envelope h_i (SE:
 * rho = 1/(2 l^2); Matern-5/2: rho = 1/l), and weights w_iq > 0 learned on GP-HM's prior
 * objective at the collocation solution U,
 *   J(w) = sum_i (N/n_i) 1/2 log|K_i| + 1/2 U^T K^-1 U,  K_i = k_i(grid_i, grid_i) + jitter k_i(0) I,
 * by Adam on log w (beta 0.9 / 0.999, as GP-HM's optax), alternating with the solve: solve with
 * uniform weights, then `rounds` times `steps` Adam steps for the current U and a new solve. */
typedef struct vks_kron_pde_learn_desc {
    size_t struct_size;     /* sizeof(vks_kron_pde_learn_desc) */
    int32_t num_mixtures;   /* Q per dimension, 1..64 (default 30) */
    vks_sm_base base;       /* the envelope's form (default VKS_SM_BASE_SE) */
    double envelope;        /* envelope lengthscale in grid spacings, finite > 0; 0 (the default): the
                               base's measured default (SE 6, Matern-5/2 48) */
    double relative_jitter; /* added to K_i's diagonal relative to k_i(0), finite >= 0 (default 1e-8) */
    int32_t rounds;         /* Adam-steps-then-solve rounds, 0..1000 (default 4; 0: one solve) */
    int32_t steps;          /* Adam steps per round, 1..100000 (default 30) */
    double learning_rate;   /* Adam's step size on log w, finite > 0 (default 0.3) */
    /* Optional outputs, host arrays of Q doubles for dimensions 0..d-1 (NULL: not wanted):
     * the learned kernel k_i is the spectral mixture of `base` with these weights (summing
     * to 1, so k_i(0) = 1), rhos and frequencies; vks_kron_pde_solve with these kernels and
     * jitter = relative_jitter reproduces u. */
    double *weights[VKS_KRON_MAX_DIMS];
    double *rhos[VKS_KRON_MAX_DIMS];
    double *freqs[VKS_KRON_MAX_DIMS];
    double *objective;      /* optional out: J at the learned weights and the returned u */
} vks_kron_pde_learn_desc;

#define VKS_KRON_PDE_LEARN_DESC_INIT                                                                    \
    {sizeof(vks_kron_pde_learn_desc), 30, VKS_SM_BASE_SE, 0.0, 1e-8, 4, 30, 0.3, {NULL}, {NULL}, {NULL}, NULL}

typedef vks_status vks_kron_pde_learn_fn(vks_context *ctx, const vks_kron_pde_desc *desc,
                                         const vks_kron_pde_learn_desc *learn);
/* Learns the kernel (above) for the PDE of desc and solves it: desc gives the grid, box,
 * operator, f, boundary data, tensors and iteration limits as for vks_kron_pde_solve;
 * desc->kernels and desc->jitter are ignored (the learned kernels and learn->relative_jitter
 * replace them). Collocation only: desc->weight_boundary / weight_residual must be 0. On
 * return desc->u (and alpha, iterations, residual, objective when given) hold the last
 * solve, under the learned kernel, and the optional outputs of learn its kernels (also when that
 * solve did not converge). The learning runs on the host in float64: O(n_i^3) per
 * dimension and O(N sum_i n_i) per Adam step (U read back each round), which dominates on
 * large grids. Errors: those of vks_kron_pde_solve (the message says which round's solve);
 * a factor K_i that loses positive definiteness during the steps ->
 * VKS_ERROR_NOT_POSITIVE_DEFINITE (u holds the previous solve; raise relative_jitter). */
VKS_API vks_kron_pde_learn_fn vks_kron_pde_learn;

/* Functions of this family (membership only: the plugin table's order is
 * VKS_PLUGIN_FUNCTIONS in plugin.h, where a new function is appended too). */
#define VKS_KRON_FUNCTIONS(X)  \
    X(vks_kron_matmul)         \
    X(vks_kron_kernel_matrix)  \
    X(vks_kron_eigh)           \
    X(vks_kron_solve)          \
    X(vks_kron_cholesky_solve) \
    X(vks_kron_predict)        \
    X(vks_kron_pde_solve)      \
    X(vks_kron_pde_learn)

#ifdef __cplusplus
}
#endif

#endif /* VKSTRUCT_KRON_H */
