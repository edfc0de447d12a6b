/*
 * Newton-Schulz polar iterations (Muon, Polar Express, classical cubic/quintic, custom), the
 * Gram variant for wide or tall matrices, and AuON / Hybrid-AuON — for one matrix, a batch,
 * or a list of matrices of any shapes in one call.
 *
 * Every matrix becomes an entry of a table; a few dispatches serve all of them at once:
 *   orthogonal_reduce (+ _finish)  the scale-safe Frobenius norm and a NaN/Inf flag per matrix;
 *   orthogonal_convert             X0 = G / (norm_factor ||G|| + eps) into an f32/f64 working
 *                                  copy, tall matrices transposed, matrices of one (wide) shape
 *                                  side by side so that they iterate as one batch;
 *   per shape, per step            A = X X^T (SYRK), B = c A A + b A + a I (SYRK with the
 *                                  polynomial in its epilogue), X = B X (GEMM);
 *   orthogonal_convert             the result back to the caller's dtype and layout.
 */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "orthogonal_internal.h"

/* ---- schedules ---------------------------------------------------------------------------------- */

#define NS_MAX_STEPS 100

/* Amsel et al. 2025, the paper's code: eight minimax quintics in full precision. The safety
 * factor (a/1.01, b/1.01^3, c/1.01^5) applies to the first seven list entries; step t uses
 * entry min(t, 7), so the eighth, unscaled, repeats from step 7 on. */
static const double polar_express[8][3] = {
    {8.28721201814563, -23.595886519098837, 17.300387312530933},
    {4.107059111542203, -2.9478499167379106, 0.5448431082926601},
    {3.9486908534822946, -2.908902115962949, 0.5518191394370137},
    {3.3184196573706015, -2.488488024314874, 0.51004894012372},
    {2.300652019954817, -1.6689039845747493, 0.4188073119525673},
    {1.891301407787398, -1.2679958271945868, 0.37680408948524835},
    {1.8750014808534479, -1.2500016453999487, 0.3750001645474248},
    {1.875, -1.25, 0.375},
};

static int32_t default_steps(vks_ns_schedule s) {
    switch (s) {
    case VKS_NS_CUBIC: return 18;
    case VKS_NS_QUINTIC: return 12;
    default: return 5;
    }
}

vks_status vks_newton_schulz_coefficients(vks_ns_schedule schedule, int32_t steps, double *abc, int32_t capacity_steps,
                                          int32_t *count) {
    static const char fn[] = "vks_newton_schulz_coefficients";
    if ((unsigned)schedule > VKS_NS_QUINTIC)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: schedule = %d has no built-in coefficients (0..3)", fn,
                          (int)schedule);
    if (steps < 0 || steps > NS_MAX_STEPS)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: steps = %d, expected 0..%d", fn, steps, NS_MAX_STEPS);
    if (!steps) steps = default_steps(schedule);
    if (count) *count = steps;
    if (!abc) return capacity_steps ? vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: abc is NULL", fn) : VKS_OK;
    if (capacity_steps < steps)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: capacity_steps = %d but the schedule has %d steps", fn,
                          capacity_steps, steps);
    for (int32_t t = 0; t < steps; ++t) {
        double a, b, c;
        switch (schedule) {
        case VKS_NS_MUON: a = 3.4445, b = -4.7750, c = 2.0315; break;
        case VKS_NS_CUBIC: a = 1.5, b = -0.5, c = 0.0; break;
        case VKS_NS_QUINTIC: a = 15.0 / 8, b = -10.0 / 8, c = 3.0 / 8; break;
        default: {
            const int k = t < 7 ? t : 7;
            a = polar_express[k][0], b = polar_express[k][1], c = polar_express[k][2];
            if (k < 7) a /= 1.01, b /= 1.01 * 1.01 * 1.01, c /= 1.01 * 1.01 * 1.01 * 1.01 * 1.01;
        }
        }
        abc[3 * t] = a, abc[3 * t + 1] = b, abc[3 * t + 2] = c;
    }
    return VKS_OK;
}

/* ---- the matrices of a call ----------------------------------------------------------------------- */

typedef struct ns_item {
    uint64_t src, dst;
    uint32_t rows, cols, src_rs, src_cs, dst_rs, dst_cs, scal, pad;
} ns_item;
_Static_assert(sizeof(ns_item) == 48, "ns_item mirrors shaders/common/orthogonal_items.glsl");

typedef struct ns_matrix {
    VkDeviceAddress g, out;
    int64_t rows, cols, g_rs, g_cs, o_rs, o_cs;
    int32_t group;
    int64_t slot;
} ns_matrix;

typedef struct ns_group {
    int64_t m, n, count; /* m <= n: the wide orientation the iteration uses */
    bool gram;
    VkDeviceAddress x[2], a, b, r[2], q[2];
    int cur; /* x[cur] holds the current iterate */
} ns_group;

typedef struct ns_call {
    const char *fn;
    vks_dtype dt, work; /* storage dtype; f32 or f64 working precision */
    ns_matrix *mats;
    int64_t nmat;
    ns_group *groups;
    int32_t ngroups;
} ns_call;

static void call_free(ns_call *c) {
    vks__free(c->mats);
    vks__free(c->groups);
}

