//! variants: f32 f16
// Fused LoRA for few rows (decode): per row s of the tile (row(s) of x and y, adapter a(s))
//   y[row, o] = beta*y[row, o] + sum_k x[row, k] W[o, k] + sum_c t[s, c] E_a(o, c) + bias[o]
// Each subgroup owns NC output columns; its lanes split the reduction dimension in vectors
// of V elements (consecutive lanes read consecutive vectors of a row of W: coalesced on
// GPUs, one wide load per lane on lavapipe), keep every row of the tile in registers, and
// reduce with subgroupAdd at the end. W is read once per tile of rows; the expand (t in f32,
// E = the adapter's B) runs in the same loop structure before the reduction, so it is the
// GEMM's epilogue at no extra pass over y. Rows of several adapters: each adapter present in
// the tile is visited once, its E rows loaded once for all its rows.
#version 460
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#include "common/dtype.glsl"

layout(local_size_x_id = 0) in;                    // subgroup size * subgroups per workgroup
layout(constant_id = 1) const uint MT = 1;         // rows (slots) per workgroup
layout(constant_id = 2) const uint NC = 4;         // output columns per subgroup
layout(constant_id = 3) const bool WIDE = false;   // 16-byte loads (GPUs) or 8-byte (lavapipe)
layout(constant_id = 9) const uint KU = 1;           // vectors of W per lane in flight per row (unroll)

#include "common/lowrank.glsl"

// Mirrored by lr_fused_push in backend/ops/lowrank.c.
layout(push_constant) uniform Push {
    uint64_t x, w, y, bias;           // bias 0 = none
    uint64_t t, adapters;             // t: f32 (m, ldt); adapters: LoraAdapter table (0 = no expand)
    uint64_t slot_row, slot_adapter;  // uint (m) / int (m); 0 = identity / adapter 0
    uint m, n, k, ldx;
    uint ldw, ldy, ldt, flags; // flags: LR_VEC_BASE 1, LR_VEC_T 2, LR_PRODUCT 4
    float beta;
    uint tsplits, tstride; // t is the sum of tsplits partial arrays tstride floats apart
} p;

// Choices that do not change the code's shape are uniform branches on push constants rather
// than specialization constants: fewer pipelines to compile.
#define VEC_BASE ((p.flags & 1u) != 0u) // x and W rows vector-aligned: vector loads along k
#define VEC_T ((p.flags & 2u) != 0u)    // t rows vector-aligned
#define PRODUCT ((p.flags & 4u) != 0u)  // E is RandLoRA's product operand
#define HAS_BASE (p.w != 0)             // the x W^T term
#define MULTI (p.slot_adapter != 0)     // per-slot adapters (else adapter 0 for all)

