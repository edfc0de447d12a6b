//! variants: f32 f16
// Strided block-batched GEMM for GPUs whose blocks interleave in memory: a workgroup takes
// G consecutive blocks, BM rows and BN columns of each, and the lanes of a warp walk the
// blocks fastest. Monarch's second product reads its A operand at out1[b, rho*l + z] and
// writes y[b, t*l + z] (block stride 1, the permutations folded into the strides, see
// common/monarch_bmm_push.glsl): one block per workgroup (monarch_bmm_tiled) makes every
// element of those two a separate 32-byte sector, so the product runs as fast in f32 as in
// f16, at the rate of sector requests. With G blocks side by side the loads and stores of
// those operands are runs of G elements. Each invocation accumulates TM x TN of one block.
#version 460
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "common/dtype.glsl"
#include "common/activation.glsl"
#include "common/monarch_bmm_push.glsl"

layout(local_size_x_id = 0) in; // G * (BM/TM) * (BN/TN)
layout(constant_id = 1) const uint G = 8;
layout(constant_id = 2) const uint BM = 32;
layout(constant_id = 3) const uint BN = 64;
layout(constant_id = 4) const uint BK = 8;
layout(constant_id = 5) const uint TM = 8;
layout(constant_id = 6) const uint TN = 8;
// Along which index each operand is contiguous, so that the tile loads walk memory in that
// order: A 0 = terms, 1 = blocks, 2 = rows; B 0 = terms, 1 = blocks, 2 = columns.
layout(constant_id = 7) const uint A_ORDER = 1;
layout(constant_id = 8) const uint B_ORDER = 0;
layout(constant_id = 9) const uint ACT = 0;

// As[(kk*G + z)*SA + i], Bs[(kk*G + z)*SB + j]. The lanes of a warp read G blocks x (32/G)
// column offsets: SA = BM + 1 puts the blocks' rows in distinct banks, SB = BN + 4 gives
// the (block, column) pairs distinct banks while G * (32/G) = 32 (BN/TN >= 32/G).
const uint SA = BM + 1, SB = BN + 4;
shared ACC As[BK * G * SA];
shared ACC Bs[BK * G * SB];

void main() {
    const uint tid = gl_LocalInvocationID.x, nthreads = gl_WorkGroupSize.x;
    const uint TX = BN / TN;
    const uint tz = tid % G, tj = (tid / G) % TX, ti = tid / (G * TX);
    // Linear workgroup order, block groups fastest: the groups of one row tile run together
    // and share the 128-byte lines their G-element runs come from.
    const uint groups = (p.blocks + G - 1) / G;
    const uint id = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
    const uint z0 = (id % groups) * G;
    const uint n0 = ((id / groups) % p.col_tiles) * BN;
    const uint m0 = (id / (groups * p.col_tiles)) * BM;
    if (m0 >= p.m) return; // uniform: the tail of the linear order

    ACC acc[TM][TN];
    [[unroll]] for (uint i = 0; i < TM; ++i)
        [[unroll]] for (uint j = 0; j < TN; ++j) acc[i][j] = ACC(0);

    for (uint k0 = 0; k0 < p.k; k0 += BK) {
        for (uint e = tid; e < G * BM * BK; e += nthreads) {
            uint z, i, kk;
            if (A_ORDER == 0) kk = e % BK, z = (e / BK) % G, i = e / (BK * G);
            else if (A_ORDER == 1) z = e % G, kk = (e / G) % BK, i = e / (G * BK);
            else i = e % BM, z = (e / BM) % G, kk = e / (BM * G);
            const uint gz = z0 + z, gi = m0 + i, gk = k0 + kk;
            ACC v = ACC(0);
            if (gz < p.blocks && gi < p.m && gk < bmm_k_extent(gz))
                v = to_acc(TBuf(t_addr(p.a, uint64_t(gz) * p.a_bs)).v[gi * p.a_rs + gk * p.a_cs]);
            As[(kk * G + z) * SA + i] = v;
        }
        for (uint e = tid; e < G * BN * BK; e += nthreads) {
            uint z, j, kk;
            if (B_ORDER == 0) kk = e % BK, j = (e / BK) % BN, z = e / (BK * BN);
            else if (B_ORDER == 1) z = e % G, kk = (e / G) % BK, j = e / (G * BK);
            else j = e % BN, z = (e / BN) % G, kk = e / (BN * G);
            const uint gz = z0 + z, gj = n0 + j, gk = k0 + kk;
            ACC v = ACC(0);
            if (gz < p.blocks && gj < bmm_n_extent(gz) && gk < bmm_k_extent(gz))
                v = to_acc(TBuf(t_addr(p.b, uint64_t(gz) * p.b_bs)).v[gk * p.b_rs + gj * p.b_cs]);
            Bs[(kk * G + z) * SB + j] = v;
        }
        barrier();
        [[unroll]] for (uint kk = 0; kk < BK; ++kk) {
            ACC ar[TM], br[TN];
            [[unroll]] for (uint i = 0; i < TM; ++i) ar[i] = As[(kk * G + tz) * SA + ti * TM + i];
            [[unroll]] for (uint j = 0; j < TN; ++j) br[j] = Bs[(kk * G + tz) * SB + tj + j * TX];
            [[unroll]] for (uint i = 0; i < TM; ++i)
                [[unroll]] for (uint j = 0; j < TN; ++j) acc[i][j] = fma(ar[i], br[j], acc[i][j]);
        }
        barrier();
    }

    const uint z = z0 + tz;
    if (z >= p.blocks) return;
    const uint nz = bmm_n_extent(z);
    TBuf C = TBuf(t_addr(p.c, uint64_t(z) * p.c_bs));
    const uint64_t bias_base = p.bias == 0 ? 0 : t_addr(p.bias, uint64_t(z) * p.bias_bs);
    [[unroll]] for (uint i = 0; i < TM; ++i) {
        const uint gi = m0 + ti * TM + i;
        if (gi >= p.m) break;
        [[unroll]] for (uint j = 0; j < TN; ++j) {
            const uint gj = n0 + tj + j * TX;
            if (gj >= nz) continue;
            ACC v = acc[i][j];
            if (p.accumulate != 0) v += to_acc(C.v[gi * p.c_rs + gj * p.c_cs]);
            if (bias_base != 0) v += to_acc(TBuf(bias_base).v[gj * p.bias_cs]);
            C.v[gi * p.c_rs + gj * p.c_cs] = from_acc(VKS_ACTIVATE(ACC, v, ACT));
        }
    }
}
