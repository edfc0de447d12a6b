/*
 * Physical devices: probing features and limits (vks_enumerate_devices, vks_probe), choosing
 * one, creating the instance and the logical device with exactly the features vkstruct uses.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define VKS_VALIDATION_LAYER "VK_LAYER_KHRONOS_validation"

static bool has_extension(const VkExtensionProperties *exts, uint32_t n, const char *name) {
    for (uint32_t i = 0; i < n; ++i)
        if (strcmp(exts[i].extensionName, name) == 0) return true;
    return false;
}

static vks_device_type map_type(VkPhysicalDeviceType t) {
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return VKS_DEVICE_INTEGRATED_GPU;
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return VKS_DEVICE_DISCRETE_GPU;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return VKS_DEVICE_VIRTUAL_GPU;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return VKS_DEVICE_CPU;
    default: return VKS_DEVICE_OTHER;
    }
}

static bool has_coopmat_shape(const vks_instance_fns *f, VkPhysicalDevice phys) {
    if (!f->GetPhysicalDeviceCooperativeMatrixPropertiesNV) return false;
    uint32_t n = 0;
    if (f->GetPhysicalDeviceCooperativeMatrixPropertiesNV(phys, &n, NULL) != VK_SUCCESS || n == 0) return false;
    VkCooperativeMatrixPropertiesNV *props = vks__calloc(n, sizeof *props);
    if (!props) return false;
    for (uint32_t i = 0; i < n; ++i) props[i].sType = VK_STRUCTURE_TYPE_COOPERATIVE_MATRIX_PROPERTIES_NV;
    bool found = false;
    if (f->GetPhysicalDeviceCooperativeMatrixPropertiesNV(phys, &n, props) == VK_SUCCESS)
        for (uint32_t i = 0; i < n && !found; ++i)
            found = props[i].MSize == 16 && props[i].NSize == 16 && props[i].KSize == 16 &&
                    props[i].AType == VK_COMPONENT_TYPE_FLOAT16_NV && props[i].BType == VK_COMPONENT_TYPE_FLOAT16_NV &&
                    props[i].CType == VK_COMPONENT_TYPE_FLOAT32_NV && props[i].DType == VK_COMPONENT_TYPE_FLOAT32_NV &&
                    props[i].scope == VK_SCOPE_SUBGROUP_NV;
    vks__free(props);
    return found;
}

vks_status vks__probe_physical_device(const vks_instance_fns *f, VkPhysicalDevice phys,
                                      uint32_t index, vks_device_probe *out) {
    memset(out, 0, sizeof *out);
    vks_device_info *info = &out->info;
    info->struct_size = sizeof *info;
    info->index = index;
    out->compute_queue_family = UINT32_MAX;

    uint32_t next = 0;
    VkResult r = f->EnumerateDeviceExtensionProperties(phys, NULL, &next, NULL);
    if (r != VK_SUCCESS) return vks__vk_error(r, "vkEnumerateDeviceExtensionProperties");
    VkExtensionProperties *exts = vks__calloc(next ? next : 1, sizeof *exts);
    if (!exts) return vks__error(VKS_ERROR_OUT_OF_HOST_MEMORY, "out of host memory listing a device's extensions");
    f->EnumerateDeviceExtensionProperties(phys, NULL, &next, exts);
    out->has_ext_subgroup_size_control = has_extension(exts, next, "VK_EXT_subgroup_size_control");
    out->has_ext_portability_subset = has_extension(exts, next, "VK_KHR_portability_subset");
    out->has_ext_coopmat_nv = has_extension(exts, next, "VK_NV_cooperative_matrix");
    out->has_ext_coopmat_khr = has_extension(exts, next, "VK_KHR_cooperative_matrix");
    out->has_pipeline_stats = has_extension(exts, next, VK_KHR_PIPELINE_EXECUTABLE_PROPERTIES_EXTENSION_NAME);
    vks__free(exts);

    VkPhysicalDeviceProperties2 p0 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
    f->GetPhysicalDeviceProperties2(phys, &p0);
    const uint32_t api = p0.properties.apiVersion;
    const bool v13 = api >= VK_API_VERSION_1_3;
    const bool v12 = api >= VK_API_VERSION_1_2;

    /* Properties: one chain, each struct only where the device's version has it. */
    VkPhysicalDeviceDriverProperties drv = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES};
    VkPhysicalDeviceSubgroupProperties sg = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
    VkPhysicalDeviceMaintenance3Properties m3 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES};
    VkPhysicalDeviceMaintenance4Properties m4 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_4_PROPERTIES};
    VkPhysicalDeviceSubgroupSizeControlProperties sgc = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_PROPERTIES};
    VkPhysicalDeviceProperties2 props = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
    void **tail = &props.pNext;
