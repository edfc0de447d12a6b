/*
 * Monarch forward: vks_monarch_forward, MonarchLinear (vks_monarch_linear + its shapes),
 * and the argument checks the whole family shares. Conventions: include/vkstruct/monarch.h.
 * Paths: fused (monarch_fused.c), two-pass and the peers' unfused one (monarch_record.c).
 */
#include <stdio.h>
#include <string.h>

#include "monarch_internal.h"

/* ---- argument checks shared by the family (the rest is tensor.c's vocabulary) ----------------- */

vks_status vks__mon_weight_view(const vks_context *ctx, const vks_tensor *t, vks_dtype dt, const char *fn,
                            const char *arg, int64_t shape[3]) {
    VKS_TRY(vks__check_tensor(ctx, t, fn, arg));
    VKS_TRY(vks__check_ndim(t, 3, 3, fn, arg));
    VKS_TRY(vks__check_dtype(t, dt, fn, arg));
    for (int i = 0; i < 3; ++i) {
        if (t->shape[i] < 1)
            return vks__error(VKS_ERROR_SHAPE_MISMATCH, "%s: %s.shape[%d] = %lld, expected >= 1", fn, arg, i,
                              (long long)t->shape[i]);
        shape[i] = t->shape[i];
    }
    if (!vks__tensor_is_contiguous(t))
        return vks__error(VKS_ERROR_UNSUPPORTED, "%s: %s has strides (%lld, %lld, %lld); weights must be compact", fn,
                          arg, (long long)t->strides[0], (long long)t->strides[1], (long long)t->strides[2]);
    if ((uint64_t)shape[0] * (uint64_t)shape[1] * (uint64_t)shape[2] > UINT32_MAX)
        return vks__error(VKS_ERROR_OUT_OF_RANGE, "%s: %s has more than 2^32 elements", fn, arg);
    return VKS_OK;
}

/* ---- MonarchLinear shapes ---------------------------------------------------------------------- */

void vks__mon_linear_shapes(int64_t in_features, int64_t out_features, int64_t nblocks, int64_t w1_shape[3],
                            int64_t w2_shape[3]) {
    /* Ceiling divisions that cannot overflow (both features >= 1). */
    const int64_t in_blk = (in_features - 1) / nblocks + 1, out_blk = (out_features - 1) / nblocks + 1;
    const bool expanding = in_blk < out_blk;
    w1_shape[0] = nblocks, w1_shape[1] = expanding ? in_blk : out_blk, w1_shape[2] = in_blk;
    w2_shape[0] = nblocks, w2_shape[1] = out_blk, w2_shape[2] = expanding ? in_blk : out_blk;
}

vks_status vks_monarch_linear_shapes(int64_t in_features, int64_t out_features, int64_t nblocks, int64_t w1_shape[3],
                                     int64_t w2_shape[3]) {
    static const char fn[] = "vks_monarch_linear_shapes";
    if (!w1_shape || !w2_shape)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: %s is NULL", fn, !w1_shape ? "w1_shape" : "w2_shape");
    if (in_features < 1 || out_features < 1)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: in_features = %lld, out_features = %lld; expected >= 1", fn,
                          (long long)in_features, (long long)out_features);
    if (nblocks < 1)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: nblocks = %lld, expected >= 1", fn, (long long)nblocks);
    vks__mon_linear_shapes(in_features, out_features, nblocks, w1_shape, w2_shape);
    return VKS_OK;
}

vks_status vks__mon_check_copy_size(int64_t rows, int64_t cols, const char *fn, const char *what) {
    if ((uint64_t)rows * (uint64_t)cols <= UINT32_MAX) return VKS_OK;
    return vks__error(VKS_ERROR_OUT_OF_RANGE, "%s: %s would be %lld x %lld elements, past 2^32 (32-bit indexing)", fn,
                      what, (long long)rows, (long long)cols);
}

