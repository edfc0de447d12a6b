/*
 * Device memory: a few large VkDeviceMemory blocks, sub-allocated with a first-fit free
 * list (maxMemoryAllocationCount can be as low as 4096, so never one allocation per
 * tensor), and one persistently mapped staging ring for every upload and download.
 *
 * Every buffer carries its device address: kernels take addresses in push constants,
 * so a buffer is not limited by maxStorageBufferRange (128 MiB on lavapipe).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define MIB (1024ull * 1024ull)
#define ALLOC_GRANULE 256ull /* sizes rounded up to this: fewer tiny fragments */

static const VkBufferUsageFlags BUFFER_USAGE =
    VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
    VK_BUFFER_USAGE_TRANSFER_DST_BIT | VK_BUFFER_USAGE_SHADER_DEVICE_ADDRESS_BIT;

static uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

static int find_memory_type(const VkPhysicalDeviceMemoryProperties *mp, uint32_t bits,
                            VkMemoryPropertyFlags want, VkMemoryPropertyFlags avoid) {
    for (uint32_t i = 0; i < mp->memoryTypeCount; ++i) {
        VkMemoryPropertyFlags f = mp->memoryTypes[i].propertyFlags;
        if ((bits & (1u << i)) && (f & want) == want && !(f & avoid)) return (int)i;
    }
    return -1;
}

/* ---- blocks and the free list ------------------------------------------------------- */

static vks_status block_create(vks_context *ctx, uint64_t size, bool dedicated, vks_mem_block **out) {
    vks_mem_block *b = vks__calloc(1, sizeof *b);
    vks_free_range *r = vks__calloc(1, sizeof *r);
    if (!b || !r) {
        vks__free(b);
        vks__free(r);
        return vks__error(VKS_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    VkMemoryAllocateFlagsInfo flags = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_FLAGS_INFO,
                                       .flags = VK_MEMORY_ALLOCATE_DEVICE_ADDRESS_BIT};
    VkMemoryAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
                               .pNext = &flags,
                               .allocationSize = size,
                               .memoryTypeIndex = ctx->device_memory_type};
    VkResult res = ctx->vk.vkAllocateMemory(ctx->device, &ai, NULL, &b->memory);
    if (res != VK_SUCCESS) {
        vks__free(b);
        vks__free(r);
        if (res == VK_ERROR_OUT_OF_DEVICE_MEMORY || res == VK_ERROR_OUT_OF_HOST_MEMORY)
            return vks__error(VKS_ERROR_OUT_OF_DEVICE_MEMORY,
                              "allocating a block of %llu bytes failed (%s); %llu bytes in use",
                              (unsigned long long)size, vks__vk_result_name(res),
                              (unsigned long long)ctx->bytes_in_use);
        return vks__vk_error(res, "vkAllocateMemory");
    }
    b->size = size;
    b->type_index = ctx->device_memory_type;
    b->dedicated = dedicated;
    r->offset = 0;
    r->size = size;
    b->free_list = r;
    b->next = ctx->blocks;
    ctx->blocks = b;
    *out = b;
    return VKS_OK;
}

static void block_destroy(vks_context *ctx, vks_mem_block *b) {
    for (vks_free_range *r = b->free_list, *n; r; r = n) {
        n = r->next;
        vks__free(r);
    }
    ctx->vk.vkFreeMemory(ctx->device, b->memory, NULL);
    vks__free(b);
}

/* First fit; the alignment padding before the allocation stays a free range. */
static bool block_alloc(vks_mem_block *b, uint64_t size, uint64_t align, uint64_t *offset) {
    for (vks_free_range **pr = &b->free_list; *pr; pr = &(*pr)->next) {
        vks_free_range *r = *pr;
        uint64_t start = align_up(r->offset, align);
        uint64_t end = r->offset + r->size;
        if (start + size > end) continue;
        uint64_t tail = end - (start + size);
        if (start == r->offset) {
            if (tail == 0) {
                *pr = r->next;
                vks__free(r);
            } else {
                r->offset = start + size;
                r->size = tail;
            }
        } else {
            r->size = start - r->offset;
            if (tail) {
                vks_free_range *t = vks__malloc(sizeof *t);
                if (!t) return false;
                t->offset = start + size;
                t->size = tail;
                t->next = r->next;
                r->next = t;
            }
        }
        b->used += size;
        *offset = start;
        return true;
    }
    return false;
}

