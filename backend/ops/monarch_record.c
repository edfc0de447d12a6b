/*
 * Recorders of the Monarch family's kernels: the strided block-batched GEMM (every block-
 * diagonal product, the permutations folded into its strides), the explicit permutation
 * pass, and the forward paths that do not fuse (two-pass; the peers' unfused formulation).
 * The fused forward is in monarch_fused.c. Callers validated their arguments.
 */
#include <stddef.h>
#include <string.h>

#include "monarch_internal.h"

bool vks__mon_gpu_kernels(const vks_context *ctx) {
    /* The context's tuning can force either family on any device (tests run both everywhere). */
    return !vks__cpu_kernels(ctx);
}

/* ---- strided block-batched GEMM --------------------------------------------------------- */

typedef struct bmm_push {
    uint64_t a, b, c, bias;
    uint32_t m, n, k, accumulate;
    uint32_t a_bs, a_rs, a_cs, b_bs;
    uint32_t b_rs, b_cs, c_bs, c_rs;
    uint32_t c_cs, bias_bs, bias_cs, k_z;
    uint32_t k_j, k_lim, n_z, n_j;
    uint32_t n_lim, blocks, col_tiles, pad3;
} bmm_push;
_Static_assert(sizeof(bmm_push) == 128 && offsetof(bmm_push, m) == 32 && offsetof(bmm_push, k_z) == 92 &&
                   offsetof(bmm_push, n_lim) == 112,
               "bmm_push must mirror shaders/common/monarch_bmm_push.glsl");

mon_bmm vks__mon_bmm_init(vks_dtype dt, int64_t blocks, int64_t m, int64_t n, int64_t k) {
    return (mon_bmm){.dtype = dt, .m = m, .n = n, .k = k, .blocks = blocks, .k_z = 0, .k_j = 1, .k_lim = k,
                     .n_z = 0, .n_j = 1, .n_lim = n};
}

static bool shader_is_cpu(vks_shader_id id) {
    return id == VKS_SHADER_MONARCH_BMM_REGTILE_F32 || id == VKS_SHADER_MONARCH_BMM_REGTILE_F16;
}

static bool is_coopmat(vks_shader_id id) {
    return id == VKS_SHADER_MONARCH_BMM_COOPMAT_F16 || id == VKS_SHADER_MONARCH_BMM_COOPMAT_EMU_F16;
}

/* The tensor-core kernel: f16 on a device with VK_NV_cooperative_matrix (16x16x16 f16 x f16
 * + f32, which NVIDIA GPUs list) and 32-wide subgroups. By default for products of at most
 * 256 rows per block, where it measured faster on an H100 (docs/bench/h100-notes.md: n = 4096,
 * nblocks = 64, two-pass f16, batch 16: 0.021 vs 0.059 ms; batch 256: 0.064 vs 0.151 ms);
 * at batch 16384 the portable tiles were faster (1.9 vs 3.4 ms). tuning.monarch_coopmat
 * (VKS_MONARCH_COOPMAT) ON uses it for every product, OFF for none. */
static bool use_coopmat(const vks_context *ctx, const mon_bmm *g) {
    const vks_coopmat_mode mode = ctx->tuning.monarch_coopmat;
    if (g->dtype != VKS_DTYPE_F16 || !vks__tensor_cores(ctx)) return false;
    if (mode == VKS_COOPMAT_OFF) return false;
    if (mode == VKS_COOPMAT_ON) return true;
    return g->m <= 256 && vks__mon_gpu_kernels(ctx);
}

/* VKS_COOPMAT_EMULATE: the same tiles with the fragment operations emulated (tests). */
static bool use_coopmat_emulation(const vks_context *ctx, const mon_bmm *g) {
    return ctx->tuning.monarch_coopmat == VKS_COOPMAT_EMULATE && g->dtype == VKS_DTYPE_F16 &&
           vks__has_feature(ctx, VKS_FEATURE_STORAGE16);
}

/* tuning.monarch_grouped ON (VKS_MONARCH_GROUPED=1): the grouped kernel
 * (shaders/monarch_bmm_grouped.comp) for every product of the GPU family (the tensor-core
 * kernel only where monarch_coopmat forces it). Opt-in until measured on a GPU: it is built
 * for Monarch's second product at large batch (blocks interleaved in the intermediate and in
 * y), which ran at the same speed in f32 as in f16 on the H100 (docs/monarch.md). */