/* ---- forward ------------------------------------------------------------------------------------- */

typedef enum fwd_kind { FWD_PLAIN, FWD_LINEAR } fwd_kind;

static vks_status forward_validate(vks_context *ctx, const vks_monarch_desc *d, const char *fn, fwd_kind kind,
                                   mon_problem *pr) {
    if ((unsigned)d->activation > VKS_ACT_GELU_ERF)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: activation = %d is not a vks_activation", fn,
                          (int)d->activation);
    if ((unsigned)d->path > VKS_MONARCH_PATH_UNFUSED)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: path = %d is not a vks_monarch_path", fn, (int)d->path);
    if (kind == FWD_PLAIN && d->padded != 0 && d->padded != 1)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: padded = %d, expected 0 or 1", fn, (int)d->padded);
    VKS_TRY(vks__check_tensor(ctx, d->w1, fn, "w1"));
    const vks_dtype dt = d->w1->dtype;
    VKS_TRY(vks__check_dtype_in(ctx, dt, VKS_MON_DTYPES, fn, "w1"));
    int64_t w1s[3], w2s[3];
    VKS_TRY(vks__mon_weight_view(ctx, d->w1, dt, fn, "w1", w1s));
    VKS_TRY(vks__mon_weight_view(ctx, d->w2, dt, fn, "w2", w2s));
    const int64_t k = w1s[0], q = w1s[1], p = w1s[2], l = w2s[0], s = w2s[1], r = w2s[2];
    if (l * r != k * q)
        return vks__error(VKS_ERROR_SHAPE_MISMATCH,
                          "%s: w1 is (k, q, p) = (%lld, %lld, %lld) and w2 is (l, s, r) = (%lld, %lld, %lld); "
                          "expected l*r == k*q but %lld != %lld", fn, (long long)k, (long long)q, (long long)p,
                          (long long)l, (long long)s, (long long)r, (long long)(l * r), (long long)(k * q));
    vks_rows x, y;
    VKS_TRY(vks__rows_view(ctx, d->x, 1, 4, true, fn, "x", &x));
    VKS_TRY(vks__check_dtype(d->x, dt, fn, "x"));
    VKS_TRY(vks__rows_view(ctx, d->y, 1, 4, true, fn, "y", &y));
    VKS_TRY(vks__check_dtype(d->y, dt, fn, "y"));
    const bool padded = kind == FWD_LINEAR || d->padded;
    if (kind == FWD_LINEAR) {
        /* fly's MonarchLinear: the weight shapes follow from in, out and nblocks. */
        int64_t e1[3], e2[3];
        if (x.cols < 1 || y.cols < 1)
            return vks__error(VKS_ERROR_SHAPE_MISMATCH, "%s: x has %lld columns and y %lld, expected >= 1", fn,
                              (long long)x.cols, (long long)y.cols);
        vks__mon_linear_shapes(x.cols, y.cols, w1s[0], e1, e2);
        if (memcmp(e1, w1s, sizeof e1) || memcmp(e2, w2s, sizeof e2))
            return vks__error(VKS_ERROR_SHAPE_MISMATCH,
                              "%s: MonarchLinear(in=%lld, out=%lld, nblocks=%lld) has w1 (%lld, %lld, %lld) and w2 "
                              "(%lld, %lld, %lld), but w1 is (%lld, %lld, %lld) and w2 (%lld, %lld, %lld)", fn,
                              (long long)x.cols, (long long)y.cols, (long long)w1s[0], (long long)e1[0],
                              (long long)e1[1], (long long)e1[2], (long long)e2[0], (long long)e2[1], (long long)e2[2],
                              (long long)k, (long long)q, (long long)p, (long long)l, (long long)s, (long long)r);
    }
    if (padded ? (x.cols < 1 || x.cols > k * p) : x.cols != k * p)
        return vks__error(VKS_ERROR_SHAPE_MISMATCH, "%s: x has %lld columns, expected %sk*p = %lld*%lld = %lld", fn,
                          (long long)x.cols, padded ? "1 .. " : "", (long long)k, (long long)p, (long long)(k * p));
    if (padded ? (y.cols < 1 || y.cols > l * s) : y.cols != l * s)
        return vks__error(VKS_ERROR_SHAPE_MISMATCH, "%s: y has %lld columns, expected %sl*s = %lld*%lld = %lld", fn,
                          (long long)y.cols, padded ? "1 .. " : "", (long long)l, (long long)s, (long long)(l * s));
    if (y.rows != x.rows)
        return vks__error(VKS_ERROR_SHAPE_MISMATCH, "%s: x has %lld rows but y has %lld", fn, (long long)x.rows,
                          (long long)y.rows);
    if ((uint64_t)x.rows * (uint64_t)(k * q) > UINT32_MAX)
        return vks__error(VKS_ERROR_OUT_OF_RANGE, "%s: %lld rows of %lld intermediate values exceed 2^32", fn,
                          (long long)x.rows, (long long)(k * q));
    if (d->bias) VKS_TRY(vks__vector_view(ctx, d->bias, dt, y.cols, fn, "bias", NULL));
    const vks_arg outs[] = {{d->y, "y", NULL}};
    const vks_arg ins[] = {{d->x, "x", NULL}, {d->w1, "w1", NULL}, {d->w2, "w2", NULL}, {d->bias, "bias", NULL}};
    VKS_TRY(vks__check_no_alias(outs, 1, ins, 4, fn));
    *pr = (mon_problem){.dtype = dt, .batch = x.rows, .n_in = x.cols, .m_out = y.cols,
                        .k = k, .q = q, .p = p, .l = l, .s = s, .r = r,
                        .x = x.address, .w1 = vks__tensor_address(d->w1), .w2 = vks__tensor_address(d->w2),
                        .y = y.address, .bias = d->bias ? vks__tensor_address(d->bias) : 0,
                        .ldx = x.ld, .ldy = y.ld, .activation = d->activation};
    return VKS_OK;
}

