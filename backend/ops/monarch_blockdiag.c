/*
 * Block-diagonal linear (forward and backward, M2-BERT's BlockdiagLinear), and the column
 * sums that give every Monarch-family bias gradient. Each product is one strided
 * block-batched GEMM (vks__mon_bmm_record).
 */
#include <stddef.h>

#include "monarch_internal.h"

/* ---- column sums (bias gradients) ----------------------------------------------------------- */

typedef struct colsum_push {
    uint64_t src, dst;
    uint32_t rows, cols, ld, accumulate;
} colsum_push;
_Static_assert(sizeof(colsum_push) == 32, "colsum_push must mirror shaders/monarch_colsum.comp");

vks_status vks__mon_colsum_record(vks_context *ctx, vks_dtype dt, VkDeviceAddress src, int64_t rows, int64_t cols,
                                  int64_t ld, VkDeviceAddress dst) {
    /* Row slices on CPU devices (lavapipe's loop limiter, see MON_CPU_K_SLICE). */
    const int64_t slice = ctx->probe.info.type == VKS_DEVICE_CPU ? MON_CPU_K_SLICE : VKS_MAX(rows, 1);
    vks_spec spec = {.count = 1, .values = {64}};
    for (int64_t r0 = 0; r0 < VKS_MAX(rows, 1); r0 += slice) {
        colsum_push pc = {.src = mon__addr(src, r0 * ld, dt), .dst = dst, .rows = (uint32_t)VKS_MIN(slice, rows - r0),
                          .cols = (uint32_t)cols, .ld = (uint32_t)ld, .accumulate = r0 > 0};
        VKS_TRY(vks__dispatch(ctx, dt == VKS_DTYPE_F16 ? VKS_SHADER_MONARCH_COLSUM_F16 : VKS_SHADER_MONARCH_COLSUM_F32,
                              &spec, &pc, sizeof pc, (uint32_t)VKS_CEIL_DIV(cols, 64), 1, 1));
    }
    return VKS_OK;
}

/* ---- block-diagonal linear ---------------------------------------------------------------------- */

typedef struct bd_problem {
    vks_dtype dtype;
    int64_t batch, nb, ob, ib;
    vks_rows x, y; /* y: forward output or dy */
    VkDeviceAddress w;
} bd_problem;

/* x (B, nb*ib), w (nb, ob, ib), y (B, nb*ob) as `yname`. */
static vks_status bd_validate(vks_context *ctx, const vks_tensor *x, const vks_tensor *w, const vks_tensor *y,
                              const char *yname, const char *fn, bd_problem *bp) {
    VKS_TRY(vks__check_tensor(ctx, w, fn, "w"));
    const vks_dtype dt = w->dtype;
    VKS_TRY(vks__check_dtype_in(ctx, dt, VKS_MON_DTYPES, fn, "w"));
    int64_t ws[3];
    VKS_TRY(vks__mon_weight_view(ctx, w, dt, fn, "w", ws));
    VKS_TRY(vks__rows_view(ctx, x, 1, 4, true, fn, "x", &bp->x));
    VKS_TRY(vks__check_dtype(x, dt, fn, "x"));
    VKS_TRY(vks__rows_view(ctx, y, 1, 4, true, fn, yname, &bp->y));
    VKS_TRY(vks__check_dtype(y, dt, fn, yname));
    const int64_t nb = ws[0], ob = ws[1], ib = ws[2];
    if (bp->x.cols != nb * ib)
        return vks__error(VKS_ERROR_SHAPE_MISMATCH,
                          "%s: x has %lld columns, expected nblocks*in_blk = %lld*%lld = %lld (w is (%lld, %lld, %lld))",
                          fn, (long long)bp->x.cols, (long long)nb, (long long)ib, (long long)(nb * ib), (long long)nb,
                          (long long)ob, (long long)ib);
    if (bp->y.cols != nb * ob)
        return vks__error(VKS_ERROR_SHAPE_MISMATCH, "%s: %s has %lld columns, expected nblocks*out_blk = %lld*%lld = %lld",
                          fn, yname, (long long)bp->y.cols, (long long)nb, (long long)ob, (long long)(nb * ob));
    if (bp->y.rows != bp->x.rows)
        return vks__error(VKS_ERROR_SHAPE_MISMATCH, "%s: x has %lld rows but %s has %lld", fn, (long long)bp->x.rows,
                          yname, (long long)bp->y.rows);
    bp->dtype = dt, bp->batch = bp->x.rows, bp->nb = nb, bp->ob = ob, bp->ib = ib, bp->w = vks__tensor_address(w);
    return VKS_OK;
}