static bool use_grouped(const vks_context *ctx) {
    return ctx->tuning.monarch_grouped == VKS_TUNING_ON && vks__mon_gpu_kernels(ctx);
}

static bool coopmat_forced(const vks_context *ctx) {
    return ctx->tuning.monarch_coopmat == VKS_COOPMAT_ON || ctx->tuning.monarch_coopmat == VKS_COOPMAT_EMULATE;
}

/* Contiguous index of an operand for the grouped kernel's load order: 0 = terms, 1 =
 * blocks, 2 = rows (A) or columns (B); the smallest stride wins. */
static uint32_t contiguous_index(int64_t term_stride, int64_t block_stride, int64_t other_stride, int64_t blocks) {
    const int64_t bs = blocks > 1 ? block_stride : INT64_MAX;
    if (term_stride <= bs && term_stride <= other_stride) return 0;
    return bs <= other_stride ? 1 : 2;
}

typedef struct grouped_config {
    uint32_t g, bm, bn, bk, tm, tn;
} grouped_config;

/* f32: 8 blocks x 32 rows (8-element runs = one 32-byte sector); f16: 16 blocks x 16 rows.
 * 8 x 8 per invocation, 256 invocations; narrower blocks get narrower column tiles. BK is
 * the largest of 8, 4, 2 whose staging fits the device's shared memory. */
static grouped_config grouped_choose(const vks_context *ctx, const mon_bmm *g) {
    grouped_config c = {.g = 8, .bm = 32, .bn = 64, .bk = 8, .tm = 8, .tn = 8};
    if (g->dtype == VKS_DTYPE_F16) c.g = 16, c.bm = 16;
    while (c.bn > 8 && (int64_t)c.bn / 2 >= g->n) c.bn /= 2;
    c.tn = c.bn / 8;
    const uint32_t per_term = 4 * c.g * ((c.bm + 1) + (c.bn + 4)); /* f32 staging, see the shader */
    while (c.bk > 2 && per_term * c.bk > ctx->probe.info.max_shared_memory_bytes) c.bk /= 2;
    return c;
}

/* Its one linear launch order must fit a dispatch's x * y group counts. */
static bool grouped_fits(const vks_context *ctx, const mon_bmm *g, const grouped_config *c) {
    const int64_t linear = VKS_CEIL_DIV(g->n, c->bn) * VKS_CEIL_DIV(g->m, c->bm) * VKS_CEIL_DIV(g->blocks, c->g);
    return linear <= (int64_t)ctx->probe.info.max_workgroup_count[0] * ctx->probe.info.max_workgroup_count[1];
}

static vks_shader_id variant(vks_dtype dt, vks_shader_id f32, vks_shader_id f16) {
    return dt == VKS_DTYPE_F16 ? f16 : f32;
}

/* Columns per lane of the CPU kernel: enough to cover n with few idle lanes, at most 8. */
static uint32_t cpu_tn(int64_t n, uint32_t sg) {
    uint32_t tn = 1;
    while (tn < 8 && (int64_t)(tn * sg) < n) tn *= 2;
    return tn;
}

