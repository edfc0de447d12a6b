/*
 * Per-context tuning (vks_tuning in vkstruct.h): the kernel choices a context makes, settled
 * once by vks_context_create from the caller's struct, the context flags and the environment,
 * then read by the ops from ctx->tuning. This file is the one place that reads the tuning
 * variables of the environment; nothing under backend/ops/ calls getenv.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void vks__tuning_defaults(vks_tuning *t) { *t = (vks_tuning)VKS_TUNING_INIT; }

static bool gemm_tile_set(const vks_gemm_tile *t) {
    return t->bm || t->bn || t->bk || t->tm || t->tn || t->nbuf || t->col4;
}

static bool splitk_tile_set(const vks_splitk_tile *t) { return t->nw || t->fn || t->u || t->kstage; }

/* ---- the environment -------------------------------------------------------------------- */

/* The variable's value, NULL when unset or empty. */
static const char *env_value(const char *name) {
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

static void ignored(vks_context *ctx, const char *name, const char *value, const char *expected) {
    vks__message(ctx, VKS_MESSAGE_WARNING, "vks_context_create: %s=\"%s\" ignored; expected %s", name, value,
                 expected);
}

static void env_kernels(vks_context *ctx, vks_tuning *t) {
    /* VKS_MONARCH_KERNELS was the Monarch family's own switch; it now names the one field. */
    const char *name = "VKS_KERNELS", *v = env_value(name);
    if (!v) name = "VKS_MONARCH_KERNELS", v = env_value(name);
    if (!v) return;
    if (!strcmp(v, "cpu")) t->kernels = VKS_KERNELS_CPU;
    else if (!strcmp(v, "gpu")) t->kernels = VKS_KERNELS_GPU;
    else if (strcmp(v, "auto")) ignored(ctx, name, v, "auto, cpu or gpu");
}

static void env_monarch(vks_context *ctx, vks_tuning *t) {
    const char *v = env_value("VKS_MONARCH_COOPMAT");
    if (v) {
        if (!strcmp(v, "0")) t->monarch_coopmat = VKS_COOPMAT_OFF;
        else if (!strcmp(v, "1")) t->monarch_coopmat = VKS_COOPMAT_ON;
        else if (!strcmp(v, "emulate")) t->monarch_coopmat = VKS_COOPMAT_EMULATE;
        else ignored(ctx, "VKS_MONARCH_COOPMAT", v, "0, 1 or emulate");
    }
    v = env_value("VKS_MONARCH_GROUPED");
    if (v) {
        if (!strcmp(v, "0")) t->monarch_grouped = VKS_TUNING_OFF;
        else if (!strcmp(v, "1")) t->monarch_grouped = VKS_TUNING_ON;
        else ignored(ctx, "VKS_MONARCH_GROUPED", v, "0 or 1");
    }
}

/* Parses "a,b,c,..." of exactly `count` unsigned numbers. */
static bool parse_list(const char *v, uint32_t *out, int count) {
    const char *p = v;
    for (int i = 0; i < count; ++i) {
        char *end = NULL;
        if (*p < '0' || *p > '9') return false;
        const unsigned long x = strtoul(p, &end, 10);
        if (x > UINT32_MAX || *end != (i + 1 < count ? ',' : '\0')) return false;
        out[i] = (uint32_t)x;
        p = end + 1;
    }
    return true;
}

static void env_gemm(vks_context *ctx, vks_tuning *t) {
    const char *v = env_value("VKS_GEMM_TILED");
    uint32_t x[7];
    if (!v) return;
    if (parse_list(v, x, 7)) {
        const vks_gemm_tile w = {x[0], x[1], x[2], x[3], x[4], x[5], x[6]};
        if (vks__gemm_tile_wellformed(&w)) {
            t->gemm_tiled = w;
            return;
        }
    }
    ignored(ctx, "VKS_GEMM_TILED", v, "bm,bn,bk,tm,tn,nbuf,col4 that gemm_tiled takes (docs/API.md)");
}

static void env_lowrank(vks_context *ctx, vks_tuning *t) {
    const char *v = env_value("VKS_LOWRANK_SPLITK");
    if (v) {
        uint32_t n = 0;
        if (!strcmp(v, "0")) t->lowrank_splitk = VKS_SPLITK_OFF;
        else if (!strcmp(v, "emulate")) t->lowrank_splitk = VKS_SPLITK_EMULATE;
        else if (!strcmp(v, "fma")) t->lowrank_splitk = VKS_SPLITK_FMA;
        else if (parse_list(v, &n, 1) && n > 0) t->lowrank_splitk_slices = n;
        else ignored(ctx, "VKS_LOWRANK_SPLITK", v, "0, emulate, fma or a slice count >= 1");
    }
    v = env_value("VKS_LOWRANK_SPLITK_TILE");
    uint32_t x[4];
    if (!v) return;
    if (parse_list(v, x, 4)) {
        const vks_splitk_tile w = {x[0], x[1], x[2], x[3]};
        if (vks__lr_splitk_tile_wellformed(&w)) {
            t->lowrank_splitk_tile = w;
            return;
        }
    }
    ignored(ctx, "VKS_LOWRANK_SPLITK_TILE", v, "nw,fn,u,kstage that the split-K pass takes (docs/API.md)");
}

static void env_eigh(vks_context *ctx, vks_tuning *t) {
    const char *v = env_value("VKS_EIGH_REDUCTION");
    if (!v) return;
    if (!strcmp(v, "host")) t->eigh_reduction = VKS_EIGH_REDUCTION_HOST;
    else if (!strcmp(v, "device")) t->eigh_reduction = VKS_EIGH_REDUCTION_DEVICE;
    else if (strcmp(v, "auto")) ignored(ctx, "VKS_EIGH_REDUCTION", v, "auto, host or device");
}

/* ---- the caller's struct ------------------------------------------------------------------ */

/* The caller's values, after the struct_size rule made *c a full copy. */
static vks_status check_caller(const vks_tuning *c) {
    const char *fn = "vks_context_create";
    if (c->flags & ~(uint32_t)VKS_TUNING_NO_ENVIRONMENT)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: options.tuning->flags = 0x%x has unknown bits 0x%x", fn,
                          c->flags, c->flags & ~(uint32_t)VKS_TUNING_NO_ENVIRONMENT);
    if ((unsigned)c->kernels > VKS_KERNELS_GPU)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT,
                          "%s: options.tuning->kernels = %d, expected a vks_kernel_family (0..2)", fn, (int)c->kernels);
    if ((unsigned)c->monarch_coopmat > VKS_COOPMAT_EMULATE)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT,
                          "%s: options.tuning->monarch_coopmat = %d, expected a vks_coopmat_mode (0..3)", fn,
                          (int)c->monarch_coopmat);
    if ((unsigned)c->monarch_grouped > VKS_TUNING_ON)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT,
                          "%s: options.tuning->monarch_grouped = %d, expected a vks_tuning_switch (0..2)", fn,
                          (int)c->monarch_grouped);
    if ((unsigned)c->lowrank_splitk > VKS_SPLITK_FMA)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT,
                          "%s: options.tuning->lowrank_splitk = %d, expected a vks_splitk_mode (0..3)", fn,
                          (int)c->lowrank_splitk);
    if ((unsigned)c->eigh_reduction > VKS_EIGH_REDUCTION_DEVICE)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT,
                          "%s: options.tuning->eigh_reduction = %d, expected a vks_eigh_reduction (0..2)", fn,
                          (int)c->eigh_reduction);
    const vks_gemm_tile *g = &c->gemm_tiled;
    if (gemm_tile_set(g) && !vks__gemm_tile_wellformed(g))
        return vks__error(VKS_ERROR_INVALID_ARGUMENT,
                          "%s: options.tuning->gemm_tiled = {bm %u, bn %u, bk %u, tm %u, tn %u, nbuf %u, col4 %u}, "
                          "expected all zero or a tile gemm_tiled takes: 1 <= bk <= 64, tm | bm, tn | bn, "
                          "tm * tn <= 128, nbuf 1 or 2, col4 0 or 1 (1 needs 4 | tn)",
                          fn, g->bm, g->bn, g->bk, g->tm, g->tn, g->nbuf, g->col4);
    const vks_splitk_tile *s = &c->lowrank_splitk_tile;
    if (splitk_tile_set(s) && !vks__lr_splitk_tile_wellformed(s))
        return vks__error(VKS_ERROR_INVALID_ARGUMENT,
                          "%s: options.tuning->lowrank_splitk_tile = {nw %u, fn %u, u %u, kstage %u}, expected all "
                          "zero or 1 <= nw <= 16, 1 <= fn <= 4, 1 <= u <= 16, kstage a multiple of 16 >= 16",
                          fn, s->nw, s->fn, s->u, s->kstage);
    return VKS_OK;
}

