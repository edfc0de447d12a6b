// The kernel of lowrank_splitk_coopmat.comp (tensor cores) and lowrank_splitk_emu.comp (the
// same tiles with the fragment operations emulated, so that lavapipe tests the tiling, the
// staging, the fragment offsets and the partial sums).
//
// Decode-sized fused LoRA, f16: the base GEMM x W^T and the shrink x A^T as one split-K pass
// over the columns of [W; A] (W's n rows, then A's r rows), each workgroup one slice of k
// and NW x FN x 16 columns, writing f32 partial sums; lowrank_splitk_reduce.comp adds the
// slices, applies the expand with t in f32, the bias and beta (the epilogue). W is read once,
// by many workgroups at a time (few rows leave a decode GEMM with too few output tiles to
// keep HBM busy otherwise). x's rows (at most 16 FM, zero past m) are staged in shared memory
// per slice; W's and A's rows stream through a per-subgroup tile in 16-byte loads, a batch
// ahead of the products; unaligned rows go one fragment at a time through a staging tile.
//
// The including file defines FRAG_A, FRAG_B, FRAG_C (declarations), ZERO_C(c), SUBGROUP_ID,
//   LOAD_A(f, unit)        16 x 16 row-major from xs at a uvec4 unit, row stride XROW units;
//   LOAD_B_TILE(f, unit, base, col0, k0, ncols, kend, ld)
//                          16 (k) x 16 (columns) from ws at `unit`, column stride WROW units;
//   LOAD_B_STAGED(...)     the same with column stride BROW (one staged fragment); the
//                          emulation reads base with the same bounds instead, its lanes not
//                          being in step;
//   MMA(c, a, b)           c += a b;
//   STORE_C(c, unit)       row-major into ws at `unit`, row stride CROW floats;
//   WARP_SYNC()            shared memory written by a subgroup visible to it (nothing in the
//                          emulation, whose lanes read back only what they wrote themselves).
layout(local_size_x_id = 0) in;                // 32 * NW
layout(constant_id = 1) const uint NW = 4;     // subgroups (of 32) per workgroup
layout(constant_id = 2) const uint FM = 1;     // 16-row fragments: rows <= 16 FM
layout(constant_id = 3) const uint FN = 2;     // 16-column fragments per subgroup
layout(constant_id = 4) const uint KSTAGE = 256; // k of x staged at a time (a multiple of 16)
layout(constant_id = 5) const uint U = 4;      // k steps of W fragments loaded before use

// Mirrored by lr_splitk_push in backend/ops/lowrank_splitk.c.
layout(push_constant) uniform Push {
    uint64_t x, w, a, pw, pt; // pw: f32 (ksplit, m, n); pt: f32 (ksplit, m, r)
    uint m, n, r, k;
    uint ldx, ldw, lda;
    uint kchunk;  // k per slice (workgroup row y), a multiple of 16
    uint wgroups; // workgroup columns over W's rows; the rest cover A's
    uint flags;   // 1 / 8: W's / A's rows 16-byte aligned, k % 8 == 0; 2: x's rows aligned
} p;

const uint NT = 32 * NW;
const uint XROW = KSTAGE / 8 + 1;      // uvec4 units per staged row of x (+1 against bank conflicts)
const uint BROW = 3;                   // uvec4 units per staged column of a B fragment (16 halves + pad)
const uint CROW = 20;                  // floats per row of an accumulator's staging tile (5 units)
const uint WROW = 2 * U + 1;           // uvec4 units per row of W in ws (U k steps + pad)
const uint WLOADS = FN * U;            // 16-byte loads per lane and batch of W
shared uvec4 xs[16 * FM * XROW];
// Each subgroup's region of ws (FN*16 rows of WROW units) also serves as its fragment staging
// tile (16 columns of BROW units) and its accumulator tile (16 rows of CROW floats).
shared uvec4 ws[NW * FN * 16 * WROW];

layout(buffer_reference, std430, buffer_reference_align = 16) readonly buffer SkVec8 { uvec4 v[]; };
layout(buffer_reference, std430, buffer_reference_align = 2) readonly buffer SkHalf { float16_t v[]; };
layout(buffer_reference, std430, buffer_reference_align = 4) writeonly buffer SkFloat { float v[]; };

