//! variants: f32 f64
// One mode of the posterior mean at scattered points: every point p contracts its own
// row of a cross-covariance with its own slice of the partly contracted coefficients,
//   out[p][r] = sum_e cross[p][e] * t[p][e][r],   t: (P, n, R), out: (P, R), row-major.
// One invocation per output element; invocations of a workgroup share p where R allows.
#version 460
#extension GL_GOOGLE_include_directive : require
#include "common/dtype.glsl"

layout(local_size_x_id = 0) in;

layout(push_constant) uniform RowdotPush {
    uint64_t t, cross, out_;
    uint points, n, r, pad0;
    uint cross_rs, cross_cs, pad1, pad2;
} p;

void main() {
    const uint64_t idx = uint64_t(gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) * gl_WorkGroupSize.x +
                         gl_LocalInvocationID.x;
    if (idx >= uint64_t(p.points) * p.r) return;
    const uint pt = uint(idx / uint64_t(p.r)), r = uint(idx % uint64_t(p.r));
    // 64-bit element offsets go into the address (GLSL indexes arrays with 32 bits).
    TBuf t = TBuf(t_addr(p.t, uint64_t(pt) * p.n * p.r + r)), cr = TBuf(p.cross);
    ACC acc = ACC(0);
    for (uint e = 0; e < p.n; ++e) acc = fma(to_acc(cr.v[pt * p.cross_rs + e * p.cross_cs]), to_acc(t.v[e * p.r]), acc);
    TBuf(t_addr(p.out_, idx)).v[0] = from_acc(acc);
}
