//! variants: f32 f64
// The SVD's columns B = A V (M x N per matrix, right singular vectors in descending order):
//   MODE 0: s[j] = ||B[:, j]||_2 (scaled: no overflow or underflow), invocation j, matrix z;
//   MODE 1: B[:, j] /= s[j], or, for a column at the noise level (s[j] <= tol s[0]: a zero
//           singular value), B[:, j] = a fixed pseudo-random vector, which CholeskyQR then
//           turns into an orthonormal completion; s[j] = min(s[0..j]) keeps s descending
//           (the values differ from sorted ones by rounding only).
#version 460
#extension GL_GOOGLE_include_directive : require
#include "common/dtype.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint MODE = 0;

layout(push_constant) uniform Push {
    uint64_t b, s, b_bs;
    uint M, N;
    ACC tol;
} p;

layout(buffer_reference, std430, buffer_reference_align = T_BYTES) buffer AccBuf { ACC v[]; };

// A deterministic value in [-1, 1) from (row, column, matrix).
ACC fill(uint i, uint j, uint z) {
    uint h = i * 0x9E3779B1u ^ (j + 0x7F4A7C15u) * 0x85EBCA77u ^ (z + 1u) * 0xC2B2AE3Du;
    h ^= h >> 16;
    h *= 0x7FEB352Du;
    h ^= h >> 15;
    h *= 0x846CA68Bu;
    h ^= h >> 16;
    return ACC(h >> 8) * ACC(1.0 / 8388608.0) - ACC(1);
}

void main() {
    const uint j = gl_GlobalInvocationID.x, z = gl_WorkGroupID.z;
    if (j >= p.N) return;
    TBuf B = TBuf(t_addr(p.b, uint64_t(z) * p.b_bs));
    AccBuf S = AccBuf(p.s);
    if (MODE == 0) {
        ACC m = ACC(0);
        for (uint i = 0; i < p.M; ++i) m = max(m, abs(to_acc(B.v[i * p.N + j])));
        ACC ss = ACC(0);
        if (m > ACC(0))
            for (uint i = 0; i < p.M; ++i) {
                const ACC x = to_acc(B.v[i * p.N + j]) / m;
                ss += x * x;
            }
        S.v[z * p.N + j] = m * sqrt(ss);
        return;
    }
    const ACC sj = S.v[z * p.N + j], s0 = S.v[z * p.N];
    ACC smin = sj;
    for (uint k = 0; k < j; ++k) smin = min(smin, S.v[z * p.N + k]);
    const bool zero = !(sj > p.tol * s0);
    for (uint i = 0; i < p.M; ++i) B.v[i * p.N + j] = from_acc(zero ? fill(i, j, z) : to_acc(B.v[i * p.N + j]) / sj);
    // Other invocations may read s[j] before or after this: the prefix minimum is the same.
    S.v[p.N * z + j] = smin;
}