static vks_status forward_record(vks_context *ctx, const mon_problem *pr, vks_monarch_path path, const char *fn) {
    mon_fused_config cfg;
    const bool fusable = vks__mon_fused_plan(ctx, pr, &cfg);
    if (path == VKS_MONARCH_PATH_FUSED && !fusable)
        return vks__error(VKS_ERROR_UNSUPPORTED,
                          "%s: path = VKS_MONARCH_PATH_FUSED, but q = %lld is not a multiple of l = %lld or a row "
                          "tile's intermediate does not fit on device '%s' at batch %lld (see vks_monarch_fusable)",
                          fn, (long long)pr->q, (long long)pr->l, ctx->probe.info.name, (long long)pr->batch);
    if (path == VKS_MONARCH_PATH_UNFUSED) {
        /* Its zero-padded x (B, k*p) and out2 (B, l*s) are indexed with 32 bits like every
         * tensor; with padded shapes they can be far larger than x and y. */
        const int64_t kp = pr->k * pr->p;
        if (pr->n_in < kp) VKS_TRY(vks__mon_check_copy_size(pr->batch, kp, fn, "the unfused path's zero-padded x"));
        VKS_TRY(vks__mon_check_copy_size(pr->batch, pr->l * pr->s, fn, "the unfused path's out2"));
        return vks__mon_forward_unfused(ctx, pr);
    }
    if (path == VKS_MONARCH_PATH_TWO_PASS || !fusable ||
        (path == VKS_MONARCH_PATH_AUTO && !vks__mon_fused_preferred(ctx, pr)))
        return vks__mon_forward_two_pass(ctx, pr, 0);
    return vks__mon_forward_fused(ctx, pr, &cfg);
}