vks_status vks__tuning_settle(vks_context *ctx, const vks_tuning *user, uint32_t context_flags, vks_tuning *out) {
    vks_tuning t, copy;
    vks__tuning_defaults(&t);
    const vks_tuning *caller = NULL;
    if (user) {
        VKS_TRY(vks__struct_in("vks_context_create", "options.tuning", VKS_STRUCT_TUNING, user, &copy));
        caller = &copy;
        VKS_TRY(check_caller(caller));
        if ((context_flags & VKS_CONTEXT_GPU_KERNELS) && caller->kernels == VKS_KERNELS_CPU)
            return vks__error(VKS_ERROR_INVALID_ARGUMENT,
                              "vks_context_create: options.flags has VKS_CONTEXT_GPU_KERNELS but "
                              "options.tuning->kernels = VKS_KERNELS_CPU; expected one of them");
    }
    if (!caller || !(caller->flags & VKS_TUNING_NO_ENVIRONMENT)) {
        env_kernels(ctx, &t);
        env_monarch(ctx, &t);
        env_gemm(ctx, &t);
        env_lowrank(ctx, &t);
        env_eigh(ctx, &t);
    }
    if (context_flags & VKS_CONTEXT_GPU_KERNELS) t.kernels = VKS_KERNELS_GPU;
    if (caller) {
        t.flags = caller->flags;
        if (caller->kernels) t.kernels = caller->kernels;
        if (caller->monarch_coopmat) t.monarch_coopmat = caller->monarch_coopmat;
        if (caller->monarch_grouped) t.monarch_grouped = caller->monarch_grouped;
        if (gemm_tile_set(&caller->gemm_tiled)) t.gemm_tiled = caller->gemm_tiled;
        if (caller->lowrank_splitk) t.lowrank_splitk = caller->lowrank_splitk;
        if (caller->lowrank_splitk_slices) t.lowrank_splitk_slices = caller->lowrank_splitk_slices;
        if (splitk_tile_set(&caller->lowrank_splitk_tile)) t.lowrank_splitk_tile = caller->lowrank_splitk_tile;
        if (caller->eigh_reduction) t.eigh_reduction = caller->eigh_reduction;
    }
    *out = t;
    return VKS_OK;
}

vks_status vks_context_get_tuning(const vks_context *ctx, vks_tuning *tuning) {
    if (!ctx) return vks__error(VKS_ERROR_INVALID_ARGUMENT, "vks_context_get_tuning: ctx is NULL");
    /* Set once at creation and never written again: no lock needed. */
    return vks__struct_out("vks_context_get_tuning", "tuning", VKS_STRUCT_TUNING, tuning, &ctx->tuning);
}
