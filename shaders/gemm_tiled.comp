//! variants: f32 f16 f64
// Dense GEMM for GPUs: BM x BN output tiles per workgroup, staged through shared memory
// BK columns of K at a time; each invocation accumulates a TM x TN register tile.
// Rows of a thread's tile are contiguous, its columns strided by BN/TN so that a warp's
// shared-memory reads of B and its stores of C touch consecutive addresses.
#version 460
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "common/dtype.glsl"
#include "common/activation.glsl"
#include "common/gemm_push.glsl"
#include "common/tile_order.glsl"

layout(local_size_x_id = 0) in; // (BM/TM) * (BN/TN)
layout(constant_id = 1) const uint BM = 128;
layout(constant_id = 2) const uint BN = 128;
layout(constant_id = 3) const uint BK = 8;
layout(constant_id = 4) const uint TM = 8;
layout(constant_id = 5) const uint TN = 8;
layout(constant_id = 6) const bool TRANS_A = false;
layout(constant_id = 7) const bool TRANS_B = false;
layout(constant_id = 8) const uint ACT = 0;

const uint SA = BM + 4; // padded row of As: the tile loads below hit distinct banks
const uint SB = BN + 4;
shared ACC As[BK * SA];
shared ACC Bs[BK * SB];

void main() {
    const uint tid = gl_LocalInvocationID.x;
    const uint nthreads = gl_WorkGroupSize.x;
    const uint TX = BN / TN;
    const uint tx = tid % TX, ty = tid / TX;
    const uvec2 tile = vks_grouped_tile(8);
    const uint m0 = tile.x * BM, n0 = tile.y * BN;
    const uint64_t z = gl_WorkGroupID.z;
    TBuf A = TBuf(t_addr(p.a, z * p.stride_a));
    TBuf B = TBuf(t_addr(p.b, z * p.stride_b));

    ACC acc[TM][TN];
    [[unroll]] for (uint i = 0; i < TM; ++i)
        [[unroll]] for (uint j = 0; j < TN; ++j) acc[i][j] = ACC(0);

    for (uint k0 = 0; k0 < p.k; k0 += BK) {
        // Tile loads, each in the order that walks memory contiguously.
        for (uint e = tid; e < BM * BK; e += nthreads) {
            uint i = TRANS_A ? e % BM : e / BK;
            uint kk = TRANS_A ? e / BM : e % BK;
            uint gi = m0 + i, gk = k0 + kk;
            ACC v = ACC(0);
            if (gi < p.m && gk < p.k) v = to_acc(TRANS_A ? A.v[gk * p.lda + gi] : A.v[gi * p.lda + gk]);
            As[kk * SA + i] = v;
        }
        for (uint e = tid; e < BN * BK; e += nthreads) {
            uint j = TRANS_B ? e / BK : e % BN;
            uint kk = TRANS_B ? e % BK : e / BN;
            uint gj = n0 + j, gk = k0 + kk;
            ACC v = ACC(0);
            if (gj < p.n && gk < p.k) v = to_acc(TRANS_B ? B.v[gj * p.ldb + gk] : B.v[gk * p.ldb + gj]);
            Bs[kk * SB + j] = v;
        }
        barrier();
        [[unroll]] for (uint kk = 0; kk < BK; ++kk) {
            ACC ar[TM], br[TN];
            [[unroll]] for (uint i = 0; i < TM; ++i) ar[i] = As[kk * SA + ty * TM + i];
            [[unroll]] for (uint j = 0; j < TN; ++j) br[j] = Bs[kk * SB + tx + j * TX];
            [[unroll]] for (uint i = 0; i < TM; ++i)
                [[unroll]] for (uint j = 0; j < TN; ++j) acc[i][j] = fma(ar[i], br[j], acc[i][j]);
        }
        barrier();
    }

    TBuf C = TBuf(t_addr(p.c, z * p.stride_c));
    [[unroll]] for (uint i = 0; i < TM; ++i) {
        uint gi = m0 + ty * TM + i;
        if (gi >= p.m) break;
        [[unroll]] for (uint j = 0; j < TN; ++j) {
            uint gj = n0 + tx + j * TX;
            if (gj >= p.n) continue;
            ACC v = p.alpha * acc[i][j];
            if (p.beta != ACC(0)) v += p.beta * to_acc(C.v[gi * p.ldc + gj]);
            if (p.bias != 0) v += to_acc(TBuf(p.bias).v[gj]);
            C.v[gi * p.ldc + gj] = from_acc(VKS_ACTIVATE(ACC, v, ACT));
        }
    }
}
