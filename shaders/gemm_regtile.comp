//! variants: f32 f16 f64
// Dense GEMM for CPU devices (lavapipe): no shared memory, each invocation accumulates a
// TM x TN register tile straight from memory. On llvmpipe the invocations of a workgroup
// run as SIMD lanes and barriers are costly coroutine switches, so shared-memory tiling
// only adds copies: measured 7.3 vs 2.7 GFLOP/s at 1024^3 in favour of this shape.
// Lanes of one row of the workgroup take interleaved columns (tx + j*WGN), so the B loads
// of neighbouring lanes are neighbouring addresses; the A loads are shared by the lanes.
#version 460
#extension GL_GOOGLE_include_directive : require
#include "common/dtype.glsl"
#include "common/activation.glsl"
#include "common/gemm_push.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint TM = 4;
layout(constant_id = 2) const uint TN = 4;
layout(constant_id = 3) const uint WGN = 8; // invocations along N; local_size_x / WGN along M
layout(constant_id = 4) const bool TRANS_A = false;
layout(constant_id = 5) const bool TRANS_B = false;
layout(constant_id = 6) const uint ACT = 0;

void main() {
    const uint tid = gl_LocalInvocationID.x;
    const uint WGM = gl_WorkGroupSize.x / WGN;
    const uint tx = tid % WGN, ty = tid / WGN;
    const uint m0 = gl_WorkGroupID.y * (WGM * TM) + ty * TM;
    const uint n0 = gl_WorkGroupID.x * (WGN * TN) + tx;
    const uint64_t z = gl_WorkGroupID.z;
    TBuf A = TBuf(t_addr(p.a, z * p.stride_a));
    TBuf B = TBuf(t_addr(p.b, z * p.stride_b));

    // Clamp out-of-range rows/columns to the last valid one: loads stay in bounds
    // without branches in the inner loop; their results are simply not stored.
    uint rows[TM], cols[TN];
    for (uint i = 0; i < TM; ++i) rows[i] = min(m0 + i, p.m - 1);
    for (uint j = 0; j < TN; ++j) cols[j] = min(n0 + j * WGN, p.n - 1);

    ACC acc[TM][TN];
    for (uint i = 0; i < TM; ++i)
        for (uint j = 0; j < TN; ++j) acc[i][j] = ACC(0);

    for (uint k = 0; k < p.k; ++k) {
        ACC ar[TM], br[TN];
        for (uint i = 0; i < TM; ++i)
            ar[i] = to_acc(TRANS_A ? A.v[k * p.lda + rows[i]] : A.v[rows[i] * p.lda + k]);
        for (uint j = 0; j < TN; ++j)
            br[j] = to_acc(TRANS_B ? B.v[cols[j] * p.ldb + k] : B.v[k * p.ldb + cols[j]]);
        for (uint i = 0; i < TM; ++i)
            for (uint j = 0; j < TN; ++j) acc[i][j] = fma(ar[i], br[j], acc[i][j]);
    }

    TBuf C = TBuf(t_addr(p.c, z * p.stride_c));
    for (uint i = 0; i < TM; ++i) {
        uint gi = m0 + i;
        if (gi >= p.m) break;
        for (uint j = 0; j < TN; ++j) {
            uint gj = n0 + j * WGN;
            if (gj >= p.n) continue;
            ACC v = p.alpha * acc[i][j];
            if (p.beta != ACC(0)) v += p.beta * to_acc(C.v[gi * p.ldc + gj]);
            if (p.bias != 0) v += to_acc(TBuf(p.bias).v[gj]);
            C.v[gi * p.ldc + gj] = from_acc(VKS_ACTIVATE(ACC, v, ACT));
        }
    }
}
