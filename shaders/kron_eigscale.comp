//! variants: f32 f64
// The middle of the Kronecker eigen-solve, one pass over w = Q^T y (k grids one after
// another): with lambda(e) = max(prod_i max(lambda_i[e_i], 0), floor) and den = lambda + noise
// (GPyTorch's constant-noise path; with floor_after_noise: lambda unclamped and
// den = max(lambda + noise, floor)),
//   z  = w / den              (alpha = Q z)          when z != 0
//   zm = lambda w / den       (mean = Q zm = K alpha) when zm != 0
// and per workgroup the partial sums of w^2 / den (y^T alpha, per right-hand side) and,
// in the workgroups of right-hand side 0 (or all of them with no w), of log(den): the
// log-determinant log|K + noise I| = sum over the grid of log(lambda + noise).
// Workgroups: gl_WorkGroupID.x + y * gl_NumWorkGroups.x over chunks of the grid,
// gl_WorkGroupID.z over right-hand sides. Partials: quad[r * groups + g], then
// logdet[k * groups + g]. Deterministic tree sums (no atomics).
#version 460
#extension GL_GOOGLE_include_directive : require
#include "common/dtype.glsl"
#include "common/kron_math.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint D = 2;     // grid dimensions
layout(constant_id = 2) const uint ITEMS = 4; // grid points per invocation

layout(push_constant) uniform EigscalePush {
    uint64_t w, z, zm, partials;
    uint64_t lam[4];
    uint n[4];
    uint points, k, groups, floor_after_noise;
    ACC noise, floor_;
} p;

shared ACC red_quad[gl_WorkGroupSize.x];
shared ACC red_log[gl_WorkGroupSize.x];

void main() {
    const uint lid = gl_LocalInvocationID.x, wg = gl_WorkGroupSize.x;
    const uint g = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
    const uint r = gl_WorkGroupID.z;
    if (g >= p.groups) return; // whole workgroups only: the barriers below stay uniform
    const bool with_log = r == 0;
    const uint64_t off = uint64_t(r) * p.points;
    ACC quad = ACC(0), logs = ACC(0);
    for (uint it = 0; it < ITEMS; ++it) {
        const uint e = (g * ITEMS + it) * wg + lid;
        if (e >= p.points) break;
        ACC lam = ACC(1);
        uint rest = e;
        for (int t = int(D) - 1; t >= 0; --t) {
            const uint idx = rest % p.n[t];
            rest /= p.n[t];
            lam *= max(to_acc(TBuf(p.lam[t]).v[idx]), ACC(0));
        }
        if (p.floor_after_noise == 0) lam = max(lam, p.floor_);
        const ACC den = p.floor_after_noise != 0 ? max(lam + p.noise, p.floor_) : lam + p.noise;
        if (with_log) logs += kr_log(den);
        if (p.w != 0) {
            const ACC wv = to_acc(TBuf(t_addr(p.w, off + e)).v[0]);
            const ACC zv = wv / den;
            quad = fma(wv, zv, quad);
            if (p.z != 0) TBuf(t_addr(p.z, off + e)).v[0] = from_acc(zv);
            if (p.zm != 0) TBuf(t_addr(p.zm, off + e)).v[0] = from_acc(lam * zv);
        }
    }
    red_quad[lid] = quad;
    red_log[lid] = logs;
    barrier();
    for (uint s = wg / 2; s > 0; s >>= 1) {
        if (lid < s) {
            red_quad[lid] += red_quad[lid + s];
            red_log[lid] += red_log[lid + s];
        }
        barrier();
    }
    if (lid == 0) {
        TBuf part = TBuf(p.partials);
        if (p.w != 0) part.v[r * p.groups + g] = from_acc(red_quad[0]);
        if (with_log) part.v[p.k * p.groups + g] = from_acc(red_log[0]);
    }
}
