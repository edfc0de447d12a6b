/*
 * vks_kron_pde_solve: linear PDEs L u = sum_i a_i d2u/dx_i^2 + c u = f on a box with
 * Dirichlet data, by Gaussian-process collocation on a tensor grid (GP-HM's model):
 *  - prior K = ⊗K_i; the GP's second derivative along mode i is D_i = K_i'' K_i^-1
 *    (K_i'' = d2k_i/dx2 on the grid), applied to grid values by mode products;
 *  - U = lift + E^T V: the boundary values g (lift, zero inside) plus the interior values V,
 *    where E = ⊗E_i picks the interior (E_i = rows 1..n_i-2 of the identity), so the
 *    collocation equations (residual 0 at every interior point) are A V = E (f - L lift)
 *    with A = sum_i a_i (I ⊗ .. ⊗ D_i^II ⊗ .. ⊗ I) + c I, D_i^II = E_i D_i E_i^T — a
 *    Kronecker sum of small non-symmetric matrices;
 *  - BiCGStab on A V = b, right-preconditioned by the finite-difference operator of L on the
 *    same interior grid: it is diagonal in the sine basis, M^-1 = S diag(1/(sum_i a_i mu_i + c)) S
 *    with S = ⊗S_i the orthonormal DST-I matrices (Orszag's preconditioner for collocation).
 * That is the collocation limit; finite weights (GP-HM's objective) are kron_pde_weighted.c.
 * Everything of size N runs on the device as GEMM mode products (vks__gemm_record) and
 * vector passes (kron_pde_axpby, kron_dot); the n_i x n_i setup (Cholesky of K_i, K_i^-1,
 * D_i, S_i) runs on the host in float64 (kron_pde_setup.c, with the validation).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kron_pde_internal.h"


typedef struct axpby_push {
    uint64_t x, y, z;
    uint32_t count, pad0;
    union {
        struct { float a, b; } f;
        struct { double a, b; } d;
    } s;
} axpby_push;
_Static_assert(offsetof(axpby_push, s) == 32 && sizeof(axpby_push) == 48, "axpby_push mirrors kron_pde_axpby.comp");

typedef struct dot_push {
    uint64_t a, b, partials;
    uint32_t points, k, groups, pad0;
} dot_push;

/* Per dimension: the sizes and where its matrices live in the solver's buffer. */

/* ---- recorders ----------------------------------------------------------------------------- */

vks_status vks__pde_axpby(pde_solver *s, bool product, VkDeviceAddress x, VkDeviceAddress y, VkDeviceAddress z,
                               int64_t count, double a, double b) {
    axpby_push pc = {.x = x, .y = y, .z = z, .count = (uint32_t)count};
    if (s->dt == VKS_DTYPE_F64) pc.s.d.a = a, pc.s.d.b = b;
    else pc.s.f.a = (float)a, pc.s.f.b = (float)b;
    const uint32_t wg = vks__pde_wg_1d(s->ctx);
    const vks_spec spec = {.count = 2, .values = {wg, product}};
    uint32_t gx, gy;
    vks__kron_groups_2d(s->ctx, VKS_CEIL_DIV(count, (int64_t)wg), &gx, &gy);
    return vks__dispatch(s->ctx, vks__kron_variant(s->dt, VKS_SHADER_KRON_PDE_AXPBY_F32, VKS_SHADER_KRON_PDE_AXPBY_F64),
                         &spec, &pc, s->dt == VKS_DTYPE_F64 ? 48 : 40, gx, gy, 1);
}

vks_status vks__pde_dot(pde_solver *s, VkDeviceAddress a, VkDeviceAddress b, int slot, int64_t count) {
    dot_push pc = {.a = a, .b = b, .partials = s->partials->address + (uint64_t)(slot * s->groups) * s->es,
                   .points = (uint32_t)count, .k = 1, .groups = (uint32_t)s->groups};
    const vks_spec spec = {.count = 4, .values = {vks__pde_wg_1d(s->ctx), DOT_ITEMS, 0, 0}};
    uint32_t gx, gy;
    vks__kron_groups_2d(s->ctx, s->groups, &gx, &gy);
    return vks__dispatch(s->ctx, vks__kron_variant(s->dt, VKS_SHADER_KRON_DOT_F32, VKS_SHADER_KRON_DOT_F64), &spec, &pc,
                         sizeof pc, gx, gy, 1);
}