/* Returns [offset, offset+size) to the sorted free list and merges neighbours. */
static void block_free(vks_mem_block *b, uint64_t offset, uint64_t size) {
    vks_free_range *prev = NULL, *next = b->free_list;
    while (next && next->offset < offset) {
        prev = next;
        next = next->next;
    }
    b->used -= size;
    const bool merge_prev = prev && prev->offset + prev->size == offset;
    const bool merge_next = next && offset + size == next->offset;
    if (merge_prev) {
        prev->size += size;
        if (merge_next) {
            prev->size += next->size;
            prev->next = next->next;
            vks__free(next);
        }
        return;
    }
    if (merge_next) {
        next->offset = offset;
        next->size += size;
        return;
    }
    vks_free_range *r = vks__malloc(sizeof *r);
    if (!r) return; /* the range stays unusable until its block is freed */
    r->offset = offset;
    r->size = size;
    r->next = next;
    if (prev) prev->next = r;
    else b->free_list = r;
}

static void unlink_block(vks_context *ctx, vks_mem_block *b) {
    for (vks_mem_block **p = &ctx->blocks; *p; p = &(*p)->next)
        if (*p == b) {
            *p = b->next;
            return;
        }
}

/* ---- init / teardown ------------------------------------------------------------------- */

vks_status vks__memory_init(vks_context *ctx) {
    ctx->ifn.GetPhysicalDeviceMemoryProperties(ctx->physical_device, &ctx->memory_properties);
    const VkPhysicalDeviceMemoryProperties *mp = &ctx->memory_properties;

    /* Which memory types can back our buffers: ask with a small probe buffer. */
    VkBufferCreateInfo bi = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
                             .size = 4096,
                             .usage = BUFFER_USAGE,
                             .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
    VkBuffer probe;
    VKS_TRY_VK(ctx->vk.vkCreateBuffer(ctx->device, &bi, NULL, &probe), "vkCreateBuffer");
    VkMemoryRequirements req;
    ctx->vk.vkGetBufferMemoryRequirements(ctx->device, probe, &req);
    ctx->vk.vkDestroyBuffer(ctx->device, probe, NULL);

    /* Device-local, preferably not host-visible (that is the small BAR window on GPUs). */
    int t = find_memory_type(mp, req.memoryTypeBits, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT,
                             VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT);
    if (t < 0) t = find_memory_type(mp, req.memoryTypeBits, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, 0);
    if (t < 0) t = find_memory_type(mp, req.memoryTypeBits, 0, 0);
    if (t < 0) return vks__error(VKS_ERROR_UNSUPPORTED, "no memory type can back a storage buffer");
    ctx->device_memory_type = (uint32_t)t;
    uint64_t heap = mp->memoryHeaps[mp->memoryTypes[t].heapIndex].size;

    /* Blocks of 256 MiB, smaller on small heaps, never above the allocation limit. */
    uint64_t block = 256 * MIB;
    if (heap / 8 < block) block = VKS_MAX(heap / 8, 16 * MIB);
    if (ctx->probe.info.max_memory_allocation_bytes && block > ctx->probe.info.max_memory_allocation_bytes)
        block = ctx->probe.info.max_memory_allocation_bytes;
    ctx->block_size = block;

    /* The staging ring: host-visible and coherent, cached when available (read-backs). */
    bi.size = 32 * MIB;
    bi.usage = VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;
    VKS_TRY_VK(ctx->vk.vkCreateBuffer(ctx->device, &bi, NULL, &ctx->staging), "vkCreateBuffer(staging)");
    ctx->vk.vkGetBufferMemoryRequirements(ctx->device, ctx->staging, &req);
    const VkMemoryPropertyFlags hv = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    int h = find_memory_type(mp, req.memoryTypeBits, hv | VK_MEMORY_PROPERTY_HOST_CACHED_BIT, 0);
    if (h < 0) h = find_memory_type(mp, req.memoryTypeBits, hv, 0);
    if (h < 0) return vks__error(VKS_ERROR_UNSUPPORTED, "no host-visible coherent memory type for staging");
    ctx->host_memory_type = (uint32_t)h;
    VkMemoryAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
                               .allocationSize = req.size,
                               .memoryTypeIndex = ctx->host_memory_type};
    VKS_TRY_VK(ctx->vk.vkAllocateMemory(ctx->device, &ai, NULL, &ctx->staging_memory), "vkAllocateMemory(staging)");
    VKS_TRY_VK(ctx->vk.vkBindBufferMemory(ctx->device, ctx->staging, ctx->staging_memory, 0), "vkBindBufferMemory");
    void *map = NULL;
    VKS_TRY_VK(ctx->vk.vkMapMemory(ctx->device, ctx->staging_memory, 0, VK_WHOLE_SIZE, 0, &map), "vkMapMemory");
    ctx->staging_map = map;
    ctx->staging_size = bi.size;
    ctx->staging_head = 0;
    return VKS_OK;
}

