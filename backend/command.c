/*
 * The command stream. Ops record into the context's one command buffer (or, during
 * external recording, into the host's), each command after the first preceded by a
 * global memory barrier; vks_synchronize() (or a read-back) submits once and waits.
 * With profiling on, every op is bracketed by two timestamps.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define QUERY_CAPACITY 8192u /* timestamps per submit: 4096 timed ops */

vks_status vks__commands_init(vks_context *ctx) {
    VkCommandPoolCreateInfo pi = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                  .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
                                  .queueFamilyIndex = ctx->queue_family};
    VKS_TRY_VK(ctx->vk.vkCreateCommandPool(ctx->device, &pi, NULL, &ctx->command_pool), "vkCreateCommandPool");
    VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                      .commandPool = ctx->command_pool,
                                      .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                      .commandBufferCount = 1};
    VKS_TRY_VK(ctx->vk.vkAllocateCommandBuffers(ctx->device, &ai, &ctx->cmd), "vkAllocateCommandBuffers");
    VkFenceCreateInfo fi = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    VKS_TRY_VK(ctx->vk.vkCreateFence(ctx->device, &fi, NULL, &ctx->fence), "vkCreateFence");
    if (ctx->profiling) {
        const uint32_t need = VKS_FEATURE_TIMESTAMPS | VKS_FEATURE_HOST_QUERY_RESET;
        if (!vks__has_feature(ctx, need))
            return vks__error(VKS_ERROR_UNSUPPORTED,
                              "profiling (VKS_PROFILE=1 or VKS_CONTEXT_PROFILING) needs timestamp queries on "
                              "the compute queue and hostQueryReset; device '%s' lacks %s",
                              ctx->probe.info.name,
                              vks__has_feature(ctx, VKS_FEATURE_TIMESTAMPS) ? "hostQueryReset" : "timestamps");
        VkQueryPoolCreateInfo qi = {.sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
                                    .queryType = VK_QUERY_TYPE_TIMESTAMP,
                                    .queryCount = QUERY_CAPACITY};
        VKS_TRY_VK(ctx->vk.vkCreateQueryPool(ctx->device, &qi, NULL, &ctx->query_pool), "vkCreateQueryPool");
        ctx->vk.vkResetQueryPool(ctx->device, ctx->query_pool, 0, QUERY_CAPACITY);
        ctx->query_capacity = QUERY_CAPACITY;
    }
    return VKS_OK;
}

void vks__commands_destroy(vks_context *ctx) {
    if (!ctx->device) return;
    if (ctx->query_pool) ctx->vk.vkDestroyQueryPool(ctx->device, ctx->query_pool, NULL);
    if (ctx->fence) ctx->vk.vkDestroyFence(ctx->device, ctx->fence, NULL);
    if (ctx->command_pool) ctx->vk.vkDestroyCommandPool(ctx->device, ctx->command_pool, NULL);
    ctx->query_pool = VK_NULL_HANDLE;
    ctx->fence = VK_NULL_HANDLE;
    ctx->command_pool = VK_NULL_HANDLE;
}

static vks_status ensure_recording(vks_context *ctx) {
    if (ctx->recording) return VKS_OK;
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                   .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
    VKS_TRY_VK(ctx->vk.vkBeginCommandBuffer(ctx->cmd, &bi), "vkBeginCommandBuffer");
    ctx->recording = true;
    ctx->commands = 0;
    return VKS_OK;
}

/* Everything earlier (compute or transfer, any write) before everything later. One
 * global barrier is what a driver needs; per-buffer barriers buy nothing for compute. */
static void full_barrier(vks_context *ctx, VkCommandBuffer cb) {
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                          .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
                          .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
                                           VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT};
    const VkPipelineStageFlags stages = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
    ctx->vk.vkCmdPipelineBarrier(cb, stages, stages, 0, 1, &mb, 0, NULL, 0, NULL);
}

