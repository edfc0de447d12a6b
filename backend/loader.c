/*
 * Process-wide state, kept as small as possible: the Vulkan loader library (loaded on
 * the first context, unloaded by vks_shutdown) and the registry of live contexts that
 * vks_shutdown destroys. Everything else lives in a context.
 */
#include <dlfcn.h>
#include <string.h>

#include "internal.h"

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static void *g_libvulkan;   /* our dlopen handle; NULL when a host's loader was given */
static bool g_loaded;
static vks_context *g_contexts;

vks_status vks__loader_acquire(PFN_vkGetInstanceProcAddr custom) {
    vks_status st = VKS_OK;
    pthread_mutex_lock(&g_lock);
    if (!g_loaded) {
        PFN_vkGetInstanceProcAddr gipa = custom;
        if (!gipa) {
            static const char *const names[] = {"libvulkan.so.1", "libvulkan.so",
                                                "libvulkan.1.dylib", "libMoltenVK.dylib"};
            for (size_t i = 0; i < VKS_COUNT_OF(names) && !g_libvulkan; ++i)
                g_libvulkan = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
            if (g_libvulkan) {
                /* POSIX guarantees dlsym's void* converts to a function pointer. */
                gipa = (PFN_vkGetInstanceProcAddr)dlsym(g_libvulkan, "vkGetInstanceProcAddr");
                vkGetDeviceProcAddr = (PFN_vkGetDeviceProcAddr)dlsym(g_libvulkan, "vkGetDeviceProcAddr");
            }
        }
        if (!gipa) {
            st = vks__error(VKS_ERROR_NO_DEVICE,
                            "no Vulkan loader: libvulkan.so.1 could not be loaded (Debian: "
                            "apt-get install libvulkan1 mesa-vulkan-drivers)");
        } else {
            volkInitializeCustom(gipa);
            g_loaded = true;
        }
    }
    pthread_mutex_unlock(&g_lock);
    return st;
}

void vks__load_instance_fns(VkInstance instance, PFN_vkGetInstanceProcAddr gipa,
                            vks_instance_fns *f) {
    if (!gipa) gipa = vkGetInstanceProcAddr;
#define L(name) f->name = (PFN_vk##name)gipa(instance, "vk" #name)
    L(DestroyInstance);
    L(EnumeratePhysicalDevices);
    L(GetPhysicalDeviceProperties2);
    L(GetPhysicalDeviceFeatures2);
    L(GetPhysicalDeviceMemoryProperties);
    L(GetPhysicalDeviceQueueFamilyProperties);
    L(EnumerateDeviceExtensionProperties);
    L(CreateDevice);
    L(GetDeviceProcAddr);
    L(CreateDebugUtilsMessengerEXT);
    L(DestroyDebugUtilsMessengerEXT);
    L(GetPhysicalDeviceCooperativeMatrixPropertiesNV);
#undef L
    /* volk's device-table loader goes through the global vkGetDeviceProcAddr; a host's
     * loader (no dlopen of ours) provides it through its instance. */
    pthread_mutex_lock(&g_lock);
    if (!vkGetDeviceProcAddr) vkGetDeviceProcAddr = f->GetDeviceProcAddr;
    pthread_mutex_unlock(&g_lock);
}

void vks__register_context(vks_context *ctx) {
    pthread_mutex_lock(&g_lock);
    ctx->registry_next = g_contexts;
    g_contexts = ctx;
    pthread_mutex_unlock(&g_lock);
}

void vks__unregister_context(vks_context *ctx) {
    pthread_mutex_lock(&g_lock);
    for (vks_context **p = &g_contexts; *p; p = &(*p)->registry_next) {
        if (*p == ctx) {
            *p = ctx->registry_next;
            break;
        }
    }
    pthread_mutex_unlock(&g_lock);
}

vks_status vks_shutdown(void) {
    vks_status result = VKS_OK;
    for (;;) {
        pthread_mutex_lock(&g_lock);
        vks_context *ctx = g_contexts;
        pthread_mutex_unlock(&g_lock);
        if (!ctx) break;
        vks_status st = vks__context_destroy(ctx); /* unregisters it */
        if (st != VKS_OK && result == VKS_OK) result = st;
    }
    pthread_mutex_lock(&g_lock);
    if (g_libvulkan) dlclose(g_libvulkan);
    g_libvulkan = NULL;
    g_loaded = false;
    vkGetInstanceProcAddr = NULL;
    vkGetDeviceProcAddr = NULL;
    pthread_mutex_unlock(&g_lock);
    return result;
}
