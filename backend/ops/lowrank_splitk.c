/*
 * Fused LoRA at decode sizes on tensor cores: split-K over the columns of [W; A].
 *
 * A decode step has few rows (1..64), so a GEMM over x W^T has too few output tiles to keep
 * HBM busy while W streams through once. Here every workgroup takes one slice of k and 128
 * columns of [W; A] (W's out rows, then A's r rows: the base GEMM and the shrink in the same
 * pass), multiplies on tensor cores and writes f32 partial sums; a second dispatch adds the
 * slices and applies the epilogue: beta*y, the expand with t in f32 (scale included), bias.
 *   shaders/common/lowrank_splitk.glsl   the split-K pass (coopmat and emulated variants)
 *   shaders/lowrank_splitk_reduce.comp   the epilogue
 * The general kernels (lowrank.c) take everything this path does not.
 *
 * The context's tuning steers it (vks_tuning; VKS_LOWRANK_SPLITK in the environment):
 * lowrank_splitk OFF turns the path off, EMULATE runs it with emulated fragments wherever f16
 * storage exists (the tests do, so that lavapipe checks the tiling), lowrank_splitk_slices
 * forces a slice count. FMA runs the split pass on FMA units instead
 * (shaders/lowrank_splitk_fma.comp), f32 or f16 on any device: opt-in until timed on a GPU
 * (for f32 decode, and f16 on GPUs without tensor cores, which take the general kernels by
 * default).
 */
#include <stddef.h>

#include "lowrank_internal.h"

typedef struct lr_splitk_push {
    uint64_t x, w, a, pw, pt;
    uint32_t m, n, r, k;
    uint32_t ldx, ldw, lda;
    uint32_t kchunk, wgroups, flags;
} lr_splitk_push;
_Static_assert(offsetof(lr_splitk_push, m) == 40 && sizeof(lr_splitk_push) == 80,
               "lr_splitk_push must mirror shaders/common/lowrank_splitk.glsl");

typedef struct lr_splitk_reduce_push {
    uint64_t y, bias, b, pw, pt;
    uint32_t m, n, r, ldy, ldb, ksplit;
    float scale, beta;
} lr_splitk_reduce_push;
_Static_assert(offsetof(lr_splitk_reduce_push, m) == 40 && sizeof(lr_splitk_reduce_push) == 72,
               "lr_splitk_reduce_push must mirror shaders/lowrank_splitk_reduce.comp");

enum {
    SK_MAX_ROWS = 64,  /* 4 row fragments */
    SK_MAX_RANK = 256, /* RMAX of the reduce kernel */
};

/* The split-K pass's tile: subgroups per workgroup, 16-column fragments per subgroup, k steps
 * of 16 per batch of W, k of x per shared stage. */
typedef struct sk_tile {
    uint32_t nw, fn, u, kstage;
} sk_tile;

/* Shared memory of a tile (mirrors xs and ws of shaders/common/lowrank_splitk.glsl). */
static uint32_t sk_shared_bytes(const sk_tile *t, uint32_t fm) {
    return 16u * (16 * fm * (t->kstage / 8 + 1) + t->nw * t->fn * 16 * (2 * t->u + 1));
}

bool vks__lr_splitk_tile_wellformed(const vks_splitk_tile *w) {
    return w->nw >= 1 && w->nw <= 16 && w->fn >= 1 && w->fn <= 4 && w->u >= 1 && w->u <= 16 && w->kstage >= 16 &&
           w->kstage % 16 == 0;
}

/* 8 subgroups of 16 columns, batches of 8 k steps (4 for 64 rows, whose x takes the room);
 * measured on the H100 against 4 x 32 columns and batches of 4 (16 rows, 4096 -> 4096 / 11008:
 * 0.029 / 0.066 ms against 0.037 / 0.094): more subgroups per SM, more bytes in flight. Each
 * fits NVIDIA's 48 KiB per workgroup. The development knob tuning.lowrank_splitk_tile
 * (VKS_LOWRANK_SPLITK_TILE="nw,fn,u,kstage") tries others (ignored where it does not fit). */