typedef struct forward_call {
    const char *fn;
    vks_monarch_desc desc; /* the library's full copy of the caller's */
    fwd_kind kind;
    mon_problem pr;
} forward_call;

static vks_status forward_check(vks_context *ctx, void *call, bool *empty) {
    forward_call *c = call;
    VKS_TRY(forward_validate(ctx, &c->desc, c->fn, c->kind, &c->pr));
    *empty = c->pr.batch == 0;
    return VKS_OK;
}

static vks_status forward_run(vks_context *ctx, void *call) {
    const forward_call *c = call;
    return forward_record(ctx, &c->pr, c->desc.path, c->fn);
}

static vks_status forward(vks_context *ctx, const vks_monarch_desc *desc, const char *fn, fwd_kind kind) {
    forward_call call = {.fn = fn, .kind = kind};
    const vks_op op = {.fn = fn, .name = kind == FWD_LINEAR ? "monarch_linear" : "monarch_forward", .desc = desc,
                       .desc_arg = "desc", .desc_type = VKS_STRUCT_MONARCH_DESC, .desc_copy = &call.desc,
                       .validate = forward_check, .record = forward_run};
    return vks__op_run(ctx, &op, &call);
}

vks_status vks_monarch_forward(vks_context *ctx, const vks_monarch_desc *desc) {
    return forward(ctx, desc, "vks_monarch_forward", FWD_PLAIN);
}

vks_status vks_monarch_linear(vks_context *ctx, const vks_monarch_desc *desc) {
    return forward(ctx, desc, "vks_monarch_linear", FWD_LINEAR);
}

typedef struct fusable_call {
    const char *fn;
    const vks_tensor *w1, *w2;
    int64_t batch;
    int32_t *fusable;
} fusable_call;

/* A query: validation computes the answer, nothing is recorded. */
static vks_status fusable_check(vks_context *ctx, void *call, bool *empty) {
    const fusable_call *c = call;
    const char *fn = c->fn;
    (void)empty;
    if (!c->fusable) return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: fusable is NULL", fn);
    if (c->batch < 1 || c->batch > UINT32_MAX)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: batch = %lld, expected 1 .. 2^32-1", fn, (long long)c->batch);
    int64_t w1s[3], w2s[3];
    VKS_TRY(vks__check_tensor(ctx, c->w1, fn, "w1"));
    const vks_dtype dt = c->w1->dtype;
    VKS_TRY(vks__check_dtype_in(ctx, dt, VKS_MON_DTYPES, fn, "w1"));
    VKS_TRY(vks__mon_weight_view(ctx, c->w1, dt, fn, "w1", w1s));
    VKS_TRY(vks__mon_weight_view(ctx, c->w2, dt, fn, "w2", w2s));
    if (w2s[0] * w2s[2] != w1s[0] * w1s[1])
        return vks__error(VKS_ERROR_SHAPE_MISMATCH, "%s: l*r = %lld but k*q = %lld", fn, (long long)(w2s[0] * w2s[2]),
                          (long long)(w1s[0] * w1s[1]));
    mon_problem pr = {.dtype = dt, .batch = c->batch, .n_in = w1s[0] * w1s[2], .m_out = w2s[0] * w2s[1],
                      .k = w1s[0], .q = w1s[1], .p = w1s[2], .l = w2s[0], .s = w2s[1], .r = w2s[2]};
    mon_fused_config cfg;
    *c->fusable = vks__mon_fused_plan(ctx, &pr, &cfg) ? 1 : 0;
    return VKS_OK;
}

vks_status vks_monarch_fusable(vks_context *ctx, const vks_tensor *w1, const vks_tensor *w2, int64_t batch,
                               int32_t *fusable) {
    fusable_call call = {.fn = "vks_monarch_fusable", .w1 = w1, .w2 = w2, .batch = batch, .fusable = fusable};
    const vks_op op = {.fn = call.fn, .validate = fusable_check};
    return vks__op_run(ctx, &op, &call);
}
