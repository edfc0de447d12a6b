//! variants: f32 f64
// Device tridiagonalization (backend/ops/orthogonal_sytrd.c), the column's product with the
// trailing matrix (dlatrd's symv, corrected by the panel): for rows r > j
//   W(r, i) = tau (A22 v - W p - V q)_r,  A22 = A(j+1:n, j+1:n) as of the panel's start,
// read by columns (A22 is stored in full and symmetric: invocation r reads A(c, r), so a
// workgroup's loads are contiguous), v = A(j+1:n, j) staged in shared memory 64 at a time.
// One invocation per row: n + i iterations (n <= 65535 under lavapipe's loop limit).
#version 460
#extension GL_GOOGLE_include_directive : require
#include "common/dtype.glsl"

layout(local_size_x = 64) in;

#include "common/orthogonal_sytrd_push.glsl"

shared ACC vt[64], sp[64], sq[64];

void main() {
    const uint t = gl_LocalInvocationID.x, n = p.n, nb = p.nb, j = p.j, i = p.i, k0 = p.j - p.i;
    const uint r = j + 1 + gl_GlobalInvocationID.x;
    const uint64_t z = gl_WorkGroupID.z;
    TBuf A = TBuf(t_addr(p.a, z * n * n));
    TBuf X = TBuf(t_addr(p.aux, z * (n + 2 * nb)));
    if (t < i) {
        sp[t] = to_acc(X.v[n + t]);
        sq[t] = to_acc(X.v[n + nb + t]);
    }
    ACC y = ACC(0);
    for (uint c0 = j + 1; c0 < n; c0 += 64) {
        barrier();
        vt[t] = c0 + t < n ? to_acc(A.v[(c0 + t) * n + j]) : ACC(0);
        barrier();
        if (r < n) {
            const uint cn = min(64u, n - c0);
            for (uint c = 0; c < cn; ++c) y += to_acc(A.v[(c0 + c) * n + r]) * vt[c];
        }
    }
    barrier(); /* sp, sq visible even when the loop did not run */
    if (r >= n) return;
    TBuf W = TBuf(t_addr(p.w, z * n * nb));
    for (uint k = 0; k < i; ++k) y -= to_acc(W.v[r * nb + k]) * sp[k] + to_acc(A.v[r * n + k0 + k]) * sq[k];
    W.v[r * nb + i] = from_acc(to_acc(X.v[j]) * y);
}
