/*
 * Low-rank family, part 3: LoRA merge/unmerge and GaLore's gradient projections. Both are
 * dense products recorded through the GEMM building block:
 *   merge    W = 1*W + (±s) * B A   in place: the f32 accumulator of s*B*A and W (read in
 *            f32) are added and rounded once into W's dtype, so unmerge after merge
 *            returns W to within that rounding (twice half an ulp).
 *   GaLore   R = G P^T or P^T G, back G = scale * R P or scale * P R, by GaLore's rule.
 */
#include <string.h>

#include "lowrank_internal.h"

static vks_status merge(vks_context *ctx, const char *fn, const vks_tensor *w, const vks_tensor *a,
                        const vks_tensor *b, double scale, double sign) {
    if (!ctx) return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: ctx is NULL", fn);
    lr_mat mw, ma, mb;
    VKS_TRY(vks__lr_rows_view(ctx, w, 2, fn, "w", &mw));
    VKS_TRY(vks__lr_check_dtype(ctx, mw.dtype, fn, "w"));
    VKS_TRY(vks__lr_rows_view(ctx, a, 2, fn, "a", &ma));
    VKS_TRY(vks__lr_rows_view(ctx, b, 2, fn, "b", &mb));
    if (ma.dtype != mw.dtype || mb.dtype != mw.dtype)
        return vks__error(VKS_ERROR_DTYPE_MISMATCH, "%s: w, a, b have dtypes %s, %s, %s; expected all the same", fn,
                          vks__dtype_name(mw.dtype), vks__dtype_name(ma.dtype), vks__dtype_name(mb.dtype));
    const int64_t out = mw.rows, in = mw.cols, r = ma.rows;
    if (ma.cols != in)
        return vks__error(VKS_ERROR_SHAPE_MISMATCH, "%s: a is %lld x %lld, expected (r, in) with in = %lld", fn,
                          (long long)ma.rows, (long long)ma.cols, (long long)in);
    if (mb.rows != out || mb.cols != r)
        return vks__error(VKS_ERROR_SHAPE_MISMATCH, "%s: b is %lld x %lld, expected (out, r) = %lld x %lld", fn,
                          (long long)mb.rows, (long long)mb.cols, (long long)out, (long long)r);
    if (mw.rows > 1 && mw.ld < in)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: w's row stride %lld is below its %lld columns (rows overlap)",
                          fn, (long long)mw.ld, (long long)in);
    VKS_TRY(vks__lr_check_no_overlap(w, a, fn, "w", "a"));
    VKS_TRY(vks__lr_check_no_overlap(w, b, fn, "w", "b"));
    if (out == 0 || in == 0) return VKS_OK;
    const vks_gemm_args g = {.dtype = mw.dtype,
                             .m = out,
                             .n = in,
                             .k = r,
                             .batch = 1,
                             .a = mb.address,
                             .b = ma.address,
                             .c = mw.address,
                             .a_rs = mb.ld,
                             .a_cs = 1,
                             .b_rs = ma.ld,
                             .b_cs = 1,
                             .c_rs = mw.ld,
                             .alpha = sign * scale,
                             .beta = 1.0,
                             .activation = VKS_ACT_NONE};
    vks__lock(ctx);
    vks_status st = vks__op_begin(ctx, sign > 0 ? "lora_merge" : "lora_unmerge");
    if (st == VKS_OK) st = vks__gemm_record(ctx, &g);
    vks__op_end(ctx);
    vks__unlock(ctx);
    return st;
}

vks_status vks_lora_merge(vks_context *ctx, const vks_tensor *w, const vks_tensor *a, const vks_tensor *b,
                          double scale) {
    return merge(ctx, "vks_lora_merge", w, a, b, scale, 1.0);
}

vks_status vks_lora_unmerge(vks_context *ctx, const vks_tensor *w, const vks_tensor *a, const vks_tensor *b,
                            double scale) {
    return merge(ctx, "vks_lora_unmerge", w, a, b, scale, -1.0);
}

/* ---- GaLore ----------------------------------------------------------------------------- */

static const char *side_name(vks_galore_side s) { return s == VKS_GALORE_RIGHT ? "RIGHT" : "LEFT"; }

static vks_status same_dtypes(vks_context *ctx, const vks_tensor *g, const vks_tensor *p, const vks_tensor *r,
                              const char *fn) {
    if (g->dtype != p->dtype || g->dtype != r->dtype)
        return vks__error(VKS_ERROR_DTYPE_MISMATCH, "%s: g, p, r have dtypes %s, %s, %s; expected all the same", fn,
                          vks__dtype_name(g->dtype), vks__dtype_name(p->dtype), vks__dtype_name(r->dtype));
    /* The GEMM's dtypes. */
    if (g->dtype == VKS_DTYPE_F64) return vks__check_float_dtype(ctx, g->dtype, fn, "g");
    if (g->dtype != VKS_DTYPE_F32 && g->dtype != VKS_DTYPE_F16)
        return vks__error(VKS_ERROR_UNSUPPORTED, "%s: g has dtype %s, expected f32, f16 or f64", fn,
                          vks__dtype_name(g->dtype));
    return vks__lr_check_dtype(ctx, g->dtype, fn, "g");
}

/* What the GEMM would otherwise reject under its own names: batches, and an output whose
 * matrices or rows collide or that aliases an input. */