/* The one aliasing rule over every out[i] (each may be its own g[i], in place), every g[i]
 * and the optional status tensor (an output too). */
static vks_status check_aliasing(uint32_t count, const vks_tensor *g, const vks_tensor *out, const vks_tensor *status,
                                 const char *fn) {
    vks_arg *args = vks__calloc(2 * (size_t)count + 1, sizeof *args);
    char(*names)[2][24] = vks__calloc(count, sizeof *names);
    if (!args || !names) {
        vks__free(args), vks__free(names);
        return vks__error(VKS_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", fn);
    }
    vks_arg *outs = args, *ins = args + count + 1;
    for (uint32_t i = 0; i < count; ++i) {
        snprintf(names[i][0], sizeof names[i][0], count > 1 ? "g[%u]" : "g", i);
        snprintf(names[i][1], sizeof names[i][1], count > 1 ? "out[%u]" : "out", i);
        outs[i] = (vks_arg){&out[i], names[i][1], names[i][0]};
        ins[i] = (vks_arg){&g[i], names[i][0], NULL};
    }
    outs[count] = (vks_arg){status, "options->status", NULL};
    const vks_status st = vks__check_no_alias(outs, (int)count + 1, ins, (int)count, fn);
    vks__free(args), vks__free(names);
    return st;
}

/* Validates g[i] -> out[i] and expands batches into c->mats. */
static vks_status collect(vks_context *ctx, uint32_t count, const vks_tensor *g, const vks_tensor *out, ns_call *c) {
    const char *fn = c->fn;
    if (!g || !out) return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: %s is NULL", fn, g ? "out" : "g");
    int64_t total = 0;
    for (uint32_t i = 0; i < count; ++i) {
        char ga[32], oa[32];
        snprintf(ga, sizeof ga, count > 1 ? "g[%u]" : "g", i);
        snprintf(oa, sizeof oa, count > 1 ? "out[%u]" : "out", i);
        orth_mat mg, mo;
        VKS_TRY(vks__orth_view(ctx, &g[i], fn, ga, &mg));
        VKS_TRY(vks__orth_out_view(ctx, &out[i], fn, oa, &mo));
        if (i == 0) c->dt = mg.dtype;
        if (mg.dtype != c->dt || mo.dtype != c->dt)
            return vks__error(VKS_ERROR_DTYPE_MISMATCH, "%s: %s has dtype %s and %s %s; expected %s (one dtype per call)",
                              fn, ga, vks__dtype_name(mg.dtype), oa, vks__dtype_name(mo.dtype), vks__dtype_name(c->dt));
        if (mo.rows != mg.rows || mo.cols != mg.cols || mo.batch != mg.batch || out[i].ndim != g[i].ndim)
            return vks__error(VKS_ERROR_SHAPE_MISMATCH, "%s: %s is (%lld, %lld) x batch %lld but %s is (%lld, %lld) x %lld",
                              fn, oa, (long long)mo.rows, (long long)mo.cols, (long long)mo.batch, ga,
                              (long long)mg.rows, (long long)mg.cols, (long long)mg.batch);
        total += mg.batch;
    }
    VKS_TRY(check_aliasing(count, g, out, NULL, fn));
    VKS_TRY(vks__check_dtype_in(ctx, c->dt, VKS_DTYPES_F32 | VKS_DTYPES_F16 | VKS_DTYPES_BF16 | VKS_DTYPES_F64, fn,
                                "g"));
    if (total > 1 << 20) return vks__error(VKS_ERROR_OUT_OF_RANGE, "%s: %lld matrices; at most 2^20 per call", fn, (long long)total);
    c->mats = vks__calloc((size_t)(total ? total : 1), sizeof *c->mats);
    if (!c->mats) return vks__error(VKS_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", fn);
    const size_t es = vks__dtype_bytes(c->dt);
    for (uint32_t i = 0; i < count; ++i) {
        orth_mat mg, mo;
        vks__orth_view(ctx, &g[i], fn, "g", &mg);
        vks__orth_view(ctx, &out[i], fn, "out", &mo);
        for (int64_t z = 0; z < mg.batch; ++z)
            c->mats[c->nmat++] = (ns_matrix){.g = mg.address + (uint64_t)(z * mg.batch_stride) * es,
                                             .out = mo.address + (uint64_t)(z * mo.batch_stride) * es,
                                             .rows = mg.rows,
                                             .cols = mg.cols,
                                             .g_rs = mg.row_stride,
                                             .g_cs = mg.col_stride,
                                             .o_rs = mo.row_stride,
                                             .o_cs = mo.col_stride};
    }
    c->work = c->dt == VKS_DTYPE_F64 ? VKS_DTYPE_F64 : VKS_DTYPE_F32;
    return VKS_OK;
}

/* Groups the (non-empty) matrices by their wide shape; gram decides Gram-NS per group. */
static vks_status make_groups(ns_call *c, vks_ns_gram gram) {
    c->groups = vks__calloc((size_t)(c->nmat ? c->nmat : 1), sizeof *c->groups);
    if (!c->groups) return vks__error(VKS_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", c->fn);
    for (int64_t i = 0; i < c->nmat; ++i) {
        ns_matrix *mt = &c->mats[i];
        const int64_t m = VKS_MIN(mt->rows, mt->cols), n = VKS_MAX(mt->rows, mt->cols);
        mt->group = -1;
        if (m == 0) continue;
        int32_t k = 0;
        while (k < c->ngroups && (c->groups[k].m != m || c->groups[k].n != n)) ++k;
        if (k == c->ngroups) {
            c->groups[k] = (ns_group){.m = m, .n = n};
            c->groups[k].gram = gram == VKS_NS_GRAM_ON || (gram == VKS_NS_GRAM_AUTO && n >= 4 * m);
            c->ngroups++;
        }
        mt->group = k;
        mt->slot = c->groups[k].count++;
    }
    return VKS_OK;
}

/* Bytes of the working copies of one group (ping-pong X, and the m x m matrices). */
static uint64_t group_bytes(const ns_group *gr, size_t es) {
    const uint64_t x = orth_round((uint64_t)gr->count * gr->m * gr->n * es), s = orth_round((uint64_t)gr->count * gr->m * gr->m * es);
    return 2 * x + (gr->gram ? 6 : 2) * s;
}

static void group_take(ns_group *gr, size_t es, orth_ws *ws) {
    const uint64_t x = (uint64_t)gr->count * gr->m * gr->n * es, s = (uint64_t)gr->count * gr->m * gr->m * es;
    gr->x[0] = vks__orth_take(ws, x), gr->x[1] = vks__orth_take(ws, x);
    gr->a = vks__orth_take(ws, s), gr->b = vks__orth_take(ws, s);
    if (gr->gram) gr->r[0] = vks__orth_take(ws, s), gr->r[1] = vks__orth_take(ws, s), gr->q[0] = vks__orth_take(ws, s), gr->q[1] = vks__orth_take(ws, s);
    gr->cur = 0;
}

/* Uploads a table into the workspace (inline updates of at most 64 KiB each). */
static vks_status upload(vks_context *ctx, VkDeviceAddress addr, const void *data, uint64_t bytes) {
    const uint8_t *p = data;
    for (uint64_t off = 0; off < bytes; off += 65536) {
        const uint32_t n = (uint32_t)VKS_MIN(65536, bytes - off);
        VKS_TRY(vks__record_update(ctx, ctx->scratch->buffer, addr - ctx->scratch->address + off, p + off, n));
    }
    return VKS_OK;
}

/* ---- kernels over the table ----------------------------------------------------------------------- */

typedef struct reduce_push {
    uint64_t items, partials, scalars;
    uint32_t nparts;
    float gamma;
} reduce_push;
_Static_assert(sizeof(reduce_push) == 32, "reduce_push mirrors shaders/orthogonal_reduce.comp");

typedef struct finish_push {
    uint64_t items, partials, scalars, status;
    uint32_t count, nparts;
    union {
        struct { float norm_factor, eps; } f;
        struct { double norm_factor, eps; } d;
    } v;
} finish_push;
_Static_assert(offsetof(finish_push, v) == 40, "finish_push mirrors shaders/orthogonal_reduce_finish.comp");

typedef struct convert_push {
    uint64_t items, scalars;
    float eps2, pad;
} convert_push;
_Static_assert(sizeof(convert_push) == 24, "convert_push mirrors shaders/orthogonal_convert.comp");

enum { CONVERT_NORMALIZE = 0, CONVERT_COPY = 1, CONVERT_AUON_CODE = 2, CONVERT_AUON_PAPER = 3 };

static vks_shader_id storage_variant(vks_dtype dt, vks_shader_id f32, vks_shader_id f16, vks_shader_id bf16,
                                     vks_shader_id f64) {
    return dt == VKS_DTYPE_F16 ? f16 : dt == VKS_DTYPE_BF16 ? bf16 : dt == VKS_DTYPE_F64 ? f64 : f32;
}

/* Partials per matrix: enough workgroups to fill a GPU, a few on a CPU. */
static uint32_t reduce_parts(const vks_context *ctx, const ns_call *c) {
    int64_t most = 1;
    for (int64_t i = 0; i < c->nmat; ++i) most = VKS_MAX(most, c->mats[i].rows * c->mats[i].cols);
    const int64_t per = vks__cpu_kernels(ctx) ? 64 * 1024 : 256 * 32;
    return (uint32_t)VKS_MAX(1, VKS_MIN(vks__cpu_kernels(ctx) ? 4 : 128, VKS_CEIL_DIV(most, per)));
}

/* Table `items` (count entries) of storage dtype dt: reduce + finish (MODE 0 norm / 1 cosh^2). */
static vks_status record_reduce(vks_context *ctx, vks_dtype dt, bool src_acc, int mode, VkDeviceAddress items,
                                uint32_t count, uint32_t nparts, VkDeviceAddress partials, VkDeviceAddress scalars,
                                VkDeviceAddress status, double norm_factor, double eps, double gamma) {
    const uint32_t wg = vks__cpu_kernels(ctx) ? 64 : 256;
    reduce_push rp = {.items = items, .partials = partials, .scalars = scalars, .nparts = nparts, .gamma = (float)gamma};
    const vks_spec rspec = {.count = 3, .values = {wg, (uint32_t)mode, src_acc}};
    VKS_TRY(vks__dispatch(ctx,
                          storage_variant(src_acc ? (dt == VKS_DTYPE_F64 ? dt : VKS_DTYPE_F32) : dt,
                                          VKS_SHADER_ORTHOGONAL_REDUCE_F32, VKS_SHADER_ORTHOGONAL_REDUCE_F16,
                                          VKS_SHADER_ORTHOGONAL_REDUCE_BF16, VKS_SHADER_ORTHOGONAL_REDUCE_F64),
                          &rspec, &rp, sizeof rp, nparts, count, 1));
    finish_push fp = {.items = items, .partials = partials, .scalars = scalars, .status = status, .count = count,
                      .nparts = nparts};
    const bool f64 = dt == VKS_DTYPE_F64;
    if (f64) fp.v.d.norm_factor = norm_factor, fp.v.d.eps = eps;
    else fp.v.f.norm_factor = (float)norm_factor, fp.v.f.eps = (float)eps;
    const vks_spec fspec = {.count = 2, .values = {64, (uint32_t)mode}};
    return vks__dispatch(ctx, f64 ? VKS_SHADER_ORTHOGONAL_REDUCE_FINISH_F64 : VKS_SHADER_ORTHOGONAL_REDUCE_FINISH_F32,
                         &fspec, &fp, f64 ? 56 : 48, VKS_CEIL_DIV(count, 64), 1, 1);
}

static vks_status record_convert(vks_context *ctx, vks_dtype dt, int mode, bool src_acc, bool dst_acc, bool half_work,
                                 VkDeviceAddress items, uint32_t count, int64_t max_rows, int64_t max_cols,
                                 VkDeviceAddress scalars, double eps2) {
    convert_push cp = {.items = items, .scalars = scalars, .eps2 = (float)eps2};
    /* half_work: the working side is f16 (tensor cores) instead of f32/f64. */
    const bool src_f16 = half_work && src_acc, dst_f16 = half_work && dst_acc;
    if (half_work) src_acc = dst_acc = false;
    const vks_spec spec = {.count = 6, .values = {64, (uint32_t)mode, src_acc, dst_acc, src_f16, dst_f16}};
    const vks_dtype variant = (src_acc && dst_acc) ? (dt == VKS_DTYPE_F64 ? dt : VKS_DTYPE_F32) : dt;
    return vks__dispatch(ctx,
                         storage_variant(variant, VKS_SHADER_ORTHOGONAL_CONVERT_F32, VKS_SHADER_ORTHOGONAL_CONVERT_F16,
                                         VKS_SHADER_ORTHOGONAL_CONVERT_BF16, VKS_SHADER_ORTHOGONAL_CONVERT_F64),
                         &spec, &cp, sizeof cp, (uint32_t)VKS_CEIL_DIV(max_cols, 64),
                         (uint32_t)VKS_MIN(max_rows, vks__cpu_kernels(ctx) ? 16 : 512), count);
}

/* ---- the iterations ---------------------------------------------------------------------------------- */

static orth_mat batch_mat(VkDeviceAddress addr, vks_dtype dt, int64_t count, int64_t rows, int64_t cols) {
    return orth_dense(addr, dt, count, rows, cols);
}

/* One plain step on a group: X <- (a I + b A + c A^2) X with A = X X^T. */
static vks_status ns_step(vks_context *ctx, vks_dtype wdt, ns_group *gr, const double *abc) {
    const int64_t m = gr->m, n = gr->n, cnt = gr->count;
    const orth_mat x = batch_mat(gr->x[gr->cur], wdt, cnt, m, n), xn = batch_mat(gr->x[1 - gr->cur], wdt, cnt, m, n);
    const orth_mat a = batch_mat(gr->a, wdt, cnt, m, m), b = batch_mat(gr->b, wdt, cnt, m, m);
    orth_syrk_args s1 = {.s = x, .cout = a, .alpha = 1.0, .mirror = true};
    VKS_TRY(vks__orth_syrk(ctx, &s1));
    /* B = c A A^T + b A + a I (A symmetric); with c = 0 the product is skipped (k = 0). */
    orth_mat sa = a;
    if (abc[2] == 0.0) sa.cols = 0;
    orth_syrk_args s2 = {.s = sa, .cin = a, .cout = b, .alpha = abc[2], .beta = abc[1], .gamma = abc[0], .mirror = true};
    VKS_TRY(vks__orth_syrk(ctx, &s2));
    VKS_TRY(vks__orth_gemm(ctx, 1.0, b, x, 0.0, xn));
    gr->cur = 1 - gr->cur;
    return VKS_OK;
}

/* Tensor cores (VK_NV_cooperative_matrix) for f16/bf16 input: f16 working copies, and the
 * same three products per step (ns_step with the f16 dtype): vks__orth_syrk picks
 * orthogonal_syrk_coopmat, the GEMM gemm_coopmat. */
static bool use_tensor_cores(const vks_context *ctx, vks_dtype dt, uint32_t flags) {
    return (dt == VKS_DTYPE_F16 || dt == VKS_DTYPE_BF16) && vks__tensor_cores(ctx) && !vks__cpu_kernels(ctx) &&
           !(flags & VKS_NS_NO_TENSOR_CORES);
}

/* Gram Newton-Schulz on a group: with P_t = p_t(R_t), X_t = Q_t X_0 where Q_{t+1} = P_t Q_t and
 * R_{t+1} = X_{t+1} X_{t+1}^T = P_t R_t P_t = P_t^2 R_t (P_t commutes with R_t): all m x m. */
static vks_status gram_ns(vks_context *ctx, vks_dtype wdt, ns_group *gr, const double *abc, int32_t steps,
                          int32_t restart) {
    const int64_t m = gr->m, n = gr->n, cnt = gr->count;
    int ri = 0, qi = 0;
    bool q_identity = true;
    for (int32_t t = 0; t < steps; ++t) {
        const orth_mat x = batch_mat(gr->x[gr->cur], wdt, cnt, m, n);
        if (t == 0 || (t % restart == 0)) {
            if (!q_identity) { /* restart: X = Q X0 explicitly */
                const orth_mat xn = batch_mat(gr->x[1 - gr->cur], wdt, cnt, m, n);
                VKS_TRY(vks__orth_gemm(ctx, 1.0, batch_mat(gr->q[qi], wdt, cnt, m, m), x, 0.0, xn));
                gr->cur = 1 - gr->cur;
                q_identity = true;
            }
            orth_syrk_args s0 = {.s = batch_mat(gr->x[gr->cur], wdt, cnt, m, n),
                                 .cout = batch_mat(gr->r[ri], wdt, cnt, m, m),
                                 .alpha = 1.0,
                                 .mirror = true};
            VKS_TRY(vks__orth_syrk(ctx, &s0));
        }
        const orth_mat r = batch_mat(gr->r[ri], wdt, cnt, m, m), p = batch_mat(gr->a, wdt, cnt, m, m);
        orth_mat sr = r;
        if (abc[3 * t + 2] == 0.0) sr.cols = 0;
        orth_syrk_args sp = {.s = sr, .cin = r, .cout = p, .alpha = abc[3 * t + 2], .beta = abc[3 * t + 1],
                             .gamma = abc[3 * t], .mirror = true};
        VKS_TRY(vks__orth_syrk(ctx, &sp)); /* P = p(R) */
        const bool need_r = t + 1 < steps && (t + 1) % restart != 0;
        if (need_r) { /* R <- P^2 R */
            const orth_mat p2 = batch_mat(gr->b, wdt, cnt, m, m);
            orth_syrk_args sq = {.s = p, .cout = p2, .alpha = 1.0, .mirror = true};
            VKS_TRY(vks__orth_syrk(ctx, &sq));
            VKS_TRY(vks__orth_gemm(ctx, 1.0, p2, r, 0.0, batch_mat(gr->r[1 - ri], wdt, cnt, m, m)));
            ri = 1 - ri;
        }
        /* Q <- P Q (Q = I: a copy of P). */
        const orth_mat qn = batch_mat(gr->q[1 - qi], wdt, cnt, m, m);
        if (q_identity) VKS_TRY(vks__orth_copy(ctx, ORTH_COPY, &p, &qn));
        else VKS_TRY(vks__orth_gemm(ctx, 1.0, p, batch_mat(gr->q[qi], wdt, cnt, m, m), 0.0, qn));
        qi = 1 - qi;
        q_identity = false;
    }
    if (!q_identity) {
        const orth_mat x = batch_mat(gr->x[gr->cur], wdt, cnt, m, n), xn = batch_mat(gr->x[1 - gr->cur], wdt, cnt, m, n);
        VKS_TRY(vks__orth_gemm(ctx, 1.0, batch_mat(gr->q[qi], wdt, cnt, m, m), x, 0.0, xn));
        gr->cur = 1 - gr->cur;
    }
    return VKS_OK;
}

/* ---- a whole call ------------------------------------------------------------------------------------ */

typedef struct ns_plan {
    const double *abc; /* steps x 3 */
    int32_t steps;
    double norm_factor, eps;
    int32_t gram_restart;
    /* AuON: after the iteration (or on g itself when steps == 0) */
    bool auon;
    vks_auon_variant variant;
    double gamma;
    const vks_tensor *status;
    bool half; /* f16 working copies (c->work is F16): tensor cores where the device has them */
} ns_plan;

/* Writes the tables, records everything, and reads the flags back when there is no status
 * tensor. c->mats and c->groups are filled. */
static vks_status ns_run(vks_context *ctx, ns_call *c, const ns_plan *pl) {
    const char *fn = c->fn;
    /* es: the working copies' element; the scalars and partials are f32 (f64 for f64). */
    const size_t es = vks__dtype_bytes(c->work), ses_acc = c->dt == VKS_DTYPE_F64 ? 8 : 4;
    const bool iterate = pl->steps > 0;
    const uint32_t nmat = (uint32_t)c->nmat, nparts = reduce_parts(ctx, c);
    /* Tables: in (g -> X0 or g for AuON), out (X -> out), and the iterate as a source (hybrid). */
    ns_item *tin = vks__calloc(nmat, sizeof *tin), *tout = vks__calloc(nmat, sizeof *tout), *tx = vks__calloc(nmat, sizeof *tx);
    if (!tin || !tout || !tx) {
        vks__free(tin), vks__free(tout), vks__free(tx);
        return vks__error(VKS_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", fn);
    }
    uint64_t bytes = 3 * orth_round(nmat * sizeof(ns_item)) + orth_round(2ull * nmat * 8 * ses_acc) +
                     orth_round((uint64_t)nmat * nparts * 3 * ses_acc);
    for (int32_t k = 0; iterate && k < c->ngroups; ++k) bytes += group_bytes(&c->groups[k], es);
    /* Its own op region (the prologue opens none): the flags are read back after it ends, so
     * that the op stays timed; the workspace is taken inside it, and nothing can take that
     * scratch before the read while the lock is held. */
    vks_status st = vks__op_begin(ctx, pl->auon ? "auon" : "newton_schulz");
    orth_ws ws;
    if (st == VKS_OK) st = vks__orth_ws_begin(ctx, bytes, &ws);
    if (st != VKS_OK) {
        vks__op_end(ctx);
        vks__free(tin), vks__free(tout), vks__free(tx);
        return st;
    }
    const VkDeviceAddress din = vks__orth_take(&ws, nmat * sizeof(ns_item)), dout = vks__orth_take(&ws, nmat * sizeof(ns_item));
    const VkDeviceAddress dx = vks__orth_take(&ws, nmat * sizeof(ns_item));
    const VkDeviceAddress scalars = vks__orth_take(&ws, 2ull * nmat * 8 * ses_acc);
    const VkDeviceAddress partials = vks__orth_take(&ws, (uint64_t)nmat * nparts * 3 * ses_acc);
    for (int32_t k = 0; iterate && k < c->ngroups; ++k) group_take(&c->groups[k], es, &ws);
    int64_t max_rows = 1, max_cols = 1;
    for (uint32_t i = 0; i < nmat; ++i) {
        const ns_matrix *mt = &c->mats[i];
        max_rows = VKS_MAX(max_rows, mt->rows), max_cols = VKS_MAX(max_cols, mt->cols);
        tin[i] = (ns_item){.src = mt->g, .rows = (uint32_t)mt->rows, .cols = (uint32_t)mt->cols,
                           .src_rs = (uint32_t)mt->g_rs, .src_cs = (uint32_t)mt->g_cs, .scal = i};
        tout[i] = (ns_item){.dst = mt->out, .rows = (uint32_t)mt->rows, .cols = (uint32_t)mt->cols,
                            .dst_rs = (uint32_t)mt->o_rs, .dst_cs = (uint32_t)mt->o_cs, .scal = i};
        if (iterate && mt->group >= 0) {
            const ns_group *gr = &c->groups[mt->group];
            const bool tall = mt->rows > mt->cols;
            /* The working copy is m x n (m <= n) row-major: a tall matrix goes in transposed. */
            const uint32_t wrs = tall ? 1 : (uint32_t)gr->n, wcs = tall ? (uint32_t)gr->n : 1;
            tin[i].dst = gr->x[0] + (uint64_t)mt->slot * gr->m * gr->n * es;
            tin[i].dst_rs = wrs, tin[i].dst_cs = wcs;
            tout[i].src_rs = wrs, tout[i].src_cs = wcs; /* .src set after iterating */
        } else if (!iterate) {
            tout[i].src = mt->g, tout[i].src_rs = (uint32_t)mt->g_rs, tout[i].src_cs = (uint32_t)mt->g_cs;
        }
    }
    const VkDeviceAddress status = pl->status ? vks__tensor_address(pl->status) : 0;
    st = upload(ctx, din, tin, nmat * sizeof(ns_item));
    if (st == VKS_OK)
        st = record_reduce(ctx, c->dt, false, 0, din, nmat, nparts, partials, scalars, status,
                           iterate ? pl->norm_factor : 1.0, pl->eps, 0.0);
    if (iterate) {
        if (st == VKS_OK)
            st = record_convert(ctx, c->dt, CONVERT_NORMALIZE, false, true, pl->half, din, nmat, max_rows, max_cols,
                                scalars, 0.0);
        for (int32_t k = 0; st == VKS_OK && k < c->ngroups; ++k) {
            ns_group *gr = &c->groups[k];
            if (gr->gram) st = gram_ns(ctx, c->work, gr, pl->abc, pl->steps, pl->gram_restart);
            else
                for (int32_t t = 0; st == VKS_OK && t < pl->steps; ++t) st = ns_step(ctx, c->work, gr, pl->abc + 3 * t);
        }
        for (uint32_t i = 0; i < nmat; ++i) {
            const ns_matrix *mt = &c->mats[i];
            if (mt->group < 0) continue;
            const ns_group *gr = &c->groups[mt->group];
            tout[i].src = gr->x[gr->cur] + (uint64_t)mt->slot * gr->m * gr->n * es;
            tx[i] = tout[i];
            tx[i].scal = nmat + i; /* the iterate's own scalars */
        }
    }
    int mode = CONVERT_COPY;
    VkDeviceAddress scal_out = scalars;
    if (pl->auon) {
        mode = pl->variant == VKS_AUON_PAPER ? CONVERT_AUON_PAPER : CONVERT_AUON_CODE;
        if (iterate) { /* Hybrid: norm and cosh^2 of the iterate (its scalars after g's) */
            if (st == VKS_OK) st = upload(ctx, dx, tx, nmat * sizeof(ns_item));
            if (st == VKS_OK) st = record_reduce(ctx, c->dt, true, 0, dx, nmat, nparts, partials, scalars, 0, 1.0, pl->eps, 0.0);
            if (st == VKS_OK)
                st = record_reduce(ctx, c->dt, true, 1, dx, nmat, nparts, partials, scalars, 0, 1.0, pl->eps, pl->gamma);
            /* ... and the output pass reads them: point the out table at them too. */
            for (uint32_t i = 0; i < nmat; ++i) tout[i].scal = nmat + i;
        } else if (st == VKS_OK) {
            st = record_reduce(ctx, c->dt, false, 1, din, nmat, nparts, partials, scalars, 0, 1.0, pl->eps, pl->gamma);
        }
    }
    if (st == VKS_OK) st = upload(ctx, dout, tout, nmat * sizeof(ns_item));
    if (st == VKS_OK)
        st = record_convert(ctx, c->dt, mode, iterate, false, pl->half, dout, nmat, max_rows, max_cols, scal_out, 1e-8);
    if (st == VKS_OK) st = vks__orth_ws_check(&ws, fn);
    vks__op_end(ctx);
    if (st == VKS_OK && !pl->status) { /* the NaN/Inf flags: synchronizes */
        void *raw = vks__malloc((size_t)nmat * 8 * ses_acc);
        if (!raw) st = vks__error(VKS_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", fn);
        else st = vks__orth_ws_read(ctx, scalars, raw, (uint64_t)nmat * 8 * ses_acc);
        for (uint32_t i = 0; st == VKS_OK && i < nmat; ++i) {
            const double bad = ses_acc == 8 ? ((const double *)raw)[8 * i + 2] : ((const float *)raw)[8 * i + 2];
            if (bad != 0)
                st = vks__error(VKS_ERROR_NON_FINITE, "%s: matrix %u of the call holds NaN or Inf; its output was set to 0",
                                fn, i);
        }
        vks__free(raw);
    }
    vks__free(tin), vks__free(tout), vks__free(tx);
    return st;
}

/* options->status: its shape, and apart from every g and out (the device writes it while
 * reading them, and they are the results). */
static vks_status check_status_tensor(vks_context *ctx, const vks_tensor *status, const ns_call *c, uint32_t count,
                                      const vks_tensor *g, const vks_tensor *out) {
    if (!status) return VKS_OK;
    VKS_TRY(vks__orth_check_info(ctx, status, c->nmat, c->fn, "options->status"));
    return check_aliasing(count, g, out, status, c->fn);
}

/* One call of the Newton-Schulz family (Newton-Schulz or AuON, grouped or not). */
typedef struct ns_entry {
    ns_call c;
    bool auon;
    uint32_t count;
    const vks_tensor *g, *out;
    vks_newton_schulz_options ns_options; /* the library's full copy of the caller's (or the defaults) */
    vks_auon_options auon_options;        /* likewise, for AuON */
    ns_plan pl;
    vks_ns_gram gram; /* Newton-Schulz: the options' (or the default) */
    double abc[3 * NS_MAX_STEPS];
} ns_entry;

static vks_status ns_check_options(ns_entry *e) {
    const char *fn = e->c.fn;
    const vks_newton_schulz_options o = e->ns_options;
    if ((unsigned)o.schedule > VKS_NS_CUSTOM)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: options->schedule = %d is not a vks_ns_schedule", fn,
                          (int)o.schedule);
    if (o.steps < 0 || o.steps > NS_MAX_STEPS || (o.schedule == VKS_NS_CUSTOM && o.steps == 0))
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: options->steps = %d, expected %s..%d", fn, o.steps,
                          o.schedule == VKS_NS_CUSTOM ? "1" : "0", NS_MAX_STEPS);
    if (o.schedule == VKS_NS_CUSTOM && !o.coefficients)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: options->coefficients is NULL for VKS_NS_CUSTOM", fn);
    if (!(o.norm_factor >= 0) || !(o.eps >= 0) || !isfinite(o.norm_factor) || !isfinite(o.eps))
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: options->norm_factor = %g and eps = %g; expected finite >= 0",
                          fn, o.norm_factor, o.eps);
    if (o.flags & ~(uint32_t)(VKS_NS_NO_TENSOR_CORES | VKS_NS_HALF_WORK))
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: options->flags = 0x%x has unknown bits", fn, o.flags);
    if ((unsigned)o.gram > VKS_NS_GRAM_ON || o.gram_restart < 0)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: options->gram = %d, gram_restart = %d", fn, (int)o.gram,
                          o.gram_restart);
    e->gram = o.gram;
    int32_t steps = o.steps;
    if (o.schedule == VKS_NS_CUSTOM) {
        for (int32_t i = 0; i < 3 * steps; ++i) {
            if (!isfinite(o.coefficients[i]))
                return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: options->coefficients[%d] = %g is not finite", fn, i,
                                  o.coefficients[i]);
            e->abc[i] = o.coefficients[i];
        }
    } else {
        /* A pure table lookup (schedule and steps checked above), no op. */
        VKS_TRY(vks_newton_schulz_coefficients(o.schedule, o.steps, e->abc, NS_MAX_STEPS, &steps));
    }
    e->pl = (ns_plan){.abc = e->abc,
                      .steps = steps,
                      .norm_factor = o.norm_factor > 0 ? o.norm_factor : o.schedule == VKS_NS_POLAR_EXPRESS ? 1.01 : 1.0,
                      .eps = o.eps,
                      .gram_restart = o.gram_restart > 0 ? o.gram_restart : 2,
                      .status = o.status};
    return VKS_OK;
}

