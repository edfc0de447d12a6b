// Push constants of the GEMM kernels (mirrored by gemm_push in backend/ops/gemm.c).
// C[z] = act(alpha * op(A[z]) op(B[z]) + beta * C[z] + bias), element strides; A is
// read as (i, k) at a[i*lda + k] (or a[k*lda + i] with TRANS_A), B as (k, j) at
// b[k*ldb + j] (or b[j*ldb + k] with TRANS_B), C row-major with row stride ldc.
layout(push_constant) uniform GemmPush {
    uint64_t a, b, c, bias; // device addresses; bias 0 = none
    uint m, n, k, pad0;
    uint lda, ldb, ldc, pad1;
    uint64_t stride_a, stride_b, stride_c; // batch strides in elements (0 broadcasts)
    ACC alpha, beta;
} p;
