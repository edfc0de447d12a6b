//! variants: f32 f64
// out(e, r) = in(e, r) * prod_i c_i[e_i]^POW for per-factor noise scales D = ⊗diag(c_i):
// POW -1/2 before and after the symmetrized solve, +1/2 for the posterior mean. Each of
// in, out row-major (N, k) or k grids (so the pass also converts layouts); in place works.
#version 460
#extension GL_GOOGLE_include_directive : require
#include "common/dtype.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint D = 2;
layout(constant_id = 2) const bool INV_SQRT = true; // c^-1/2, else c^1/2
layout(constant_id = 3) const bool IN_ROWS = false;
layout(constant_id = 4) const bool OUT_ROWS = false;

layout(push_constant) uniform DiagscalePush {
    uint64_t src, dst;
    uint64_t c[4]; // 0: that dimension is not scaled
    uint n[4];
    uint points, k;
} p;

void main() {
    const uint64_t idx = uint64_t(gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) * gl_WorkGroupSize.x +
                         gl_LocalInvocationID.x;
    if (idx >= uint64_t(p.points) * p.k) return;
    // Walk the output in its own order (contiguous writes).
    const uint e = OUT_ROWS ? uint(idx / p.k) : uint(idx % p.points);
    const uint r = OUT_ROWS ? uint(idx % p.k) : uint(idx / p.points);
    ACC s = ACC(1);
    uint rest = e;
    for (int t = int(D) - 1; t >= 0; --t) {
        const uint i = rest % p.n[t];
        rest /= p.n[t];
        if (p.c[t] != 0) s *= to_acc(TBuf(p.c[t]).v[i]);
    }
    s = INV_SQRT ? inversesqrt(s) : sqrt(s);
    const uint64_t ii = IN_ROWS ? uint64_t(e) * p.k + r : uint64_t(r) * p.points + e;
    TBuf(t_addr(p.dst, idx)).v[0] = from_acc(to_acc(TBuf(t_addr(p.src, ii)).v[0]) * s);
}