#ifdef FRAG_EMULATED
// The emulated fragment operations (lowrank_splitk_emu.comp); they need xs and ws.
float emu_half(uvec4 u, uint k) { return unpackHalf2x16(u[(k % 8) / 2])[k % 2]; }
void emu_mma(inout EmuC c, EmuA a, EmuB b) {
    const uint lane = gl_LocalInvocationID.x % 32;
    // Not unrolled: lavapipe compiles every call site (up to FM x FN x U of them) inline.
    [[dont_unroll]] for (uint t = 0; t < 8; ++t) {
        const uint e = lane + 32 * t, row = e / 16, col = e % 16;
        float v = c.v[t];
        [[dont_unroll]] for (uint kk = 0; kk < 16; ++kk) {
            const float av = emu_half(xs[a.unit + row * XROW + kk / 8], kk);
            const uint bc = b.col0 + col, bk = b.k0 + kk;
            const float bv = bc < b.ncols && bk < b.kend ? float(SkHalf(b.base).v[bc * b.ld + bk]) : 0.0;
            v += av * bv;
        }
        c.v[t] = v;
    }
}
void emu_store(EmuC c, uint offset) {
    const uint lane = gl_LocalInvocationID.x % 32;
    for (uint t = 0; t < 8; ++t) {
        const uint e = lane + 32 * t;
        ws[offset + (e / 16) * (CROW / 4) + (e % 16) / 4][e % 4] = floatBitsToUint(c.v[t]);
    }
}
#endif

// 8 halves of row `row`, columns c..c+7 of a (rows x cols) matrix, zero outside; one 16-byte
// load when whole and aligned.
uvec4 sk_load8(uint64_t base, uint row, uint c, uint rows, uint cols, uint ld, bool vec) {
    if (row >= rows || c >= cols) return uvec4(0);
    if (vec && c + 8 <= cols) return SkVec8(base).v[(row * ld + c) >> 3];
    float h[8];
    [[unroll]] for (uint i = 0; i < 8; ++i) h[i] = c + i < cols ? float(SkHalf(base).v[row * ld + c + i]) : 0.0;
    return uvec4(packHalf2x16(vec2(h[0], h[1])), packHalf2x16(vec2(h[2], h[3])), packHalf2x16(vec2(h[4], h[5])),
                 packHalf2x16(vec2(h[6], h[7])));
}

// The streaming loop's steps (macros: they touch acc, an array of fragments).
// Batch `bt` of this subgroup's rows into registers `r`.
#define SK_LOAD_BATCH(r, bt)                                                                        \
    [[unroll]] for (uint t_ = 0; t_ < WLOADS; ++t_) {                                              \
        const uint q_ = lane + 32 * t_;                                                             \
        r[t_] = sk_load8(src, c0 + q_ / (2 * U), ks + 16 * U * (bt) + 8 * (q_ % (2 * U)), ncols, kstop, ld, true); \
    }
// Registers `r` into the tile, once every lane is done with the previous batch.
#define SK_STAGE_BATCH(r)                                                                           \
    WARP_SYNC();                                                                                    \
    [[unroll]] for (uint t_ = 0; t_ < WLOADS; ++t_) {                                              \
        const uint q_ = lane + 32 * t_;                                                             \
        ws[sw + (q_ / (2 * U)) * WROW + q_ % (2 * U)] = r[t_];                                      \
    }                                                                                               \
    WARP_SYNC()
// The products of batch `bt` (in the tile).
#define SK_MULTIPLY_BATCH(bt)                                                                       \
    [[unroll]] for (uint u_ = 0; u_ < U; ++u_) {                                                   \
        const uint s_ = (bt) * U + u_;                                                              \
        if (s_ >= steps) break;                                                                     \
        FRAG_A fa_[FM];                                                                             \
        [[unroll]] for (uint i_ = 0; i_ < FM; ++i_) LOAD_A(fa_[i_], 16 * i_ * XROW + 2 * s_);      \
        [[unroll]] for (uint j_ = 0; j_ < FN; ++j_) {                                              \
            FRAG_B fb_;                                                                             \
            LOAD_B_TILE(fb_, sw + 16 * j_ * WROW + 2 * u_, src, c0 + 16 * j_, ks + 16 * s_, ncols, kstop, ld); \
            [[unroll]] for (uint i_ = 0; i_ < FM; ++i_) MMA(acc[i_][j_], fa_[i_], fb_);           \
        }                                                                                           \
    }

