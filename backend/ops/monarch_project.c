/*
 * Projection of a dense matrix onto Monarch (shaders/monarch_project.comp): one workgroup
 * per block pair (l_idx, i) of M running a subspace iteration for the block's rank R; the
 * host sums the per-block residuals into the relative error.
 */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>

#include "monarch_internal.h"
#include "ops/orthogonal_internal.h"

typedef struct project_push {
    uint64_t m, w1, w2, scratch, result;
    uint32_t m_rows, n_cols, ldm, k;
    uint32_t q, p, l, s;
    uint32_t r, max_iter, block0, phase;
    uint32_t it_begin, it_end;
    float tol, pad1;
} project_push;
_Static_assert(sizeof(project_push) == 104 && offsetof(project_push, it_begin) == 88 &&
                   offsetof(project_push, tol) == 96,
               "project_push must mirror shaders/monarch_project.comp");

/* lavapipe ends every loop of a shader invocation once 65535 loop iterations have run in
 * it (llvmpipe's loop limiter, counted over all loops together and never reset), and the
 * results are silently wrong. So on CPU devices the iterations go in several dispatches,
 * each within this budget of loop iterations per invocation (counted by the estimates
 * below, which follow the kernel's loops). */
#define LOOP_BUDGET 50000

static int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
static int64_t ilog2(int64_t n) {
    int64_t l = 0;
    while ((1ll << l) < n) ++l;
    return l;
}

static int64_t cost_orth(int64_t re, int64_t p, int64_t nt) {
    return re * (2 * (cdiv(re, nt) * (p + 1) + cdiv(p, nt) * (re + 1) + 2) + 2 * cdiv(p, nt) + ilog2(nt) + 2);
}
/* One iteration: Z = B V, its energy, V = B^T Z, orthonormalization. */
static int64_t cost_iteration(int64_t re, int64_t p, int64_t s, int64_t nt) {
    return cdiv(s * re, nt) * (p + 2) + ilog2(nt) + 1 + cdiv(p * re, nt) * (s + 1) + cost_orth(re, p, nt) + 2;
}
/* The final phase: Z, sigmas, the factors, the residual. */
static int64_t cost_final(int64_t R, int64_t re, int64_t p, int64_t s, int64_t nt) {
    return cdiv(s * re, nt) * (p + 1) + re * (cdiv(s, nt) + ilog2(nt) + 1) + cdiv(s * R, nt) + cdiv(R * p, nt) +
           cdiv(s * p, nt) * (R + 1) + 2 * ilog2(nt) + 4;
}

/* Rank of block (lam, i): the rho with (rho*l + lam) / q == i, a contiguous range. */
static int64_t block_rank(int64_t lam, int64_t i, int64_t q, int64_t l, int64_t r) {
    const int64_t lo = i * q - lam, hi = (i + 1) * q - lam;
    const int64_t rho0 = lo <= 0 ? 0 : (lo + l - 1) / l;
    const int64_t rho1 = hi <= 0 ? 0 : VKS_MIN(r, (hi + l - 1) / l);
    return rho1 > rho0 ? rho1 - rho0 : 0;
}

#define MAX_RANK 2048 /* shared-memory tables of the kernel */

typedef struct project_call {
    const char *fn;
    vks_monarch_project_desc d; /* the library's full copy of the caller's */
    vks_monarch_project_result *res;
    vks_rows mm;
    vks_dtype dt;
    int64_t k, q, p, l, s, r, rmax;
} project_call;