/* The command buffer the next command of an op goes to, with its barrier recorded. */
static vks_status begin_command(vks_context *ctx, bool own_stream, VkCommandBuffer *cb) {
    if (ctx->host_cmd && !own_stream) {
        if (ctx->host_cmd_dirty) full_barrier(ctx, ctx->host_cmd);
        ctx->host_cmd_dirty = true;
        *cb = ctx->host_cmd;
        return VKS_OK;
    }
    VKS_TRY(ensure_recording(ctx));
    if (ctx->commands) full_barrier(ctx, ctx->cmd);
    ctx->commands++;
    *cb = ctx->cmd;
    return VKS_OK;
}

vks_status vks__op_begin(vks_context *ctx, const char *name) {
    /* Scratch is a stack of op regions: remember where this one's begins. */
    if (ctx->op_depth == 0) ctx->scratch_top = 0;
    if (ctx->op_depth < VKS_COUNT_OF(ctx->scratch_marks)) ctx->scratch_marks[ctx->op_depth] = ctx->scratch_top;
    if (ctx->op_depth++ > 0) return VKS_OK; /* part of the enclosing op */
    ctx->current_op = (vks_pending_op){.name = name, .sequence = ctx->op_sequence++, .query_begin = UINT32_MAX};
    if (!ctx->profiling || ctx->host_cmd || ctx->queries_used + 2 > ctx->query_capacity) return VKS_OK;
    VKS_TRY(ensure_recording(ctx));
    /* BOTTOM_OF_PIPE: written once all earlier commands have finished. */
    ctx->vk.vkCmdWriteTimestamp(ctx->cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, ctx->query_pool, ctx->queries_used);
    ctx->current_op.query_begin = ctx->queries_used;
    ctx->queries_used += 2;
    return VKS_OK;
}

void vks__op_end(vks_context *ctx) {
    if (ctx->op_depth == 0) return;
    --ctx->op_depth;
    if (ctx->op_depth < VKS_COUNT_OF(ctx->scratch_marks)) ctx->scratch_top = ctx->scratch_marks[ctx->op_depth];
    if (ctx->op_depth > 0) return;
    vks_pending_op op = ctx->current_op;
    if (op.query_begin == UINT32_MAX) return;
    ctx->vk.vkCmdWriteTimestamp(ctx->cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, ctx->query_pool, op.query_begin + 1);
    if (ctx->pending_count == ctx->pending_capacity) {
        size_t cap = ctx->pending_capacity ? ctx->pending_capacity * 2 : 64;
        vks_pending_op *p = vks__realloc(ctx->pending_ops, cap * sizeof *p);
        if (!p) return; /* this op goes untimed */
        ctx->pending_ops = p;
        ctx->pending_capacity = cap;
    }
    ctx->pending_ops[ctx->pending_count++] = op;
}

vks_status vks__dispatch(vks_context *ctx, vks_shader_id shader, const vks_spec *spec, const void *push,
                         uint32_t push_bytes, uint32_t gx, uint32_t gy, uint32_t gz) {
    if (!gx || !gy || !gz) return VKS_OK;
    const uint32_t *maxc = ctx->probe.info.max_workgroup_count;
    /* The op's shapes are past what this kernel's launch covers on this device: said in the
     * op's name (callers check the limits they know up front; this is the backstop). */
    if (gx > maxc[0] || gy > maxc[1] || gz > maxc[2])
        return vks__error(VKS_ERROR_OUT_OF_RANGE,
                          "%s: these shapes need %u x %u x %u workgroups of kernel %s, beyond device '%s' "
                          "(maxComputeWorkGroupCount %u x %u x %u); split the call",
                          vks__current_fn(ctx), gx, gy, gz, vks__shader_table[shader].name,
                          ctx->probe.info.name, maxc[0], maxc[1], maxc[2]);
    if (push_bytes > VKS_PUSH_CONSTANT_BYTES)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: %u bytes of push constants, at most %u",
                          vks__shader_table[shader].name, push_bytes, VKS_PUSH_CONSTANT_BYTES);
    VkPipeline pipeline;
    VKS_TRY(vks__pipeline_get(ctx, shader, spec, &pipeline));
    VkCommandBuffer cb;
    VKS_TRY(begin_command(ctx, false, &cb));
    /* Always the whole range, zero-padded: every byte a shader declares is then set. */
    uint8_t block[VKS_PUSH_CONSTANT_BYTES] = {0};
    memcpy(block, push, push_bytes);
    ctx->vk.vkCmdBindPipeline(cb, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline);
    ctx->vk.vkCmdPushConstants(cb, ctx->pipeline_layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, VKS_PUSH_CONSTANT_BYTES,
                               block);
    ctx->vk.vkCmdDispatch(cb, gx, gy, gz);
    ctx->current_op.dispatches++;
    return VKS_OK;
}

