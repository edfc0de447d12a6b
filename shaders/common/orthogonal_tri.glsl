// Shared-memory triangular kernels of the factorizations: the block lives in TRI[i*TLD + j]
// (declared by the including shader with TLD >= block size + 1 against bank conflicts).
#ifndef VKS_ORTHOGONAL_TRI_GLSL
#define VKS_ORTHOGONAL_TRI_GLSL

shared ACC tri_x[TRI_MAX];

// In place: the lower-triangular kb x kb block in TRI becomes its inverse (LAPACK's trti2,
// lower, non-unit: columns from the last to the first, each a triangular matrix-vector
// product with the part already inverted). Call from uniform control flow.
void tri_invert_lower(uint kb) {
    const uint tid = gl_LocalInvocationID.x, nt = gl_WorkGroupSize.x;
    for (int jj = int(kb) - 1; jj >= 0; --jj) {
        const uint j = uint(jj);
        barrier();
        const ACC inv = ACC(1) / TRI[j * TLD + j];
        for (uint i = j + 1 + tid; i < kb; i += nt) tri_x[i] = TRI[i * TLD + j];
        barrier();
        for (uint i = j + 1 + tid; i < kb; i += nt) {
            ACC s = ACC(0);
            for (uint k = j + 1; k <= i; ++k) s = fma(TRI[i * TLD + k], tri_x[k], s);
            TRI[i * TLD + j] = -inv * s;
        }
        if (tid == 0) TRI[j * TLD + j] = inv;
    }
    barrier();
}

#endif
