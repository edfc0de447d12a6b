/*
 * Public structs: their defaults at run time (vks_struct_init) and the one struct_size
 * rule every entry point applies (vks__struct_in / vks__struct_out, internal.h).
 *
 * The defaults are the _INIT macros of the headers, instantiated here once: the macro a C
 * host uses and the bytes vks_struct_init writes come from the same text and cannot drift.
 * Each struct's first released size is the size through the last field it had in its first
 * release; it is frozen here, whatever is appended later.
 */
#include <string.h>

#include "internal.h"

/* The bytes of a struct up to the end of `field` (a released layout's last field). */
#define VKS_SIZE_THROUGH(type, field) (offsetof(type, field) + sizeof(((type *)0)->field))

/* X(enum, C type, _INIT macro, last field of the first release, is an output) */
#define VKS_STRUCT_KINDS(X)                                                                                  \
    X(VKS_STRUCT_CONTEXT_OPTIONS, vks_context_options, VKS_CONTEXT_OPTIONS_INIT, message_user, false)      \
    X(VKS_STRUCT_TUNING, vks_tuning, VKS_TUNING_INIT, lowrank_splitk_tile, false)                          \
    X(VKS_STRUCT_GEMM_DESC, vks_gemm_desc, VKS_GEMM_DESC_INIT, activation, false)                           \
    X(VKS_STRUCT_VULKAN_DEVICE, vks_vulkan_device, VKS_VULKAN_DEVICE_INIT, get_instance_proc_addr, false)   \
    X(VKS_STRUCT_DEVICE_INFO, vks_device_info, VKS_DEVICE_INFO_INIT, timestamp_period_ns, true)             \
    X(VKS_STRUCT_CONTEXT_STATS, vks_context_stats, VKS_CONTEXT_STATS_INIT, validation_messages, true)       \
    X(VKS_STRUCT_DEVICE_PEAKS, vks_device_peaks, VKS_DEVICE_PEAKS_INIT, mma_gflops_f16, true)               \
    X(VKS_STRUCT_BLOCKDIAG_DESC, vks_blockdiag_desc, VKS_BLOCKDIAG_DESC_INIT, activation, false)            \
    X(VKS_STRUCT_BLOCKDIAG_BACKWARD_DESC, vks_blockdiag_backward_desc, VKS_BLOCKDIAG_BACKWARD_DESC_INIT,    \
      dbias, false)                                                                                          \
    X(VKS_STRUCT_MONARCH_DESC, vks_monarch_desc, VKS_MONARCH_DESC_INIT, padded, false)                      \
    X(VKS_STRUCT_MONARCH_BACKWARD_DESC, vks_monarch_backward_desc, VKS_MONARCH_BACKWARD_DESC_INIT, padded,  \
      false)                                                                                                 \
    X(VKS_STRUCT_MONARCH_PROJECT_DESC, vks_monarch_project_desc, VKS_MONARCH_PROJECT_DESC_INIT, padded,     \
      false)                                                                                                 \
    X(VKS_STRUCT_MONARCH_PROJECT_RESULT, vks_monarch_project_result, VKS_MONARCH_PROJECT_RESULT_INIT,       \
      blocks, true)                                                                                          \
    X(VKS_STRUCT_LORA_DESC, vks_lora_desc, VKS_LORA_DESC_INIT, beta, false)                                 \
    X(VKS_STRUCT_LORA_ADAPTERS, vks_lora_adapters, VKS_LORA_ADAPTERS_INIT, b, false)                        \
    X(VKS_STRUCT_LORA_MULTI_DESC, vks_lora_multi_desc, VKS_LORA_MULTI_DESC_INIT, status, false)             \
    X(VKS_STRUCT_RANDLORA_DESC, vks_randlora_desc, VKS_RANDLORA_DESC_INIT, beta, false)                     \
    X(VKS_STRUCT_EIGH_OPTIONS, vks_eigh_options, VKS_EIGH_OPTIONS_INIT, info, false)                        \
    X(VKS_STRUCT_CHOLESKY_OPTIONS, vks_cholesky_options, VKS_CHOLESKY_OPTIONS_INIT, info, false)            \
    X(VKS_STRUCT_NEWTON_SCHULZ_OPTIONS, vks_newton_schulz_options, VKS_NEWTON_SCHULZ_OPTIONS_INIT, flags,   \
      false)                                                                                                 \
    X(VKS_STRUCT_AUON_OPTIONS, vks_auon_options, VKS_AUON_OPTIONS_INIT, status, false)                      \
    X(VKS_STRUCT_CHOLQR_OPTIONS, vks_cholqr_options, VKS_CHOLQR_OPTIONS_INIT, info, false)                  \
    X(VKS_STRUCT_KERNEL_DESC, vks_kernel_desc, VKS_KERNEL_DESC_INIT, dx2, false)                            \
    X(VKS_STRUCT_KRON_EIGH_DESC, vks_kron_eigh_desc, VKS_KRON_EIGH_DESC_INIT, eigvals, false)               \
    X(VKS_STRUCT_KRON_SOLVE_DESC, vks_kron_solve_desc, VKS_KRON_SOLVE_DESC_INIT, mll, false)                \
    X(VKS_STRUCT_KRON_CHOLESKY_DESC, vks_kron_cholesky_desc, VKS_KRON_CHOLESKY_DESC_INIT, inverses, false)  \
    X(VKS_STRUCT_KRON_PDE_DESC, vks_kron_pde_desc, VKS_KRON_PDE_DESC_INIT, residual, false)                 \
    X(VKS_STRUCT_KRON_PDE_LEARN_DESC, vks_kron_pde_learn_desc, VKS_KRON_PDE_LEARN_DESC_INIT, objective, false)

