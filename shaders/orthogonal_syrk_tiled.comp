//! variants: f32 f16 f64
// SYRK for GPUs: the lower triangle of op(S) op(S)^T in BT x BT tiles staged through shared
// memory (as gemm_tiled.comp, with A = op(S) and B = op(S)^T); tiles above the diagonal
// return at once, so half the multiply-adds of a GEMM are done. With MIRROR each value is
// also stored at its transposed place.
#version 460
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "common/dtype.glsl"
#include "common/orthogonal_syrk_push.glsl"

layout(local_size_x_id = 0) in; // (BT/TT)^2
layout(constant_id = 1) const uint BT = 128;
layout(constant_id = 2) const uint BK = 8;
layout(constant_id = 3) const uint TT = 8;
layout(constant_id = 4) const bool TRANS = false;
layout(constant_id = 5) const bool MIRROR = true;

const uint SP = BT + 4;
shared ACC As[BK * SP];
shared ACC Bs[BK * SP];

void main() {
    const uint tx_tile = gl_WorkGroupID.x, ty_tile = gl_WorkGroupID.y;
    if (tx_tile > ty_tile) return; // tile above the diagonal
    const uint tid = gl_LocalInvocationID.x;
    const uint nthreads = gl_WorkGroupSize.x;
    const uint TX = BT / TT;
    const uint tx = tid % TX, ty = tid / TX;
    const uint m0 = ty_tile * BT, n0 = tx_tile * BT;
    const uint64_t z = gl_WorkGroupID.z;
    TBuf S = TBuf(t_addr(p.s, z * p.stride_s));

    ACC acc[TT][TT];
    [[unroll]] for (uint i = 0; i < TT; ++i)
        [[unroll]] for (uint j = 0; j < TT; ++j) acc[i][j] = ACC(0);

    for (uint k0 = 0; k0 < p.k; k0 += BK) {
        // Rows m0.. of op(S) into As, rows n0.. into Bs, walking memory contiguously.
        for (uint e = tid; e < BT * BK; e += nthreads) {
            uint i = TRANS ? e % BT : e / BK;
            uint kk = TRANS ? e / BT : e % BK;
            uint gk = k0 + kk;
            ACC va = ACC(0), vb = ACC(0);
            if (gk < p.k) {
                uint ga = m0 + i, gb = n0 + i;
                if (ga < p.n) va = to_acc(TRANS ? S.v[gk * p.lda + ga] : S.v[ga * p.lda + gk]);
                if (gb < p.n) vb = to_acc(TRANS ? S.v[gk * p.lda + gb] : S.v[gb * p.lda + gk]);
            }
            As[kk * SP + i] = va;
            Bs[kk * SP + i] = vb;
        }
        barrier();
        [[unroll]] for (uint kk = 0; kk < BK; ++kk) {
            ACC ar[TT], br[TT];
            [[unroll]] for (uint i = 0; i < TT; ++i) ar[i] = As[kk * SP + ty * TT + i];
            [[unroll]] for (uint j = 0; j < TT; ++j) br[j] = Bs[kk * SP + tx + j * TX];
            [[unroll]] for (uint i = 0; i < TT; ++i)
                [[unroll]] for (uint j = 0; j < TT; ++j) acc[i][j] = fma(ar[i], br[j], acc[i][j]);
        }
        barrier();
    }

    TBuf C = TBuf(t_addr(p.cout, z * p.stride_cout));
    [[unroll]] for (uint i = 0; i < TT; ++i) {
        uint gi = m0 + ty * TT + i;
        if (gi >= p.n) break;
        [[unroll]] for (uint j = 0; j < TT; ++j) {
            uint gj = n0 + tx + j * TX;
            if (gj >= p.n || gj > gi) continue;
            const ACC v = syrk_value(acc[i][j], gi, gj, z); // (a T in registers would need f16 arithmetic)
            C.v[gi * p.ldc_out + gj] = from_acc(v);
            if (MIRROR && gi != gj) C.v[gj * p.ldc_out + gi] = from_acc(v);
        }
    }
}
