/* Projection onto Monarch (placeholder while the kernels are written). */
#include "monarch_internal.h"

vks_status vks_monarch_project(vks_context *ctx, const vks_monarch_project_desc *desc,
                               vks_monarch_project_result *result) {
    (void)ctx, (void)desc, (void)result;
    return vks__error(VKS_ERROR_UNSUPPORTED, "vks_monarch_project: not yet built");
}
