//! variants: f32 f16 f64
// Dense GEMM for GPUs: BM x BN output tiles per workgroup, staged through shared memory
// BK columns of K at a time; each invocation accumulates a TM x TN register tile.
// Rows of a thread's tile are contiguous, its columns strided by BN/TN so that a warp's
// shared-memory reads of B and its stores of C touch consecutive addresses.
// Two options, off by default until timed on a GPU (backend/ops/gemm.c, VKS_GEMM_TILED):
//   PIPELINE: two shared buffers; the next tile's global loads are issued into registers
//             before the current tile's arithmetic and stored after it, one barrier a step.
//   COL4:     a thread's columns in runs of 4 adjacent ones (TN % 4 == 0), so that its reads
//             of B from shared memory and its stores of C can be 16-byte accesses.
#version 460
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "common/dtype.glsl"
#include "common/activation.glsl"
#include "common/gemm_push.glsl"
#include "common/tile_order.glsl"

layout(local_size_x_id = 0) in; // (BM/TM) * (BN/TN)
layout(constant_id = 1) const uint BM = 128;
layout(constant_id = 2) const uint BN = 128;
layout(constant_id = 3) const uint BK = 8;
layout(constant_id = 4) const uint TM = 8;
layout(constant_id = 5) const uint TN = 8;
layout(constant_id = 6) const bool TRANS_A = false;
layout(constant_id = 7) const bool TRANS_B = false;
layout(constant_id = 8) const uint ACT = 0;
layout(constant_id = 9) const uint NBUF = 1; // 2: PIPELINE
layout(constant_id = 10) const bool COL4 = false;

const uint NT = (BM / TM) * (BN / TN);
const uint TX = BN / TN;
const uint SA = BM + 4; // padded row of As: the tile loads below hit distinct banks
const uint SB = BN + 4;
const uint LA = (BM * BK + NT - 1) / NT, LB = (BN * BK + NT - 1) / NT; // loads per invocation
shared ACC As[NBUF * BK * SA];
shared ACC Bs[NBUF * BK * SB];
ACC ra[LA], rb[LB]; // this invocation's share of the tiles between global and shared memory

// Column (within the tile) of a thread's j-th accumulator.
uint tile_col(uint tx, uint j) { return COL4 ? (j / 4) * (TX * 4) + tx * 4 + j % 4 : tx + j * TX; }

// Global -> registers: each element in the order that walks memory contiguously.
void fetch(TBuf A, TBuf B, uint m0, uint n0, uint k0, uint tid) {
    [[unroll]] for (uint r = 0; r < LA; ++r) {
        const uint e = tid + r * NT;
        const uint i = TRANS_A ? e % BM : e / BK, kk = TRANS_A ? e / BM : e % BK;
        const uint gi = m0 + i, gk = k0 + kk;
        ACC v = ACC(0);
        if (e < BM * BK && gi < p.m && gk < p.k) v = to_acc(TRANS_A ? A.v[gk * p.lda + gi] : A.v[gi * p.lda + gk]);
        ra[r] = v;
    }
    [[unroll]] for (uint r = 0; r < LB; ++r) {
        const uint e = tid + r * NT;
        const uint j = TRANS_B ? e / BK : e % BN, kk = TRANS_B ? e % BK : e / BN;
        const uint gj = n0 + j, gk = k0 + kk;
        ACC v = ACC(0);
        if (e < BN * BK && gj < p.n && gk < p.k) v = to_acc(TRANS_B ? B.v[gj * p.ldb + gk] : B.v[gk * p.ldb + gj]);
        rb[r] = v;
    }
}

// Registers -> shared buffer `buf`.
void stash(uint buf, uint tid) {
    [[unroll]] for (uint r = 0; r < LA; ++r) {
        const uint e = tid + r * NT;
        const uint i = TRANS_A ? e % BM : e / BK, kk = TRANS_A ? e / BM : e % BK;
        if (e < BM * BK) As[(buf * BK + kk) * SA + i] = ra[r];
    }
    [[unroll]] for (uint r = 0; r < LB; ++r) {
        const uint e = tid + r * NT;
        const uint j = TRANS_B ? e / BK : e % BN, kk = TRANS_B ? e % BK : e / BN;
        if (e < BN * BK) Bs[(buf * BK + kk) * SB + j] = rb[r];
    }
}

ACC acc[TM][TN];

void multiply(uint buf, uint tx, uint ty) {
    [[unroll]] for (uint kk = 0; kk < BK; ++kk) {
        ACC ar[TM], br[TN];
        [[unroll]] for (uint i = 0; i < TM; ++i) ar[i] = As[(buf * BK + kk) * SA + ty * TM + i];
        [[unroll]] for (uint j = 0; j < TN; ++j) br[j] = Bs[(buf * BK + kk) * SB + tile_col(tx, j)];
        [[unroll]] for (uint i = 0; i < TM; ++i)
            [[unroll]] for (uint j = 0; j < TN; ++j) acc[i][j] = fma(ar[i], br[j], acc[i][j]);
    }
}

void main() {
    const uint tid = gl_LocalInvocationID.x;
    const uint tx = tid % TX, ty = tid / TX;
    const uvec2 tile = vks_grouped_tile(8);
    const uint m0 = tile.x * BM, n0 = tile.y * BN;
    const uint64_t z = gl_WorkGroupID.z;
    TBuf A = TBuf(t_addr(p.a, z * p.stride_a));
    TBuf B = TBuf(t_addr(p.b, z * p.stride_b));

    [[unroll]] for (uint i = 0; i < TM; ++i)
        [[unroll]] for (uint j = 0; j < TN; ++j) acc[i][j] = ACC(0);

    if (NBUF == 1) {
        for (uint k0 = 0; k0 < p.k; k0 += BK) {
            fetch(A, B, m0, n0, k0, tid);
            stash(0, tid);
            barrier();
            multiply(0, tx, ty);
            barrier();
        }
    } else if (p.k > 0) {
        // Buffer `cur` is read while the other one is written: a thread writes a buffer only
        // after the barrier that every thread passes once done reading it.
        fetch(A, B, m0, n0, 0, tid);
        stash(0, tid);
        barrier();
        uint cur = 0;
        for (uint k0 = 0; k0 < p.k; k0 += BK) {
            const bool more = k0 + BK < p.k;
            if (more) fetch(A, B, m0, n0, k0 + BK, tid);
            multiply(cur, tx, ty);
            if (more) stash(cur ^ 1, tid);
            barrier();
            cur ^= 1;
        }
    }

    TBuf C = TBuf(t_addr(p.c, z * p.stride_c));
    [[unroll]] for (uint i = 0; i < TM; ++i) {
        uint gi = m0 + ty * TM + i;
        if (gi >= p.m) break;
        [[unroll]] for (uint j = 0; j < TN; ++j) {
            uint gj = n0 + tile_col(tx, j);
            if (gj >= p.n) continue;
            ACC v = p.alpha * acc[i][j];
            if (p.beta != ACC(0)) v += p.beta * to_acc(C.v[gi * p.ldc + gj]);
            if (p.bias != 0) v += to_acc(TBuf(p.bias).v[gj]);
            C.v[gi * p.ldc + gj] = from_acc(VKS_ACTIVATE(ACC, v, ACT));
        }
    }
}
