/*
 * Contexts: one device + one compute queue. Creation reads options and environment (the
 * kernel choices through tuning.c, once), picks or adopts a device, and brings up memory,
 * pipelines and the command stream; destruction tears down exactly what the context created.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

/* Every call counts itself in before it waits for the lock and out after it let go, so
 * vks_context_destroy can wait for the calls in flight on other threads (see there). */
void vks__lock(vks_context *ctx) {
    atomic_fetch_add_explicit(&ctx->calls_in_flight, 1, memory_order_acq_rel);
    pthread_mutex_lock(&ctx->lock);
}

void vks__unlock(vks_context *ctx) {
    pthread_mutex_unlock(&ctx->lock);
    atomic_fetch_sub_explicit(&ctx->calls_in_flight, 1, memory_order_acq_rel); /* the call's last touch of ctx */
}

bool vks__has_feature(const vks_context *ctx, uint32_t features) {
    return (ctx->enabled_features & features) == features;
}

bool vks__cpu_kernels(const vks_context *ctx) {
    if (ctx->tuning.kernels != VKS_KERNELS_AUTO) return ctx->tuning.kernels == VKS_KERNELS_CPU;
    return ctx->probe.info.type == VKS_DEVICE_CPU;
}

bool vks__tensor_cores(const vks_context *ctx) {
    const uint32_t need = VKS_FEATURE_COOPMAT_NV | VKS_FEATURE_FLOAT16 | VKS_FEATURE_STORAGE16;
    const vks_device_info *di = &ctx->probe.info;
    const bool sg32 = di->subgroup_size == 32 || (vks__has_feature(ctx, VKS_FEATURE_SUBGROUP_CONTROL) &&
                                                  di->min_subgroup_size <= 32 && di->max_subgroup_size >= 32);
    return vks__has_feature(ctx, need) && sg32;
}

void vks__message(vks_context *ctx, vks_message_severity sev, const char *fmt, ...) {
    if (!ctx->message_callback) return;
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    ctx->message_callback(ctx->message_user, VKS_SOURCE_LIBRARY, sev, buf);
}

static bool env_flag(const char *name) {
    const char *v = getenv(name);
    return v && *v && strcmp(v, "0") != 0;
}

/* Adopts a host's instance/device: nothing created here is global, nothing of the
 * host's is destroyed later. */
static vks_status adopt_host_device(vks_context *ctx, const vks_vulkan_device *user) {
    vks_vulkan_device v_full;
    VKS_TRY(vks__struct_in("vks_context_create", "options->vulkan", VKS_STRUCT_VULKAN_DEVICE, user, &v_full));
    const vks_vulkan_device *v = &v_full;
    if (!v->instance || !v->physical_device || !v->device || !v->queue)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT,
                          "vks_context_create: options.vulkan needs instance, physical_device, device and "
                          "queue (got %p, %p, %p, %p)",
                          v->instance, v->physical_device, v->device, v->queue);
    PFN_vkGetInstanceProcAddr gipa = (PFN_vkGetInstanceProcAddr)(void (*)(void))v->get_instance_proc_addr;
    VKS_TRY(vks__loader_acquire(gipa));
    ctx->instance = (VkInstance)v->instance;
    ctx->physical_device = (VkPhysicalDevice)v->physical_device;
    ctx->device = (VkDevice)v->device;
    ctx->queue = (VkQueue)v->queue;
    ctx->queue_family = v->queue_family_index;
    vks__load_instance_fns(ctx->instance, gipa, &ctx->ifn);
    VKS_TRY(vks__probe_physical_device(&ctx->ifn, ctx->physical_device, UINT32_MAX, &ctx->probe));
    if ((v->enabled_features & VKS_REQUIRED_FEATURES) != VKS_REQUIRED_FEATURES)
        return vks__error(VKS_ERROR_UNSUPPORTED,
                          "vks_context_create: options.vulkan->enabled_features = 0x%x lacks "
                          "VKS_FEATURE_BUFFER_ADDRESS | VKS_FEATURE_INT64 (0x%x), which vkstruct needs enabled",
                          v->enabled_features, (unsigned)VKS_REQUIRED_FEATURES);
    ctx->enabled_features = v->enabled_features & ctx->probe.info.features;
    return VKS_OK;
}

