/*
 * Block-diagonal linear (forward and backward) and the Monarch backward pass. Every
 * product is one strided block-batched GEMM (vks__mon_bmm_record) whose strides carry the
 * Monarch permutations, so the backward runs the reference's four products without its
 * explicit shuffles; zero-padded copies are made only for MonarchLinear's ragged shapes.
 */
#include <stddef.h>

#include "monarch_internal.h"

/* ---- column sums (bias gradients) ----------------------------------------------------------- */

typedef struct colsum_push {
    uint64_t src, dst;
    uint32_t rows, cols, ld, accumulate;
} colsum_push;
_Static_assert(sizeof(colsum_push) == 32, "colsum_push must mirror shaders/monarch_colsum.comp");

static vks_status colsum_record(vks_context *ctx, vks_dtype dt, VkDeviceAddress src, int64_t rows, int64_t cols,
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
        VKS_TRY(colsum_record(ctx, bp.dtype, bp.y.address, bp.batch, bp.y.cols, bp.y.ld, vks__tensor_address(d->dbias)));
    return VKS_OK;
}

vks_status vks_blockdiag_backward(vks_context *ctx, const vks_blockdiag_backward_desc *d) {
    bd_call call = {.fn = "vks_blockdiag_backward"};
    const vks_op op = {.fn = call.fn, .name = "blockdiag_backward", .desc = d, .desc_arg = "desc",
                       .desc_type = VKS_STRUCT_BLOCKDIAG_BACKWARD_DESC, .desc_copy = &call.bwd,
                       .validate = bd_backward_check, .record = bd_backward_record};
    return vks__op_run(ctx, &op, &call);
}

/* ---- Monarch backward -------------------------------------------------------------------------- */

static int64_t align_elems(int64_t n) { return (n + 63) & ~(int64_t)63; }

typedef struct mb_call {
    const char *fn;
    vks_monarch_backward_desc desc; /* the library's full copy of the caller's */
    const vks_monarch_backward_desc *d;
    vks_dtype dt;
    vks_rows x, dy, dx;
    int64_t k, q, p, l, s, r;
} mb_call;

