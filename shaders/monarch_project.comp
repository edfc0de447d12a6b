//! variants: f32 f16
// Projection of a dense M onto Monarch, one workgroup per block pair (l_idx, i) of M:
//   B(t, a) = M[t*l + l_idx, i*p + a]   (s x p; zero past M's rows / columns)
// is produced by w2[l_idx, :, rho] and w1[i, j, :] for the contiguous range of rho whose
// channel c = rho*l + l_idx lies in w1's block i (c / q == i, j = c % q): R = that count.
// The Frobenius-optimal rank-R factors come from the top-R right singular subspace of B,
// found by orthogonal (subspace) iteration: V <- orth(B^T B V), orth = classical
// Gram-Schmidt done twice, until the captured energy |B V|_F^2 changes by less than
// tol times itself or max_iter applications of B^T B ran. Then with Z = B V,
// sigma_j = |Z_j|: w2[:, rho_j] = Z_j / sqrt(sigma_j), w1[j-row] = sqrt(sigma_j) V_j, so
// w2 w1 = B V V^T, the best approximation with that row space. Finally the residual
// |B - w2 w1|^2 (from the stored, rounded factors) and |B|^2 go to result[block].
// Scratch per block (f32, coherent: invocations exchange it across barriers): V (p x RMAX),
// Z (s x RMAX), 4 values of iteration state. Every branch that steers the loops is uniform.
#version 460
#extension GL_GOOGLE_include_directive : require
#include "common/dtype.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint RMAX = 1; // the largest R of any block

layout(push_constant) uniform ProjectPush {
    uint64_t m, w1, w2, scratch, result;
    uint m_rows, n_cols, ldm, k;
    uint q, p, l, s;
    uint r, max_iter, block0, phase; // phase 0: iterations it_begin+1 .. it_end; 1: the factors
    uint it_begin, it_end;
    float tol, pad1;
} pc;

layout(buffer_reference, std430, buffer_reference_align = 4) coherent buffer CBuf { float v[]; };
layout(buffer_reference, std430, buffer_reference_align = T_BYTES) coherent buffer CTBuf { T v[]; };

shared float red[gl_WorkGroupSize.x];
shared float dots[RMAX];
shared float diag[RMAX];

float reduce_sum(float v) {
    const uint tid = gl_LocalInvocationID.x;
    red[tid] = v;
    barrier();
    for (uint h = gl_WorkGroupSize.x / 2; h > 0; h /= 2) {
        if (tid < h) red[tid] += red[tid + h];
        barrier();
    }
    const float s = red[0];
    barrier();
    return s;
}

void sync_all() {
    memoryBarrierBuffer();
    barrier();
}

// Classical Gram-Schmidt done twice per column (CGS2): V's first RE columns orthonormal.
// A numerically null column (rank below R) becomes zero: its sigma is then zero.
void orthonormalize(CBuf V, uint RE) {
    const uint tid = gl_LocalInvocationID.x, nt = gl_WorkGroupSize.x;
    for (uint j = 0; j < RE; ++j) {
        for (uint pass = 0; pass < 2; ++pass) {
            for (uint mm = tid; mm < j; mm += nt) {
                float d = 0;
                for (uint a = 0; a < pc.p; ++a) d += V.v[a * RMAX + j] * V.v[a * RMAX + mm];
                dots[mm] = d;
            }
            sync_all();
            for (uint a = tid; a < pc.p; a += nt) {
                float v = V.v[a * RMAX + j];
                for (uint mm = 0; mm < j; ++mm) v -= dots[mm] * V.v[a * RMAX + mm];
                V.v[a * RMAX + j] = v;
            }
            sync_all();
        }
        float part = 0;
        for (uint a = tid; a < pc.p; a += nt) part += V.v[a * RMAX + j] * V.v[a * RMAX + j];
        const float norm = sqrt(reduce_sum(part));
        const float inv = norm > 1e-30 ? 1.0 / norm : 0.0;
        for (uint a = tid; a < pc.p; a += nt) V.v[a * RMAX + j] *= inv;
        sync_all();
    }
}

uint hash(uint x) {
    x ^= x >> 16; x *= 0x7feb352du; x ^= x >> 15; x *= 0x846ca68bu; x ^= x >> 16;
    return x;
}

