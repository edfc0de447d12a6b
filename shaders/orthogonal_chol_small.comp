//! variants: f32 f64
// Cholesky of a batch of small matrices (n <= NB) in one dispatch: workgroup z, which is one
// subgroup, factors matrix z whole. Lane s holds rows s, s + SG, s + 2 SG, ... in registers;
// the pivot and the column entries another lane's rows need travel by subgroupShuffle, so the
// kernel has no barrier and no shared memory (right-looking, column by column).
// It also does what the blocked path's fill and fixup dispatches do: status[2z] = the first
// failing pivot (-1 none), status[2z+1] = 1 when that pivot was NaN/Inf; L gets the factor's
// columns before the failing pivot and zeros from it on (all zeros when NaN/Inf was met), its
// upper triangle zeros; info[z] (when given) = -1 success, p the failing pivot, -2 NaN/Inf.
#version 460
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_shuffle : require
#include "common/dtype.glsl"

layout(local_size_x_id = 0) in; // = SG
layout(constant_id = 1) const uint NB = 32; // largest n
layout(constant_id = 2) const uint SG = 8;

const uint RPL = (NB + SG - 1) / SG; // rows per lane

layout(push_constant) uniform Push {
    uint64_t a, l, status, info;
    uint64_t a_bs, l_bs;
    uint a_rs, a_cs, l_rs, l_cs;
    uint n, pad;
} p;

void main() {
    const uint lane = gl_SubgroupInvocationID;
    const uint64_t z = gl_WorkGroupID.z;
    const uint zi = gl_WorkGroupID.z;
    const uint n = p.n;
    ACC row[RPL][NB];
    TBuf A = TBuf(t_addr(p.a, z * p.a_bs));
    for (uint t = 0; t < RPL; ++t) {
        const uint i = lane + SG * t;
        for (uint c = 0; c < n; ++c) row[t][c] = (i < n && c <= i) ? to_acc(A.v[i * p.a_rs + c * p.a_cs]) : ACC(0);
    }
    int fail = -1;
    bool nonfinite = false;
    for (uint j = 0; j < n; ++j) { // j is uniform: every shuffle runs in uniform control flow
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
            else if (i > j && i < n) row[t][j] *= inv;
        }
        for (uint c = j + 1; c < n; ++c) {
            const ACC lc = subgroupShuffle(row[c / SG][j], c % SG); // L[c][j]
            for (uint t = 0; t < RPL; ++t) {
                const uint i = lane + SG * t;
                if (i >= c && i < n) row[t][c] = fma(-row[t][j], lc, row[t][c]);
            }
        }
    }
    // Columns kept: all on success, those before the pivot on a failure, none after NaN/Inf.
    const uint keep = fail < 0 ? n : nonfinite ? 0u : uint(fail);
    TBuf L = TBuf(t_addr(p.l, z * p.l_bs));
    for (uint t = 0; t < RPL; ++t) {
        const uint i = lane + SG * t;
        if (i >= n) break;
        for (uint c = 0; c < n; ++c) L.v[i * p.l_rs + c * p.l_cs] = from_acc(c <= i && c < keep ? row[t][c] : ACC(0));
    }
    if (lane == 0) {
        IntBuf st = IntBuf(p.status);
        st.v[2 * zi] = fail;
        st.v[2 * zi + 1] = nonfinite ? 1 : 0;
        if (p.info != 0) IntBuf(p.info).v[zi] = fail < 0 ? -1 : nonfinite ? -2 : fail;
    }
}
