//! variants: f32 f16
// (Element offsets fit 32 bits: the host checks every tensor.)
// An explicit permutation pass (a strided copy), for the peers' unfused formulation and
// for zero-padded copies in the backward pass:
//   dst[i0*d0 + i1*d1 + i2*d2] = act(src[i0*s0 + i1*s1 + i2*s2] + bias[col]),
// col = i1*d1 + i2*d2 (the element's offset within its destination row); elements with
// col >= col_lim are not written; with src_lim > 0, elements whose source offset within
// the row, i1*s1 + i2*s2, is >= src_lim read as zero (zero padding).
#version 460
#extension GL_GOOGLE_include_directive : require
#include "common/dtype.glsl"
#include "common/activation.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint ACT = 0;

layout(push_constant) uniform PermutePush {
    uint64_t src, dst, bias; // bias 0 = none
    uint n0, n1, n2, src_lim;
    uint s0, s1, s2, col_lim;
    uint d0, d1, d2, pad0;
} p;

void main() {
    // A 2-D grid (x fastest) covers more elements than one dimension's group limit.
    const uint64_t e = uint64_t(gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) * gl_WorkGroupSize.x +
                       gl_LocalInvocationID.x;
    const uint64_t total = uint64_t(p.n0) * p.n1 * p.n2;
    if (e >= total) return;
    const uint i2 = uint(e % p.n2), i1 = uint((e / p.n2) % p.n1), i0 = uint(e / (uint64_t(p.n2) * p.n1));
    const uint col = i1 * p.d1 + i2 * p.d2;
    if (col >= p.col_lim) return;
    const uint scol = i1 * p.s1 + i2 * p.s2;
    ACC v = ACC(0);
    if (p.src_lim == 0 || scol < p.src_lim) v = to_acc(TBuf(p.src).v[i0 * p.s0 + scol]);
    if (p.bias != 0) v += to_acc(TBuf(p.bias).v[col]);
    TBuf(p.dst).v[i0 * p.d0 + col] = from_acc(VKS_ACTIVATE(ACC, v, ACT));
}
