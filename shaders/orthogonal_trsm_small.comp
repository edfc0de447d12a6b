//! variants: f32 f64
// Whole triangular solve of a small system (n <= MAXN) in one dispatch: x = inv(L) b or
// inv(L)^T b, L lower triangular (its upper triangle never read). Workgroup (tile, 0, z)
// solves matrix z's columns tile*WG .. tile*WG + WG - 1, one column per invocation: the
// column lives in registers and is solved by forward (or, transposed, backward)
// substitution, so there is no shared memory, no barrier and no shuffle; every lane reads
// the same entries of L. x may be b (each invocation reads its column whole before writing
// it); l_bs = 0 broadcasts one L over the batch.
#version 460
#extension GL_GOOGLE_include_directive : require
#include "common/dtype.glsl"

layout(local_size_x_id = 0) in; // WG columns per workgroup
layout(constant_id = 1) const uint MAXN = 32; // NB, or 256 on CPU devices

layout(push_constant) uniform Push {
    uint64_t l, b, x;
    uint64_t l_bs, b_bs, x_bs;
    uint l_rs, l_cs, b_rs, b_cs, x_rs, x_cs;
    uint n, k, trans, pad;
} p;

void main() {
    const uint col = gl_GlobalInvocationID.x;
    if (col >= p.k) return; // no barrier below: leaving early is safe
    const uint64_t z = gl_WorkGroupID.z;
    const uint n = p.n;
    TBuf L = TBuf(t_addr(p.l, z * p.l_bs));
    TBuf B = TBuf(t_addr(p.b, z * p.b_bs));
    ACC xr[MAXN];
    for (uint i = 0; i < n; ++i) xr[i] = to_acc(B.v[i * p.b_rs + col * p.b_cs]);
    if (p.trans == 0) {
        for (uint i = 0; i < n; ++i) {
            ACC s = xr[i];
            for (uint j = 0; j < i; ++j) s = fma(-to_acc(L.v[i * p.l_rs + j * p.l_cs]), xr[j], s);
            xr[i] = s / to_acc(L.v[i * p.l_rs + i * p.l_cs]);
        }
    } else {
        for (uint r = 0; r < n; ++r) {
            const uint i = n - 1 - r;
            ACC s = xr[i];
            for (uint j = i + 1; j < n; ++j) s = fma(-to_acc(L.v[j * p.l_rs + i * p.l_cs]), xr[j], s);
            xr[i] = s / to_acc(L.v[i * p.l_rs + i * p.l_cs]);
        }
    }
    TBuf X = TBuf(t_addr(p.x, z * p.x_bs));
    for (uint i = 0; i < n; ++i) X.v[i * p.x_rs + col * p.x_cs] = from_acc(xr[i]);
}
