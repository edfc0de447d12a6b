/*
 * Batched triangular solves (f32/f64), x = inv(L) b or inv(L)^T b:
 *   n <= NB (and on CPU devices n <= 256 with <= 8 columns) in one dispatch
 *   (orthogonal_trsm_small, a column per invocation); on CPU devices with <= 32 columns, per
 *   block row that kernel in place on the diagonal block + a GEMM below; otherwise: every
 *   diagonal block inverted at once (orthogonal_tri_inv), then per block row
 *   X_i = inv(L_ii) X_i and the rows below (or above, transposed) updated by GEMM.
 * The one-dispatch kernel also solves the blocked Cholesky's panels on CPU devices
 * (vks__orth_trsm_small, orthogonal_cholesky.c).
 */
#include "orthogonal_internal.h"

/* Diagonal block size: 64 where the factor block, its inverse workspace and a column fit the
 * device's shared memory, else 32 (lavapipe's kernels; f64 on 32 KiB devices). */
uint32_t vks__orth_block_size(const vks_context *ctx, vks_dtype dt) {
    const uint64_t es = vks__dtype_bytes(dt);
    uint32_t nb = 64;
    if (vks__cpu_kernels(ctx) || (uint64_t)nb * (nb + 2) * es + 64 > ctx->probe.info.max_shared_memory_bytes) nb = 32;
    return nb;
}

/* ---- triangular solve ------------------------------------------------------------------------ */

typedef struct inv_push {
    uint64_t l, w, l_bs;
    uint32_t l_rs, l_cs, n, nblocks;
} inv_push;
_Static_assert(sizeof(inv_push) == 40, "inv_push mirrors shaders/orthogonal_tri_inv.comp");

typedef struct trsm_small_push {
    uint64_t l, b, x, l_bs, b_bs, x_bs;
    uint32_t l_rs, l_cs, b_rs, b_cs, x_rs, x_cs;
    uint32_t n, k, trans, pad;
} trsm_small_push;
_Static_assert(sizeof(trsm_small_push) == 88, "trsm_small_push mirrors shaders/orthogonal_trsm_small.comp");

/* Systems with n up to one diagonal block are solved whole in one dispatch
 * (orthogonal_trsm_small: a column of b per invocation, in registers, no barrier). On CPU
 * devices also n <= 256 with at most 8 columns, where it measured 1.2-17x faster on lavapipe
 * than the blocked path's 13-25 dispatches (docs/orthogonal.md); with 16 or more columns the
 * GEMMs win there. An invocation's loops then run n(n-1)/2 + 2n <= 33152 iterations, inside
 * lavapipe's 65535. */
#define TRSM_CPU_MAXN 256
#define TRSM_CPU_MAXK 8
static bool trsm_small_fits(const vks_context *ctx, vks_dtype dt, int64_t n, int64_t k) {
    return n <= (int64_t)vks__orth_block_size(ctx, dt) || (vks__cpu_kernels(ctx) && n <= TRSM_CPU_MAXN && k <= TRSM_CPU_MAXK);
}

vks_status vks__orth_trsm_small(vks_context *ctx, bool trans, orth_mat l, orth_mat b, orth_mat x, uint32_t maxn) {
    /* a workgroup of one subgroup's width on CPU devices (few columns waste few lanes) */
    const uint32_t wg = vks__cpu_kernels(ctx) ? VKS_MAX(ctx->probe.info.subgroup_size, 1u) : 64u;
    const trsm_small_push sp = {.l = l.address,
                                .b = b.address,
                                .x = x.address,
                                .l_bs = (uint64_t)l.batch_stride,
                                .b_bs = (uint64_t)b.batch_stride,
                                .x_bs = (uint64_t)x.batch_stride,
                                .l_rs = (uint32_t)l.row_stride,
                                .l_cs = (uint32_t)l.col_stride,
                                .b_rs = (uint32_t)b.row_stride,
                                .b_cs = (uint32_t)b.col_stride,
                                .x_rs = (uint32_t)x.row_stride,
                                .x_cs = (uint32_t)x.col_stride,
                                .n = (uint32_t)x.rows,
                                .k = (uint32_t)x.cols,
                                .trans = trans ? 1u : 0u};
    const vks_spec spec = {.count = 2, .values = {wg, maxn}};
    return vks__dispatch(ctx, vks__orth_pick(x.dtype, VKS_SHADER_ORTHOGONAL_TRSM_SMALL_F32, VKS_SHADER_ORTHOGONAL_TRSM_SMALL_F64),
                         &spec, &sp, sizeof sp, (uint32_t)VKS_CEIL_DIV(x.cols, (int64_t)wg), 1, (uint32_t)x.batch);
}

