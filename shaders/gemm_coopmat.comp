//! variants: f16
// Dense GEMM on tensor cores through VK_NV_cooperative_matrix: f16 inputs, f32
// accumulation, f16 output with the same epilogue as the other GEMM kernels.
// A workgroup of WARPS_M x WARPS_N subgroups (32 lanes) computes a BM x BN tile; each
// subgroup a (BM/WARPS_M) x (BN/WARPS_N) block of 16x16 fragments. Tiles of A and B pass
// through shared memory in their global layout (so global reads are 16-byte vectors along
// the contiguous dimension, whatever the transposes), double-buffered: the next tile is
// read into registers while the tensor cores work on the current one.
// Notes: no f16 literals anywhere (glslang 11.13 mis-encodes them); the memory-scope
// extension makes the SPIR-V declare VulkanMemoryModel, which the device enables.
// Every loop over fragments is [[unroll]]: without the hint NVIDIA's compiler kept the
// accumulator array in local memory (its reported local memory size was exactly the
// array's), capping the kernel at ~30 TFLOP/s whatever the tile shape.
#version 460
#extension GL_GOOGLE_include_directive : require
#extension GL_NV_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_EXT_control_flow_attributes : require
#include "common/dtype.glsl"
#include "common/activation.glsl"
#include "common/gemm_push.glsl"
#include "common/tile_order.glsl"

layout(local_size_x_id = 0) in; // 32 * WARPS_M * WARPS_N
layout(constant_id = 1) const uint BM = 128;
layout(constant_id = 2) const uint BN = 128;
layout(constant_id = 3) const uint BK = 32;
layout(constant_id = 4) const uint WARPS_M = 2;
layout(constant_id = 5) const uint WARPS_N = 4;
layout(constant_id = 6) const bool TRANS_A = false;
layout(constant_id = 7) const bool TRANS_B = false;
layout(constant_id = 8) const uint ACT = 0;
layout(constant_id = 9) const bool VEC_A = true; // whole 8-element groups are 16-byte aligned in A
layout(constant_id = 10) const bool VEC_B = true;

const uint NT = 32 * WARPS_M * WARPS_N;
const uint FM = BM / WARPS_M / 16, FN = BN / WARPS_N / 16; // fragments per subgroup
// Shared tiles in units of uvec4 (8 halves), rows padded by one unit against bank conflicts.
const uint A_ROWS = TRANS_A ? BK : BM, A_ROW = (TRANS_A ? BM : BK) / 8 + 1;
const uint B_ROWS = TRANS_B ? BN : BK, B_ROW = (TRANS_B ? BK : BN) / 8 + 1;
const uint A_UNITS = A_ROWS * A_ROW, B_UNITS = B_ROWS * B_ROW;
const uint A_LOADS = (A_ROWS * (A_ROW - 1) + NT - 1) / NT, B_LOADS = (B_ROWS * (B_ROW - 1) + NT - 1) / NT;
shared uvec4 As[2 * A_UNITS];
shared uvec4 Bs[2 * B_UNITS];

layout(buffer_reference, std430, buffer_reference_align = 16) buffer Vec8Buf { uvec4 v[]; };

// 8 halves of row `r`, columns c..c+7 of a stored (rows x cols) matrix with leading
// dimension ld, zero outside; one 16-byte load when the group is whole and aligned.
uvec4 load8(uint64_t base, uint r, uint c, uint rows, uint cols, uint ld, bool vec) {
    if (r >= rows) return uvec4(0);
    if (vec && c + 8 <= cols) return Vec8Buf(base).v[(r * ld + c) >> 3];
    TBuf m = TBuf(base);
    float h[8];
    [[unroll]] for (uint i = 0; i < 8; ++i) h[i] = c + i < cols ? float(m.v[r * ld + c + i]) : 0.0;
    return uvec4(packHalf2x16(vec2(h[0], h[1])), packHalf2x16(vec2(h[2], h[3])), packHalf2x16(vec2(h[4], h[5])),
                 packHalf2x16(vec2(h[6], h[7])));
}