void vks__memory_destroy(vks_context *ctx) {
    if (!ctx->device) return;
    ctx->scratch = ctx->retired_scratch = ctx->params = NULL; /* all on the list below */
    while (ctx->buffers) vks__buffer_destroy_locked(ctx->buffers);
    while (ctx->blocks) {
        vks_mem_block *b = ctx->blocks;
        ctx->blocks = b->next;
        block_destroy(ctx, b);
    }
    if (ctx->staging) ctx->vk.vkDestroyBuffer(ctx->device, ctx->staging, NULL);
    if (ctx->staging_memory) ctx->vk.vkFreeMemory(ctx->device, ctx->staging_memory, NULL);
    ctx->staging = VK_NULL_HANDLE;
    ctx->staging_memory = VK_NULL_HANDLE;
}

/* ---- buffers ------------------------------------------------------------------------------ */

vks_status vks__check_buffer(const vks_context *ctx, const vks_buffer *buf, const char *fn, const char *arg) {
    if (!buf) return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: %s is NULL", fn, arg);
    if (buf->magic != VKS_BUFFER_MAGIC)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: %s = %p is not a live vks_buffer", fn, arg,
                          (const void *)buf);
    if (ctx && buf->ctx != ctx)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: %s belongs to another context", fn, arg);
    return VKS_OK;
}

static void link_buffer(vks_context *ctx, vks_buffer *buf, bool internal) {
    buf->magic = VKS_BUFFER_MAGIC;
    buf->internal = internal;
    buf->ctx = ctx;
    buf->next = ctx->buffers;
    if (ctx->buffers) ctx->buffers->prev = buf;
    ctx->buffers = buf;
    if (!internal) ctx->live_buffers++;
}