/* MAXN: one diagonal block, or TRSM_CPU_MAXN for CPU devices' larger one-dispatch systems. */
static vks_status trsm_small(vks_context *ctx, bool trans, orth_mat l, orth_mat b, orth_mat x) {
    const uint32_t nb = vks__orth_block_size(ctx, x.dtype);
    return vks__orth_trsm_small(ctx, trans, l, b, x, x.rows <= (int64_t)nb ? nb : TRSM_CPU_MAXN);
}

/* Up to this many columns CPU devices take trsm_blocked_cpu (below) for n > NB. */
#define TRSM_CPU_FUSED_MAXK 32

uint64_t vks__orth_trsm_ws_bytes(const vks_context *ctx, vks_dtype dt, int64_t batch, int64_t n, int64_t k) {
    /* the one-dispatch and per-block-row paths need no workspace */
    if (trsm_small_fits(ctx, dt, n, k) || (vks__cpu_kernels(ctx) && k <= TRSM_CPU_FUSED_MAXK)) return 0;
    const uint64_t nb = vks__orth_block_size(ctx, dt), es = vks__dtype_bytes(dt);
    const uint64_t nblocks = VKS_CEIL_DIV((uint64_t)n, nb);
    return orth_round(batch * nblocks * nb * nb * es) + orth_round(batch * nb * (uint64_t)k * es);
}

/* x = b unless b is x itself (the solves then work in place on x). */
static vks_status trsm_copy_rhs(vks_context *ctx, orth_mat b, orth_mat x) {
    if (b.address == x.address && b.row_stride == x.row_stride && b.col_stride == x.col_stride &&
        b.batch_stride == x.batch_stride)
        return VKS_OK;
    return vks__orth_copy(ctx, ORTH_COPY, &b, &x);
}

/* After block row [r0, r0 + kb) of x is solved (its values in xi): X_below -= L[below, i] X_i,
 * or for the transposed solve X_above -= L[i, above]^T X_i. Rows disjoint from xi's. */
static vks_status trsm_update_rest(vks_context *ctx, bool trans, orth_mat l, int64_t r0, int64_t kb, orth_mat xi,
                                   orth_mat x) {
    const int64_t n = x.rows, k = x.cols;
    if (!trans && r0 + kb < n)
        return vks__orth_gemm(ctx, -1.0, orth_sub(l, r0 + kb, r0, n - r0 - kb, kb), xi, 1.0,
                              orth_sub(x, r0 + kb, 0, n - r0 - kb, k));
    if (trans && r0 > 0)
        return vks__orth_gemm(ctx, -1.0, orth_t(orth_sub(l, r0, 0, kb, r0)), xi, 1.0, orth_sub(x, 0, 0, r0, k));
    return VKS_OK;
}

/* The blocked solve on CPU devices with at most 32 columns: per block row the diagonal system
 * solved in place by the one-dispatch kernel (no inverse, no temporary, no copy back), then
 * the rows below (above, transposed) updated by a GEMM reading X_i where it lies: 2 dispatches
 * per block row instead of 3, and no inversion dispatch. Measured on lavapipe 1.2-3x faster at
 * 16 and 32 columns; at 64 a tie or slower, at 512 slower (each invocation re-reads the
 * diagonal block, where the inverse's GEMM shares it), so wider b keeps the inverse path. */
