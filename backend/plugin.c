/* The plugin ABI: one exported symbol returning a static, immutable table (plugin.h). */
#include <string.h>

#include "internal.h"
#include "vkstruct/plugin.h"

#define VKS_TABLE_INIT_(name) .name = name,

static const vks_plugin_api g_api = {
    .struct_size = sizeof(vks_plugin_api),
    .abi_major = VKS_PLUGIN_ABI_MAJOR,
    .abi_minor = VKS_PLUGIN_ABI_MINOR,
    .name = "vkstruct",
    .version = VKS_VERSION_STRING,
    VKS_PLUGIN_FUNCTIONS(VKS_TABLE_INIT_)
};

/* ABI 1.0 is frozen: its 68 functions end where 1.1 starts (tests/plugin/abi_golden.txt
 * checks every field). */
_Static_assert(sizeof(void *) != 8 || offsetof(vks_plugin_api, vks_struct_init) == 32 + 68 * 8,
               "ABI 1.0 of vks_plugin_api changed: see the rule in plugin.h");

const vks_plugin_api *vks_plugin_get_api(uint32_t abi_major) {
    return abi_major == VKS_PLUGIN_ABI_MAJOR ? &g_api : NULL;
}

typedef struct named_proc {
    const char *name;
    vks_proc proc;
} named_proc;

#define VKS_PROC_ENTRY_(name) {#name, (vks_proc)name},

static const named_proc g_procs[] = {
    VKS_PLUGIN_FUNCTIONS(VKS_PROC_ENTRY_)
    {"vks_plugin_get_api", (vks_proc)vks_plugin_get_api},
};

vks_proc vks_get_proc_address(const char *name) {
    if (!name) return NULL;
    for (size_t i = 0; i < VKS_COUNT_OF(g_procs); ++i)
        if (strcmp(g_procs[i].name, name) == 0) return g_procs[i].proc;
    return NULL;
}
