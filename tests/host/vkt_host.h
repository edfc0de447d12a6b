/*
 * A host application's own Vulkan objects, for the tests that play one (an engine that
 * owns its instance, device, queue and command buffers and hands them to vkstruct): an
 * instance with the validation layer (its messages counted in `messages`), the device the
 * suite runs on with bufferDeviceAddress + shaderInt64, a compute queue and command pool.
 * Linked with the Vulkan loader; only these tests use it.
 */
#ifndef VKT_HOST_H
#define VKT_HOST_H

#include <vulkan/vulkan.h>

#include "vks_test.h"

typedef struct vkt_host {
    PFN_vkGetInstanceProcAddr gipa; /* the loader's, for vks_vulkan_device.get_instance_proc_addr */
    VkInstance instance;
    VkDebugUtilsMessengerEXT messenger;
    VkPhysicalDevice phys;
    VkDevice device;
    VkQueue queue;
    uint32_t family;
    VkCommandPool pool;
    int messages; /* validation warnings and errors on the host's instance */
} vkt_host;

/* Creates everything (fails the test on error). */
void vkt_host_create(vkt_host *h);
void vkt_host_destroy(vkt_host *h);
/* The description vks_context_options.vulkan takes, with these vks_feature bits enabled. */
vks_vulkan_device vkt_host_device(const vkt_host *h, uint32_t enabled_features);

#endif
