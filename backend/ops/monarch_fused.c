/*
 * The fused Monarch forward: one dispatch, each workgroup computing a tile of TB rows for a
 * group of G output blocks, with exactly the intermediate values those blocks read kept on
 * chip (TB*G*r values in workgroup memory).
 *   CPUs: monarch_fused_regtile (register tiles shared by subgroup shuffles; needs q = R*l:
 *         then block i of w1 feeds every output block through R channels, as in the square
 *         Monarch and fly's MonarchLinear when nblocks divides the block size)
 *   GPUs, batch <= 32: monarch_fused_dot (one dot product per invocation, any shapes)
 *   GPUs, larger batches: monarch_fused_tiled (shared-memory staging, TM x TN register
 *         tiles; needs q = R*l)
 */
#include <stddef.h>

#include "monarch_internal.h"

typedef struct fused_push {
    uint64_t x, w1, w2, y, bias;
    uint32_t batch, n_in, m_out, ldx;
    uint32_t ldy, k, q, p;
    uint32_t l, s, r, R;
} fused_push;
_Static_assert(sizeof(fused_push) == 88 && offsetof(fused_push, batch) == 40 && offsetof(fused_push, l) == 72,
               "fused_push must mirror shaders/common/monarch_fused_push.glsl");

static uint32_t pow2_cover(int64_t n, uint32_t per, uint32_t cap) {
    uint32_t t = 1;
    while (t < cap && (int64_t)(t * per) < n) t *= 2;
    return t;
}

/* GPUs at decode batches: monarch_fused_dot, one output block per workgroup (the most
 * workgroups), all the batch's rows (up to 32) in each. Any shapes. */
static bool plan_dot(const vks_context *ctx, const mon_problem *pr, mon_fused_config *cfg) {
    const uint64_t shared_floats = ctx->probe.info.max_shared_memory_bytes / 4;
    if (pr->batch > 32) return false;
    uint32_t tb = 1;
    while ((int64_t)tb < pr->batch) tb *= 2;
    if ((uint64_t)tb * (uint64_t)pr->r > shared_floats) return false;
    cfg->shader = pr->dtype == VKS_DTYPE_F16 ? VKS_SHADER_MONARCH_FUSED_DOT_F16 : VKS_SHADER_MONARCH_FUSED_DOT_F32;
    cfg->spec = (vks_spec){.count = 5, .values = {256, tb, 1, (uint32_t)(tb * pr->r), (uint32_t)pr->activation}};
    cfg->groups_x = 1;
    cfg->groups_y = (uint32_t)pr->l;
    return true;
}

