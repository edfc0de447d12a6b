//! variants: f32 f64
// After the blocked Cholesky: in each matrix whose factorization failed at pivot p, zeroes
// every column from p on (what was computed after the failure, possibly Inf/NaN), or the
// whole matrix when the input held NaN/Inf; copies the status to the caller's info tensor
// (i32: -1 success, p the failing pivot, -2 NaN/Inf) when one is given.
#version 460
#extension GL_GOOGLE_include_directive : require
#include "common/dtype.glsl"

layout(local_size_x_id = 0) in;

layout(push_constant) uniform Push {
    uint64_t l, status, info;
    uint64_t l_bs;
    uint l_rs, l_cs;
    uint n, pad;
} p;

void main() {
    const uint64_t z = gl_WorkGroupID.z;
    const uint zi = gl_WorkGroupID.z;
    IntBuf st = IntBuf(p.status);
    const int f = st.v[2 * zi];
    const bool nonfinite = st.v[2 * zi + 1] != 0;
    if (p.info != 0 && gl_GlobalInvocationID.x == 0 && gl_WorkGroupID.y == 0)
        IntBuf(p.info).v[zi] = f < 0 ? -1 : nonfinite ? -2 : f;
    if (f < 0) return;
    const uint j = gl_GlobalInvocationID.x;
    if (j >= p.n || (!nonfinite && j < uint(f))) return;
    TBuf L = TBuf(t_addr(p.l, z * p.l_bs));
    for (uint i = gl_WorkGroupID.y; i < p.n; i += gl_NumWorkGroups.y) L.v[i * p.l_rs + j * p.l_cs] = T(0);
}