static vks_status auon_check_options(ns_entry *e) {
    const char *fn = e->c.fn;
    const vks_auon_options o = e->auon_options;
    if ((unsigned)o.variant > VKS_AUON_PAPER)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: options->variant = %d is not a vks_auon_variant", fn,
                          (int)o.variant);
    if (!(o.gamma >= 0) || !(o.eps >= 0) || !isfinite(o.gamma) || !isfinite(o.eps))
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: options->gamma = %g and eps = %g; expected finite >= 0", fn,
                          o.gamma, o.eps);
    if (o.ns_steps < 0 || o.ns_steps > NS_MAX_STEPS)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: options->ns_steps = %d, expected 0..%d", fn, o.ns_steps,
                          NS_MAX_STEPS);
    if (o.ns_steps) VKS_TRY(vks_newton_schulz_coefficients(VKS_NS_MUON, o.ns_steps, e->abc, NS_MAX_STEPS, NULL));
    e->pl = (ns_plan){.abc = e->abc,
                      .steps = o.ns_steps,
                      .norm_factor = 1.0,
                      .eps = o.eps,
                      .gram_restart = 2,
                      .auon = true,
                      .variant = o.variant,
                      .gamma = o.gamma > 0 ? o.gamma : 1.5,
                      .status = o.status};
    return VKS_OK;
}