/* One static instance per struct, initialized by its macro (static storage: padding is 0). */
#define VKS_DEFAULTS_(e, type, init, last, output) static const type defaults_##e = init;
VKS_STRUCT_KINDS(VKS_DEFAULTS_)
#undef VKS_DEFAULTS_

typedef struct struct_kind {
    const char *name;
    size_t size;       /* sizeof in this library */
    size_t first_size; /* through the last field of the first release */
    const void *defaults;
    bool output;
} struct_kind;

/* Indexed by vks_struct_type; a zero entry is a value this library does not know. */
static const struct_kind g_kinds[] = {
#define VKS_KIND_(e, type, init, last, out) [e] = {#type, sizeof(type), VKS_SIZE_THROUGH(type, last), &defaults_##e, out},
    VKS_STRUCT_KINDS(VKS_KIND_)
#undef VKS_KIND_
};

static const struct_kind *kind_of(vks_struct_type type) {
    if ((unsigned)type >= VKS_COUNT_OF(g_kinds) || !g_kinds[type].name) return NULL;
    return &g_kinds[type];
}

size_t vks__struct_first_size(vks_struct_type type) {
    const struct_kind *k = kind_of(type);
    return k ? k->first_size : 0;
}

size_t vks__struct_size(vks_struct_type type) {
    const struct_kind *k = kind_of(type);
    return k ? k->size : 0;
}

static vks_status unknown_type(const char *fn, vks_struct_type type) {
    return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: type = %d is not a vks_struct_type this library knows", fn,
                      (int)type);
}

vks_status vks_struct_init(vks_struct_type type, void *s, size_t struct_size) {
    static const char fn[] = "vks_struct_init";
    const struct_kind *k = kind_of(type);
    if (!k) return unknown_type(fn, type);
    if (!s) return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: s is NULL", fn);
    if (struct_size < k->first_size)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT,
                          "%s: struct_size = %zu, expected at least %zu (the first released sizeof(%s))", fn,
                          struct_size, k->first_size, k->name);
    const size_t n = VKS_MIN(struct_size, k->size);
    memcpy(s, k->defaults, n);
    memcpy(s, &n, sizeof n); /* struct_size leads every such struct */
    return VKS_OK;
}

vks_status vks__struct_check(const char *fn, const char *arg, vks_struct_type type, const void *user) {
    const struct_kind *k = kind_of(type);
    if (!k) return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: internal: %s has unknown struct type %d", fn, arg, (int)type);
    if (!user) return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: %s is NULL", fn, arg);
    size_t have;
    memcpy(&have, user, sizeof have);
    if (have < k->first_size) {
        const size_t len = strlen(arg);
        const char *sep = len && arg[len - 1] == ']' ? "." : "->";
        return vks__error(VKS_ERROR_INVALID_ARGUMENT,
                          "%s: %s%sstruct_size = %zu, expected at least %zu (the first released sizeof(%s)); fill "
                          "it with vks_struct_init or its _INIT macro",
                          fn, arg, sep, have, k->first_size, k->name);
    }
    return VKS_OK;
}

vks_status vks__struct_in(const char *fn, const char *arg, vks_struct_type type, const void *user, void *copy) {
    VKS_TRY(vks__struct_check(fn, arg, type, user));
    const struct_kind *k = kind_of(type);
    size_t have;
    memcpy(&have, user, sizeof have);
    memcpy(copy, k->defaults, k->size);
    memcpy(copy, user, VKS_MIN(have, k->size)); /* a newer caller's tail is ignored */
    memcpy(copy, &k->size, sizeof k->size);
    return VKS_OK;
}

vks_status vks__struct_in_or_defaults(const char *fn, const char *arg, vks_struct_type type, const void *user,
                                      void *copy) {
    if (user) return vks__struct_in(fn, arg, type, user, copy);
    const struct_kind *k = kind_of(type);
    if (!k) return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: internal: %s has unknown struct type %d", fn, arg, (int)type);
    memcpy(copy, k->defaults, k->size);
    return VKS_OK;
}

vks_status vks__struct_out(const char *fn, const char *arg, vks_struct_type type, void *user, const void *full) {
    VKS_TRY(vks__struct_check(fn, arg, type, user));
    const struct_kind *k = kind_of(type);
    size_t have;
    memcpy(&have, user, sizeof have);
    const size_t n = VKS_MIN(have, k->size);
    memcpy(user, full, n);
    memcpy(user, &n, sizeof n);
    return VKS_OK;
}