vks_status vks__mon_bmm_record(vks_context *ctx, const mon_bmm *g) {
    if (g->m == 0 || g->n == 0 || g->blocks == 0) return VKS_OK;
    bmm_push pc = {.a = g->a, .b = g->b, .c = g->c, .bias = g->bias,
                   .m = (uint32_t)g->m, .n = (uint32_t)g->n, .k = (uint32_t)g->k,
                   .a_bs = (uint32_t)g->a_bs, .a_rs = (uint32_t)g->a_rs, .a_cs = (uint32_t)g->a_cs,
                   .b_bs = (uint32_t)g->b_bs, .b_rs = (uint32_t)g->b_rs, .b_cs = (uint32_t)g->b_cs,
                   .c_bs = (uint32_t)g->c_bs, .c_rs = (uint32_t)g->c_rs, .c_cs = (uint32_t)g->c_cs,
                   .bias_bs = (uint32_t)g->bias_bs, .bias_cs = (uint32_t)g->bias_cs,
                   .k_z = (uint32_t)g->k_z, .k_j = (uint32_t)g->k_j, .k_lim = (uint32_t)g->k_lim,
                   .n_z = (uint32_t)g->n_z, .n_j = (uint32_t)g->n_j, .n_lim = (uint32_t)g->n_lim};
    vks_shader_id shader;
    vks_spec spec;
    uint32_t tile_m, tile_n, group = 1, act_index;
    /* On CPU devices long reductions go in slices (below); the grouped kernel spends more
     * loop iterations per term than the others. */
    int64_t cpu_kslice = MON_CPU_K_SLICE;
    const grouped_config gc = grouped_choose(ctx, g);
    if (use_grouped(ctx) && !coopmat_forced(ctx) && grouped_fits(ctx, g, &gc)) {
        const uint32_t threads = gc.g * (gc.bm / gc.tm) * (gc.bn / gc.tn);
        shader = variant(g->dtype, VKS_SHADER_MONARCH_BMM_GROUPED_F32, VKS_SHADER_MONARCH_BMM_GROUPED_F16);
        spec = (vks_spec){.count = 10,
                          .values = {threads, gc.g, gc.bm, gc.bn, gc.bk, gc.tm, gc.tn,
                                     contiguous_index(g->a_cs, g->a_bs, g->a_rs, g->blocks),
                                     contiguous_index(g->b_rs, g->b_bs, g->b_cs, g->blocks),
                                     (uint32_t)g->activation}};
        tile_m = gc.bm;
        tile_n = gc.bn;
        group = gc.g;
        act_index = 9;
        /* Loop iterations per BK terms, a bound: the k loop, its two staging loops, and BK
         * for the unrolled loop over the terms. (Measured at 8 columns, where this counts
         * 19: slices of 36000 terms ran right and of 43632 did not, i.e. 12-13 per step.) */
        const uint32_t iters_per_step = 1 + gc.bk + VKS_CEIL_DIV(gc.g * gc.bn * gc.bk, threads) +
                                        VKS_CEIL_DIV(gc.g * gc.bm * gc.bk, threads);
        cpu_kslice = (int64_t)(60000 / iters_per_step) * gc.bk;
    } else if (!vks__mon_gpu_kernels(ctx)) {
        /* lavapipe: see shaders/monarch_bmm_regtile.comp. Pairs need the pair to be one
         * aligned unit in every block and row. */
        const uint32_t sg = ctx->probe.info.subgroup_size, tn = cpu_tn(g->n, sg);
        const uint32_t tm = g->m <= sg ? sg : 2 * sg;
        const uint64_t align = 2 * vks__dtype_bytes(g->dtype);
        const bool pa = g->a_cs == 1 && g->a_rs % 2 == 0 && (g->blocks == 1 || g->a_bs % 2 == 0) && g->a % align == 0;
        const bool pb = g->b_rs == 1 && g->b_cs % 2 == 0 && (g->blocks == 1 || g->b_bs % 2 == 0) && g->b % align == 0;
        shader = variant(g->dtype, VKS_SHADER_MONARCH_BMM_REGTILE_F32, VKS_SHADER_MONARCH_BMM_REGTILE_F16);
        spec = (vks_spec){.count = 7,
                          .values = {sg, tm, tn, pa, pb, (uint32_t)g->activation, sg},
                          .required_subgroup_size = vks__has_feature(ctx, VKS_FEATURE_SUBGROUP_CONTROL) ? sg : 0};
        tile_m = tm;
        tile_n = sg * tn;
        act_index = 5;
    } else if (use_coopmat(ctx, g) || use_coopmat_emulation(ctx, g)) {
        const bool emulate = !use_coopmat(ctx, g);
        shader = emulate ? VKS_SHADER_MONARCH_BMM_COOPMAT_EMU_F16 : VKS_SHADER_MONARCH_BMM_COOPMAT_F16;
        spec = (vks_spec){.count = 5,
                          .values = {128, g->a_cs == 1, g->b_cs == 1, (uint32_t)g->activation, 0},
                          .required_subgroup_size =
                              !emulate && vks__has_feature(ctx, VKS_FEATURE_SUBGROUP_CONTROL) ? 32 : 0};
        tile_m = 64;
        tile_n = 64;
        act_index = 3;
    } else {
        const uint32_t bm = 64, bn = 64, tm = 4, tn = 4;
        shader = variant(g->dtype, VKS_SHADER_MONARCH_BMM_TILED_F32, VKS_SHADER_MONARCH_BMM_TILED_F16);
        spec = (vks_spec){.count = 10,
                          .values = {(bm / tm) * (bn / tn), bm, bn, 16, tm, tn, g->a_cs == 1, g->b_cs == 1,
                                     (uint32_t)g->activation, 0}};
        tile_m = bm;
        tile_n = bn;
        act_index = 8;
    }
    const uint32_t gx = (uint32_t)VKS_CEIL_DIV(g->n, tile_n);
    const int64_t row_tiles = VKS_CEIL_DIV(g->m, tile_m);
    /* Rows or blocks beyond the device's group-count limits go in several dispatches. On
     * CPU devices long reductions go in slices accumulated into C: lavapipe ends every loop
     * of an invocation after 65535 iterations in all (its loop limiter), silently. Bias and
     * activation belong to the last slice. */
    const int64_t ymax = ctx->probe.info.max_workgroup_count[1], zmax = ctx->probe.info.max_workgroup_count[2];
    const int64_t kslice = ctx->probe.info.type == VKS_DEVICE_CPU ? cpu_kslice : g->k;
    const size_t es = vks__dtype_bytes(g->dtype);
    /* GPUs: the blocks of a row tile next to each other in the launch order (see the shader),
     * when the whole grid fits one dispatch's x * y group counts. */
    const int64_t xmax = ctx->probe.info.max_workgroup_count[0];
    const int64_t linear = (int64_t)gx * row_tiles * VKS_CEIL_DIV(g->blocks, group);
    const bool grouped = group > 1;
    const bool block_fastest =
        grouped || (!shader_is_cpu(shader) && g->blocks > 1 && linear <= xmax * ymax);
    if (block_fastest) {
        if (!grouped) spec.values[is_coopmat(shader) ? 4 : 9] = 1;
        pc.blocks = (uint32_t)g->blocks;
        pc.col_tiles = gx;
    }
    for (int64_t k0 = 0; k0 < VKS_MAX(g->k, 1); k0 += kslice) {
        const bool last = k0 + kslice >= g->k;
        vks_spec sp = spec;
        if (!last) sp.values[act_index] = VKS_ACT_NONE;
        if (block_fastest) {
            bmm_push chunk = pc;
            chunk.a += (uint64_t)(k0 * g->a_cs) * es;
            chunk.b += (uint64_t)(k0 * g->b_rs) * es;
            if (g->bias && !last) chunk.bias = 0;
            chunk.k = (uint32_t)VKS_MIN(kslice, g->k - k0);
            chunk.accumulate = k0 > 0;
            chunk.k_lim = (uint32_t)(g->k_lim - k0 * g->k_j);
            const uint32_t lx = (uint32_t)VKS_MIN(linear, xmax), ly = (uint32_t)VKS_CEIL_DIV(linear, lx);
            VKS_TRY(vks__dispatch(ctx, shader, &sp, &chunk, sizeof chunk, lx, ly, 1));
            continue;
        }
        for (int64_t z0 = 0; z0 < g->blocks; z0 += zmax)
            for (int64_t y0 = 0; y0 < row_tiles; y0 += ymax) {
                const int64_t r0 = y0 * tile_m;
                bmm_push chunk = pc;
                chunk.a += (uint64_t)(z0 * g->a_bs + r0 * g->a_rs + k0 * g->a_cs) * es;
                chunk.b += (uint64_t)(z0 * g->b_bs + k0 * g->b_rs) * es;
                chunk.c += (uint64_t)(z0 * g->c_bs + r0 * g->c_rs) * es;
                if (g->bias) chunk.bias = last ? chunk.bias + (uint64_t)(z0 * g->bias_bs) * es : 0;
                chunk.m = (uint32_t)VKS_MIN(g->m - r0, ymax * tile_m);
                chunk.k = (uint32_t)VKS_MIN(kslice, g->k - k0);
                chunk.accumulate = k0 > 0;
                /* Limits relative to this slice and chunk (may wrap negative: the kernel reads int). */
                chunk.k_lim = (uint32_t)(g->k_lim - z0 * g->k_z - k0 * g->k_j);
                chunk.n_lim = (uint32_t)(g->n_lim - z0 * g->n_z);
                const uint32_t gy = (uint32_t)VKS_MIN(ymax, row_tiles - y0), gz = (uint32_t)VKS_MIN(zmax, g->blocks - z0);
                VKS_TRY(vks__dispatch(ctx, shader, &sp, &chunk, sizeof chunk, gx, gy, gz));
            }
    }
    return VKS_OK;
}