static vks_status ns_check(vks_context *ctx, void *call, bool *empty) {
    ns_entry *e = call;
    ns_call *c = &e->c;
    VKS_TRY(e->auon ? auon_check_options(e) : ns_check_options(e));
    if (e->count == 0) {
        *empty = true;
        return VKS_OK;
    }
    VKS_TRY(collect(ctx, e->count, e->g, e->out, c));
    VKS_TRY(check_status_tensor(ctx, e->pl.status, c, e->count, e->g, e->out));
    if (!e->auon) {
        const uint32_t flags = e->ns_options.flags;
        const bool coopmat = use_tensor_cores(ctx, c->dt, flags);
        e->pl.half = coopmat || ((flags & VKS_NS_HALF_WORK) && (c->dt == VKS_DTYPE_F16 || c->dt == VKS_DTYPE_BF16));
        if (e->pl.half) c->work = VKS_DTYPE_F16;
    }
    VKS_TRY(make_groups(c, e->auon || e->pl.half ? VKS_NS_GRAM_OFF : e->gram));
    *empty = c->nmat == 0;
    return VKS_OK;
}

static vks_status ns_record(vks_context *ctx, void *call) {
    ns_entry *e = call;
    return ns_run(ctx, &e->c, &e->pl);
}

static vks_status ns_entry_run(vks_context *ctx, ns_entry *e, const void *options) {
    const vks_op op = {.fn = e->c.fn,
                       .desc = options,
                       .desc_arg = "options",
                       .desc_type = e->auon ? VKS_STRUCT_AUON_OPTIONS : VKS_STRUCT_NEWTON_SCHULZ_OPTIONS,
                       .desc_copy = e->auon ? (void *)&e->auon_options : (void *)&e->ns_options,
                       .desc_optional = true,
                       .validate = ns_check,
                       .record = ns_record};
    const vks_status st = vks__op_run(ctx, &op, e); /* ns_run opens its own op region */
    call_free(&e->c);
    return st;
}

