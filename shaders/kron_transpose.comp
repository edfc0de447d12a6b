//! variants: f32 f64
// out = alpha * in^T + beta * out for a row-major in (R x C) and out (C x R): the
// conversions between GPyTorch's row-major (N, k) right-hand sides and the k grids one
// after another that the Kronecker GEMMs work on. Shared-memory tiles so that both the
// reads and the writes walk memory contiguously.
#version 460
#extension GL_GOOGLE_include_directive : require
#include "common/dtype.glsl"

// Tiles are numbered gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x, rows first
// (a grid has more than 65535 tiles); extra workgroups find their tile empty.
layout(local_size_x_id = 0, local_size_y_id = 1) in; // TILE x ROWS_PER_PASS
layout(constant_id = 2) const uint TILE = 32;

layout(push_constant) uniform TransposePush {
    uint64_t src, dst;
    uint rows, cols, row_tiles, pad0; // of src
    ACC alpha, beta;
} p;

shared ACC tile[TILE * (TILE + 1)];

void main() {
    const uint tx = gl_LocalInvocationID.x;
    const uint id = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
    const uint r0 = (id % p.row_tiles) * TILE, c0 = (id / p.row_tiles) * TILE;
    for (uint ty = gl_LocalInvocationID.y; ty < TILE; ty += gl_WorkGroupSize.y) {
        const uint r = r0 + ty, c = c0 + tx; // consecutive invocations read along a row
        if (r < p.rows && c < p.cols) tile[ty * (TILE + 1) + tx] = to_acc(TBuf(t_addr(p.src, uint64_t(r) * p.cols + c)).v[0]);
    }
    barrier();
    for (uint ty = gl_LocalInvocationID.y; ty < TILE; ty += gl_WorkGroupSize.y) {
        const uint c = c0 + ty, r = r0 + tx; // ... and write along a row of out
        if (r < p.rows && c < p.cols) {
            TBuf o = TBuf(t_addr(p.dst, uint64_t(c) * p.rows + r));
            ACC v = p.alpha * tile[tx * (TILE + 1) + ty];
            if (p.beta != ACC(0)) v += p.beta * to_acc(o.v[0]);
            o.v[0] = from_acc(v);
        }
    }
}
