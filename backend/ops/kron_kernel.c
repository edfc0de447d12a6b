/*
 * Kernel matrices on 1-D point sets (shaders/kron_kernel.comp): RBF and Matern-5/2 in
 * GPyTorch's parametrisation, GP-HM's spectral mixture with either base, and their
 * derivatives up to second order in each argument (what PDE collocation needs). Every
 * kind is evaluated as a spectral mixture: RBF is one SE component with
 * rho = 1/(2 lengthscale^2), Matern-5/2 one Matern component with rho = 1/lengthscale,
 * both with w = outputscale and f = 0.
 */
#include <math.h>
#include <stdlib.h>

#include "kron_internal.h"

#define MAX_MIXTURES 1024

typedef struct kernel_push {
    uint64_t x1, x2, k, params;
    uint32_t n1, n2, q, pad0;
    uint32_t x1_stride, x2_stride, k_rs, k_cs;
} kernel_push;
_Static_assert(sizeof(kernel_push) == 64, "kernel_push must mirror shaders/kron_kernel.comp");

/* name: how the caller spells the descriptor ("desc", "desc->kernels[1]"). */
static vks_status check_desc(const vks_kernel_desc *desc, const char *fn, const char *name) {
    if (desc->dx1 < 0 || desc->dx1 > 2 || desc->dx2 < 0 || desc->dx2 > 2)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: %s->dx1 = %d, %s->dx2 = %d; expected 0..2 each", fn, name,
                          desc->dx1, name, desc->dx2);
    switch (desc->kind) {
    case VKS_KERNEL_RBF:
    case VKS_KERNEL_MATERN52:
        if (!(desc->lengthscale > 0) || !isfinite(desc->lengthscale))
            return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: %s->lengthscale = %g, expected a finite value > 0", fn,
                              name, desc->lengthscale);
        if (!isfinite(desc->outputscale))
            return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: %s->outputscale = %g, expected a finite value", fn, name,
                              desc->outputscale);
        return VKS_OK;
    case VKS_KERNEL_SPECTRAL_MIXTURE:
        if (desc->sm_base != VKS_SM_BASE_SE && desc->sm_base != VKS_SM_BASE_MATERN52)
            return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: %s->sm_base = %d is not a vks_sm_base", fn, name,
                              (int)desc->sm_base);
        if (desc->num_mixtures < 1 || desc->num_mixtures > MAX_MIXTURES)
            return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: %s->num_mixtures = %d, expected 1..%d", fn, name,
                              desc->num_mixtures, MAX_MIXTURES);
        if (!desc->sm_weights || !desc->sm_rhos || !desc->sm_freqs)
            return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: %s->sm_%s is NULL; a spectral mixture needs Q values of "
                              "each of sm_weights, sm_rhos, sm_freqs", fn, name,
                              !desc->sm_weights ? "weights" : !desc->sm_rhos ? "rhos" : "freqs");
        for (int32_t q = 0; q < desc->num_mixtures; ++q) {
            if (!(desc->sm_rhos[q] > 0) || !isfinite(desc->sm_rhos[q]))
                return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: %s->sm_rhos[%d] = %g, expected a finite value > 0",
                                  fn, name, q, desc->sm_rhos[q]);
            if (!isfinite(desc->sm_weights[q]) || !isfinite(desc->sm_freqs[q]))
                return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: %s->sm_weights[%d] = %g, %s->sm_freqs[%d] = %g; "
                                  "expected finite values", fn, name, q, desc->sm_weights[q], name, q, desc->sm_freqs[q]);
        }
        return VKS_OK;
    default:
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: %s->kind = %d is not a vks_kernel_kind", fn, name,
                          (int)desc->kind);
    }
}

vks_status vks__kron_kernel_check(const vks_kernel_desc *desc, const char *fn, const char *name) {
    if (!desc) return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: %s is NULL", fn, name);
    if (desc->struct_size != sizeof(vks_kernel_desc))
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: %s->struct_size = %zu, expected %zu", fn, name,
                          desc->struct_size, sizeof(vks_kernel_desc));
    return check_desc(desc, fn, name);
}