static vks_status mb_check(vks_context *ctx, void *call, bool *empty) {
    mb_call *c = call;
    const vks_monarch_backward_desc *d = &c->desc;
    const char *fn = c->fn;
    (void)empty; /* an empty batch still writes dw1, dw2 and dbias (zeros) */
    if (!d->dx && !d->dw1 && !d->dw2 && !d->dbias)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: dx, dw1, dw2 and dbias are all NULL; nothing to compute", fn);
    if (d->padded != 0 && d->padded != 1)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: padded = %d, expected 0 or 1", fn, (int)d->padded);
    vks_status st = VKS_OK;
    int64_t w1s[3], w2s[3], g1[3], g2[3];
    vks_rows x, dy, dx = {0};
    vks_dtype dt = VKS_DTYPE_F32;
#define CHECK(call)                                                                                      \
    do {                                                                                                 \
        if (st == VKS_OK) st = (call);                                                                   \
    } while (0)
    CHECK(vks__check_tensor(ctx, d->w1, fn, "w1"));
    if (st == VKS_OK) dt = d->w1->dtype;
    CHECK(vks__check_dtype_in(ctx, dt, VKS_MON_DTYPES, fn, "w1"));
    CHECK(vks__mon_weight_view(ctx, d->w1, dt, fn, "w1", w1s));
    CHECK(vks__mon_weight_view(ctx, d->w2, dt, fn, "w2", w2s));
    CHECK(vks__rows_view(ctx, d->x, 1, 4, true, fn, "x", &x));
    CHECK(vks__check_dtype(d->x, dt, fn, "x"));
    CHECK(vks__rows_view(ctx, d->dy, 1, 4, true, fn, "dy", &dy));
    CHECK(vks__check_dtype(d->dy, dt, fn, "dy"));
    int64_t k = 0, q = 0, p = 0, l = 0, s = 0, r = 0;
    if (st == VKS_OK) {
        k = w1s[0], q = w1s[1], p = w1s[2], l = w2s[0], s = w2s[1], r = w2s[2];
        if (l * r != k * q)
            st = vks__error(VKS_ERROR_SHAPE_MISMATCH, "%s: w2 is (l, s, r) = (%lld, %lld, %lld): l*r = %lld but k*q = %lld",
                            fn, (long long)l, (long long)s, (long long)r, (long long)(l * r), (long long)(k * q));
        else if (d->padded ? (x.cols < 1 || x.cols > k * p) : x.cols != k * p)
            st = vks__error(VKS_ERROR_SHAPE_MISMATCH, "%s: x has %lld columns, expected %sk*p = %lld", fn,
                            (long long)x.cols, d->padded ? "1 .. " : "", (long long)(k * p));
        else if (d->padded ? (dy.cols < 1 || dy.cols > l * s) : dy.cols != l * s)
            st = vks__error(VKS_ERROR_SHAPE_MISMATCH, "%s: dy has %lld columns, expected %sl*s = %lld", fn,
                            (long long)dy.cols, d->padded ? "1 .. " : "", (long long)(l * s));
        else if (dy.rows != x.rows)
            st = vks__error(VKS_ERROR_SHAPE_MISMATCH, "%s: x has %lld rows but dy has %lld", fn, (long long)x.rows,
                            (long long)dy.rows);
        else if ((uint64_t)x.rows * (uint64_t)(k * q) > UINT32_MAX)
            st = vks__error(VKS_ERROR_OUT_OF_RANGE, "%s: %lld rows of %lld intermediate values exceed 2^32", fn,
                            (long long)x.rows, (long long)(k * q));
        /* Padded shapes go through zero-padded copies of x and dy, indexed with 32 bits too. */
        else if (x.cols < k * p)
            st = vks__mon_check_copy_size(x.rows, k * p, fn, "the zero-padded x");
        if (st == VKS_OK && dy.cols < l * s) st = vks__mon_check_copy_size(x.rows, l * s, fn, "the zero-padded dy");
    }
    if (d->dx) {
        CHECK(vks__rows_view(ctx, d->dx, 1, 4, true, fn, "dx", &dx));
        CHECK(vks__check_dtype(d->dx, dt, fn, "dx"));
        if (st == VKS_OK && (dx.rows != x.rows || dx.cols != x.cols))
            st = vks__error(VKS_ERROR_SHAPE_MISMATCH, "%s: dx is %lld x %lld, expected x's shape %lld x %lld", fn,
                            (long long)dx.rows, (long long)dx.cols, (long long)x.rows, (long long)x.cols);
    }
    if (d->dw1) {
        CHECK(vks__mon_weight_view(ctx, d->dw1, dt, fn, "dw1", g1));
        if (st == VKS_OK && (g1[0] != k || g1[1] != q || g1[2] != p))
            st = vks__error(VKS_ERROR_SHAPE_MISMATCH, "%s: dw1 is (%lld, %lld, %lld), expected w1's shape", fn,
                            (long long)g1[0], (long long)g1[1], (long long)g1[2]);
    }
    if (d->dw2) {
        CHECK(vks__mon_weight_view(ctx, d->dw2, dt, fn, "dw2", g2));
        if (st == VKS_OK && (g2[0] != l || g2[1] != s || g2[2] != r))
            st = vks__error(VKS_ERROR_SHAPE_MISMATCH, "%s: dw2 is (%lld, %lld, %lld), expected w2's shape", fn,
                            (long long)g2[0], (long long)g2[1], (long long)g2[2]);
    }
    if (d->dbias) CHECK(vks__vector_view(ctx, d->dbias, dt, dy.cols, fn, "dbias", NULL));
    const vks_arg outs[] = {{d->dx, "dx", NULL}, {d->dw1, "dw1", NULL}, {d->dw2, "dw2", NULL}, {d->dbias, "dbias", NULL}};
    const vks_arg ins[] = {{d->x, "x", NULL}, {d->w1, "w1", NULL}, {d->w2, "w2", NULL}, {d->dy, "dy", NULL}};
    CHECK(vks__check_no_alias(outs, 4, ins, 4, fn));
#undef CHECK
    c->d = d, c->dt = dt, c->x = x, c->dy = dy, c->dx = dx;
    c->k = k, c->q = q, c->p = p, c->l = l, c->s = s, c->r = r;
    return st;
}

