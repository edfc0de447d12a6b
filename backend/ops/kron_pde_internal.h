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
} pde_dim;

typedef struct pde_solver {
    vks_context *ctx;
    vks_dtype dt;
    size_t es;
    int32_t d;
    int64_t points, interior;
    pde_dim dim[VKS_KRON_MAX_DIMS];
    double coef_xx[VKS_KRON_MAX_DIMS], coef_u;
    vks_buffer *buf;      /* matrices, the preconditioner's reciprocals, work vectors */
    vks_buffer *partials; /* dot-product partial sums, read back */
    int64_t groups;
    VkDeviceAddress recip, full0, full1, full2, full3, v[11];
} pde_solver;

enum { V_X, V_R, V_RHAT, V_P, V_V, V_S, V_T, V_PHAT, V_SHAT, V_TMP0, V_TMP1 };

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

#endif /* VKS_KRON_PDE_INTERNAL_H */