static vks_status record_copy(vks_context *ctx, bool own, VkBuffer src, uint64_t so, VkBuffer dst, uint64_t doff,
                              uint64_t size) {
    VkCommandBuffer cb;
    VKS_TRY(begin_command(ctx, own, &cb));
    VkBufferCopy region = {.srcOffset = so, .dstOffset = doff, .size = size};
    ctx->vk.vkCmdCopyBuffer(cb, src, dst, 1, &region);
    return VKS_OK;
}

vks_status vks__record_copy(vks_context *ctx, VkBuffer src, uint64_t so, VkBuffer dst, uint64_t doff,
                            uint64_t size) {
    return record_copy(ctx, false, src, so, dst, doff, size);
}

vks_status vks__record_staging_copy(vks_context *ctx, VkBuffer src, uint64_t so, VkBuffer dst, uint64_t doff,
                                    uint64_t size) {
    return record_copy(ctx, true, src, so, dst, doff, size);
}

vks_status vks__record_update(vks_context *ctx, VkBuffer dst, uint64_t off, const void *data, uint32_t size) {
    VkCommandBuffer cb;
    VKS_TRY(begin_command(ctx, false, &cb));
    ctx->vk.vkCmdUpdateBuffer(cb, dst, off, size, data);
    return VKS_OK;
}

vks_status vks__record_fill(vks_context *ctx, VkBuffer dst, uint64_t off, uint64_t size, uint32_t value) {
    VkCommandBuffer cb;
    VKS_TRY(begin_command(ctx, false, &cb));
    ctx->vk.vkCmdFillBuffer(cb, dst, off, size, value);
    return VKS_OK;
}

vks_status vks__record_query_reset(vks_context *ctx, VkQueryPool pool, uint32_t first, uint32_t count) {
    VKS_TRY(ensure_recording(ctx));
    ctx->vk.vkCmdResetQueryPool(ctx->cmd, pool, first, count);
    return VKS_OK;
}

vks_status vks__record_timestamp(vks_context *ctx, VkQueryPool pool, uint32_t query) {
    VKS_TRY(ensure_recording(ctx));
    ctx->vk.vkCmdWriteTimestamp(ctx->cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, pool, query);
    return VKS_OK;
}

/* ---- profiling results ------------------------------------------------------------------- */

static void append_profile(vks_context *ctx, const vks_profile_entry *e) {
    if (ctx->profile_count == ctx->profile_capacity) {
        size_t cap = ctx->profile_capacity ? ctx->profile_capacity * 2 : 256;
        vks_profile_entry *p = vks__realloc(ctx->profile, cap * sizeof *p);
        if (!p) return;
        ctx->profile = p;
        ctx->profile_capacity = cap;
    }
    ctx->profile[ctx->profile_count++] = *e;
}

/* VKS_PROFILE=1: one line per op name. The user asked for it through the environment, so
 * without a message callback it goes to stderr. */
static void print_profile(vks_context *ctx, size_t first) {
    typedef struct { const char *op; uint32_t calls; double ms; } row_t;
    row_t rows[64];
    size_t nrows = 0;
    for (size_t i = first; i < ctx->profile_count; ++i) {
        const vks_profile_entry *e = &ctx->profile[i];
        size_t r = 0;
        while (r < nrows && strcmp(rows[r].op, e->op) != 0) ++r;
        if (r == nrows) {
            if (nrows == VKS_COUNT_OF(rows)) continue;
            rows[nrows++] = (row_t){e->op, 0, 0.0};
        }
        rows[r].calls++;
        rows[r].ms += e->gpu_ms;
    }
    if (!nrows) return;
    char text[4096];
    size_t used = (size_t)snprintf(text, sizeof text, "vkstruct profile (submit %llu on %s):\n  %-24s %7s %12s %12s\n",
                                   (unsigned long long)ctx->submits, ctx->probe.info.name, "op", "calls", "total ms",
                                   "mean ms");
    for (size_t r = 0; r < nrows && used < sizeof text; ++r)
        used += (size_t)snprintf(text + used, sizeof text - used, "  %-24s %7u %12.4f %12.4f\n", rows[r].op,
                                 rows[r].calls, rows[r].ms, rows[r].ms / rows[r].calls);
    if (ctx->message_callback) ctx->message_callback(ctx->message_user, VKS_SOURCE_LIBRARY, VKS_MESSAGE_INFO, text);
    else fputs(text, stderr);
}