/* ---- explicit permutation pass ------------------------------------------------------------ */

typedef struct permute_push {
    uint64_t src, dst, bias;
    uint32_t n0, n1, n2, src_lim;
    uint32_t s0, s1, s2, col_lim;
    uint32_t d0, d1, d2, pad0;
} permute_push;
_Static_assert(sizeof(permute_push) == 72 && offsetof(permute_push, d0) == 56,
               "permute_push must mirror shaders/monarch_permute.comp");

vks_status vks__mon_permute_record(vks_context *ctx, const mon_permute *pm) {
    const int64_t total = pm->n0 * pm->n1 * pm->n2;
    if (total == 0) return VKS_OK;
    permute_push pc = {.src = pm->src, .dst = pm->dst, .bias = pm->bias,
                       .n0 = (uint32_t)pm->n0, .n1 = (uint32_t)pm->n1, .n2 = (uint32_t)pm->n2,
                       .src_lim = (uint32_t)pm->src_lim, .s0 = (uint32_t)pm->s0, .s1 = (uint32_t)pm->s1,
                       .s2 = (uint32_t)pm->s2, .col_lim = (uint32_t)VKS_MIN(pm->col_lim, (int64_t)UINT32_MAX),
                       .d0 = (uint32_t)pm->d0, .d1 = (uint32_t)pm->d1, .d2 = (uint32_t)pm->d2};
    const uint32_t wg = 64;
    const int64_t groups = VKS_CEIL_DIV(total, wg);
    const int64_t xmax = ctx->probe.info.max_workgroup_count[0];
    const uint32_t gx = (uint32_t)VKS_MIN(groups, xmax), gy = (uint32_t)VKS_CEIL_DIV(groups, gx);
    vks_spec spec = {.count = 2, .values = {wg, (uint32_t)pm->activation}};
    return vks__dispatch(ctx, variant(pm->dtype, VKS_SHADER_MONARCH_PERMUTE_F32, VKS_SHADER_MONARCH_PERMUTE_F16),
                         &spec, &pc, sizeof pc, gx, gy, 1);
}

