/*
 * Low-rank family, part 1: argument helpers, the recorder every low-rank forward goes
 * through (vks__lr_record), fused LoRA and factorized layers.
 *
 * Kernels (chosen per device type, see choose_kernels):
 *   lowrank_plan          device-resident adapter ids -> one checked id per row
 *   lowrank_shrink        t = s * x S^T in f32 (lanes split k; every adapter of a tile once)
 *   lowrank_fused_gemv    few rows: y = x W^T + t E^T + bias, lanes split k (reads W once)
 *   lowrank_fused_regtile many rows on lavapipe: register tiles, subgroup-shuffled x
 *   lowrank_fused_tiled   many rows on GPUs: shared-memory tiles
 * The expand (t E^T) is the second half of the base GEMM's reduction in each of them.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "lowrank_internal.h"

/* ---- push constants (mirrors of the shaders' blocks) ----------------------------------- */

typedef struct lr_fused_push {
    uint64_t x, w, y, bias;
    uint64_t t, adapters;
    uint64_t slot_row, slot_adapter;
    uint32_t m, n, k, ldx;
    uint32_t ldw, ldy, ldt, flags; /* LR_FLAG_* */
    float beta;
    uint32_t tsplits, tstride;
} lr_fused_push;
_Static_assert(offsetof(lr_fused_push, m) == 64 && offsetof(lr_fused_push, beta) == 96 &&
                   offsetof(lr_fused_push, tstride) == 104 && sizeof(lr_fused_push) <= VKS_PUSH_CONSTANT_BYTES,
               "lr_fused_push must mirror the push block of shaders/lowrank_fused_*.comp");

typedef struct lr_shrink_push {
    uint64_t x, t, adapters, slot_row, slot_adapter;
    uint32_t m, k, ldx, ldt;
    uint32_t kchunk, tstride;
    uint32_t kbase, accum;
    uint32_t flags; /* LR_FLAG_VEC_BASE: x rows vector-aligned */
} lr_shrink_push;
_Static_assert(offsetof(lr_shrink_push, m) == 40 && offsetof(lr_shrink_push, flags) == 72,
               "lr_shrink_push must mirror shaders/lowrank_shrink.comp");

/* Flags of the push blocks: choices made by uniform branches, not specialization constants,
 * so that they cost no extra pipeline (shaders/lowrank_*.comp). */
enum { LR_FLAG_VEC_BASE = 1u, LR_FLAG_VEC_T = 2u, LR_FLAG_PRODUCT = 4u };

typedef struct lr_plan_push {
    uint64_t ids, starts, dst, status;
    uint32_t m, nseg, nadapters;
} lr_plan_push;
_Static_assert(offsetof(lr_plan_push, m) == 32, "lr_plan_push must mirror shaders/lowrank_plan.comp");

/* ---- argument helpers ------------------------------------------------------------------- */

vks_status vks__lr_check_y(const lr_mat *my, int64_t m, const char *fn) {
    if (my->rows != m)
        return vks__error(VKS_ERROR_SHAPE_MISMATCH, "%s: y has %lld rows but x has %lld", fn, (long long)my->rows,
                          (long long)m);
    return vks__check_output_rows(my, fn, "y");
}

vks_status vks__lr_check_weight(vks_context *ctx, const vks_tensor *w, vks_dtype dt, int64_t out, int64_t in,
                           const char *fn, lr_mat *mw) {
    VKS_TRY(vks__rows_view(ctx, w, 2, 2, false, fn, "w", mw));
    VKS_TRY(vks__check_dtype(w, dt, fn, "w"));
    if (mw->rows != out || mw->cols != in)
        return vks__error(VKS_ERROR_SHAPE_MISMATCH, "%s: w is %lld x %lld, expected (out, in) = %lld x %lld", fn,
                          (long long)mw->rows, (long long)mw->cols, (long long)out, (long long)in);
    return VKS_OK;
}

/* ---- kernel choice -------------------------------------------------------------------------- */

typedef enum lr_fused_kind { LR_FUSED_GEMV, LR_FUSED_REGTILE, LR_FUSED_TILED } lr_fused_kind;

/* lavapipe: up to this many rows the gemv kernel, beyond it the register tiles. Measured at
 * 4096 x 4096 f32, gemv vs register tiles: 1 row 20 vs 34 ms, 2 rows 29 vs 37, 4 rows 40 vs 36. */
#define LR_CPU_GEMV_MAX_ROWS 2
/* GPUs: up to this many rows the gemv kernel (W streamed once by many workgroups). */
#define LR_GPU_GEMV_MAX_ROWS 32
/* lavapipe ends every loop of an invocation after 65535 iterations in all, silently (its loop
 * limiter, docs/ARCHITECTURE.md): on CPU devices reductions longer than this go in slices
 * over dispatches (the shrink accumulates into t, the base GEMM into y, the expand runs in a
 * pass of its own), whatever the kernel family. The longest loop of a slice (the scalar path,
 * one element per iteration) then stays far below the limit. */
#define LR_CPU_KSLICE 16384u