static vks_status create_own_device(vks_context *ctx, const vks_context_options *o, bool validation) {
    VKS_TRY(vks__loader_acquire(NULL));
    bool debug_utils = false;
    VKS_TRY(vks__create_instance(validation, ctx, &ctx->instance, &debug_utils));
    ctx->owns_instance = true;
    vks__load_instance_fns(ctx->instance, NULL, &ctx->ifn);
    if (validation && debug_utils && ctx->ifn.CreateDebugUtilsMessengerEXT) {
        VkDebugUtilsMessengerCreateInfoEXT dbg = {
            .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
            .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                               VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
            .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                           VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                           VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
            .pfnUserCallback = vks__debug_callback,
            .pUserData = ctx};
        VKS_TRY_VK(ctx->ifn.CreateDebugUtilsMessengerEXT(ctx->instance, &dbg, NULL, &ctx->messenger),
                   "vkCreateDebugUtilsMessengerEXT");
    }
    VkPhysicalDevice *devs = NULL;
    vks_device_probe *probes = NULL;
    uint32_t n = 0, chosen = 0;
    vks_status st = vks__probe_all(&ctx->ifn, ctx->instance, &devs, &probes, &n);
    if (st == VKS_OK) st = vks__choose_device(probes, n, o, &chosen);
    if (st == VKS_OK) {
        ctx->physical_device = devs[chosen];
        ctx->probe = probes[chosen];
        st = vks__create_logical_device(ctx, &probes[chosen]);
    }
    vks__free(devs);
    vks__free(probes);
    return st;
}

vks_status vks_context_create(const vks_context_options *opts, vks_context **out) {
    if (!out) return vks__error(VKS_ERROR_INVALID_ARGUMENT, "vks_context_create: out is NULL");
    *out = NULL;
    vks_context_options o;
    VKS_TRY(vks__struct_in_or_defaults("vks_context_create", "options", VKS_STRUCT_CONTEXT_OPTIONS, opts, &o));
    const uint32_t known = VKS_CONTEXT_VALIDATION | VKS_CONTEXT_PROFILING | VKS_CONTEXT_NO_PIPELINE_CACHE |
                           VKS_CONTEXT_GPU_KERNELS;
    if (o.flags & ~known)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "vks_context_create: options.flags = 0x%x has unknown bits 0x%x",
                          o.flags, o.flags & ~known);
    if (o.device_index < -1)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT,
                          "vks_context_create: options.device_index = %d, expected a device index >= 0 or -1 (unset)",
                          o.device_index);
    VKS_TRY(vks__cache_dir_check(&o));
    if (env_flag("VKS_VALIDATION")) o.flags |= VKS_CONTEXT_VALIDATION;
    const bool print_profile = env_flag("VKS_PROFILE");
    if (print_profile) o.flags |= VKS_CONTEXT_PROFILING;

    vks_context *ctx = vks__calloc(1, sizeof *ctx);
    if (!ctx) return vks__error(VKS_ERROR_OUT_OF_HOST_MEMORY, "vks_context_create: out of host memory");
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE); /* ops may call ops */
    pthread_mutex_init(&ctx->lock, &attr);
    pthread_mutexattr_destroy(&attr);
    ctx->message_callback = o.message_callback;
    ctx->message_user = o.message_user;
    ctx->profiling = (o.flags & VKS_CONTEXT_PROFILING) != 0;
    ctx->print_profile = print_profile;
    ctx->pipeline_stats = env_flag("VKS_PIPELINE_STATS");

    vks_status st = vks__tuning_settle(ctx, o.tuning, o.flags, &ctx->tuning);
    if (st != VKS_OK) {
        pthread_mutex_destroy(&ctx->lock);
        vks__free(ctx);
        return st;
    }
    st = o.vulkan ? adopt_host_device(ctx, o.vulkan) : create_own_device(ctx, &o, (o.flags & VKS_CONTEXT_VALIDATION) != 0);
    if (st == VKS_OK) {
        volkLoadDeviceTable(&ctx->vk, ctx->device);
        if (!o.vulkan) ctx->vk.vkGetDeviceQueue(ctx->device, ctx->queue_family, 0, &ctx->queue);
        st = vks__memory_init(ctx);
    }
    if (st == VKS_OK) st = vks__pipelines_init(ctx, (o.flags & VKS_CONTEXT_NO_PIPELINE_CACHE) ? NULL : &o);
    if (st == VKS_OK) st = vks__commands_init(ctx);
    if (st != VKS_OK) {
        char saved[1024];
        snprintf(saved, sizeof saved, "%s", vks_last_error(NULL));
        vks__context_destroy(ctx); /* the half-built one: destroy keeps what it finds */
        vks__error(st, "%s", saved);
        return vks__error_in("vks_context_create", st);
    }
    vks__register_context(ctx);
    *out = ctx;
    return VKS_OK;
}