static vks_status trsm_blocked_cpu(vks_context *ctx, bool trans, orth_mat l, orth_mat b, orth_mat x) {
    const int64_t n = x.rows, k = x.cols, nb = vks__orth_block_size(ctx, x.dtype), nblocks = VKS_CEIL_DIV(n, nb);
    VKS_TRY(trsm_copy_rhs(ctx, b, x));
    for (int64_t s = 0; s < nblocks; ++s) {
        const int64_t blk = trans ? nblocks - 1 - s : s;
        const int64_t r0 = blk * nb, kb = VKS_MIN(nb, n - r0);
        const orth_mat xi = orth_sub(x, r0, 0, kb, k);
        VKS_TRY(trsm_small(ctx, trans, orth_sub(l, r0, r0, kb, kb), xi, xi));
        VKS_TRY(trsm_update_rest(ctx, trans, l, r0, kb, xi, x));
    }
    return VKS_OK;
}

vks_status vks__orth_trsm_record(vks_context *ctx, bool trans, orth_mat l, orth_mat b, orth_mat x, orth_ws *ws) {
    const vks_dtype dt = x.dtype;
    const int64_t n = x.rows, k = x.cols, batch = x.batch;
    if (trsm_small_fits(ctx, dt, n, k)) return trsm_small(ctx, trans, l, b, x);
    if (vks__cpu_kernels(ctx) && k <= TRSM_CPU_FUSED_MAXK) return trsm_blocked_cpu(ctx, trans, l, b, x);
    const uint32_t nb = vks__orth_block_size(ctx, dt);
    const int64_t nblocks = VKS_CEIL_DIV(n, (int64_t)nb);
    const size_t es = vks__dtype_bytes(dt);
    const int64_t lbatch = l.batch_stride == 0 ? 1 : batch;
    const VkDeviceAddress inv = vks__orth_take(ws, lbatch * nblocks * nb * nb * es);
    const VkDeviceAddress tmp = vks__orth_take(ws, batch * nb * k * es);
    inv_push ip = {.l = l.address,
                   .w = inv,
                   .l_bs = (uint64_t)l.batch_stride,
                   .l_rs = (uint32_t)l.row_stride,
                   .l_cs = (uint32_t)l.col_stride,
                   .n = (uint32_t)n,
                   .nblocks = (uint32_t)nblocks};
    const vks_spec ispec = {.count = 2, .values = {vks__cpu_kernels(ctx) ? 64u : 256u, nb}};
    VKS_TRY(vks__dispatch(ctx, vks__orth_pick(dt, VKS_SHADER_ORTHOGONAL_TRI_INV_F32, VKS_SHADER_ORTHOGONAL_TRI_INV_F64), &ispec,
                          &ip, sizeof ip, (uint32_t)nblocks, 1, (uint32_t)lbatch));
    VKS_TRY(trsm_copy_rhs(ctx, b, x));
    for (int64_t s = 0; s < nblocks; ++s) {
        const int64_t blk = trans ? nblocks - 1 - s : s;
        const int64_t r0 = blk * nb, kb = VKS_MIN((int64_t)nb, n - r0);
        orth_mat wi = orth_dense(inv + (uint64_t)blk * nb * nb * es, dt, lbatch, kb, kb);
        wi.row_stride = nb;
        wi.batch_stride = l.batch_stride == 0 ? 0 : nblocks * nb * nb;
        const orth_mat xi = orth_sub(x, r0, 0, kb, k);
        const orth_mat t = orth_dense(tmp, dt, batch, kb, k);
        /* X_i = inv(L_ii) X_i (or inv(L_ii)^T X_i) through t: a GEMM may not write its input. */
        VKS_TRY(vks__orth_gemm(ctx, 1.0, trans ? orth_t(wi) : wi, xi, 0.0, t));
        VKS_TRY(vks__orth_copy(ctx, ORTH_COPY, &t, &xi));
        VKS_TRY(trsm_update_rest(ctx, trans, l, r0, kb, t, x));
    }
    return VKS_OK;
}

vks_status vks__trsm_record(vks_context *ctx, bool trans, orth_mat l, orth_mat b, orth_mat x, const char *fn) {
    if (x.rows == 0 || x.cols == 0 || x.batch == 0) return VKS_OK;
    vks_status st = vks__op_begin(ctx, "trsm"); /* its workspace is given back at the end */
    orth_ws ws;
    if (st == VKS_OK) st = vks__orth_ws_begin(ctx, vks__orth_trsm_ws_bytes(ctx, x.dtype, x.batch, x.rows, x.cols), &ws);
    if (st == VKS_OK) st = vks__orth_trsm_record(ctx, trans, l, b, x, &ws);
    if (st == VKS_OK) st = vks__orth_ws_check(&ws, fn);
    vks__op_end(ctx);
    return st;
}

