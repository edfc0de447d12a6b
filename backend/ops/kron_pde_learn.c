/*
 * vks_kron_pde_learn: GP-HM's spectral-mixture kernel learned on the PDE it solves. The host
 * float64 learner (J, its gradient, Adam) is kron_pde_learn_objective.c; this file validates,
 * then alternates vks_kron_pde_solve (its own locking, validation and device work) with Adam
 * steps on the grid values read back.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "kron_pde_internal.h"
#include "kron_pde_learn_internal.h"

static const char fn[] = "vks_kron_pde_learn";

static vks_status validate_learn(const vks_kron_pde_learn_desc *l) {
    if (l->num_mixtures < 1 || l->num_mixtures > VKS_SM_LEARN_MAX_Q)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: learn->num_mixtures = %d, expected 1..%d", fn,
                          l->num_mixtures, VKS_SM_LEARN_MAX_Q);
    if (l->base != VKS_SM_BASE_SE && l->base != VKS_SM_BASE_MATERN52)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT,
                          "%s: learn->base = %d, expected VKS_SM_BASE_SE (0) or VKS_SM_BASE_MATERN52 (1)", fn,
                          (int)l->base);
    if (!(l->envelope >= 0) || !isfinite(l->envelope))
        return vks__error(VKS_ERROR_INVALID_ARGUMENT,
                          "%s: learn->envelope = %g, expected a finite lengthscale > 0 in grid spacings (0: the base's "
                          "default)",
                          fn, l->envelope);
    if (!(l->relative_jitter >= 0) || !isfinite(l->relative_jitter))
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: learn->relative_jitter = %g, expected a finite value >= 0", fn,
                          l->relative_jitter);
    if (l->rounds < 0 || l->rounds > 1000)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: learn->rounds = %d, expected 0..1000", fn, l->rounds);
    if (l->steps < 1 || l->steps > 100000)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: learn->steps = %d, expected 1..100000", fn, l->steps);
    if (!(l->learning_rate > 0) || !isfinite(l->learning_rate))
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: learn->learning_rate = %g, expected a finite value > 0", fn,
                          l->learning_rate);
    return VKS_OK;
}

/* The solver's checks of desc (grid, operator, tensors), the learner's kernels in place of
 * desc->kernels, under the lock as vks_kron_pde_solve runs them. */
static vks_status validate_pde(vks_context *ctx, const vks_kron_pde_desc *desc, int64_t *points) {
    if (desc->weight_boundary != 0 || desc->weight_residual != 0)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT,
                          "%s: desc->weight_boundary = %g, desc->weight_residual = %g; expected both 0: learning needs "
                          "the collocation limit (its objective is GP-HM's prior term at the collocation solution)",
                          fn, desc->weight_boundary, desc->weight_residual);
    vks__lock(ctx);
    const vks_status st = vks__pde_validate(ctx, desc, fn, points);
    vks__unlock(ctx);
    return st;
}

/* The grid values of desc->u to float64 on the host. */
static vks_status read_u(const vks_kron_pde_desc *desc, int64_t points, double *u) {
    const vks_tensor *t = desc->u;
    const size_t es = t->dtype == VKS_DTYPE_F64 ? 8 : 4;
    VKS_TRY(vks_buffer_read(t->buffer, t->byte_offset, u, (uint64_t)points * es));
    if (t->dtype == VKS_DTYPE_F32) /* widen in place, from the back */
        for (int64_t j = points - 1; j >= 0; --j) {
            float v;
            memcpy(&v, (const uint8_t *)u + 4 * j, 4);
            u[j] = v;
        }
    return VKS_OK;
}

/* vks_kron_pde_solve under the learner's current kernels; its message gets the round. */
static vks_status solve(vks_context *ctx, vks__sm_learner *s, vks_kron_pde_desc *desc, int round, int rounds) {
    vks_kernel_desc kernels[VKS_KRON_MAX_DIMS];
    for (int i = 0; i < s->d; ++i) vks__sm_kernel_desc(s, i, &kernels[i]), desc->kernels[i] = &kernels[i];
    const vks_status st = vks_kron_pde_solve(ctx, desc);
    for (int i = 0; i < s->d; ++i) desc->kernels[i] = NULL;
    if (st == VKS_OK) return st;
    char msg[512];
    snprintf(msg, sizeof msg, "%s", vks_last_error(ctx));
    return vks__error(st, "%s: solve %d of %d (learn->rounds + 1): %s", fn, round + 1, rounds + 1, msg);
}