typedef struct bd_call {
    const char *fn;
    vks_blockdiag_desc fwd;          /* vks_blockdiag_linear: the library's full copy of the caller's */
    vks_blockdiag_backward_desc bwd; /* vks_blockdiag_backward: likewise */
    bd_problem bp;
    vks_rows dx;
} bd_call;

static vks_status bd_linear_check(vks_context *ctx, void *call, bool *empty) {
    bd_call *c = call;
    const vks_blockdiag_desc *d = &c->fwd;
    const char *fn = c->fn;
    (void)empty;
    if ((unsigned)d->activation > VKS_ACT_GELU_ERF)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: activation = %d is not a vks_activation", fn,
                          (int)d->activation);
    VKS_TRY(bd_validate(ctx, d->x, d->w, d->y, "y", fn, &c->bp));
    if (d->bias) VKS_TRY(vks__vector_view(ctx, d->bias, c->bp.dtype, c->bp.nb * c->bp.ob, fn, "bias", NULL));
    const vks_arg outs[] = {{d->y, "y", NULL}};
    const vks_arg ins[] = {{d->x, "x", NULL}, {d->w, "w", NULL}, {d->bias, "bias", NULL}};
    return vks__check_no_alias(outs, 1, ins, 3, fn);
}

static vks_status bd_linear_record(vks_context *ctx, void *call) {
    const bd_call *c = call;
    const vks_blockdiag_desc *d = &c->fwd;
    const bd_problem bp = c->bp;
    mon_bmm g = vks__mon_bmm_init(bp.dtype, bp.nb, bp.batch, bp.ob, bp.ib);
    g.a = bp.x.address, g.a_bs = bp.ib, g.a_rs = bp.x.ld, g.a_cs = 1;
    g.b = bp.w, g.b_bs = bp.ob * bp.ib, g.b_rs = 1, g.b_cs = bp.ib;
    g.c = bp.y.address, g.c_bs = bp.ob, g.c_rs = bp.y.ld, g.c_cs = 1;
    g.bias = d->bias ? vks__tensor_address(d->bias) : 0, g.bias_bs = bp.ob, g.bias_cs = 1;
    g.activation = d->activation;
    return vks__mon_bmm_record(ctx, &g);
}

vks_status vks_blockdiag_linear(vks_context *ctx, const vks_blockdiag_desc *d) {
    bd_call call = {.fn = "vks_blockdiag_linear"};
    const vks_op op = {.fn = call.fn, .name = "blockdiag_linear", .desc = d, .desc_arg = "desc",
                       .desc_type = VKS_STRUCT_BLOCKDIAG_DESC, .desc_copy = &call.fwd, .validate = bd_linear_check,
                       .record = bd_linear_record};
    return vks__op_run(ctx, &op, &call);
}

