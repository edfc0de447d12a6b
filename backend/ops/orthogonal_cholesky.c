/*
 * Batched Cholesky (f32/f64), blocked so that most of the work is the SYRK:
 *   right-looking, per diagonal block of NB columns:
 *     1. the diagonal block L11 factored in place;
 *     2. the panel L21 = A21 inv(L11)^T;
 *     3. A22 -= L21 L21^T (SYRK, lower triangle, in place).
 *   CPU devices' kernels (subgroup_diag, NB = 64): step 1 by one subgroup per matrix with
 *   shuffles (orthogonal_chol_sgdiag, no barrier in the factorization); the same dispatch does
 *   step 2 (with that subgroup, or 64 invocations after one barrier) when its loops fit
 *   lavapipe's limit, else step 2 is the one-dispatch triangular solve in place
 *   (vks__orth_trsm_small): 2 or 3 dispatches per block column, no workspace.
 *   Other kernels (GPUs): step 1 by one workgroup with barriers (orthogonal_chol_diag), which
 *   writes inv(L11); step 2 a copy of A21 and a GEMM with it (or, on a CPU device run with
 *   the GPU kernels, solved by that workgroup in the same dispatch).
 *   A failing pivot is recorded on the device; orthogonal_chol_fixup clears what was
 *   computed after it, so the output never holds NaN.
 *   Batches of matrices with n <= NB (where a workgroup can be one subgroup): one dispatch of
 *   orthogonal_chol_small, one subgroup per matrix, the status and info written by it.
 * Lookahead (the next block column's update first, the rest of the SYRK overlapping the next
 * diagonal step) is not done: docs/orthogonal.md says what it measured.
 * Triangular solves: orthogonal_trsm.c.
 */
#include <stdlib.h>
#include <string.h>

#include "orthogonal_internal.h"

/* ---- Cholesky ------------------------------------------------------------------------------- */

typedef struct diag_push {
    uint64_t l, w, status, l_bs;
    uint32_t l_rs, l_cs, k0, kb;
    uint32_t rest, pad; /* rest > 0: the kernel also solves the rest x kb panel below the block */
} diag_push;
_Static_assert(sizeof(diag_push) == 56, "diag_push mirrors shaders/orthogonal_chol_diag.comp");

typedef struct fixup_push {
    uint64_t l, status, info, l_bs;
    uint32_t l_rs, l_cs, n, pad;
} fixup_push;
_Static_assert(sizeof(fixup_push) == 48, "fixup_push mirrors shaders/orthogonal_chol_fixup.comp");

typedef struct small_push {
    uint64_t a, l, status, info, a_bs, l_bs;
    uint32_t a_rs, a_cs, l_rs, l_cs, n, pad;
} small_push;
_Static_assert(sizeof(small_push) == 72, "small_push mirrors shaders/orthogonal_chol_small.comp");

/* The one-subgroup kernel needs a workgroup of exactly one subgroup: a fixed subgroup size or
 * one the pipeline can require. */
static bool one_subgroup_workgroups(const vks_context *ctx) {
    const vks_device_info *di = &ctx->probe.info;
    return di->subgroup_size >= 4 &&
           (vks__has_feature(ctx, VKS_FEATURE_SUBGROUP_CONTROL) || di->min_subgroup_size == di->max_subgroup_size);
}

static bool small_kernel_fits(const vks_context *ctx, int64_t n, uint32_t nb) {
    return n <= (int64_t)nb && one_subgroup_workgroups(ctx);
}

/* The blocked path's diagonal blocks by one subgroup each (orthogonal_chol_sgdiag) on CPU
 * devices' kernels, where it measured faster than the workgroup kernel with barriers
 * (docs/bench/lavapipe/issue13-cholesky.md); GPUs keep orthogonal_chol_diag, which no
 * measurement on a GPU has compared yet. */
static bool subgroup_diag(const vks_context *ctx) { return vks__cpu_kernels(ctx) && one_subgroup_workgroups(ctx); }

