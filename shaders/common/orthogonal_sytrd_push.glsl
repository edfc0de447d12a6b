// Push constants of the device tridiagonalization's kernels (orthogonal_sytrd_*.comp),
// mirrored by sytrd_push in backend/ops/orthogonal_sytrd.c.
layout(push_constant) uniform Push {
    uint64_t a;     // batch x n x n, row-major, the working matrix (reflectors on exit)
    uint64_t w;     // batch x n x nb, row-major: the panel's W
    uint64_t aux;   // batch x (n + 2 nb): tau, then p = V^T v and q = W^T v of the column
    uint64_t flags; // batch x 2 ints: non-finite input, the scaling exponent
    uint n, nb, j, i, finalize_only, pad;
} p;
