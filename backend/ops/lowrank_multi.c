/*
 * Low-rank family, part 2: batches over many adapters (Punica's SGMV/BGMV, S-LoRA, vLLM).
 * Adapters are stacked without padding (per-adapter rank, scale and offsets); each row of x
 * names its adapter through a gathered or segmented mapping, in host memory (checked here)
 * or in device memory (checked by the plan kernel, see lowrank_plan.comp). Everything then
 * runs through vks__lr_record: one shrink, one fused base GEMM + expand.
 */
#include <stdlib.h>
#include <string.h>

#include "lowrank_internal.h"

vks_status vks_lora_pack_offsets(int32_t count, const int32_t *ranks, int64_t in_features, int64_t out_features,
                                 int64_t *a_offsets, int64_t *b_offsets, int64_t *a_elements, int64_t *b_elements) {
    static const char fn[] = "vks_lora_pack_offsets";
    if (count < 0 || count > VKS_LORA_MAX_ADAPTERS)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: count = %d, expected 0..%d (VKS_LORA_MAX_ADAPTERS)", fn,
                          count, VKS_LORA_MAX_ADAPTERS);
    if (count > 0 && !ranks) return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: ranks is NULL", fn);
    if (in_features < 0 || out_features < 0)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: in_features = %lld, out_features = %lld; expected >= 0", fn,
                          (long long)in_features, (long long)out_features);
    int64_t a = 0, b = 0;
    for (int32_t i = 0; i < count; ++i) {
        if (ranks[i] < 0)
            return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: ranks[%d] = %d, expected >= 0", fn, i, ranks[i]);
        if (a_offsets) a_offsets[i] = a;
        if (b_offsets) b_offsets[i] = b;
        int64_t da, db;
        if (__builtin_mul_overflow((int64_t)ranks[i], in_features, &da) || __builtin_add_overflow(a, da, &a) ||
            __builtin_mul_overflow((int64_t)ranks[i], out_features, &db) || __builtin_add_overflow(b, db, &b))
            return vks__error(VKS_ERROR_OUT_OF_RANGE, "%s: the packed sizes overflow 64 bits at adapter %d", fn, i);
    }
    if (a_elements) *a_elements = a;
    if (b_elements) *b_elements = b;
    return VKS_OK;
}

typedef enum multi_stage { STAGE_FORWARD, STAGE_SHRINK, STAGE_EXPAND } multi_stage;

/* What the validation leaves for recording; freed by multi_free. */
typedef struct multi_plan {
    lr_problem pb;
    lr_adapter *table;
    int32_t *slot_adapter;
    uint32_t *slot_row;
    lr_device_map dm;
} multi_plan;

static void multi_free(multi_plan *mp) {
    vks__free(mp->table);
    vks__free(mp->slot_adapter);
    vks__free(mp->slot_row);
}

/* An i32 tensor of n elements with unit stride. */
static vks_status check_i32_vector(vks_context *ctx, const vks_tensor *t, int64_t n, const char *fn, const char *arg) {
    VKS_TRY(vks__check_tensor(ctx, t, fn, arg));
    VKS_TRY(vks__check_ndim(t, 1, 1, fn, arg));
    VKS_TRY(vks__check_dtype(t, VKS_DTYPE_I32, fn, arg));
    if (n >= 0 && t->shape[0] != n)
        return vks__error(VKS_ERROR_SHAPE_MISMATCH, "%s: %s has %lld elements, expected %lld", fn, arg,
                          (long long)t->shape[0], (long long)n);
    if (t->shape[0] > 1 && t->strides[0] != 1)
        return vks__error(VKS_ERROR_UNSUPPORTED, "%s: %s.strides[0] = %lld, expected 1", fn, arg,
                          (long long)t->strides[0]);
    return VKS_OK;
}