#define CHAIN(s)               \
    do {                       \
        *tail = &(s);          \
        tail = &(s).pNext;     \
    } while (0)
    CHAIN(sg);
    CHAIN(m3);
    if (v12) CHAIN(drv);
    if (v13) CHAIN(m4);
    if (v13 || out->has_ext_subgroup_size_control) CHAIN(sgc);
    f->GetPhysicalDeviceProperties2(phys, &props);

    /* Features, likewise. */
    VkPhysicalDeviceVulkan11Features f11 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES};
    VkPhysicalDeviceVulkan12Features f12 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
    VkPhysicalDeviceSubgroupSizeControlFeatures fsc = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_FEATURES};
    VkPhysicalDeviceCooperativeMatrixFeaturesNV fcm = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV};
    VkPhysicalDeviceFeatures2 feats = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
    tail = &feats.pNext;
    if (v12) {
        CHAIN(f11);
        CHAIN(f12);
    }
    if (v13 || out->has_ext_subgroup_size_control) CHAIN(fsc);
    if (out->has_ext_coopmat_nv) CHAIN(fcm);
#undef CHAIN
    f->GetPhysicalDeviceFeatures2(phys, &feats);

    const VkPhysicalDeviceLimits *lim = &props.properties.limits;
    snprintf(info->name, sizeof info->name, "%s", props.properties.deviceName);
    info->type = map_type(props.properties.deviceType);
    info->vendor_id = props.properties.vendorID;
    info->device_id = props.properties.deviceID;
    info->api_version = api;
    info->driver_version = props.properties.driverVersion;
    snprintf(info->driver_name, sizeof info->driver_name, "%s", drv.driverName);
    snprintf(info->driver_info, sizeof info->driver_info, "%s", drv.driverInfo);
    memcpy(info->pipeline_cache_uuid, props.properties.pipelineCacheUUID, 16);
    info->subgroup_size = sg.subgroupSize;
    info->min_subgroup_size = sgc.minSubgroupSize ? sgc.minSubgroupSize : sg.subgroupSize;
    info->max_subgroup_size = sgc.maxSubgroupSize ? sgc.maxSubgroupSize : sg.subgroupSize;
    info->max_shared_memory_bytes = lim->maxComputeSharedMemorySize;
    info->max_workgroup_invocations = lim->maxComputeWorkGroupInvocations;
    for (int i = 0; i < 3; ++i) {
        info->max_workgroup_size[i] = lim->maxComputeWorkGroupSize[i];
        info->max_workgroup_count[i] = lim->maxComputeWorkGroupCount[i];
    }
    info->max_push_constants_bytes = lim->maxPushConstantsSize;
    info->max_storage_buffer_range = lim->maxStorageBufferRange;
    info->max_memory_allocation_bytes = m3.maxMemoryAllocationSize;
    info->max_buffer_bytes = v13 ? m4.maxBufferSize : m3.maxMemoryAllocationSize;
    info->timestamp_period_ns = lim->timestampPeriod;

    VkPhysicalDeviceMemoryProperties mem;
    f->GetPhysicalDeviceMemoryProperties(phys, &mem);
    for (uint32_t i = 0; i < mem.memoryHeapCount; ++i)
        if ((mem.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) &&
            mem.memoryHeaps[i].size > info->device_local_bytes)
            info->device_local_bytes = mem.memoryHeaps[i].size;

    /* The first queue family that computes; prefer one with timestamps. */
    uint32_t nq = 0;
    f->GetPhysicalDeviceQueueFamilyProperties(phys, &nq, NULL);
    VkQueueFamilyProperties qf[64];
    nq = VKS_MIN(nq, (uint32_t)VKS_COUNT_OF(qf));
    f->GetPhysicalDeviceQueueFamilyProperties(phys, &nq, qf);
    for (uint32_t i = 0; i < nq; ++i) {
        if (!(qf[i].queueFlags & VK_QUEUE_COMPUTE_BIT)) continue;
        if (out->compute_queue_family == UINT32_MAX ||
            (qf[i].timestampValidBits && !out->timestamp_valid_bits)) {
            out->compute_queue_family = i;
            out->timestamp_valid_bits = qf[i].timestampValidBits;
        }
    }

    uint32_t fb = 0;
    if (f12.shaderFloat16) fb |= VKS_FEATURE_FLOAT16;
    if (f11.storageBuffer16BitAccess) fb |= VKS_FEATURE_STORAGE16;
    if (f12.shaderInt8) fb |= VKS_FEATURE_INT8;
    if (f12.storageBuffer8BitAccess) fb |= VKS_FEATURE_STORAGE8;
    if (feats.features.shaderFloat64) fb |= VKS_FEATURE_FLOAT64;
    if (feats.features.shaderInt64) fb |= VKS_FEATURE_INT64;
    if (f12.bufferDeviceAddress) fb |= VKS_FEATURE_BUFFER_ADDRESS;
    if (fsc.subgroupSizeControl && fsc.computeFullSubgroups) fb |= VKS_FEATURE_SUBGROUP_CONTROL;
    if (out->has_ext_coopmat_khr) fb |= VKS_FEATURE_COOPMAT_KHR;
    /* Enabling the memory model makes the validation layer check every module's memory
     * scopes, and plain buffer barriers use device scope: both features or neither. */
    out->has_vulkan_memory_model = f12.vulkanMemoryModel && f12.vulkanMemoryModelDeviceScope;
    /* The tensor-core kernels use 16x16x16 fragments, f16 inputs, f32 accumulation. */
    if (fcm.cooperativeMatrix && out->has_vulkan_memory_model && has_coopmat_shape(f, phys))
        fb |= VKS_FEATURE_COOPMAT_NV;
    if (out->timestamp_valid_bits && (lim->timestampComputeAndGraphics || out->compute_queue_family == 0))
        fb |= VKS_FEATURE_TIMESTAMPS;
    if (f12.hostQueryReset) fb |= VKS_FEATURE_HOST_QUERY_RESET;
    info->features = fb;

    if (!v12)
        snprintf(info->unusable_reason, sizeof info->unusable_reason,
                 "Vulkan %u.%u < 1.2", VK_API_VERSION_MAJOR(api), VK_API_VERSION_MINOR(api));
    else if (!(fb & VKS_FEATURE_BUFFER_ADDRESS))
        snprintf(info->unusable_reason, sizeof info->unusable_reason, "no bufferDeviceAddress");
    else if (!(fb & VKS_FEATURE_INT64))
        snprintf(info->unusable_reason, sizeof info->unusable_reason, "no shaderInt64");
    else if (out->compute_queue_family == UINT32_MAX)
        snprintf(info->unusable_reason, sizeof info->unusable_reason, "no compute queue");
    else
        info->usable = 1;
    return VKS_OK;
}

