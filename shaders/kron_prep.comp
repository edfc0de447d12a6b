//! variants: f32 f64
// Prepares a factor for its decomposition, in the dtype of the variant:
//   MODE 0: out = S (sym(K) + jitter I) S, sym(K) = (K + K^T)/2, S = diag(c)^-1/2 (or I),
//           K and c read as f32 (IN_F32, the f64 variant promoting an f32 factor) or as T;
//   MODE 1: out = I (the right-hand side that trsm turns into an inverse).
// out is compact n x n. One invocation per element.
#version 460
#extension GL_GOOGLE_include_directive : require
#include "common/dtype.glsl"

layout(local_size_x_id = 0, local_size_y_id = 1) in;
layout(constant_id = 2) const uint MODE = 0;
layout(constant_id = 3) const bool IN_F32 = false;

layout(push_constant) uniform PrepPush {
    uint64_t src, dst, scale; // scale: c (n values of T) or 0
    uint n, src_rs, src_cs, scale_stride;
    ACC jitter;
} p;

ACC load_k(uint i, uint j) {
    const uint e = i * p.src_rs + j * p.src_cs;
    return IN_F32 ? ACC(FloatBuf(p.src).v[e]) : to_acc(TBuf(p.src).v[e]);
}

// The scales have the factor's dtype (f32 when IN_F32).
ACC load_scale(uint i) {
    const uint e = i * p.scale_stride;
    return IN_F32 ? ACC(FloatBuf(p.scale).v[e]) : to_acc(TBuf(p.scale).v[e]);
}

void main() {
    const uint j = gl_GlobalInvocationID.x, i = gl_GlobalInvocationID.y;
    if (i >= p.n || j >= p.n) return;
    ACC v;
    if (MODE == 1) {
        v = i == j ? ACC(1) : ACC(0);
    } else {
        v = ACC(0.5) * (load_k(i, j) + load_k(j, i));
        if (i == j) v += p.jitter;
        if (p.scale != 0) v /= sqrt(load_scale(i) * load_scale(j));
    }
    TBuf(p.dst).v[i * p.n + j] = from_acc(v);
}
