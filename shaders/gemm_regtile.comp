//! variants: f32 f16 f64
// Dense GEMM for CPU devices (lavapipe). Mesa's llvmpipe runs the invocations of a
// subgroup as SIMD lanes, and compiles every load from memory (global or shared) into a
// scalar loop over the lanes, while arithmetic is one vector instruction: so the kernel
// is built to need as few loads per FMA as possible.
//  - One subgroup per workgroup, no shared memory, no barriers.
//  - A: each lane loads *different* rows and hands them to the others with
//    subgroupShuffle, instead of every lane loading the same value.
//  - Loads come in pairs where alignment allows (PAIRS): one 64-bit load carries two f32
//    (one 32-bit load two f16), halving the load loops.
// Per two steps of k a lane issues TM/SG + TN loads for 2*TM*TN vector FMAs.
// (Measured 1024^3 f32 on 2 cores: 4x4 plain register tiles 1.8 GFLOP/s, 8x8 3.6; this
// shape is the figure in docs/bench/.)
#version 460
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_shuffle : require
#include "common/dtype.glsl"
#include "common/activation.glsl"
#include "common/gemm_push.glsl"

layout(local_size_x_id = 0) in; // = SG
layout(constant_id = 1) const uint TM = 16;      // rows per workgroup (multiple of 2*SG)
layout(constant_id = 2) const uint TN = 4;       // columns per lane (even)
layout(constant_id = 3) const bool PAIRS_A = false;
layout(constant_id = 4) const bool PAIRS_B = false;
layout(constant_id = 5) const bool TRANS_A = false;
layout(constant_id = 6) const bool TRANS_B = false;
layout(constant_id = 7) const uint ACT = 0;
layout(constant_id = 8) const uint SG = 8;       // subgroup size (the workgroup size)

const uint AS = TM / SG; // A values a lane holds per step of k

layout(buffer_reference, std430, buffer_reference_align = 8) buffer U64Buf { uint64_t v[]; };
layout(buffer_reference, std430, buffer_reference_align = 4) buffer U32Buf { uint v[]; };

// Two neighbouring elements e, e+1 (e even, 2-element aligned) with one load.
vec2 load_pair(uint64_t base, uint e) {
#if defined(VKS_DTYPE_F16)
    return unpackHalf2x16(U32Buf(base).v[e >> 1]);
#elif defined(VKS_DTYPE_F32)
    return uintBitsToFloat(unpackUint2x32(U64Buf(base).v[e >> 1]));
#else
    return vec2(0); // f64 never takes the paired path
#endif
}

// Column j of this lane's TN columns (pairs: neighbouring lanes own neighbouring pairs).
uint lane_col(uint n0, uint lane, uint j) {
    return PAIRS_B ? n0 + 2 * (lane + SG * (j / 2)) + (j % 2) : n0 + lane + SG * j;
}

void main() {
    const uint lane = gl_SubgroupInvocationID;
    const uint m0 = gl_WorkGroupID.y * TM, n0 = gl_WorkGroupID.x * (SG * TN);
    const uint64_t z = gl_WorkGroupID.z;
    const uint64_t abase = t_addr(p.a, z * p.stride_a), bbase = t_addr(p.b, z * p.stride_b);
    TBuf A = TBuf(abase), B = TBuf(bbase);
    const uint mlast = p.m - 1, nlast = p.n - 1;

    // Rows this lane loads for the others. Plain and paired-along-k layouts hold row
    // lane + SG*s in slot s; paired along m (TRANS_A) slots s, s+1 hold the pair of rows
    // starting at 2(lane + SG*s/2) (clamped so the pair stays inside the matrix).
    const bool pm = PAIRS_A && TRANS_A;
    uint arow[AS];
    for (uint s = 0; s < AS; ++s)
        arow[s] = pm ? min(m0 + 2 * (lane + SG * (s / 2)), mlast - 1) : min(m0 + lane + SG * s, mlast);
    uint bcol[TN]; // paired along n: the even column of each pair, clamped likewise
    for (uint j = 0; j < TN; ++j)
        bcol[j] = (PAIRS_B && !TRANS_B) ? min(lane_col(n0, lane, j & ~1u), nlast - 1) : min(lane_col(n0, lane, j), nlast);

    ACC acc[TM][TN];
    for (uint i = 0; i < TM; ++i)
        for (uint j = 0; j < TN; ++j) acc[i][j] = ACC(0);

    for (uint k = 0; k < p.k; k += 2) {
        const uint nk = k + 1 < p.k ? 2u : 1u; // the last step of an odd K is single
        ACC av[2][AS], bv[2][TN];
        if (PAIRS_A && !TRANS_A && nk == 2) {
            for (uint s = 0; s < AS; ++s) {
                vec2 v = load_pair(abase, arow[s] * p.lda + k);
                av[0][s] = v.x, av[1][s] = v.y;
            }
        } else if (pm) {
            for (uint kk = 0; kk < nk; ++kk)
                for (uint s = 0; s < AS; s += 2) {
                    vec2 v = load_pair(abase, (k + kk) * p.lda + arow[s]);
                    av[kk][s] = v.x, av[kk][s + 1] = v.y;
                }
        } else {
            for (uint kk = 0; kk < nk; ++kk)
                for (uint s = 0; s < AS; ++s)
                    av[kk][s] = to_acc(TRANS_A ? A.v[(k + kk) * p.lda + arow[s]] : A.v[arow[s] * p.lda + k + kk]);
        }
        if (PAIRS_B && TRANS_B && nk == 2) {
            for (uint j = 0; j < TN; ++j) {
                vec2 v = load_pair(bbase, bcol[j] * p.ldb + k);
                bv[0][j] = v.x, bv[1][j] = v.y;
            }
        } else if (PAIRS_B && !TRANS_B) {
            for (uint kk = 0; kk < nk; ++kk)
                for (uint j = 0; j < TN; j += 2) {
                    vec2 v = load_pair(bbase, (k + kk) * p.ldb + bcol[j]);
                    bv[kk][j] = v.x, bv[kk][j + 1] = v.y;
                }
        } else {
            for (uint kk = 0; kk < nk; ++kk)
                for (uint j = 0; j < TN; ++j)
                    bv[kk][j] = to_acc(TRANS_B ? B.v[bcol[j] * p.ldb + k + kk] : B.v[(k + kk) * p.ldb + bcol[j]]);
        }
        for (uint kk = 0; kk < nk; ++kk)
            for (uint i = 0; i < TM; ++i) {
                // Which lane and slot hold row i: constants once the loops are unrolled.
                const uint src = pm ? (i % (2 * SG)) / 2 : i % SG;
                const uint slot = pm ? 2 * (i / (2 * SG)) + i % 2 : i / SG;
                ACC a = subgroupShuffle(av[kk][slot], src);
                for (uint j = 0; j < TN; ++j) acc[i][j] = fma(a, bv[kk][j], acc[i][j]);
            }
    }

    TBuf C = TBuf(t_addr(p.c, z * p.stride_c));
    for (uint i = 0; i < TM; ++i) {
        uint gi = m0 + i;
        if (gi >= p.m) break;
        for (uint j = 0; j < TN; ++j) {
            uint gj = lane_col(n0, lane, j);
            if (gj >= p.n) continue;
            ACC v = p.alpha * acc[i][j];
            if (p.beta != ACC(0)) v += p.beta * to_acc(C.v[gi * p.ldc + gj]);
            if (p.bias != 0) v += to_acc(TBuf(p.bias).v[gj]);
            C.v[gi * p.ldc + gj] = from_acc(VKS_ACTIVATE(ACC, v, ACT));
        }
    }
}