static vks_status project_check(vks_context *ctx, void *call, bool *empty) {
    project_call *c = call;
    const vks_monarch_project_desc *d = &c->d;
    const char *fn = c->fn;
    (void)empty;
    if (c->res) VKS_TRY(vks__struct_check(fn, "result", VKS_STRUCT_MONARCH_PROJECT_RESULT, c->res));
    if (d->padded != 0 && d->padded != 1)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: padded = %d, expected 0 or 1", fn, (int)d->padded);
    if (d->max_iterations < 0 || d->max_iterations > 100000)
        return vks__error(VKS_ERROR_OUT_OF_RANGE, "%s: max_iterations = %d, expected 0 (default 64) .. 100000", fn,
                          (int)d->max_iterations);
    if (!(d->tolerance >= 0.0 && d->tolerance < 1.0))
        return vks__error(VKS_ERROR_OUT_OF_RANGE, "%s: tolerance = %g, expected 0 (default 1e-6) <= tolerance < 1", fn,
                          d->tolerance);
    vks_status st = VKS_OK;
    vks_rows mm;
    int64_t w1s[3], w2s[3];
    vks_dtype dt = VKS_DTYPE_F32;
#define CHECK(call)                                                                                      \
    do {                                                                                                 \
        if (st == VKS_OK) st = (call);                                                                   \
    } while (0)
    if (ctx->host_cmd)
        st = vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: reads its result back, so it cannot run during external "
                                                    "recording", fn);
    CHECK(vks__rows_view(ctx, d->m, 1, 4, true, fn, "m", &mm));
    if (st == VKS_OK) dt = d->m->dtype;
    CHECK(vks__check_dtype_in(ctx, dt, VKS_MON_DTYPES, fn, "m"));
    if (st == VKS_OK && d->m->ndim != 2) st = vks__check_ndim(d->m, 2, 2, fn, "m");
    CHECK(vks__mon_weight_view(ctx, d->w1, dt, fn, "w1", w1s));
    CHECK(vks__mon_weight_view(ctx, d->w2, dt, fn, "w2", w2s));
    const int64_t k = w1s[0], q = w1s[1], p = w1s[2], l = w2s[0], s = w2s[1], r = w2s[2];
    if (st == VKS_OK) {
        if (l * r != k * q)
            st = vks__error(VKS_ERROR_SHAPE_MISMATCH, "%s: w2 is (l, s, r) = (%lld, %lld, %lld): l*r = %lld but k*q = %lld",
                            fn, (long long)l, (long long)s, (long long)r, (long long)(l * r), (long long)(k * q));
        else if (d->padded ? (mm.rows > l * s || mm.cols > k * p) : (mm.rows != l * s || mm.cols != k * p))
            st = vks__error(VKS_ERROR_SHAPE_MISMATCH, "%s: m is %lld x %lld, expected %s(l*s) x (k*p) = %lld x %lld", fn,
                            (long long)mm.rows, (long long)mm.cols, d->padded ? "at most " : "", (long long)(l * s),
                            (long long)(k * p));
    }
    const vks_arg outs[] = {{d->w1, "w1", NULL}, {d->w2, "w2", NULL}}, ins[] = {{d->m, "m", NULL}};
    CHECK(vks__check_no_alias(outs, 2, ins, 1, fn));
#undef CHECK
    /* One 16-byte result per block pair, 32-bit block indices (checked before the loop over
     * the pairs below, which tiny padded m and long weights could make very long). */
    const uint64_t pairs_max = VKS_MIN((uint64_t)INT32_MAX, ctx->probe.info.max_buffer_bytes / 16);
    if (st == VKS_OK && (uint64_t)l * (uint64_t)k > pairs_max)
        st = vks__error(VKS_ERROR_OUT_OF_RANGE, "%s: l * k = %lld * %lld block pairs; at most %llu on device '%s'", fn,
                        (long long)l, (long long)k, (unsigned long long)pairs_max, ctx->probe.info.name);
    int64_t rmax = 0;
    if (st == VKS_OK) {
        for (int64_t lam = 0; lam < l; ++lam)
            for (int64_t i = 0; i < k; ++i) rmax = VKS_MAX(rmax, block_rank(lam, i, q, l, r));
        if (rmax > MAX_RANK)
            st = vks__error(VKS_ERROR_UNSUPPORTED, "%s: a block pair of M has rank %lld (q/l); at most %d is supported",
                            fn, (long long)rmax, MAX_RANK);
    }
    c->mm = mm, c->dt = dt, c->rmax = rmax;
    c->k = k, c->q = q, c->p = p, c->l = l, c->s = s, c->r = r;
    return st;
}

/* The blocks' right singular vectors from the eigensolver (f32 M, LAPACK loaded, the default
 * iteration controls): B_b^T B_b = V diag(sigma^2) V^T per block pair in float64 (dsyevd), the top RE
 * columns of V (sigma descending) written where the kernel's subspace iteration keeps its
 * iterate, each block marked done after 0 iterations: the kernel's final phase then forms
 * the factors and the residual from them. Exact up to rounding: no "unconverged" blocks. */
