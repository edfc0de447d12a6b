//! variants: f32 f16
// Fused Monarch forward for GPUs at decode batches (up to 32 rows). A workgroup takes the
// batch's TB rows and G output blocks [g0, g0+G) and computes the intermediate those blocks
// read, u[(g*r + rho)*TB + row] (f32, shared memory), one dot product per invocation and
// all blocks of w1 at once: at these sizes the work is a few thousand short dot products,
// and what costs is latency, so nothing is walked in sequence (the tiled kernel walks w1's
// blocks one after another). Then y[b, t*l + l_idx], again one dot product per invocation.
// Works for any shapes (no q = R*l needed): channel c = rho*l + l_idx comes from w1's block
// c / q, row c % q.
#version 460
#extension GL_GOOGLE_include_directive : require
#include "common/dtype.glsl"
#include "common/activation.glsl"
#include "common/monarch_fused_push.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint TB = 16; // rows per workgroup
layout(constant_id = 2) const uint G = 1;   // output blocks per workgroup
layout(constant_id = 3) const uint USZ = 1024; // TB * G * r
layout(constant_id = 4) const uint ACT = 0;

shared ACC U[USZ];

void main() {
    const uint tid = gl_LocalInvocationID.x, nt = gl_WorkGroupSize.x;
    const uint row0 = gl_WorkGroupID.x * TB, g0 = gl_WorkGroupID.y * G;
    TBuf X = TBuf(p.x), W1 = TBuf(p.w1), W2 = TBuf(p.w2), Y = TBuf(p.y);
    // Neighbouring invocations take neighbouring rows of the same channel: one w1 row,
    // read by all of them at once.
    for (uint e = tid; e < G * p.r * TB; e += nt) {
        const uint b = e % TB, rho = (e / TB) % p.r, g = e / (TB * p.r);
        const uint lam = g0 + g, row = row0 + b;
        ACC acc = ACC(0);
        if (lam < p.l && row < p.batch) {
            const uint c = rho * p.l + lam, i = c / p.q, j = c % p.q;
            const uint ka = i * p.p >= p.n_in ? 0u : min(p.p, p.n_in - i * p.p);
            const uint xo = row * p.ldx + i * p.p, wo = (i * p.q + j) * p.p;
            for (uint a = 0; a < ka; ++a) acc = fma(to_acc(X.v[xo + a]), to_acc(W1.v[wo + a]), acc);
        }
        U[e] = acc;
    }
    barrier();
    for (uint e = tid; e < G * p.s * TB; e += nt) {
        const uint b = e % TB, t = (e / TB) % p.s, g = e / (TB * p.s);
        const uint lam = g0 + g, row = row0 + b, col = t * p.l + lam;
        if (lam >= p.l || row >= p.batch || col >= p.m_out) continue;
        const uint wo = (lam * p.s + t) * p.r, uo = g * p.r * TB + b;
        ACC acc = ACC(0);
        for (uint rho = 0; rho < p.r; ++rho) acc = fma(U[uo + rho * TB], to_acc(W2.v[wo + rho]), acc);
        if (p.bias != 0) acc += to_acc(TBuf(p.bias).v[col]);
        Y.v[row * p.ldy + col] = from_acc(VKS_ACTIVATE(ACC, acc, ACT));
    }
}
