//! variants: f32 f16
// Fused LoRA for many rows on CPU devices (lavapipe), after gemm_regtile.comp: each lane
// loads different rows of x and hands them to the others with subgroupShuffle; W is read
// as rows along k with 64-bit loads (two f32 or four f16 per load); TM slots x SG*TN
// columns per workgroup (one subgroup). The expand is a second reduction into the same
// register tile: t (f32, scaled) against the adapter's E = B rows, pairs along the rank;
// rows of several adapters in one tile take one pass per adapter present.
//   y[row(s), o] = beta*y + sum_k x[row(s), k] W[o, k] + sum_c t[s, c] E_a(o, c) + bias[o]
#version 460
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#include "common/dtype.glsl"

layout(local_size_x_id = 0) in;                      // = SG
layout(constant_id = 1) const uint TM = 16;          // slots per workgroup (a multiple of SG)
layout(constant_id = 2) const uint TN = 8;           // columns per lane
layout(constant_id = 3) const bool WIDE = false;     // (8-byte loads; the common helpers want it)
layout(constant_id = 8) const uint SG = 8;

#include "common/lowrank.glsl"

// Mirrored by lr_fused_push in backend/ops/lowrank.c.
layout(push_constant) uniform Push {
    uint64_t x, w, y, bias;
    uint64_t t, adapters;
    uint64_t slot_row, slot_adapter;
    uint m, n, k, ldx;
    uint ldw, ldy, ldt, flags; // flags: LR_VEC_BASE 1, LR_VEC_T 2
    float beta;
    uint tsplits, tstride; // (gemv only; 1 here)
} p;

// Uniform branches on push constants rather than specialization constants (fewer pipelines).
#define VEC_BASE ((p.flags & 1u) != 0u) // x and W rows 8-byte aligned: 64-bit loads along k
#define VEC_T ((p.flags & 2u) != 0u)    // t rows 8-byte aligned (pairs along the rank)
#define HAS_BASE (p.w != 0)
#define MULTI (p.slot_adapter != 0)

const uint AS = TM / SG;       // slots a lane loads for the others
const uint KV = 8 / T_BYTES;   // elements of T per 64-bit load

void load_kv(uint64_t base, uint e, out float f[4]) {
    uvec2 u = unpackUint2x32(U64Buf(base).v[e / KV]);
#if defined(VKS_DTYPE_F16)
    vec2 h0 = unpackHalf2x16(u.x), h1 = unpackHalf2x16(u.y);
    f[0] = h0.x, f[1] = h0.y, f[2] = h1.x, f[3] = h1.y;
#else
    f[0] = uintBitsToFloat(u.x), f[1] = uintBitsToFloat(u.y), f[2] = 0.0, f[3] = 0.0;
#endif
}

// Two neighbouring elements e, e + 1 (e even, the pair aligned) with one load.
vec2 load_t2(uint64_t base, uint e) {
#if defined(VKS_DTYPE_F16)
    return unpackHalf2x16(UintBuf(base).v[e >> 1]);
#else
    return uintBitsToFloat(unpackUint2x32(U64Buf(base).v[e >> 1]));
#endif
}
vec2 load_f2(uint64_t base, uint e) { return uintBitsToFloat(unpackUint2x32(U64Buf(base).v[e >> 1])); }