static vks_status bd_backward_check(vks_context *ctx, void *call, bool *empty) {
    bd_call *c = call;
    const vks_blockdiag_backward_desc *d = &c->bwd;
    const char *fn = c->fn;
    (void)empty;
    if (!d->dx && !d->dw && !d->dbias)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: dx, dw and dbias are all NULL; nothing to compute", fn);
    bd_problem *bp = &c->bp;
    VKS_TRY(bd_validate(ctx, d->x, d->w, d->dy, "dy", fn, bp));
    if (d->dx) {
        VKS_TRY(vks__rows_view(ctx, d->dx, 1, 4, true, fn, "dx", &c->dx));
        VKS_TRY(vks__check_dtype(d->dx, bp->dtype, fn, "dx"));
        if (c->dx.rows != bp->batch || c->dx.cols != bp->nb * bp->ib)
            return vks__error(VKS_ERROR_SHAPE_MISMATCH, "%s: dx is %lld x %lld, expected x's shape %lld x %lld", fn,
                              (long long)c->dx.rows, (long long)c->dx.cols, (long long)bp->batch,
                              (long long)(bp->nb * bp->ib));
    }
    if (d->dw) {
        int64_t dws[3];
        VKS_TRY(vks__mon_weight_view(ctx, d->dw, bp->dtype, fn, "dw", dws));
        if (dws[0] != bp->nb || dws[1] != bp->ob || dws[2] != bp->ib)
            return vks__error(VKS_ERROR_SHAPE_MISMATCH,
                              "%s: dw is (%lld, %lld, %lld), expected w's shape (%lld, %lld, %lld)", fn,
                              (long long)dws[0], (long long)dws[1], (long long)dws[2], (long long)bp->nb,
                              (long long)bp->ob, (long long)bp->ib);
    }
    if (d->dbias) VKS_TRY(vks__vector_view(ctx, d->dbias, bp->dtype, bp->nb * bp->ob, fn, "dbias", NULL));
    const vks_arg outs[] = {{d->dx, "dx", NULL}, {d->dw, "dw", NULL}, {d->dbias, "dbias", NULL}};
    const vks_arg ins[] = {{d->x, "x", NULL}, {d->w, "w", NULL}, {d->dy, "dy", NULL}};
    return vks__check_no_alias(outs, 3, ins, 3, fn);
}

static vks_status bd_backward_record(vks_context *ctx, void *call) {
    const bd_call *c = call;
    const vks_blockdiag_backward_desc *d = &c->bwd;
    const bd_problem bp = c->bp;
    if (d->dx) { /* dx_i = dy_i w[i] */
        mon_bmm g = vks__mon_bmm_init(bp.dtype, bp.nb, bp.batch, bp.ib, bp.ob);
        g.a = bp.y.address, g.a_bs = bp.ob, g.a_rs = bp.y.ld, g.a_cs = 1;
        g.b = bp.w, g.b_bs = bp.ob * bp.ib, g.b_rs = bp.ib, g.b_cs = 1;
        g.c = c->dx.address, g.c_bs = bp.ib, g.c_rs = c->dx.ld, g.c_cs = 1;
        VKS_TRY(vks__mon_bmm_record(ctx, &g));
    }
    if (d->dw) { /* dw[i] = dy_i^T x_i */
        mon_bmm g = vks__mon_bmm_init(bp.dtype, bp.nb, bp.ob, bp.ib, bp.batch);
        g.a = bp.y.address, g.a_bs = bp.ob, g.a_rs = 1, g.a_cs = bp.y.ld;
        g.b = bp.x.address, g.b_bs = bp.ib, g.b_rs = bp.x.ld, g.b_cs = 1;
        g.c = vks__tensor_address(d->dw), g.c_bs = bp.ob * bp.ib, g.c_rs = bp.ib, g.c_cs = 1;
        VKS_TRY(vks__mon_bmm_record(ctx, &g));
    }
    if (d->dbias)
        VKS_TRY(vks__mon_colsum_record(ctx, bp.dtype, bp.y.address, bp.batch, bp.y.cols, bp.y.ld, vks__tensor_address(d->dbias)));
    return VKS_OK;
}

vks_status vks_blockdiag_backward(vks_context *ctx, const vks_blockdiag_backward_desc *d) {
    bd_call call = {.fn = "vks_blockdiag_backward"};
    const vks_op op = {.fn = call.fn, .name = "blockdiag_backward", .desc = d, .desc_arg = "desc",
                       .desc_type = VKS_STRUCT_BLOCKDIAG_BACKWARD_DESC, .desc_copy = &call.bwd,
                       .validate = bd_backward_check, .record = bd_backward_record};
    return vks__op_run(ctx, &op, &call);
}