vks_status vks__buffer_create_locked(vks_context *ctx, uint64_t size, bool internal, vks_buffer **out) {
    const vks_device_info *di = &ctx->probe.info;
    uint64_t limit = di->max_buffer_bytes;
    if (di->max_memory_allocation_bytes && di->max_memory_allocation_bytes < limit)
        limit = di->max_memory_allocation_bytes;
    if (size == 0) return vks__error(VKS_ERROR_INVALID_ARGUMENT, "vks_buffer_create: size_bytes = 0, expected > 0");
    if (limit && size > limit)
        return vks__error(VKS_ERROR_OUT_OF_RANGE,
                          "vks_buffer_create: size_bytes = %llu exceeds the device's largest buffer (%llu bytes)",
                          (unsigned long long)size, (unsigned long long)limit);
    vks_buffer *buf = vks__calloc(1, sizeof *buf);
    if (!buf) return vks__error(VKS_ERROR_OUT_OF_HOST_MEMORY, "vks_buffer_create: out of host memory");
    VkBufferCreateInfo bi = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
                             .size = size,
                             .usage = BUFFER_USAGE,
                             .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
    VkResult r = ctx->vk.vkCreateBuffer(ctx->device, &bi, NULL, &buf->buffer);
    if (r != VK_SUCCESS) {
        vks__free(buf);
        return vks__vk_error(r, "vkCreateBuffer");
    }
    VkMemoryRequirements req;
    ctx->vk.vkGetBufferMemoryRequirements(ctx->device, buf->buffer, &req);
    uint64_t bytes = align_up(req.size, ALLOC_GRANULE);
    vks_status st = VKS_OK;
    vks_mem_block *block = NULL;
    uint64_t offset = 0;
    if (bytes > ctx->block_size / 2) {
        st = block_create(ctx, bytes, true, &block); /* large: a block of its own */
        if (st == VKS_OK && !block_alloc(block, bytes, req.alignment, &offset))
            st = vks__error(VKS_ERROR_OUT_OF_HOST_MEMORY, "vks_buffer_create: out of host memory");
    } else {
        for (vks_mem_block *b = ctx->blocks; b && !block; b = b->next)
            if (!b->dedicated && (req.memoryTypeBits & (1u << b->type_index)) &&
                block_alloc(b, bytes, req.alignment, &offset))
                block = b;
        if (!block) {
            st = block_create(ctx, ctx->block_size, false, &block);
            if (st == VKS_OK && !block_alloc(block, bytes, req.alignment, &offset))
                st = vks__error(VKS_ERROR_OUT_OF_HOST_MEMORY, "vks_buffer_create: out of host memory");
        }
    }
    if (st == VKS_OK) {
        r = ctx->vk.vkBindBufferMemory(ctx->device, buf->buffer, block->memory, offset);
        if (r != VK_SUCCESS) {
            block_free(block, offset, bytes);
            st = vks__vk_error(r, "vkBindBufferMemory");
        }
    }
    if (st != VKS_OK) {
        if (block && block->dedicated) {
            unlink_block(ctx, block);
            block_destroy(ctx, block);
        }
        ctx->vk.vkDestroyBuffer(ctx->device, buf->buffer, NULL);
        vks__free(buf);
        return st;
    }
    VkBufferDeviceAddressInfo ai = {.sType = VK_STRUCTURE_TYPE_BUFFER_DEVICE_ADDRESS_INFO, .buffer = buf->buffer};
    buf->address = ctx->vk.vkGetBufferDeviceAddress(ctx->device, &ai);
    buf->size = size;
    buf->block = block;
    buf->block_offset = offset;
    buf->block_bytes = bytes;
    ctx->bytes_in_use += bytes;
    link_buffer(ctx, buf, internal);
    *out = buf;
    return VKS_OK;
}

void vks__buffer_destroy_locked(vks_buffer *buf) {
    vks_context *ctx = buf->ctx;
    if (buf->prev) buf->prev->next = buf->next;
    else ctx->buffers = buf->next;
    if (buf->next) buf->next->prev = buf->prev;
    if (!buf->internal) ctx->live_buffers--;
    if (!buf->wrapped) {
        ctx->vk.vkDestroyBuffer(ctx->device, buf->buffer, NULL);
        block_free(buf->block, buf->block_offset, buf->block_bytes);
        ctx->bytes_in_use -= buf->block_bytes;
        /* Dedicated blocks go at once; shared ones when empty, but one stays for reuse. */
        if (buf->block->used == 0) {
            int empty_shared = 0;
            for (vks_mem_block *b = ctx->blocks; b; b = b->next) empty_shared += (!b->dedicated && b->used == 0);
            if (buf->block->dedicated || empty_shared > 1) {
                unlink_block(ctx, buf->block);
                block_destroy(ctx, buf->block);
            }
        }
    }
    buf->magic = 0;
    vks__free(buf);
}

vks_status vks_buffer_create(vks_context *ctx, uint64_t size_bytes, vks_buffer **out) {
    if (!ctx) return vks__error(VKS_ERROR_INVALID_ARGUMENT, "vks_buffer_create: ctx is NULL");
    if (!out) return vks__error(VKS_ERROR_INVALID_ARGUMENT, "vks_buffer_create: out is NULL");
    *out = NULL;
    vks__lock(ctx);
    vks_status st = vks__buffer_create_locked(ctx, size_bytes, false, out);
    vks__unlock(ctx);
    return vks__error_in("vks_buffer_create", st);
}