static vks_status points_view(const vks_context *ctx, const vks_tensor *t, const char *fn, const char *arg) {
    VKS_TRY(vks__check_tensor(ctx, t, fn, arg));
    VKS_TRY(vks__check_ndim(t, 1, 1, fn, arg));
    VKS_TRY(vks__check_float_dtype(ctx, t->dtype, fn, arg));
    if (t->shape[0] > 1 && (uint64_t)(t->shape[0] - 1) * (uint64_t)t->strides[0] > INT32_MAX)
        return vks__error(VKS_ERROR_OUT_OF_RANGE, "%s: %s spans more than 2^31 elements", fn, arg);
    return VKS_OK;
}

typedef struct kernel_call {
    const char *fn;
    vks_kernel_desc desc; /* the library's full copy of the caller's */
    const vks_tensor *x1, *x2, *k;
    kron_factor kv;
} kernel_call;

static vks_status kernel_check(vks_context *ctx, void *call, bool *empty) {
    kernel_call *c = call;
    const char *fn = c->fn;
    const vks_tensor *x1 = c->x1, *x2 = c->x2, *k = c->k;
    VKS_TRY(check_desc(&c->desc, fn, "desc"));
    VKS_TRY(points_view(ctx, x1, fn, "x1"));
    VKS_TRY(points_view(ctx, x2, fn, "x2"));
    VKS_TRY(vks__check_dtype(x2, x1->dtype, fn, "x2"));
    kron_factor kv = {0};
    VKS_TRY(vks__kron_factor_view(ctx, k, VKS_NO_TRANS, x1->dtype, fn, "k", &kv));
    if (kv.rows != x1->shape[0] || kv.cols != x2->shape[0])
        return vks__error(VKS_ERROR_SHAPE_MISMATCH, "%s: k is %lld x %lld, expected %lld x %lld (x1's by x2's points)", fn,
                          (long long)kv.rows, (long long)kv.cols, (long long)x1->shape[0], (long long)x2->shape[0]);
    /* distinct elements for distinct (i, j) */
    const vks_matrix km = {.batch = 1, .rows = kv.rows, .cols = kv.cols, .row_stride = kv.rs, .col_stride = kv.cs};
    VKS_TRY(vks__check_output_matrix(&km, fn, "k"));
    const vks_arg outs[] = {{k, "k", NULL}}, ins[] = {{x1, "x1", NULL}, {x2, "x2", NULL}};
    VKS_TRY(vks__check_no_alias(outs, 1, ins, 2, fn));
    c->kv = kv;
    *empty = kv.rows == 0 || kv.cols == 0;
    return VKS_OK;
}