/* The kernel of the last solve (its normalised weights) into the optional outputs. */
static void write_kernels(const vks__sm_learner *s, const vks_kron_pde_learn_desc *learn) {
    for (int32_t i = 0; i < s->d; ++i)
        for (int c = 0; c < s->q; ++c) {
            if (learn->weights[i]) learn->weights[i][c] = s->weights[i][c];
            if (learn->rhos[i]) learn->rhos[i][c] = s->rhos[i][c];
            if (learn->freqs[i]) learn->freqs[i][c] = s->freq[i][c];
        }
}

vks_status vks_kron_pde_learn(vks_context *ctx, const vks_kron_pde_desc *user_desc,
                              const vks_kron_pde_learn_desc *user_learn) {
    if (!ctx) return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: ctx is NULL", fn);
    vks_kron_pde_desc desc;
    vks_kron_pde_learn_desc learn;
    VKS_TRY(vks__struct_in(fn, "desc", VKS_STRUCT_KRON_PDE_DESC, user_desc, &desc));
    VKS_TRY(vks__struct_in(fn, "learn", VKS_STRUCT_KRON_PDE_LEARN_DESC, user_learn, &learn));
    VKS_TRY(validate_learn(&learn));
    VKS_TRY(vks__kron_check_d(desc.d, fn));
    /* The grid's own checks come first: the learner's set-up needs a valid grid. */
    for (int32_t i = 0; i < desc.d; ++i)
        if (desc.n[i] < 3 || !isfinite(desc.lo[i]) || !isfinite(desc.hi[i]) || !(desc.lo[i] < desc.hi[i]))
            return vks__error(VKS_ERROR_INVALID_ARGUMENT,
                              "%s: desc->n[%d] = %lld, desc->lo[%d] = %g, desc->hi[%d] = %g; expected at least 3 "
                              "grid points on finite lo < hi",
                              fn, i, (long long)desc.n[i], i, desc.lo[i], i, desc.hi[i]);
    const double envelope = learn.envelope > 0 ? learn.envelope : learn.base == VKS_SM_BASE_SE ? 6.0 : 48.0;
    double extent[VKS_KRON_MAX_DIMS];
    for (int32_t i = 0; i < desc.d; ++i) extent[i] = desc.hi[i] - desc.lo[i];
    vks__sm_learner *s = vks__malloc(sizeof *s);
    if (!s) return vks__error(VKS_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory for the learner", fn);
    vks__sm_init(s, desc.d, desc.n, extent, learn.num_mixtures, learn.base, envelope, learn.relative_jitter);
    vks_kernel_desc kernels[VKS_KRON_MAX_DIMS];
    for (int32_t i = 0; i < desc.d; ++i) vks__sm_kernel_desc(s, i, &kernels[i]), desc.kernels[i] = &kernels[i];
    desc.jitter = learn.relative_jitter; /* k_i(0) = sum of the normalised weights = 1 */
    int64_t points = 0;
    vks_status st = validate_pde(ctx, &desc, &points);
    for (int32_t i = 0; i < desc.d; ++i) desc.kernels[i] = NULL;
    double *u = NULL, *work = NULL;
    if (st == VKS_OK) {
        const size_t work_doubles = vks__sm_work_doubles(s);
        u = vks__malloc(sizeof(double) * (size_t)points);
        work = work_doubles <= SIZE_MAX / sizeof(double) ? vks__malloc(sizeof(double) * work_doubles) : NULL;
        if (!u || !work)
            st = vks__error(VKS_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory for the learner's %zu doubles", fn,
                            work_doubles + (size_t)points);
    }
    for (int32_t round = 0; st == VKS_OK; ++round) {
        st = solve(ctx, s, &desc, round, learn.rounds);
        if (st == VKS_OK || st == VKS_ERROR_NOT_CONVERGED) write_kernels(s, &learn); /* u's kernel */
        if (st != VKS_OK || round == learn.rounds) break;
        st = read_u(&desc, points, u);
        if (st != VKS_OK) break;
        if (isnan(vks__sm_adam(s, u, learn.steps, learn.learning_rate, work)))
            st = vks__error(VKS_ERROR_NOT_POSITIVE_DEFINITE,
                            "%s: K_%d is not positive definite after Adam steps of round %d (learn->relative_jitter = "
                            "%g; raise it); desc->u holds the previous solve",
                            fn, s->failed_dim, round, learn.relative_jitter);
    }
    if (st == VKS_OK && learn.objective) {
        /* J of the kernels returned (weights summing to 1): the solution is the same. */
        for (int32_t i = 0; i < desc.d; ++i)
            for (int c = 0; c < s->q; ++c) s->log_w[i][c] = log(s->weights[i][c]);
        st = read_u(&desc, points, u);
        if (st == VKS_OK) *learn.objective = vks__sm_objective(s, u, NULL, work);
    }
    vks__free(u);
    vks__free(work);
    vks__free(s);
    return st;
}
