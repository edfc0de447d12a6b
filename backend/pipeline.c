/*
 * Compute pipelines, created lazily on first use and keyed by (shader, specialization
 * constants). They share one layout: push constants only, since kernels address their
 * buffers by device address. A VkPipelineCache is loaded from and saved to
 *   ${VKS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vkstruct}/<pipelineCacheUUID>.bin
 * behind a header of our own (device identity, size, FNV-1a hash); a file that fails
 * any check is ignored, and saving writes a temporary file and renames it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#define CACHE_MAGIC "VKSPCACH"
#define CACHE_FORMAT 1u

typedef struct cache_header {
    char magic[8];
    uint32_t format;
    uint32_t vendor_id;
    uint32_t device_id;
    uint32_t driver_version;
    uint8_t uuid[16];
    uint64_t data_size;
    uint64_t data_hash;
} cache_header;

static uint64_t fnv1a(const void *data, size_t n) {
    const uint8_t *p = data;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

#define CACHE_DIR_MAX 1023 /* characters of the cache directory; the file name adds 38 */

vks_status vks__cache_dir_check(const vks_context_options *o) {
    const char *env = getenv("VKS_CACHE_DIR"), *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    const char *what = NULL;
    size_t len = 0;
    if (o->flags & VKS_CONTEXT_NO_PIPELINE_CACHE) return VKS_OK;
    if (o->cache_dir) what = "options->cache_dir", len = strlen(o->cache_dir);
    else if (env) what = "$VKS_CACHE_DIR", len = strlen(env);
    else if (xdg && *xdg) what = "$XDG_CACHE_HOME", len = strlen(xdg) + strlen("/vkstruct");
    else if (home && *home) what = "$HOME", len = strlen(home) + strlen("/.cache/vkstruct");
    if (len > CACHE_DIR_MAX) /* refused rather than cut: a cut path is someone else's directory */
        return vks__error(VKS_ERROR_INVALID_ARGUMENT,
                          "vks_context_create: %s gives a pipeline cache directory of %zu characters, at most %d "
                          "(or VKS_CONTEXT_NO_PIPELINE_CACHE)", what, len, CACHE_DIR_MAX);
    return VKS_OK;
}

static char *cache_path(const vks_context *ctx, const vks_context_options *o) {
    char dir[CACHE_DIR_MAX + 1];
    const char *env = getenv("VKS_CACHE_DIR");
    if (o->cache_dir) {
        if (!*o->cache_dir) return NULL;
        snprintf(dir, sizeof dir, "%s", o->cache_dir);
    } else if (env) {
        if (!*env) return NULL; /* VKS_CACHE_DIR="" turns the cache off */
        snprintf(dir, sizeof dir, "%s", env);
    } else if (getenv("XDG_CACHE_HOME") && *getenv("XDG_CACHE_HOME")) {
        snprintf(dir, sizeof dir, "%s/vkstruct", getenv("XDG_CACHE_HOME"));
    } else if (getenv("HOME") && *getenv("HOME")) {
        snprintf(dir, sizeof dir, "%s/.cache/vkstruct", getenv("HOME"));
    } else {
        return NULL;
    }
    char uuid[33];
    for (int i = 0; i < 16; ++i) snprintf(uuid + 2 * i, 3, "%02x", ctx->probe.info.pipeline_cache_uuid[i]);
    size_t n = strlen(dir) + 40;
    char *path = vks__malloc(n);
    if (path) snprintf(path, n, "%s/%s.bin", dir, uuid);
    return path;
}

/* mkdir -p of the directory part of `path`. */
static int make_parent_dirs(const char *path) {
    char tmp[CACHE_DIR_MAX + 64]; /* the directory and the file name (see cache_path) */
    snprintf(tmp, sizeof tmp, "%s", path);
    char *slash = strrchr(tmp, '/');
    if (!slash) return 0;
    *slash = '\0';
    for (char *p = tmp + 1; *p; ++p) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    return (mkdir(tmp, 0755) != 0 && errno != EEXIST) ? -1 : 0;
}