/* The subgroup kernel's workgroup: one subgroup, or 64 invocations (its first subgroup
 * factoring, all of them solving the panel after one barrier). It solves the panel when an
 * invocation's loops stay well inside lavapipe's 65535 iterations (the factorization's and the
 * panel's, a row per invocation at a time): with one subgroup where that suffices (fewer idle
 * invocations and no barrier among subgroups: measured faster on batches of small matrices),
 * else with 64 (measured faster than the separate solve at n = 256-1024). Returns the
 * workgroup size, 0 when neither fits: the panel is then the one-dispatch triangular solve in
 * place (a row per invocation, every SG rows a workgroup), and the kernel one subgroup. */
#define SUBGROUP_DIAG_WIDE 64u
static uint32_t subgroup_panel_workgroup(int64_t rest, int64_t kb, uint32_t sg, uint32_t nb) {
    const int64_t rpl = VKS_CEIL_DIV((int64_t)nb, (int64_t)sg); /* block rows per lane */
    const int64_t factor = kb * (rpl + (kb + 1) / 2 * (rpl + 1)) + 2 * rpl * kb, panel_rows = kb * (kb + 7) / 2;
    const uint32_t wide = VKS_MAX(SUBGROUP_DIAG_WIDE, sg);
    if (factor + VKS_CEIL_DIV(rest, (int64_t)sg) * panel_rows <= 50000) return sg;
    if (factor + VKS_CEIL_DIV(rest, (int64_t)wide) * panel_rows <= 50000) return wide;
    return 0;
}

/* The Cholesky's block: 64 with the subgroup kernel where its factor fits in shared memory
 * (lavapipe: f64 fills its 32 KiB exactly), which halves the dispatches and the passes of the
 * trailing update over the matrix against 32; its loops stay inside lavapipe's limit at 64
 * (not at 96). Otherwise the block of the other kernels. */
static uint32_t chol_block_size(const vks_context *ctx, vks_dtype dt) {
    if (subgroup_diag(ctx) && 64u * 64u * vks__dtype_bytes(dt) <= ctx->probe.info.max_shared_memory_bytes) return 64;
    return vks__orth_block_size(ctx, dt);
}

static vks_status cholesky_small(vks_context *ctx, orth_mat a, orth_mat l, VkDeviceAddress status,
                                 VkDeviceAddress info, uint32_t nb) {
    const uint32_t sg = ctx->probe.info.subgroup_size;
    const small_push sp = {.a = a.address,
                           .l = l.address,
                           .status = status,
                           .info = info,
                           .a_bs = (uint64_t)a.batch_stride,
                           .l_bs = (uint64_t)l.batch_stride,
                           .a_rs = (uint32_t)a.row_stride,
                           .a_cs = (uint32_t)a.col_stride,
                           .l_rs = (uint32_t)l.row_stride,
                           .l_cs = (uint32_t)l.col_stride,
                           .n = (uint32_t)l.rows};
    const vks_spec spec = {.count = 3,
                           .values = {sg, nb, sg},
                           .required_subgroup_size = vks__has_feature(ctx, VKS_FEATURE_SUBGROUP_CONTROL) ? sg : 0};
    return vks__dispatch(ctx, vks__orth_pick(l.dtype, VKS_SHADER_ORTHOGONAL_CHOL_SMALL_F32, VKS_SHADER_ORTHOGONAL_CHOL_SMALL_F64),
                         &spec, &sp, sizeof sp, 1, 1, (uint32_t)l.batch);
}

/* The panel solved inside the diagonal block's dispatch (one workgroup per matrix, a row per
 * invocation) on CPU devices, where it measures faster than the copy + GEMM and the panel's
 * O(n nb^2) work is small beside the SYRK; while an invocation's loops stay well inside
 * lavapipe's 65535 iterations. GPUs keep the GEMM, which spreads the panel over the device. */
static bool panel_fused(const vks_context *ctx, int64_t rest, int64_t kb, uint32_t threads) {
    if (rest <= 0 || ctx->probe.info.type != VKS_DEVICE_CPU) return false;
    return VKS_CEIL_DIV(rest, (int64_t)threads) * (kb * (kb + 5) / 2) <= 40000;
}