VKAPI_ATTR VkBool32 VKAPI_CALL vks__debug_callback(VkDebugUtilsMessageSeverityFlagBitsEXT sev,
                                                   VkDebugUtilsMessageTypeFlagsEXT types,
                                                   const VkDebugUtilsMessengerCallbackDataEXT *data,
                                                   void *user) {
    (void)types;
    vks_context *ctx = user;
    vks_message_severity s = (sev & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT) ? VKS_MESSAGE_ERROR
                             : (sev & VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT)
                                 ? VKS_MESSAGE_WARNING
                                 : VKS_MESSAGE_INFO;
    if (s != VKS_MESSAGE_INFO) __atomic_add_fetch(&ctx->validation_messages, 1, __ATOMIC_RELAXED);
    if (ctx->message_callback)
        ctx->message_callback(ctx->message_user, VKS_SOURCE_VALIDATION, s, data && data->pMessage ? data->pMessage : "");
    return VK_FALSE;
}

/* VKS_OK and *found, or a status (out of host memory is not "not installed"). */
static vks_status layer_available(const char *name, bool *found) {
    uint32_t n = 0;
    *found = false;
    if (vkEnumerateInstanceLayerProperties(&n, NULL) != VK_SUCCESS || n == 0) return VKS_OK;
    VkLayerProperties *layers = vks__calloc(n, sizeof *layers);
    if (!layers) return vks__error(VKS_ERROR_OUT_OF_HOST_MEMORY, "out of host memory listing the Vulkan layers");
    if (vkEnumerateInstanceLayerProperties(&n, layers) == VK_SUCCESS)
        for (uint32_t i = 0; i < n && !*found; ++i) *found = strcmp(layers[i].layerName, name) == 0;
    vks__free(layers);
    return VKS_OK;
}