void main() {
    const uint tid = gl_LocalInvocationID.x, nt = gl_WorkGroupSize.x;
    const uint blk = pc.block0 + gl_WorkGroupID.x;
    const uint lam = blk / pc.k, i = blk % pc.k;
    // Channels c in [i*q, (i+1)*q) with c % l == lam: rho in [rho0, rho1).
    const int lo = int(i * pc.q) - int(lam), hi = int((i + 1) * pc.q) - int(lam);
    const uint rho0 = lo <= 0 ? 0u : uint((lo + int(pc.l) - 1) / int(pc.l));
    const uint rho1 = hi <= 0 ? 0u : min(pc.r, uint((hi + int(pc.l) - 1) / int(pc.l)));
    const uint R = rho1 > rho0 ? rho1 - rho0 : 0u;
    const uint RE = min(R, min(pc.s, pc.p)); // ranks past min(s, p) are zero
    const uint stride = (pc.p + pc.s) * RMAX + 4;
    CBuf V = CBuf(pc.scratch + uint64_t(blk) * stride * 4);
    CBuf Z = CBuf(pc.scratch + (uint64_t(blk) * stride + pc.p * RMAX) * 4);
    TBuf M = TBuf(pc.m);
    const uint row_of = lam, col0 = i * pc.p;
    #define BV(t, a) ((t) * pc.l + row_of < pc.m_rows && col0 + (a) < pc.n_cols ? \
                      to_acc(M.v[((t) * pc.l + row_of) * pc.ldm + col0 + (a)]) : ACC(0))

    // State between dispatches (lavapipe ends every loop of an invocation after 65535
    // iterations in all, so the host splits the iterations over dispatches): the energy of
    // the last iteration, whether the block is done, how many iterations it ran.
    CBuf ST = CBuf(pc.scratch + (uint64_t(blk) * stride + (pc.p + pc.s) * RMAX) * 4);
    float e_prev = -1.0;
    bool done = RE == 0;
    uint iters = 0;
    if (pc.phase == 0 && pc.it_begin == 0) {
        if (RE > 0) {
            for (uint e = tid; e < pc.p * RE; e += nt)
                V.v[(e / RE) * RMAX + e % RE] = float(hash(blk * 7919u + e) & 0xFFFFu) / 32768.0 - 1.0;
            sync_all();
            orthonormalize(V, RE);
        }
    } else {
        e_prev = ST.v[0];
        done = ST.v[1] != 0.0;
        iters = uint(ST.v[2]);
    }
    if (pc.phase == 0) {
        // Captured energy |B V|^2 rises to the sum of the top R sigma^2; its relative change
        // is the convergence test (the subspace is what matters: columns of nearly equal
        // sigma may keep rotating within it without changing the approximation). Every
        // value that steers the loop comes out of reduce_sum, so all invocations agree.
        for (uint it = pc.it_begin + 1; it <= pc.it_end && !done; ++it) {
            for (uint e = tid; e < pc.s * RE; e += nt) { // Z = B V
                const uint t = e / RE, j = e % RE;
                float acc = 0;
                for (uint a = 0; a < pc.p; ++a) acc += float(BV(t, a)) * V.v[a * RMAX + j];
                Z.v[t * RMAX + j] = acc;
            }
            sync_all();
            float part = 0;
            for (uint e = tid; e < pc.s * RE; e += nt) {
                const float z = Z.v[(e / RE) * RMAX + e % RE];
                part += z * z;
            }
            const float energy = reduce_sum(part);
            if (e_prev >= 0.0 && abs(energy - e_prev) <= pc.tol * energy) {
                done = true;
                break;
            }
            e_prev = energy;
            if (it > pc.max_iter) break; // max_iter applications of B^T B ran: stop, not done
            iters = it;
            for (uint e = tid; e < pc.p * RE; e += nt) { // V = orth(B^T Z)
                const uint a = e / RE, j = e % RE;
                float acc = 0;
                for (uint t = 0; t < pc.s; ++t) acc += float(BV(t, a)) * Z.v[t * RMAX + j];
                V.v[a * RMAX + j] = acc;
            }
            sync_all();
            orthonormalize(V, RE);
        }
        if (tid == 0) {
            ST.v[0] = e_prev;
            ST.v[1] = done ? 1.0 : 0.0;
            ST.v[2] = float(iters);
        }
        return;
    }

    // ---- phase 1: sigma_j = |B V_j|, the factors, the residual ------------------------------
    for (uint e = tid; e < pc.s * RE; e += nt) {
        const uint t = e / RE, j = e % RE;
        float acc = 0;
        for (uint a = 0; a < pc.p; ++a) acc += float(BV(t, a)) * V.v[a * RMAX + j];
        Z.v[t * RMAX + j] = acc;
    }
    sync_all();
    for (uint j = 0; j < RE; ++j) {
        float part = 0;
        for (uint t = tid; t < pc.s; t += nt) part += Z.v[t * RMAX + j] * Z.v[t * RMAX + j];
        const float sigma = sqrt(reduce_sum(part));
        if (tid == 0) diag[j] = sigma;
    }
    barrier();
    // The factors: columns rho0 + j of w2[lam], rows j = c % q of w1[i]; zeros past RE.
    CTBuf W1 = CTBuf(pc.w1), W2 = CTBuf(pc.w2);
    for (uint e = tid; e < pc.s * R; e += nt) {
        const uint t = e / R, j = e % R;
        const float sg = j < RE ? diag[j] : 0.0;
        const float v = sg > 0 ? Z.v[t * RMAX + j] / sqrt(sg) : 0.0;
        W2.v[(lam * pc.s + t) * pc.r + rho0 + j] = from_acc(v);
    }
    for (uint e = tid; e < R * pc.p; e += nt) {
        const uint j = e / pc.p, a = e % pc.p;
        const uint row = (rho0 + j) * pc.l + lam - i * pc.q;
        const float v = j < RE ? sqrt(diag[j]) * V.v[a * RMAX + j] : 0.0;
        W1.v[(i * pc.q + row) * pc.p + a] = from_acc(v);
    }
    memoryBarrierBuffer();
    barrier();
    // Residual of the stored factors.
    float res = 0, nrm = 0;
    for (uint e = tid; e < pc.s * pc.p; e += nt) {
        const uint t = e / pc.p, a = e % pc.p;
        float approx = 0;
        for (uint j = 0; j < R; ++j)
            approx += to_acc(W2.v[(lam * pc.s + t) * pc.r + rho0 + j]) *
                      to_acc(W1.v[(i * pc.q + (rho0 + j) * pc.l + lam - i * pc.q) * pc.p + a]);
        const float b = float(BV(t, a));
        res += (b - approx) * (b - approx);
        nrm += b * b;
    }
    res = reduce_sum(res);
    nrm = reduce_sum(nrm);
    if (tid == 0) {
        CBuf out_r = CBuf(pc.result + uint64_t(blk) * 16);
        out_r.v[0] = res;
        out_r.v[1] = nrm;
        out_r.v[2] = float(iters);
        out_r.v[3] = done ? 1.0 : 0.0;
    }
}