vks_status vks_newton_schulz_grouped(vks_context *ctx, uint32_t count, const vks_tensor *g, const vks_tensor *out,
                                     const vks_newton_schulz_options *options) {
    ns_entry e = {.c.fn = "vks_newton_schulz_grouped", .count = count, .g = g, .out = out};
    return ns_entry_run(ctx, &e, options);
}

vks_status vks_newton_schulz(vks_context *ctx, const vks_tensor *g, const vks_tensor *out,
                             const vks_newton_schulz_options *options) {
    ns_entry e = {.c.fn = "vks_newton_schulz", .count = 1, .g = g, .out = out};
    return ns_entry_run(ctx, &e, options);
}

vks_status vks_auon_grouped(vks_context *ctx, uint32_t count, const vks_tensor *g, const vks_tensor *out,
                            const vks_auon_options *options) {
    ns_entry e = {.c.fn = "vks_auon_grouped", .auon = true, .count = count, .g = g, .out = out};
    return ns_entry_run(ctx, &e, options);
}

vks_status vks_auon(vks_context *ctx, const vks_tensor *g, const vks_tensor *out, const vks_auon_options *options) {
    ns_entry e = {.c.fn = "vks_auon", .auon = true, .count = 1, .g = g, .out = out};
    return ns_entry_run(ctx, &e, options);
}