vks_status vks__create_instance(bool validation, vks_context *ctx, VkInstance *out, bool *debug_utils) {
    uint32_t version = VK_API_VERSION_1_1;
    if (vkEnumerateInstanceVersion) vkEnumerateInstanceVersion(&version);
    if (version < VK_API_VERSION_1_2)
        return vks__error(VKS_ERROR_NO_DEVICE, "the Vulkan loader supports only %u.%u; vkstruct needs 1.2",
                          VK_API_VERSION_MAJOR(version), VK_API_VERSION_MINOR(version));
    if (version > VK_API_VERSION_1_3) version = VK_API_VERSION_1_3;

    bool have_layer = false;
    if (validation) VKS_TRY(layer_available(VKS_VALIDATION_LAYER, &have_layer));
    if (validation && !have_layer)
        return vks__error(VKS_ERROR_UNSUPPORTED,
                          "validation was requested (VKS_CONTEXT_VALIDATION or VKS_VALIDATION=1) but "
                          "%s is not installed (Debian: vulkan-validationlayers)", VKS_VALIDATION_LAYER);

    uint32_t next = 0;
    vkEnumerateInstanceExtensionProperties(NULL, &next, NULL);
    VkExtensionProperties *exts = vks__calloc(next ? next : 1, sizeof *exts);
    if (!exts) return vks__error(VKS_ERROR_OUT_OF_HOST_MEMORY, "out of host memory listing the instance extensions");
    vkEnumerateInstanceExtensionProperties(NULL, &next, exts);
    const char *enabled[5];
    uint32_t nenabled = 0;
    VkInstanceCreateFlags flags = 0;
    *debug_utils = false;
    if (ctx && has_extension(exts, next, VK_EXT_DEBUG_UTILS_EXTENSION_NAME)) {
        enabled[nenabled++] = VK_EXT_DEBUG_UTILS_EXTENSION_NAME;
        *debug_utils = true;
    }
    if (has_extension(exts, next, "VK_KHR_portability_enumeration")) {
        enabled[nenabled++] = "VK_KHR_portability_enumeration";
        flags |= 0x00000001; /* VK_INSTANCE_CREATE_ENUMERATE_PORTABILITY_BIT_KHR (MoltenVK) */
    }
    vks__free(exts);

    VkApplicationInfo app = {.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
                             .pApplicationName = "vkstruct",
                             .pEngineName = "vkstruct",
                             .engineVersion = VK_MAKE_API_VERSION(0, VKS_VERSION_MAJOR, VKS_VERSION_MINOR,
                                                                  VKS_VERSION_PATCH),
                             .apiVersion = version};
    /* Chained so that messages of vkCreateInstance/vkDestroyInstance are caught too. */
    VkDebugUtilsMessengerCreateInfoEXT dbg = {
        .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
        .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                           VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
        .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                       VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                       VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
        .pfnUserCallback = vks__debug_callback,
        .pUserData = ctx};
    /* VKS_VALIDATION_SYNC=1 adds the layer's synchronization validation (hazards between
     * the commands we record: a missing or too-weak barrier), off by default for its cost. */
    const char *sync_env = getenv("VKS_VALIDATION_SYNC");
    const bool sync = validation && sync_env && *sync_env && strcmp(sync_env, "0") != 0;
    const VkValidationFeatureEnableEXT sync_feature = VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT;
    VkValidationFeaturesEXT features = {.sType = VK_STRUCTURE_TYPE_VALIDATION_FEATURES_EXT,
                                        .pNext = (*debug_utils && validation) ? &dbg : NULL,
                                        .enabledValidationFeatureCount = 1,
                                        .pEnabledValidationFeatures = &sync_feature};
    if (sync) enabled[nenabled++] = VK_EXT_VALIDATION_FEATURES_EXTENSION_NAME; /* the layer provides it */
    const char *layer = VKS_VALIDATION_LAYER;
    VkInstanceCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
                               .pNext = sync ? (const void *)&features : (*debug_utils && validation) ? (const void *)&dbg : NULL,
                               .flags = flags,
                               .pApplicationInfo = &app,
                               .enabledLayerCount = validation ? 1 : 0,
                               .ppEnabledLayerNames = validation ? &layer : NULL,
                               .enabledExtensionCount = nenabled,
                               .ppEnabledExtensionNames = nenabled ? enabled : NULL};
    VkResult r = vkCreateInstance(&ci, NULL, out);
    if (r == VK_ERROR_INCOMPATIBLE_DRIVER)
        return vks__error(VKS_ERROR_NO_DEVICE, "vkCreateInstance: no Vulkan driver installed "
                                               "(for the CPU: apt-get install mesa-vulkan-drivers)");
    if (r != VK_SUCCESS) return vks__vk_error(r, "vkCreateInstance");
    return VKS_OK;
}