vks_status vks_buffer_wrap(vks_context *ctx, uint64_t vk_buffer, uint64_t size_bytes, vks_buffer **out) {
    if (!ctx) return vks__error(VKS_ERROR_INVALID_ARGUMENT, "vks_buffer_wrap: ctx is NULL");
    if (!out) return vks__error(VKS_ERROR_INVALID_ARGUMENT, "vks_buffer_wrap: out is NULL");
    *out = NULL;
    if (!vk_buffer) return vks__error(VKS_ERROR_INVALID_ARGUMENT, "vks_buffer_wrap: vk_buffer is VK_NULL_HANDLE");
    if (!size_bytes) return vks__error(VKS_ERROR_INVALID_ARGUMENT, "vks_buffer_wrap: size_bytes = 0, expected > 0");
    vks_buffer *buf = vks__calloc(1, sizeof *buf);
    if (!buf) return vks__error(VKS_ERROR_OUT_OF_HOST_MEMORY, "vks_buffer_wrap: out of host memory");
    buf->buffer = (VkBuffer)(uintptr_t)vk_buffer;
    buf->size = size_bytes;
    buf->wrapped = true;
    vks__lock(ctx);
    VkBufferDeviceAddressInfo ai = {.sType = VK_STRUCTURE_TYPE_BUFFER_DEVICE_ADDRESS_INFO, .buffer = buf->buffer};
    buf->address = ctx->vk.vkGetBufferDeviceAddress(ctx->device, &ai);
    link_buffer(ctx, buf, false);
    vks__unlock(ctx);
    *out = buf;
    return VKS_OK;
}

vks_status vks__buffer_release_locked(vks_buffer *buf) {
    /* Kernels address memory directly, so a freed range reused by a later allocation
     * while recorded work still runs would be a hazard: finish that work first. */
    vks_status st = buf->ctx->recording ? vks__flush_locked(buf->ctx) : VKS_OK;
    vks__buffer_destroy_locked(buf);
    return st;
}

vks_status vks_buffer_destroy(vks_buffer *buf) {
    if (!buf) return VKS_OK;
    VKS_TRY(vks__check_buffer(NULL, buf, "vks_buffer_destroy", "buf"));
    vks_context *ctx = buf->ctx;
    vks__lock(ctx);
    vks_status st = VKS_OK;
    if (buf->released)
        st = vks__error(VKS_ERROR_INVALID_ARGUMENT,
                        "vks_buffer_destroy: buf = %p was already destroyed (%u DLPack exports keep it alive until "
                        "their deleters run)",
                        (void *)buf, buf->export_refs);
    else if (buf->export_refs > 0)
        buf->released = true; /* the last export's deleter destroys it */
    else
        st = vks__buffer_release_locked(buf);
    vks__unlock(ctx);
    return st;
}

vks_status vks_buffer_get_size(const vks_buffer *buf, uint64_t *size_bytes) {
    VKS_TRY(vks__check_buffer(NULL, buf, "vks_buffer_get_size", "buf"));
    if (!size_bytes) return vks__error(VKS_ERROR_INVALID_ARGUMENT, "vks_buffer_get_size: size_bytes is NULL");
    *size_bytes = buf->size;
    return VKS_OK;
}

vks_status vks_buffer_get_vulkan(const vks_buffer *buf, uint64_t *vk_buffer, uint64_t *device_address) {
    VKS_TRY(vks__check_buffer(NULL, buf, "vks_buffer_get_vulkan", "buf"));
    if (vk_buffer) *vk_buffer = (uint64_t)(uintptr_t)buf->buffer;
    if (device_address) *device_address = buf->address;
    return VKS_OK;
}

/* ---- transfers -------------------------------------------------------------------------- */

static vks_status check_range(const vks_buffer *buf, uint64_t offset, uint64_t size, const char *fn,
                              const char *arg) {
    uint64_t end;
    if (__builtin_add_overflow(offset, size, &end)) /* said without the wrapped sum */
        return vks__error(VKS_ERROR_OUT_OF_RANGE, "%s: bytes [%llu, %llu + %llu) run past 2^64; %s has %llu bytes", fn,
                          (unsigned long long)offset, (unsigned long long)offset, (unsigned long long)size, arg,
                          (unsigned long long)buf->size);
    if (end > buf->size)
        return vks__error(VKS_ERROR_OUT_OF_RANGE, "%s: bytes [%llu, %llu) are outside %s, which has %llu bytes", fn,
                          (unsigned long long)offset, (unsigned long long)end, arg, (unsigned long long)buf->size);
    return VKS_OK;
}

