#include "vkt_host.h"

#include <string.h>

static VKAPI_ATTR VkBool32 VKAPI_CALL host_messages(VkDebugUtilsMessageSeverityFlagBitsEXT sev,
                                                    VkDebugUtilsMessageTypeFlagsEXT type,
                                                    const VkDebugUtilsMessengerCallbackDataEXT *data, void *user) {
    (void)type;
    if (sev >= VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT) {
        ((vkt_host *)user)->messages++;
        fprintf(stderr, "host validation: %s\n", data->pMessage);
    }
    return VK_FALSE;
}

void vkt_host_create(vkt_host *h) {
    memset(h, 0, sizeof *h);
    h->gipa = vkGetInstanceProcAddr;
    const char *layer = "VK_LAYER_KHRONOS_validation", *ext = VK_EXT_DEBUG_UTILS_EXTENSION_NAME;
    VkApplicationInfo app = {.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO, .apiVersion = VK_API_VERSION_1_2};
    VkDebugUtilsMessengerCreateInfoEXT dbg = {
        .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
        .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
        .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT,
        .pfnUserCallback = host_messages,
        .pUserData = h};
    VkInstanceCreateInfo ici = {.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
                                .pNext = &dbg,
                                .pApplicationInfo = &app,
                                .enabledLayerCount = 1,
                                .ppEnabledLayerNames = &layer,
                                .enabledExtensionCount = 1,
                                .ppEnabledExtensionNames = &ext};
    assert_int_equal(vkCreateInstance(&ici, NULL, &h->instance), VK_SUCCESS);
    PFN_vkCreateDebugUtilsMessengerEXT create_messenger =
        (PFN_vkCreateDebugUtilsMessengerEXT)vkGetInstanceProcAddr(h->instance, "vkCreateDebugUtilsMessengerEXT");
    assert_int_equal(create_messenger(h->instance, &dbg, NULL, &h->messenger), VK_SUCCESS);
    uint32_t n = 8;
    VkPhysicalDevice devs[8];
    vkEnumeratePhysicalDevices(h->instance, &n, devs);
    for (uint32_t i = 0; i < n && !h->phys; ++i) { /* the device the suite runs on */
        VkPhysicalDeviceProperties p;
        vkGetPhysicalDeviceProperties(devs[i], &p);
        if (strcmp(p.deviceName, vkt->info.name) == 0) h->phys = devs[i];
    }
    assert_non_null(h->phys);
    uint32_t nq = 8;
    VkQueueFamilyProperties qf[8];
    vkGetPhysicalDeviceQueueFamilyProperties(h->phys, &nq, qf);
    while (!(qf[h->family].queueFlags & VK_QUEUE_COMPUTE_BIT)) h->family++;
    VkPhysicalDeviceVulkan12Features f12 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES,
                                            .bufferDeviceAddress = VK_TRUE};
    VkPhysicalDeviceFeatures2 f = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &f12};
    f.features.shaderInt64 = VK_TRUE;
    const float prio = 1.0f;
    VkDeviceQueueCreateInfo q = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
                                 .queueFamilyIndex = h->family,
                                 .queueCount = 1,
                                 .pQueuePriorities = &prio};
    VkDeviceCreateInfo dci = {.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
                              .pNext = &f,
                              .queueCreateInfoCount = 1,
                              .pQueueCreateInfos = &q};
    assert_int_equal(vkCreateDevice(h->phys, &dci, NULL, &h->device), VK_SUCCESS);
    vkGetDeviceQueue(h->device, h->family, 0, &h->queue);
    VkCommandPoolCreateInfo pci = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO, .queueFamilyIndex = h->family};
    assert_int_equal(vkCreateCommandPool(h->device, &pci, NULL, &h->pool), VK_SUCCESS);
}

void vkt_host_destroy(vkt_host *h) {
    vkDestroyCommandPool(h->device, h->pool, NULL);
    vkDestroyDevice(h->device, NULL);
    PFN_vkDestroyDebugUtilsMessengerEXT destroy_messenger =
        (PFN_vkDestroyDebugUtilsMessengerEXT)vkGetInstanceProcAddr(h->instance, "vkDestroyDebugUtilsMessengerEXT");
    destroy_messenger(h->instance, h->messenger, NULL);
    vkDestroyInstance(h->instance, NULL);
}

vks_vulkan_device vkt_host_device(const vkt_host *h, uint32_t enabled_features) {
    vks_vulkan_device vd = {.struct_size = sizeof vd,
                            .instance = h->instance,
                            .physical_device = h->phys,
                            .device = h->device,
                            .queue = h->queue,
                            .queue_family_index = h->family,
                            .enabled_features = enabled_features,
                            .get_instance_proc_addr = (void (*(*)(void *, const char *))(void))h->gipa};
    return vd;
}