void main() {
    const uint tid = gl_LocalInvocationID.x, warp = gl_SubgroupID, lane = gl_SubgroupInvocationID;
    const uint wm = warp % WARPS_M, wn = warp / WARPS_M;
    const uvec2 tile = vks_grouped_tile(8);
    const uint m0 = tile.x * BM, n0 = tile.y * BN;
    const uint64_t z = gl_WorkGroupID.z;
    const uint64_t abase = t_addr(p.a, z * p.stride_a), bbase = t_addr(p.b, z * p.stride_b);
    // Stored shapes: A is M x K (K x M transposed), B is K x N (N x K transposed).
    const uint a_rows = TRANS_A ? p.k : p.m, a_cols = TRANS_A ? p.m : p.k;
    const uint b_rows = TRANS_B ? p.n : p.k, b_cols = TRANS_B ? p.k : p.n;

    fcoopmatNV<32, gl_ScopeSubgroup, 16, 16> acc[FM][FN];
    [[unroll]] for (uint i = 0; i < FM; ++i)
        [[unroll]] for (uint j = 0; j < FN; ++j) acc[i][j] = fcoopmatNV<32, gl_ScopeSubgroup, 16, 16>(0.0);

    uvec4 ra[A_LOADS], rb[B_LOADS];
    const uint ntiles = (p.k + BK - 1) / BK;
    // Unit u of a tile: row u / (ROW-1), 8-column group u % (ROW-1), in the stored layout.
    for (uint t = 0; t <= ntiles; ++t) {
        if (t < ntiles) { // read tile t into registers
            const uint k0 = t * BK;
            [[unroll]] for (uint l = 0; l < A_LOADS; ++l) {
                uint u = tid + l * NT, r = u / (A_ROW - 1), g = u % (A_ROW - 1);
                ra[l] = r < A_ROWS ? (TRANS_A ? load8(abase, k0 + r, m0 + 8 * g, a_rows, a_cols, p.lda, VEC_A)
                                              : load8(abase, m0 + r, k0 + 8 * g, a_rows, a_cols, p.lda, VEC_A))
                                   : uvec4(0);
            }
            [[unroll]] for (uint l = 0; l < B_LOADS; ++l) {
                uint u = tid + l * NT, r = u / (B_ROW - 1), g = u % (B_ROW - 1);
                rb[l] = r < B_ROWS ? (TRANS_B ? load8(bbase, n0 + r, k0 + 8 * g, b_rows, b_cols, p.ldb, VEC_B)
                                              : load8(bbase, k0 + r, n0 + 8 * g, b_rows, b_cols, p.ldb, VEC_B))
                                   : uvec4(0);
            }
        }
        if (t > 0) { // multiply tile t-1, already in shared buffer (t-1)&1
            const uint ab = ((t - 1) & 1) * A_UNITS, bb = ((t - 1) & 1) * B_UNITS;
            [[unroll]] for (uint kk = 0; kk < BK; kk += 16) {
                fcoopmatNV<16, gl_ScopeSubgroup, 16, 16> fa[FM], fb[FN];
                [[unroll]] for (uint i = 0; i < FM; ++i) {
                    uint row = wm * (BM / WARPS_M) + 16 * i; // first M row of the fragment
                    if (TRANS_A) coopMatLoadNV(fa[i], As, ab + kk * A_ROW + row / 8, A_ROW, true);
                    else coopMatLoadNV(fa[i], As, ab + row * A_ROW + kk / 8, A_ROW, false);
                }
                [[unroll]] for (uint j = 0; j < FN; ++j) {
                    uint col = wn * (BN / WARPS_N) + 16 * j;
                    if (TRANS_B) coopMatLoadNV(fb[j], Bs, bb + col * B_ROW + kk / 8, B_ROW, true);
                    else coopMatLoadNV(fb[j], Bs, bb + kk * B_ROW + col / 8, B_ROW, false);
                }
                [[unroll]] for (uint i = 0; i < FM; ++i)
                    [[unroll]] for (uint j = 0; j < FN; ++j) acc[i][j] = coopMatMulAddNV(fa[i], fb[j], acc[i][j]);
            }
        }
        if (t < ntiles) { // registers -> shared buffer t&1 (the one read two steps ago)
            const uint ab = (t & 1) * A_UNITS, bb = (t & 1) * B_UNITS;
            [[unroll]] for (uint l = 0; l < A_LOADS; ++l) {
                uint u = tid + l * NT, r = u / (A_ROW - 1), g = u % (A_ROW - 1);
                if (r < A_ROWS) As[ab + r * A_ROW + g] = ra[l];
            }
            [[unroll]] for (uint l = 0; l < B_LOADS; ++l) {
                uint u = tid + l * NT, r = u / (B_ROW - 1), g = u % (B_ROW - 1);
                if (r < B_ROWS) Bs[bb + r * B_ROW + g] = rb[l];
            }
        }
        barrier();
    }

    // Epilogue, one 16x16 fragment at a time through this subgroup's 1 KiB of As (f32 bits).
    TBuf C = TBuf(t_addr(p.c, z * p.stride_c));
    const uint stage = warp * 64; // 64 uvec4 = 256 floats per subgroup
    [[unroll]] for (uint i = 0; i < FM; ++i)
        [[unroll]] for (uint j = 0; j < FN; ++j) {
            coopMatStoreNV(acc[i][j], As, stage, 4, false);
            subgroupMemoryBarrierShared();
            subgroupBarrier();
            const uint r0 = m0 + wm * (BM / WARPS_M) + 16 * i, c0 = n0 + wn * (BN / WARPS_N) + 16 * j;
            for (uint e = lane; e < 256; e += 32) {
                uint gi = r0 + e / 16, gj = c0 + e % 16;
                if (gi >= p.m || gj >= p.n) continue;
                float v = p.alpha * uintBitsToFloat(As[stage + e / 4][e % 4]);
                if (p.beta != 0.0) v += p.beta * float(C.v[gi * p.ldc + gj]);
                if (p.bias != 0) v += float(TBuf(p.bias).v[gj]);
                C.v[gi * p.ldc + gj] = float16_t(VKS_ACTIVATE(float, v, ACT));
            }
            subgroupBarrier();
        }
}
