//! variants: f32 f16
// lowrank_splitk's split-K decode pass (common/lowrank_splitk.glsl: the same push constants
// and the same f32 partial sums, added by lowrank_splitk_reduce.comp) on plain FMA units:
// for f32, and for f16 on GPUs without tensor cores. A workgroup takes NC columns of [W; A]
// (W's n rows, then A's r rows) and one slice of k. Those rows stream through shared memory
// KS terms a stage, the next stage's loads issued into registers before the current stage's
// products; x's rows (zero past m) are staged with them. Invocation (column c, row group q)
// accumulates rows q, q + 4, ..., q + 4 (RM - 1) of column c: a warp shares q, so its reads
// of x from shared memory are broadcasts and its reads of W walk consecutive columns.
#version 460
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "common/dtype.glsl"

layout(local_size_x = 256) in;
layout(constant_id = 0) const uint RM = 4; // rows per invocation: m <= 4 RM

// Mirrored by lr_splitk_push in backend/ops/lowrank_splitk.c.
layout(push_constant) uniform Push {
    uint64_t x, w, a, pw, pt; // pw: f32 (ksplit, m, n); pt: f32 (ksplit, m, r)
    uint m, n, r, k;
    uint ldx, ldw, lda;
    uint kchunk;  // k per slice (workgroup row y)
    uint wgroups; // workgroup columns over W's rows; the rest cover A's
    uint flags;   // unused here (the tensor-core pass's alignment flags)
} p;

const uint NC = 64, KS = 32, ROWS = 4 * RM;
const uint LW = NC * KS / 256;                // W values per invocation and stage
const uint LX = (ROWS * KS + 255) / 256;      // x values per invocation and stage
const uint SW = KS + 1, SX = ROWS + 1;         // padded: stores and reads hit distinct banks
shared ACC ws[NC * SW];                       // ws[c * SW + kk]
shared ACC xs[KS * SX];                       // xs[kk * SX + row]
ACC rw[LW], rx[LX];                           // the next stage, in flight

// Stage [k0, k0 + KS) of this workgroup's rows of W (or A) and of x into registers: lanes
// walk k along a row (coalesced), zero outside the matrices and past kend.
void fetch(uint64_t src, uint ld, uint c0, uint ncols, uint k0, uint kend, uint tid) {
    [[unroll]] for (uint t = 0; t < LW; ++t) {
        const uint e = tid + 256 * t, c = c0 + e / KS, kk = k0 + e % KS;
        rw[t] = c < ncols && kk < kend ? to_acc(TBuf(src).v[c * ld + kk]) : ACC(0);
    }
    [[unroll]] for (uint t = 0; t < LX; ++t) {
        const uint e = tid + 256 * t, row = e / KS, kk = k0 + e % KS;
        rx[t] = e < ROWS * KS && row < p.m && kk < kend ? to_acc(TBuf(p.x).v[row * p.ldx + kk]) : ACC(0);
    }
}

void stash(uint tid) {
    [[unroll]] for (uint t = 0; t < LW; ++t) {
        const uint e = tid + 256 * t;
        ws[(e / KS) * SW + e % KS] = rw[t];
    }
    [[unroll]] for (uint t = 0; t < LX; ++t) {
        const uint e = tid + 256 * t;
        if (e < ROWS * KS) xs[(e % KS) * SX + e / KS] = rx[t];
    }
}

void main() {
    const uint tid = gl_LocalInvocationID.x, c = tid % NC, q = tid / NC;
    const uint g = gl_WorkGroupID.x, z = gl_WorkGroupID.y;
    const bool in_a = g >= p.wgroups;
    const uint ncols = in_a ? p.r : p.n, ld = in_a ? p.lda : p.ldw;
    const uint64_t src = in_a ? p.a : p.w;
    const uint c0 = (in_a ? g - p.wgroups : g) * NC;
    const uint kbeg = z * p.kchunk, kend = min(p.k, kbeg + p.kchunk);

    ACC acc[RM];
    [[unroll]] for (uint i = 0; i < RM; ++i) acc[i] = ACC(0);
    if (kbeg < kend) {
        fetch(src, ld, c0, ncols, kbeg, kend, tid);
        stash(tid);
        barrier();
        for (uint k0 = kbeg; k0 < kend; k0 += KS) {
            const bool more = k0 + KS < kend;
            if (more) fetch(src, ld, c0, ncols, k0 + KS, kend, tid);
            [[unroll]] for (uint kk = 0; kk < KS; ++kk) {
                const ACC wv = ws[c * SW + kk];
                [[unroll]] for (uint i = 0; i < RM; ++i) acc[i] = fma(xs[kk * SX + q + 4 * i], wv, acc[i]);
            }
            barrier();
            if (more) {
                stash(tid);
                barrier();
            }
        }
    }

    // Partial sums of rows < m, columns < ncols (consecutive lanes, consecutive columns).
    const uint col = c0 + c;
    if (col >= ncols) return;
    const uint64_t dst = in_a ? p.pt : p.pw;
    [[unroll]] for (uint i = 0; i < RM; ++i) {
        const uint row = q + 4 * i;
        if (row < p.m) FloatBuf(dst).v[(z * p.m + row) * ncols + col] = float(acc[i]);
    }
}