typedef struct trsm_call {
    const char *fn;
    vks_transpose trans;
    const vks_tensor *l, *b, *x;
    orth_mat ml, mb, mx;
} trsm_call;

static vks_status trsm_check(vks_context *ctx, void *call, bool *empty) {
    trsm_call *c = call;
    const char *fn = c->fn;
    const vks_tensor *l = c->l, *b = c->b, *x = c->x;
    if (c->trans != VKS_NO_TRANS && c->trans != VKS_TRANS)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: trans = %d, expected VKS_NO_TRANS or VKS_TRANS", fn,
                          (int)c->trans);
    orth_mat ml, mb, mx;
    VKS_TRY(vks__orth_view(ctx, l, fn, "l", &ml));
    VKS_TRY(vks__orth_view(ctx, b, fn, "b", &mb));
    VKS_TRY(vks__orth_out_view(ctx, x, fn, "x", &mx));
    if (ml.dtype != mb.dtype || mx.dtype != mb.dtype)
        return vks__error(VKS_ERROR_DTYPE_MISMATCH, "%s: l, b, x have dtypes %s, %s, %s; expected all the same", fn,
                          vks__dtype_name(ml.dtype), vks__dtype_name(mb.dtype), vks__dtype_name(mx.dtype));
    VKS_TRY(vks__check_float_dtype(ctx, ml.dtype, fn, "l"));
    if (ml.rows != ml.cols)
        return vks__error(VKS_ERROR_SHAPE_MISMATCH, "%s: l is %lld x %lld; expected a square matrix", fn,
                          (long long)ml.rows, (long long)ml.cols);
    if (mb.rows != ml.rows)
        return vks__error(VKS_ERROR_SHAPE_MISMATCH, "%s: b has %lld rows but l is %lld x %lld", fn, (long long)mb.rows,
                          (long long)ml.rows, (long long)ml.cols);
    if (mx.rows != mb.rows || mx.cols != mb.cols || mx.batch != mb.batch)
        return vks__error(VKS_ERROR_SHAPE_MISMATCH,
                          "%s: x is (%lld, %lld) x batch %lld; expected b's (%lld, %lld) x %lld", fn,
                          (long long)mx.rows, (long long)mx.cols, (long long)mx.batch, (long long)mb.rows,
                          (long long)mb.cols, (long long)mb.batch);
    if (ml.batch != mb.batch && !(ml.batch == 1 && l->ndim == 2))
        return vks__error(VKS_ERROR_SHAPE_MISMATCH, "%s: l has batch %lld but b has %lld; expected equal (or a rank-2 l)",
                          fn, (long long)ml.batch, (long long)mb.batch);
    const vks_arg outs[] = {{x, "x", "b"}}, ins[] = {{b, "b", NULL}, {l, "l", NULL}};
    VKS_TRY(vks__check_no_alias(outs, 1, ins, 2, fn));
    if (ml.batch == 1) ml.batch_stride = 0; /* one l for every batch entry */
    c->ml = ml, c->mb = mb, c->mx = mx;
    *empty = mx.rows == 0 || mx.cols == 0 || mx.batch == 0;
    return VKS_OK;
}

static vks_status trsm_run(vks_context *ctx, void *call) {
    const trsm_call *c = call;
    return vks__trsm_record(ctx, c->trans == VKS_TRANS, c->ml, c->mb, c->mx, c->fn);
}

vks_status vks_trsm(vks_context *ctx, vks_transpose trans, const vks_tensor *l, const vks_tensor *b,
                    const vks_tensor *x) {
    trsm_call call = {.fn = "vks_trsm", .trans = trans, .l = l, .b = b, .x = x};
    const vks_op op = {.fn = call.fn, .name = "trsm", .validate = trsm_check, .record = trsm_run};
    return vks__op_run(ctx, &op, &call);
}
