/* plugin-host: what an inference engine does with vkstruct as a plugin. dlopen the
 * shared library by path, check the ABI, run a GEMM through the function table alone,
 * shut down and dlclose. Usage: plugin-host [path/to/libvkstruct.so] */
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <vkstruct/plugin.h>

#define CHECK(api, call)                                                                                 \
    do {                                                                                                 \
        vks_status s_ = (call);                                                                          \
        if (s_ != VKS_OK) {                                                                              \
            fprintf(stderr, "plugin-host: %s: %s: %s\n", #call, (api)->vks_status_string(s_),             \
                    (api)->vks_last_error(NULL));                                                        \
            return 1;                                                                                    \
        }                                                                                                \
    } while (0)

static int run(const vks_plugin_api *api) {
    uint32_t usable = 0;
    CHECK(api, api->vks_probe(&usable));
    printf("plugin-host: %s %s, ABI %u.%u, %u usable device(s)\n", api->name, api->version, api->abi_major,
           api->abi_minor, usable);
    if (!usable) return 0; /* a host would fall back to its own code here */
    vks_context *ctx = NULL;
    CHECK(api, api->vks_context_create(NULL, &ctx));
    /* Structs get the library's defaults through the table (a zero-filled one is refused). */
    vks_device_info info;
    CHECK(api, api->vks_struct_init(VKS_STRUCT_DEVICE_INFO, &info, sizeof info));
    CHECK(api, api->vks_context_get_device_info(ctx, &info));
    /* C = A * B, 3x2 = (3x4)(4x2), through the table only. */
    float a[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, b[8] = {1, 0, 0, 1, 1, 0, 0, 1}, c[6];
    vks_buffer *buf = NULL;
    CHECK(api, api->vks_buffer_create(ctx, sizeof a + sizeof b + sizeof c, &buf));
    CHECK(api, api->vks_buffer_write(buf, 0, a, sizeof a));
    CHECK(api, api->vks_buffer_write(buf, sizeof a, b, sizeof b));
    vks_tensor ta = vks_tensor_2d(buf, VKS_DTYPE_F32, 3, 4), tb = vks_tensor_2d(buf, VKS_DTYPE_F32, 4, 2);
    vks_tensor tc = vks_tensor_2d(buf, VKS_DTYPE_F32, 3, 2);
    tb.byte_offset = sizeof a;
    tc.byte_offset = sizeof a + sizeof b;
    CHECK(api, api->vks_gemm(ctx, VKS_NO_TRANS, VKS_NO_TRANS, 1.0, &ta, &tb, 0.0, &tc));
    CHECK(api, api->vks_buffer_read(buf, tc.byte_offset, c, sizeof c));
    const float want[6] = {4, 6, 12, 14, 20, 22};
    int ok = 1;
    for (int i = 0; i < 6; ++i) ok &= fabsf(c[i] - want[i]) < 1e-5f;
    printf("plugin-host: GEMM on %s: %s\n", info.name, ok ? "correct" : "WRONG");
    CHECK(api, api->vks_buffer_destroy(buf));
    CHECK(api, api->vks_context_destroy(ctx));
    return ok ? 0 : 1;
}

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "libvkstruct.so";
    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        fprintf(stderr, "plugin-host: dlopen(%s): %s\n", path, dlerror());
        return 1;
    }
    vks_plugin_get_api_fn *get_api = (vks_plugin_get_api_fn *)dlsym(lib, "vks_plugin_get_api");
    const vks_plugin_api *api = get_api ? get_api(VKS_PLUGIN_ABI_MAJOR) : NULL;
    /* Version checks a host makes: the major it was built for, and a table that has every
     * field it will touch (the newest one it uses here: vks_struct_init, ABI 1.1). */
    if (!api || api->abi_major != VKS_PLUGIN_ABI_MAJOR || !VKS_PLUGIN_HAS(api, vks_struct_init)) {
        fprintf(stderr, "plugin-host: %s does not offer plugin ABI %d\n", path, VKS_PLUGIN_ABI_MAJOR);
        dlclose(lib);
        return 1;
    }
    int rc = run(api);
    api->vks_shutdown(); /* releases everything: dlclose is safe afterwards */
    dlclose(lib);
    return rc;
}
