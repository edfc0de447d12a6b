/*
 * The Monarch backward pass. Every product is one strided block-batched GEMM
 * (vks__mon_bmm_record) whose strides carry the Monarch permutations, so the backward runs
 * the reference's four products without its explicit shuffles; zero-padded copies are made
 * only for MonarchLinear's ragged shapes. Bias gradients: vks__mon_colsum_record
 * (monarch_blockdiag.c).
 */
#include <stddef.h>

#include "monarch_internal.h"

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
    if (st == VKS_OK && d->dbias) st = vks__mon_colsum_record(ctx, dt, dy.address, B, dy.cols, dy.ld, vks__tensor_address(d->dbias));
    return st;
}

vks_status vks_monarch_backward(vks_context *ctx, const vks_monarch_backward_desc *d) {
    mb_call call = {.fn = "vks_monarch_backward"};
    const vks_op op = {.fn = call.fn, .name = "monarch_backward", .desc = d, .desc_arg = "desc",
                       .desc_type = VKS_STRUCT_MONARCH_BACKWARD_DESC, .desc_copy = &call.desc, .validate = mb_check,
                       .record = mb_record};
    return vks__op_run(ctx, &op, &call);
}
