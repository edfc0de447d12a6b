//! variants: f32 f16
// Column sums (the bias gradient): out[j] = sum_i in[i*ld + j], one invocation per column,
// accumulated in f32.
#version 460
#extension GL_GOOGLE_include_directive : require
#include "common/dtype.glsl"

layout(local_size_x_id = 0) in;

layout(push_constant) uniform ColsumPush {
    uint64_t src, dst;
    uint rows, cols, ld, accumulate; // accumulate != 0: out[j] += the sum (row slices)
} p;

void main() {
    const uint j = gl_GlobalInvocationID.x;
    if (j >= p.cols) return;
    TBuf src = TBuf(p.src);
    ACC s = ACC(0);
    for (uint i = 0; i < p.rows; ++i) s += to_acc(src.v[i * p.ld + j]);
    if (p.accumulate != 0) s += to_acc(TBuf(p.dst).v[j]);
    TBuf(p.dst).v[j] = from_acc(s);
}
