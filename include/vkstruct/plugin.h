/*
 * The plugin ABI: a host dlopen()s libvkstruct.so and calls one exported symbol,
 *
 *     const vks_plugin_api *vks_plugin_get_api(uint32_t abi_major);
 *
 * which returns a static, immutable table of every public function, or NULL when this
 * build does not implement `abi_major`.
 *
 * THE RULE OF THE TABLE (checked by tests/plugin/abi_golden.txt):
 *  - It starts with struct_size, abi_major, abi_minor, name, version; then one pointer per
 *    function, in ONE append-only sequence: VKS_PLUGIN_FUNCTIONS_1_0, then _1_1, ... A
 *    function's family does not matter: a new function of any family goes at the END of the
 *    newest list (and into its family's VKS_<FAMILY>_FUNCTIONS, which only says which
 *    functions a family has, in no ABI order). A released list is never edited: no
 *    reordering, no removal, no change of a function's type. A minor version starts a new
 *    list (VKS_PLUGIN_FUNCTIONS_1_2 ...), appended to VKS_PLUGIN_FUNCTIONS; removing or
 *    changing anything is a major bump.
 *  - A host reads struct_size before touching any later field: a field whose end lies past
 *    struct_size does not exist in the library it loaded (VKS_PLUGIN_HAS below). A host built
 *    against an older header simply never looks past its own fields.
 *  - get_proc_address() finds functions newer than the caller's header by name.
 *  - shutdown() releases everything (contexts, the Vulkan loader), so dlclose() is safe.
 * Why one sequence and not per-family sub-tables with their own struct_size: one size check
 * per lookup, one golden list, and no pointer chasing; families are a naming concern only.
 *
 * vks_measure_peaks is in the table on purpose: it is the public way to measure a device's
 * copy bandwidth and FMA / matrix-unit rates, which vks-bench (and a host sizing its own
 * roofline) uses as the denominators of its efficiency figures.
 */
#ifndef VKSTRUCT_PLUGIN_H
#define VKSTRUCT_PLUGIN_H

#include <stddef.h>

#include "vkstruct/vkstruct.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VKS_PLUGIN_ABI_MAJOR VKS_PLUGIN_ABI_MAJOR_VERSION
#define VKS_PLUGIN_ABI_MINOR VKS_PLUGIN_ABI_MINOR_VERSION

/* ABI 1.0: frozen. */
#define VKS_PLUGIN_FUNCTIONS_1_0(X)                                    \
    X(vks_probe)                                                       \
    X(vks_status_string)                                               \
    X(vks_last_error)                                                  \
    X(vks_enumerate_devices)                                           \
    X(vks_context_create)                                              \
    X(vks_context_destroy)                                             \
    X(vks_context_get_device_info)                                     \
    X(vks_context_get_stats)                                           \
    X(vks_context_save_pipeline_cache)                                 \
    X(vks_synchronize)                                                 \
    X(vks_begin_external_recording)                                    \
    X(vks_end_external_recording)                                      \
    X(vks_buffer_create)                                               \
    X(vks_buffer_wrap)                                                 \
    X(vks_buffer_destroy)                                              \
    X(vks_buffer_get_size)                                             \
    X(vks_buffer_get_vulkan)                                           \
    X(vks_buffer_write)                                                \
    X(vks_buffer_read)                                                 \
    X(vks_buffer_copy)                                                 \
    X(vks_buffer_fill)                                                 \
    X(vks_dtype_size)                                                  \
    X(vks_tensor_from_dlpack)                                          \
    X(vks_profile_get)                                                 \
    X(vks_profile_clear)                                               \
    X(vks_gemm)                                                        \
    X(vks_gemm_ex)                                                     \
    X(vks_measure_peaks)                                               \
    X(vks_blockdiag_linear)                                            \
    X(vks_blockdiag_backward)                                          \
    X(vks_monarch_forward)                                             \
    X(vks_monarch_linear_shapes)                                       \
    X(vks_monarch_linear)                                              \
    X(vks_monarch_fusable)                                             \
    X(vks_monarch_backward)                                            \
    X(vks_monarch_project)                                             \
    X(vks_lora_forward)                                                \
    X(vks_factorized_linear)                                           \
    X(vks_lora_pack_offsets)                                           \
    X(vks_lora_multi_forward)                                          \
    X(vks_lora_multi_shrink)                                           \
    X(vks_lora_multi_expand)                                           \
    X(vks_randlora_forward)                                            \
    X(vks_lora_merge)                                                  \
    X(vks_lora_unmerge)                                                \
    X(vks_galore_project)                                              \
    X(vks_galore_project_back)                                         \
    X(vks_eigh)                                                        \
    X(vks_cholesky)                                                    \
    X(vks_trsm)                                                        \
    X(vks_eigh_ex)                                                     \
    X(vks_cholesky_ex)                                                 \
    X(vks_newton_schulz)                                               \
    X(vks_newton_schulz_grouped)                                       \
    X(vks_newton_schulz_coefficients)                                  \
    X(vks_auon)                                                        \
    X(vks_auon_grouped)                                                \
    X(vks_syrk)                                                        \
    X(vks_cholqr)                                                      \
    X(vks_svd)                                                         \
    X(vks_kron_matmul)                                                 \
    X(vks_kron_kernel_matrix)                                          \
    X(vks_kron_eigh)                                                   \
    X(vks_kron_solve)                                                  \
    X(vks_kron_cholesky_solve)                                         \
    X(vks_kron_predict)                                                \
    X(vks_get_proc_address)                                            \
    X(vks_shutdown)

/* ABI 1.1: append new functions here (any family), until 1.1 is released. */
#define VKS_PLUGIN_FUNCTIONS_1_1(X)                                    \
    X(vks_struct_init)                                                 \
    X(vks_tensor_to_dlpack)                                            \
    X(vks_context_get_tuning)                                          \
    X(vks_kron_pde_solve)                                              \
    X(vks_kron_pde_learn)

/* Every function of the table, in table order. */
#define VKS_PLUGIN_FUNCTIONS(X) VKS_PLUGIN_FUNCTIONS_1_0(X) VKS_PLUGIN_FUNCTIONS_1_1(X)

#define VKS_PLUGIN_FIELD_(name) name##_fn *name;

typedef struct vks_plugin_api {
    uint32_t struct_size; /* sizeof(vks_plugin_api) of the library that made it */
    uint32_t abi_major;
    uint32_t abi_minor;
    const char *name;    /* "vkstruct" */
    const char *version; /* library version, e.g. "0.1.0" */
    VKS_PLUGIN_FUNCTIONS(VKS_PLUGIN_FIELD_)
} vks_plugin_api;

/* Whether the table `api` (from any library version) has the function `field`. */
#define VKS_PLUGIN_HAS(api, field) \
    ((api)->struct_size >= offsetof(vks_plugin_api, field) + sizeof((api)->field))

typedef const vks_plugin_api *vks_plugin_get_api_fn(uint32_t abi_major);
VKS_API vks_plugin_get_api_fn vks_plugin_get_api;

#ifdef __cplusplus
}
#endif

#endif /* VKSTRUCT_PLUGIN_H */
