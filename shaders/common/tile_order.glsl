// Grouped tile order for GEMM-like kernels dispatched as (tiles_n, tiles_m, batch):
// consecutive workgroups walk GROUP_M tile-rows down one tile-column before moving right,
// so the A row-blocks and B column-blocks in flight at once stay few and hit in L2.
#ifndef VKS_TILE_ORDER_GLSL
#define VKS_TILE_ORDER_GLSL

// (tile row, tile column) of this workgroup.
uvec2 vks_grouped_tile(uint group_m) {
    const uint tiles_n = gl_NumWorkGroups.x, tiles_m = gl_NumWorkGroups.y;
    const uint pid = gl_WorkGroupID.y * tiles_n + gl_WorkGroupID.x;
    const uint per_group = group_m * tiles_n;
    const uint first_m = (pid / per_group) * group_m;
    const uint rows = min(tiles_m - first_m, group_m);
    return uvec2(first_m + (pid % per_group) % rows, (pid % per_group) / rows);
}

#endif
