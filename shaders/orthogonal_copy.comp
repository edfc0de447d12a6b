//! variants: f32 f64
// Strided batched matrix copies the factorizations need (each a pass over the matrix):
//   MODE 0  dst = src
//   MODE 1  dst = lower triangle of src, zeros above the diagonal
//   MODE 2  zeros above the diagonal of dst (in place; src not read)
//   MODE 3  dst = I
// The f64 variant also converts between f32 and f64 (SRC_F32 / DST_F32), for ops that
// iterate f32 data in f64.
// Element (i, j) of matrix z is at base + z*bs + i*rs + j*cs. Workgroups walk the columns
// in x and rows y, y + gridY, ... so any row count fits the grid.
#version 460
#extension GL_GOOGLE_include_directive : require
#include "common/dtype.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint MODE = 0;
layout(constant_id = 2) const bool SRC_F32 = false; // f64 variant converting: the source is f32
layout(constant_id = 3) const bool DST_F32 = false; // ... or the destination is f32

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
    const uint64_t sbase = p.src + z * p.src_bs * (SRC_F32 ? 4 : T_BYTES);
    const uint64_t dbase = p.dst + z * p.dst_bs * (DST_F32 ? 4 : T_BYTES);
    for (uint i = gl_WorkGroupID.y; i < p.rows; i += gl_NumWorkGroups.y) {
        const uint d = i * p.dst_rs + j * p.dst_cs, s = i * p.src_rs + j * p.src_cs;
        if (MODE == 2 && j <= i) continue;
        ACC x = ACC(0);
        if (MODE == 3) x = ACC(i == j ? 1 : 0);
        else if (MODE < 2 && (MODE == 0 || i >= j)) x = SRC_F32 ? ACC(FloatBuf(sbase).v[s]) : to_acc(TBuf(sbase).v[s]);
        if (DST_F32) FloatBuf(dbase).v[d] = float(x);
        else TBuf(dbase).v[d] = from_acc(x);
    }
}