static vks_status blocks_by_eigh(vks_context *ctx, const project_call *c, VkDeviceAddress scratch, int64_t rmax_spec,
                                 uint64_t stride) {
    const char *fn = c->fn;
    const vks_rows mm = c->mm;
    const int64_t k = c->k, q = c->q, p = c->p, l = c->l, s = c->s, r = c->r, blocks = l * k;
    const size_t span = mm.rows ? (size_t)((mm.rows - 1) * mm.ld + mm.cols) : 0;
    float *m = vks__malloc(span * sizeof(float) + 1), *img = vks__calloc((size_t)(blocks * (int64_t)stride), sizeof(float));
    double *g = vks__malloc((size_t)(p * p) * sizeof(double) + 8), *w = vks__malloc((size_t)p * sizeof(double) + 8);
    double *b = vks__malloc((size_t)(s * p) * sizeof(double) + 8);
    vks_status st = m && img && g && w && b ? VKS_OK : vks__error(VKS_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", fn);
    if (st == VKS_OK && span)
        st = vks__buffer_read_locked(c->d.m->buffer, c->d.m->byte_offset, m, span * sizeof(float));
    for (int64_t blk = 0; st == VKS_OK && blk < blocks; ++blk) {
        const int64_t lam = blk / k, i = blk % k;
        const int64_t R = block_rank(lam, i, q, l, r), RE = VKS_MIN(R, VKS_MIN(s, p));
        float *img_b = img + (size_t)blk * stride;
        img_b[(p + s) * rmax_spec + 1] = 1.0f; /* done, after 0 iterations */
        if (RE == 0) continue;
        bool finite = true;
        for (int64_t t = 0; t < s; ++t)
            for (int64_t a = 0; a < p; ++a) {
                const int64_t row = t * l + lam, col = i * p + a;
                b[t * p + a] = row < mm.rows && col < mm.cols ? (double)m[row * mm.ld + col] : 0.0;
                finite = finite && isfinite(b[t * p + a]);
            }
        if (!finite) continue; /* V = 0: the final phase's residual carries the NaN to the error */
        for (int64_t a = 0; a < p; ++a) /* G = B^T B, lower triangle, column-major */
            for (int64_t e = a; e < p; ++e) {
                double acc = 0;
                for (int64_t t = 0; t < s; ++t) acc += b[t * p + a] * b[t * p + e];
                g[a * p + e] = acc;
            }
        st = vks__host_syevd((int)p, g, w, fn);
        for (int64_t j = 0; st == VKS_OK && j < RE; ++j) /* column p-1-j: the j-th largest */
            for (int64_t a = 0; a < p; ++a) img_b[a * rmax_spec + j] = (float)g[(p - 1 - j) * p + a];
    }
    if (st == VKS_OK)
        st = vks__buffer_write_locked(ctx->scratch, scratch - ctx->scratch->address, img,
                                      (uint64_t)blocks * stride * sizeof(float));
    vks__free(m), vks__free(img), vks__free(g), vks__free(w), vks__free(b);
    return st;
}

static vks_status project_record(vks_context *ctx, void *call) {
    const project_call *c = call;
    const vks_monarch_project_desc *d = &c->d;
    vks_monarch_project_result *res = c->res;
    const char *fn = c->fn;
    const vks_rows mm = c->mm;
    const vks_dtype dt = c->dt;
    const int64_t k = c->k, q = c->q, p = c->p, l = c->l, s = c->s, r = c->r, rmax = c->rmax;
    vks_status st = VKS_OK;
    const int64_t blocks = l * k;
    const uint64_t per_block = (uint64_t)(p + s) * (uint64_t)VKS_MAX(rmax, 1) + 4;
    vks_buffer *results = NULL;
    VkDeviceAddress scratch = 0;
    if (st == VKS_OK) st = vks__buffer_create_locked(ctx, (uint64_t)blocks * 16, true, &results);
    if (st == VKS_OK) {
        st = vks__scratch(ctx, (uint64_t)blocks * per_block * 4, &scratch);
        const bool gpu = vks__mon_gpu_kernels(ctx);
        const int64_t re = VKS_MIN(rmax, VKS_MIN(s, p)), iters_total = (d->max_iterations ? d->max_iterations : 64) + 1;
        /* Invocations per block: 64 for the GPU kernels; for the CPU ones the fewest (cheapest
         * barriers) that keep an iteration well inside lavapipe's loop budget. On CPU devices
         * the iterations then go in as many dispatches as the budget needs. */
        uint32_t wg = gpu ? 64 : 0;
        int64_t per_dispatch = iters_total;
        for (uint32_t nt = ctx->probe.info.subgroup_size; nt <= 256 && !wg; nt *= 2)
            if (cost_iteration(re, p, s, nt) * 4 <= LOOP_BUDGET && cost_final(rmax, re, p, s, nt) <= LOOP_BUDGET) wg = nt;
        for (uint32_t nt = 256; !wg && nt >= 8; nt /= 2)
            if (cost_iteration(re, p, s, nt) + cost_orth(re, p, nt) <= LOOP_BUDGET &&
                cost_final(rmax, re, p, s, nt) <= LOOP_BUDGET) wg = nt;
        if (ctx->probe.info.type == VKS_DEVICE_CPU) {
            if (!wg || cost_iteration(re, p, s, wg) + cost_orth(re, p, wg) > LOOP_BUDGET ||
                cost_final(rmax, re, p, s, wg) > LOOP_BUDGET)
                st = vks__error(VKS_ERROR_UNSUPPORTED,
                                "%s: blocks of %lld x %lld with rank %lld need more loop iterations per invocation "
                                "than lavapipe runs (65535); use a GPU or a larger nblocks", fn, (long long)s,
                                (long long)p, (long long)rmax);
            else
                per_dispatch = (LOOP_BUDGET - cost_orth(re, p, wg)) / cost_iteration(re, p, s, wg);
        } else if (!wg) {
            wg = 64;
        }
        vks_spec spec = {.count = 2, .values = {wg, (uint32_t)VKS_MAX(rmax, 1)}};
        project_push pc = {.m = mm.address, .w1 = vks__tensor_address(d->w1), .w2 = vks__tensor_address(d->w2),
                           .scratch = scratch, .result = results ? results->address : 0,
                           .m_rows = (uint32_t)mm.rows, .n_cols = (uint32_t)mm.cols, .ldm = (uint32_t)mm.ld,
                           .k = (uint32_t)k, .q = (uint32_t)q, .p = (uint32_t)p, .l = (uint32_t)l, .s = (uint32_t)s,
                           .r = (uint32_t)r, .max_iter = (uint32_t)(iters_total - 1),
                           .tol = (float)(d->tolerance > 0 ? d->tolerance : 1e-6)};
        const vks_shader_id shader = dt == VKS_DTYPE_F16 ? VKS_SHADER_MONARCH_PROJECT_F16 : VKS_SHADER_MONARCH_PROJECT_F32;
        const int64_t xmax = ctx->probe.info.max_workgroup_count[0];
        /* f32 with LAPACK: the blocks' singular vectors from the eigensolver, then only the
         * final phase; else the subspace iteration. */
        const bool by_eigh = dt == VKS_DTYPE_F32 && d->max_iterations == 0 && d->tolerance == 0 && vks__lapack_available();
        if (st == VKS_OK && by_eigh) st = blocks_by_eigh(ctx, c, scratch, VKS_MAX(rmax, 1), per_block);
        /* Phase 0 in chunks of iterations, then phase 1 (the factors and residuals). */
        for (int64_t it0 = by_eigh ? iters_total : 0; st == VKS_OK; it0 += per_dispatch) {
            const bool final = it0 >= iters_total;
            pc.phase = final ? 1 : 0;
            pc.it_begin = (uint32_t)it0;
            pc.it_end = (uint32_t)VKS_MIN(it0 + per_dispatch, iters_total);
            for (int64_t b0 = 0; b0 < blocks && st == VKS_OK; b0 += xmax) {
                pc.block0 = (uint32_t)b0;
                st = vks__dispatch(ctx, shader, &spec, &pc, sizeof pc, (uint32_t)VKS_MIN(xmax, blocks - b0), 1, 1);
            }
            if (final) break;
        }
    }
    float *host = NULL;
    if (st == VKS_OK) {
        host = vks__malloc((size_t)blocks * 16);
        st = host ? vks__buffer_read_locked(results, 0, host, (uint64_t)blocks * 16)
                  : vks__error(VKS_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", fn);
    }
    if (st == VKS_OK) {
        double res2 = 0, norm2 = 0;
        int32_t iters = 0, unconverged = 0;
        for (int64_t b = 0; b < blocks; ++b) {
            const float *e = host + 4 * b;
            res2 += e[0], norm2 += e[1];
            iters = VKS_MAX(iters, (int32_t)e[2]);
            if (e[3] == 0.0f) unconverged++;
        }
        const double rel = norm2 > 0 ? sqrt(res2 / norm2) : sqrt(res2);
        if (!isfinite(rel))
            st = vks__error(VKS_ERROR_NON_FINITE, "%s: m holds NaN or Inf (the approximation error is not finite)", fn);
        else if (res) {
            const vks_monarch_project_result out = {.struct_size = sizeof out,
                                                    .relative_error = rel,
                                                    .iterations = iters,
                                                    .unconverged = unconverged,
                                                    .max_rank = (int32_t)rmax,
                                                    .blocks = blocks};
            st = vks__struct_out(fn, "result", VKS_STRUCT_MONARCH_PROJECT_RESULT, res, &out);
        }
    }
    vks__free(host);
    if (results) {
        if (st != VKS_OK) vks__flush_locked(ctx); /* recorded work may still use it */
        vks__buffer_destroy_locked(results);
    }
    return st;
}

vks_status vks_monarch_project(vks_context *ctx, const vks_monarch_project_desc *d, vks_monarch_project_result *res) {
    project_call call = {.fn = "vks_monarch_project", .res = res};
    const vks_op op = {.fn = call.fn, .name = "monarch_project", .desc = d, .desc_arg = "desc",
                       .desc_type = VKS_STRUCT_MONARCH_PROJECT_DESC, .desc_copy = &call.d, .validate = project_check,
                       .record = project_record};
    return vks__op_run(ctx, &op, &call);
}
