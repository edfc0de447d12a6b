//! variants: f32 f64
// Strided batched matrix copies the factorizations need (each a pass over the matrix):
//   MODE 0  dst = src
//   MODE 1  dst = lower triangle of src, zeros above the diagonal
//   MODE 2  zeros above the diagonal of dst (in place; src not read)
//   MODE 3  dst = I
// Element (i, j) of matrix z is at base + z*bs + i*rs + j*cs. Workgroups walk the columns
// in x and rows y, y + gridY, ... so any row count fits the grid.
#version 460
#extension GL_GOOGLE_include_directive : require
#include "common/dtype.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint MODE = 0;

layout(push_constant) uniform Push {
    uint64_t src, dst;
    uint64_t src_bs, dst_bs;
    uint rows, cols;
    uint src_rs, src_cs, dst_rs, dst_cs;
} p;

void main() {
    const uint j = gl_GlobalInvocationID.x;
    if (j >= p.cols) return;
    const uint64_t z = gl_WorkGroupID.z;
    TBuf S = TBuf(t_addr(p.src, z * p.src_bs));
    TBuf D = TBuf(t_addr(p.dst, z * p.dst_bs));
    for (uint i = gl_WorkGroupID.y; i < p.rows; i += gl_NumWorkGroups.y) {
        const uint d = i * p.dst_rs + j * p.dst_cs;
        if (MODE == 0) D.v[d] = S.v[i * p.src_rs + j * p.src_cs];
        else if (MODE == 1) D.v[d] = i >= j ? S.v[i * p.src_rs + j * p.src_cs] : T(0);
        else if (MODE == 2) { if (j > i) D.v[d] = T(0); }
        else D.v[d] = T(i == j ? 1 : 0);
    }
}
