/*
 * The plugin ABI: a host dlopen()s libvkstruct.so and calls one exported symbol,
 *
 *     const vks_plugin_api *vks_plugin_get_api(uint32_t abi_major);
 *
 * which returns a static, immutable table of every public function, or NULL when this
 * build does not implement `abi_major`. Rules of the table:
 *  - it starts with struct_size, abi_major, abi_minor; a caller reads struct_size before
 *    touching any later field (a field at offset >= struct_size does not exist);
 *  - fields are only ever appended (minor bump); removing or changing one is a major bump;
 *  - get_proc_address() finds functions newer than the caller's header by name;
 *  - shutdown() releases everything (contexts, the Vulkan loader), so dlclose() is safe.
 */
#ifndef VKSTRUCT_PLUGIN_H
#define VKSTRUCT_PLUGIN_H

#include "vkstruct/vkstruct.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VKS_PLUGIN_ABI_MAJOR VKS_PLUGIN_ABI_MAJOR_VERSION
#define VKS_PLUGIN_ABI_MINOR VKS_PLUGIN_ABI_MINOR_VERSION

#define VKS_PLUGIN_FIELD_(name) name##_fn *name;

typedef struct vks_plugin_api {
    uint32_t struct_size; /* sizeof(vks_plugin_api) of the library that made it */
    uint32_t abi_major;
    uint32_t abi_minor;
    const char *name;    /* "vkstruct" */
    const char *version; /* library version, e.g. "0.1.0" */
    vks_probe_fn *vks_probe;
    VKS_CORE_FUNCTIONS(VKS_PLUGIN_FIELD_)
    VKS_MONARCH_FUNCTIONS(VKS_PLUGIN_FIELD_)
    VKS_LOWRANK_FUNCTIONS(VKS_PLUGIN_FIELD_)
    VKS_ORTHOGONAL_FUNCTIONS(VKS_PLUGIN_FIELD_)
    VKS_KRON_FUNCTIONS(VKS_PLUGIN_FIELD_)
    vks_get_proc_address_fn *vks_get_proc_address;
    vks_shutdown_fn *vks_shutdown;
    /* ABI 1.x additions go here. */
} vks_plugin_api;

typedef const vks_plugin_api *vks_plugin_get_api_fn(uint32_t abi_major);
VKS_API vks_plugin_get_api_fn vks_plugin_get_api;

#ifdef __cplusplus
}
#endif

#endif /* VKSTRUCT_PLUGIN_H */