static int type_rank(vks_device_type t) {
    switch (t) {
    case VKS_DEVICE_DISCRETE_GPU: return 4;
    case VKS_DEVICE_INTEGRATED_GPU: return 3;
    case VKS_DEVICE_VIRTUAL_GPU: return 2;
    case VKS_DEVICE_CPU: return 1;
    default: return 0;
    }
}

static bool contains_nocase(const char *hay, const char *needle) {
    size_t n = strlen(needle);
    for (; *hay; ++hay) {
        size_t i = 0;
        while (i < n && hay[i] && tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i])) ++i;
        if (i == n) return true;
    }
    return n == 0;
}

static vks_status pick_by_index(const vks_device_probe *p, uint32_t count, long idx, const char *src,
                                uint32_t *chosen) {
    if (idx < 0 || (uint32_t)idx >= count)
        return vks__error(VKS_ERROR_OUT_OF_RANGE, "%s = %ld: expected a device index in [0, %u)", src,
                          idx, count);
    if (!p[idx].info.usable)
        return vks__error(VKS_ERROR_UNSUPPORTED, "%s = %ld: device '%s' is not usable: %s", src, idx,
                          p[idx].info.name, p[idx].info.unusable_reason);
    *chosen = (uint32_t)idx;
    return VKS_OK;
}

static vks_status pick_by_name(const vks_device_probe *p, uint32_t count, const char *name, const char *src,
                               uint32_t *chosen) {
    for (uint32_t i = 0; i < count; ++i)
        if (p[i].info.usable && contains_nocase(p[i].info.name, name)) {
            *chosen = i;
            return VKS_OK;
        }
    char list[512] = "";
    size_t used = 0;
    for (uint32_t i = 0; i < count && used < sizeof list; ++i)
        used += (size_t)snprintf(list + used, sizeof list - used, "%s'%s'%s", i ? ", " : "",
                                 p[i].info.name, p[i].info.usable ? "" : " (unusable)");
    return vks__error(VKS_ERROR_NO_DEVICE, "%s = '%s': no usable device's name contains it; devices: %s",
                      src, name, count ? list : "none");
}

vks_status vks__choose_device(const vks_device_probe *p, uint32_t count, const vks_context_options *o,
                              uint32_t *chosen) {
    if (o && o->device_index >= 0) return pick_by_index(p, count, o->device_index, "options.device_index", chosen);
    if (o && o->device_name) return pick_by_name(p, count, o->device_name, "options.device_name", chosen);
    const char *env = getenv("VKS_DEVICE");
    if (env && *env) {
        char *end = NULL;
        long idx = strtol(env, &end, 10);
        if (end && *end == '\0') return pick_by_index(p, count, idx, "VKS_DEVICE", chosen);
        return pick_by_name(p, count, env, "VKS_DEVICE", chosen);
    }
    int best = -1;
    for (uint32_t i = 0; i < count; ++i)
        if (p[i].info.usable && (best < 0 || type_rank(p[i].info.type) > type_rank(p[best].info.type)))
            best = (int)i;
    if (best < 0) {
        if (count == 0)
            return vks__error(VKS_ERROR_NO_DEVICE, "no Vulkan device found (for the CPU: apt-get install "
                                                   "mesa-vulkan-drivers)");
        return vks__error(VKS_ERROR_NO_DEVICE, "no usable Vulkan device: device 0 '%s': %s", p[0].info.name,
                          p[0].info.unusable_reason);
    }
    *chosen = (uint32_t)best;
    return VKS_OK;
}

