//! variants: f32 f16 f64
// SYRK for CPU devices (lavapipe): the lower triangle of op(S) op(S)^T, built like
// gemm_regtile.comp (one subgroup per workgroup, rows shared by subgroupShuffle, paired
// loads) with A = op(S) and B = op(S)^T. Workgroups whose tile lies wholly above the
// diagonal return at once, so about half the tiles do any work.
#version 460
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_shuffle : require
#include "common/dtype.glsl"
#include "common/orthogonal_syrk_push.glsl"

layout(local_size_x_id = 0) in; // = SG
layout(constant_id = 1) const uint TM = 16;  // rows per workgroup (multiple of 2*SG)
layout(constant_id = 2) const uint TN = 8;   // columns per lane (even)
layout(constant_id = 3) const bool PAIRS_A = false;
layout(constant_id = 4) const bool PAIRS_B = false;
layout(constant_id = 5) const bool TRANS = false;
layout(constant_id = 6) const bool MIRROR = true;
layout(constant_id = 7) const uint SG = 8;

const bool TRANS_A = TRANS, TRANS_B = !TRANS;
const uint AS = TM / SG;

layout(buffer_reference, std430, buffer_reference_align = 8) buffer U64Buf { uint64_t v[]; };

layout(buffer_reference, std430, buffer_reference_align = 4) buffer U32Buf { uint v[]; };

vec2 load_pair(uint64_t base, uint e) {
#if defined(VKS_DTYPE_F16)
    return unpackHalf2x16(U32Buf(base).v[e >> 1]);
#elif defined(VKS_DTYPE_F32)
    return uintBitsToFloat(unpackUint2x32(U64Buf(base).v[e >> 1]));
#else
    return vec2(0); // f64 never takes the paired path
#endif
}

uint lane_col(uint n0, uint lane, uint j) {
    return PAIRS_B ? n0 + 2 * (lane + SG * (j / 2)) + (j % 2) : n0 + lane + SG * j;
}

void main() {
    const uint lane = gl_SubgroupInvocationID;
    const uint m0 = gl_WorkGroupID.y * TM, n0 = gl_WorkGroupID.x * (SG * TN);
    if (m0 + TM <= n0) return; // every element of the tile is above the diagonal
    const uint64_t z = gl_WorkGroupID.z;
    const uint64_t base = t_addr(p.s, z * p.stride_s);
    TBuf S = TBuf(base);
    const uint last = p.n - 1, lda = p.lda;

    const bool pm = PAIRS_A && TRANS_A;
    uint arow[AS];
    for (uint s = 0; s < AS; ++s)
        arow[s] = pm ? min(m0 + 2 * (lane + SG * (s / 2)), last - 1) : min(m0 + lane + SG * s, last);
    uint bcol[TN];
    for (uint j = 0; j < TN; ++j)
        bcol[j] = (PAIRS_B && !TRANS_B) ? min(lane_col(n0, lane, j & ~1u), last - 1) : min(lane_col(n0, lane, j), last);

    ACC acc[TM][TN];
    for (uint i = 0; i < TM; ++i)
        for (uint j = 0; j < TN; ++j) acc[i][j] = ACC(0);

    for (uint k = 0; k < p.k; k += 2) {
        const uint nk = k + 1 < p.k ? 2u : 1u;
        ACC av[2][AS], bv[2][TN];
        if (PAIRS_A && !TRANS_A && nk == 2) {
            for (uint s = 0; s < AS; ++s) {
                vec2 v = load_pair(base, arow[s] * lda + k);
                av[0][s] = v.x, av[1][s] = v.y;
            }
        } else if (pm) {
            for (uint kk = 0; kk < nk; ++kk)
                for (uint s = 0; s < AS; s += 2) {
                    vec2 v = load_pair(base, (k + kk) * lda + arow[s]);
                    av[kk][s] = v.x, av[kk][s + 1] = v.y;
                }
        } else {
            for (uint kk = 0; kk < nk; ++kk)
                for (uint s = 0; s < AS; ++s)
                    av[kk][s] = to_acc(TRANS_A ? S.v[(k + kk) * lda + arow[s]] : S.v[arow[s] * lda + k + kk]);
        }
        if (PAIRS_B && TRANS_B && nk == 2) {
            for (uint j = 0; j < TN; ++j) {
                vec2 v = load_pair(base, bcol[j] * lda + k);
                bv[0][j] = v.x, bv[1][j] = v.y;
            }
        } else if (PAIRS_B && !TRANS_B) {
            for (uint kk = 0; kk < nk; ++kk)
                for (uint j = 0; j < TN; j += 2) {
                    vec2 v = load_pair(base, (k + kk) * lda + bcol[j]);
                    bv[kk][j] = v.x, bv[kk][j + 1] = v.y;
                }
        } else {
            for (uint kk = 0; kk < nk; ++kk)
                for (uint j = 0; j < TN; ++j)
                    bv[kk][j] = to_acc(TRANS_B ? S.v[bcol[j] * lda + k + kk] : S.v[(k + kk) * lda + bcol[j]]);
        }
        for (uint kk = 0; kk < nk; ++kk)
            for (uint i = 0; i < TM; ++i) {
                const uint src = pm ? (i % (2 * SG)) / 2 : i % SG;
                const uint slot = pm ? 2 * (i / (2 * SG)) + i % 2 : i / SG;
                ACC a = subgroupShuffle(av[kk][slot], src);
                for (uint j = 0; j < TN; ++j) acc[i][j] = fma(a, bv[kk][j], acc[i][j]);
            }
    }

    TBuf C = TBuf(t_addr(p.cout, z * p.stride_cout));
    for (uint i = 0; i < TM; ++i) {
        uint gi = m0 + i;
        if (gi >= p.n) break;
        for (uint j = 0; j < TN; ++j) {
            uint gj = lane_col(n0, lane, j);
            if (gj >= p.n || gj > gi) continue;
            const ACC v = syrk_value(acc[i][j], gi, gj, z); // (a T in registers would need f16 arithmetic)
            C.v[gi * p.ldc_out + gj] = from_acc(v);
            if (MIRROR && gi != gj) C.v[gj * p.ldc_out + gi] = from_acc(v);
        }
    }
}
