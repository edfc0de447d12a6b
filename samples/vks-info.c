/* vks-info: the Vulkan devices vkstruct sees, what it uses of each, and which one a
 * context would pick ($VKS_DEVICE or the best type). */
#include <stdio.h>
#include <stdlib.h>

#include <vkstruct/vkstruct.h>

static const char *type_name(vks_device_type t) {
    switch (t) {
    case VKS_DEVICE_DISCRETE_GPU: return "discrete GPU";
    case VKS_DEVICE_INTEGRATED_GPU: return "integrated GPU";
    case VKS_DEVICE_VIRTUAL_GPU: return "virtual GPU";
    case VKS_DEVICE_CPU: return "CPU";
    default: return "other";
    }
}

static const char *vendor_name(uint32_t id) {
    switch (id) {
    case 0x10DE: return "NVIDIA";
    case 0x1002: return "AMD";
    case 0x8086: return "Intel";
    case 0x106B: return "Apple";
    case 0x13B5: return "ARM";
    case 0x5143: return "Qualcomm";
    case 0x10005: return "Mesa";
    default: return "unknown";
    }
}

static void print_features(uint32_t f) {
    static const struct { uint32_t bit; const char *name; } names[] = {
        {VKS_FEATURE_FLOAT16, "float16"},         {VKS_FEATURE_STORAGE16, "storage16"},
        {VKS_FEATURE_INT8, "int8"},               {VKS_FEATURE_STORAGE8, "storage8"},
        {VKS_FEATURE_FLOAT64, "float64"},         {VKS_FEATURE_INT64, "int64"},
        {VKS_FEATURE_BUFFER_ADDRESS, "buffer-device-address"},
        {VKS_FEATURE_SUBGROUP_CONTROL, "subgroup-size-control"},
        {VKS_FEATURE_COOPMAT_KHR, "cooperative-matrix-khr"},
        {VKS_FEATURE_COOPMAT_NV, "cooperative-matrix-nv"},
        {VKS_FEATURE_TIMESTAMPS, "timestamps"},   {VKS_FEATURE_HOST_QUERY_RESET, "host-query-reset"},
    };
    printf("  features      ");
    for (size_t i = 0; i < sizeof names / sizeof names[0]; ++i) printf(" %s%s", (f & names[i].bit) ? "+" : "-", names[i].name);
    printf("\n");
}

static double mib(uint64_t b) { return (double)b / (1024.0 * 1024.0); }

int main(void) {
    uint32_t count = 0;
    vks_status st = vks_enumerate_devices(NULL, 0, &count);
    if (st != VKS_OK) {
        fprintf(stderr, "vks-info: %s: %s\n", vks_status_string(st), vks_last_error(NULL));
        return 1;
    }
    vks_device_info *infos = calloc(count ? count : 1, sizeof *infos);
    for (uint32_t i = 0; i < count; ++i) infos[i].struct_size = sizeof infos[i];
    vks_enumerate_devices(infos, count, &count);
    printf("vkstruct %s: %u Vulkan device(s)\n", VKS_VERSION_STRING, count);
    for (uint32_t i = 0; i < count; ++i) {
        const vks_device_info *d = &infos[i];
        printf("\n[%u] %s\n", d->index, d->name);
        printf("  type           %s, vendor %s (0x%04x), device 0x%04x\n", type_name(d->type), vendor_name(d->vendor_id),
               d->vendor_id, d->device_id);
        printf("  driver         %s %s\n", d->driver_name, d->driver_info);
        printf("  vulkan         %u.%u.%u\n", d->api_version >> 22, (d->api_version >> 12) & 0x3ff, d->api_version & 0xfff);
        printf("  usable         %s%s\n", d->usable ? "yes" : "no: ", d->usable ? "" : d->unusable_reason);
        print_features(d->features);
        printf("  subgroup       %u (min %u, max %u)\n", d->subgroup_size, d->min_subgroup_size, d->max_subgroup_size);
        printf("  shared memory  %u KiB per workgroup; workgroup <= %u invocations\n", d->max_shared_memory_bytes / 1024,
               d->max_workgroup_invocations);
        printf("  push constants %u bytes\n", d->max_push_constants_bytes);
        printf("  memory         %.0f MiB device-local; allocation <= %.0f MiB; buffer <= %.0f MiB; storage range %.0f "
               "MiB (not a limit for vkstruct)\n",
               mib(d->device_local_bytes), mib(d->max_memory_allocation_bytes), mib(d->max_buffer_bytes),
               mib(d->max_storage_buffer_range));
        printf("  timestamps     %.3f ns per tick\n", d->timestamp_period_ns);
    }
    const char *env = getenv("VKS_DEVICE");
    vks_context *ctx = NULL;
    st = vks_context_create(NULL, &ctx);
    if (st != VKS_OK) {
        printf("\nselected: none (%s: %s)\n", vks_status_string(st), vks_last_error(NULL));
        free(infos);
        return 1;
    }
    vks_device_info sel = {.struct_size = sizeof sel};
    vks_context_get_device_info(ctx, &sel);
    printf("\nselected: [%u] %s (%s)\n", sel.index, sel.name,
           env && *env ? "VKS_DEVICE" : "best device type; set VKS_DEVICE=<index|name> to choose");
    vks_context_destroy(ctx);
    free(infos);
    return 0;
}