static vks_status mb_record(vks_context *ctx, void *call) {
    const mb_call *c = call;
    const vks_monarch_backward_desc *d = c->d;
    const vks_dtype dt = c->dt;
    const vks_rows x = c->x, dy = c->dy, dx = c->dx;
    const int64_t k = c->k, q = c->q, p = c->p, l = c->l, s = c->s, r = c->r;
    vks_status st = VKS_OK;
    const int64_t B = x.rows, kp = k * p, kq = k * q, ls = l * s;
    const bool pad_x = x.cols < kp, pad_dy = dy.cols < ls;
    const bool need_dout1 = d->dx || d->dw1, need_out1 = d->dw2 != NULL;
    const int64_t n_out1 = need_out1 ? align_elems(B * kq) : 0, n_dout1 = need_dout1 ? align_elems(B * kq) : 0;
    const int64_t n_xp = pad_x ? align_elems(B * kp) : 0, n_dyp = pad_dy ? align_elems(B * ls) : 0;
    VkDeviceAddress base = 0;
    if (st == VKS_OK)
        st = vks__scratch(ctx, (uint64_t)(n_out1 + n_dout1 + n_xp + n_dyp + 64) * vks__dtype_bytes(dt), &base);
    const VkDeviceAddress out1 = base, dout1 = mon__addr(out1, n_out1, dt), xp = mon__addr(dout1, n_dout1, dt),
                          dyp = mon__addr(xp, n_xp, dt);
    /* MonarchLinear's ragged shapes: x and dy zero-padded to k*p and l*s columns. */
    VkDeviceAddress xa = x.address, dya = dy.address;
    int64_t ldx = x.ld, ldy = dy.ld;
    if (st == VKS_OK && pad_x) {
        mon_permute pm = {.dtype = dt, .src = x.address, .dst = xp, .n0 = B, .n1 = 1, .n2 = kp, .s0 = x.ld, .s2 = 1,
                          .d0 = kp, .d2 = 1, .src_lim = x.cols, .col_lim = INT32_MAX};
        st = vks__mon_permute_record(ctx, &pm);
        xa = xp, ldx = kp;
    }
    if (st == VKS_OK && pad_dy) {
        mon_permute pm = {.dtype = dt, .src = dy.address, .dst = dyp, .n0 = B, .n1 = 1, .n2 = ls, .s0 = dy.ld, .s2 = 1,
                          .d0 = ls, .d2 = 1, .src_lim = dy.cols, .col_lim = INT32_MAX};
        st = vks__mon_permute_record(ctx, &pm);
        dya = dyp, ldy = ls;
    }
    if (st == VKS_OK && need_out1) { /* the forward's intermediate, recomputed: out1 = x_i w1[i]^T */
        mon_bmm g = vks__mon_bmm_init(dt, k, B, q, p);
        g.a = xa, g.a_bs = p, g.a_rs = ldx, g.a_cs = 1;
        g.b = vks__tensor_address(d->w1), g.b_bs = q * p, g.b_rs = 1, g.b_cs = p;
        g.c = out1, g.c_bs = q, g.c_rs = kq, g.c_cs = 1;
        st = vks__mon_bmm_record(ctx, &g);
    }
    if (st == VKS_OK && need_out1) { /* dw2[l] = dout_l^T u_l: dout(t, b) = dy[b, t*l + l_idx], u(b, rho) = out1[b, rho*l + l_idx] */
        mon_bmm g = vks__mon_bmm_init(dt, l, s, r, B);
        g.a = dya, g.a_bs = 1, g.a_rs = l, g.a_cs = ldy;
        g.b = out1, g.b_bs = 1, g.b_rs = kq, g.b_cs = l;
        g.c = vks__tensor_address(d->dw2), g.c_bs = s * r, g.c_rs = r, g.c_cs = 1;
        st = vks__mon_bmm_record(ctx, &g);
    }
    if (st == VKS_OK && need_dout1) { /* du_l = dout_l w2[l], written through the inverse shuffle into dout1 (B, k*q) */
        mon_bmm g = vks__mon_bmm_init(dt, l, B, r, s);
        g.a = dya, g.a_bs = 1, g.a_rs = ldy, g.a_cs = l;
        g.b = vks__tensor_address(d->w2), g.b_bs = s * r, g.b_rs = r, g.b_cs = 1;
        g.c = dout1, g.c_bs = 1, g.c_rs = kq, g.c_cs = l;
        st = vks__mon_bmm_record(ctx, &g);
    }
    if (st == VKS_OK && d->dx) { /* dx_i = dout1_i w1[i], columns past x's width dropped */
        mon_bmm g = vks__mon_bmm_init(dt, k, B, p, q);
        g.a = dout1, g.a_bs = q, g.a_rs = kq, g.a_cs = 1;
        g.b = vks__tensor_address(d->w1), g.b_bs = q * p, g.b_rs = p, g.b_cs = 1;
        g.c = dx.address, g.c_bs = p, g.c_rs = dx.ld, g.c_cs = 1;
        g.n_z = p, g.n_j = 1, g.n_lim = x.cols;
        st = vks__mon_bmm_record(ctx, &g);
    }
    if (st == VKS_OK && d->dw1) { /* dw1[i] = dout1_i^T x_i */
        mon_bmm g = vks__mon_bmm_init(dt, k, q, p, B);
        g.a = dout1, g.a_bs = q, g.a_rs = 1, g.a_cs = kq;
        g.b = xa, g.b_bs = p, g.b_rs = ldx, g.b_cs = 1;
        g.c = vks__tensor_address(d->dw1), g.c_bs = q * p, g.c_rs = p, g.c_cs = 1;
        st = vks__mon_bmm_record(ctx, &g);
    }
    if (st == VKS_OK && d->dbias) st = colsum_record(ctx, dt, dy.address, B, dy.cols, dy.ld, vks__tensor_address(d->dbias));
    return st;
}

vks_status vks_monarch_backward(vks_context *ctx, const vks_monarch_backward_desc *d) {
    mb_call call = {.fn = "vks_monarch_backward"};
    const vks_op op = {.fn = call.fn, .name = "monarch_backward", .desc = d, .desc_arg = "desc",
                       .desc_type = VKS_STRUCT_MONARCH_BACKWARD_DESC, .desc_copy = &call.desc, .validate = mb_check,
                       .record = mb_record};
    return vks__op_run(ctx, &op, &call);
}