static vks_status collect_profile(vks_context *ctx) {
    if (!ctx->queries_used) return VKS_OK;
    uint64_t *ts = vks__malloc(ctx->queries_used * sizeof *ts);
    if (!ts) return vks__error(VKS_ERROR_OUT_OF_HOST_MEMORY, "profiling: out of host memory");
    VkResult r = ctx->vk.vkGetQueryPoolResults(ctx->device, ctx->query_pool, 0, ctx->queries_used,
                                               ctx->queries_used * sizeof *ts, ts, sizeof *ts,
                                               VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT);
    if (r == VK_SUCCESS) {
        const uint32_t bits = ctx->probe.timestamp_valid_bits;
        const uint64_t mask = bits >= 64 ? ~0ull : ((1ull << bits) - 1);
        const size_t first = ctx->profile_count;
        for (size_t i = 0; i < ctx->pending_count; ++i) {
            const vks_pending_op *op = &ctx->pending_ops[i];
            uint64_t t0 = ts[op->query_begin] & mask, t1 = ts[op->query_begin + 1] & mask;
            vks_profile_entry e = {.op = op->name,
                                   .sequence = op->sequence,
                                   .gpu_ms = (double)((t1 - t0) & mask) * ctx->probe.info.timestamp_period_ns * 1e-6,
                                   .dispatches = op->dispatches};
            append_profile(ctx, &e);
        }
        if (ctx->print_profile) print_profile(ctx, first);
    }
    vks__free(ts);
    ctx->vk.vkResetQueryPool(ctx->device, ctx->query_pool, 0, ctx->queries_used);
    ctx->queries_used = 0;
    ctx->pending_count = 0;
    return r == VK_SUCCESS ? VKS_OK : vks__vk_error(r, "vkGetQueryPoolResults");
}

/* ---- submission ---------------------------------------------------------------------------- */

vks_status vks__flush_locked(vks_context *ctx) {
    if (!ctx->recording) {
        ctx->staging_head = 0;
        return VKS_OK;
    }
    /* Device writes (copies into the staging ring) visible to the host after the wait. */
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                          .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
                          .dstAccessMask = VK_ACCESS_HOST_READ_BIT};
    ctx->vk.vkCmdPipelineBarrier(ctx->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                                 VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &mb, 0, NULL, 0, NULL);
    ctx->recording = false;
    ctx->commands = 0;
    /* An op that flushes midway (a read-back inside it) goes untimed: its end timestamp
     * would land in a query that is reset below. Its end query is written now all the same,
     * so that every query read back below is available (else VK_NOT_READY). */
    if (ctx->op_depth && ctx->current_op.query_begin != UINT32_MAX) {
        ctx->vk.vkCmdWriteTimestamp(ctx->cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, ctx->query_pool,
                                    ctx->current_op.query_begin + 1);
        ctx->current_op.query_begin = UINT32_MAX;
    }
    VkResult r = ctx->vk.vkEndCommandBuffer(ctx->cmd);
    if (r == VK_SUCCESS) {
        VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &ctx->cmd};
        r = ctx->vk.vkQueueSubmit(ctx->queue, 1, &si, ctx->fence);
        if (r == VK_SUCCESS) {
            ctx->submits++;
            r = ctx->vk.vkWaitForFences(ctx->device, 1, &ctx->fence, VK_TRUE, UINT64_MAX);
            ctx->vk.vkResetFences(ctx->device, 1, &ctx->fence);
        }
    }
    ctx->vk.vkResetCommandBuffer(ctx->cmd, 0);
    ctx->staging_head = 0;
    /* Outgrown scratch may still be addressed by the op that flushes midway (op_depth > 0)
     * or by a host's command buffer: free it only when neither can be. */
    if (!ctx->host_cmd && ctx->op_depth == 0) {
        ctx->params_head = 0;
        while (ctx->retired_scratch) {
            vks_buffer *b = ctx->retired_scratch;
            ctx->retired_scratch = b->next_retired;
            vks__buffer_destroy_locked(b);
        }
    }
    if (r != VK_SUCCESS) {
        ctx->queries_used = 0;
        ctx->pending_count = 0;
        return vks__vk_error(r, "submitting recorded work");
    }
    return ctx->profiling ? collect_profile(ctx) : VKS_OK;
}

