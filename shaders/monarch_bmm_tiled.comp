//! variants: f32 f16
// Strided block-batched GEMM for GPUs: one block of a block-diagonal product per
// workgroup z, operands addressed by arbitrary element strides (common/monarch_bmm_push.glsl),
// so the Monarch permutations cost nothing but addressing. BM x BN output tiles staged
// through shared memory BK terms at a time; each invocation accumulates TM x TN.
// A_KC / B_NC say along which index each operand is contiguous, so that the tile loads
// walk memory in that order (coalesced).
#version 460
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "common/dtype.glsl"
#include "common/activation.glsl"
#include "common/monarch_bmm_push.glsl"

layout(local_size_x_id = 0) in; // (BM/TM) * (BN/TN)
layout(constant_id = 1) const uint BM = 64;
layout(constant_id = 2) const uint BN = 64;
layout(constant_id = 3) const uint BK = 16;
layout(constant_id = 4) const uint TM = 4;
layout(constant_id = 5) const uint TN = 4;
layout(constant_id = 6) const bool A_KC = true; // A contiguous along k (else along rows)
layout(constant_id = 7) const bool B_NC = true; // B contiguous along n (else along k)
layout(constant_id = 8) const uint ACT = 0;
// Workgroup order. false: x = column tile, y = row tile, z = block. true: one linear index
// with the block fastest, so the blocks of one row tile run together: with the Monarch
// permutations in the strides, blocks interleave within every row of x, of the intermediate
// and of y, and running them together makes each 32-byte sector's neighbours L2 hits.
layout(constant_id = 9) const bool BLOCK_FASTEST = false;

const uint SA = BM + 4; // padded rows: the loads below hit distinct banks
const uint SB = BN + 4;
shared ACC As[BK * SA];
shared ACC Bs[BK * SB];

void main() {
    const uint tid = gl_LocalInvocationID.x;
    const uint nthreads = gl_WorkGroupSize.x;
    const uint TX = BN / TN;
    const uint tx = tid % TX, ty = tid / TX;
    uint z = gl_WorkGroupID.z, row_tile = gl_WorkGroupID.y, col_tile = gl_WorkGroupID.x;
    if (BLOCK_FASTEST) {
        const uint id = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
        z = id % p.blocks;
        col_tile = (id / p.blocks) % p.col_tiles;
        row_tile = id / (p.blocks * p.col_tiles);
    }
    const uint m0 = row_tile * BM, n0 = col_tile * BN;
    const uint kz = bmm_k_extent(z), nz = bmm_n_extent(z);
    if (n0 >= nz || m0 >= p.m) return; // uniform across the workgroup (m0: the linear order's tail)
    TBuf A = TBuf(t_addr(p.a, uint64_t(z) * p.a_bs));
    TBuf B = TBuf(t_addr(p.b, uint64_t(z) * p.b_bs));

    ACC acc[TM][TN];
    [[unroll]] for (uint i = 0; i < TM; ++i)
        [[unroll]] for (uint j = 0; j < TN; ++j) acc[i][j] = ACC(0);

    for (uint k0 = 0; k0 < kz; k0 += BK) {
        for (uint e = tid; e < BM * BK; e += nthreads) {
            uint i = A_KC ? e / BK : e % BM;
            uint kk = A_KC ? e % BK : e / BM;
            uint gi = m0 + i, gk = k0 + kk;
            ACC v = ACC(0);
            if (gi < p.m && gk < kz) v = to_acc(A.v[gi * p.a_rs + gk * p.a_cs]);
            As[kk * SA + i] = v;
        }
        for (uint e = tid; e < BN * BK; e += nthreads) {
            uint j = B_NC ? e % BN : e / BK;
            uint kk = B_NC ? e / BN : e % BK;
            uint gj = n0 + j, gk = k0 + kk;
            ACC v = ACC(0);
            if (gj < nz && gk < kz) v = to_acc(B.v[gk * p.b_rs + gj * p.b_cs]);
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

    TBuf C = TBuf(t_addr(p.c, uint64_t(z) * p.c_bs));
    const uint64_t bias_base = p.bias == 0 ? 0 : t_addr(p.bias, uint64_t(z) * p.bias_bs);
    [[unroll]] for (uint i = 0; i < TM; ++i) {
        uint gi = m0 + ty * TM + i;
        if (gi >= p.m) break;
        [[unroll]] for (uint j = 0; j < TN; ++j) {
            uint gj = n0 + tx + j * TX;
            if (gj >= nz) continue;
            ACC v = acc[i][j];
            if (p.accumulate != 0) v += to_acc(C.v[gi * p.c_rs + gj * p.c_cs]);
            if (bias_base != 0) v += to_acc(TBuf(bias_base).v[gj * p.bias_cs]);
            C.v[gi * p.c_rs + gj * p.c_cs] = from_acc(VKS_ACTIVATE(ACC, v, ACT));
        }
    }
}
