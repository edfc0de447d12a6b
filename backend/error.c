/* Status strings and the per-thread message behind vks_last_error(). */
#include <stdio.h>
#include <string.h>

#include "internal.h"

/* Per thread, like errno: a failure on one thread never overwrites another's message. */
static _Thread_local char tls_message[1024];

const char *vks_status_string(vks_status status) {
    switch (status) {
#define VKS_STATUS_CASE_(name, value, text) \
    case name:                              \
        return #name ": " text;
        VKS_STATUS_LIST(VKS_STATUS_CASE_)
#undef VKS_STATUS_CASE_
    }
    return "unknown vks_status";
}

const char *vks_last_error(const vks_context *ctx) {
    (void)ctx; /* messages are per thread; see the header */
    return tls_message;
}

vks_status vks__error(vks_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tls_message, sizeof tls_message, fmt, ap);
    va_end(ap);
    return status;
}

vks_status vks__error_in(const char *fn, vks_status status) {
    if (status == VKS_OK || strncmp(tls_message, "vks_", 4) == 0) return status;
    char inner[sizeof tls_message];
    memcpy(inner, tls_message, sizeof inner);
    return vks__error(status, "%s: %s", fn, inner);
}

const char *vks__vk_result_name(VkResult r) {
    switch (r) {
#define C(x) \
    case x:  \
        return #x;
        C(VK_SUCCESS) C(VK_NOT_READY) C(VK_TIMEOUT) C(VK_INCOMPLETE)
        C(VK_ERROR_OUT_OF_HOST_MEMORY) C(VK_ERROR_OUT_OF_DEVICE_MEMORY)
        C(VK_ERROR_INITIALIZATION_FAILED) C(VK_ERROR_DEVICE_LOST) C(VK_ERROR_MEMORY_MAP_FAILED)
        C(VK_ERROR_LAYER_NOT_PRESENT) C(VK_ERROR_EXTENSION_NOT_PRESENT)
        C(VK_ERROR_FEATURE_NOT_PRESENT) C(VK_ERROR_INCOMPATIBLE_DRIVER)
        C(VK_ERROR_TOO_MANY_OBJECTS) C(VK_ERROR_FORMAT_NOT_SUPPORTED)
        C(VK_ERROR_FRAGMENTED_POOL) C(VK_ERROR_OUT_OF_POOL_MEMORY)
        C(VK_ERROR_INVALID_EXTERNAL_HANDLE) C(VK_ERROR_FRAGMENTATION)
        C(VK_ERROR_INVALID_OPAQUE_CAPTURE_ADDRESS) C(VK_PIPELINE_COMPILE_REQUIRED)
#undef C
    default:
        return "VkResult(unknown)";
    }
}

vks_status vks__vk_error(VkResult r, const char *what) {
    vks_status st = VKS_ERROR_VULKAN;
    if (r == VK_ERROR_OUT_OF_HOST_MEMORY) st = VKS_ERROR_OUT_OF_HOST_MEMORY;
    else if (r == VK_ERROR_OUT_OF_DEVICE_MEMORY) st = VKS_ERROR_OUT_OF_DEVICE_MEMORY;
    else if (r == VK_ERROR_DEVICE_LOST) st = VKS_ERROR_DEVICE_LOST;
    return vks__error(st, "%s failed: %s (%d)", what, vks__vk_result_name(r), (int)r);
}