uint64_t vks__orth_cholesky_ws_bytes(const vks_context *ctx, vks_dtype dt, int64_t batch, int64_t n) {
    if (subgroup_diag(ctx)) return 0; /* no inverse, no copy of the panel */
    const uint64_t nb = chol_block_size(ctx, dt), es = vks__dtype_bytes(dt);
    return orth_round(batch * nb * nb * es) + orth_round(batch * (uint64_t)n * nb * es);
}

vks_status vks__orth_cholesky_record(vks_context *ctx, orth_mat a, orth_mat l, VkDeviceAddress status, VkDeviceAddress info,
                                orth_ws *ws) {
    const vks_dtype dt = l.dtype;
    const int64_t n = l.rows, batch = l.batch;
    const uint32_t nb = chol_block_size(ctx, dt);
    const size_t es = vks__dtype_bytes(dt);
    const bool sgd = subgroup_diag(ctx);
    const VkDeviceAddress w = sgd ? 0 : vks__orth_take(ws, batch * nb * nb * es);
    const VkDeviceAddress panel = sgd ? 0 : vks__orth_take(ws, batch * (uint64_t)n * nb * es);
    if (small_kernel_fits(ctx, n, nb)) return cholesky_small(ctx, a, l, status, info, nb);
    VKS_TRY(vks__orth_ws_fill(ctx, status, 8 * (uint64_t)batch, 0xFFFFFFFFu)); /* -1: no failure */
    if (a.address == l.address && a.row_stride == l.row_stride && a.col_stride == l.col_stride)
        VKS_TRY(vks__orth_copy(ctx, ORTH_ZERO_UPPER, NULL, &l));
    else VKS_TRY(vks__orth_copy(ctx, ORTH_COPY_LOWER, &a, &l));
    const uint32_t threads = vks__cpu_kernels(ctx) ? 64u : 256u, sg = ctx->probe.info.subgroup_size;
    const vks_spec dspec = {.count = 2, .values = {threads, nb}};
    const uint32_t req_sg = vks__has_feature(ctx, VKS_FEATURE_SUBGROUP_CONTROL) ? sg : 0;
    for (int64_t k0 = 0; k0 < n; k0 += nb) {
        const int64_t kb = VKS_MIN((int64_t)nb, n - k0), rest = n - k0 - kb;
        /* The diagonal block (and the panel below it when fused) in one dispatch. */
        const uint32_t sgwg = sgd && rest > 0 ? subgroup_panel_workgroup(rest, kb, sg, nb) : 0;
        const bool fused = sgd ? sgwg != 0 : panel_fused(ctx, rest, kb, threads);
        const diag_push dp = {.l = l.address,
                              .w = w,
                              .status = status,
                              .l_bs = (uint64_t)l.batch_stride,
                              .l_rs = (uint32_t)l.row_stride,
                              .l_cs = (uint32_t)l.col_stride,
                              .k0 = (uint32_t)k0,
                              .kb = (uint32_t)kb,
                              .rest = fused ? (uint32_t)rest : 0};
        const vks_spec sgspec = {.count = 3, .values = {fused ? sgwg : sg, nb, sg}, .required_subgroup_size = req_sg};
        VKS_TRY(vks__dispatch(ctx,
                              sgd ? vks__orth_pick(dt, VKS_SHADER_ORTHOGONAL_CHOL_SGDIAG_F32, VKS_SHADER_ORTHOGONAL_CHOL_SGDIAG_F64)
                                  : vks__orth_pick(dt, VKS_SHADER_ORTHOGONAL_CHOL_DIAG_F32, VKS_SHADER_ORTHOGONAL_CHOL_DIAG_F64),
                              sgd ? &sgspec : &dspec, &dp, sizeof dp, 1, 1, (uint32_t)batch));
        if (!rest) break;
        const orth_mat l21 = orth_sub(l, k0 + kb, k0, rest, kb);
        if (!fused && sgd) { /* L21^T = inv(L11) A21^T in place, by the one-dispatch solve */
            const orth_mat l21t = orth_t(l21);
            VKS_TRY(vks__orth_trsm_small(ctx, false, orth_sub(l, k0, k0, kb, kb), l21t, l21t, nb));
        } else if (!fused) { /* L21 = A21 inv(L11)^T through a copy of A21 (a GEMM may not write its input) */
            const orth_mat p21 = orth_dense(panel, dt, batch, rest, kb);
            orth_mat winv = orth_dense(w, dt, batch, kb, kb);
            winv.row_stride = nb, winv.batch_stride = (int64_t)nb * nb;
            VKS_TRY(vks__orth_copy(ctx, ORTH_COPY, &l21, &p21));
            VKS_TRY(vks__orth_gemm(ctx, 1.0, p21, orth_t(winv), 0.0, l21));
        }
        /* A22 -= L21 L21^T, lower triangle in place. */
        const orth_mat l22 = orth_sub(l, k0 + kb, k0 + kb, rest, rest);
        const orth_syrk_args sy = {.s = l21, .cin = l22, .cout = l22, .alpha = -1.0, .beta = 1.0, .mirror = false};
        VKS_TRY(vks__orth_syrk(ctx, &sy));
    }
    fixup_push fp = {.l = l.address,
                     .status = status,
                     .info = info,
                     .l_bs = (uint64_t)l.batch_stride,
                     .l_rs = (uint32_t)l.row_stride,
                     .l_cs = (uint32_t)l.col_stride,
                     .n = (uint32_t)n};
    const vks_spec fspec = {.count = 1, .values = {64}};
    return vks__dispatch(ctx, vks__orth_pick(dt, VKS_SHADER_ORTHOGONAL_CHOL_FIXUP_F32, VKS_SHADER_ORTHOGONAL_CHOL_FIXUP_F64),
                         &fspec, &fp, sizeof fp, (uint32_t)VKS_CEIL_DIV(n, 64), (uint32_t)VKS_MIN(n, 256),
                         (uint32_t)batch);
}

