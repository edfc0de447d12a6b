//! variants: f32 f16
// The LoRA shrink, for any number of adapters: per slot s of the tile (row(s) of x, adapter a)
//   t[s, c] = scale_a * post_a[c] * sum_k x[row, k] S_a(c, k)      for c < rank_a
// with t in f32. Each subgroup owns NC columns of t; its lanes split k in vectors of V
// elements (coalesced rows of x and S), all rows of the tile accumulate in registers and
// subgroupAdd reduces at the end. Each adapter present in the tile is visited once: its
// rows of S are loaded once for all of its slots. S is A_a (plain), or for RandLoRA
// B_flat read transposed, or the product A[ρ]·γ[i] of Â_flat formed on the fly.
#version 460
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#include "common/dtype.glsl"

layout(local_size_x_id = 0) in;                  // subgroup size * subgroups per workgroup
layout(constant_id = 1) const uint MT = 1;       // slots per workgroup
layout(constant_id = 2) const uint NC = 4;       // columns of t per subgroup
layout(constant_id = 3) const bool WIDE = false;
layout(constant_id = 6) const uint S_MODE = 0;    // 0 plain, 1 transposed, 2 product

#include "common/lowrank.glsl"

// Mirrored by lr_shrink_push in backend/ops/lowrank.c.
layout(push_constant) uniform Push {
    uint64_t x, t, adapters, slot_row, slot_adapter;
    uint m, k, ldx, ldt;
    uint kchunk;  // k per workgroup along z (a multiple of V): split-K for few rows
    uint tstride; // floats between the partial t of consecutive splits
    uint kbase;   // first k of this dispatch (slices on CPU devices, see lowrank.c), a multiple of V
    uint accum;   // 1: add to t (a later slice); 0: write it
    uint flags;   // 1: x rows vector-aligned
} p;

// Uniform branches on push constants rather than specialization constants (fewer pipelines).
#define VEC_X ((p.flags & 1u) != 0u)
#define MULTI (p.slot_adapter != 0)

// S(c, k) of adapter L, scalar.
float s_at(LoraAdapter L, uint c, uint kk) {
    if (S_MODE == 1) return load_t(L.s, kk * L.s_ld + c);
    if (S_MODE == 2) return load_t(L.s, (c / L.nb) * L.s_ld + kk) * load_t(L.g, (c % L.nb) * L.g_ld + kk);
    return load_t(L.s, c * L.s_ld + kk);
}

void main() {
    const uint lane = gl_SubgroupInvocationID, sgs = gl_SubgroupSize;
    const uint col0 = (gl_WorkGroupID.x * gl_NumSubgroups + gl_SubgroupID) * NC;
    const uint slot0 = gl_WorkGroupID.y * MT;

    uint rows[MT];
    int ad[MT];
    [[unroll]] for (uint i = 0; i < MT; ++i) {
        const uint s = min(slot0 + i, p.m - 1);
        rows[i] = p.slot_row != 0 ? UintBuf(p.slot_row).v[s] : s;
        ad[i] = slot0 + i >= p.m ? -1 : (MULTI ? IntBuf(p.slot_adapter).v[s] : 0);
    }

    int cur = -1;
    while (true) {
        int a = 0x7FFFFFFF;
        [[unroll]] for (uint i = 0; i < MT; ++i)
            if (ad[i] > cur) a = min(a, ad[i]);
        if (a == 0x7FFFFFFF) break;
        cur = a;
        const LoraAdapter L = AdapterBuf(p.adapters).v[a];
        if (col0 >= L.rank) continue; // this subgroup's columns are past the adapter's rank
        uint cols[NC];
        [[unroll]] for (uint c = 0; c < NC; ++c) cols[c] = min(col0 + c, L.rank - 1);

        float acc[MT][NC];
        [[unroll]] for (uint i = 0; i < MT; ++i)
            [[unroll]] for (uint c = 0; c < NC; ++c) acc[i][c] = 0.0;
        // This workgroup's part of k: [kbeg, kend); the splits' partial sums are added by
        // the kernel that reads t.
        const uint kbeg = p.kbase + gl_WorkGroupID.z * p.kchunk, kend = min(p.k, kbeg + p.kchunk);
        uint kv = kbeg;
        if (VEC_X && S_MODE != 1 && L.s_vec != 0 && kbeg < kend) {
            kv = kbeg + (kend - kbeg) / V * V;
            for (uint kb = kbeg + lane * V; kb < kv; kb += sgs * V) {
                float sv[NC][VMAX];
                [[unroll]] for (uint c = 0; c < NC; ++c) {
                    if (S_MODE == 2) {
                        float av[VMAX], gv[VMAX];
                        load_tv(L.s, (cols[c] / L.nb) * L.s_ld + kb, av);
                        load_tv(L.g, (cols[c] % L.nb) * L.g_ld + kb, gv);
                        [[unroll]] for (uint j = 0; j < V; ++j) sv[c][j] = av[j] * gv[j];
                    } else {
                        load_tv(L.s, cols[c] * L.s_ld + kb, sv[c]);
                    }
                }
                [[unroll]] for (uint i = 0; i < MT; ++i) {
                    if (ad[i] != a) continue;
                    float xv[VMAX];
                    load_tv(p.x, rows[i] * p.ldx + kb, xv);
                    [[unroll]] for (uint c = 0; c < NC; ++c)
                        [[unroll]] for (uint j = 0; j < V; ++j) acc[i][c] = fma(xv[j], sv[c][j], acc[i][c]);
                }
            }
        }
        for (uint kk = kv + lane; kk < kend; kk += sgs) {
            float sv[NC];
            [[unroll]] for (uint c = 0; c < NC; ++c) sv[c] = s_at(L, cols[c], kk);
            [[unroll]] for (uint i = 0; i < MT; ++i) {
                if (ad[i] != a) continue;
                const float xv = load_t(p.x, rows[i] * p.ldx + kk);
                [[unroll]] for (uint c = 0; c < NC; ++c) acc[i][c] = fma(xv, sv[c], acc[i][c]);
            }
        }
        [[unroll]] for (uint i = 0; i < MT; ++i) {
            if (ad[i] != a) continue;
            [[unroll]] for (uint c = 0; c < NC; ++c) {
                float v = subgroupAdd(acc[i][c]);
                if (lane != (i * NC + c) % sgs || col0 + c >= L.rank) continue;
                v *= L.scale;
                if (L.post != 0) v *= load_t(L.post, col0 + c);
                const uint idx = gl_WorkGroupID.z * p.tstride + (slot0 + i) * p.ldt + col0 + c;
                if (p.accum != 0) v += F32Buf(p.t).v[idx];
                F32Buf(p.t).v[idx] = v;
            }
        }
    }
}