typedef struct lr_kernels {
    bool cpu;
    uint32_t sg;
    /* shrink */
    uint32_t sh_mt, sh_nc, sh_nsg;
    bool sh_wide;
    uint32_t sh_splits, sh_kchunk; /* split-K of the shrink (GPUs, few rows): partial t per split */
    /* fused */
    lr_fused_kind kind;
    uint32_t fu_mt, fu_nc, fu_nsg;
    bool fu_wide;
    uint32_t fu_vec; /* elements per vector load of the expand kernel (for e_vec) */
    uint32_t bm, bn, bk, tm, tn; /* tiled */
    bool base_by_gemm;           /* the base term by vks__gemm_record (tensor cores), the expand after it */
} lr_kernels;

static uint64_t align_to(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

static uint32_t pow2_at_least(uint32_t v, uint32_t cap) {
    uint32_t p = 1;
    while (p < v && p < cap) p *= 2;
    return p;
}

/* Elements of T per vector load: 16 bytes (GPUs) or 8 bytes (lavapipe: wider loads are split
 * into one scalar loop per 32/64-bit component). */
static uint32_t vec_elems(vks_dtype dt, bool wide) { return (uint32_t)((wide ? 16 : 8) / vks__dtype_bytes(dt)); }

static lr_kernels choose_kernels(const vks_context *ctx, const lr_problem *pb) {
    lr_kernels k = {.cpu = vks__cpu_kernels(ctx), .sg = ctx->probe.info.subgroup_size};
    if (k.sg == 0) k.sg = 1;
    if (k.cpu) {
        /* lavapipe: one subgroup per workgroup (the two cores take workgroups), 8-byte loads. */
        k.sh_nsg = 1, k.sh_wide = false, k.sh_mt = pb->m == 1 ? 1 : 8, k.sh_nc = 8;
        k.fu_nsg = 1, k.fu_wide = false, k.fu_mt = pow2_at_least(pb->m, 16), k.fu_nc = 8;
        /* Loads per FMA decide: the gemv kernel issues (NC + MT) loads per MT*NC*V FMAs, the
         * register tile TM/SG + TN per TM*TN*KV; one or two rows waste least with gemv. Beyond
         * 32 rows, 32 x 4 tiles: at 256 x 1024 x 1024 (f32 / f16) 16 x 8 runs 37 / 23.5 ms,
         * 32 x 8 25 / 20 and 32 x 4 28.5 / 20.5, and 32 x 4 compiles in half the time of 32 x 8
         * (2.5 s against 5.5 s on lavapipe's first use). */
        k.kind = pb->m <= LR_CPU_GEMV_MAX_ROWS || pb->e_product ? LR_FUSED_GEMV : LR_FUSED_REGTILE;
        if (k.kind == LR_FUSED_REGTILE) {
            k.fu_mt = pb->m <= k.sg ? k.sg : pb->m <= 4 * k.sg ? 2 * k.sg : 4 * k.sg;
            k.fu_nc = k.fu_mt > 2 * k.sg ? 4 : 8; /* TN */
        }
    } else {
        /* GPUs: 4 subgroups per workgroup, 16-byte loads; few rows per tile so that W streams
         * from many workgroups at once. */
        k.sh_nsg = 4, k.sh_wide = true, k.sh_mt = pb->m == 1 ? 1 : 8, k.sh_nc = 4;
        /* Row tiles of 1, 4 or 16 (rows past m are skipped): few pipelines, little waste. */
        k.fu_nsg = 4, k.fu_wide = true, k.fu_mt = pb->m == 1 ? 1 : pb->m <= 4 ? 4 : 16, k.fu_nc = 4;
        /* Beyond decode sizes shared-memory tiles reuse W across many rows; their size
         * follows the tile count so that the device stays full. */
        k.kind = pb->m <= LR_GPU_GEMV_MAX_ROWS || pb->e_product ? LR_FUSED_GEMV : LR_FUSED_TILED;
        const uint64_t tiles128 = (uint64_t)VKS_CEIL_DIV(pb->m, 128u) * VKS_CEIL_DIV(pb->out, 128u);
        const uint64_t tiles64 = (uint64_t)VKS_CEIL_DIV(pb->m, 64u) * VKS_CEIL_DIV(pb->out, 64u);
        if (tiles128 >= 256) k.bm = 128, k.bn = 128, k.tm = 8, k.tn = 8, k.bk = 16;
        else if (tiles64 >= 128) k.bm = 64, k.bn = 64, k.tm = 4, k.tn = 4, k.bk = 32;
        else k.bm = 64, k.bn = 32, k.tm = 4, k.tn = 2, k.bk = 32;
        /* Shared tiles (+ the slot table) within the device's limit (Vulkan guarantees 16 KiB). */
        const uint32_t shared = (k.bk * (k.bm + 4) + k.bk * (k.bn + 4)) * 4 + k.bm * 8;
        if (shared > ctx->probe.info.max_shared_memory_bytes) k.bm = 64, k.bn = 32, k.tm = 4, k.tn = 2, k.bk = 16;
        /* f16 on NVIDIA's cooperative matrices (the condition gemm.c uses): no FMA kernel keeps
         * up with the tensor cores, so the base goes through the GEMM and the tiles only expand. */
        k.base_by_gemm = k.kind == LR_FUSED_TILED && pb->dtype == VKS_DTYPE_F16 && pb->w != 0 && vks__tensor_cores(ctx);
    }
    k.fu_vec = k.kind == LR_FUSED_REGTILE ? 2 : vec_elems(pb->dtype, k.fu_wide);
    /* Decode on GPUs: the shrink has only rank/16 x rows/8 workgroups, each walking all of k;
     * splitting k in 512-element parts (at most 16) cuts its latency, and the gemv kernel,
     * which reads t, adds the parts. A caller's t gets one part. */
    const uint32_t vec = vec_elems(pb->dtype, k.sh_wide);
    k.sh_splits = 1, k.sh_kchunk = (uint32_t)align_to(VKS_MAX(pb->in, 1u), vec);
    if (!k.cpu && k.kind == LR_FUSED_GEMV && pb->t == 0 && pb->expand) {
        const uint32_t want = VKS_MIN(16u, VKS_CEIL_DIV(pb->in, 512u));
        if (want > 1) {
            k.sh_kchunk = (uint32_t)align_to(VKS_CEIL_DIV(pb->in, want), vec);
            k.sh_splits = VKS_CEIL_DIV(pb->in, k.sh_kchunk);
        }
    }
    return k;
}

/* ---- the recorder ----------------------------------------------------------------------------- */

static vks_shader_id by_dtype(vks_dtype dt, vks_shader_id f32, vks_shader_id f16) {
    return dt == VKS_DTYPE_F16 ? f16 : f32;
}

static bool aligned_rows(uint64_t address, uint64_t ld, uint64_t rows, uint32_t vec, size_t es) {
    return address % (vec * es) == 0 && (rows <= 1 || ld % vec == 0);
}

/* This op's scratch: the buffer and the byte offset of the region vks__scratch handed out. */
typedef struct lr_region {
    vks_buffer *buffer;
    uint64_t offset;
    VkDeviceAddress address;
} lr_region;

/* Writes host data at `offset` of the region (inline in the command stream, 64 KiB at a time). */
static vks_status scratch_upload(vks_context *ctx, const lr_region *r, uint64_t offset, const void *data,
                                 uint64_t bytes) {
    const uint8_t *p = data;
    offset += r->offset;
    while (bytes) {
        uint32_t chunk = (uint32_t)VKS_MIN(bytes, 65536u);
        VKS_TRY(vks__record_update(ctx, r->buffer->buffer, offset, p, chunk));
        p += chunk, offset += chunk, bytes -= chunk;
    }
    return VKS_OK;
}

typedef struct lr_layout {
    uint64_t table, slot_row, slot_adapter, status, t, total;
} lr_layout;

static lr_layout scratch_layout(const lr_problem *pb, uint32_t ldt, uint32_t splits) {
    lr_layout l = {0};
    uint64_t off = 0;
    l.table = off, off = align_to(off + (uint64_t)VKS_MAX(pb->nadapters, 1) * sizeof(lr_adapter), 256);
    l.slot_row = off, off = align_to(off + (pb->slot_row ? (uint64_t)pb->m * 4 : 0), 256);
    l.slot_adapter = off, off = align_to(off + (pb->multi ? (uint64_t)pb->m * 4 : 0), 256);
    l.status = off, off = align_to(off + 16, 256);
    l.t = off, off = align_to(off + (pb->t ? 0 : (uint64_t)splits * pb->m * ldt * 4), 256);
    l.total = off;
    return l;
}

/* Slots [s0, s0 + count) of a kernel's push block: rows either through slot_row or direct. */
static void shift_slots_fused(lr_fused_push *pc, const lr_problem *pb, uint32_t s0, size_t es) {
    if (pc->slot_row) pc->slot_row += (uint64_t)s0 * 4;
    else {
        if (pc->x) pc->x += (uint64_t)s0 * pb->ldx * es;
        pc->y += (uint64_t)s0 * pb->ldy * es;
    }
    if (pc->slot_adapter) pc->slot_adapter += (uint64_t)s0 * 4;
    if (pc->t) pc->t += (uint64_t)s0 * pc->ldt * 4;
}

static vks_status record_plan(vks_context *ctx, const lr_problem *pb, VkDeviceAddress out, VkDeviceAddress status,
                              const vks_buffer *status_buf, uint64_t status_off) {
    const lr_device_map *dm = pb->dev_map;
    const int32_t init[2] = {0, INT32_MAX};
    VKS_TRY(vks__record_update(ctx, status_buf->buffer, status_off, init, sizeof init));
    lr_plan_push pc = {.ids = dm->ids,
                       .starts = dm->starts,
                       .dst = out,
                       .status = status,
                       .m = pb->m,
                       .nseg = dm->nseg,
                       .nadapters = (uint32_t)pb->nadapters};
    const uint32_t n = VKS_MAX(pb->m, dm->starts ? dm->nseg + 1 : 0);
    return vks__dispatch(ctx, VKS_SHADER_LOWRANK_PLAN, NULL, &pc, sizeof pc, VKS_CEIL_DIV(n, 64u), 1, 1);
}

static vks_status record_shrink(vks_context *ctx, const lr_problem *pb, const lr_kernels *k, VkDeviceAddress table,
                                VkDeviceAddress slot_row, VkDeviceAddress slot_adapter, VkDeviceAddress t,
                                uint32_t ldt) {
    const size_t es = vks__dtype_bytes(pb->dtype);
    const uint32_t vec = vec_elems(pb->dtype, k->sh_wide);
    const bool vec_x = aligned_rows(pb->x, pb->ldx, pb->m, vec, es);
    const vks_spec spec = {.count = 7,
                           .values = {k->sg * k->sh_nsg, k->sh_mt, k->sh_nc, k->sh_wide, 0, 0, pb->s_mode},
                           .required_subgroup_size = vks__has_feature(ctx, VKS_FEATURE_SUBGROUP_CONTROL) ? k->sg : 0};
    const uint32_t gx = VKS_CEIL_DIV(pb->max_rank, k->sh_nc * k->sh_nsg);
    const uint32_t ymax = ctx->probe.info.max_workgroup_count[1];
    const uint64_t per_dispatch = (uint64_t)ymax * k->sh_mt;
    /* k in slices on CPU devices (loop limiter); each slice split in sh_splits parts (z),
     * every part accumulating into its own partial t. */
    const uint32_t slice = ctx->probe.info.type == VKS_DEVICE_CPU ? LR_CPU_KSLICE : VKS_MAX(pb->in, 1u);
    const uint32_t kchunk = (uint32_t)align_to(VKS_CEIL_DIV(VKS_MIN(slice, VKS_MAX(pb->in, 1u)), k->sh_splits), vec);
    for (uint32_t kbase = 0; kbase == 0 || kbase < pb->in; kbase += slice)
        for (uint64_t s0 = 0; s0 < pb->m; s0 += per_dispatch) {
            const uint32_t cnt = (uint32_t)VKS_MIN(per_dispatch, pb->m - s0);
            lr_shrink_push pc = {.x = pb->x, .t = t, .adapters = table, .slot_row = slot_row,
                                 .slot_adapter = slot_adapter, .m = cnt, .k = VKS_MIN(pb->in, kbase + slice),
                                 .ldx = pb->ldx, .ldt = ldt, .kchunk = kchunk, .tstride = pb->m * ldt,
                                 .kbase = kbase, .accum = kbase > 0, .flags = vec_x ? LR_FLAG_VEC_BASE : 0u};
            if (slot_row) pc.slot_row += s0 * 4;
            else pc.x += s0 * pb->ldx * es;
            if (slot_adapter) pc.slot_adapter += s0 * 4;
            pc.t += s0 * ldt * 4;
            VKS_TRY(vks__dispatch(ctx,
                                  by_dtype(pb->dtype, VKS_SHADER_LOWRANK_SHRINK_F32, VKS_SHADER_LOWRANK_SHRINK_F16),
                                  &spec, &pc, sizeof pc, gx, VKS_CEIL_DIV(cnt, k->sh_mt), k->sh_splits));
        }
    return VKS_OK;
}

/* Columns of y per workgroup of the fused kernel chosen in k (they go along x, in one row). */
static uint32_t fused_cols_per_group(const lr_kernels *k) {
    return k->kind == LR_FUSED_REGTILE ? k->sg * k->fu_nc : k->kind == LR_FUSED_TILED ? k->bn : k->fu_nc * k->fu_nsg;
}

/* One pass of the fused kernel chosen in k over all rows (row chunks within the device's
 * workgroup-count limit): the base term when has_base, the expand when pc->adapters. */
static vks_status dispatch_fused(vks_context *ctx, const lr_problem *pb, const lr_kernels *k, const lr_fused_push *pc,
                                 bool has_base) {
    const size_t es = vks__dtype_bytes(pb->dtype);
    const uint32_t sgs = vks__has_feature(ctx, VKS_FEATURE_SUBGROUP_CONTROL) ? k->sg : 0;
    const bool vec_t = pc->t % 32 == 0 && (pb->m <= 1 || pc->ldt % 8 == 0);
    vks_spec spec;
    vks_shader_id shader;
    uint32_t rows_per_group, flags = 0;
    if (k->kind == LR_FUSED_REGTILE) {
        const uint32_t kv = (uint32_t)(8 / es);
        const bool vec_base = has_base && aligned_rows(pc->x, pb->ldx, pb->m, kv, es) &&
                              aligned_rows(pc->w, pb->ldw, pb->out, kv, es);
        flags = (vec_base ? LR_FLAG_VEC_BASE : 0u) | (vec_t ? LR_FLAG_VEC_T : 0u);
        spec = (vks_spec){.count = 9,
                          .values = {k->sg, k->fu_mt, k->fu_nc, 0, 0, 0, 0, 0, k->sg},
                          .required_subgroup_size = sgs};
        shader = by_dtype(pb->dtype, VKS_SHADER_LOWRANK_FUSED_REGTILE_F32, VKS_SHADER_LOWRANK_FUSED_REGTILE_F16);
        rows_per_group = k->fu_mt;
    } else if (k->kind == LR_FUSED_TILED) {
        spec = (vks_spec){.count = 9,
                          .values = {(k->bm / k->tm) * (k->bn / k->tn), k->bm, k->bn, k->bk, k->tm, k->tn, 0, 0, 0}};
        shader = by_dtype(pb->dtype, VKS_SHADER_LOWRANK_FUSED_TILED_F32, VKS_SHADER_LOWRANK_FUSED_TILED_F16);
        rows_per_group = k->bm;
    } else {
        const uint32_t vec = k->fu_vec;
        const bool vec_base = has_base && aligned_rows(pc->x, pb->ldx, pb->m, vec, es) &&
                              aligned_rows(pc->w, pb->ldw, pb->out, vec, es);
        flags = (vec_base ? LR_FLAG_VEC_BASE : 0u) | (vec_t ? LR_FLAG_VEC_T : 0u) |
                (pb->e_product ? LR_FLAG_PRODUCT : 0u);
        spec = (vks_spec){.count = 10,
                          .values = {k->sg * k->fu_nsg, k->fu_mt, k->fu_nc, k->fu_wide, 0, 0, 0, 0, 0,
                                     k->cpu ? 1u : 2u},
                          .required_subgroup_size = sgs};
        shader = by_dtype(pb->dtype, VKS_SHADER_LOWRANK_FUSED_GEMV_F32, VKS_SHADER_LOWRANK_FUSED_GEMV_F16);
        rows_per_group = k->fu_mt;
    }
    const uint32_t gx = VKS_CEIL_DIV(pb->out, fused_cols_per_group(k));
    const uint64_t per_dispatch = (uint64_t)ctx->probe.info.max_workgroup_count[1] * rows_per_group;
    for (uint64_t s0 = 0; s0 < pb->m; s0 += per_dispatch) {
        lr_fused_push chunk = *pc;
        chunk.flags = flags;
        chunk.m = (uint32_t)VKS_MIN(per_dispatch, pb->m - s0);
        shift_slots_fused(&chunk, pb, (uint32_t)s0, es);
        VKS_TRY(vks__dispatch(ctx, shader, &spec, &chunk, sizeof chunk, gx, VKS_CEIL_DIV(chunk.m, rows_per_group), 1));
    }
    return VKS_OK;
}

static vks_status record_fused(vks_context *ctx, const lr_problem *pb, const lr_kernels *k, VkDeviceAddress table,
                               VkDeviceAddress slot_row, VkDeviceAddress slot_adapter, VkDeviceAddress t,
                               uint32_t ldt) {
    const size_t es = vks__dtype_bytes(pb->dtype);
    const bool has_base = pb->w != 0 && pb->in > 0;
    lr_fused_push pc = {.x = has_base ? pb->x : 0,
                        .w = has_base ? pb->w : 0,
                        .y = pb->y,
                        .bias = pb->bias,
                        .t = t,
                        .adapters = table,
                        .slot_row = slot_row,
                        .slot_adapter = slot_adapter,
                        .n = pb->out,
                        .k = pb->in,
                        .ldx = pb->ldx,
                        .ldw = pb->ldw,
                        .ldy = pb->ldy,
                        .ldt = ldt,
                        .beta = pb->beta,
                        .tsplits = k->sh_splits,
                        .tstride = pb->m * ldt};
    const bool slices = has_base && ctx->probe.info.type == VKS_DEVICE_CPU && pb->in > LR_CPU_KSLICE;
    if (k->base_by_gemm && has_base) {
        /* Tensor cores: the library's GEMM writes y = x W^T + bias + beta*y; the expand then
         * adds t E^T to it (one more pass over y, a few % of the GEMM at these sizes). */
        const vks_gemm_args g = {.dtype = pb->dtype, .m = pb->m, .n = pb->out, .k = pb->in, .batch = 1,
                                 .a = pb->x, .b = pb->w, .c = pb->y, .bias = pb->bias,
                                 .a_rs = pb->ldx, .a_cs = 1, .b_rs = 1, .b_cs = pb->ldw, .c_rs = pb->ldy,
                                 .alpha = 1.0, .beta = pb->beta, .activation = VKS_ACT_NONE};
        VKS_TRY(vks__gemm_record(ctx, &g));
    } else if (slices) {
        /* CPU devices, long k (loop limiter): the base in slices accumulated into y (f16 y is
         * rounded between slices), bias and expand in the pass below. */
        for (uint32_t k0 = 0; k0 < pb->in; k0 += LR_CPU_KSLICE) {
            lr_fused_push part = pc;
            part.x += (uint64_t)k0 * es, part.w += (uint64_t)k0 * es;
            part.k = VKS_MIN(LR_CPU_KSLICE, pb->in - k0);
            part.beta = k0 ? 1.0f : pb->beta;
            part.bias = 0, part.adapters = 0;
            VKS_TRY(dispatch_fused(ctx, pb, k, &part, true));
        }
    } else {
        return dispatch_fused(ctx, pb, k, &pc, has_base);
    }
    /* The expand (and the bias, when the slices left it) on top of y. */
    if (!table && (k->base_by_gemm || !pb->bias)) return VKS_OK;
    lr_fused_push rest = pc;
    rest.x = 0, rest.w = 0, rest.k = 0, rest.beta = 1.0f;
    if (k->base_by_gemm) rest.bias = 0;
    return dispatch_fused(ctx, pb, k, &rest, false);
}

/* Reads the status word of a device-resident mapping and turns problems into an error. */
static vks_status check_status(const lr_problem *pb, vks_buffer *buffer, uint64_t status_off) {
    int32_t status[2];
    VKS_TRY(vks__buffer_read_locked(buffer, status_off, status, sizeof status));
    if (status[0] == 0) return VKS_OK;
    const uint32_t code = (uint32_t)status[1];
    if (code >= pb->m)
        return vks__error(VKS_ERROR_OUT_OF_RANGE,
                          "%s: seg_starts_dev[%u] breaks the segments (expected seg_starts[0] = 0, non-decreasing, "
                          "seg_starts[%u] = %u rows); %d problem(s), affected rows got the base output only",
                          pb->fn, code - pb->m, pb->dev_map->nseg, pb->m, status[0]);
    if (!pb->dev_map->starts) {
        int32_t id = 0;
        VKS_TRY(vks__buffer_read_locked(pb->dev_map->ids_buffer, pb->dev_map->ids_offset + 4ull * code, &id, 4));
        return vks__error(VKS_ERROR_OUT_OF_RANGE,
                          "%s: indices_dev[%u] = %d, expected -1..%d (adapters->count = %d); %d row(s) with a bad id "
                          "got the base output only",
                          pb->fn, code, id, pb->nadapters - 1, pb->nadapters, status[0]);
    }
    return vks__error(VKS_ERROR_OUT_OF_RANGE,
                      "%s: row %u lies outside the segments or its segment names an adapter outside -1..%d; %d "
                      "problem(s), affected rows got the base output only",
                      pb->fn, code, pb->nadapters - 1, status[0]);
}

/* Sizes past what one dispatch's row of workgroups covers (the fused kernels take y's columns
 * along x, the shrink the ranks, the plan kernel the rows; rows otherwise go in chunks). */
static vks_status check_group_counts(const vks_context *ctx, const lr_problem *pb, const lr_kernels *k) {
    const uint32_t xmax = ctx->probe.info.max_workgroup_count[0];
    const uint32_t cols = fused_cols_per_group(k), ranks = k->sh_nc * k->sh_nsg;
    if (pb->expand && VKS_CEIL_DIV(pb->out, cols) > xmax)
        return vks__error(VKS_ERROR_OUT_OF_RANGE,
                          "%s: y has %u columns; at most %llu on device '%s' (maxComputeWorkGroupCount[0] = %u)",
                          pb->fn, pb->out, (unsigned long long)xmax * cols, ctx->probe.info.name, xmax);
    if (pb->shrink && VKS_CEIL_DIV(pb->max_rank, ranks) > xmax)
        return vks__error(VKS_ERROR_OUT_OF_RANGE, "%s: rank %u; at most %llu on device '%s'", pb->fn, pb->max_rank,
                          (unsigned long long)xmax * ranks, ctx->probe.info.name);
    const uint64_t plan_max = (uint64_t)xmax * 64; /* lowrank_plan: one invocation per row or segment start */
    if (pb->dev_map && pb->m > plan_max)
        return vks__error(VKS_ERROR_OUT_OF_RANGE, "%s: %u rows with a device-resident mapping; at most %llu on device '%s'",
                          pb->fn, pb->m, (unsigned long long)plan_max, ctx->probe.info.name);
    if (pb->dev_map && pb->dev_map->starts && pb->dev_map->nseg + 1ull > plan_max)
        return vks__error(VKS_ERROR_OUT_OF_RANGE, "%s: seg_starts_dev has %llu elements; at most %llu on device '%s'",
                          pb->fn, pb->dev_map->nseg + 1ull, (unsigned long long)plan_max, ctx->probe.info.name);
    return VKS_OK;
}

static vks_status record_locked(vks_context *ctx, const lr_problem *pb) {
    const lr_kernels k = choose_kernels(ctx, pb);
    VKS_TRY(check_group_counts(ctx, pb, &k));
    const size_t es = vks__dtype_bytes(pb->dtype);
    const uint32_t ldt = pb->t ? pb->ldt : (uint32_t)align_to(VKS_MAX(pb->max_rank, 1u), 8);
    const lr_layout l = scratch_layout(pb, ldt, k.sh_splits);
    lr_region r = {0};
    VKS_TRY(vks__scratch(ctx, l.total, &r.address));
    r.buffer = ctx->scratch, r.offset = r.address - ctx->scratch->address;

    /* The adapter table, with alignment flags for the kernels chosen. */
    const int32_t na = pb->nadapters;
    lr_adapter *table = vks__calloc((size_t)VKS_MAX(na, 1), sizeof *table);
    if (!table) return vks__error(VKS_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", pb->fn);
    const uint32_t sh_vec = vec_elems(pb->dtype, k.sh_wide);
    for (int32_t i = 0; i < na; ++i) {
        lr_adapter a = pb->adapters[i];
        a.s_vec = a.rank > 0 && aligned_rows(a.s, a.s_ld, pb->s_mode == LR_S_PRODUCT ? 2 : a.rank, sh_vec, es) &&
                  (pb->s_mode != LR_S_PRODUCT || aligned_rows(a.g, a.g_ld, 2, sh_vec, es));
        a.e_vec = a.rank > 0 && !pb->e_product && aligned_rows(a.e, a.e_ld, pb->out, k.fu_vec, es);
        table[i] = a;
    }
    vks_status st = na > 0 ? scratch_upload(ctx, &r, l.table, table, (uint64_t)na * sizeof *table) : VKS_OK;
    vks__free(table);
    VKS_TRY(st);
    const VkDeviceAddress table_addr = na > 0 ? r.address + l.table : 0;
    const VkDeviceAddress slot_row = pb->slot_row ? r.address + l.slot_row : 0;
    const VkDeviceAddress slot_adapter = pb->multi ? r.address + l.slot_adapter : 0;
    if (pb->slot_row) VKS_TRY(scratch_upload(ctx, &r, l.slot_row, pb->slot_row, (uint64_t)pb->m * 4));
    if (pb->multi && pb->slot_adapter)
        VKS_TRY(scratch_upload(ctx, &r, l.slot_adapter, pb->slot_adapter, (uint64_t)pb->m * 4));
    const bool read_back = pb->dev_map && !pb->dev_map->status_buffer;
    if (pb->dev_map) {
        const lr_device_map *dm = pb->dev_map;
        const vks_buffer *sb = read_back ? r.buffer : dm->status_buffer;
        const uint64_t so = read_back ? r.offset + l.status : dm->status_offset;
        VKS_TRY(record_plan(ctx, pb, slot_adapter, sb->address + so, sb, so));
    }
    const VkDeviceAddress t = pb->t ? pb->t : r.address + l.t;
    if (pb->shrink && na > 0 && pb->max_rank > 0)
        VKS_TRY(record_shrink(ctx, pb, &k, table_addr, slot_row, slot_adapter, t, ldt));
    if (pb->expand)
        VKS_TRY(record_fused(ctx, pb, &k, pb->max_rank > 0 ? table_addr : 0, slot_row, slot_adapter, t, ldt));
    /* Within the op region, so that the status word's scratch is still this op's. */
    return read_back ? check_status(pb, r.buffer, r.offset + l.status) : VKS_OK;
}

vks_status vks__lr_check_problem(const vks_context *ctx, const lr_problem *pb) {
    if (pb->m == 0 || (pb->expand && pb->out == 0 && !pb->shrink)) return VKS_OK;
    /* The expand's loops over the ranks of the adapters in a tile (at most 32 of them) are not
     * sliced: on CPU devices they must stay within the loop limiter's budget. */
    const uint64_t rank_loop = (uint64_t)pb->max_rank * (uint64_t)VKS_MIN(VKS_MAX(pb->nadapters, 1), 32);
    if (ctx->probe.info.type == VKS_DEVICE_CPU && rank_loop > 32768)
        return vks__error(VKS_ERROR_UNSUPPORTED,
                          "%s: rank %u (x %d adapters) exceeds what a CPU device can reduce in one dispatch (lavapipe "
                          "stops loops after 65535 iterations); at most 32768 in all",
                          pb->fn, pb->max_rank, VKS_MIN(VKS_MAX(pb->nadapters, 1), 32));
    const bool read_back = pb->dev_map && !pb->dev_map->status_buffer;
    if (read_back && ctx->host_cmd)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT,
                          "%s: a device-resident adapter mapping needs desc->status while a host records (the op "
                          "cannot wait for its check)",
                          pb->fn);
    return VKS_OK;
}

vks_status vks__lr_record(vks_context *ctx, const lr_problem *pb) {
    if (pb->m == 0 || (pb->expand && pb->out == 0 && !pb->shrink)) {
        /* Nothing to compute; a caller's status word still says "no problem". */
        if (!pb->dev_map || !pb->dev_map->status_buffer) return VKS_OK;
        const int32_t clean[2] = {0, INT32_MAX};
        return vks__record_update(ctx, pb->dev_map->status_buffer->buffer, pb->dev_map->status_offset, clean, 8);
    }
    return vks__lr_splitk_applies(ctx, pb) ? vks__lr_record_splitk(ctx, pb) : record_locked(ctx, pb);
}

/* ---- fused LoRA and factorized layers ----------------------------------------------------------- */

/* y = beta*y + x W^T + s (x A^T) B^T + bias, with w optional. */
typedef struct single_call {
    lr_problem pb; /* what validation derives */
    lr_adapter ad;
    vks_lora_desc desc; /* vks_lora_forward: the library's full copy of the caller's */
    bool from_desc;
    const char *fn, *a_name, *b_name;
    const vks_tensor *x, *w, *a, *b, *bias, *y;
    double scale, beta;
} single_call;

static vks_status single_check(vks_context *ctx, void *call, bool *empty) {
    single_call *c = call;
    if (c->from_desc) {
        const vks_lora_desc *d = &c->desc;
        c->x = d->x, c->w = d->w, c->a = d->a, c->b = d->b, c->bias = d->bias, c->y = d->y;
        c->scale = d->scale, c->beta = d->beta;
    }
    const char *fn = c->fn, *a_name = c->a_name, *b_name = c->b_name;
    const vks_tensor *w = c->w;
    (void)empty; /* vks__lr_record knows what an empty problem still writes */
    lr_mat mx, my, mw = {0}, ma, mb;
    VKS_TRY(vks__rows_view(ctx, c->x, 2, 4, false, fn, "x", &mx));
    VKS_TRY(vks__check_dtype_in(ctx, mx.dtype, VKS_LR_DTYPES, fn, "x"));
    VKS_TRY(vks__rows_view(ctx, c->y, 2, 4, false, fn, "y", &my));
    VKS_TRY(vks__check_dtype(c->y, mx.dtype, fn, "y"));
    VKS_TRY(vks__rows_view(ctx, c->a, 2, 2, false, fn, a_name, &ma));
    VKS_TRY(vks__check_dtype(c->a, mx.dtype, fn, a_name));
    VKS_TRY(vks__rows_view(ctx, c->b, 2, 2, false, fn, b_name, &mb));
    VKS_TRY(vks__check_dtype(c->b, mx.dtype, fn, b_name));
    const int64_t m = mx.rows, in = mx.cols, out = my.cols, r = ma.rows;
    VKS_TRY(vks__lr_check_y(&my, m, fn));
    if (w) VKS_TRY(vks__lr_check_weight(ctx, w, mx.dtype, out, in, fn, &mw));
    if (ma.cols != in)
        return vks__error(VKS_ERROR_SHAPE_MISMATCH, "%s: %s is %lld x %lld, expected (r, in) with in = %lld", fn, a_name,
                          (long long)ma.rows, (long long)ma.cols, (long long)in);
    if (mb.rows != out || mb.cols != r)
        return vks__error(VKS_ERROR_SHAPE_MISMATCH, "%s: %s is %lld x %lld, expected (out, r) = %lld x %lld", fn, b_name,
                          (long long)mb.rows, (long long)mb.cols, (long long)out, (long long)r);
    VkDeviceAddress bias_addr = 0;
    if (c->bias) VKS_TRY(vks__vector_view(ctx, c->bias, mx.dtype, out, fn, "bias", &bias_addr));
    const vks_arg outs[] = {{c->y, "y", NULL}};
    const vks_arg ins[] = {{c->x, "x", NULL}, {w, "w", NULL}, {c->a, a_name, NULL}, {c->b, b_name, NULL},
                           {c->bias, "bias", NULL}};
    VKS_TRY(vks__check_no_alias(outs, 1, ins, 5, fn));

    c->ad = (lr_adapter){.s = ma.address,
                         .e = mb.address,
                         .rank = (uint32_t)r,
                         .s_ld = (uint32_t)ma.ld,
                         .e_ld = (uint32_t)mb.ld,
                         .scale = (float)c->scale};
    c->pb = (lr_problem){.fn = fn,
                         .op = c->pb.op,
                         .dtype = mx.dtype,
                         .m = (uint32_t)m,
                         .in = (uint32_t)in,
                         .out = (uint32_t)out,
                         .x = mx.address,
                         .w = w ? mw.address : 0,
                         .y = my.address,
                         .bias = bias_addr,
                         .ldx = (uint32_t)mx.ld,
                         .ldw = w ? (uint32_t)mw.ld : 0,
                         .ldy = (uint32_t)my.ld,
                         .beta = (float)c->beta,
                         .adapters = &c->ad,
                         .nadapters = 1,
                         .max_rank = (uint32_t)r,
                         .s_mode = LR_S_PLAIN,
                         .shrink = true,
                         .expand = true};
    return vks__lr_check_problem(ctx, &c->pb);
}

static vks_status single_record(vks_context *ctx, void *call) { return vks__lr_record(ctx, &((single_call *)call)->pb); }

vks_status vks_lora_forward(vks_context *ctx, const vks_lora_desc *d) {
    single_call call = {.pb.op = "lora_forward", .fn = "vks_lora_forward", .a_name = "a", .b_name = "b",
                        .from_desc = true};
    const vks_op op = {.fn = call.fn, .name = call.pb.op, .desc = d, .desc_arg = "desc",
                       .desc_type = VKS_STRUCT_LORA_DESC, .desc_copy = &call.desc, .validate = single_check,
                       .record = single_record};
    return vks__op_run(ctx, &op, &call);
}

vks_status vks_factorized_linear(vks_context *ctx, const vks_tensor *x, const vks_tensor *v, const vks_tensor *u,
                                 const vks_tensor *bias, const vks_tensor *y) {
    single_call call = {.pb.op = "factorized_linear", .fn = "vks_factorized_linear", .a_name = "v", .b_name = "u",
                        .x = x, .a = v, .b = u, .bias = bias, .y = y, .scale = 1.0, .beta = 0.0};
    const vks_op op = {.fn = call.fn, .name = call.pb.op, .validate = single_check, .record = single_record};
    return vks__op_run(ctx, &op, &call);
}
