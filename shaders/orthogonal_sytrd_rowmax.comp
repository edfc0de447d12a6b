//! variants: f32 f64
// Device tridiagonalization (backend/ops/orthogonal_sytrd.c), prologue 1 of 3: per row r of
// the lower triangle max_{c <= r} |A(r, c)|, +Inf when the row holds a NaN or an Inf, into
// W(r, 0) (W is free until the first panel). One invocation per row (n <= 65535 loads: under
// lavapipe's loop limit).
#version 460
#extension GL_GOOGLE_include_directive : require
#include "common/dtype.glsl"

layout(local_size_x_id = 0) in;

#include "common/orthogonal_sytrd_push.glsl"

void main() {
    const uint r = gl_GlobalInvocationID.x;
    const uint64_t z = gl_WorkGroupID.z, n = p.n;
    if (r >= p.n) return;
    ACC m = ACC(0);
    bool finite = true;
    for (uint c = 0; c <= r; ++c) {
        const ACC x = to_acc(TBuf(t_addr(p.a, (z * n + r) * n + c)).v[0]);
        finite = finite && !isnan(x) && !isinf(x);
        m = max(m, abs(x));
    }
    TBuf(t_addr(p.w, (z * n + r) * p.nb)).v[0] = from_acc(finite ? m : ACC(1) / ACC(0));
}