/* Reads the per-matrix status words and turns the first failure into a status + message. */
static vks_status cholesky_status(vks_context *ctx, VkDeviceAddress status, int64_t batch, const char *fn) {
    int32_t *st = vks__malloc(8 * (size_t)batch);
    if (!st) return vks__error(VKS_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", fn);
    vks_status r = vks__orth_ws_read(ctx, status, st, 8 * (uint64_t)batch);
    for (int64_t z = 0; r == VKS_OK && z < batch; ++z) {
        if (st[2 * z] < 0) continue;
        if (st[2 * z + 1])
            r = vks__error(VKS_ERROR_NON_FINITE,
                           "%s: a (matrix %lld of the batch) holds NaN or Inf (reached at pivot %d); its l was set to 0",
                           fn, (long long)z, st[2 * z]);
        else
            r = vks__error(VKS_ERROR_NOT_POSITIVE_DEFINITE,
                           "%s: a (matrix %lld of the batch) is not positive definite: pivot %d (0-based) is not > 0; "
                           "l holds the factor's first %d columns and zeros after them",
                           fn, (long long)z, st[2 * z], st[2 * z]);
    }
    vks__free(st);
    return r;
}

vks_status vks__cholesky_record(vks_context *ctx, orth_mat a, orth_mat l, VkDeviceAddress info, const char *fn) {
    if (a.rows == 0 || a.batch == 0) return VKS_OK;
    vks_status st = vks__op_begin(ctx, "cholesky"); /* its workspace is given back at the end */
    orth_ws ws;
    if (st == VKS_OK)
        st = vks__orth_ws_begin(
            ctx, orth_round(8 * (uint64_t)a.batch) + vks__orth_cholesky_ws_bytes(ctx, a.dtype, a.batch, a.rows), &ws);
    if (st == VKS_OK) {
        const VkDeviceAddress status = vks__orth_take(&ws, 8 * (uint64_t)a.batch);
        st = vks__orth_cholesky_record(ctx, a, l, status, info, &ws);
        if (st == VKS_OK && !info) st = cholesky_status(ctx, status, a.batch, fn);
    }
    if (st == VKS_OK) st = vks__orth_ws_check(&ws, fn);
    vks__op_end(ctx);
    return st;
}

typedef struct cholesky_call {
    const char *fn;
    const vks_tensor *a, *l;
    vks_cholesky_options o; /* the library's full copy of the caller's, or the defaults */
    orth_mat ma, ml;
} cholesky_call;

static vks_status cholesky_check(vks_context *ctx, void *call, bool *empty) {
    cholesky_call *c = call;
    const char *fn = c->fn;
    const vks_tensor *a = c->a, *l = c->l;
    orth_mat ma, ml;
    VKS_TRY(vks__orth_view(ctx, a, fn, "a", &ma));
    VKS_TRY(vks__orth_out_view(ctx, l, fn, "l", &ml));
    if (ma.dtype != ml.dtype)
        return vks__error(VKS_ERROR_DTYPE_MISMATCH, "%s: a has dtype %s but l has %s; expected the same", fn,
                          vks__dtype_name(ma.dtype), vks__dtype_name(ml.dtype));
    VKS_TRY(vks__check_float_dtype(ctx, ma.dtype, fn, "a"));
    if (ma.rows != ma.cols)
        return vks__error(VKS_ERROR_SHAPE_MISMATCH, "%s: a is %lld x %lld; expected a square matrix", fn,
                          (long long)ma.rows, (long long)ma.cols);
    if (ml.rows != ma.rows || ml.cols != ma.cols || ml.batch != ma.batch || l->ndim != a->ndim)
        return vks__error(VKS_ERROR_SHAPE_MISMATCH,
                          "%s: l has shape (%lld, %lld) x batch %lld; expected a's (%lld, %lld) x %lld", fn,
                          (long long)ml.rows, (long long)ml.cols, (long long)ml.batch, (long long)ma.rows,
                          (long long)ma.cols, (long long)ma.batch);
    if (ml.col_stride != 1 && ml.rows > 1)
        return vks__error(VKS_ERROR_UNSUPPORTED, "%s: l has strides (%lld, %lld); l must have a unit column stride", fn,
                          (long long)ml.row_stride, (long long)ml.col_stride);
    const vks_tensor *info = c->o.info;
    if (info) VKS_TRY(vks__orth_check_info(ctx, info, ma.batch, fn, "options->info"));
    const vks_arg outs[] = {{l, "l", "a"}, {info, "options->info", NULL}}, ins[] = {{a, "a", NULL}};
    VKS_TRY(vks__check_no_alias(outs, 2, ins, 1, fn));
    c->ma = ma, c->ml = ml;
    *empty = ma.rows == 0 || ma.batch == 0;
    return VKS_OK;
}

static vks_status cholesky_run(vks_context *ctx, void *call) {
    const cholesky_call *c = call;
    const vks_tensor *info = c->o.info;
    return vks__cholesky_record(ctx, c->ma, c->ml, info ? vks__tensor_address(info) : 0, c->fn);
}

static vks_status cholesky(vks_context *ctx, const char *fn, const vks_tensor *a, const vks_tensor *l,
                           const vks_cholesky_options *options) {
    cholesky_call call = {.fn = fn, .a = a, .l = l};
    const vks_op op = {.fn = fn, .name = "cholesky", .desc = options, .desc_arg = "options",
                       .desc_type = VKS_STRUCT_CHOLESKY_OPTIONS, .desc_copy = &call.o, .desc_optional = true,
                       .validate = cholesky_check, .record = cholesky_run};
    return vks__op_run(ctx, &op, &call);
}

vks_status vks_cholesky_ex(vks_context *ctx, const vks_tensor *a, const vks_tensor *l,
                           const vks_cholesky_options *options) {
    return cholesky(ctx, "vks_cholesky_ex", a, l, options);
}

vks_status vks_cholesky(vks_context *ctx, const vks_tensor *a, const vks_tensor *l) {
    return cholesky(ctx, "vks_cholesky", a, l, NULL);
}
