/*
 * The op prologue: what every public op entry point does around its own validation and
 * recording, in one place (see vks_op in internal.h).
 */
#include "internal.h"

vks_status vks__op_run(vks_context *ctx, const vks_op *op, void *call) {
    if (!ctx) return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: ctx is NULL", op->fn);
    if (op->desc_arg)
        VKS_TRY(op->desc_optional
                    ? vks__struct_in_or_defaults(op->fn, op->desc_arg, op->desc_type, op->desc, op->desc_copy)
                    : vks__struct_in(op->fn, op->desc_arg, op->desc_type, op->desc, op->desc_copy));
    vks__lock(ctx);
    const char *outer_fn = ctx->current_fn;
    ctx->current_fn = op->fn;
    bool empty = false;
    vks_status st = op->validate ? op->validate(ctx, call, &empty) : VKS_OK;
    if (st == VKS_OK && !empty && op->record) {
        if (op->name) {
            st = vks__op_begin(ctx, op->name);
            if (st == VKS_OK) st = op->record(ctx, call);
            vks__op_end(ctx);
        } else {
            st = op->record(ctx, call); /* it opens its own op regions */
        }
    }
    ctx->current_fn = outer_fn;
    vks__unlock(ctx);
    return vks__error_in(op->fn, st); /* messages from below the op (a Vulkan call) name it too */
}

const char *vks__current_fn(const vks_context *ctx) { return ctx->current_fn ? ctx->current_fn : "vks_op"; }