/* The cache file's payload if it passes every check, else NULL (and a notice). */
static void *load_cache_file(vks_context *ctx, const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    cache_header h;
    void *data = NULL;
    const char *why = NULL;
    const vks_device_info *di = &ctx->probe.info;
    if (fread(&h, sizeof h, 1, f) != 1) why = "truncated header";
    else if (memcmp(h.magic, CACHE_MAGIC, 8) != 0 || h.format != CACHE_FORMAT) why = "not a vkstruct cache file";
    else if (h.vendor_id != di->vendor_id || h.device_id != di->device_id || h.driver_version != di->driver_version ||
             memcmp(h.uuid, di->pipeline_cache_uuid, 16) != 0)
        why = "made by another device or driver";
    else if (h.data_size < 32 || h.data_size > (1ull << 31)) why = "implausible size";
    else if (!(data = vks__malloc(h.data_size))) why = "out of host memory";
    else if (fread(data, 1, h.data_size, f) != h.data_size) why = "truncated data";
    else if (fnv1a(data, h.data_size) != h.data_hash) why = "checksum mismatch";
    else {
        /* Vulkan's own header: length 32, version ONE, same vendor/device/UUID. */
        const uint32_t *w = data;
        if (w[0] < 32 || w[1] != VK_PIPELINE_CACHE_HEADER_VERSION_ONE || w[2] != di->vendor_id ||
            w[3] != di->device_id || memcmp(&w[4], di->pipeline_cache_uuid, 16) != 0)
            why = "Vulkan header does not match the device";
    }
    fclose(f);
    if (why) {
        vks__message(ctx, VKS_MESSAGE_INFO, "pipeline cache %s ignored: %s", path, why);
        vks__free(data);
        return NULL;
    }
    ctx->pipeline_cache_loaded_hash = h.data_hash;
    *size = h.data_size;
    return data;
}

vks_status vks__pipelines_init(vks_context *ctx, const vks_context_options *o) {
    VkPushConstantRange range = {.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT, .offset = 0, .size = VKS_PUSH_CONSTANT_BYTES};
    VkPipelineLayoutCreateInfo li = {.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
                                     .pushConstantRangeCount = 1,
                                     .pPushConstantRanges = &range};
    VKS_TRY_VK(ctx->vk.vkCreatePipelineLayout(ctx->device, &li, NULL, &ctx->pipeline_layout),
               "vkCreatePipelineLayout");
    void *data = NULL;
    size_t size = 0;
    if (o) {
        ctx->pipeline_cache_path = cache_path(ctx, o);
        if (ctx->pipeline_cache_path) data = load_cache_file(ctx, ctx->pipeline_cache_path, &size);
    }
    VkPipelineCacheCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO,
                                    .initialDataSize = size,
                                    .pInitialData = data};
    VkResult r = ctx->vk.vkCreatePipelineCache(ctx->device, &ci, NULL, &ctx->pipeline_cache);
    if (r != VK_SUCCESS && data) { /* the driver refused the data: start empty */
        ci.initialDataSize = 0;
        ci.pInitialData = NULL;
        size = 0;
        r = ctx->vk.vkCreatePipelineCache(ctx->device, &ci, NULL, &ctx->pipeline_cache);
    }
    vks__free(data);
    VKS_TRY_VK(r, "vkCreatePipelineCache");
    ctx->pipeline_cache_loaded_bytes = size;
    return VKS_OK;
}

