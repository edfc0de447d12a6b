//! variants: f32 f64
// Inverts the diagonal blocks of lower-triangular matrices for the blocked triangular
// solve: block b (NB x NB, the last one kb_last) of matrix z into W[z][b] (NB x NB,
// row-major, zeros above the diagonal). Workgroup (b, 0, z).
#version 460
#extension GL_GOOGLE_include_directive : require
#include "common/dtype.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint NB = 64;

layout(push_constant) uniform Push {
    uint64_t l, w;
    uint64_t l_bs;
    uint l_rs, l_cs;
    uint n, nblocks;
} p;

const uint TLD = NB + 1;
const uint TRI_MAX = NB;
shared ACC TRI[NB * TLD];
#include "common/orthogonal_tri.glsl"

void main() {
    const uint tid = gl_LocalInvocationID.x, nt = gl_WorkGroupSize.x;
    const uint b = gl_WorkGroupID.x;
    const uint64_t z = gl_WorkGroupID.z;
    const uint k0 = b * NB, kb = min(NB, p.n - k0);
    TBuf L = TBuf(t_addr(p.l, z * p.l_bs));
    const uint base = k0 * p.l_rs + k0 * p.l_cs;
    for (uint e = tid; e < kb * kb; e += nt) {
        uint i = e / kb, j = e % kb;
        TRI[i * TLD + j] = j <= i ? to_acc(L.v[base + i * p.l_rs + j * p.l_cs]) : ACC(0);
    }
    tri_invert_lower(kb);
    TBuf W = TBuf(t_addr(p.w, (z * p.nblocks + b) * NB * NB));
    for (uint e = tid; e < kb * kb; e += nt) {
        uint i = e / kb, j = e % kb;
        W.v[i * NB + j] = from_acc(j <= i ? TRI[i * TLD + j] : ACC(0));
    }
}
