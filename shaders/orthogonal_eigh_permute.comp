//! variants: f32 f64
// Between two rounds of the block Jacobi sweep: brings the next round's pairs of slabs next
// to each other (round-robin "circle" rotation of the slabs). With pi(i) = perm[i / B] * B +
// i % B (perm[new slab] = old slab): W'(i, j) = W(pi(i), pi(j)) and V'(r, j) = V(r, pi(j)).
#version 460
#extension GL_GOOGLE_include_directive : require
#include "common/dtype.glsl"

layout(local_size_x_id = 0) in;

layout(push_constant) uniform Push {
    uint64_t w_src, w_dst, v_src, v_dst, perm;
    uint N, B;
} p;

uint pi(uint i) { return UintBuf(p.perm).v[i / p.B] * p.B + i % p.B; }

void main() {
    const uint j = gl_GlobalInvocationID.x;
    if (j >= p.N) return;
    const uint64_t off = uint64_t(gl_WorkGroupID.z) * p.N * p.N;
    TBuf Ws = TBuf(t_addr(p.w_src, off)), Wd = TBuf(t_addr(p.w_dst, off));
    TBuf Vs = TBuf(t_addr(p.v_src, off)), Vd = TBuf(t_addr(p.v_dst, off));
    const uint pj = pi(j);
    for (uint i = gl_WorkGroupID.y; i < p.N; i += gl_NumWorkGroups.y) {
        Wd.v[i * p.N + j] = Ws.v[pi(i) * p.N + pj];
        Vd.v[i * p.N + j] = Vs.v[i * p.N + pj];
    }
}
