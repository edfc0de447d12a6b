//! variants: f32 f16
// Strided block-batched GEMM for CPU devices (lavapipe): one block of a block-diagonal
// product per workgroup z, the Monarch permutations folded into the operands' strides
// (common/monarch_bmm_push.glsl). Same scheme as gemm_regtile: one subgroup per workgroup,
// TM rows x SG*TN columns; each lane loads different rows of A and hands them to the others
// with subgroupShuffle; 64-bit loads carry two elements along k where the operand is
// contiguous along k (PAIRS_A: a_cs == 1; PAIRS_B: b_rs == 1) and pair-aligned.
#version 460
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_shuffle : require
#include "common/dtype.glsl"
#include "common/activation.glsl"
#include "common/monarch_bmm_push.glsl"

layout(local_size_x_id = 0) in; // = SG
layout(constant_id = 1) const uint TM = 16; // rows per workgroup (multiple of SG)
layout(constant_id = 2) const uint TN = 4;  // columns per lane
layout(constant_id = 3) const bool PAIRS_A = false;
layout(constant_id = 4) const bool PAIRS_B = false;
layout(constant_id = 5) const uint ACT = 0;
layout(constant_id = 6) const uint SG = 8;

const uint AS = TM / SG; // A values a lane holds per step of k

layout(buffer_reference, std430, buffer_reference_align = 8) buffer U64Buf { uint64_t v[]; };
layout(buffer_reference, std430, buffer_reference_align = 4) buffer U32Buf { uint v[]; };

// Elements e, e+1 (e even, the pair aligned) with one load.
vec2 load_pair(uint64_t base, uint e) {
#if defined(VKS_DTYPE_F16)
    return unpackHalf2x16(U32Buf(base).v[e >> 1]);
#else
    return uintBitsToFloat(unpackUint2x32(U64Buf(base).v[e >> 1]));
#endif
}

void main() {
    const uint lane = gl_SubgroupInvocationID;
    const uint z = gl_WorkGroupID.z;
    const uint m0 = gl_WorkGroupID.y * TM, n0 = gl_WorkGroupID.x * (SG * TN);
    const uint kz = bmm_k_extent(z), nz = bmm_n_extent(z);
    if (n0 >= nz) return; // uniform: the whole workgroup leaves
    const uint64_t abase = t_addr(p.a, uint64_t(z) * p.a_bs), bbase = t_addr(p.b, uint64_t(z) * p.b_bs);
    TBuf A = TBuf(abase), B = TBuf(bbase);

    uint arow[AS]; // element offsets of the rows this lane loads for the others
    for (uint s = 0; s < AS; ++s) arow[s] = min(m0 + lane + SG * s, p.m - 1) * p.a_rs;
    uint bcol[TN];
    for (uint j = 0; j < TN; ++j) bcol[j] = min(n0 + lane + SG * j, nz - 1) * p.b_cs;

    ACC acc[TM][TN];
    for (uint i = 0; i < TM; ++i)
        for (uint j = 0; j < TN; ++j) acc[i][j] = ACC(0);

    for (uint k = 0; k < kz; k += 2) {
        const uint nk = k + 1 < kz ? 2u : 1u; // the last step of an odd K is single
        ACC av[2][AS], bv[2][TN];
        if (PAIRS_A && nk == 2) {
            for (uint s = 0; s < AS; ++s) {
                vec2 v = load_pair(abase, arow[s] + k);
                av[0][s] = v.x, av[1][s] = v.y;
            }
        } else {
            for (uint kk = 0; kk < nk; ++kk)
                for (uint s = 0; s < AS; ++s) av[kk][s] = to_acc(A.v[arow[s] + (k + kk) * p.a_cs]);
        }
        if (PAIRS_B && nk == 2) {
            for (uint j = 0; j < TN; ++j) {
                vec2 v = load_pair(bbase, bcol[j] + k);
                bv[0][j] = v.x, bv[1][j] = v.y;
            }
        } else {
            for (uint kk = 0; kk < nk; ++kk)
                for (uint j = 0; j < TN; ++j) bv[kk][j] = to_acc(B.v[(k + kk) * p.b_rs + bcol[j]]);
        }
        for (uint kk = 0; kk < nk; ++kk)
            for (uint i = 0; i < TM; ++i) {
                ACC a = subgroupShuffle(av[kk][i / SG], i % SG);
                for (uint j = 0; j < TN; ++j) acc[i][j] = fma(a, bv[kk][j], acc[i][j]);
            }
    }

    TBuf C = TBuf(t_addr(p.c, uint64_t(z) * p.c_bs));
    const uint64_t bias_base = p.bias == 0 ? 0 : t_addr(p.bias, uint64_t(z) * p.bias_bs);
    for (uint i = 0; i < TM; ++i) {
        uint gi = m0 + i;
        if (gi >= p.m) break;
        for (uint j = 0; j < TN; ++j) {
            uint gj = n0 + lane + SG * j;
            if (gj >= nz) continue;
            ACC v = acc[i][j];
            if (p.accumulate != 0) v += to_acc(C.v[gi * p.c_rs + gj * p.c_cs]);
            if (bias_base != 0) v += to_acc(TBuf(bias_base).v[gj * p.bias_cs]);
            C.v[gi * p.c_rs + gj * p.c_cs] = from_acc(VKS_ACTIVATE(ACC, v, ACT));
        }
    }
}
