// Push constants of the strided block-batched GEMM of the Monarch family (mirrored by
// bmm_push in backend/ops/monarch_record.c). For block z (workgroup z):
//   C_z(i, j) = act( sum_{kk < K_z} A_z(i, kk) * B_z(kk, j) + bias_z(j) )   for j < N_z
// with every operand addressed by element strides, none of which needs to be 1, so the
// Monarch permutations fold into the addressing:
//   A_z(i, kk) = a[z*a_bs + i*a_rs + kk*a_cs]     B_z(kk, j) = b[z*b_bs + kk*b_rs + j*b_cs]
//   C_z(i, j)  = c[z*c_bs + i*c_rs + j*c_cs]      bias_z(j)  = bias[z*bias_bs + j*bias_cs]
// Per-block limits (zero padding of x, truncation of y in MonarchLinear):
//   K_z = min(K, ceil((k_lim - z*k_z) / k_j)) terms are summed (the rest are zeros);
//   N_z = min(N, ceil((n_lim - z*n_z) / n_j)) columns are written (the rest do not exist).
// accumulate != 0: C += the product (a later slice of the reduction, see mon__bmm_record).
layout(push_constant) uniform BmmPush {
    uint64_t a, b, c, bias; // device addresses; bias 0 = none
    uint m, n, k, accumulate;
    uint a_bs, a_rs, a_cs, b_bs;
    uint b_rs, b_cs, c_bs, c_rs;
    uint c_cs, bias_bs, bias_cs, k_z;
    uint k_j, k_lim, n_z, n_j;
    uint n_lim, blocks, col_tiles, pad3; // blocks, col_tiles: for block-fastest workgroup order
} p;

// The number of summed terms and written columns of block z (see above).
uint bmm_k_extent(uint z) {
    int rest = int(p.k_lim) - int(z * p.k_z);
    return rest <= 0 ? 0u : min(p.k, (uint(rest) + p.k_j - 1u) / p.k_j);
}
uint bmm_n_extent(uint z) {
    int rest = int(p.n_lim) - int(z * p.n_z);
    return rest <= 0 ? 0u : min(p.n, (uint(rest) + p.n_j - 1u) / p.n_j);
}
