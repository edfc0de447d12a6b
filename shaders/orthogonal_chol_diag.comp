//! variants: f32 f64
// One step of the blocked Cholesky: factors the diagonal block L[k0.., k0..] (kb x kb,
// kb <= NB) in shared memory, in place in L, for matrix z = workgroup z; then writes the
// inverse of the factor to W (NB x NB per matrix, zeros above the diagonal) for the panel
// below (L21 = A21 * inv(L11)^T, a GEMM). With p.rest > 0 the same workgroup then solves the
// panel itself: rows k0+kb .. k0+kb+rest-1 become A21 inv(L11)^T in place (one row per
// invocation), so a block column takes one dispatch instead of factor + copy + GEMM.
// status[2z] holds the first failing pivot (-1 none) and status[2z+1] 1 when that pivot was
// NaN/Inf. A pivot that is not > 0 ends the factorization of that matrix: the kernel records
// it and writes W = I, so the later steps stay finite; a later step of a failed matrix only
// writes W = I; the fixup kernel clears what was computed after the failure.
#version 460
#extension GL_GOOGLE_include_directive : require
#include "common/dtype.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint NB = 64;

layout(push_constant) uniform Push {
    uint64_t l, w, status;
    uint64_t l_bs;
    uint l_rs, l_cs;
    uint k0, kb;
    uint rest, pad;
} p;

const uint TLD = NB + 1;
const uint TRI_MAX = NB;
shared ACC TRI[NB * TLD];
#include "common/orthogonal_tri.glsl"
shared int fail_at;

void write_identity_w(uint64_t z) {
    TBuf W = TBuf(t_addr(p.w, z * NB * NB));
    for (uint e = gl_LocalInvocationID.x; e < p.kb * p.kb; e += gl_WorkGroupSize.x)
        W.v[(e / p.kb) * NB + e % p.kb] = T(e / p.kb == e % p.kb ? 1 : 0);
}

void main() {
    const uint tid = gl_LocalInvocationID.x, nt = gl_WorkGroupSize.x;
    const uint64_t z = gl_WorkGroupID.z;
    const uint zi = gl_WorkGroupID.z;
    const uint kb = p.kb;
    IntBuf st = IntBuf(p.status);
    if (st.v[2 * zi] >= 0) { // failed at an earlier block
        write_identity_w(z);
        return;
    }
    TBuf L = TBuf(t_addr(p.l, z * p.l_bs));
    const uint base = p.k0 * p.l_rs + p.k0 * p.l_cs;
    for (uint e = tid; e < kb * kb; e += nt) {
        uint i = e / kb, j = e % kb;
        TRI[i * TLD + j] = j <= i ? to_acc(L.v[base + i * p.l_rs + j * p.l_cs]) : ACC(0);
    }
    if (tid == 0) fail_at = -1;
    for (uint j = 0; j < kb; ++j) {
        barrier();
        const ACC d = TRI[j * TLD + j];
        if (!(d > ACC(0)) || isinf(d)) {
            if (tid == 0) fail_at = int(j);
            break; // d is the same for every invocation: uniform
        }
        const ACC r = sqrt(d);
        barrier(); // every invocation has read d
        if (tid == 0) TRI[j * TLD + j] = r;
        const ACC inv = ACC(1) / r;
        for (uint i = j + 1 + tid; i < kb; i += nt) TRI[i * TLD + j] *= inv;
        barrier();
        const uint m = kb - j - 1;
        for (uint e = tid; e < m * m; e += nt) {
            uint i = j + 1 + e / m, c = j + 1 + e % m;
            if (c <= i) TRI[i * TLD + c] = fma(-TRI[i * TLD + j], TRI[c * TLD + j], TRI[i * TLD + c]);
        }
    }
    barrier();
    // The factor (also the part before a failure) back into L.
    for (uint e = tid; e < kb * kb; e += nt) {
        uint i = e / kb, j = e % kb;
        if (j <= i) L.v[base + i * p.l_rs + j * p.l_cs] = from_acc(TRI[i * TLD + j]);
    }
    const int f = fail_at;
    if (f >= 0) {
        if (tid == 0) {
            const ACC d = TRI[f * TLD + f];
            st.v[2 * zi] = int(p.k0) + f;
            st.v[2 * zi + 1] = (isnan(d) || isinf(d)) ? 1 : 0;
        }
        barrier();
        // W = [inv(L[:f, :f]) 0; 0 I]: the panel's columns before the failure stay exact.
        for (uint e = tid; e < kb * kb; e += nt) {
            uint i = e / kb, j = e % kb;
            if (i >= uint(f)) TRI[i * TLD + j] = ACC(i == j ? 1 : 0);
        }
    }
    tri_invert_lower(kb);
    if (p.rest == 0) {
        TBuf W = TBuf(t_addr(p.w, z * NB * NB));
        for (uint e = tid; e < kb * kb; e += nt) {
            uint i = e / kb, j = e % kb;
            W.v[i * NB + j] = from_acc(j <= i ? TRI[i * TLD + j] : ACC(0));
        }
        return;
    }
    // The panel: row r of A21 times inv(L11)^T, read whole before it is overwritten.
    const uint pbase = base + kb * p.l_rs;
    ACC x[NB];
    for (uint r = tid; r < p.rest; r += nt) {
        const uint rb = pbase + r * p.l_rs;
        for (uint c = 0; c < kb; ++c) x[c] = to_acc(L.v[rb + c * p.l_cs]);
        for (uint j = 0; j < kb; ++j) {
            ACC s = ACC(0);
            for (uint c = 0; c <= j; ++c) s = fma(x[c], TRI[j * TLD + c], s);
            L.v[rb + j * p.l_cs] = from_acc(s);
        }
    }
}
