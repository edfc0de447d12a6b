//! variants: f32 f16
// Column sums (the bias gradient): out[j] = sum_i in[i*ld + j], one invocation per column,
// accumulated in f32 (f64 for the f64 variant).
#version 460
#extension GL_GOOGLE_include_directive : require
#include "common/dtype.glsl"

layout(local_size_x_id = 0) in;

layout(push_constant) uniform ColsumPush {
    uint64_t src, dst;
    uint rows, cols, ld, pad0;
} p;

void main() {
    const uint j = gl_GlobalInvocationID.x;
    if (j >= p.cols) return;
    TBuf src = TBuf(p.src);
    ACC s = ACC(0);
    for (uint i = 0; i < p.rows; ++i) s += to_acc(src.v[i * p.ld + j]);
    TBuf(p.dst).v[j] = from_acc(s);
}
