//! variants: f32 f16
// Fused LoRA for many rows on GPUs, after gemm_tiled.comp: BM x BN tiles of y per
// workgroup staged through shared memory BK at a time, TM x TN registers per invocation.
// x rows are gathered through the slot table, W is read along k (its rows), and the
// expand is a second pass of the same tile loop over t (f32) and the adapter's E = B, one
// pass per adapter present among the tile's rows (the others' t rows load as zeros).
//   y[row(s), o] = beta*y + sum_k x[row(s), k] W[o, k] + sum_c t[s, c] E_a(o, c) + bias[o]
#version 460
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "common/dtype.glsl"
#include "common/tile_order.glsl"

layout(local_size_x_id = 0) in; // (BM/TM) * (BN/TN)
layout(constant_id = 1) const uint BM = 64;
layout(constant_id = 2) const uint BN = 64;
layout(constant_id = 3) const uint BK = 16;
layout(constant_id = 4) const uint TM = 4;
layout(constant_id = 5) const uint TN = 4;
layout(constant_id = 8) const bool WIDE = false; // (unused; the common helpers want it)

#include "common/lowrank.glsl"

// Mirrored by lr_fused_push in backend/ops/lowrank.c.
layout(push_constant) uniform Push {
    uint64_t x, w, y, bias;
    uint64_t t, adapters;
    uint64_t slot_row, slot_adapter;
    uint m, n, k, ldx;
    uint ldw, ldy, ldt, flags; // (unused here)
    float beta;
    uint tsplits, tstride; // (gemv only; 1 here)
} p;

#define HAS_BASE (p.w != 0)
#define MULTI (p.slot_adapter != 0)

const uint SA = BM + 4; // padded rows of the tiles: the k-major stores hit distinct banks
const uint SB = BN + 4;
shared float As[BK * SA];
shared float Bs[BK * SB];
shared uint srow[BM];
shared int sad[BM];

void main() {
    const uint tid = gl_LocalInvocationID.x, nthreads = gl_WorkGroupSize.x;
    const uint TX = BN / TN;
    const uint tx = tid % TX, ty = tid / TX;
    const uvec2 tile = vks_grouped_tile(8); // L2 reuse of x rows and W rows, as gemm_tiled
    const uint m0 = tile.x * BM, n0 = tile.y * BN;

    for (uint e = tid; e < BM; e += nthreads) {
        const uint s = min(m0 + e, p.m - 1);
        srow[e] = p.slot_row != 0 ? UintBuf(p.slot_row).v[s] : s;
        sad[e] = m0 + e >= p.m ? -1 : (MULTI ? IntBuf(p.slot_adapter).v[s] : 0);
    }
    barrier();

    float acc[TM][TN];
    [[unroll]] for (uint i = 0; i < TM; ++i)
        [[unroll]] for (uint j = 0; j < TN; ++j) acc[i][j] = 0.0;

    if (HAS_BASE) {
        for (uint k0 = 0; k0 < p.k; k0 += BK) {
            // Both operands are read along k: consecutive invocations, consecutive addresses.
            for (uint e = tid; e < BM * BK; e += nthreads) {
                const uint i = e / BK, kk = e % BK, gk = k0 + kk;
                As[kk * SA + i] = (m0 + i < p.m && gk < p.k) ? load_t(p.x, srow[i] * p.ldx + gk) : 0.0;
            }
            for (uint e = tid; e < BN * BK; e += nthreads) {
                const uint j = e / BK, kk = e % BK, gj = n0 + j, gk = k0 + kk;
                Bs[kk * SB + j] = (gj < p.n && gk < p.k) ? load_t(p.w, gj * p.ldw + gk) : 0.0;
            }
            barrier();
            [[unroll]] for (uint kk = 0; kk < BK; ++kk) {
                float ar[TM], br[TN];
                [[unroll]] for (uint i = 0; i < TM; ++i) ar[i] = As[kk * SA + ty * TM + i];
                [[unroll]] for (uint j = 0; j < TN; ++j) br[j] = Bs[kk * SB + tx + j * TX];
                [[unroll]] for (uint i = 0; i < TM; ++i)
                    [[unroll]] for (uint j = 0; j < TN; ++j) acc[i][j] = fma(ar[i], br[j], acc[i][j]);
            }
            barrier();
        }
    }

    int cur = -1;
    while (p.adapters != 0) {
        int a = 0x7FFFFFFF;
        for (uint i = 0; i < BM; ++i)
            if (sad[i] > cur) a = min(a, sad[i]);
        if (a == 0x7FFFFFFF) break; // the same in every invocation: read from shared memory
        cur = a;
        const LoraAdapter L = AdapterBuf(p.adapters).v[a];
        for (uint c0 = 0; c0 < L.rank; c0 += BK) {
            for (uint e = tid; e < BM * BK; e += nthreads) {
                const uint i = e / BK, cc = e % BK, gc = c0 + cc;
                As[cc * SA + i] = (sad[i] == a && gc < L.rank) ? F32Buf(p.t).v[(m0 + i) * p.ldt + gc] : 0.0;
            }
            for (uint e = tid; e < BN * BK; e += nthreads) {
                const uint j = e / BK, cc = e % BK, gj = n0 + j, gc = c0 + cc;
                Bs[cc * SB + j] = (gj < p.n && gc < L.rank) ? load_t(L.e, gj * L.e_ld + gc) : 0.0;
            }
            barrier();
            [[unroll]] for (uint cc = 0; cc < BK; ++cc) {
                float ar[TM], br[TN];
                [[unroll]] for (uint i = 0; i < TM; ++i) ar[i] = As[cc * SA + ty * TM + i];
                [[unroll]] for (uint j = 0; j < TN; ++j) br[j] = Bs[cc * SB + tx + j * TX];
                [[unroll]] for (uint i = 0; i < TM; ++i)
                    [[unroll]] for (uint j = 0; j < TN; ++j) acc[i][j] = fma(ar[i], br[j], acc[i][j]);
            }
            barrier();
        }
    }

    [[unroll]] for (uint i = 0; i < TM; ++i) {
        const uint li = ty * TM + i;
        if (m0 + li >= p.m) break;
        const uint row = srow[li];
        [[unroll]] for (uint j = 0; j < TN; ++j) {
            const uint o = n0 + tx + j * TX;
            if (o >= p.n) continue;
            float v = acc[i][j];
            if (p.bias != 0) v += load_t(p.bias, o);
            if (p.beta != 0.0) v += p.beta * load_t(p.y, row * p.ldy + o);
            TBuf(p.y).v[row * p.ldy + o] = from_acc(v);
        }
    }
}
