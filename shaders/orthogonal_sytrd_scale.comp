//! variants: f32 f64
// Device tridiagonalization, prologue 2 of 3: one workgroup per matrix reduces the row
// maxima (W(r, 0), from orthogonal_sytrd_rowmax) to max|A| and writes flags[2z] = 1 when the
// matrix holds a NaN or an Inf, flags[2z + 1] = the exponent e with max|A| = m 2^e,
// m in [0.5, 1) (0 for a zero matrix): the exact power-of-two scaling the host path applies.
#version 460
#extension GL_GOOGLE_include_directive : require
#include "common/dtype.glsl"

layout(local_size_x = 256) in;

#include "common/orthogonal_sytrd_push.glsl"

shared ACC red[256];

void main() {
    const uint t = gl_LocalInvocationID.x, nt = gl_WorkGroupSize.x;
    const uint64_t z = gl_WorkGroupID.z, n = p.n;
    ACC m = ACC(0);
    for (uint r = t; r < p.n; r += nt) m = max(m, to_acc(TBuf(t_addr(p.w, (z * n + r) * p.nb)).v[0]));
    red[t] = m;
    barrier();
    for (uint s = nt / 2; s > 0; s >>= 1) {
        if (t < s) red[t] = max(red[t], red[t + s]);
        barrier();
    }
    if (t != 0) return;
    const ACC amax = red[0];
    int e = 0;
    const bool finite = !isinf(amax);
    if (finite && amax > ACC(0)) frexp(amax, e);
    IntBuf(p.flags + z * 8).v[0] = finite ? 0 : 1;
    IntBuf(p.flags + z * 8 + 4).v[0] = e;
}
