//! variants: f32 f64
// Shifted CholeskyQR's shift, one workgroup per matrix z: G += (c trace(G)) I for the n x n
// Gram matrix G = A^T A (trace(G) = ||A||_F^2 >= ||A||_2^2, so the shift bounds Fukaya et al.'s
// s = 11 (mn + n(n+1)) u ||A||_2^2 from above with c = 11 (mn + n(n+1)) u).
#version 460
#extension GL_GOOGLE_include_directive : require
#include "common/dtype.glsl"

layout(local_size_x_id = 0) in;

layout(push_constant) uniform Push {
    uint64_t g, g_bs;
    uint n, ld;
    ACC c;
} p;

shared ACC red[256];

void main() {
    const uint tid = gl_LocalInvocationID.x, nt = gl_WorkGroupSize.x;
    TBuf G = TBuf(t_addr(p.g, uint64_t(gl_WorkGroupID.z) * p.g_bs));
    ACC s = ACC(0);
    for (uint i = tid; i < p.n; i += nt) s += to_acc(G.v[i * p.ld + i]);
    red[tid] = s;
    barrier();
    for (uint h = nt / 2; h > 0; h >>= 1) {
        if (tid < h) red[tid] += red[tid + h];
        barrier();
    }
    const ACC shift = p.c * red[0];
    for (uint i = tid; i < p.n; i += nt) G.v[i * p.ld + i] = from_acc(to_acc(G.v[i * p.ld + i]) + shift);
}
