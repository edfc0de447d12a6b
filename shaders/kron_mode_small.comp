//! variants: f32 f64
// One mode product for small factors (n, m <= 64) on GPUs, without rotating the mode:
//   y[p][j][s] = alpha * sum_i A[j][i] x[p][i][s] + beta * y[p][j][s]
// with the grid seen as (P, n, S). A rotation GEMM would waste most of its 128-wide tiles
// on such factors; here A sits in shared memory, one invocation owns one fiber (p, s):
// it loads the fiber's n values once into registers and writes its m results. Consecutive
// invocations take consecutive s, so loads and stores are coalesced whenever S > 1. The
// factor's sizes are specialization constants, so the loops unroll.
#version 460
#extension GL_GOOGLE_include_directive : require
#include "common/dtype.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint NT = 32; // factor columns (input side), <= 64
layout(constant_id = 2) const uint MT = 32; // factor rows (output side), <= 64

layout(push_constant) uniform ModePush {
    uint64_t x, a, y;
    uint fibers, s, a_rs, a_cs; // fibers = P * S
    ACC alpha, beta;
} p;

shared ACC ash[MT * NT];

void main() {
    const uint lid = gl_LocalInvocationID.x, wg = gl_WorkGroupSize.x;
    for (uint e = lid; e < MT * NT; e += wg) ash[e] = to_acc(TBuf(p.a).v[(e / NT) * p.a_rs + (e % NT) * p.a_cs]);
    barrier();
    const uint fiber = (gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) * wg + lid;
    if (fiber >= p.fibers) return;
    const uint64_t pp = fiber / p.s, ss = fiber % p.s;
    TBuf x = TBuf(t_addr(p.x, pp * NT * p.s + ss)), y = TBuf(t_addr(p.y, pp * MT * p.s + ss));
    ACC xr[NT];
    for (uint i = 0; i < NT; ++i) xr[i] = to_acc(x.v[i * p.s]);
    for (uint j = 0; j < MT; ++j) {
        ACC acc = ACC(0);
        for (uint i = 0; i < NT; ++i) acc = fma(ash[j * NT + i], xr[i], acc);
        ACC v = p.alpha * acc;
        if (p.beta != ACC(0)) v += p.beta * to_acc(y.v[j * p.s]);
        y.v[j * p.s] = from_acc(v);
    }
}