/* ---- the forward paths that do not fuse ------------------------------------------------------ */

/* Stage 1 of the forward: out1 (batch, k*q) row-major = per block i, x_i w1[i]^T, the
 * columns of x past n_in read as zeros. */
static mon_bmm stage1(const mon_problem *pr, VkDeviceAddress out1) {
    mon_bmm g = vks__mon_bmm_init(pr->dtype, pr->k, pr->batch, pr->q, pr->p);
    g.a = pr->x, g.a_bs = pr->p, g.a_rs = pr->ldx, g.a_cs = 1;
    g.b = pr->w1, g.b_bs = pr->q * pr->p, g.b_rs = 1, g.b_cs = pr->p;
    g.c = out1, g.c_bs = pr->q, g.c_rs = pr->k * pr->q, g.c_cs = 1;
    g.k_z = pr->p, g.k_j = 1, g.k_lim = pr->n_in;
    return g;
}

vks_status vks__mon_forward_two_pass(vks_context *ctx, const mon_problem *pr, VkDeviceAddress scratch) {
    const int64_t kq = pr->k * pr->q;
    if (!scratch) VKS_TRY(vks__scratch(ctx, (uint64_t)(pr->batch * kq) * vks__dtype_bytes(pr->dtype), &scratch));
    mon_bmm g1 = stage1(pr, scratch);
    VKS_TRY(vks__mon_bmm_record(ctx, &g1));
    /* Stage 2, the middle permutation in A's strides and the output one in C's: block
     * l_idx reads u(b, rho) = out1[b, rho*l + l_idx] and writes y[b, t*l + l_idx]. */
    mon_bmm g2 = vks__mon_bmm_init(pr->dtype, pr->l, pr->batch, pr->s, pr->r);
    g2.a = scratch, g2.a_bs = 1, g2.a_rs = kq, g2.a_cs = pr->l;
    g2.b = pr->w2, g2.b_bs = pr->s * pr->r, g2.b_rs = 1, g2.b_cs = pr->r;
    g2.c = pr->y, g2.c_bs = 1, g2.c_rs = pr->ldy, g2.c_cs = pr->l;
    g2.bias = pr->bias, g2.bias_bs = 1, g2.bias_cs = pr->l;
    g2.n_z = 1, g2.n_j = pr->l, g2.n_lim = pr->m_out;
    g2.activation = pr->activation;
    return vks__mon_bmm_record(ctx, &g2);
}