/* Validates the adapter stack and fills mp->table (device addresses, ranks, scales). */
static vks_status check_adapters(vks_context *ctx, const char *fn, const vks_lora_adapters *ad, vks_dtype dt,
                                 int64_t in, int64_t out, bool need_a, bool need_b, multi_plan *mp) {
    if (!ad) return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: desc->adapters is NULL", fn);
    if (ad->count < 0 || ad->count > VKS_LORA_MAX_ADAPTERS)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: adapters->count = %d, expected 0..%d (VKS_LORA_MAX_ADAPTERS)",
                          fn, ad->count, VKS_LORA_MAX_ADAPTERS);
    if (ad->count > 0 && !ad->ranks) return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: adapters->ranks is NULL", fn);
    int64_t na = 0, nb = 0;
    const size_t es = vks__dtype_bytes(dt);
    VkDeviceAddress a_addr = 0, b_addr = 0;
    const vks_tensor *ts[2] = {need_a ? ad->a : NULL, need_b ? ad->b : NULL};
    static const char *const names[2] = {"adapters->a", "adapters->b"};
    for (int i = 0; i < 2; ++i) {
        if (!(i ? need_b : need_a) || (!ts[i] && ad->count == 0)) continue;
        VKS_TRY(vks__check_tensor(ctx, ts[i], fn, names[i]));
        VKS_TRY(vks__check_dtype(ts[i], dt, fn, names[i]));
        if (!vks__tensor_is_contiguous(ts[i]))
            return vks__error(VKS_ERROR_UNSUPPORTED, "%s: %s must be compact (it is read as a flat array)", fn,
                              names[i]);
        *(i ? &nb : &na) = vks__tensor_numel(ts[i]);
        *(i ? &b_addr : &a_addr) = vks__tensor_address(ts[i]);
    }
    mp->table = vks__calloc((size_t)VKS_MAX(ad->count, 1), sizeof *mp->table);
    if (!mp->table) return vks__error(VKS_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", fn);
    int64_t a_next = 0, b_next = 0; /* packed offsets when the caller gives none */
    for (int32_t i = 0; i < ad->count; ++i) {
        const int64_t r = ad->ranks[i];
        if (r < 0) return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: adapters->ranks[%d] = %lld, expected >= 0", fn, i,
                                     (long long)r);
        if (r > INT32_MAX / 2)
            return vks__error(VKS_ERROR_OUT_OF_RANGE, "%s: adapters->ranks[%d] = %lld is too large", fn, i, (long long)r);
        const double s = ad->scales ? ad->scales[i] : 1.0;
        const int64_t ao = ad->a_offsets ? ad->a_offsets[i] : a_next, bo = ad->b_offsets ? ad->b_offsets[i] : b_next;
        a_next += r * in, b_next += r * out;
        if (need_a && r > 0 && (ao < 0 || ao > na || r * in > na - ao))
            return vks__error(VKS_ERROR_OUT_OF_RANGE,
                              "%s: adapter %d's A (%lld x %lld at element %lld) lies outside adapters->a (%lld elements)",
                              fn, i, (long long)r, (long long)in, (long long)ao, (long long)na);
        if (need_b && r > 0 && (bo < 0 || bo > nb || r * out > nb - bo))
            return vks__error(VKS_ERROR_OUT_OF_RANGE,
                              "%s: adapter %d's B (%lld x %lld at element %lld) lies outside adapters->b (%lld elements)",
                              fn, i, (long long)out, (long long)r, (long long)bo, (long long)nb);
        mp->table[i] = (lr_adapter){.s = need_a ? a_addr + (uint64_t)ao * es : 0,
                                    .e = need_b ? b_addr + (uint64_t)bo * es : 0,
                                    .rank = (uint32_t)r,
                                    .s_ld = (uint32_t)in,
                                    .e_ld = (uint32_t)r,
                                    .scale = (float)s};
    }
    return VKS_OK;
}

/* The row -> adapter mapping: host arrays checked here (and turned into slots sorted by
 * adapter when `sort`), or device tensors for the plan kernel. */
