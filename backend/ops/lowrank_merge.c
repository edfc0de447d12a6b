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

typedef struct merge_call {
    const char *fn;
    const vks_tensor *w, *a, *b;
    double scale, sign;
    vks_gemm_args g;
} merge_call;

static vks_status merge_check(vks_context *ctx, void *call, bool *empty) {
    merge_call *c = call;
    const char *fn = c->fn;
    lr_mat mw, ma, mb;
    VKS_TRY(vks__rows_view(ctx, c->w, 2, 2, false, fn, "w", &mw));
    VKS_TRY(vks__check_dtype_in(ctx, mw.dtype, VKS_LR_DTYPES, fn, "w"));
    VKS_TRY(vks__rows_view(ctx, c->a, 2, 2, false, fn, "a", &ma));
    VKS_TRY(vks__rows_view(ctx, c->b, 2, 2, false, fn, "b", &mb));
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
    VKS_TRY(vks__check_output_rows(&mw, fn, "w"));
    const vks_arg outs[] = {{c->w, "w", NULL}}, ins[] = {{c->a, "a", NULL}, {c->b, "b", NULL}};
    VKS_TRY(vks__check_no_alias(outs, 1, ins, 2, fn));
    *empty = out == 0 || in == 0;
    c->g = (vks_gemm_args){.dtype = mw.dtype,
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
                           .alpha = c->sign * c->scale,
                           .beta = 1.0,
                           .activation = VKS_ACT_NONE};
    return VKS_OK;
}

static vks_status merge_record(vks_context *ctx, void *call) { return vks__gemm_record(ctx, &((merge_call *)call)->g); }

static vks_status merge(vks_context *ctx, const char *fn, const vks_tensor *w, const vks_tensor *a,
                        const vks_tensor *b, double scale, double sign) {
    merge_call call = {.fn = fn, .w = w, .a = a, .b = b, .scale = scale, .sign = sign};
    const vks_op op = {.fn = fn, .name = sign > 0 ? "lora_merge" : "lora_unmerge", .validate = merge_check,
                       .record = merge_record};
    return vks__op_run(ctx, &op, &call);
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
    return vks__check_dtype_in(ctx, g->dtype, VKS_DTYPES_F32 | VKS_DTYPES_F16 | VKS_DTYPES_F64, fn, "g");
}

/* What the GEMM would otherwise reject under its own argument names: batches, and an output
 * whose matrices or rows collide or that aliases an input. */
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
    const vks_arg outs[] = {{out, out_name, NULL}}, ins[] = {{in0, name0, NULL}, {in1, name1, NULL}};
    return vks__check_no_alias(outs, 1, ins, 2, fn);
}

static vks_status check_side(vks_galore_side side, const char *fn) {
    if (side == VKS_GALORE_AUTO || side == VKS_GALORE_RIGHT || side == VKS_GALORE_LEFT) return VKS_OK;
    return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: side = %d, expected VKS_GALORE_AUTO, _RIGHT or _LEFT", fn,
                      (int)side);
}

/* The shapes both directions share: G (m, n); RIGHT: P (rank, n), R (m, rank); LEFT:
 * P (m, rank), R (rank, n). Resolves AUTO as GaLore does (m >= n: RIGHT). */
static vks_status galore_check(vks_context *ctx, const char *fn, bool back, vks_galore_side *side, const vks_tensor *g,
                               const vks_tensor *p, const vks_tensor *r) {
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

/* One GaLore product: its shapes (galore_check), then the GEMM's own checks under the GaLore
 * function's name. */
typedef struct galore_call {
    const char *fn;
    bool back;
    vks_galore_side side;
    const vks_tensor *g, *p, *r;
    double scale;
    vks_gemm_args gemm;
} galore_call;

static vks_status galore_validate(vks_context *ctx, void *call, bool *empty) {
    galore_call *c = call;
    VKS_TRY(galore_check(ctx, c->fn, c->back, &c->side, c->g, c->p, c->r));
    vks_gemm_desc d = VKS_GEMM_DESC_INIT;
    const bool right = c->side == VKS_GALORE_RIGHT;
    if (!c->back) { /* RIGHT: R = G P^T; LEFT: R = P^T G */
        d.trans_a = right ? VKS_NO_TRANS : VKS_TRANS, d.trans_b = right ? VKS_TRANS : VKS_NO_TRANS;
        d.a = right ? c->g : c->p, d.b = right ? c->p : c->g, d.c = c->r, d.alpha = 1.0;
    } else { /* RIGHT: G = scale R P; LEFT: G = scale P R */
        d.a = right ? c->r : c->p, d.b = right ? c->p : c->r, d.c = c->g, d.alpha = c->scale;
    }
    return vks__gemm_check(ctx, &d, c->fn, &c->gemm, empty);
}

static vks_status galore_record(vks_context *ctx, void *call) { return vks__gemm_record(ctx, &((galore_call *)call)->gemm); }

vks_status vks_galore_project(vks_context *ctx, vks_galore_side side, const vks_tensor *g, const vks_tensor *p,
                              const vks_tensor *r) {
    galore_call call = {.fn = "vks_galore_project", .side = side, .g = g, .p = p, .r = r};
    const vks_op op = {.fn = call.fn, .name = "galore_project", .validate = galore_validate, .record = galore_record};
    return vks__op_run(ctx, &op, &call);
}

vks_status vks_galore_project_back(vks_context *ctx, vks_galore_side side, const vks_tensor *r, const vks_tensor *p,
                                   double scale, const vks_tensor *g) {
    galore_call call = {.fn = "vks_galore_project_back", .back = true, .side = side, .g = g, .p = p, .r = r,
                        .scale = scale};
    const vks_op op = {.fn = call.fn, .name = "galore_project_back", .validate = galore_validate,
                       .record = galore_record};
    return vks__op_run(ctx, &op, &call);
}