static sk_tile choose_tile(const vks_context *ctx, uint32_t fm, bool emu) {
    sk_tile t = {.nw = 8, .fn = 1, .u = fm <= 2 ? 8 : 4, .kstage = fm == 1 ? 256 : 128};
    if (emu) t.u = 2;
    const vks_splitk_tile *o = &ctx->tuning.lowrank_splitk_tile;
    const sk_tile w = {.nw = o->nw, .fn = o->fn, .u = o->u, .kstage = o->kstage};
    if (vks__lr_splitk_tile_wellformed(o) && sk_shared_bytes(&w, fm) <= ctx->probe.info.max_shared_memory_bytes)
        t = w;
    return t;
}

/* Workgroups the split aims at, at least (about one per multiprocessor of a large GPU). */
#define SK_TARGET_GROUPS 128u

static bool splitk_emulated(const vks_context *ctx) { return ctx->tuning.lowrank_splitk == VKS_SPLITK_EMULATE; }

static bool splitk_fma(const vks_context *ctx) { return ctx->tuning.lowrank_splitk == VKS_SPLITK_FMA; }

/* Columns of [W; A] per workgroup of the FMA pass (NC of lowrank_splitk_fma.comp). */
#define SK_FMA_COLS 64u

bool vks__lr_splitk_applies(const vks_context *ctx, const lr_problem *pb) {
    if (ctx->tuning.lowrank_splitk == VKS_SPLITK_OFF) return false;
    /* One adapter for all rows, plain operands, a scratch t; f16 (f32 too on FMA units). */
    const bool fma = splitk_fma(ctx);
    if ((pb->dtype != VKS_DTYPE_F16 && !(fma && pb->dtype == VKS_DTYPE_F32)) || pb->multi || pb->slot_row ||
        pb->dev_map || pb->nadapters != 1 || pb->s_mode != LR_S_PLAIN || pb->e_product || pb->t || !pb->shrink ||
        !pb->expand)
        return false;
    const lr_adapter *ad = &pb->adapters[0];
    if (pb->m > SK_MAX_ROWS || ad->rank == 0 || ad->rank > SK_MAX_RANK || ad->post || pb->in == 0) return false;
    if (fma) return true; /* the dtype's own checks passed; 17 KiB of shared memory */
    const bool emu = splitk_emulated(ctx) && !vks__tensor_cores(ctx);
    const uint32_t fm = VKS_CEIL_DIV(pb->m, 16u);
    const sk_tile tile = choose_tile(ctx, fm, emu);
    if (sk_shared_bytes(&tile, fm) > ctx->probe.info.max_shared_memory_bytes) return false;
    if (splitk_emulated(ctx)) return vks__has_feature(ctx, VKS_FEATURE_STORAGE16 | VKS_FEATURE_FLOAT16);
    return vks__tensor_cores(ctx) && !vks__cpu_kernels(ctx);
}

