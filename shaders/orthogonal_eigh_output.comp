//! variants: f32 f64
// The tridiagonal (LAPACK) eigensolver's last pass (backend/ops/orthogonal_eigh_lapack.c): per
// eigenvector column j of the back-transformed Z (column-major, n x n per matrix, working
// dtype) the sign convention (the component of largest magnitude positive; the first of ties),
// then v[:, j] and w[j] written to the caller's strided outputs, converted to f32 when
// DST_F32, and the per-matrix status copied to the caller's info array (invocation 0).
// One invocation per column: 2n loads, n stores (n <= 32767 stays under lavapipe's loop limit).
#version 460
#extension GL_GOOGLE_include_directive : require
#include "common/dtype.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const bool DST_F32 = false;

layout(push_constant) uniform Push {
    uint64_t z, w, v_out, w_out;
    uint64_t status, info;
    uint64_t v_bs, w_out_bs; // elements
    uint n, v_rs, v_cs, w_s;
} p;

void store(uint64_t base, uint64_t index, ACC x) {
    if (DST_F32) FloatBuf(base + index * 4).v[0] = float(x);
    else TBuf(t_addr(base, index)).v[0] = from_acc(x);
}

void main() {
    const uint j = gl_GlobalInvocationID.x;
    const uint64_t zb = gl_WorkGroupID.z;
    if (j == 0 && p.info != 0) IntBuf(p.info + zb * 4).v[0] = IntBuf(p.status + zb * 4).v[0];
    if (j >= p.n) return;
    if (p.v_out != 0) {
        const uint64_t col = (zb * p.n + j) * p.n;
        ACC best = ACC(-1), sgn = ACC(1);
        for (uint i = 0; i < p.n; ++i) {
            const ACC x = to_acc(TBuf(t_addr(p.z, col + i)).v[0]);
            if (abs(x) > best) best = abs(x), sgn = x < ACC(0) ? ACC(-1) : ACC(1);
        }
        const uint64_t vb = zb * p.v_bs;
        for (uint i = 0; i < p.n; ++i)
            store(p.v_out, vb + uint64_t(i) * p.v_rs + uint64_t(j) * p.v_cs, sgn * to_acc(TBuf(t_addr(p.z, col + i)).v[0]));
    }
    store(p.w_out, zb * p.w_out_bs + uint64_t(j) * p.w_s, to_acc(TBuf(t_addr(p.w, zb * p.n + j)).v[0]));
}
