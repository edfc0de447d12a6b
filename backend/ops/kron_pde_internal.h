/*
 * Private to backend/ops/kron_pde*.c: the PDE solver's state and its setup steps
 * (kron_pde_setup.c: validation, the float64 host setup of the per-dimension matrices).
 */
#ifndef VKS_KRON_PDE_INTERNAL_H
#define VKS_KRON_PDE_INTERNAL_H

#include "kron_internal.h"

#define PDE_PI 3.14159265358979323846
#define DOT_ITEMS 4
#define MAX_DOTS 4

typedef struct pde_dim {
    int64_t n, m;                          /* grid points, interior points (n - 2) */
    double h;
    VkDeviceAddress d, kinv, eye, mask, s; /* D_i, K_i^-1, I_n, diag(0,1..1,0) (n x n); S_i (m x m) */
    /* Finite weights only (kron_pde_weighted.c), K_i = Q_i Lambda_i Q_i^T: the whitening
     * P_i = Q_i Lambda_i^1/2, E_i = D_i P_i = K_i'' Q_i Lambda_i^-1/2 and Q_i Lambda_i^-1/2 (n x n),
     * and on the host the column dot products the Jacobi diagonal is built from:
     * col[COL_PP_ALL] = sum over all rows r of P_i[r][e]^2, and over interior rows r only
     * col[COL_PP] = P_i[r][e]^2, col[COL_PE] = P_i[r][e] E_i[r][e], col[COL_EE] = E_i[r][e]^2. */
    VkDeviceAddress whiten, whiten_d, unwhiten;
    double *col[4];
} pde_dim;

enum { COL_PP_ALL, COL_PP, COL_PE, COL_EE };

typedef struct pde_solver {
    vks_context *ctx;
    vks_dtype dt;
    size_t es;
    int32_t d;
    int64_t points, interior;
    bool weighted;        /* finite weights: CG on the whitened normal equations */
    int64_t vlen;         /* length of the Krylov vectors: interior (collocation) or points */
    pde_dim dim[VKS_KRON_MAX_DIMS];
    double coef_xx[VKS_KRON_MAX_DIMS], coef_u;
    vks_buffer *buf;      /* matrices, the preconditioner's reciprocals, work vectors */
    vks_buffer *partials; /* dot-product partial sums, read back */
    int64_t groups;
    VkDeviceAddress recip, full0, full1, full2, full3, v[11];
} pde_solver;

/* The Krylov vectors (vlen each). Finite weights use V_X, V_R, V_P, V_V (z), V_S (A p),
 * and hold 2 lambda_r on interior points / 0 in V_T, 0 / 2 lambda_b on the boundary in V_PHAT. */
enum { V_X, V_R, V_RHAT, V_P, V_V, V_S, V_T, V_PHAT, V_SHAT, V_TMP0, V_TMP1 };

/* A factor of a Kronecker chain: rows x cols at a + r*rs + c*cs. */
typedef struct chain_factor {
    VkDeviceAddress a;
    int64_t rows, cols, rs, cs;
} chain_factor;

static inline uint32_t vks__pde_wg_1d(const vks_context *ctx) {
    return vks__cpu_kernels(ctx) ? ctx->probe.info.subgroup_size : 256;
}

/* Validates desc (grid, kernels, operator, settings, tensors); the grid's size into points. */
vks_status vks__pde_validate(vks_context *ctx, const vks_kron_pde_desc *desc, const char *fn, int64_t *points);
/* Refuses NaN/Inf anywhere in f or the boundary values (reads them back). */
vks_status vks__pde_check_data(pde_solver *s, const vks_kron_pde_desc *desc, const char *fn);
/* The solver's device buffer (matrices, reciprocals, vectors) and the partial-sums buffer. */
vks_status vks__pde_setup_buffers(pde_solver *s);
/* K_i, K_i'' on the device; Cholesky, K_i^-1, D_i, I, the interior mask and DST-I on the host. */
vks_status vks__pde_setup_dim(pde_solver *s, const vks_kron_pde_desc *desc, int32_t i, const char *fn);
/* The preconditioner's reciprocals 1 / (sum_i a_i mu_i + c) on the interior grid. */
vks_status vks__pde_setup_recip(pde_solver *s);

/* Recorders (kron_pde.c). z = a x + b y, or z = a x ⊙ y (product); count elements. */
vks_status vks__pde_axpby(pde_solver *s, bool product, VkDeviceAddress x, VkDeviceAddress y, VkDeviceAddress z,
                          int64_t count, double a, double b);
/* Partial sums of a.b (count <= points elements) into slot `slot` of the partials buffer. */
vks_status vks__pde_dot(pde_solver *s, VkDeviceAddress a, VkDeviceAddress b, int slot, int64_t count);
/* One mode product on a grid of dims[0..d-1]: y[p, :, q] = alpha A x[p, :, q] + beta y[p, :, q]
 * for the mode t, A (rows x dims[t]) at element (r, c) = a + r*rs + c*cs; one batched GEMM. */
vks_status vks__pde_mode(pde_solver *s, const int64_t *dims, int32_t t, VkDeviceAddress a, int64_t rows, int64_t rs,
                         int64_t cs, VkDeviceAddress x, VkDeviceAddress y, double alpha, double beta);
/* y = alpha (⊗F_i) x + beta y by d mode products through tmp0/tmp1 (each large enough for every
 * intermediate grid); y must not be x, tmp0 or tmp1. */
vks_status vks__pde_chain(pde_solver *s, const chain_factor *f, VkDeviceAddress x, VkDeviceAddress y,
                          VkDeviceAddress tmp0, VkDeviceAddress tmp1, double alpha, double beta);
/* Ends the op, reads `count` dot products back and sums their partials (in order), reopens. */
vks_status vks__pde_read_dots(pde_solver *s, int count, double *out, const char *fn);
vks_status vks__pde_fill_zero(pde_solver *s, VkDeviceAddress at, int64_t count);

/* Finite weights (kron_pde_weighted.c, kron_pde_setup.c). The host part of one dimension's
 * setup from K_i + jitter I (k, destroyed) and K_i'' (k2): eigendecomposition, P_i, E_i,
 * Q_i Lambda_i^-1/2 uploaded, the column dot products kept. */
vks_status vks__pde_setup_whiten(pde_solver *s, int32_t i, double *k, const double *k2, const char *fn);
/* The weights and the reciprocal Jacobi diagonal on the full grid. */
vks_status vks__pde_setup_weighted(pde_solver *s, const vks_kron_pde_desc *desc);
/* CG on the whitened normal equations, inside an op region; then u, alpha, the objective. */
vks_status vks__pde_weighted_solve(pde_solver *s, const vks_kron_pde_desc *desc, int32_t *iters, double *relres,
                                   const char *fn);
/* After vks__pde_weighted_solve: the objective at its u (synchronizes). */
vks_status vks__pde_weighted_objective(pde_solver *s, const vks_kron_pde_desc *desc, double *out, const char *fn);
/* Uploads count float64 values to the address `addr` of s->buf in the solver's dtype. */
vks_status vks__pde_upload(pde_solver *s, VkDeviceAddress addr, const double *v, int64_t count);

#endif /* VKS_KRON_PDE_INTERNAL_H */
