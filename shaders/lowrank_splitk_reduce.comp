//! variants: f32 f16
// The epilogue of the split-K fused LoRA (common/lowrank_splitk.glsl): for rows i < m and
// output columns o < n
//   y[i, o] = beta*y[i, o] + sum_z pw[z, i, o] + sum_c t[i, c] B[o, c] + bias[o],
//   t[i, c] = scale * sum_z pt[z, i, c]          (the shrink, in f32)
// Slices are added in order z = 0, 1, ... (deterministic). A workgroup takes 16 rows and 64
// columns: t of its rows goes to shared memory once; invocation (column o, lane q of 4) then
// takes rows q, q + 4, q + 8, q + 12. Loads are issued in groups (8 or 4 slices x 4 rows, 8 ranks)
// before their sums: each is an L2 round trip, and one at a time was what made the first
// version take 27 us at 16 rows.
#version 460
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "common/dtype.glsl"

layout(local_size_x = 256) in;
const uint RMAX = 256; // ranks up to this (lowrank_splitk.c checks)
const uint RPT = 4;    // rows per invocation

// Mirrored by lr_splitk_reduce_push in backend/ops/lowrank_splitk.c.
layout(push_constant) uniform Push {
    uint64_t y, bias, b, pw, pt; // bias 0: none; pw 0: no base term
    uint m, n, r, ldy, ldb, ksplit;
    float scale, beta;
} p;

shared float ts[16 * RMAX];

void main() {
    const uint tid = gl_LocalInvocationID.x, i0 = gl_WorkGroupID.y * 16;
    const uint rows = min(16u, p.m - i0);
    for (uint e = tid; e < rows * p.r; e += 256) {
        const uint i = e / p.r, c = e % p.r;
        float s = 0.0;
        for (uint z0 = 0; z0 < p.ksplit; z0 += 8) {
            float v[8];
            [[unroll]] for (uint u = 0; u < 8; ++u)
                v[u] = z0 + u < p.ksplit ? FloatBuf(p.pt).v[((z0 + u) * p.m + i0 + i) * p.r + c] : 0.0;
            [[unroll]] for (uint u = 0; u < 8; ++u) s += v[u];
        }
        ts[i * p.r + c] = p.scale * s;
    }
    barrier();
    const uint o = gl_WorkGroupID.x * 64 + tid % 64, q = tid / 64;
    if (o >= p.n) return;
    float acc[RPT];
    [[unroll]] for (uint j = 0; j < RPT; ++j) acc[j] = 0.0;
    if (p.pw != 0)
        for (uint z0 = 0; z0 < p.ksplit; z0 += 4) {
            float v[4][RPT];
            [[unroll]] for (uint u = 0; u < 4; ++u)
                [[unroll]] for (uint j = 0; j < RPT; ++j) {
                    const uint i = q + 4 * j;
                    v[u][j] = z0 + u < p.ksplit && i < rows ? FloatBuf(p.pw).v[((z0 + u) * p.m + i0 + i) * p.n + o] : 0.0;
                }
            [[unroll]] for (uint u = 0; u < 4; ++u)
                [[unroll]] for (uint j = 0; j < RPT; ++j) acc[j] += v[u][j];
        }
    for (uint c0 = 0; c0 < p.r; c0 += 8) {
        float bv[8];
        [[unroll]] for (uint c = 0; c < 8; ++c) bv[c] = c0 + c < p.r ? to_acc(TBuf(p.b).v[o * p.ldb + c0 + c]) : 0.0;
        [[unroll]] for (uint c = 0; c < 8; ++c) {
            if (c0 + c >= p.r) break;
            [[unroll]] for (uint j = 0; j < RPT; ++j) acc[j] = fma(ts[(q + 4 * j) * p.r + c0 + c], bv[c], acc[j]);
        }
    }
    const float bias = p.bias != 0 ? to_acc(TBuf(p.bias).v[o]) : 0.0;
    [[unroll]] for (uint j = 0; j < RPT; ++j) {
        const uint i = q + 4 * j;
        if (i >= rows) break;
        const uint idx = (i0 + i) * p.ldy + o;
        float v = acc[j] + bias;
        if (p.beta != 0.0) v += p.beta * to_acc(TBuf(p.y).v[idx]);
        TBuf(p.y).v[idx] = from_acc(v);
    }
}