vks_status vks__buffer_write_locked(vks_buffer *dst, uint64_t offset, const void *src, uint64_t size) {
    vks_context *ctx = dst->ctx;
    const uint8_t *p = src;
    while (size) {
        uint64_t chunk = VKS_MIN(size, ctx->staging_size);
        if (ctx->staging_head + chunk > ctx->staging_size) VKS_TRY(vks__flush_locked(ctx)); /* ring full */
        memcpy(ctx->staging_map + ctx->staging_head, p, chunk);
        VKS_TRY(vks__record_staging_copy(ctx, ctx->staging, ctx->staging_head, dst->buffer, offset, chunk));
        ctx->staging_head = align_up(ctx->staging_head + chunk, 16);
        p += chunk;
        offset += chunk;
        size -= chunk;
    }
    /* While a host records our ops, its command buffer may read this data: land it now. */
    if (ctx->host_cmd) VKS_TRY(vks__flush_locked(ctx));
    return VKS_OK;
}

vks_status vks__buffer_read_locked(vks_buffer *src, uint64_t offset, void *dst, uint64_t size) {
    vks_context *ctx = src->ctx;
    uint8_t *p = dst;
    VKS_TRY(vks__flush_locked(ctx));
    while (size) {
        uint64_t chunk = VKS_MIN(size, ctx->staging_size);
        VKS_TRY(vks__record_staging_copy(ctx, src->buffer, offset, ctx->staging, 0, chunk));
        VKS_TRY(vks__flush_locked(ctx));
        memcpy(p, ctx->staging_map, chunk);
        p += chunk;
        offset += chunk;
        size -= chunk;
    }
    return VKS_OK;
}

vks_status vks_buffer_write(vks_buffer *dst, uint64_t offset, const void *src, uint64_t size_bytes) {
    VKS_TRY(vks__check_buffer(NULL, dst, "vks_buffer_write", "dst"));
    if (!src && size_bytes) return vks__error(VKS_ERROR_INVALID_ARGUMENT, "vks_buffer_write: src is NULL");
    VKS_TRY(check_range(dst, offset, size_bytes, "vks_buffer_write", "dst"));
    vks__lock(dst->ctx);
    vks_status st = vks__buffer_write_locked(dst, offset, src, size_bytes);
    vks__unlock(dst->ctx);
    return vks__error_in("vks_buffer_write", st);
}

vks_status vks_buffer_read(vks_buffer *src, uint64_t offset, void *dst, uint64_t size_bytes) {
    VKS_TRY(vks__check_buffer(NULL, src, "vks_buffer_read", "src"));
    if (!dst && size_bytes) return vks__error(VKS_ERROR_INVALID_ARGUMENT, "vks_buffer_read: dst is NULL");
    VKS_TRY(check_range(src, offset, size_bytes, "vks_buffer_read", "src"));
    vks__lock(src->ctx);
    vks_status st = vks__buffer_read_locked(src, offset, dst, size_bytes);
    vks__unlock(src->ctx);
    return vks__error_in("vks_buffer_read", st);
}

vks_status vks_buffer_copy(vks_buffer *src, uint64_t src_offset, vks_buffer *dst, uint64_t dst_offset,
                           uint64_t size_bytes) {
    VKS_TRY(vks__check_buffer(NULL, src, "vks_buffer_copy", "src"));
    VKS_TRY(vks__check_buffer(NULL, dst, "vks_buffer_copy", "dst"));
    if (src->ctx != dst->ctx) /* neither is the wrong one: they differ */
        return vks__error(VKS_ERROR_INVALID_ARGUMENT,
                          "vks_buffer_copy: src and dst belong to different contexts (%p and %p); copy through the "
                          "host or a shared Vulkan device", (void *)src->ctx, (void *)dst->ctx);
    VKS_TRY(check_range(src, src_offset, size_bytes, "vks_buffer_copy", "src"));
    VKS_TRY(check_range(dst, dst_offset, size_bytes, "vks_buffer_copy", "dst"));
    if (src == dst && src_offset < dst_offset + size_bytes && dst_offset < src_offset + size_bytes)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT,
                          "vks_buffer_copy: source [%llu, +%llu) and destination [%llu, +%llu) overlap",
                          (unsigned long long)src_offset, (unsigned long long)size_bytes,
                          (unsigned long long)dst_offset, (unsigned long long)size_bytes);
    if (size_bytes == 0) return VKS_OK;
    vks_context *ctx = src->ctx;
    vks__lock(ctx);
    vks_status st = vks__op_begin(ctx, "buffer_copy");
    if (st == VKS_OK) st = vks__record_copy(ctx, src->buffer, src_offset, dst->buffer, dst_offset, size_bytes);
    vks__op_end(ctx);
    vks__unlock(ctx);
    return st;
}

