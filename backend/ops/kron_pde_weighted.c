/*
 * vks_kron_pde_solve with finite weights: GP-HM's objective for fixed kernels,
 *   J(U) = 1/2 U^T K^-1 U + lambda_b ||B U - g||^2 + lambda_r ||R (L U - f)||^2,
 * B / R the selections of the boundary / interior grid points, K = ⊗K_i, L = sum_i a_i D_i + c I
 * with D_i = K_i'' K_i^-1 along mode i. J is quadratic; its normal equations
 * (K^-1 + 2 lambda_b B^T B + 2 lambda_r L^T R^T R L) U = rhs carry K^-1, whose condition number
 * is that of K (1/jitter^d for smooth kernels: 1e16 in 2-D), which conjugate gradients cannot
 * work through in float64. So the unknowns are whitened, U = P V with P = ⊗P_i,
 * P_i = Q_i Lambda_i^1/2 from K_i = Q_i Lambda_i Q_i^T, and CG runs on
 *   (I + P^T C^T W C P) V = P^T C^T W y,   C = [B; R L], W = diag(2 lambda_b, 2 lambda_r), y = [g; f],
 * where C P needs no inverse: L P = sum_i a_i (E_i along mode i, P_j along the others) + c P with
 * E_i = D_i P_i = K_i'' Q_i Lambda_i^-1/2 (formed on the host in float64). Preconditioner: the
 * exact diagonal of that matrix, which the Kronecker structure gives from per-dimension
 * column dot products (vks__pde_setup_weighted). docs/kron-pde.md measures the iterations.
 * Then u = P V and alpha = K^-1 u = (⊗Q_i Lambda_i^-1/2) V.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "kron_pde_internal.h"
#include "orthogonal_internal.h"

/* ---- host setup ------------------------------------------------------------------------------ */