bool vks__mon_fused_plan(const vks_context *ctx, const mon_problem *pr, mon_fused_config *cfg) {
    if (vks__mon_gpu_kernels(ctx) && plan_dot(ctx, pr, cfg)) return true;
    if (pr->q % pr->l != 0) return false;
    const int64_t R = pr->q / pr->l;
    const uint64_t shared_floats = ctx->probe.info.max_shared_memory_bytes / 4; /* the intermediate is f32 */
    const bool f16 = pr->dtype == VKS_DTYPE_F16;
    if (!vks__mon_gpu_kernels(ctx)) {
        const uint32_t sg = ctx->probe.info.subgroup_size;
        /* Rows per tile: weights are loaded once per tile, so as many as the batch has, up to 2*SG
         * (measured: 16 rows x 16 blocks beat 8 x 32 and 32 x 8 at n = 1024, nblocks = 32). */
        uint32_t tb = pr->batch <= sg ? sg : 2 * sg;
        int64_t g = (int64_t)(shared_floats / ((uint64_t)tb * (uint64_t)pr->r));
        if (g < 1 && tb > sg) tb = sg, g = (int64_t)(shared_floats / ((uint64_t)tb * (uint64_t)pr->r));
        if (g < 1) return false;
        g = VKS_MIN(g, pr->l);
        /* Enough workgroups for every core when the batch gives few row tiles (decode). */
        const int64_t row_tiles = VKS_CEIL_DIV(pr->batch, tb), want = 8;
        if (row_tiles < want) g = VKS_MIN(g, VKS_MAX(1, pr->l / VKS_CEIL_DIV(want, row_tiles)));
        /* Balanced groups: the same count of blocks in each. */
        const int64_t groups = VKS_CEIL_DIV(pr->l, g);
        g = VKS_CEIL_DIV(pr->l, groups);
        const uint32_t tn1 = pow2_cover(g * R, sg, 8), tn2 = pow2_cover(pr->s, sg, 8);
        /* lavapipe's loop limiter (see MON_CPU_K_SLICE): the kernel's loops must stay well
         * under 65535 iterations per invocation (up to 3 per step of two terms). */
        const int64_t loops = pr->k * VKS_CEIL_DIV(g * R, (int64_t)sg * tn1) * (3 * VKS_CEIL_DIV(pr->p, 2) + 2) +
                              g * VKS_CEIL_DIV(pr->s, (int64_t)sg * tn2) * (3 * VKS_CEIL_DIV(pr->r, 2) + 2);
        if (loops > 50000) return false;
        const uint64_t align = 2 * vks__dtype_bytes(pr->dtype);
        const bool px = pr->ldx % 2 == 0 && pr->p % 2 == 0 && pr->x % align == 0;
        const bool pw1 = pr->p % 2 == 0 && pr->w1 % align == 0, pw2 = pr->r % 2 == 0 && pr->w2 % align == 0;
        cfg->shader = f16 ? VKS_SHADER_MONARCH_FUSED_REGTILE_F16 : VKS_SHADER_MONARCH_FUSED_REGTILE_F32;
        cfg->spec = (vks_spec){.count = 11,
                               .values = {sg, tb, (uint32_t)g, tn1, tn2, (uint32_t)(tb * g * pr->r), px, pw1, pw2,
                                          (uint32_t)pr->activation, sg},
                               .required_subgroup_size = vks__has_feature(ctx, VKS_FEATURE_SUBGROUP_CONTROL) ? sg : 0};
        cfg->groups_x = (uint32_t)row_tiles;
        cfg->groups_y = (uint32_t)groups;
        return true;
    }
    /* GPUs: tiles of TB = 16..64 rows (TM = TB/16 rows per invocation), as many output blocks
     * as the shared memory left after the staging tiles holds. */
    const uint32_t tn = 4, bk = 16;
    uint32_t tb = pr->batch <= 16 ? 16 : pr->batch <= 32 ? 32 : 64;
    int64_t g = 0;
    for (; tb >= 16; tb /= 2) { /* fewer rows per tile when one output block's values do not fit */
        const uint64_t staging = (uint64_t)bk * (tb + 1) + (uint64_t)bk * (16 * tn + 1);
        if (shared_floats > staging) g = (int64_t)((shared_floats - staging) / ((uint64_t)tb * (uint64_t)pr->r));
        if (g >= 1) break;
    }
    if (g < 1) return false;
    g = VKS_MIN(g, pr->l);
    const int64_t groups = VKS_CEIL_DIV(pr->l, g);
    g = VKS_CEIL_DIV(pr->l, groups);
    cfg->shader = f16 ? VKS_SHADER_MONARCH_FUSED_TILED_F16 : VKS_SHADER_MONARCH_FUSED_TILED_F32;
    cfg->spec = (vks_spec){.count = 7,
                           .values = {256, tb, (uint32_t)g, tb / 16, tn, (uint32_t)(tb * g * pr->r),
                                      (uint32_t)pr->activation}};
    cfg->groups_x = (uint32_t)VKS_CEIL_DIV(pr->batch, tb);
    cfg->groups_y = (uint32_t)groups;
    return true;
}

bool vks__mon_fused_preferred(const vks_context *ctx, const mon_problem *pr) {
    /* lavapipe: measured faster than two-pass at every shape it takes (it saves the
     * intermediate's global round trip, the loads that dominate there). GPUs: the decode
     * kernel (batch <= 32), one launch instead of two with every block in parallel; the tiled
     * kernel walks w1's blocks in sequence and re-reads x once per group of output blocks,
     * so larger batches go two-pass until measurements say otherwise (docs/monarch.md). */
    return !vks__mon_gpu_kernels(ctx) || pr->batch <= 32;
}

vks_status vks__mon_forward_fused(vks_context *ctx, const mon_problem *pr, const mon_fused_config *cfg) {
    fused_push pc = {.x = pr->x, .w1 = pr->w1, .w2 = pr->w2, .y = pr->y, .bias = pr->bias,
                     .batch = (uint32_t)pr->batch, .n_in = (uint32_t)pr->n_in, .m_out = (uint32_t)pr->m_out,
                     .ldx = (uint32_t)pr->ldx, .ldy = (uint32_t)pr->ldy, .k = (uint32_t)pr->k, .q = (uint32_t)pr->q,
                     .p = (uint32_t)pr->p, .l = (uint32_t)pr->l, .s = (uint32_t)pr->s, .r = (uint32_t)pr->r,
                     .R = (uint32_t)(pr->q / pr->l)};
    /* Row tiles beyond the group-count limit: several dispatches over shifted x and y. */
    const int64_t xmax = ctx->probe.info.max_workgroup_count[0];
    const int64_t tb = cfg->spec.values[1];
    const size_t es = vks__dtype_bytes(pr->dtype);
    for (int64_t t0 = 0; t0 < cfg->groups_x; t0 += xmax) {
        fused_push chunk = pc;
        const int64_t r0 = t0 * tb;
        chunk.x += (uint64_t)(r0 * pr->ldx) * es;
        chunk.y += (uint64_t)(r0 * pr->ldy) * es;
        chunk.batch = (uint32_t)VKS_MIN(pr->batch - r0, xmax * tb);
        VKS_TRY(vks__dispatch(ctx, cfg->shader, &cfg->spec, &chunk, sizeof chunk,
                              (uint32_t)VKS_MIN(xmax, cfg->groups_x - t0), cfg->groups_y, 1));
    }
    return VKS_OK;
}
