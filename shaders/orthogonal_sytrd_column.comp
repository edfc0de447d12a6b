//! variants: f32 f64
// Device tridiagonalization (backend/ops/orthogonal_sytrd.c), one column j of a panel (LAPACK's
// dlatrd, uplo = 'L'; panel column i = j - k0, at most 64 per panel); one workgroup per matrix:
//   0. (i > 0) finishes the previous column's w: w += alpha v, alpha = -tau (w^T v) / 2;
//      with finalize_only that is all (the panel's end);
//   1. A(j:n, j) -= V(j:n, :) W(j, :)^T + W(j:n, :) V(j, :)^T over the panel's i columns so far
//      (V: the reflectors, stored in the panel's columns of A with their unit entry);
//   2. the Householder reflector of A(j+1:n, j) (dlarfg, the norm scaled as dnrm2):
//      A(j+1, j) = 1, v below it, beta (the off-diagonal e_j) into A(j, j+1), tau into aux;
//   3. p = V^T v and q = W^T v for orthogonal_sytrd_symv.
// Loops: about (n / 256)(i + 6) + n / 4 iterations per invocation, under lavapipe's limit for
// n <= 32768 (the largest n the reduction is taken for). Buffers are coherent: invocations
// exchange A and W across barriers.
#version 460
#extension GL_GOOGLE_include_directive : require
#include "common/dtype.glsl"

layout(local_size_x = 256) in;

#include "common/orthogonal_sytrd_push.glsl"

layout(buffer_reference, std430, buffer_reference_align = T_BYTES) coherent buffer CTBuf { T v[]; };

const uint NT = 256;
shared ACC red[NT], red2[NT];
shared ACC sv[64], sw[64];

ACC reduce(ACC x, bool take_max) {
    const uint t = gl_LocalInvocationID.x;
    red[t] = x;
    barrier();
    for (uint s = NT / 2; s > 0; s >>= 1) {
        if (t < s) red[t] = take_max ? max(red[t], red[t + s]) : red[t] + red[t + s];
        barrier();
    }
    const ACC r = red[0];
    barrier();
    return r;
}

void main() {
    const uint t = gl_LocalInvocationID.x, n = p.n, nb = p.nb, j = p.j, i = p.i, k0 = p.j - p.i;
    const uint64_t z = gl_WorkGroupID.z;
    CTBuf A = CTBuf(t_addr(p.a, z * n * n));
    CTBuf W = CTBuf(t_addr(p.w, z * n * nb));
    CTBuf X = CTBuf(t_addr(p.aux, z * (n + 2 * nb)));
    if (i > 0) {
        const uint jp = j - 1, ip = i - 1; /* v_jp lives in rows >= j */
        ACC s = ACC(0);
        for (uint r = j + t; r < n; r += NT) s += to_acc(W.v[r * nb + ip]) * to_acc(A.v[r * n + jp]);
        const ACC alpha = ACC(-0.5) * to_acc(X.v[jp]) * reduce(s, false);
        for (uint r = j + t; r < n; r += NT)
            W.v[r * nb + ip] = from_acc(to_acc(W.v[r * nb + ip]) + alpha * to_acc(A.v[r * n + jp]));
        memoryBarrierBuffer();
        barrier();
    }
    if (p.finalize_only != 0) return;
    if (t < i) {
        sv[t] = to_acc(A.v[j * n + k0 + t]);
        sw[t] = to_acc(W.v[j * nb + t]);
    }
    barrier();
    for (uint r = j + t; r < n; r += NT) {
        ACC x = to_acc(A.v[r * n + j]);
        for (uint k = 0; k < i; ++k) x -= to_acc(A.v[r * n + k0 + k]) * sw[k] + to_acc(W.v[r * nb + k]) * sv[k];
        A.v[r * n + j] = from_acc(x);
    }
    memoryBarrierBuffer();
    barrier();
    ACC m = ACC(0);
    for (uint r = j + 2 + t; r < n; r += NT) m = max(m, abs(to_acc(A.v[r * n + j])));
    m = reduce(m, true);
    ACC ss = ACC(0);
    if (m > ACC(0))
        for (uint r = j + 2 + t; r < n; r += NT) {
            const ACC x = to_acc(A.v[r * n + j]) / m;
            ss += x * x;
        }
    ss = reduce(ss, false);
    const ACC xnorm = m * sqrt(ss), alpha = to_acc(A.v[(j + 1) * n + j]);
    ACC tau = ACC(0), beta = alpha;
    if (xnorm > ACC(0)) {
        const ACC mx = max(abs(alpha), xnorm), ra = alpha / mx, rx = xnorm / mx;
        beta = mx * sqrt(ra * ra + rx * rx);
        if (alpha >= ACC(0)) beta = -beta;
        tau = (beta - alpha) / beta;
        const ACC scal = ACC(1) / (alpha - beta);
        for (uint r = j + 2 + t; r < n; r += NT) A.v[r * n + j] = from_acc(to_acc(A.v[r * n + j]) * scal);
    }
    barrier(); /* every invocation has read alpha */
    if (t == 0) {
        A.v[(j + 1) * n + j] = T(1);
        A.v[j * n + j + 1] = from_acc(beta);
        X.v[j] = from_acc(tau);
    }
    memoryBarrierBuffer();
    barrier();
    /* p_k and q_k: invocation t sums rows r = j + 1 + t/64 (mod 4) for k = t % 64 (a row's
     * V and W entries are contiguous across k), then four partial sums per k. */
    const uint k = t & 63u, g = t >> 6;
    ACC sp = ACC(0), sq = ACC(0);
    if (k < i)
        for (uint r = j + 1 + g; r < n; r += 4) {
            const ACC vr = to_acc(A.v[r * n + j]);
            sp += to_acc(A.v[r * n + k0 + k]) * vr;
            sq += to_acc(W.v[r * nb + k]) * vr;
        }
    red[t] = sp;
    red2[t] = sq;
    barrier();
    if (t < i) {
        X.v[n + t] = from_acc((red[t] + red[t + 64]) + (red[t + 128] + red[t + 192]));
        X.v[n + nb + t] = from_acc((red2[t] + red2[t + 64]) + (red2[t + 128] + red2[t + 192]));
    }
}
