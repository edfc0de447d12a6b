/*
 * DLPack export (vks_tensor_to_dlpack; the import is in tensor.c): a DLManagedTensor whose
 * data is the vks_buffer*, holding a reference on the buffer until its deleter runs.
 *
 * Locking: the export lock (process-wide) guards every export's `buffer` pointer against
 * context destruction; ctx->lock guards the buffer's reference count and the context's list.
 * Order: export lock, then ctx->lock (the deleter and context destruction); the export
 * itself takes only ctx->lock.
 */
#include <pthread.h>
#include <stdlib.h>

#include "internal.h"

typedef struct vks_dlpack_export {
    DLManagedTensor managed; /* first: the pointer handed out is the export */
    int64_t shape[VKS_MAX_DIMS];
    int64_t strides[VKS_MAX_DIMS];
    vks_buffer *buffer; /* NULL once the context was destroyed */
    struct vks_dlpack_export *prev, *next;
} vks_dlpack_export;

static pthread_mutex_t g_export_lock = PTHREAD_MUTEX_INITIALIZER;

static void unlink_export(vks_context *ctx, vks_dlpack_export *e) {
    if (e->prev) e->prev->next = e->next;
    else ctx->exports = e->next;
    if (e->next) e->next->prev = e->prev;
    e->prev = e->next = NULL;
}

static void export_deleter(DLManagedTensor *m) {
    if (!m) return;
    vks_dlpack_export *e = (vks_dlpack_export *)m->manager_ctx;
    pthread_mutex_lock(&g_export_lock);
    vks_buffer *buf = e->buffer;
    if (buf) { /* its context is alive: destruction detaches under the export lock */
        vks_context *ctx = buf->ctx;
        vks__lock(ctx);
        unlink_export(ctx, e);
        if (--buf->export_refs == 0 && buf->released) {
            /* A deleter returns nothing: a failed flush is reported as a notice. */
            if (vks__buffer_release_locked(buf) != VKS_OK)
                vks__message(ctx, VKS_MESSAGE_WARNING, "DLPack deleter: %s", vks_last_error(NULL));
        }
        vks__unlock(ctx);
    }
    pthread_mutex_unlock(&g_export_lock);
    vks__free(e);
}

void vks__dlpack_detach_context(vks_context *ctx) {
    pthread_mutex_lock(&g_export_lock);
    vks__lock(ctx);
    for (vks_dlpack_export *e = ctx->exports, *next; e; e = next) {
        next = e->next;
        e->buffer = NULL;
        e->prev = e->next = NULL;
    }
    ctx->exports = NULL;
    vks__unlock(ctx);
    pthread_mutex_unlock(&g_export_lock);
}

static DLDataType dl_dtype(vks_dtype dt) {
    switch (dt) {
    case VKS_DTYPE_F32: return (DLDataType){kDLFloat, 32, 1};
    case VKS_DTYPE_F16: return (DLDataType){kDLFloat, 16, 1};
    case VKS_DTYPE_F64: return (DLDataType){kDLFloat, 64, 1};
    case VKS_DTYPE_BF16: return (DLDataType){kDLBfloat, 16, 1};
    case VKS_DTYPE_I32: return (DLDataType){kDLInt, 32, 1};
    case VKS_DTYPE_I64: return (DLDataType){kDLInt, 64, 1};
    default: return (DLDataType){0, 0, 0};
    }
}

vks_status vks_tensor_to_dlpack(const vks_tensor *t, DLManagedTensor **out) {
    static const char fn[] = "vks_tensor_to_dlpack";
    if (!out) return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: out is NULL", fn);
    *out = NULL;
    if (!t) return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: t is NULL", fn);
    VKS_TRY(vks__check_buffer(NULL, t->buffer, fn, "t.buffer"));
    vks_context *ctx = t->buffer->ctx;
    vks__lock(ctx);
    vks_status st = vks__check_tensor(ctx, t, fn, "t");
    if (st == VKS_OK && t->buffer->export_refs == UINT32_MAX)
        st = vks__error(VKS_ERROR_OUT_OF_RANGE, "%s: t.buffer already has %u live exports", fn, t->buffer->export_refs);
    vks_dlpack_export *e = st == VKS_OK ? vks__calloc(1, sizeof *e) : NULL;
    if (st == VKS_OK && !e) st = vks__error(VKS_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", fn);
    if (st == VKS_OK) {
        for (int32_t i = 0; i < t->ndim; ++i) e->shape[i] = t->shape[i], e->strides[i] = t->strides[i];
        const uint32_t index = ctx->probe.info.index;
        e->managed.dl_tensor = (DLTensor){
            .data = t->buffer,
            .device = {kDLVulkan, index == UINT32_MAX ? 0 : (int32_t)index},
            .ndim = t->ndim,
            .dtype = dl_dtype(t->dtype),
            .shape = e->shape,
            .strides = e->strides,
            .byte_offset = t->byte_offset,
        };
        e->managed.manager_ctx = e;
        e->managed.deleter = export_deleter;
        e->buffer = t->buffer;
        e->next = ctx->exports;
        if (ctx->exports) ctx->exports->prev = e;
        ctx->exports = e;
        t->buffer->export_refs++;
        *out = &e->managed;
    }
    vks__unlock(ctx);
    return st;
}