vks_status vks__create_logical_device(vks_context *ctx, const vks_device_probe *probe) {
    const uint32_t fb = probe->info.features;
    const bool v13 = probe->info.api_version >= VK_API_VERSION_1_3;

    VkPhysicalDeviceFeatures2 feats = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
    VkPhysicalDeviceVulkan11Features f11 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES};
    VkPhysicalDeviceVulkan12Features f12 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
    VkPhysicalDeviceSubgroupSizeControlFeatures fsc = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_FEATURES};
    VkPhysicalDeviceCooperativeMatrixFeaturesNV fcm = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV};
    feats.pNext = &f11;
    f11.pNext = &f12;
    void **tail = &f12.pNext;

    feats.features.shaderInt64 = VK_TRUE;
    feats.features.shaderFloat64 = (fb & VKS_FEATURE_FLOAT64) != 0;
    f12.bufferDeviceAddress = VK_TRUE;
    f11.storageBuffer16BitAccess = (fb & VKS_FEATURE_STORAGE16) != 0;
    f12.shaderFloat16 = (fb & VKS_FEATURE_FLOAT16) != 0;
    f12.shaderInt8 = (fb & VKS_FEATURE_INT8) != 0;
    f12.storageBuffer8BitAccess = (fb & VKS_FEATURE_STORAGE8) != 0;
    f12.hostQueryReset = (fb & VKS_FEATURE_HOST_QUERY_RESET) != 0;

    const char *exts[6];
    uint32_t next = 0;
    if (fb & VKS_FEATURE_SUBGROUP_CONTROL) {
        fsc.subgroupSizeControl = VK_TRUE;
        fsc.computeFullSubgroups = VK_TRUE;
        *tail = &fsc;
        tail = &fsc.pNext;
        if (!v13) exts[next++] = "VK_EXT_subgroup_size_control";
    }
    if (fb & VKS_FEATURE_COOPMAT_NV) {
        fcm.cooperativeMatrix = VK_TRUE;
        f12.vulkanMemoryModel = VK_TRUE;
        f12.vulkanMemoryModelDeviceScope = VK_TRUE;
        *tail = &fcm;
        tail = &fcm.pNext;
        exts[next++] = "VK_NV_cooperative_matrix";
    }
    if (probe->has_ext_portability_subset) exts[next++] = "VK_KHR_portability_subset";
    /* Compiler statistics (registers, spills) for tuning, only when asked for. */
    VkPhysicalDevicePipelineExecutablePropertiesFeaturesKHR fpe = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PIPELINE_EXECUTABLE_PROPERTIES_FEATURES_KHR,
        .pipelineExecutableInfo = VK_TRUE};
    if (ctx->pipeline_stats && probe->has_pipeline_stats) {
        exts[next++] = VK_KHR_PIPELINE_EXECUTABLE_PROPERTIES_EXTENSION_NAME;
        *tail = &fpe;
        tail = &fpe.pNext;
    } else {
        ctx->pipeline_stats = false;
    }

    const float prio = 1.0f;
    VkDeviceQueueCreateInfo q = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
                                 .queueFamilyIndex = probe->compute_queue_family,
                                 .queueCount = 1,
                                 .pQueuePriorities = &prio};
    VkDeviceCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
                             .pNext = &feats,
                             .queueCreateInfoCount = 1,
                             .pQueueCreateInfos = &q,
                             .enabledExtensionCount = next,
                             .ppEnabledExtensionNames = next ? exts : NULL};
    VKS_TRY_VK(ctx->ifn.CreateDevice(ctx->physical_device, &ci, NULL, &ctx->device), "vkCreateDevice");
    ctx->owns_device = true;
    ctx->queue_family = probe->compute_queue_family;
    ctx->enabled_features = fb;
    return VKS_OK;
}