void main() {
    const uint lane = gl_SubgroupInvocationID, sgs = gl_SubgroupSize;
    const uint col0 = (gl_WorkGroupID.x * gl_NumSubgroups + gl_SubgroupID) * NC;
    const uint slot0 = gl_WorkGroupID.y * MT;
    if (col0 >= p.n) return; // a whole subgroup leaves; no barriers below
    const uint mt = min(MT, p.m - slot0); // live rows of the tile (the rest are skipped)

    uint rows[MT];
    int ad[MT]; // adapter of each slot, -1 = base only (also for slots past m)
    [[unroll]] for (uint i = 0; i < MT; ++i) {
        const uint s = min(slot0 + i, p.m - 1);
        rows[i] = p.slot_row != 0 ? UintBuf(p.slot_row).v[s] : s;
        ad[i] = slot0 + i >= p.m ? -1 : (MULTI ? IntBuf(p.slot_adapter).v[s] : 0);
    }
    uint cols[NC];
    [[unroll]] for (uint c = 0; c < NC; ++c) cols[c] = min(col0 + c, p.n - 1);

    float acc[MT][NC];
    [[unroll]] for (uint i = 0; i < MT; ++i)
        [[unroll]] for (uint c = 0; c < NC; ++c) acc[i][c] = 0.0;

    if (HAS_BASE) {
        uint kv = 0; // start of the scalar tail
        if (VEC_BASE) {
            kv = p.k / V * V;
            // KU vectors of each W row per lane and iteration: all of their loads are issued
            // before the first is used, so more bytes are in flight (GPUs; KU = 1 on lavapipe).
            for (uint kb = lane * V; kb < kv; kb += KU * sgs * V) {
                float wv[KU][NC][VMAX];
                [[unroll]] for (uint u = 0; u < KU; ++u) {
                    const uint ku = kb + u * sgs * V;
                    [[unroll]] for (uint c = 0; c < NC; ++c) {
                        if (ku < kv) load_tv(p.w, cols[c] * p.ldw + ku, wv[u][c]);
                        else [[unroll]] for (uint j = 0; j < VMAX; ++j) wv[u][c][j] = 0.0;
                    }
                }
                [[unroll]] for (uint u = 0; u < KU; ++u) {
                    const uint ku = kb + u * sgs * V;
                    if (ku >= kv) break;
                    [[unroll]] for (uint i = 0; i < MT; ++i) {
                        if (i >= mt) break;
                        float xv[VMAX];
                        load_tv(p.x, rows[i] * p.ldx + ku, xv);
                        [[unroll]] for (uint c = 0; c < NC; ++c)
                            [[unroll]] for (uint j = 0; j < V; ++j) acc[i][c] = fma(xv[j], wv[u][c][j], acc[i][c]);
                    }
                }
            }
        }
        for (uint kk = kv + lane; kk < p.k; kk += sgs) {
            float wv[NC];
            [[unroll]] for (uint c = 0; c < NC; ++c) wv[c] = load_t(p.w, cols[c] * p.ldw + kk);
            [[unroll]] for (uint i = 0; i < MT; ++i) {
                if (i >= mt) break;
                const float xv = load_t(p.x, rows[i] * p.ldx + kk);
                [[unroll]] for (uint c = 0; c < NC; ++c) acc[i][c] = fma(xv, wv[c], acc[i][c]);
            }
        }
    }

    // The expand, one adapter of the tile at a time, in increasing id order.
    int cur = -1;
    while (p.adapters != 0) {
        int a = 0x7FFFFFFF;
        [[unroll]] for (uint i = 0; i < MT; ++i)
            if (ad[i] > cur) a = min(a, ad[i]);
        if (a == 0x7FFFFFFF) break;
        cur = a;
        const LoraAdapter L = AdapterBuf(p.adapters).v[a];
        uint cv = 0;
        if (!PRODUCT && VEC_T && L.e_vec != 0) {
            cv = L.rank / V * V;
            for (uint cb = lane * V; cb < cv; cb += sgs * V) {
                float ev[NC][VMAX];
                [[unroll]] for (uint c = 0; c < NC; ++c) load_tv(L.e, cols[c] * L.e_ld + cb, ev[c]);
                [[unroll]] for (uint i = 0; i < MT; ++i) {
                    if (ad[i] != a) continue;
                    float tv[VMAX];
                    load_fv(p.t, (slot0 + i) * p.ldt + cb, tv);
                    for (uint z = 1; z < p.tsplits; ++z) {
                        float tz[VMAX];
                        load_fv(p.t, z * p.tstride + (slot0 + i) * p.ldt + cb, tz);
                        [[unroll]] for (uint j = 0; j < VMAX; ++j) tv[j] += tz[j];
                    }
                    [[unroll]] for (uint c = 0; c < NC; ++c)
                        [[unroll]] for (uint j = 0; j < V; ++j) acc[i][c] = fma(tv[j], ev[c][j], acc[i][c]);
                }
            }
        }
        for (uint cc = cv + lane; cc < L.rank; cc += sgs) {
            float ev[NC];
            [[unroll]] for (uint c = 0; c < NC; ++c) {
                if (PRODUCT) // RandLoRA's Â_flat[cc, o] = λ-scaled in t; here A[ρ, o] * γ[i, o]
                    ev[c] = load_t(L.e, (cc / L.nb) * L.e_ld + cols[c]) * load_t(L.g, (cc % L.nb) * L.g_ld + cols[c]);
                else
                    ev[c] = load_t(L.e, cols[c] * L.e_ld + cc);
            }
            [[unroll]] for (uint i = 0; i < MT; ++i) {
                if (ad[i] != a) continue;
                float tv = 0.0;
                for (uint z = 0; z < p.tsplits; ++z) tv += F32Buf(p.t).v[z * p.tstride + (slot0 + i) * p.ldt + cc];
                [[unroll]] for (uint c = 0; c < NC; ++c) acc[i][c] = fma(tv, ev[c], acc[i][c]);
            }
        }
    }

    // Reduce over the lanes; lane (i*NC + c) mod subgroup size writes element (i, c).
    [[unroll]] for (uint i = 0; i < MT; ++i)
        [[unroll]] for (uint c = 0; c < NC; ++c) {
            float v = subgroupAdd(acc[i][c]);
            if (lane != (i * NC + c) % sgs || slot0 + i >= p.m || col0 + c >= p.n) continue;
            const uint o = col0 + c, idx = rows[i] * p.ldy + o;
            if (p.bias != 0) v += load_t(p.bias, o);
            if (p.beta != 0.0) v += p.beta * load_t(p.y, idx);
            TBuf(p.y).v[idx] = from_acc(v);
        }
}
