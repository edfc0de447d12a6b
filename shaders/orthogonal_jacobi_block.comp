//! variants: f32 f64
// The heart of the Jacobi eigensolver: diagonalizes one nn x nn symmetric block of W in
// shared memory by cyclic Jacobi (parallel round-robin ordering: nn/2 disjoint rotations per
// round, nn-1 rounds per sweep), accumulating the rotations in Q, until a sweep needs none
// or after max_sweeps (the blocked solver does one sweep per block per round: the outer
// sweeps converge as fast, and rounds cost a third).
// A rotation (p, q) is skipped when |a_pq| <= eps * max(sqrt|a_pp a_qq|, ||a||_F / N)
// (Demmel-Veselic's relative test with an absolute floor).
//   SINGLE = false: workgroup (k, 0, z) takes the diagonal block of pair k (the slabs 2k and
//     2k+1, adjacent by construction) and writes its Q to q[z][k]; the caller applies the
//     rotations to all of W and V with GEMMs. Before rotating it stores the squared Frobenius
//     norm of the block's off-diagonal quarter (slab 2k x slab 2k+1) in offs[z][round][k]:
//     over a sweep these cover every off-diagonal block once, the convergence measure.
//   SINGLE = true: the whole (padded) matrix is one block: writes diag(S) to W's diagonal and
//     Q to V; rot[z] is set when the last sweep still rotated (no convergence).
#version 460
#extension GL_GOOGLE_include_directive : require
#include "common/dtype.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint BS = 32;
layout(constant_id = 2) const bool SINGLE = false;

layout(push_constant) uniform Push {
    uint64_t w, q, v, norms, rot, offs;
    uint64_t w_bs;
    uint N, nn, max_sweeps, pairs;
    uint round, rounds;
} p;

layout(buffer_reference, std430, buffer_reference_align = T_BYTES) buffer AccBuf { ACC v[]; };

#if defined(VKS_DTYPE_F64)
const ACC EPS = ACC(1.1102230246251565e-16);
#else
const ACC EPS = ACC(5.9604645e-08);
#endif

const uint LD = BS + 1;
shared ACC S[BS * LD];
shared ACC Q[BS * LD];
shared ACC rot_c[BS / 2], rot_s[BS / 2];
shared uint rotated;
shared ACC red[256];

// Pair t of round r of the round-robin on nn players.
uvec2 pair_of(uint r, uint t, uint nn) {
    if (t == 0) return uvec2(nn - 1, r);
    return uvec2((r + t) % (nn - 1), (r + nn - 1 - t) % (nn - 1));
}