vks_status vks_synchronize(vks_context *ctx) {
    if (!ctx) return vks__error(VKS_ERROR_INVALID_ARGUMENT, "vks_synchronize: ctx is NULL");
    vks__lock(ctx);
    vks_status st = vks__flush_locked(ctx);
    vks__unlock(ctx);
    return vks__error_in("vks_synchronize", st);
}

vks_status vks_begin_external_recording(vks_context *ctx, void *command_buffer) {
    if (!ctx) return vks__error(VKS_ERROR_INVALID_ARGUMENT, "vks_begin_external_recording: ctx is NULL");
    if (!command_buffer)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "vks_begin_external_recording: command_buffer is NULL");
    vks__lock(ctx);
    vks_status st = VKS_OK;
    if (ctx->host_cmd)
        st = vks__error(VKS_ERROR_INVALID_ARGUMENT,
                        "vks_begin_external_recording: already recording into command buffer %p",
                        (void *)ctx->host_cmd);
    else st = vks__flush_locked(ctx); /* earlier uploads land before the host's work */
    if (st == VKS_OK) {
        ctx->host_cmd = (VkCommandBuffer)command_buffer;
        ctx->host_cmd_dirty = true; /* a barrier before our first command: host work first */
    }
    vks__unlock(ctx);
    return st;
}

vks_status vks_end_external_recording(vks_context *ctx) {
    if (!ctx) return vks__error(VKS_ERROR_INVALID_ARGUMENT, "vks_end_external_recording: ctx is NULL");
    vks__lock(ctx);
    vks_status st = VKS_OK;
    if (!ctx->host_cmd) {
        st = vks__error(VKS_ERROR_INVALID_ARGUMENT, "vks_end_external_recording: no external recording is active");
    } else {
        full_barrier(ctx, ctx->host_cmd); /* our writes before the host's later commands */
        ctx->host_cmd = VK_NULL_HANDLE;
    }
    vks__unlock(ctx);
    return st;
}

vks_status vks_profile_get(vks_context *ctx, vks_profile_entry *entries, size_t capacity, size_t *count) {
    if (!ctx) return vks__error(VKS_ERROR_INVALID_ARGUMENT, "vks_profile_get: ctx is NULL");
    if (!count) return vks__error(VKS_ERROR_INVALID_ARGUMENT, "vks_profile_get: count is NULL");
    if (capacity && !entries)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "vks_profile_get: entries is NULL but capacity = %zu", capacity);
    vks__lock(ctx);
    vks_status st = VKS_OK;
    if (!ctx->profiling) {
        st = vks__error(VKS_ERROR_UNSUPPORTED,
                        "vks_profile_get: profiling is off (create the context with VKS_CONTEXT_PROFILING or "
                        "VKS_PROFILE=1)");
    } else {
        size_t n = VKS_MIN(capacity, ctx->profile_count);
        if (n) memcpy(entries, ctx->profile, n * sizeof *entries);
        *count = ctx->profile_count;
    }
    vks__unlock(ctx);
    return st;
}

vks_status vks_profile_clear(vks_context *ctx) {
    if (!ctx) return vks__error(VKS_ERROR_INVALID_ARGUMENT, "vks_profile_clear: ctx is NULL");
    vks__lock(ctx);
    ctx->profile_count = 0;
    vks__unlock(ctx);
    return VKS_OK;
}