void main() {
    const uint tid = gl_LocalInvocationID.x, warp = SUBGROUP_ID, lane = tid % 32;
    const uint g = gl_WorkGroupID.x, z = gl_WorkGroupID.y;
    const bool in_a = g >= p.wgroups;
    const uint ncols = in_a ? p.r : p.n, ld = in_a ? p.lda : p.ldw;
    const uint64_t src = in_a ? p.a : p.w;
    const uint c0 = (in_a ? g - p.wgroups : g) * (NW * FN * 16) + warp * FN * 16; // this subgroup's first column
    const bool live = c0 < ncols;
    // W's rows 16-byte aligned (k % 8 == 0): vector loads through this subgroup's tile ws.
    // (Fragments loaded straight from W, column-major, measured 20-40% slower on the H100.)
    // The same for A's rows (flag 8): one staged fragment at a time costs a memory round trip
    // per k step, which made the shrink's workgroup the last to finish (40 us at rank 64).
    const bool wvec = (p.flags & (in_a ? 8u : 1u)) != 0u;
    const uint sw = warp * FN * 16 * WROW;
    const uint kbeg = z * p.kchunk, kend = min(p.k, kbeg + p.kchunk);

    FRAG_C acc[FM][FN];
    [[unroll]] for (uint i = 0; i < FM; ++i)
        [[unroll]] for (uint j = 0; j < FN; ++j) ZERO_C(acc[i][j]);

    for (uint ks = kbeg; ks < kend; ks += KSTAGE) {
        const uint kstop = min(kend, ks + KSTAGE), steps = (kstop - ks + 15) / 16;
        // x rows [0, 16 FM) x [ks, ks + KSTAGE): whole workgroup, zero past m and kstop.
        for (uint u = tid; u < 16 * FM * (KSTAGE / 8); u += NT) {
            const uint row = u / (KSTAGE / 8), grp = u % (KSTAGE / 8);
            xs[row * XROW + grp] = sk_load8(p.x, row, ks + 8 * grp, p.m, kstop, p.ldx, (p.flags & 2u) != 0u);
        }
        barrier();
        if (live && wvec) {
            // U k steps of W (FN*16 rows x 16U halves) at a time through ws: lane l loads the
            // 16-byte units l, l + 32, ... (consecutive lanes along a row, whole 128-byte lines
            // for U = 4), zero outside W. Two batches are in flight while one multiplies (with
            // one, the H100 streamed W at a third of its bandwidth: too few bytes in flight).
            const uint batches = (steps + U - 1) / U;
            uvec4 ra[WLOADS], rb[WLOADS];
            SK_LOAD_BATCH(ra, 0u);
            if (batches > 1) SK_LOAD_BATCH(rb, 1u);
            for (uint b = 0; b < batches; b += 2) {
                SK_STAGE_BATCH(ra);
                if (b + 2 < batches) SK_LOAD_BATCH(ra, b + 2);
                SK_MULTIPLY_BATCH(b);
                if (b + 1 >= batches) break;
                SK_STAGE_BATCH(rb);
                if (b + 3 < batches) SK_LOAD_BATCH(rb, b + 3);
                SK_MULTIPLY_BATCH(b + 1);
            }
        } else if (live) {
            // One 16 x 16 fragment at a time through the staging tile: lane l loads column
            // l / 2, k half l % 2 (8 halves), zero outside the matrix.
            for (uint s = 0; s < steps; ++s) {
                const uint kk = ks + 16 * s;
                FRAG_A fa[FM];
                [[unroll]] for (uint i = 0; i < FM; ++i) LOAD_A(fa[i], 16 * i * XROW + 2 * s);
                [[unroll]] for (uint j = 0; j < FN; ++j) {
                    const uint col = c0 + 16 * j + lane / 2;
                    ws[sw + (lane / 2) * BROW + lane % 2] =
                        sk_load8(src, col, kk + 8 * (lane % 2), ncols, kstop, ld, false);
                    WARP_SYNC();
                    FRAG_B fb;
                    LOAD_B_STAGED(fb, sw, src, c0 + 16 * j, kk, ncols, kstop, ld);
                    [[unroll]] for (uint i = 0; i < FM; ++i) MMA(acc[i][j], fa[i], fb);
                    WARP_SYNC();
                }
            }
        }
        barrier();
    }

    // Partial sums of rows < m, columns < ncols, through this subgroup's f32 tile.
    if (!live) return;
    const uint64_t dst = in_a ? p.pt : p.pw;
    const uint slice = z * p.m * ncols;
    [[unroll]] for (uint i = 0; i < FM; ++i)
        [[unroll]] for (uint j = 0; j < FN; ++j) {
            STORE_C(acc[i][j], sw);
            WARP_SYNC();
            for (uint e = lane; e < 256; e += 32) {
                const uint row = 16 * i + e / 16, col = c0 + 16 * j + e % 16;
                if (row < p.m && col < ncols) SkFloat(dst).v[slice + row * ncols + col] = uintBitsToFloat(ws[sw + (e / 16) * (CROW / 4) + (e % 16) / 4][e % 4]);
            }
            WARP_SYNC();
        }
}
