/*
 * vks_syrk: c = alpha * op(a) op(a)^T + beta * c on the lower triangle (mirrored on request),
 * the public face of the SYRK recorder the family shares (vks__orth_syrk, orthogonal_common.c).
 */
#include <math.h>

#include "orthogonal_internal.h"

typedef struct syrk_call {
    const char *fn;
    vks_transpose trans;
    double alpha, beta;
    const vks_tensor *a, *c;
    int32_t mirror;
    orth_syrk_args args;
} syrk_call;

static vks_status syrk_check(vks_context *ctx, void *call, bool *empty) {
    syrk_call *sc = call;
    const char *fn = sc->fn;
    const vks_tensor *a = sc->a, *c = sc->c;
    (void)empty;
    if (sc->trans != VKS_NO_TRANS && sc->trans != VKS_TRANS)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: trans = %d, expected VKS_NO_TRANS or VKS_TRANS", fn,
                          (int)sc->trans);
    if (!isfinite(sc->alpha) || !isfinite(sc->beta))
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: alpha = %g, beta = %g; expected finite values", fn, sc->alpha,
                          sc->beta);
    orth_mat ma, mc;
    VKS_TRY(vks__orth_view(ctx, a, fn, "a", &ma));
    VKS_TRY(vks__orth_out_view(ctx, c, fn, "c", &mc));
    if (ma.dtype != mc.dtype)
        return vks__error(VKS_ERROR_DTYPE_MISMATCH, "%s: a has dtype %s but c has %s; expected the same", fn,
                          vks__dtype_name(ma.dtype), vks__dtype_name(mc.dtype));
    VKS_TRY(vks__check_float_dtype(ctx, ma.dtype, fn, "a"));
    const orth_mat s = sc->trans == VKS_TRANS ? orth_t(ma) : ma;
    if (mc.rows != s.rows || mc.cols != s.rows)
        return vks__error(VKS_ERROR_SHAPE_MISMATCH, "%s: c is %lld x %lld; expected op(a) op(a)^T = %lld x %lld", fn,
                          (long long)mc.rows, (long long)mc.cols, (long long)s.rows, (long long)s.rows);
    if (ma.batch != mc.batch && ma.batch != 1)
        return vks__error(VKS_ERROR_SHAPE_MISMATCH, "%s: a has batch %lld, c has %lld; expected equal or 1", fn,
                          (long long)ma.batch, (long long)mc.batch);
    if (mc.col_stride != 1 && mc.rows > 1)
        return vks__error(VKS_ERROR_UNSUPPORTED, "%s: c must have a unit column stride (strides %lld, %lld)", fn,
                          (long long)mc.row_stride, (long long)mc.col_stride);
    const vks_arg outs[] = {{c, "c", NULL}}, ins[] = {{a, "a", NULL}};
    VKS_TRY(vks__check_no_alias(outs, 1, ins, 1, fn));
    orth_mat sv = s;
    if (ma.batch == 1) sv.batch_stride = 0;
    sv.batch = mc.batch;
    sc->args = (orth_syrk_args){.s = sv, .cin = mc, .cout = mc, .alpha = sc->alpha, .beta = sc->beta,
                                .mirror = sc->mirror != 0};
    return VKS_OK;
}

static vks_status syrk_record(vks_context *ctx, void *call) { return vks__orth_syrk(ctx, &((syrk_call *)call)->args); }

vks_status vks_syrk(vks_context *ctx, vks_transpose trans, double alpha, const vks_tensor *a, double beta,
                    const vks_tensor *c, int32_t mirror) {
    syrk_call call = {.fn = "vks_syrk", .trans = trans, .alpha = alpha, .beta = beta, .a = a, .c = c, .mirror = mirror};
    const vks_op op = {.fn = call.fn, .name = "syrk", .validate = syrk_check, .record = syrk_record};
    return vks__op_run(ctx, &op, &call);
}
