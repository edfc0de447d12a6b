// The kernel of monarch_bmm_coopmat.comp (tensor cores) and monarch_bmm_coopmat_emu.comp (the
// same tiles with the fragment operations emulated, so that the tiling, staging, fragment
// offsets and epilogue are tested on devices without cooperative matrices). The including
// file defines MON_SUBGROUP_ID, FRAGS_DECLARE, ZERO_C(i, j), LOAD_A(i, offset) (from As, row
// stride SAK), LOAD_B(j, offset) (from Bs, row stride SBN), MMA(i, j) (acc[i][j] += a[i] b[j])
// and STORE_C(i, j, offset) (into Cs, row stride SCN), all on 16 x 16 row-major fragments.
layout(constant_id = 1) const bool A_KC = true; // A contiguous along k (else along rows)
layout(constant_id = 2) const bool B_NC = true; // B contiguous along n (else along k)
layout(constant_id = 3) const uint ACT = 0;
layout(constant_id = 4) const bool BLOCK_FASTEST = false; // as in monarch_bmm_tiled

const uint BM = 64, BN = 64, BK = 32;
// Row strides of the staging tiles in elements: multiples of 8 halves / 4 floats (16 bytes),
// as cooperative loads and stores want, padded against bank conflicts.
const uint SAK = BK + 8, SBN = BN + 8, SCN = BN + 4;
shared float16_t As[BM * SAK];
shared float16_t Bs[BK * SBN];
shared float Cs[BM * SCN];

#ifdef MON_EMULATE_COOPMAT
#include "common/monarch_coopmat_emu.glsl"
#endif

void main() {
    const uint tid = gl_LocalInvocationID.x, nthreads = gl_WorkGroupSize.x;
    const uint sg = MON_SUBGROUP_ID, sr = sg / 2, sc = sg % 2; // this subgroup's 32 x 32 quarter
    uint z = gl_WorkGroupID.z, row_tile = gl_WorkGroupID.y, col_tile = gl_WorkGroupID.x;
    if (BLOCK_FASTEST) {
        const uint id = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
        z = id % p.blocks;
        col_tile = (id / p.blocks) % p.col_tiles;
        row_tile = id / (p.blocks * p.col_tiles);
    }
    const uint m0 = row_tile * BM, n0 = col_tile * BN;
    const uint kz = bmm_k_extent(z), nz = bmm_n_extent(z);
    if (n0 >= nz || m0 >= p.m) return; // uniform across the workgroup
    TBuf A = TBuf(t_addr(p.a, uint64_t(z) * p.a_bs));
    TBuf B = TBuf(t_addr(p.b, uint64_t(z) * p.b_bs));

    FRAGS_DECLARE;
    // [[unroll]] on every loop over fragments: NVIDIA keeps fragment arrays indexed by a
    // loop variable in local memory (docs/bench/h100-notes.md).
    [[unroll]] for (uint i = 0; i < 2; ++i)
        [[unroll]] for (uint j = 0; j < 2; ++j) ZERO_C(i, j);

    for (uint k0 = 0; k0 < kz; k0 += BK) {
        for (uint e = tid; e < BM * BK; e += nthreads) {
            const uint i = A_KC ? e / BK : e % BM, kk = A_KC ? e % BK : e / BM;
            const uint gi = m0 + i, gk = k0 + kk;
            As[i * SAK + kk] = gi < p.m && gk < kz ? A.v[gi * p.a_rs + gk * p.a_cs] : float16_t(0);
        }
        for (uint e = tid; e < BK * BN; e += nthreads) {
            const uint j = B_NC ? e % BN : e / BK, kk = B_NC ? e / BN : e % BK;
            const uint gj = n0 + j, gk = k0 + kk;
            Bs[kk * SBN + j] = gj < nz && gk < kz ? B.v[gk * p.b_rs + gj * p.b_cs] : float16_t(0);
        }
        barrier();
        [[unroll]] for (uint kk = 0; kk < BK; kk += 16) {
            [[unroll]] for (uint i = 0; i < 2; ++i) LOAD_A(i, (sr * 32 + i * 16) * SAK + kk);
            [[unroll]] for (uint j = 0; j < 2; ++j) LOAD_B(j, kk * SBN + sc * 32 + j * 16);
            [[unroll]] for (uint i = 0; i < 2; ++i)
                [[unroll]] for (uint j = 0; j < 2; ++j) MMA(i, j);
        }
        barrier();
    }
    [[unroll]] for (uint i = 0; i < 2; ++i)
        [[unroll]] for (uint j = 0; j < 2; ++j) STORE_C(i, j, (sr * 32 + i * 16) * SCN + sc * 32 + j * 16);
    barrier();

    TBuf C = TBuf(t_addr(p.c, uint64_t(z) * p.c_bs));
    const uint64_t bias_base = p.bias == 0 ? 0 : t_addr(p.bias, uint64_t(z) * p.bias_bs);
    for (uint e = tid; e < BM * BN; e += nthreads) {
        const uint i = e / BN, j = e % BN, gi = m0 + i, gj = n0 + j;
        if (gi >= p.m || gj >= nz) continue;
        float v = Cs[i * SCN + j];
        if (p.accumulate != 0) v += float(C.v[gi * p.c_rs + gj * p.c_cs]);
        if (bias_base != 0) v += float(TBuf(bias_base).v[gj * p.bias_cs]);
        C.v[gi * p.c_rs + gj * p.c_cs] = float16_t(VKS_ACTIVATE(float, v, ACT));
    }
}
