//! variants: f32 f64
// First step of the Jacobi eigensolver, one workgroup per matrix z: reads a's lower
// triangle, scales it by a power of two 2^-e so that max|a| lies in [0.5, 1) (exact; no
// overflow or underflow whatever a's magnitude), and writes the symmetric N x N working
// matrix W (the n x n scaled a, then N - n padding indices with zero coupling and a diagonal
// SENTINEL above every eigenvalue, so they sort last) and V = I.
// flags[4z] = e, flags[4z+1] = 1 when a holds NaN/Inf (W is then 0: w = 0, v = I);
// norms[z] = ||scaled a||_F (the rotation threshold's scale).
// The f64 variant with IN_F32 iterates on an f32 input in f64 (vks_eigh's default where
// shaderFloat64 exists: the GEMM updates' rounding then stays far below f32's).
#version 460
#extension GL_GOOGLE_include_directive : require
#include "common/dtype.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const bool IN_F32 = false; // f64 variant reading an f32 a (f64 working precision)

layout(push_constant) uniform Push {
    uint64_t a, w, v, flags, norms;
    uint64_t a_bs;
    uint a_rs, a_cs, n, N;
} p;

layout(buffer_reference, std430, buffer_reference_align = T_BYTES) buffer AccBuf { ACC v[]; };

shared ACC red[1024];
shared uint bad;

// Sum (MAX = false) or maximum over the workgroup of one value per invocation.
ACC load_a(uint64_t base, uint idx) {
    return IN_F32 ? ACC(FloatBuf(base).v[idx]) : to_acc(TBuf(base).v[idx]);
}

ACC reduce(ACC x, bool take_max) {
    const uint tid = gl_LocalInvocationID.x, nt = gl_WorkGroupSize.x;
    barrier();
    red[tid] = x;
    barrier();
    for (uint s = nt / 2; s > 0; s >>= 1) {
        if (tid < s) red[tid] = take_max ? max(red[tid], red[tid + s]) : red[tid] + red[tid + s];
        barrier();
    }
    return red[0];
}

void main() {
    const uint tid = gl_LocalInvocationID.x, nt = gl_WorkGroupSize.x;
    const uint64_t z = gl_WorkGroupID.z;
    const uint zi = gl_WorkGroupID.z;
    const uint n = p.n, N = p.N;
    const uint64_t abase = p.a + z * p.a_bs * (IN_F32 ? 4 : T_BYTES);
    if (tid == 0) bad = 0;
    barrier();
    ACC m = ACC(0);
    for (uint e = tid; e < n * n; e += nt) {
        uint i = e / n, j = e % n;
        if (j > i) continue;
        ACC x = load_a(abase, i * p.a_rs + j * p.a_cs);
        if (isnan(x) || isinf(x)) bad = 1;
        else m = max(m, abs(x));
    }
    m = reduce(m, true);
    const bool nonfinite = bad != 0;
    int ex = 0;
    if (m > ACC(0)) frexp(m, ex);
    ACC ss = ACC(0);
    for (uint e = tid; e < n * n && !nonfinite; e += nt) {
        uint i = e / n, j = e % n;
        if (j > i) continue;
        ACC x = ldexp(load_a(abase, i * p.a_rs + j * p.a_cs), -ex);
        ss += (i == j ? ACC(1) : ACC(2)) * x * x;
    }
    ss = reduce(ss, false);
    if (tid == 0) {
        IntBuf(p.flags).v[4 * zi] = ex;
        IntBuf(p.flags).v[4 * zi + 1] = nonfinite ? 1 : 0;
        AccBuf(p.norms).v[zi] = sqrt(ss);
    }
    const ACC sentinel = ACC(4 * N + 8); // |eigenvalues of the scaled a| <= n
    TBuf W = TBuf(t_addr(p.w, z * uint64_t(N) * N)), V = TBuf(t_addr(p.v, z * uint64_t(N) * N));
    for (uint e = tid; e < N * N; e += nt) {
        uint i = e / N, j = e % N;
        ACC x = ACC(0);
        if (i < n && j < n && !nonfinite) {
            uint r = max(i, j), c = min(i, j);
            x = ldexp(load_a(abase, r * p.a_rs + c * p.a_cs), -ex);
        } else if (i == j && i >= n) {
            x = sentinel;
        }
        W.v[e] = from_acc(x);
        V.v[e] = T(i == j ? 1 : 0);
    }
}
