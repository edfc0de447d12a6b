//! variants: f32 f16
// Fused Monarch forward for CPU devices (lavapipe). A workgroup (one subgroup) takes TB
// rows of x and a group of G output blocks l_idx in [g0, g0+G): it computes exactly the
// intermediate values those blocks read, u[b, l_idx, rho] = out1[b, c] for c = rho*l + l_idx
// (the middle permutation), keeps them in workgroup memory, and produces
// y[b, t*l + l_idx]. With q = R*l, channel c = rho*l + l_idx comes from w1's block
// i = rho / R, row j = l_idx + l*(rho % R), so each block of w1 feeds G*R of the group's
// channels: stage 1 is, per block i, a TB x (G*R) x p product; stage 2, per l_idx, a
// TB x s x r product. Both are register-tiled like gemm_regtile (lanes own columns, rows of
// the A operand loaded once by one lane and shared with subgroupShuffle, two elements per
// 64-bit load along the reduction where aligned), so the intermediate never goes to
// global memory and every x and weight element is loaded once per tile.
#version 460
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_shuffle : require
#include "common/dtype.glsl"
#include "common/activation.glsl"
#include "common/monarch_fused_push.glsl"

layout(local_size_x_id = 0) in; // = SG
layout(constant_id = 1) const uint TB = 16;  // rows per tile (multiple of SG)
layout(constant_id = 2) const uint G = 16;   // output blocks per tile
layout(constant_id = 3) const uint TN1 = 2;  // stage-1 columns per lane
layout(constant_id = 4) const uint TN2 = 4;  // stage-2 columns per lane
layout(constant_id = 5) const uint USZ = 8192; // TB * G * r: the tile's intermediate
layout(constant_id = 6) const bool PAIRS_X = false; // x rows and blocks pair-aligned
layout(constant_id = 7) const bool PAIRS_W1 = false;
layout(constant_id = 8) const bool PAIRS_W2 = false;
layout(constant_id = 9) const uint ACT = 0;
layout(constant_id = 10) const uint SG = 8;

const uint RS = TB / SG; // rows a lane loads for the others

// u[(g*r + rho)*TB + row]: rows innermost, so that lanes load neighbouring rows.
shared ACC U[USZ];

layout(buffer_reference, std430, buffer_reference_align = 8) buffer U64Buf { uint64_t v[]; };
layout(buffer_reference, std430, buffer_reference_align = 4) buffer U32Buf { uint v[]; };

vec2 load_pair(uint64_t base, uint e) {
#if defined(VKS_DTYPE_F16)
    return unpackHalf2x16(U32Buf(base).v[e >> 1]);
#else
    return uintBitsToFloat(unpackUint2x32(U64Buf(base).v[e >> 1]));
#endif
}