vks_status vks__pde_mode(pde_solver *s, const int64_t *dims, int32_t t, VkDeviceAddress a, int64_t rows,
                              int64_t rs, int64_t cs, VkDeviceAddress x, VkDeviceAddress y, double alpha, double beta) {
    int64_t pre = 1, post = 1;
    for (int32_t i = 0; i < t; ++i) pre *= dims[i];
    for (int32_t i = t + 1; i < s->d; ++i) post *= dims[i];
    if (post == 1) { /* the last mode: one GEMM Y (pre x rows) = X (pre x cols) A^T, not pre GEMVs */
        const vks_gemm_args g = {.dtype = s->dt,
                                 .m = pre,
                                 .n = rows,
                                 .k = dims[t],
                                 .batch = 1,
                                 .a = x,
                                 .b = a,
                                 .c = y,
                                 .a_rs = dims[t],
                                 .a_cs = 1,
                                 .b_rs = cs,
                                 .b_cs = rs,
                                 .c_rs = rows,
                                 .alpha = alpha,
                                 .beta = beta,
                                 .activation = VKS_ACT_NONE};
        return vks__gemm_record(s->ctx, &g);
    }
    const vks_gemm_args g = {.dtype = s->dt,
                             .m = rows,
                             .n = post,
                             .k = dims[t],
                             .batch = pre,
                             .a = a,
                             .b = x,
                             .c = y,
                             .a_rs = rs,
                             .a_cs = cs,
                             .b_rs = post,
                             .b_cs = 1,
                             .c_rs = post,
                             .a_bs = 0,
                             .b_bs = dims[t] * post,
                             .c_bs = rows * post,
                             .alpha = alpha,
                             .beta = beta,
                             .activation = VKS_ACT_NONE};
    return vks__gemm_record(s->ctx, &g);
}

vks_status vks__pde_chain(pde_solver *s, const chain_factor *f, VkDeviceAddress x, VkDeviceAddress y,
                          VkDeviceAddress tmp0, VkDeviceAddress tmp1, double alpha, double beta) {
    int64_t dims[VKS_KRON_MAX_DIMS];
    for (int32_t i = 0; i < s->d; ++i) dims[i] = f[i].cols;
    VkDeviceAddress cur = x;
    for (int32_t t = 0; t < s->d; ++t) {
        const VkDeviceAddress dst = t == s->d - 1 ? y : (cur == tmp0 ? tmp1 : tmp0);
        VKS_TRY(vks__pde_mode(s, dims, t, f[t].a, f[t].rows, f[t].rs, f[t].cs, cur, dst,
                              t == s->d - 1 ? alpha : 1.0, t == s->d - 1 ? beta : 0.0));
        dims[t] = f[t].rows;
        cur = dst;
    }
    return VKS_OK;
}

/* y = A x on the interior grid: sum_t a_t D_t^II along mode t, + c x. */
static vks_status record_operator(pde_solver *s, VkDeviceAddress x, VkDeviceAddress y) {
    int64_t dims[VKS_KRON_MAX_DIMS];
    for (int32_t i = 0; i < s->d; ++i) dims[i] = s->dim[i].m;
    bool first = true;
    for (int32_t t = 0; t < s->d; ++t) {
        if (s->coef_xx[t] == 0) continue;
        const pde_dim *q = &s->dim[t];
        const VkDeviceAddress dii = q->d + (uint64_t)(q->n + 1) * s->es; /* D_t[1.., 1..] */
        VKS_TRY(vks__pde_mode(s, dims, t, dii, q->m, q->n, 1, x, y, s->coef_xx[t], first ? 0.0 : 1.0));
        first = false;
    }
    if (s->coef_u != 0) VKS_TRY(vks__pde_axpby(s, false, x, y, y, s->interior, s->coef_u, 1.0));
    return VKS_OK;
}

