/* The fused Monarch forward (placeholder while the kernels are written). */
#include "monarch_internal.h"

bool mon__fused_plan(const vks_context *ctx, const mon_problem *pr, mon_fused_config *cfg) {
    (void)ctx, (void)pr, (void)cfg;
    return false;
}

vks_status mon__forward_fused(vks_context *ctx, const mon_problem *pr, const mon_fused_config *cfg) {
    (void)cfg;
    return mon__forward_two_pass(ctx, pr, 0);
}
