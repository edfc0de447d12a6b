//! variants: f32 f64
// Partial sums of y^T alpha per right-hand side (the quadratic term of the log marginal
// likelihood in the Cholesky path): partials[r * groups + g] = sum over the workgroup's
// chunk of the grid of a(e, r) * b(e, r). Each of a, b row-major (N, k) or k grids.
#version 460
#extension GL_GOOGLE_include_directive : require
#include "common/dtype.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint ITEMS = 4;
layout(constant_id = 2) const bool A_ROWS = false; // a is row-major (N, k)
layout(constant_id = 3) const bool B_ROWS = false;

layout(push_constant) uniform DotPush {
    uint64_t a, b, partials;
    uint points, k, groups, pad0;
} p;

shared ACC red[gl_WorkGroupSize.x];

void main() {
    const uint lid = gl_LocalInvocationID.x, wg = gl_WorkGroupSize.x;
    const uint g = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x, r = gl_WorkGroupID.z;
    if (g >= p.groups) return;
    ACC s = ACC(0);
    for (uint it = 0; it < ITEMS; ++it) {
        const uint e = (g * ITEMS + it) * wg + lid;
        if (e >= p.points) break;
        const uint64_t ia = A_ROWS ? uint64_t(e) * p.k + r : uint64_t(r) * p.points + e;
        const uint64_t ib = B_ROWS ? uint64_t(e) * p.k + r : uint64_t(r) * p.points + e;
        s = fma(to_acc(TBuf(t_addr(p.a, ia)).v[0]), to_acc(TBuf(t_addr(p.b, ib)).v[0]), s);
    }
    red[lid] = s;
    barrier();
    for (uint h = wg / 2; h > 0; h >>= 1) {
        if (lid < h) red[lid] += red[lid + h];
        barrier();
    }
    if (lid == 0) TBuf(p.partials).v[r * p.groups + g] = from_acc(red[0]);
}