/* z = M^-1 w = S (recip ⊙ (S w)), S = ⊗S_i symmetric. */
static vks_status record_precond(pde_solver *s, VkDeviceAddress w, VkDeviceAddress z) {
    chain_factor f[VKS_KRON_MAX_DIMS];
    for (int32_t i = 0; i < s->d; ++i) f[i] = (chain_factor){s->dim[i].s, s->dim[i].m, s->dim[i].m, s->dim[i].m, 1};
    VKS_TRY(vks__pde_chain(s, f, w, z, s->v[V_TMP0], s->v[V_TMP1], 1.0, 0.0));
    VKS_TRY(vks__pde_axpby(s, true, z, s->recip, s->v[V_TMP0], s->interior, 1.0, 0.0));
    return vks__pde_chain(s, f, s->v[V_TMP0], z, s->v[V_TMP1], s->full3, 1.0, 0.0);
}

vks_status vks__pde_read_dots(pde_solver *s, int count, double *out, const char *fn) {
    vks__op_end(s->ctx);
    const size_t bytes = (size_t)(count * s->groups) * s->es;
    uint8_t *raw = vks__malloc(bytes);
    if (!raw) {
        (void)vks__op_begin(s->ctx, "kron_pde_solve");
        return vks__error(VKS_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", fn);
    }
    vks_status st = vks__buffer_read_locked(s->partials, 0, raw, bytes);
    for (int j = 0; st == VKS_OK && j < count; ++j) {
        double sum = 0;
        for (int64_t g = 0; g < s->groups; ++g) {
            const size_t at = (size_t)(j * s->groups + g) * s->es;
            if (s->dt == VKS_DTYPE_F64) {
                double v;
                memcpy(&v, raw + at, 8);
                sum += v;
            } else {
                float v;
                memcpy(&v, raw + at, 4);
                sum += v;
            }
        }
        out[j] = sum;
    }
    vks__free(raw);
    const vks_status st2 = vks__op_begin(s->ctx, "kron_pde_solve");
    return st != VKS_OK ? st : st2;
}

/* ---- the solve ------------------------------------------------------------------------------- */

/* Right-hand side: r = E (f - L lift), lift = boundary values with the interior zeroed. */
static vks_status record_rhs(pde_solver *s, const vks_kron_pde_desc *desc) {
    chain_factor f[VKS_KRON_MAX_DIMS];
    int64_t dims[VKS_KRON_MAX_DIMS];
    for (int32_t i = 0; i < s->d; ++i) {
        const pde_dim *q = &s->dim[i];
        f[i] = (chain_factor){q->mask, q->n, q->n, q->n, 1};
        dims[i] = q->n;
    }
    const VkDeviceAddress g = vks__tensor_address(desc->boundary), rhs = vks__tensor_address(desc->f);
    VKS_TRY(vks__pde_chain(s, f, g, s->full0, s->full1, s->full2, 1.0, 0.0)); /* interior part of g */
    VKS_TRY(vks__pde_axpby(s, false, g, s->full0, s->full0, s->points, 1.0, -1.0));
    bool first = true;
    for (int32_t t = 0; t < s->d; ++t) { /* L lift on the whole grid */
        if (s->coef_xx[t] == 0) continue;
        VKS_TRY(vks__pde_mode(s, dims, t, s->dim[t].d, s->dim[t].n, s->dim[t].n, 1, s->full0, s->full1, s->coef_xx[t],
                            first ? 0.0 : 1.0));
        first = false;
    }
    if (s->coef_u != 0) VKS_TRY(vks__pde_axpby(s, false, s->full0, s->full1, s->full1, s->points, s->coef_u, 1.0));
    VKS_TRY(vks__pde_axpby(s, false, rhs, s->full1, s->full1, s->points, 1.0, -1.0));
    for (int32_t i = 0; i < s->d; ++i) f[i] = (chain_factor){s->dim[i].eye + (uint64_t)s->dim[i].n * s->es, s->dim[i].m,
                                                             s->dim[i].n, s->dim[i].n, 1};
    return vks__pde_chain(s, f, s->full1, s->v[V_R], s->full2, s->full3, 1.0, 0.0);
}

/* u = lift + E^T x, alpha = (⊗K_i^-1) u. */
static vks_status record_result(pde_solver *s, const vks_kron_pde_desc *desc) {
    chain_factor f[VKS_KRON_MAX_DIMS];
    for (int32_t i = 0; i < s->d; ++i)
        f[i] = (chain_factor){s->dim[i].eye + s->es, s->dim[i].n, s->dim[i].m, s->dim[i].n, 1};
    VKS_TRY(vks__pde_chain(s, f, s->v[V_X], s->full1, s->full2, s->full3, 1.0, 0.0));
    const VkDeviceAddress u = vks__tensor_address(desc->u);
    VKS_TRY(vks__pde_axpby(s, false, s->full0, s->full1, u, s->points, 1.0, 1.0));
    if (!desc->alpha) return VKS_OK;
    for (int32_t i = 0; i < s->d; ++i) f[i] = (chain_factor){s->dim[i].kinv, s->dim[i].n, s->dim[i].n, s->dim[i].n, 1};
    return vks__pde_chain(s, f, u, vks__tensor_address(desc->alpha), s->full2, s->full3, 1.0, 0.0);
}

vks_status vks__pde_fill_zero(pde_solver *s, VkDeviceAddress at, int64_t count) {
    return vks__record_fill(s->ctx, s->buf->buffer, at - s->buf->address, (uint64_t)count * s->es, 0);
}

/* BiCGStab (van der Vorst), right-preconditioned: A M^-1 y = b, x = M^-1 y. Inside an op
 * region; each read_dots ends it, synchronizes and opens the next. */
static vks_status bicgstab(pde_solver *s, const vks_kron_pde_desc *desc, int32_t *iters, double *relres,
                           const char *fn) {
    const int64_t m = s->interior;
    VkDeviceAddress *v = s->v;
    VKS_TRY(vks__pde_fill_zero(s, v[V_X], m));
    VKS_TRY(vks__pde_fill_zero(s, v[V_P], m));
    VKS_TRY(vks__pde_fill_zero(s, v[V_V], m));
    VKS_TRY(vks__pde_axpby(s, false, v[V_R], 0, v[V_RHAT], m, 1.0, 0.0));
    VKS_TRY(vks__pde_dot(s, v[V_R], v[V_R], 0, m));
    double dots[MAX_DOTS];
    VKS_TRY(vks__pde_read_dots(s, 1, dots, fn));
    const double rr0 = dots[0];
    *iters = 0;
    *relres = 0;
    /* f and the boundary values are finite (checked): E (f - L lift) overflowed. */
    if (!isfinite(rr0))
        return vks__error(VKS_ERROR_NON_FINITE,
                          "%s: the right-hand side f - L(boundary values) overflowed %s (f and boundary are finite); "
                          "expected smaller data or coefficients (or f64)",
                          fn, vks__dtype_name(s->dt));
    if (rr0 == 0) return VKS_OK;
    const double tol2 = desc->tolerance * desc->tolerance * rr0;
    double rho = 1, alpha = 1, omega = 1, rho_new = rr0;
    for (int32_t it = 1; it <= desc->max_iterations; ++it) {
        *iters = it;
        if (it == 1) {
            VKS_TRY(vks__pde_axpby(s, false, v[V_R], 0, v[V_P], m, 1.0, 0.0));
        } else {
            const double beta = (rho_new / rho) * (alpha / omega);
            VKS_TRY(vks__pde_axpby(s, false, v[V_V], v[V_P], v[V_P], m, -omega, 1.0));
            VKS_TRY(vks__pde_axpby(s, false, v[V_R], v[V_P], v[V_P], m, 1.0, beta));
        }
        rho = rho_new;
        VKS_TRY(record_precond(s, v[V_P], v[V_PHAT]));
        VKS_TRY(record_operator(s, v[V_PHAT], v[V_V]));
        VKS_TRY(vks__pde_dot(s, v[V_RHAT], v[V_V], 0, m));
        VKS_TRY(vks__pde_read_dots(s, 1, dots, fn));
        if (!isfinite(dots[0]) || dots[0] == 0)
            return vks__error(dots[0] == 0 ? VKS_ERROR_NOT_CONVERGED : VKS_ERROR_NON_FINITE,
                              "%s: BiCGStab broke down at iteration %d (r0^T v = %g)", fn, it, dots[0]);
        alpha = rho / dots[0];
        VKS_TRY(vks__pde_axpby(s, false, v[V_R], v[V_V], v[V_S], m, 1.0, -alpha));
        VKS_TRY(record_precond(s, v[V_S], v[V_SHAT]));
        VKS_TRY(record_operator(s, v[V_SHAT], v[V_T]));
        VKS_TRY(vks__pde_dot(s, v[V_T], v[V_S], 0, m));
        VKS_TRY(vks__pde_dot(s, v[V_T], v[V_T], 1, m));
        VKS_TRY(vks__pde_dot(s, v[V_S], v[V_S], 2, m));
        VKS_TRY(vks__pde_read_dots(s, 3, dots, fn));
        VKS_TRY(vks__pde_axpby(s, false, v[V_PHAT], v[V_X], v[V_X], m, alpha, 1.0));
        if (dots[2] <= tol2 || dots[1] == 0) { /* s is small enough: x + alpha phat is the answer */
            *relres = sqrt(dots[2] / rr0);
            return VKS_OK;
        }
        omega = dots[0] / dots[1];
        VKS_TRY(vks__pde_axpby(s, false, v[V_SHAT], v[V_X], v[V_X], m, omega, 1.0));
        VKS_TRY(vks__pde_axpby(s, false, v[V_S], v[V_T], v[V_R], m, 1.0, -omega));
        VKS_TRY(vks__pde_dot(s, v[V_RHAT], v[V_R], 0, m));
        VKS_TRY(vks__pde_dot(s, v[V_R], v[V_R], 1, m));
        VKS_TRY(vks__pde_read_dots(s, 2, dots, fn));
        rho_new = dots[0];
        *relres = sqrt(dots[1] / rr0);
        if (!isfinite(dots[1]) || !isfinite(omega))
            return vks__error(VKS_ERROR_NON_FINITE, "%s: the residual became non-finite at iteration %d", fn, it);
        if (dots[1] <= tol2) return VKS_OK;
        if (omega == 0 || rho_new == 0)
            return vks__error(VKS_ERROR_NOT_CONVERGED, "%s: BiCGStab broke down at iteration %d (%s = 0), ||r||/||r0|| = %.3g",
                              fn, it, omega == 0 ? "omega" : "r0^T r", *relres);
    }
    return vks__error(VKS_ERROR_NOT_CONVERGED,
                      "%s: BiCGStab reached desc->max_iterations = %d with ||r||/||r0|| = %.3g > desc->tolerance = %.3g", fn,
                      desc->max_iterations, *relres, desc->tolerance);
}

/* The collocation limit's objective: its prior term 1/2 u^T K^-1 u (the other terms are 0). */
static vks_status collocation_objective(pde_solver *s, const vks_kron_pde_desc *desc, double *out, const char *fn) {
    VkDeviceAddress alpha = desc->alpha ? vks__tensor_address(desc->alpha) : s->full1;
    if (!desc->alpha) {
        chain_factor f[VKS_KRON_MAX_DIMS];
        for (int32_t i = 0; i < s->d; ++i)
            f[i] = (chain_factor){s->dim[i].kinv, s->dim[i].n, s->dim[i].n, s->dim[i].n, 1};
        VKS_TRY(vks__pde_chain(s, f, vks__tensor_address(desc->u), alpha, s->full2, s->full3, 1.0, 0.0));
    }
    VKS_TRY(vks__pde_dot(s, vks__tensor_address(desc->u), alpha, 0, s->points));
    VKS_TRY(vks__pde_read_dots(s, 1, out, fn));
    *out *= 0.5;
    return VKS_OK;
}

vks_status vks_kron_pde_solve(vks_context *ctx, const vks_kron_pde_desc *user_desc) {
    static const char fn[] = "vks_kron_pde_solve";
    if (!ctx) return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: ctx is NULL", fn);
    vks_kron_pde_desc copy;
    VKS_TRY(vks__struct_in(fn, "desc", VKS_STRUCT_KRON_PDE_DESC, user_desc, &copy));
    const vks_kron_pde_desc *desc = &copy;
    vks__lock(ctx);
    pde_solver s;
    memset(&s, 0, sizeof s);
    s.ctx = ctx;
    vks_status st = vks__pde_validate(ctx, desc, fn, &s.points);
    if (st == VKS_OK) {
        s.dt = desc->f->dtype, s.es = vks__dtype_bytes(s.dt), s.d = desc->d, s.coef_u = desc->coef_u, s.interior = 1;
        s.weighted = desc->weight_boundary > 0;
        for (int32_t i = 0; i < s.d; ++i) {
            s.dim[i].n = desc->n[i], s.dim[i].m = desc->n[i] - 2;
            s.dim[i].h = (desc->hi[i] - desc->lo[i]) / (double)(desc->n[i] - 1);
            s.coef_xx[i] = desc->coef_xx[i];
            s.interior *= s.dim[i].m;
        }
        s.vlen = s.weighted ? s.points : s.interior;
        st = vks__pde_check_data(&s, desc, fn);
    }
    if (st == VKS_OK) st = vks__pde_setup_buffers(&s);
    for (int32_t i = 0; st == VKS_OK && i < s.d; ++i) st = vks__pde_setup_dim(&s, desc, i, fn);
    if (st == VKS_OK) st = s.weighted ? vks__pde_setup_weighted(&s, desc) : vks__pde_setup_recip(&s);
    int32_t iters = 0;
    double relres = 0, objective = NAN;
    if (st == VKS_OK) {
        st = vks__op_begin(ctx, "kron_pde_solve");
        if (st == VKS_OK && s.weighted) {
            st = vks__pde_weighted_solve(&s, desc, &iters, &relres, fn);
            if ((st == VKS_OK || st == VKS_ERROR_NOT_CONVERGED) && desc->objective) {
                char msg[512];
                snprintf(msg, sizeof msg, "%s", st == VKS_OK ? "" : vks_last_error(ctx));
                const vks_status st2 = vks__pde_weighted_objective(&s, desc, &objective, fn);
                if (st2 != VKS_OK) st = st2;
                else if (st != VKS_OK) st = vks__error(st, "%s", msg);
            }
        } else if (st == VKS_OK) {
            st = record_rhs(&s, desc);
            if (st == VKS_OK) st = bicgstab(&s, desc, &iters, &relres, fn);
            /* The last iterate also when it did not converge (the status says so). */
            if (st == VKS_OK || st == VKS_ERROR_NOT_CONVERGED) {
                char msg[512];
                snprintf(msg, sizeof msg, "%s", st == VKS_OK ? "" : vks_last_error(ctx));
                vks_status st2 = record_result(&s, desc);
                if (st2 == VKS_OK && desc->objective) st2 = collocation_objective(&s, desc, &objective, fn);
                if (st2 != VKS_OK) st = st2;
                else if (st != VKS_OK) st = vks__error(st, "%s", msg);
            }
        }
        vks__op_end(ctx);
        if (st == VKS_OK) st = vks__flush_locked(ctx);
    }
    if (desc->iterations) *desc->iterations = iters;
    if (desc->residual) *desc->residual = relres;
    if (desc->objective) *desc->objective = objective;
    for (int32_t i = 0; i < VKS_KRON_MAX_DIMS; ++i)
        for (int j = 0; j < 4; ++j) vks__free(s.dim[i].col[j]);
    if (s.buf) vks__buffer_retire_locked(s.buf);
    if (s.partials) vks__buffer_retire_locked(s.partials);
    vks__unlock(ctx);
    return st;
}