void main() {
    const uint lane = gl_SubgroupInvocationID;
    const uint m0 = gl_WorkGroupID.y * TM, n0 = gl_WorkGroupID.x * (SG * TN);
    const uint mlast = p.m - 1, nlast = p.n - 1;

    uint arow[AS]; // rows of x this lane loads: slot m0 + lane + SG*s
    int aad[AS];   // their adapters (-1: base only, or past m)
    [[unroll]] for (uint s = 0; s < AS; ++s) {
        const uint slot = min(m0 + lane + SG * s, mlast);
        arow[s] = p.slot_row != 0 ? UintBuf(p.slot_row).v[slot] : slot;
        aad[s] = m0 + lane + SG * s > mlast ? -1 : (MULTI ? IntBuf(p.slot_adapter).v[slot] : 0);
    }
    uint bcol[TN];
    [[unroll]] for (uint j = 0; j < TN; ++j) bcol[j] = min(n0 + lane + SG * j, nlast);

    float acc[TM][TN];
    [[unroll]] for (uint i = 0; i < TM; ++i)
        [[unroll]] for (uint j = 0; j < TN; ++j) acc[i][j] = 0.0;

    if (HAS_BASE) {
        const uint kv_end = VEC_BASE ? p.k / KV * KV : 0;
        for (uint k0 = 0; k0 < kv_end; k0 += KV) {
            float av[AS][4], bv[TN][4];
            [[unroll]] for (uint s = 0; s < AS; ++s) load_kv(p.x, arow[s] * p.ldx + k0, av[s]);
            [[unroll]] for (uint j = 0; j < TN; ++j) load_kv(p.w, bcol[j] * p.ldw + k0, bv[j]);
            [[unroll]] for (uint kk = 0; kk < KV; ++kk)
                [[unroll]] for (uint i = 0; i < TM; ++i) {
                    const float a = subgroupShuffle(av[i / SG][kk], i % SG);
                    [[unroll]] for (uint j = 0; j < TN; ++j) acc[i][j] = fma(a, bv[j][kk], acc[i][j]);
                }
        }
        for (uint kk = kv_end; kk < p.k; ++kk) {
            float av[AS], bv[TN];
            [[unroll]] for (uint s = 0; s < AS; ++s) av[s] = load_t(p.x, arow[s] * p.ldx + kk);
            [[unroll]] for (uint j = 0; j < TN; ++j) bv[j] = load_t(p.w, bcol[j] * p.ldw + kk);
            [[unroll]] for (uint i = 0; i < TM; ++i) {
                const float a = subgroupShuffle(av[i / SG], i % SG);
                [[unroll]] for (uint j = 0; j < TN; ++j) acc[i][j] = fma(a, bv[j], acc[i][j]);
            }
        }
    }

    // The expand, one adapter present in the tile at a time (increasing ids).
    int cur = -1;
    while (p.adapters != 0) {
        int mine = 0x7FFFFFFF;
        [[unroll]] for (uint s = 0; s < AS; ++s)
            if (aad[s] > cur) mine = min(mine, aad[s]);
        const int a = subgroupMin(mine);
        if (a == 0x7FFFFFFF) break;
        cur = a;
        const LoraAdapter L = AdapterBuf(p.adapters).v[a];
        const uint c_end = (VEC_T && L.e_vec != 0) ? L.rank & ~1u : 0;
        for (uint c0 = 0; c0 < c_end; c0 += 2) {
            vec2 tv[AS], ev[TN];
            [[unroll]] for (uint s = 0; s < AS; ++s)
                tv[s] = aad[s] == a ? load_f2(p.t, (m0 + lane + SG * s) * p.ldt + c0) : vec2(0.0);
            [[unroll]] for (uint j = 0; j < TN; ++j) ev[j] = load_t2(L.e, bcol[j] * L.e_ld + c0);
            [[unroll]] for (uint kk = 0; kk < 2; ++kk)
                [[unroll]] for (uint i = 0; i < TM; ++i) {
                    const float tval = subgroupShuffle(tv[i / SG][kk], i % SG);
                    [[unroll]] for (uint j = 0; j < TN; ++j) acc[i][j] = fma(tval, ev[j][kk], acc[i][j]);
                }
        }
        for (uint c = c_end; c < L.rank; ++c) {
            float tv[AS], ev[TN];
            [[unroll]] for (uint s = 0; s < AS; ++s)
                tv[s] = aad[s] == a ? F32Buf(p.t).v[(m0 + lane + SG * s) * p.ldt + c] : 0.0;
            [[unroll]] for (uint j = 0; j < TN; ++j) ev[j] = load_t(L.e, bcol[j] * L.e_ld + c);
            [[unroll]] for (uint i = 0; i < TM; ++i) {
                const float tval = subgroupShuffle(tv[i / SG], i % SG);
                [[unroll]] for (uint j = 0; j < TN; ++j) acc[i][j] = fma(tval, ev[j], acc[i][j]);
            }
        }
    }

    [[unroll]] for (uint i = 0; i < TM; ++i) {
        const uint slot = m0 + i;
        if (slot >= p.m) break;
        const uint row = p.slot_row != 0 ? UintBuf(p.slot_row).v[slot] : slot;
        [[unroll]] for (uint j = 0; j < TN; ++j) {
            const uint o = n0 + lane + SG * j;
            if (o >= p.n) continue;
            float v = acc[i][j];
            if (p.bias != 0) v += load_t(p.bias, o);
            if (p.beta != 0.0) v += p.beta * load_t(p.y, row * p.ldy + o);
            TBuf(p.y).v[row * p.ldy + o] = from_acc(v);
        }
    }
}