static vks_status check_mapping(vks_context *ctx, const char *fn, const vks_lora_multi_desc *d, int64_t m, bool sort,
                                multi_plan *mp) {
    const int32_t count = d->adapters->count;
    const bool gathered = d->layout == VKS_LORA_GATHERED;
    if (d->layout != VKS_LORA_GATHERED && d->layout != VKS_LORA_SEGMENTED)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: layout = %d, expected VKS_LORA_GATHERED or VKS_LORA_SEGMENTED",
                          fn, (int)d->layout);
    const bool host = gathered ? d->indices != NULL : (d->seg_starts != NULL || d->seg_adapters != NULL);
    const bool dev = gathered ? d->indices_dev != NULL : (d->seg_starts_dev != NULL || d->seg_adapters_dev != NULL);
    if (host == dev)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT,
                          gathered ? "%s: give exactly one of indices (host) and indices_dev (device)"
                                   : "%s: give exactly one of seg_starts/seg_adapters (host) and "
                                     "seg_starts_dev/seg_adapters_dev (device)",
                          fn);
    if (host && d->status)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT,
                          "%s: status is for device-resident mappings; host mappings are checked before recording", fn);
    mp->pb.multi = true;
    if (dev) {
        int64_t nseg = 0;
        if (gathered) {
            VKS_TRY(check_i32_vector(ctx, d->indices_dev, m, fn, "indices_dev"));
            mp->dm.ids = vks__tensor_address(d->indices_dev);
            mp->dm.ids_buffer = d->indices_dev->buffer;
            mp->dm.ids_offset = d->indices_dev->byte_offset;
        } else {
            if (!d->seg_starts_dev || !d->seg_adapters_dev)
                return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: %s is NULL", fn,
                                  d->seg_starts_dev ? "seg_adapters_dev" : "seg_starts_dev");
            VKS_TRY(check_i32_vector(ctx, d->seg_adapters_dev, -1, fn, "seg_adapters_dev"));
            nseg = d->seg_adapters_dev->shape[0];
            VKS_TRY(check_i32_vector(ctx, d->seg_starts_dev, nseg + 1, fn, "seg_starts_dev"));
            if (nseg > INT32_MAX - 1)
                return vks__error(VKS_ERROR_OUT_OF_RANGE, "%s: %lld segments; at most 2^31 - 2", fn, (long long)nseg);
            mp->dm.ids = vks__tensor_address(d->seg_adapters_dev);
            mp->dm.starts = vks__tensor_address(d->seg_starts_dev);
        }
        mp->dm.nseg = (uint32_t)nseg;
        if (d->status) {
            VKS_TRY(check_i32_vector(ctx, d->status, -1, fn, "status"));
            if (d->status->shape[0] < 2)
                return vks__error(VKS_ERROR_SHAPE_MISMATCH, "%s: status has %lld elements, expected >= 2", fn,
                                  (long long)d->status->shape[0]);
            mp->dm.status_buffer = d->status->buffer;
            mp->dm.status_offset = d->status->byte_offset;
        }
        mp->pb.dev_map = &mp->dm;
        return VKS_OK;
    }
    /* Host-resident: one id per row, checked. */
    int32_t *ids = vks__malloc(sizeof(int32_t) * (size_t)VKS_MAX(m, 1));
    if (!ids) return vks__error(VKS_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", fn);
    mp->slot_adapter = ids;
    if (gathered) {
        for (int64_t i = 0; i < m; ++i) {
            if (d->indices[i] < -1 || d->indices[i] >= count)
                return vks__error(VKS_ERROR_OUT_OF_RANGE, "%s: indices[%lld] = %d, expected -1..%d (adapters->count = %d)",
                                  fn, (long long)i, d->indices[i], count - 1, count);
            ids[i] = d->indices[i];
        }
    } else {
        const int32_t S = d->num_segments;
        if (S < 0) return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: num_segments = %d, expected >= 0", fn, S);
        if (!d->seg_starts || (S > 0 && !d->seg_adapters))
            return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: %s is NULL", fn,
                              d->seg_starts ? "seg_adapters" : "seg_starts");
        if (d->seg_starts[0] != 0)
            return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: seg_starts[0] = %d, expected 0", fn, d->seg_starts[0]);
        if (d->seg_starts[S] != m)
            return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: seg_starts[%d] = %d, expected the %lld rows of x", fn, S,
                              d->seg_starts[S], (long long)m);
        /* The whole order first: then every segment lies within [0, m) before ids is filled. */
        for (int32_t s = 0; s < S; ++s)
            if (d->seg_starts[s + 1] < d->seg_starts[s])
                return vks__error(VKS_ERROR_INVALID_ARGUMENT,
                                  "%s: seg_starts[%d] = %d is below seg_starts[%d] = %d (expected non-decreasing)", fn,
                                  s + 1, d->seg_starts[s + 1], s, d->seg_starts[s]);
        for (int32_t s = 0; s < S; ++s) {
            if (d->seg_adapters[s] < -1 || d->seg_adapters[s] >= count)
                return vks__error(VKS_ERROR_OUT_OF_RANGE,
                                  "%s: seg_adapters[%d] = %d, expected -1..%d (adapters->count = %d)", fn, s,
                                  d->seg_adapters[s], count - 1, count);
            for (int32_t i = d->seg_starts[s]; i < d->seg_starts[s + 1]; ++i) ids[i] = d->seg_adapters[s];
        }
    }
    if (!sort || !gathered) return VKS_OK;
    /* Slots sorted by adapter (stable counting sort), so that tiles hold few adapters. */
    uint32_t *rows = vks__malloc(sizeof(uint32_t) * (size_t)VKS_MAX(m, 1));
    int64_t *start = vks__calloc((size_t)count + 2, sizeof *start);
    int32_t *sorted = vks__malloc(sizeof(int32_t) * (size_t)VKS_MAX(m, 1));
    if (!rows || !start || !sorted) {
        vks__free(rows), vks__free(start), vks__free(sorted);
        return vks__error(VKS_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", fn);
    }
    for (int64_t i = 0; i < m; ++i) start[ids[i] + 2]++; /* id -1 -> bucket 0 */
    for (int32_t b = 1; b < count + 2; ++b) start[b] += start[b - 1];
    for (int64_t i = 0; i < m; ++i) {
        const int64_t pos = start[ids[i] + 1]++;
        rows[pos] = (uint32_t)i;
        sorted[pos] = ids[i];
    }
    vks__free(start);
    vks__free(ids);
    mp->slot_adapter = sorted;
    mp->slot_row = rows;
    return VKS_OK;
}