vks_status vks__pde_setup_whiten(pde_solver *s, int32_t i, double *k, const double *k2, const char *fn) {
    pde_dim *q = &s->dim[i];
    const int64_t n = q->n;
    double *w = vks__malloc(sizeof(double) * (size_t)n), *p = vks__malloc(sizeof(double) * (size_t)(n * n));
    double *e = vks__malloc(sizeof(double) * (size_t)(n * n)), *ui = vks__malloc(sizeof(double) * (size_t)(n * n));
    vks_status st = w && p && e && ui ? VKS_OK : vks__error(VKS_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", fn);
    for (int j = 0; j < 4 && st == VKS_OK; ++j) {
        q->col[j] = vks__malloc(sizeof(double) * (size_t)n);
        if (!q->col[j]) st = vks__error(VKS_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", fn);
    }
    if (st == VKS_OK) st = vks__host_syevd((int)n, k, w, fn); /* symmetric: row- = column-major */
    if (st == VKS_OK && !(w[0] > 0))
        st = vks__error(VKS_ERROR_NOT_POSITIVE_DEFINITE,
                        "%s: desc->kernels[%d] on %lld grid points plus jitter has the eigenvalue %.6g; expected > 0 "
                        "(raise desc->jitter)",
                        fn, i, (long long)n, w[0]);
    if (st == VKS_OK) {
        for (int64_t r = 0; r < n; ++r) /* k holds Q column-major: Q[r][c] = k[c * n + r] */
            for (int64_t c = 0; c < n; ++c) {
                const double qv = k[c * n + r], sq = sqrt(w[c]);
                p[r * n + c] = qv * sq;
                ui[r * n + c] = qv / sq;
            }
        memset(e, 0, sizeof(double) * (size_t)(n * n)); /* E = K'' (Q Lambda^-1/2) */
        for (int64_t r = 0; r < n; ++r)
            for (int64_t t = 0; t < n; ++t) {
                const double a = k2[r * n + t];
                for (int64_t c = 0; c < n; ++c) e[r * n + c] += a * ui[t * n + c];
            }
        for (int64_t c = 0; c < n; ++c) {
            double all = 0, pp = 0, pe = 0, ee = 0;
            for (int64_t r = 0; r < n; ++r) {
                const double pv = p[r * n + c], ev = e[r * n + c];
                all += pv * pv;
                if (r == 0 || r == n - 1) continue;
                pp += pv * pv, pe += pv * ev, ee += ev * ev;
            }
            q->col[COL_PP_ALL][c] = all, q->col[COL_PP][c] = pp, q->col[COL_PE][c] = pe, q->col[COL_EE][c] = ee;
        }
        st = vks__pde_upload(s, q->whiten, p, n * n);
    }
    if (st == VKS_OK) st = vks__pde_upload(s, q->whiten_d, e, n * n);
    if (st == VKS_OK) st = vks__pde_upload(s, q->unwhiten, ui, n * n);
    vks__free(w), vks__free(p), vks__free(e), vks__free(ui);
    return st;
}

/* The operator's terms: term t < d is a_t (E_t along mode t, P elsewhere), term d is c P. */
static double term_coef(const pde_solver *s, int32_t t) { return t < s->d ? s->coef_xx[t] : s->coef_u; }

vks_status vks__pde_setup_weighted(pde_solver *s, const vks_kron_pde_desc *desc) {
    const int64_t np = s->points;
    double *dg = vks__malloc(sizeof(double) * (size_t)np), *wr = vks__malloc(sizeof(double) * (size_t)np);
    double *wb = vks__malloc(sizeof(double) * (size_t)np);
    vks_status st = dg && wr && wb ? VKS_OK : vks__error(VKS_ERROR_OUT_OF_HOST_MEMORY, "vks_kron_pde_solve: out of host memory");
    const double lb2 = 2 * desc->weight_boundary, lr2 = 2 * desc->weight_residual;
    for (int64_t e = 0; st == VKS_OK && e < np; ++e) {
        int64_t idx[VKS_KRON_MAX_DIMS], rest = e;
        bool boundary = false;
        for (int32_t t = s->d - 1; t >= 0; --t) {
            idx[t] = rest % s->dim[t].n;
            rest /= s->dim[t].n;
            boundary = boundary || idx[t] == 0 || idx[t] == s->dim[t].n - 1;
        }
        /* Column e of C P: its boundary rows are those of P = ⊗P_i (all rows minus interior
         * rows), its interior rows those of sum_t coef_t F_t; squared norms factor per dimension. */
        double all = 1, in = 1;
        for (int32_t t = 0; t < s->d; ++t) all *= s->dim[t].col[COL_PP_ALL][idx[t]], in *= s->dim[t].col[COL_PP][idx[t]];
        double res = 0;
        for (int32_t a = 0; a <= s->d; ++a) {
            if (term_coef(s, a) == 0) continue;
            for (int32_t b = 0; b <= s->d; ++b) {
                if (term_coef(s, b) == 0) continue;
                double prod = term_coef(s, a) * term_coef(s, b);
                for (int32_t t = 0; t < s->d; ++t) {
                    const int kind = (t == a) + (t == b); /* 0: P.P, 1: P.E, 2: E.E */
                    prod *= s->dim[t].col[kind == 0 ? COL_PP : kind == 1 ? COL_PE : COL_EE][idx[t]];
                }
                res += prod;
            }
        }
        dg[e] = 1.0 / (1.0 + lb2 * (all - in) + lr2 * res);
        wr[e] = boundary ? 0.0 : lr2;
        wb[e] = boundary ? lb2 : 0.0;
    }
    if (st == VKS_OK) st = vks__pde_upload(s, s->recip, dg, np);
    if (st == VKS_OK) st = vks__pde_upload(s, s->v[V_T], wr, np);
    if (st == VKS_OK) st = vks__pde_upload(s, s->v[V_PHAT], wb, np);
    vks__free(dg), vks__free(wr), vks__free(wb);
    return st;
}

/* ---- recorders --------------------------------------------------------------------------------- */

/* y = P v and zr = L P v = sum_t a_t (E_t along t, P elsewhere) v + c y. */
static vks_status record_forward(pde_solver *s, VkDeviceAddress v, VkDeviceAddress y, VkDeviceAddress zr) {
    chain_factor f[VKS_KRON_MAX_DIMS];
    for (int32_t i = 0; i < s->d; ++i) f[i] = (chain_factor){s->dim[i].whiten, s->dim[i].n, s->dim[i].n, s->dim[i].n, 1};
    VKS_TRY(vks__pde_chain(s, f, v, y, s->full2, s->full3, 1.0, 0.0));
    bool first = true;
    for (int32_t t = 0; t < s->d; ++t) {
        if (s->coef_xx[t] == 0) continue;
        f[t].a = s->dim[t].whiten_d;
        VKS_TRY(vks__pde_chain(s, f, v, zr, s->full2, s->full3, s->coef_xx[t], first ? 0.0 : 1.0));
        f[t].a = s->dim[t].whiten;
        first = false;
    }
    if (s->coef_u != 0) VKS_TRY(vks__pde_axpby(s, false, y, zr, zr, s->points, s->coef_u, 1.0));
    return VKS_OK;
}

/* out = P^T (c zr + yb) + sum_t a_t (E_t^T along t, P^T elsewhere) zr; yb is overwritten. */
static vks_status record_backward(pde_solver *s, VkDeviceAddress zr, VkDeviceAddress yb, VkDeviceAddress out) {
    chain_factor f[VKS_KRON_MAX_DIMS];
    for (int32_t i = 0; i < s->d; ++i) f[i] = (chain_factor){s->dim[i].whiten, s->dim[i].n, s->dim[i].n, 1, s->dim[i].n};
    if (s->coef_u != 0) VKS_TRY(vks__pde_axpby(s, false, zr, yb, yb, s->points, s->coef_u, 1.0));
    VKS_TRY(vks__pde_chain(s, f, yb, out, s->full2, s->full3, 1.0, 0.0));
    for (int32_t t = 0; t < s->d; ++t) {
        if (s->coef_xx[t] == 0) continue;
        f[t].a = s->dim[t].whiten_d;
        VKS_TRY(vks__pde_chain(s, f, zr, out, s->full2, s->full3, s->coef_xx[t], 1.0));
        f[t].a = s->dim[t].whiten;
    }
    return VKS_OK;
}

/* q = (I + P^T C^T W C P) p. */
static vks_status record_normal(pde_solver *s, VkDeviceAddress p, VkDeviceAddress q) {
    VKS_TRY(record_forward(s, p, s->full1, s->full0));
    VKS_TRY(vks__pde_axpby(s, true, s->full0, s->v[V_T], s->full0, s->points, 1.0, 0.0));
    VKS_TRY(vks__pde_axpby(s, true, s->full1, s->v[V_PHAT], s->full1, s->points, 1.0, 0.0));
    VKS_TRY(record_backward(s, s->full0, s->full1, q));
    return vks__pde_axpby(s, false, p, q, q, s->points, 1.0, 1.0);
}

/* ---- the solve ---------------------------------------------------------------------------------- */

/* u = P x and alpha = (⊗Q_i Lambda_i^-1/2) x, also after NOT_CONVERGED (the last iterate). */
static vks_status record_weighted_result(pde_solver *s, const vks_kron_pde_desc *desc) {
    chain_factor f[VKS_KRON_MAX_DIMS];
    for (int32_t i = 0; i < s->d; ++i) f[i] = (chain_factor){s->dim[i].whiten, s->dim[i].n, s->dim[i].n, s->dim[i].n, 1};
    VKS_TRY(vks__pde_chain(s, f, s->v[V_X], vks__tensor_address(desc->u), s->full2, s->full3, 1.0, 0.0));
    if (!desc->alpha) return VKS_OK;
    for (int32_t i = 0; i < s->d; ++i) f[i].a = s->dim[i].unwhiten;
    return vks__pde_chain(s, f, s->v[V_X], vks__tensor_address(desc->alpha), s->full2, s->full3, 1.0, 0.0);
}

/* Preconditioned CG (Hestenes-Stiefel) from V = 0; inside an op region, each read back ends
 * it, synchronizes and opens the next. */
static vks_status cg(pde_solver *s, const vks_kron_pde_desc *desc, int32_t *iters, double *relres, const char *fn) {
    const int64_t m = s->points;
    VkDeviceAddress *v = s->v, x = v[V_X], r = v[V_R], p = v[V_P], z = v[V_V], q = v[V_S];
    /* r = b = P^T C^T W y */
    VKS_TRY(vks__pde_axpby(s, true, vks__tensor_address(desc->f), v[V_T], s->full0, m, 1.0, 0.0));
    VKS_TRY(vks__pde_axpby(s, true, vks__tensor_address(desc->boundary), v[V_PHAT], s->full1, m, 1.0, 0.0));
    VKS_TRY(record_backward(s, s->full0, s->full1, r));
    VKS_TRY(vks__pde_fill_zero(s, x, m));
    VKS_TRY(vks__pde_axpby(s, true, r, s->recip, z, m, 1.0, 0.0));
    VKS_TRY(vks__pde_axpby(s, false, z, 0, p, m, 1.0, 0.0));
    VKS_TRY(vks__pde_dot(s, r, z, 0, m));
    VKS_TRY(vks__pde_dot(s, r, r, 1, m));
    double dots[MAX_DOTS];
    VKS_TRY(vks__pde_read_dots(s, 2, dots, fn));
    double rz = dots[0];
    const double rr0 = dots[1];
    *iters = 0;
    *relres = 0;
    /* f and the boundary values are finite (checked): a non-finite P^T C^T W y is an overflow
     * of the weights times the data (or of the operator's matrices) past the dtype's range. */
    if (!isfinite(rr0))
        return vks__error(VKS_ERROR_NON_FINITE,
                          "%s: the right-hand side overflowed %s with desc->weight_boundary = %g and "
                          "desc->weight_residual = %g (f and boundary are finite); expected smaller weights, data or "
                          "coefficients (or f64)",
                          fn, vks__dtype_name(s->dt), desc->weight_boundary, desc->weight_residual);
    if (rr0 == 0) return VKS_OK;
    const double tol2 = desc->tolerance * desc->tolerance * rr0;
    for (int32_t it = 1; it <= desc->max_iterations; ++it) {
        *iters = it;
        VKS_TRY(record_normal(s, p, q));
        VKS_TRY(vks__pde_dot(s, p, q, 0, m));
        VKS_TRY(vks__pde_read_dots(s, 1, dots, fn));
        if (!(dots[0] > 0) || !isfinite(dots[0]))
            return vks__error(isfinite(dots[0]) ? VKS_ERROR_NOT_CONVERGED : VKS_ERROR_NON_FINITE,
                              "%s: conjugate gradients broke down at iteration %d (p^T A p = %g)", fn, it, dots[0]);
        const double alpha = rz / dots[0];
        VKS_TRY(vks__pde_axpby(s, false, p, x, x, m, alpha, 1.0));
        VKS_TRY(vks__pde_axpby(s, false, q, r, r, m, -alpha, 1.0));
        VKS_TRY(vks__pde_axpby(s, true, r, s->recip, z, m, 1.0, 0.0));
        VKS_TRY(vks__pde_dot(s, r, z, 0, m));
        VKS_TRY(vks__pde_dot(s, r, r, 1, m));
        VKS_TRY(vks__pde_read_dots(s, 2, dots, fn));
        *relres = sqrt(dots[1] / rr0);
        if (!isfinite(dots[1]))
            return vks__error(VKS_ERROR_NON_FINITE, "%s: the residual became non-finite at iteration %d", fn, it);
        if (dots[1] <= tol2) break;
        if (it == desc->max_iterations)
            return vks__error(VKS_ERROR_NOT_CONVERGED,
                              "%s: conjugate gradients reached desc->max_iterations = %d with ||r||/||r0|| = %.3g > "
                              "desc->tolerance = %.3g",
                              fn, desc->max_iterations, *relres, desc->tolerance);
        VKS_TRY(vks__pde_axpby(s, false, z, p, p, m, 1.0, dots[0] / rz));
        rz = dots[0];
    }
    return VKS_OK;
}

vks_status vks__pde_weighted_objective(pde_solver *s, const vks_kron_pde_desc *desc, double *out, const char *fn) {
    const int64_t m = s->points;
    VKS_TRY(record_forward(s, s->v[V_X], s->full1, s->full0));
    VKS_TRY(vks__pde_axpby(s, false, vks__tensor_address(desc->f), s->full0, s->full0, m, -1.0, 1.0));
    VKS_TRY(vks__pde_axpby(s, false, vks__tensor_address(desc->boundary), s->full1, s->full1, m, -1.0, 1.0));
    VKS_TRY(vks__pde_axpby(s, true, s->full0, s->v[V_T], s->full2, m, 1.0, 0.0));
    VKS_TRY(vks__pde_axpby(s, true, s->full1, s->v[V_PHAT], s->full3, m, 1.0, 0.0));
    VKS_TRY(vks__pde_dot(s, s->full0, s->full2, 0, m));
    VKS_TRY(vks__pde_dot(s, s->full1, s->full3, 1, m));
    VKS_TRY(vks__pde_dot(s, s->v[V_X], s->v[V_X], 2, m));
    double dots[MAX_DOTS];
    VKS_TRY(vks__pde_read_dots(s, 3, dots, fn));
    *out = 0.5 * (dots[0] + dots[1] + dots[2]); /* W holds 2 lambda */
    return VKS_OK;
}

vks_status vks__pde_weighted_solve(pde_solver *s, const vks_kron_pde_desc *desc, int32_t *iters, double *relres,
                                   const char *fn) {
    vks_status st = cg(s, desc, iters, relres, fn);
    if (st != VKS_OK && st != VKS_ERROR_NOT_CONVERGED) return st;
    char msg[512]; /* keep NOT_CONVERGED's message across the result's recording */
    snprintf(msg, sizeof msg, "%s", st == VKS_OK ? "" : vks_last_error(s->ctx));
    const vks_status st2 = record_weighted_result(s, desc);
    if (st2 != VKS_OK) return st2;
    return st == VKS_OK ? VKS_OK : vks__error(st, "%s", msg);
}