void main() {
    const uint tid = gl_LocalInvocationID.x, nt = gl_WorkGroupSize.x;
    const uint k = gl_WorkGroupID.x, zi = gl_WorkGroupID.z;
    const uint64_t z = gl_WorkGroupID.z;
    const uint nn = p.nn, N = p.N, half_nn = nn / 2;
    TBuf W = TBuf(t_addr(p.w, z * p.w_bs + uint64_t(k) * nn * N + uint64_t(k) * nn));
    for (uint e = tid; e < nn * nn; e += nt) {
        uint i = e / nn, j = e % nn;
        S[i * LD + j] = to_acc(W.v[i * N + j]);
        Q[i * LD + j] = ACC(i == j ? 1 : 0);
    }
    barrier();
    if (!SINGLE) { // ||off-diagonal quarter||_F^2, before any rotation
        ACC ss = ACC(0);
        const uint b = nn / 2;
        for (uint e = tid; e < b * b; e += nt) {
            const ACC x = S[(e / b) * LD + b + e % b];
            ss += x * x;
        }
        red[tid] = ss;
        barrier();
        if (tid == 0) {
            for (uint t = 1; t < nt; ++t) ss += red[t];
            AccBuf(p.offs).v[(zi * p.rounds + p.round) * p.pairs + k] = ss;
        }
    }
    const ACC floor_abs = EPS * AccBuf(p.norms).v[zi] / ACC(N);
    bool last_any = false;
    for (uint sweep = 0; sweep < p.max_sweeps; ++sweep) {
        barrier();
        if (tid == 0) rotated = 0;
        for (uint r = 0; r + 1 < nn; ++r) {
            barrier();
            for (uint t = tid; t < half_nn; t += nt) {
                const uvec2 pq = pair_of(r, t, nn);
                const ACC app = S[pq.x * LD + pq.x], aqq = S[pq.y * LD + pq.y], apq = S[pq.x * LD + pq.y];
                ACC c = ACC(1), s = ACC(0);
                if (abs(apq) > EPS * max(sqrt(abs(app) * abs(aqq)), floor_abs)) {
                    const ACC theta = (aqq - app) / (ACC(2) * apq);
                    const ACC at = abs(theta);
                    // t = sign(theta) / (|theta| + sqrt(theta^2 + 1)), without overflow for big theta.
                    ACC tn = at > ACC(1e15) ? ACC(0.5) / at : ACC(1) / (at + sqrt(at * at + ACC(1)));
                    if (theta < ACC(0)) tn = -tn;
                    c = ACC(1) / sqrt(tn * tn + ACC(1));
                    s = tn * c;
                    rotated = 1;
                }
                rot_c[t] = c;
                rot_s[t] = s;
            }
            barrier();
            // S <- S J and Q <- Q J: new col a = c col a - s col b, new col b = s col a + c col b.
            for (uint e = tid; e < nn * half_nn; e += nt) {
                const uint i = e / half_nn, t = e % half_nn;
                const ACC s = rot_s[t];
                if (s == ACC(0)) continue;
                const ACC c = rot_c[t];
                const uvec2 pq = pair_of(r, t, nn);
                ACC x = S[i * LD + pq.x], y = S[i * LD + pq.y];
                S[i * LD + pq.x] = c * x - s * y;
                S[i * LD + pq.y] = s * x + c * y;
                x = Q[i * LD + pq.x], y = Q[i * LD + pq.y];
                Q[i * LD + pq.x] = c * x - s * y;
                Q[i * LD + pq.y] = s * x + c * y;
            }
            barrier();
            // S <- J^T S: the same on rows.
            for (uint e = tid; e < nn * half_nn; e += nt) {
                const uint j = e / half_nn, t = e % half_nn;
                const ACC s = rot_s[t];
                if (s == ACC(0)) continue;
                const ACC c = rot_c[t];
                const uvec2 pq = pair_of(r, t, nn);
                ACC x = S[pq.x * LD + j], y = S[pq.y * LD + j];
                S[pq.x * LD + j] = c * x - s * y;
                S[pq.y * LD + j] = s * x + c * y;
            }
            barrier();
            for (uint t = tid; t < half_nn; t += nt) { // annihilated exactly
                if (rot_s[t] == ACC(0)) continue;
                const uvec2 pq = pair_of(r, t, nn);
                S[pq.x * LD + pq.y] = ACC(0);
                S[pq.y * LD + pq.x] = ACC(0);
            }
        }
        barrier();
        const bool any = rotated != 0;
        last_any = any;
        if (!any) break; // uniform: every invocation read the same value
    }
    barrier();
    if (SINGLE && tid == 0 && last_any) atomicOr(IntBuf(p.rot).v[zi], 1);
    if (SINGLE) {
        for (uint i = tid; i < nn; i += nt) W.v[i * N + i] = from_acc(S[i * LD + i]);
        TBuf V = TBuf(t_addr(p.v, z * p.w_bs));
        for (uint e = tid; e < nn * nn; e += nt) V.v[(e / nn) * N + e % nn] = from_acc(Q[(e / nn) * LD + e % nn]);
    } else {
        TBuf Qo = TBuf(t_addr(p.q, (z * p.pairs + k) * uint64_t(BS) * BS));
        for (uint e = tid; e < nn * nn; e += nt) Qo.v[(e / nn) * BS + e % nn] = from_acc(Q[(e / nn) * LD + e % nn]);
    }
}