/* Keeps only the adapters some row uses (host mappings), renumbered in order of first use:
 * the table uploaded per call then grows with the batch, not with the adapters loaded. */
static vks_status compact_table(const char *fn, multi_plan *mp, int32_t count, int64_t m) {
    int32_t *remap = vks__malloc(sizeof(int32_t) * (size_t)VKS_MAX(count, 1));
    lr_adapter *used_table = vks__malloc(sizeof(lr_adapter) * (size_t)VKS_MAX(VKS_MIN(count, m), 1));
    if (!remap || !used_table) {
        vks__free(remap), vks__free(used_table);
        return vks__error(VKS_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", fn);
    }
    for (int32_t i = 0; i < count; ++i) remap[i] = -1;
    int32_t used = 0;
    uint32_t max_rank = 0;
    for (int64_t s = 0; s < m; ++s) {
        const int32_t a = mp->slot_adapter[s];
        if (a < 0) continue;
        if (remap[a] < 0) {
            remap[a] = used;
            used_table[used++] = mp->table[a];
            max_rank = VKS_MAX(max_rank, mp->table[a].rank);
        }
        mp->slot_adapter[s] = remap[a];
    }
    vks__free(remap);
    vks__free(mp->table);
    mp->table = used_table;
    mp->pb.adapters = used_table;
    mp->pb.nadapters = used;
    mp->pb.max_rank = max_rank;
    return VKS_OK;
}

static vks_status multi_validate(vks_context *ctx, const char *fn, const vks_lora_multi_desc *d, multi_stage stage,
                                 const vks_tensor *t, multi_plan *mp) {
    memset(mp, 0, sizeof *mp);
    const bool need_x = stage != STAGE_EXPAND || d->w, need_y = stage != STAGE_SHRINK;
    lr_mat mx = {0}, my = {0}, mw = {0}, mt = {0};
    int64_t m = -1, in = 0, out = 0;
    vks_dtype dt = VKS_DTYPE_F32;
    if (need_x) {
        VKS_TRY(vks__rows_view(ctx, d->x, 2, 4, false, fn, "x", &mx));
        VKS_TRY(vks__check_dtype_in(ctx, mx.dtype, VKS_LR_DTYPES, fn, "x"));
        m = mx.rows, in = mx.cols, dt = mx.dtype;
    }
    if (need_y) {
        VKS_TRY(vks__rows_view(ctx, d->y, 2, 4, false, fn, "y", &my));
        if (!need_x) {
            VKS_TRY(vks__check_dtype_in(ctx, my.dtype, VKS_LR_DTYPES, fn, "y"));
            dt = my.dtype, m = my.rows;
        }
        VKS_TRY(vks__check_dtype(d->y, dt, fn, "y"));
        VKS_TRY(vks__lr_check_y(&my, m, fn));
        out = my.cols;
    }
    if (need_y && d->w) VKS_TRY(vks__lr_check_weight(ctx, d->w, dt, out, in, fn, &mw));
    VkDeviceAddress bias = 0;
    if (need_y && d->bias) VKS_TRY(vks__vector_view(ctx, d->bias, dt, out, fn, "bias", &bias));
    VKS_TRY(check_adapters(ctx, fn, d->adapters, dt, in, out, stage != STAGE_EXPAND, stage != STAGE_SHRINK, mp));
    uint32_t max_rank = 0;
    for (int32_t i = 0; i < d->adapters->count; ++i) max_rank = VKS_MAX(max_rank, mp->table[i].rank);
    if (t) {
        VKS_TRY(vks__rows_view(ctx, t, 2, 2, false, fn, "t", &mt));
        if (mt.dtype != VKS_DTYPE_F32)
            return vks__error(VKS_ERROR_DTYPE_MISMATCH, "%s: t has dtype %s, expected f32", fn,
                              vks__dtype_name(mt.dtype));
        if (mt.rows != m || mt.cols < (int64_t)max_rank)
            return vks__error(VKS_ERROR_SHAPE_MISMATCH, "%s: t is %lld x %lld, expected %lld rows and >= %u columns", fn,
                              (long long)mt.rows, (long long)mt.cols, (long long)m, max_rank);
        if (stage == STAGE_SHRINK) VKS_TRY(vks__check_output_rows(&mt, fn, "t"));
    }
    /* Outputs (y or t, and the status word) must not alias inputs or each other. */
    const vks_arg outs[] = {{stage == STAGE_SHRINK ? t : d->y, stage == STAGE_SHRINK ? "t" : "y", NULL},
                            {d->status, "status", NULL}};
    const vks_arg ins[] = {{need_x ? d->x : NULL, "x", NULL},
                           {need_y ? d->w : NULL, "w", NULL},
                           {need_y ? d->bias : NULL, "bias", NULL},
                           {stage != STAGE_EXPAND ? d->adapters->a : NULL, "adapters->a", NULL},
                           {stage != STAGE_SHRINK ? d->adapters->b : NULL, "adapters->b", NULL},
                           {stage == STAGE_EXPAND ? t : NULL, "t", NULL},
                           {d->indices_dev, "indices_dev", NULL},
                           {d->seg_starts_dev, "seg_starts_dev", NULL},
                           {d->seg_adapters_dev, "seg_adapters_dev", NULL}};
    VKS_TRY(vks__check_no_alias(outs, 2, ins, VKS_COUNT_OF(ins), fn));

    VKS_TRY(check_mapping(ctx, fn, d, m, stage == STAGE_FORWARD, mp));
    lr_problem *pb = &mp->pb;
    pb->fn = fn;
    pb->op = stage == STAGE_FORWARD ? "lora_multi_forward" : stage == STAGE_SHRINK ? "lora_multi_shrink"
                                                                                    : "lora_multi_expand";
    pb->dtype = dt;
    pb->m = (uint32_t)m, pb->in = (uint32_t)in, pb->out = (uint32_t)out;
    pb->x = need_x ? mx.address : 0, pb->ldx = (uint32_t)mx.ld;
    pb->y = need_y ? my.address : 0, pb->ldy = (uint32_t)my.ld;
    pb->w = d->w && need_y ? mw.address : 0, pb->ldw = (uint32_t)mw.ld;
    pb->bias = bias;
    pb->beta = (float)d->beta;
    pb->adapters = mp->table;
    pb->nadapters = d->adapters->count;
    pb->max_rank = max_rank;
    pb->s_mode = LR_S_PLAIN;
    pb->shrink = stage != STAGE_EXPAND;
    pb->expand = stage != STAGE_SHRINK;
    pb->slot_adapter = mp->slot_adapter;
    pb->slot_row = mp->slot_row;
    if (t) pb->t = mt.address, pb->ldt = (uint32_t)mt.ld;
    if (!pb->dev_map) VKS_TRY(compact_table(fn, mp, d->adapters->count, m));
    return VKS_OK;
}

typedef struct multi_call {
    const char *fn;
    vks_lora_multi_desc d;     /* the library's full copies of the caller's structs */
    vks_lora_adapters adapters;
    multi_stage stage;
    const vks_tensor *t;
    multi_plan mp;
} multi_call;

static vks_status multi_check(vks_context *ctx, void *call, bool *empty) {
    multi_call *c = call;
    (void)empty; /* vks__lr_record knows what an empty problem still writes */
    if (c->stage != STAGE_FORWARD && !c->t) return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: t is NULL", c->fn);
    if (c->d.adapters) { /* the adapter stack through the struct_size rule too */
        VKS_TRY(vks__struct_in(c->fn, "desc->adapters", VKS_STRUCT_LORA_ADAPTERS, c->d.adapters, &c->adapters));
        c->d.adapters = &c->adapters;
    }
    VKS_TRY(multi_validate(ctx, c->fn, &c->d, c->stage, c->t, &c->mp));
    return vks__lr_check_problem(ctx, &c->mp.pb);
}

static vks_status multi_record(vks_context *ctx, void *call) { return vks__lr_record(ctx, &((multi_call *)call)->mp.pb); }

static vks_status multi_run(vks_context *ctx, const char *fn, const vks_lora_multi_desc *d, multi_stage stage,
                            const vks_tensor *t) {
    multi_call call = {.fn = fn, .stage = stage, .t = t};
    const vks_op op = {.fn = fn,
                       .name = stage == STAGE_FORWARD  ? "lora_multi_forward"
                               : stage == STAGE_SHRINK ? "lora_multi_shrink"
                                                       : "lora_multi_expand",
                       .desc = d,
                       .desc_arg = "desc",
                       .desc_type = VKS_STRUCT_LORA_MULTI_DESC,
                       .desc_copy = &call.d,
                       .validate = multi_check,
                       .record = multi_record};
    const vks_status st = vks__op_run(ctx, &op, &call);
    multi_free(&call.mp);
    return st;
}

vks_status vks_lora_multi_forward(vks_context *ctx, const vks_lora_multi_desc *desc) {
    return multi_run(ctx, "vks_lora_multi_forward", desc, STAGE_FORWARD, NULL);
}

vks_status vks_lora_multi_shrink(vks_context *ctx, const vks_lora_multi_desc *desc, const vks_tensor *t) {
    return multi_run(ctx, "vks_lora_multi_shrink", desc, STAGE_SHRINK, t);
}

vks_status vks_lora_multi_expand(vks_context *ctx, const vks_lora_multi_desc *desc, const vks_tensor *t) {
    return multi_run(ctx, "vks_lora_multi_expand", desc, STAGE_EXPAND, t);
}
