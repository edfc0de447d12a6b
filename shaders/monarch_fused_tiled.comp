//! variants: f32 f16
// Fused Monarch forward for GPUs. Same decomposition as monarch_fused_regtile: a workgroup
// takes TB rows and a group of G output blocks [g0, g0+G), computes the intermediate those
// blocks read into shared memory, u[(g*r + rho)*TB + row] (f32), then the outputs
// y[b, t*l + l_idx]. Stage 1, per block i of w1, is a TB x (G*R) x p product in column
// chunks of CW; stage 2, per output block, a TB x s x r product in chunks of SW columns,
// its A operand read straight from u. Operands are staged through shared memory BK terms at
// a time with coalesced loads; each invocation accumulates TM x TN (16 x 16 invocations).
#version 460
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "common/dtype.glsl"
#include "common/activation.glsl"
#include "common/monarch_fused_push.glsl"

layout(local_size_x_id = 0) in; // 256 = (TB/TM) x (CW/TN) = 16 x 16
layout(constant_id = 1) const uint TB = 32;
layout(constant_id = 2) const uint G = 4;
layout(constant_id = 3) const uint TM = 2;   // TB / 16
layout(constant_id = 4) const uint TN = 4;   // 64 / 16
layout(constant_id = 5) const uint USZ = 8192;
layout(constant_id = 6) const uint ACT = 0;

const uint CW = 16 * TN; // columns per chunk (both stages)
const uint BK = 16;
const uint SA = TB + 1, SB = CW + 1; // padded: transposed stores hit distinct banks
shared ACC U[USZ];
shared ACC As[BK * SA];
shared ACC Bs[BK * SB];

void main() {
    const uint tid = gl_LocalInvocationID.x, nthreads = gl_WorkGroupSize.x;
    const uint tx = tid % 16, ty = tid / 16;
    const uint row0 = gl_WorkGroupID.x * TB, g0 = gl_WorkGroupID.y * G;
    const uint GR = G * p.R;
    TBuf X = TBuf(p.x), W1 = TBuf(p.w1), W2 = TBuf(p.w2);

    // ---- stage 1 ----------------------------------------------------------------------------
    for (uint i = 0; i < p.k; ++i) {
        const uint ka = i * p.p >= p.n_in ? 0u : min(p.p, p.n_in - i * p.p);
        for (uint c0 = 0; c0 < GR; c0 += CW) {
            ACC acc[TM][TN];
            [[unroll]] for (uint a = 0; a < TM; ++a)
                [[unroll]] for (uint b = 0; b < TN; ++b) acc[a][b] = ACC(0);
            for (uint k0 = 0; k0 < ka; k0 += BK) {
                // x rows: contiguous along the term index -> consecutive invocations, consecutive terms.
                for (uint e = tid; e < TB * BK; e += nthreads) {
                    const uint rr = e / BK, kk = e % BK, row = row0 + rr, a = k0 + kk;
                    As[kk * SA + rr] = row < p.batch && a < ka ? to_acc(X.v[row * p.ldx + i * p.p + a]) : ACC(0);
                }
                // w1 rows of the chunk's channels: c -> (g = c % G, u = c / G), row j = g0 + g + l*u.
                for (uint e = tid; e < CW * BK; e += nthreads) {
                    const uint cc = e / BK, kk = e % BK, c = c0 + cc, a = k0 + kk;
                    ACC v = ACC(0);
                    if (c < GR && g0 + c % G < p.l && a < ka)
                        v = to_acc(W1.v[(i * p.q + g0 + c % G + p.l * (c / G)) * p.p + a]);
                    Bs[kk * SB + cc] = v;
                }
                barrier();
                for (uint kk = 0; kk < min(BK, ka - k0); ++kk) {
                    ACC ar[TM], br[TN];
                    [[unroll]] for (uint a = 0; a < TM; ++a) ar[a] = As[kk * SA + ty * TM + a];
                    [[unroll]] for (uint b = 0; b < TN; ++b) br[b] = Bs[kk * SB + tx + 16 * b];
                    [[unroll]] for (uint a = 0; a < TM; ++a)
                        [[unroll]] for (uint b = 0; b < TN; ++b) acc[a][b] = fma(ar[a], br[b], acc[a][b]);
                }
                barrier();
            }
            [[unroll]] for (uint b = 0; b < TN; ++b) {
                const uint c = c0 + tx + 16 * b;
                if (c >= GR) continue;
                const uint base = ((c % G) * p.r + i * p.R + c / G) * TB + ty * TM;
                [[unroll]] for (uint a = 0; a < TM; ++a) U[base + a] = acc[a][b];
            }
        }
    }
    barrier();

    // ---- stage 2 ----------------------------------------------------------------------------
    TBuf Y = TBuf(p.y);
    [[unroll]] for (uint g = 0; g < G; ++g) {
        const uint lam = g0 + g;
        if (lam >= p.l) break;
        const uint ubase = g * p.r * TB;
        for (uint t0 = 0; t0 < p.s; t0 += CW) {
            ACC acc[TM][TN];
            [[unroll]] for (uint a = 0; a < TM; ++a)
                [[unroll]] for (uint b = 0; b < TN; ++b) acc[a][b] = ACC(0);
            for (uint k0 = 0; k0 < p.r; k0 += BK) {
                for (uint e = tid; e < CW * BK; e += nthreads) {
                    const uint tt = e / BK, kk = e % BK, t = t0 + tt, rho = k0 + kk;
                    Bs[kk * SB + tt] = t < p.s && rho < p.r ? to_acc(W2.v[(lam * p.s + t) * p.r + rho]) : ACC(0);
                }
                barrier();
                for (uint kk = 0; kk < min(BK, p.r - k0); ++kk) {
                    ACC ar[TM], br[TN];
                    [[unroll]] for (uint a = 0; a < TM; ++a) ar[a] = U[ubase + (k0 + kk) * TB + ty * TM + a];
                    [[unroll]] for (uint b = 0; b < TN; ++b) br[b] = Bs[kk * SB + tx + 16 * b];
                    [[unroll]] for (uint a = 0; a < TM; ++a)
                        [[unroll]] for (uint b = 0; b < TN; ++b) acc[a][b] = fma(ar[a], br[b], acc[a][b]);
                }
                barrier();
            }
            [[unroll]] for (uint b = 0; b < TN; ++b) {
                const uint t = t0 + tx + 16 * b, col = t * p.l + lam;
                if (t >= p.s || col >= p.m_out) continue;
                const ACC bv = p.bias != 0 ? to_acc(TBuf(p.bias).v[col]) : ACC(0);
                [[unroll]] for (uint a = 0; a < TM; ++a) {
                    const uint row = row0 + ty * TM + a;
                    if (row < p.batch) Y.v[row * p.ldy + col] = from_acc(VKS_ACTIVATE(ACC, acc[a][b] + bv, ACT));
                }
            }
        }
    }
}