vks_status vks__pipeline_cache_save_locked(vks_context *ctx) {
    if (!ctx->pipeline_cache_path || !ctx->pipeline_cache) return VKS_OK;
    size_t size = 0;
    VKS_TRY_VK(ctx->vk.vkGetPipelineCacheData(ctx->device, ctx->pipeline_cache, &size, NULL), "vkGetPipelineCacheData");
    if (size == 0) return VKS_OK;
    void *data = vks__malloc(size);
    if (!data) return vks__error(VKS_ERROR_OUT_OF_HOST_MEMORY, "pipeline cache: out of host memory");
    VkResult r = ctx->vk.vkGetPipelineCacheData(ctx->device, ctx->pipeline_cache, &size, data);
    if (r != VK_SUCCESS) {
        vks__free(data);
        return vks__vk_error(r, "vkGetPipelineCacheData");
    }
    const vks_device_info *di = &ctx->probe.info;
    cache_header h = {.format = CACHE_FORMAT,
                      .vendor_id = di->vendor_id,
                      .device_id = di->device_id,
                      .driver_version = di->driver_version,
                      .data_size = size,
                      .data_hash = fnv1a(data, size)};
    memcpy(h.magic, CACHE_MAGIC, 8);
    memcpy(h.uuid, di->pipeline_cache_uuid, 16);
    if (h.data_hash == ctx->pipeline_cache_loaded_hash && size == ctx->pipeline_cache_loaded_bytes) {
        vks__free(data); /* nothing new since it was loaded */
        return VKS_OK;
    }
    const char *path = ctx->pipeline_cache_path;
    size_t n = strlen(path) + 32;
    char *tmp = vks__malloc(n);
    vks_status st = VKS_OK;
    if (!tmp) {
        vks__free(data);
        return vks__error(VKS_ERROR_OUT_OF_HOST_MEMORY, "pipeline cache: out of host memory");
    }
    snprintf(tmp, n, "%s.%ld.tmp", path, (long)getpid());
    int fd = -1;
    if (make_parent_dirs(path) != 0 || (fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0) {
        st = vks__error(VKS_ERROR_IO, "pipeline cache: cannot create %s: %s", tmp, strerror(errno));
    } else {
        bool ok = write(fd, &h, sizeof h) == (ssize_t)sizeof h && write(fd, data, size) == (ssize_t)size &&
                  fsync(fd) == 0;
        ok = (close(fd) == 0) && ok;
        if (!ok || rename(tmp, path) != 0) {
            st = vks__error(VKS_ERROR_IO, "pipeline cache: writing %s failed: %s", path, strerror(errno));
            unlink(tmp);
        } else {
            ctx->pipeline_cache_loaded_hash = h.data_hash;
            ctx->pipeline_cache_loaded_bytes = size;
        }
    }
    vks__free(tmp);
    vks__free(data);
    return st;
}

vks_status vks_context_save_pipeline_cache(vks_context *ctx) {
    if (!ctx) return vks__error(VKS_ERROR_INVALID_ARGUMENT, "vks_context_save_pipeline_cache: ctx is NULL");
    vks__lock(ctx);
    vks_status st = vks__pipeline_cache_save_locked(ctx);
    vks__unlock(ctx);
    return vks__error_in("vks_context_save_pipeline_cache", st);
}

void vks__pipelines_destroy(vks_context *ctx) {
    if (!ctx->device) return;
    for (size_t i = 0; i < ctx->pipeline_count; ++i)
        ctx->vk.vkDestroyPipeline(ctx->device, ctx->pipelines[i].pipeline, NULL);
    for (size_t i = 0; i < VKS_SHADER_COUNT; ++i)
        if (ctx->modules[i]) ctx->vk.vkDestroyShaderModule(ctx->device, ctx->modules[i], NULL);
    if (ctx->pipeline_cache) ctx->vk.vkDestroyPipelineCache(ctx->device, ctx->pipeline_cache, NULL);
    if (ctx->pipeline_layout) ctx->vk.vkDestroyPipelineLayout(ctx->device, ctx->pipeline_layout, NULL);
    vks__free(ctx->pipelines);
    vks__free(ctx->pipeline_cache_path);
    ctx->pipelines = NULL;
    ctx->pipeline_count = ctx->pipeline_capacity = 0;
    ctx->pipeline_cache = VK_NULL_HANDLE;
    ctx->pipeline_layout = VK_NULL_HANDLE;
    ctx->pipeline_cache_path = NULL;
}

/* VKS_PIPELINE_STATS=1: the driver's statistics of a new pipeline (registers, spills,
 * shared memory...) as one notice, for tuning kernels on a device. */
static void report_statistics(vks_context *ctx, const char *name, const vks_spec *spec, VkPipeline pipeline) {
    VkPipelineExecutableInfoKHR ei = {.sType = VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_INFO_KHR,
                                      .pipeline = pipeline,
                                      .executableIndex = 0};
    VkPipelineExecutableStatisticKHR st[32];
    uint32_t n = 32;
    for (uint32_t i = 0; i < n; ++i) st[i] = (VkPipelineExecutableStatisticKHR){.sType = VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_STATISTIC_KHR};
    if (ctx->vk.vkGetPipelineExecutableStatisticsKHR(ctx->device, &ei, &n, st) < 0) return;
    char text[2048];
    size_t used = (size_t)snprintf(text, sizeof text, "pipeline %s spec[", name);
    for (uint32_t i = 0; i < spec->count && used < sizeof text; ++i)
        used += (size_t)snprintf(text + used, sizeof text - used, "%s%u", i ? "," : "", spec->values[i]);
    used += (size_t)snprintf(text + used, sizeof text - used, "]:");
    for (uint32_t i = 0; i < n && used < sizeof text; ++i) {
        if (st[i].format == VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_UINT64_KHR)
            used += (size_t)snprintf(text + used, sizeof text - used, " %s=%llu", st[i].name,
                                     (unsigned long long)st[i].value.u64);
        else if (st[i].format == VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_INT64_KHR)
            used += (size_t)snprintf(text + used, sizeof text - used, " %s=%lld", st[i].name, (long long)st[i].value.i64);
    }
    vks__message(ctx, VKS_MESSAGE_INFO, "%s", text);
}

static bool spec_equal(const vks_spec *a, const vks_spec *b) {
    return a->count == b->count && a->required_subgroup_size == b->required_subgroup_size &&
           memcmp(a->values, b->values, a->count * sizeof a->values[0]) == 0;
}

vks_status vks__pipeline_get(vks_context *ctx, vks_shader_id shader, const vks_spec *spec, VkPipeline *out) {
    static const vks_spec none = {0};
    if (!spec) spec = &none;
    for (size_t i = 0; i < ctx->pipeline_count; ++i)
        if (ctx->pipelines[i].shader == shader && spec_equal(&ctx->pipelines[i].spec, spec)) {
            *out = ctx->pipelines[i].pipeline;
            return VKS_OK;
        }
    const vks_shader_code *code = &vks__shader_table[shader];
    if (!ctx->modules[shader]) {
        VkShaderModuleCreateInfo mi = {.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
                                       .codeSize = *code->size_bytes,
                                       .pCode = code->words};
        VKS_TRY_VK(ctx->vk.vkCreateShaderModule(ctx->device, &mi, NULL, &ctx->modules[shader]), code->name);
    }
    if (spec->required_subgroup_size && !vks__has_feature(ctx, VKS_FEATURE_SUBGROUP_CONTROL))
        return vks__error(VKS_ERROR_UNSUPPORTED, "%s needs subgroup size control, which device '%s' lacks", code->name,
                          ctx->probe.info.name);
    VkSpecializationMapEntry entries[VKS_MAX_SPEC_CONSTANTS];
    for (uint32_t i = 0; i < spec->count; ++i)
        entries[i] = (VkSpecializationMapEntry){.constantID = i, .offset = 4 * i, .size = 4};
    VkSpecializationInfo si = {.mapEntryCount = spec->count,
                               .pMapEntries = entries,
                               .dataSize = 4 * spec->count,
                               .pData = spec->values};
    VkPipelineShaderStageRequiredSubgroupSizeCreateInfo sgs = {
        .sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_REQUIRED_SUBGROUP_SIZE_CREATE_INFO,
        .requiredSubgroupSize = spec->required_subgroup_size};
    VkComputePipelineCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
        .stage = {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
                  .pNext = spec->required_subgroup_size ? &sgs : NULL,
                  .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                  .module = ctx->modules[shader],
                  .pName = "main",
                  .pSpecializationInfo = spec->count ? &si : NULL},
        .layout = ctx->pipeline_layout};
    if (ctx->pipeline_count == ctx->pipeline_capacity) {
        size_t cap = ctx->pipeline_capacity ? ctx->pipeline_capacity * 2 : 32;
        vks_pipeline_entry *p = vks__realloc(ctx->pipelines, cap * sizeof *p);
        if (!p)
            return vks__error(VKS_ERROR_OUT_OF_HOST_MEMORY, "vks_%s: out of host memory for its pipeline table",
                              ctx->current_op.name);
        ctx->pipelines = p;
        ctx->pipeline_capacity = cap;
    }
    if (ctx->pipeline_stats) ci.flags |= VK_PIPELINE_CREATE_CAPTURE_STATISTICS_BIT_KHR;
    VkPipeline pipeline;
    VKS_TRY_VK(ctx->vk.vkCreateComputePipelines(ctx->device, ctx->pipeline_cache, 1, &ci, NULL, &pipeline),
               code->name);
    if (ctx->pipeline_stats) report_statistics(ctx, code->name, spec, pipeline);
    ctx->pipelines[ctx->pipeline_count++] = (vks_pipeline_entry){.shader = shader, .spec = *spec, .pipeline = pipeline};
    *out = pipeline;
    return VKS_OK;
}