vks_status vks__kron_kernel_record(vks_context *ctx, const vks_kernel_desc *desc, vks_dtype dt, const kron_points *x1,
                                   const kron_points *x2, const kron_factor *kv, int32_t dx1, int32_t dx2,
                                   const char *fn) {
    /* The components as (w, rho, f) triples in the tensors' dtype. */
    const int32_t q = desc->kind == VKS_KERNEL_SPECTRAL_MIXTURE ? desc->num_mixtures : 1;
    double *triples = vks__malloc(sizeof(double) * 3 * (size_t)q);
    float *triples_f = vks__malloc(sizeof(float) * 3 * (size_t)q);
    if (!triples || !triples_f) {
        vks__free(triples), vks__free(triples_f);
        return vks__error(VKS_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", fn);
    }
    uint32_t base = 0;
    if (desc->kind == VKS_KERNEL_SPECTRAL_MIXTURE) {
        base = desc->sm_base == VKS_SM_BASE_MATERN52;
        for (int32_t i = 0; i < q; ++i) {
            triples[3 * i] = desc->sm_weights[i];
            triples[3 * i + 1] = desc->sm_rhos[i];
            triples[3 * i + 2] = desc->sm_freqs[i];
        }
    } else {
        base = desc->kind == VKS_KERNEL_MATERN52;
        const double l = desc->lengthscale;
        triples[0] = desc->outputscale;
        triples[1] = base ? 1.0 / l : 0.5 / (l * l);
        triples[2] = 0.0;
    }
    for (int32_t i = 0; i < 3 * q; ++i) triples_f[i] = (float)triples[i];

    const int64_t n1 = kv->rows, n2 = kv->cols;
    const bool cpu = vks__cpu_kernels(ctx);
    const uint32_t wx = cpu ? ctx->probe.info.subgroup_size : 32, wy = cpu ? 1 : 8;
    const uint32_t order = (uint32_t)(dx1 + dx2);
    const vks_spec spec = {.count = 5, .values = {wx, wy, base, order, (uint32_t)(dx2 & 1)}};
    vks_status st = VKS_OK;
    VkDeviceAddress params = 0;
    if (n1 > 0 && n2 > 0) {
        const bool f64 = dt == VKS_DTYPE_F64;
        st = vks__params(ctx, f64 ? (const void *)triples : (const void *)triples_f,
                         (uint32_t)(3 * (size_t)q * (f64 ? sizeof(double) : sizeof(float))), &params);
    }
    /* Blocks of rows and columns within the device's workgroup counts (many test points). */
    const int64_t rows_max = (int64_t)ctx->probe.info.max_workgroup_count[1] * wy;
    const int64_t cols_max = (int64_t)ctx->probe.info.max_workgroup_count[0] * wx;
    const size_t es = vks__dtype_bytes(dt);
    for (int64_t i0 = 0; st == VKS_OK && i0 < n1; i0 += rows_max)
        for (int64_t j0 = 0; st == VKS_OK && j0 < n2; j0 += cols_max) {
            const int64_t bn1 = VKS_MIN(rows_max, n1 - i0), bn2 = VKS_MIN(cols_max, n2 - j0);
            kernel_push pc = {.x1 = x1->addr + (uint64_t)(i0 * x1->stride) * es,
                              .x2 = x2->addr + (uint64_t)(j0 * x2->stride) * es,
                              .k = kv->addr + (uint64_t)(i0 * kv->rs + j0 * kv->cs) * es,
                              .params = params,
                              .n1 = (uint32_t)bn1,
                              .n2 = (uint32_t)bn2,
                              .q = (uint32_t)q,
                              .x1_stride = (uint32_t)x1->stride,
                              .x2_stride = (uint32_t)x2->stride,
                              .k_rs = (uint32_t)kv->rs,
                              .k_cs = (uint32_t)kv->cs};
            st = vks__dispatch(ctx, vks__kron_variant(dt, VKS_SHADER_KRON_KERNEL_F32, VKS_SHADER_KRON_KERNEL_F64), &spec,
                               &pc, sizeof pc, (uint32_t)VKS_CEIL_DIV(bn2, (int64_t)wx),
                               (uint32_t)VKS_CEIL_DIV(bn1, (int64_t)wy), 1);
        }
    vks__free(triples), vks__free(triples_f);
    return st;
}

static vks_status kernel_record(vks_context *ctx, void *call) {
    const kernel_call *c = call;
    const kron_points p1 = {vks__tensor_address(c->x1), c->x1->shape[0], c->x1->strides[0]};
    const kron_points p2 = {vks__tensor_address(c->x2), c->x2->shape[0], c->x2->strides[0]};
    return vks__kron_kernel_record(ctx, &c->desc, c->x1->dtype, &p1, &p2, &c->kv, c->desc.dx1, c->desc.dx2, c->fn);
}

vks_status vks_kron_kernel_matrix(vks_context *ctx, const vks_kernel_desc *desc, const vks_tensor *x1,
                                  const vks_tensor *x2, const vks_tensor *k) {
    kernel_call call = {.fn = "vks_kron_kernel_matrix", .x1 = x1, .x2 = x2, .k = k};
    const vks_op op = {.fn = call.fn, .name = "kron_kernel_matrix", .desc = desc, .desc_arg = "desc",
                       .desc_type = VKS_STRUCT_KERNEL_DESC, .desc_copy = &call.desc, .validate = kernel_check,
                       .record = kernel_record};
    return vks__op_run(ctx, &op, &call);
}
