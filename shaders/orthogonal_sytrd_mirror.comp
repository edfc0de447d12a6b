//! variants: f32 f64
// Device tridiagonalization, prologue 3 of 3: A(r, c) = A(c, r) = 2^-e A(r, c) for c <= r
// (the lower triangle scaled exactly and mirrored: the reduction reads the trailing matrix by
// columns, coalesced); a matrix with NaN/Inf becomes 0 (its result is discarded on the host).
// Invocation (c, r) owns the pair, so the update in place is race-free.
#version 460
#extension GL_GOOGLE_include_directive : require
#include "common/dtype.glsl"

layout(local_size_x_id = 0) in;

#include "common/orthogonal_sytrd_push.glsl"

void main() {
    const uint c = gl_GlobalInvocationID.x, r = gl_WorkGroupID.y;
    const uint64_t z = gl_WorkGroupID.z;
    const uint n = p.n;
    if (c > r) return;
    const bool finite = IntBuf(p.flags + z * 8).v[0] == 0;
    const int e = IntBuf(p.flags + z * 8 + 4).v[0];
    TBuf m = TBuf(t_addr(p.a, z * n * n));
    const ACC x = finite ? ldexp(to_acc(m.v[r * n + c]), -e) : ACC(0);
    m.v[r * n + c] = from_acc(x);
    m.v[c * n + r] = from_acc(x);
}