vks_status vks__lr_record_splitk(vks_context *ctx, const lr_problem *pb) {
    const lr_adapter *ad = &pb->adapters[0];
    const uint32_t m = pb->m, n = pb->w ? pb->out : 0, r = ad->rank, k = pb->in;
    const uint32_t fm = VKS_CEIL_DIV(m, 16u);
    /* The emulation takes batches of two k steps (the loop's guards still run; lavapipe
     * compiles the unrolled emulated products slowly). */
    const bool emu = splitk_emulated(ctx) && !vks__tensor_cores(ctx), fma = splitk_fma(ctx);
    const sk_tile tile = choose_tile(ctx, fm, emu);
    const uint32_t cols = fma ? SK_FMA_COLS : tile.nw * tile.fn * 16;
    const uint32_t wgroups = VKS_CEIL_DIV(n, cols), groups = wgroups + VKS_CEIL_DIV(r, cols);
    /* Slices, as measured on the H100 (docs/bench/h100-notes.md): 4 was best at 1, 16 and 64
     * rows for 4096 and 11008 outputs, 8 within 7%, 15-32 slower (more partial sums to add,
     * and a stage of x per slice). More where few column groups would leave the GPU idle;
     * each slice at least 4 k steps of 16, partial sums within an eighth of W's bytes. */
    const uint32_t steps = VKS_CEIL_DIV(k, 16u);
    uint32_t ksplit = VKS_MAX(4u, SK_TARGET_GROUPS / groups);
    ksplit = VKS_MIN(ksplit, VKS_MAX(1u, steps / 4));
    ksplit = VKS_MIN(ksplit, VKS_MAX(1u, k / (16 * m)));
    if (ctx->tuning.lowrank_splitk_slices > 0) ksplit = VKS_MIN(ctx->tuning.lowrank_splitk_slices, steps);
    const uint32_t kchunk = 16 * VKS_CEIL_DIV(steps, ksplit);
    ksplit = VKS_CEIL_DIV(k, kchunk);
    if (ksplit > ctx->probe.info.max_workgroup_count[1])
        return vks__error(VKS_ERROR_UNSUPPORTED, "%s: internal: %u k slices exceed the device's workgroup count", pb->fn,
                          ksplit);
    /* The reduce takes y's columns 64 per workgroup, the split pass [W; A]'s 'cols' per one. */
    const uint32_t xmax = ctx->probe.info.max_workgroup_count[0];
    if (groups > xmax || VKS_CEIL_DIV(pb->out, 64u) > xmax)
        return vks__error(VKS_ERROR_OUT_OF_RANGE,
                          "%s: y has %u columns; at most %llu on device '%s' (maxComputeWorkGroupCount[0] = %u)",
                          pb->fn, pb->out, (unsigned long long)xmax * 64, ctx->probe.info.name, xmax);

    const uint64_t pw_bytes = (uint64_t)ksplit * m * n * 4, pt_bytes = (uint64_t)ksplit * m * r * 4;
    VkDeviceAddress scratch = 0;
    VKS_TRY(vks__scratch(ctx, VKS_MAX(pw_bytes + 256 + pt_bytes, 16u), &scratch));
    const VkDeviceAddress pw = scratch, pt = scratch + (pw_bytes + 255) / 256 * 256;

    const bool w_vec = pb->w && pb->w % 16 == 0 && (n <= 1 || pb->ldw % 8 == 0) && k % 8 == 0;
    const bool a_vec = ad->s % 16 == 0 && (r <= 1 || ad->s_ld % 8 == 0) && k % 8 == 0;
    const bool x_vec = pb->x % 16 == 0 && (m <= 1 || pb->ldx % 8 == 0);
    lr_splitk_push pc = {.x = pb->x, .w = pb->w, .a = ad->s, .pw = pw, .pt = pt,
                         .m = m, .n = n, .r = r, .k = k,
                         .ldx = pb->ldx, .ldw = pb->ldw, .lda = ad->s_ld,
                         .kchunk = kchunk, .wgroups = wgroups, .flags = (w_vec ? 1u : 0u) | (x_vec ? 2u : 0u) | (a_vec ? 8u : 0u)};
    if (fma) {
        /* RM rows per invocation, four row groups: m <= 4 RM. */
        const vks_spec spec = {.count = 1, .values = {VKS_CEIL_DIV(m, 4u)}};
        VKS_TRY(vks__dispatch(ctx, pb->dtype == VKS_DTYPE_F32 ? VKS_SHADER_LOWRANK_SPLITK_FMA_F32
                                                              : VKS_SHADER_LOWRANK_SPLITK_FMA_F16,
                              &spec, &pc, sizeof pc, groups, ksplit, 1));
    } else {
        const vks_spec spec = {.count = 6,
                               .values = {32 * tile.nw, tile.nw, fm, tile.fn, tile.kstage, tile.u},
                               .required_subgroup_size =
                                   !emu && vks__has_feature(ctx, VKS_FEATURE_SUBGROUP_CONTROL) ? 32 : 0};
        VKS_TRY(vks__dispatch(ctx, emu ? VKS_SHADER_LOWRANK_SPLITK_EMU : VKS_SHADER_LOWRANK_SPLITK_COOPMAT, &spec,
                              &pc, sizeof pc, groups, ksplit, 1));
    }

    lr_splitk_reduce_push rc = {.y = pb->y, .bias = pb->bias, .b = ad->e, .pw = n ? pw : 0, .pt = pt,
                                .m = m, .n = pb->out, .r = r, .ldy = pb->ldy, .ldb = ad->e_ld, .ksplit = ksplit,
                                .scale = ad->scale, .beta = pb->beta};
    return vks__dispatch(ctx,
                         pb->dtype == VKS_DTYPE_F32 ? VKS_SHADER_LOWRANK_SPLITK_REDUCE_F32
                                                    : VKS_SHADER_LOWRANK_SPLITK_REDUCE_F16,
                         NULL, &rc, sizeof rc,
                         VKS_CEIL_DIV(pb->out, 64u), VKS_CEIL_DIV(m, 16u), 1);
}
