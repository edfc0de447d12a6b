// Push constants of the SYRK kernels (mirrored by syrk_push in backend/ops/orthogonal_syrk.c).
// OUT[z] = alpha * op(S[z]) op(S[z])^T + beta * CIN[z] + gamma * I, an n x n result of which
// only the lower triangle is computed; with MIRROR it is also stored to the upper one.
// op(S)(i, k) = s[i*lda + k], or s[k*lda + i] with TRANS (S stored k x n).
layout(push_constant) uniform SyrkPush {
    uint64_t s, cin, cout; // device addresses; cin is read only when beta != 0
    uint n, k, lda, ldc_in;
    uint ldc_out, pad0, pad1, pad2;
    uint64_t stride_s, stride_cin, stride_cout; // batch strides in elements
    ACC alpha, beta, gamma;
} p;

// The epilogue both kernels share: the value of element (i, j), i >= j.
ACC syrk_value(ACC acc, uint i, uint j, uint64_t z) {
    ACC v = p.alpha * acc;
    if (p.beta != ACC(0)) v += p.beta * to_acc(TBuf(t_addr(p.cin, z * p.stride_cin)).v[i * p.ldc_in + j]);
    if (i == j) v += p.gamma;
    return v;
}