static vks_status check_output(const vks_tensor *out, const vks_matrix *mo, const char *out_name, const vks_tensor *in0,
                               const vks_matrix *m0, const char *name0, const vks_tensor *in1, const vks_matrix *m1,
                               const char *name1, const char *fn) {
    const vks_matrix *ms[2] = {m0, m1};
    const char *names[2] = {name0, name1};
    for (int i = 0; i < 2; ++i)
        if (ms[i]->batch != mo->batch && ms[i]->batch != 1)
            return vks__error(VKS_ERROR_SHAPE_MISMATCH, "%s: %s has batch %lld, %s has %lld; expected equal or 1", fn,
                              names[i], (long long)ms[i]->batch, out_name, (long long)mo->batch);
    VKS_TRY(vks__check_output_matrix(mo, fn, out_name));
    VKS_TRY(vks__lr_check_no_overlap(out, in0, fn, out_name, name0));
    return vks__lr_check_no_overlap(out, in1, fn, out_name, name1);
}

static vks_status check_side(vks_galore_side side, const char *fn) {
    if (side == VKS_GALORE_AUTO || side == VKS_GALORE_RIGHT || side == VKS_GALORE_LEFT) return VKS_OK;
    return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: side = %d, expected VKS_GALORE_AUTO, _RIGHT or _LEFT", fn,
                      (int)side);
}

/* Runs a GEMM as part of the op `op`; its own checks (dtypes, batches, aliasing) apply. */
static vks_status galore_gemm(vks_context *ctx, const char *op, vks_transpose ta, vks_transpose tb, double alpha,
                              const vks_tensor *a, const vks_tensor *b, const vks_tensor *c) {
    vks__lock(ctx);
    vks_status st = vks__op_begin(ctx, op);
    if (st == VKS_OK) st = vks_gemm(ctx, ta, tb, alpha, a, b, 0.0, c);
    vks__op_end(ctx);
    vks__unlock(ctx);
    return st;
}

/* The shapes both directions share: G (m, n); RIGHT: P (rank, n), R (m, rank); LEFT:
 * P (m, rank), R (rank, n). Resolves AUTO as GaLore does (m >= n: RIGHT). */
static vks_status galore_check(vks_context *ctx, const char *fn, bool back, vks_galore_side *side, const vks_tensor *g,
                               const vks_tensor *p, const vks_tensor *r) {
    if (!ctx) return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: ctx is NULL", fn);
    VKS_TRY(check_side(*side, fn));
    vks_matrix mg, mp, mr;
    VKS_TRY(vks__matrix_view(ctx, g, fn, "g", &mg));
    VKS_TRY(vks__matrix_view(ctx, p, fn, "p", &mp));
    VKS_TRY(vks__matrix_view(ctx, r, fn, "r", &mr));
    VKS_TRY(same_dtypes(ctx, g, p, r, fn));
    if (back) VKS_TRY(check_output(g, &mg, "g", r, &mr, "r", p, &mp, "p", fn));
    else VKS_TRY(check_output(r, &mr, "r", g, &mg, "g", p, &mp, "p", fn));
    const int64_t m = mg.rows, n = mg.cols, pr = mp.rows, pc = mp.cols, rr = mr.rows, rc = mr.cols;
    if (*side == VKS_GALORE_AUTO) *side = m >= n ? VKS_GALORE_RIGHT : VKS_GALORE_LEFT;
    if (*side == VKS_GALORE_RIGHT) {
        if (pc != n)
            return vks__error(VKS_ERROR_SHAPE_MISMATCH, "%s: side %s: p is %lld x %lld, expected (rank, n) with n = %lld",
                              fn, side_name(*side), (long long)pr, (long long)pc, (long long)n);
        if (rr != m || rc != pr)
            return vks__error(VKS_ERROR_SHAPE_MISMATCH, "%s: side %s: r is %lld x %lld, expected (m, rank) = %lld x %lld",
                              fn, side_name(*side), (long long)rr, (long long)rc, (long long)m, (long long)pr);
        return VKS_OK;
    }
    if (pr != m)
        return vks__error(VKS_ERROR_SHAPE_MISMATCH, "%s: side %s: p is %lld x %lld, expected (m, rank) with m = %lld", fn,
                          side_name(*side), (long long)pr, (long long)pc, (long long)m);
    if (rr != pc || rc != n)
        return vks__error(VKS_ERROR_SHAPE_MISMATCH, "%s: side %s: r is %lld x %lld, expected (rank, n) = %lld x %lld", fn,
                          side_name(*side), (long long)rr, (long long)rc, (long long)pc, (long long)n);
    return VKS_OK;
}

vks_status vks_galore_project(vks_context *ctx, vks_galore_side side, const vks_tensor *g, const vks_tensor *p,
                              const vks_tensor *r) {
    VKS_TRY(galore_check(ctx, "vks_galore_project", false, &side, g, p, r));
    if (side == VKS_GALORE_RIGHT) /* R = G P^T */
        return galore_gemm(ctx, "galore_project", VKS_NO_TRANS, VKS_TRANS, 1.0, g, p, r);
    return galore_gemm(ctx, "galore_project", VKS_TRANS, VKS_NO_TRANS, 1.0, p, g, r); /* R = P^T G */
}

vks_status vks_galore_project_back(vks_context *ctx, vks_galore_side side, const vks_tensor *r, const vks_tensor *p,
                                   double scale, const vks_tensor *g) {
    VKS_TRY(galore_check(ctx, "vks_galore_project_back", true, &side, g, p, r));
    if (side == VKS_GALORE_RIGHT) /* G = scale R P */
        return galore_gemm(ctx, "galore_project_back", VKS_NO_TRANS, VKS_NO_TRANS, scale, r, p, g);
    return galore_gemm(ctx, "galore_project_back", VKS_NO_TRANS, VKS_NO_TRANS, scale, p, r, g); /* G = scale P R */
}