static int64_t align_elems(int64_t n) { return (n + 63) & ~(int64_t)63; }

vks_status vks__mon_forward_unfused(vks_context *ctx, const mon_problem *pr) {
    /* As the peers run it: bmm, explicit middle shuffle, bmm, explicit output shuffle;
     * plus a zero-padded copy of x first when x is narrower than k*p. */
    const int64_t B = pr->batch, kp = pr->k * pr->p, kq = pr->k * pr->q, ls = pr->l * pr->s;
    const bool pad_x = pr->n_in < kp;
    const int64_t n_xp = pad_x ? align_elems(B * kp) : 0, n_out1 = align_elems(B * kq), n_u = n_out1;
    VkDeviceAddress base;
    VKS_TRY(vks__scratch(ctx, (uint64_t)(n_xp + n_out1 + n_u + B * ls) * vks__dtype_bytes(pr->dtype), &base));
    const vks_dtype dt = pr->dtype;
    const VkDeviceAddress xp = base, out1 = mon__addr(base, n_xp, dt), u = mon__addr(out1, n_out1, dt),
                          out2 = mon__addr(u, n_u, dt);
    VkDeviceAddress x = pr->x;
    int64_t ldx = pr->ldx;
    if (pad_x) {
        mon_permute pm = {.dtype = dt, .src = pr->x, .dst = xp, .n0 = B, .n1 = 1, .n2 = kp, .s0 = pr->ldx, .s2 = 1,
                          .d0 = kp, .d2 = 1, .src_lim = pr->n_in, .col_lim = INT32_MAX};
        VKS_TRY(vks__mon_permute_record(ctx, &pm));
        x = xp, ldx = kp;
    }
    /* out1 (B, k, q) = x_i w1[i]^T per block: the library's dense GEMM on strided views. */
    vks_gemm_args g = {.dtype = dt, .m = B, .n = pr->q, .k = pr->p, .batch = pr->k,
                       .a = x, .b = pr->w1, .c = out1,
                       .a_rs = ldx, .a_cs = 1, .b_rs = 1, .b_cs = pr->p, .c_rs = kq,
                       .a_bs = pr->p, .b_bs = pr->q * pr->p, .c_bs = pr->q, .alpha = 1.0};
    VKS_TRY(vks__gemm_record(ctx, &g));
    /* 'b (r l) -> b l r' into a compact (B, l, r). */
    mon_permute mid = {.dtype = dt, .src = out1, .dst = u, .n0 = B, .n1 = pr->l, .n2 = pr->r, .s0 = kq, .s1 = 1,
                       .s2 = pr->l, .d0 = pr->l * pr->r, .d1 = pr->r, .d2 = 1, .col_lim = INT32_MAX};
    VKS_TRY(vks__mon_permute_record(ctx, &mid));
    /* out2 (B, l, s) = u_l w2[l]^T per block. */
    vks_gemm_args g2 = {.dtype = dt, .m = B, .n = pr->s, .k = pr->r, .batch = pr->l,
                        .a = u, .b = pr->w2, .c = out2,
                        .a_rs = pr->l * pr->r, .a_cs = 1, .b_rs = 1, .b_cs = pr->r, .c_rs = ls,
                        .a_bs = pr->r, .b_bs = pr->s * pr->r, .c_bs = pr->s, .alpha = 1.0};
    VKS_TRY(vks__gemm_record(ctx, &g2));
    /* 'b l s -> b (s l)', truncated to m_out columns, with bias and activation. */
    mon_permute out = {.dtype = dt, .src = out2, .dst = pr->y, .bias = pr->bias, .n0 = B, .n1 = pr->s, .n2 = pr->l,
                       .s0 = ls, .s1 = 1, .s2 = pr->s, .d0 = pr->ldy, .d1 = pr->l, .d2 = 1,
                       .col_lim = pr->m_out, .activation = pr->activation};
    return vks__mon_permute_record(ctx, &out);
}