void main() {
    const uint lane = gl_SubgroupInvocationID;
    const uint row0 = gl_WorkGroupID.x * TB, g0 = gl_WorkGroupID.y * G;
    const uint GR = G * p.R;
    TBuf X = TBuf(p.x), W1 = TBuf(p.w1), W2 = TBuf(p.w2);

    uint xrow[RS]; // element offsets of the x rows this lane loads (clamped to the last row)
    for (uint s = 0; s < RS; ++s) xrow[s] = min(row0 + lane + SG * s, p.batch - 1) * p.ldx;

    // ---- stage 1: u for the group, block i of w1 at a time ------------------------------
    for (uint i = 0; i < p.k; ++i) {
        // Terms of block i that exist in x (zero padding past n_in).
        const uint ka = i * p.p >= p.n_in ? 0u : min(p.p, p.n_in - i * p.p);
        const uint xoff = i * p.p;
        for (uint c0 = 0; c0 < GR; c0 += SG * TN1) {
            // Column c of the group: g = c % G, u = c / G -> w1 row j = g0 + g + l*u, rho = i*R + u.
            uint wrow[TN1];
            for (uint jj = 0; jj < TN1; ++jj) {
                const uint c = min(c0 + lane + SG * jj, GR - 1);
                const uint lam = min(g0 + c % G, p.l - 1);
                wrow[jj] = (i * p.q + lam + p.l * (c / G)) * p.p;
            }
            ACC acc[TB][TN1];
            for (uint ii = 0; ii < TB; ++ii)
                for (uint jj = 0; jj < TN1; ++jj) acc[ii][jj] = ACC(0);
            for (uint a = 0; a < ka; a += 2) {
                const uint na = a + 1 < ka ? 2u : 1u;
                ACC xv[2][RS], wv[2][TN1];
                if (PAIRS_X && na == 2) {
                    for (uint s = 0; s < RS; ++s) {
                        vec2 v = load_pair(p.x, xrow[s] + xoff + a);
                        xv[0][s] = v.x, xv[1][s] = v.y;
                    }
                } else {
                    for (uint kk = 0; kk < na; ++kk)
                        for (uint s = 0; s < RS; ++s) xv[kk][s] = to_acc(X.v[xrow[s] + xoff + a + kk]);
                }
                if (PAIRS_W1 && na == 2) {
                    for (uint jj = 0; jj < TN1; ++jj) {
                        vec2 v = load_pair(p.w1, wrow[jj] + a);
                        wv[0][jj] = v.x, wv[1][jj] = v.y;
                    }
                } else {
                    for (uint kk = 0; kk < na; ++kk)
                        for (uint jj = 0; jj < TN1; ++jj) wv[kk][jj] = to_acc(W1.v[wrow[jj] + a + kk]);
                }
                for (uint kk = 0; kk < na; ++kk)
                    for (uint ii = 0; ii < TB; ++ii) {
                        ACC xs = subgroupShuffle(xv[kk][ii / SG], ii % SG);
                        for (uint jj = 0; jj < TN1; ++jj) acc[ii][jj] = fma(xs, wv[kk][jj], acc[ii][jj]);
                    }
            }
            for (uint jj = 0; jj < TN1; ++jj) {
                const uint c = c0 + lane + SG * jj;
                if (c >= GR) continue;
                const uint base = ((c % G) * p.r + i * p.R + c / G) * TB;
                for (uint ii = 0; ii < TB; ++ii) U[base + ii] = acc[ii][jj];
            }
        }
    }
    barrier();

    // ---- stage 2: y[b, t*l + l_idx] = sum_rho w2[l_idx, t, rho] u[b, l_idx, rho] ------------
    const uint64_t bias_base = p.bias;
    for (uint g = 0; g < G; ++g) {
        const uint lam = g0 + g;
        if (lam >= p.l) break;
        const uint ubase = g * p.r * TB;
        for (uint t0 = 0; t0 < p.s; t0 += SG * TN2) {
            uint wrow[TN2];
            for (uint jj = 0; jj < TN2; ++jj) wrow[jj] = (lam * p.s + min(t0 + lane + SG * jj, p.s - 1)) * p.r;
            ACC acc[TB][TN2];
            for (uint ii = 0; ii < TB; ++ii)
                for (uint jj = 0; jj < TN2; ++jj) acc[ii][jj] = ACC(0);
            for (uint rho = 0; rho < p.r; rho += 2) {
                const uint nr = rho + 1 < p.r ? 2u : 1u;
                ACC uv[2][RS], wv[2][TN2];
                for (uint kk = 0; kk < nr; ++kk)
                    for (uint s = 0; s < RS; ++s) uv[kk][s] = U[ubase + (rho + kk) * TB + lane + SG * s];
                if (PAIRS_W2 && nr == 2) {
                    for (uint jj = 0; jj < TN2; ++jj) {
                        vec2 v = load_pair(p.w2, wrow[jj] + rho);
                        wv[0][jj] = v.x, wv[1][jj] = v.y;
                    }
                } else {
                    for (uint kk = 0; kk < nr; ++kk)
                        for (uint jj = 0; jj < TN2; ++jj) wv[kk][jj] = to_acc(W2.v[wrow[jj] + rho + kk]);
                }
                for (uint kk = 0; kk < nr; ++kk)
                    for (uint ii = 0; ii < TB; ++ii) {
                        ACC us = subgroupShuffle(uv[kk][ii / SG], ii % SG);
                        for (uint jj = 0; jj < TN2; ++jj) acc[ii][jj] = fma(us, wv[kk][jj], acc[ii][jj]);
                    }
            }
            TBuf Y = TBuf(p.y);
            for (uint jj = 0; jj < TN2; ++jj) {
                const uint t = t0 + lane + SG * jj, col = t * p.l + lam;
                if (t >= p.s || col >= p.m_out) continue;
                const ACC bv = bias_base != 0 ? to_acc(TBuf(bias_base).v[col]) : ACC(0);
                for (uint ii = 0; ii < TB; ++ii) {
                    const uint row = row0 + ii;
                    if (row >= p.batch) break;
                    Y.v[row * p.ldy + col] = from_acc(VKS_ACTIVATE(ACC, acc[ii][jj] + bv, ACT));
                }
            }
        }
    }
}