vks_status vks__context_destroy(vks_context *ctx) {
    vks_status st = VKS_OK;
    vks__unregister_context(ctx);
    vks__dlpack_detach_context(ctx);
    if (ctx->device) {
        vks__lock(ctx);
        if (ctx->recording) st = vks__flush_locked(ctx);
        if (ctx->pipeline_cache) {
            vks_status s2 = vks__pipeline_cache_save_locked(ctx);
            if (s2 != VKS_OK) vks__message(ctx, VKS_MESSAGE_WARNING, "%s", vks_last_error(NULL));
        }
        vks__unlock(ctx);
        vks__commands_destroy(ctx);
        vks__pipelines_destroy(ctx);
        vks__memory_destroy(ctx);
        if (ctx->owns_device) ctx->vk.vkDestroyDevice(ctx->device, NULL);
    }
    if (ctx->messenger) ctx->ifn.DestroyDebugUtilsMessengerEXT(ctx->instance, ctx->messenger, NULL);
    if (ctx->owns_instance && ctx->instance) ctx->ifn.DestroyInstance(ctx->instance, NULL);
    vks__free(ctx->profile);
    vks__free(ctx->pending_ops);
    pthread_mutex_destroy(&ctx->lock);
    vks__free(ctx);
    return st;
}

vks_status vks_context_destroy(vks_context *ctx) {
    if (!ctx) return VKS_OK;
    /* Calls on other threads that are inside the context (or waiting for its lock) finish
     * first: tearing down under them was a use-after-free. A call that starts after the
     * context is gone is the caller's use-after-free, as with any freed object. */
    while (atomic_load_explicit(&ctx->calls_in_flight, memory_order_acquire) > 0) {
        const struct timespec pause = {0, 200000}; /* 0.2 ms */
        nanosleep(&pause, NULL);
    }
    return vks__context_destroy(ctx);
}

vks_status vks_context_get_device_info(const vks_context *ctx, vks_device_info *info) {
    if (!ctx) return vks__error(VKS_ERROR_INVALID_ARGUMENT, "vks_context_get_device_info: ctx is NULL");
    return vks__struct_out("vks_context_get_device_info", "info", VKS_STRUCT_DEVICE_INFO, info, &ctx->probe.info);
}

vks_status vks_context_get_stats(const vks_context *cctx, vks_context_stats *stats) {
    if (!cctx) return vks__error(VKS_ERROR_INVALID_ARGUMENT, "vks_context_get_stats: ctx is NULL");
    VKS_TRY(vks__struct_check("vks_context_get_stats", "stats", VKS_STRUCT_CONTEXT_STATS, stats));
    vks_context *ctx = (vks_context *)cctx; /* the lock is the only thing touched */
    vks_context_stats s = {.struct_size = sizeof s};
    vks__lock(ctx);
    s.device_bytes_in_use = ctx->bytes_in_use;
    for (vks_mem_block *b = ctx->blocks; b; b = b->next) {
        s.device_bytes_reserved += b->size;
        s.memory_blocks++;
    }
    s.live_buffers = ctx->live_buffers;
    s.pipelines = (uint32_t)ctx->pipeline_count;
    s.pipeline_cache_loaded_bytes = ctx->pipeline_cache_loaded_bytes;
    s.submits = ctx->submits;
    s.validation_messages = __atomic_load_n(&ctx->validation_messages, __ATOMIC_RELAXED);
    vks__unlock(ctx);
    return vks__struct_out("vks_context_get_stats", "stats", VKS_STRUCT_CONTEXT_STATS, stats, &s);
}
