//! variants: f32 f64
// One step of the blocked Cholesky on CPU devices' kernels, for matrix z = workgroup z: the
// workgroup's first subgroup factors the diagonal block L[k0.., k0..] (kb x kb, kb <= NB) in
// place in L. As in orthogonal_chol_small, lane s holds rows s, s + SG, ... of the block in
// registers and the pivot and column entries travel by subgroupShuffle: no barrier and no
// shared memory in the factorization.
// p.rest > 0: after one barrier (the factor handed over in shared memory) all WG invocations
// (WG a multiple of SG) solve the panel below, rows k0+kb .. k0+kb+rest-1 becoming
// A21 inv(L11)^T in place by forward substitution, a row per invocation at a time. p.rest = 0:
// the host solves the panel (orthogonal_trsm_small) reading the factor from L.
// status[2z] holds the first failing pivot (-1 none) and status[2z+1] 1 when that pivot was
// NaN/Inf; it is written after the barrier, once every invocation has read it. From a failing
// pivot f on, the block written back is the identity in rows and columns >= f (rows >= f keep
// their exact entries left of f), so the panel's columns before f stay exact and the later
// values of the failed matrix stay finite for finite input (hygiene: the fixup kernel zeroes
// columns >= f afterwards); a later step of a failed matrix writes the identity into its block
// (the panel solve then leaves the panel as it is).
#version 460
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_shuffle : require
#extension GL_KHR_shader_subgroup_basic : require
#include "common/dtype.glsl"

layout(local_size_x_id = 0) in; // WG
layout(constant_id = 1) const uint NB = 32;
layout(constant_id = 2) const uint SG = 8;

const uint RPL = (NB + SG - 1) / SG; // block rows per lane
const uint SLD = NB; // no padding: NB = 64 in f64 just fits 32 KiB
shared ACC S[NB * SLD]; // the factor, for the fused panel solve

layout(push_constant) uniform Push {
    uint64_t l, w, status;
    uint64_t l_bs;
    uint l_rs, l_cs;
    uint k0, kb;
    uint rest, pad;
} p;

void main() {
    const uint lane = gl_SubgroupInvocationID;
    const uint64_t z = gl_WorkGroupID.z;
    const uint zi = gl_WorkGroupID.z;
    const uint kb = p.kb;
    IntBuf st = IntBuf(p.status);
    TBuf L = TBuf(t_addr(p.l, z * p.l_bs));
    const uint base = p.k0 * p.l_rs + p.k0 * p.l_cs;
    if (st.v[2 * zi] >= 0) { // failed at an earlier block (the same for every invocation)
        if (p.rest > 0 || gl_SubgroupID != 0) return;
        for (uint t = 0; t < RPL; ++t) {
            const uint i = lane + SG * t;
            if (i >= kb) break;
            for (uint c = 0; c <= i; ++c) L.v[base + i * p.l_rs + c * p.l_cs] = T(c == i ? 1 : 0);
        }
        return;
    }
    int fail = -1;
    bool nonfinite = false;
    if (gl_SubgroupID == 0) {
    ACC row[RPL][NB];
    for (uint t = 0; t < RPL; ++t) {
        const uint i = lane + SG * t;
        for (uint c = 0; c < kb; ++c) row[t][c] = (i < kb && c <= i) ? to_acc(L.v[base + i * p.l_rs + c * p.l_cs]) : ACC(0);
    }
    for (uint j = 0; j < kb; ++j) { // j is uniform: every shuffle runs in uniform control flow
        const ACC d = subgroupShuffle(row[j / SG][j], j % SG);
        if (!(d > ACC(0)) || isinf(d)) {
            fail = int(j);
            nonfinite = isnan(d) || isinf(d);
            break;
        }
        const ACC r = sqrt(d), inv = ACC(1) / r;
        for (uint t = 0; t < RPL; ++t) {
            const uint i = lane + SG * t;
            if (i == j) row[t][j] = r;
            else if (i > j && i < kb) row[t][j] *= inv;
        }
        for (uint c = j + 1; c < kb; ++c) {
            const ACC lc = subgroupShuffle(row[c / SG][j], c % SG); // L[c][j]
            for (uint t = 0; t < RPL; ++t) {
                const uint i = lane + SG * t;
                if (i >= c && i < kb) row[t][c] = fma(-row[t][j], lc, row[t][c]);
            }
        }
    }
    const uint keep = fail < 0 ? kb : uint(fail);
    for (uint t = 0; t < RPL; ++t) {
        const uint i = lane + SG * t;
        if (i >= kb) break;
        for (uint c = 0; c <= i; ++c) {
            const ACC v = c < keep ? row[t][c] : ACC(c == i ? 1 : 0);
            L.v[base + i * p.l_rs + c * p.l_cs] = from_acc(v);
            if (p.rest > 0) S[i * SLD + c] = v;
        }
    }
    } // the first subgroup
    // The status after the barrier when there is one: every invocation has read it by then.
    if (p.rest > 0) barrier(); // uniform
    if (gl_LocalInvocationIndex == 0 && fail >= 0) {
        st.v[2 * zi] = int(p.k0) + fail;
        st.v[2 * zi + 1] = nonfinite ? 1 : 0;
    }
    if (p.rest == 0) return;
    // The panel: x L11^T = a for each row a, in place, the rows read whole before written.
    const uint pbase = base + kb * p.l_rs;
    ACC x[NB];
    const uint tid = gl_LocalInvocationID.x, nt = gl_WorkGroupSize.x;
    for (uint r0 = 0; r0 < p.rest; r0 += nt) { // uniform trip count: invocations past the end idle
        const uint r = r0 + tid;
        const bool live = r < p.rest;
        const uint rb = pbase + r * p.l_rs;
        for (uint c = 0; c < kb; ++c) x[c] = live ? to_acc(L.v[rb + c * p.l_cs]) : ACC(0);
        for (uint j = 0; j < kb; ++j) {
            ACC s = x[j];
            for (uint c = 0; c < j; ++c) s = fma(-x[c], S[j * SLD + c], s);
            x[j] = s / S[j * SLD + j];
        }
        if (live)
            for (uint c = 0; c < kb; ++c) L.v[rb + c * p.l_cs] = from_acc(x[c]);
    }
}