vks_status vks_buffer_fill(vks_buffer *dst, uint64_t offset, uint64_t size_bytes, uint32_t pattern) {
    VKS_TRY(vks__check_buffer(NULL, dst, "vks_buffer_fill", "dst"));
    if (offset % 4 || size_bytes % 4)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT,
                          "vks_buffer_fill: offset = %llu and size_bytes = %llu must be multiples of 4",
                          (unsigned long long)offset, (unsigned long long)size_bytes);
    VKS_TRY(check_range(dst, offset, size_bytes, "vks_buffer_fill", "dst"));
    if (size_bytes == 0) return VKS_OK;
    vks_context *ctx = dst->ctx;
    vks__lock(ctx);
    vks_status st = vks__op_begin(ctx, "buffer_fill");
    if (st == VKS_OK) st = vks__record_fill(ctx, dst->buffer, offset, size_bytes, pattern);
    vks__op_end(ctx);
    vks__unlock(ctx);
    return st;
}

/* ---- scratch and parameters for ops -------------------------------------------------------- */

#define PARAMS_BYTES (1024ull * 1024ull)

void vks__buffer_retire_locked(vks_buffer *buf) {
    vks_context *ctx = buf->ctx;
    if (ctx->recording || ctx->host_cmd || ctx->op_depth > 0) {
        buf->next_retired = ctx->retired_scratch;
        ctx->retired_scratch = buf;
    } else {
        vks__buffer_destroy_locked(buf);
    }
}

vks_status vks__scratch(vks_context *ctx, uint64_t bytes, VkDeviceAddress *out) {
    /* The workspace rule (internal.h): outside every op region the next op_begin would hand
     * the same bytes out again. */
    if (ctx->op_depth == 0)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: internal: scratch taken outside an op region",
                          vks__current_fn(ctx));
    const uint64_t base = align_up(ctx->scratch_top, 256);
    const uint64_t need = base + VKS_MAX(bytes, 256);
    if (!ctx->scratch || ctx->scratch->size < need) {
        /* Grow by at least 1.5x so that a sequence of growing calls stays cheap. The old
         * buffer keeps serving the regions already handed out. */
        uint64_t size = ctx->scratch ? VKS_MAX(need, ctx->scratch->size + ctx->scratch->size / 2) : need;
        vks_buffer *b = NULL;
        const vks_status st = vks__buffer_create_locked(ctx, align_up(size, 4096), true, &b);
        if (st != VKS_OK) { /* said in the op's name: the caller asked for no buffer */
            char why[256];
            snprintf(why, sizeof why, "%s", vks_last_error(NULL));
            return vks__error(st, "%s: its working memory (%llu bytes) could not be allocated: %s",
                              vks__current_fn(ctx), (unsigned long long)bytes, why);
        }
        if (ctx->scratch) vks__buffer_retire_locked(ctx->scratch);
        ctx->scratch = b;
    }
    ctx->scratch_top = need;
    *out = ctx->scratch->address + base;
    return VKS_OK;
}

vks_status vks__params(vks_context *ctx, const void *data, uint32_t bytes, VkDeviceAddress *out) {
    if (bytes == 0 || bytes > 65536 || bytes % 4)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: internal: %u bytes of op parameters (1..65536, multiple of 4)",
                          vks__current_fn(ctx), bytes);
    if (!ctx->params || ctx->params_head + bytes > ctx->params->size) {
        /* Full: a bigger ring replaces it. Recorded commands (of this op, of earlier ops
         * not yet submitted, or in a host's command buffer) still read the old one, so it
         * is retired like outgrown scratch and freed after the next flush outside every op.
         * A flush here instead would leave an open op's own tables behind. */
        const uint64_t size = ctx->params ? 2 * ctx->params->size : PARAMS_BYTES;
        vks_buffer *b = NULL;
        VKS_TRY(vks__buffer_create_locked(ctx, size, true, &b));
        if (ctx->params) vks__buffer_retire_locked(ctx->params);
        ctx->params = b;
        ctx->params_head = 0;
    }
    uint64_t off = ctx->params_head;
    VKS_TRY(vks__record_update(ctx, ctx->params->buffer, off, data, bytes));
    ctx->params_head = align_up(off + bytes, 256);
    *out = ctx->params->address + off;
    return VKS_OK;
}