/* Enumerates and probes every physical device of `instance` (probes freed by caller). */
vks_status vks__probe_all(const vks_instance_fns *f, VkInstance instance, VkPhysicalDevice **devs,
                          vks_device_probe **probes, uint32_t *count) {
    uint32_t n = 0;
    VKS_TRY_VK(f->EnumeratePhysicalDevices(instance, &n, NULL), "vkEnumeratePhysicalDevices");
    *devs = vks__calloc(n ? n : 1, sizeof **devs);
    *probes = vks__calloc(n ? n : 1, sizeof **probes);
    if (!*devs || !*probes) return vks__error(VKS_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    VkResult r = f->EnumeratePhysicalDevices(instance, &n, *devs);
    if (r != VK_SUCCESS && r != VK_INCOMPLETE) return vks__vk_error(r, "vkEnumeratePhysicalDevices");
    for (uint32_t i = 0; i < n; ++i) VKS_TRY(vks__probe_physical_device(f, (*devs)[i], i, &(*probes)[i]));
    *count = n;
    return VKS_OK;
}

vks_status vks_enumerate_devices(vks_device_info *infos, uint32_t capacity, uint32_t *count) {
    if (!count) return vks__error(VKS_ERROR_INVALID_ARGUMENT, "vks_enumerate_devices: count is NULL");
    if (capacity && !infos)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "vks_enumerate_devices: infos is NULL but capacity = %u",
                          capacity);
    /* The array's stride is the caller's sizeof(vks_device_info), which every element's
     * struct_size states: an older caller's elements are smaller than ours, a newer one's
     * larger (each filled up to ours). */
    const size_t stride = capacity ? infos[0].struct_size : 0;
    /* An element of 64 KiB would be 60 times today's: a garbage size, not a newer header
     * (stepping by it would run far past the caller's array). */
    if (capacity > 1 && stride > 65536)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT,
                          "vks_enumerate_devices: infos[0].struct_size = %zu (the array's stride) is past 65536 bytes",
                          stride);
    for (uint32_t i = 0; i < capacity; ++i) {
        char arg[32];
        snprintf(arg, sizeof arg, "infos[%u]", i);
        const void *e = (const char *)infos + (size_t)i * stride;
        VKS_TRY(vks__struct_check("vks_enumerate_devices", arg, VKS_STRUCT_DEVICE_INFO, e));
        size_t size; /* read bytewise: a stride need not keep the elements aligned */
        memcpy(&size, e, sizeof size);
        if (size != stride)
            return vks__error(VKS_ERROR_INVALID_ARGUMENT,
                              "vks_enumerate_devices: infos[%u].struct_size = %zu, expected %zu as infos[0] (the "
                              "array's stride)",
                              i, size, stride);
    }
    *count = 0;
    VKS_TRY(vks__error_in("vks_enumerate_devices", vks__loader_acquire(NULL)));
    VkInstance instance;
    bool dbg;
    VKS_TRY(vks__error_in("vks_enumerate_devices", vks__create_instance(false, NULL, &instance, &dbg)));
    vks_instance_fns f;
    vks__load_instance_fns(instance, NULL, &f);
    VkPhysicalDevice *devs = NULL;
    vks_device_probe *probes = NULL;
    uint32_t n = 0;
    vks_status st = vks__probe_all(&f, instance, &devs, &probes, &n);
    if (st == VKS_OK) {
        for (uint32_t i = 0; i < n && i < capacity && st == VKS_OK; ++i) {
            void *e = (char *)infos + (size_t)i * stride;
            st = vks__struct_out("vks_enumerate_devices", "infos", VKS_STRUCT_DEVICE_INFO, e, &probes[i].info);
            memcpy(e, &stride, sizeof stride); /* keeps the stride for the caller's next call */
        }
        *count = n;
    }
    vks__free(devs);
    vks__free(probes);
    f.DestroyInstance(instance, NULL);
    return vks__error_in("vks_enumerate_devices", st);
}

vks_status vks_probe(uint32_t *usable_devices) {
    if (!usable_devices) return vks__error(VKS_ERROR_INVALID_ARGUMENT, "vks_probe: usable_devices is NULL");
    *usable_devices = 0;
    uint32_t n = 0;
    vks_device_info infos[16];
    for (size_t i = 0; i < VKS_COUNT_OF(infos); ++i) infos[i].struct_size = sizeof infos[i];
    vks_status st = vks_enumerate_devices(infos, (uint32_t)VKS_COUNT_OF(infos), &n);
    if (st == VKS_ERROR_NO_DEVICE) return VKS_OK; /* no loader or driver: zero devices */
    VKS_TRY(st);
    for (uint32_t i = 0; i < n && i < VKS_COUNT_OF(infos); ++i) *usable_devices += infos[i].usable ? 1u : 0u;
    return VKS_OK;
}
