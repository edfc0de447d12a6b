//! variants: f16
// SYRK on tensor cores (VK_NV_cooperative_matrix; NVIDIA): the lower triangle of
// alpha S S^T + beta CIN + gamma I for f16 S (n x k), f32 accumulation, f16 output, each
// value also stored at its transposed place (MIRROR). Built like gemm_coopmat.comp (whose
// notes apply: tiles staged as raw 16-byte units, double-buffered through registers, every
// fragment loop [[unroll]]ed so the accumulators stay in registers, no f16 literals), with
// B = S^T read from S's rows, and workgroups whose tile lies above the diagonal returning
// at once: half the tensor-core work of the GEMM.
#version 460
#extension GL_GOOGLE_include_directive : require
#extension GL_NV_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_EXT_control_flow_attributes : require
#include "common/dtype.glsl"
#include "common/orthogonal_syrk_push.glsl"

layout(local_size_x_id = 0) in; // 32 * WARPS_M * WARPS_N
layout(constant_id = 1) const uint BT = 128;
layout(constant_id = 2) const uint BK = 32;
layout(constant_id = 3) const uint WARPS_M = 2;
layout(constant_id = 4) const uint WARPS_N = 4;
layout(constant_id = 5) const bool VEC = true; // 8-element groups of S are 16-byte aligned
layout(constant_id = 6) const bool MIRROR = true;

const uint NT = 32 * WARPS_M * WARPS_N;
const uint FM = BT / WARPS_M / 16, FN = BT / WARPS_N / 16;
const uint ROW = BK / 8 + 1; // a tile row in uvec4 units, padded by one
const uint UNITS = BT * ROW;
const uint LOADS = (BT * (ROW - 1) + NT - 1) / NT;
shared uvec4 As[2 * UNITS];
shared uvec4 Bs[2 * UNITS];

layout(buffer_reference, std430, buffer_reference_align = 16) buffer Vec8Buf { uvec4 v[]; };

uvec4 load8(uint64_t base, uint r, uint c, uint rows, uint cols, uint ld) {
    if (r >= rows) return uvec4(0);
    if (VEC && c + 8 <= cols) return Vec8Buf(base).v[(r * ld + c) >> 3];
    TBuf m = TBuf(base);
    float h[8];
    [[unroll]] for (uint i = 0; i < 8; ++i) h[i] = c + i < cols ? float(m.v[r * ld + c + i]) : 0.0;
    return uvec4(packHalf2x16(vec2(h[0], h[1])), packHalf2x16(vec2(h[2], h[3])), packHalf2x16(vec2(h[4], h[5])),
                 packHalf2x16(vec2(h[6], h[7])));
}

void main() {
    const uint ty = gl_WorkGroupID.y, tx = gl_WorkGroupID.x;
    if (tx > ty) return; // the tile lies above the diagonal
    const uint tid = gl_LocalInvocationID.x, warp = gl_SubgroupID, lane = gl_SubgroupInvocationID;
    const uint wm = warp % WARPS_M, wn = warp / WARPS_M;
    const uint m0 = ty * BT, n0 = tx * BT;
    const uint64_t z = gl_WorkGroupID.z;
    const uint64_t sbase = t_addr(p.s, z * p.stride_s);

    fcoopmatNV<32, gl_ScopeSubgroup, 16, 16> acc[FM][FN];
    [[unroll]] for (uint i = 0; i < FM; ++i)
        [[unroll]] for (uint j = 0; j < FN; ++j) acc[i][j] = fcoopmatNV<32, gl_ScopeSubgroup, 16, 16>(0.0);

    uvec4 ra[LOADS], rb[LOADS];
    const uint ntiles = (p.k + BK - 1) / BK;
    for (uint t = 0; t <= ntiles; ++t) {
        if (t < ntiles) { // rows m0.. (A) and n0.. (B^T) of S, columns k0..k0+BK
            const uint k0 = t * BK;
            [[unroll]] for (uint l = 0; l < LOADS; ++l) {
                uint u = tid + l * NT, r = u / (ROW - 1), g = u % (ROW - 1);
                ra[l] = r < BT ? load8(sbase, m0 + r, k0 + 8 * g, p.n, p.k, p.lda) : uvec4(0);
                rb[l] = r < BT ? load8(sbase, n0 + r, k0 + 8 * g, p.n, p.k, p.lda) : uvec4(0);
            }
        }
        if (t > 0) {
            const uint buf = ((t - 1) & 1) * UNITS;
            [[unroll]] for (uint kk = 0; kk < BK; kk += 16) {
                fcoopmatNV<16, gl_ScopeSubgroup, 16, 16> fa[FM], fb[FN];
                [[unroll]] for (uint i = 0; i < FM; ++i)
                    coopMatLoadNV(fa[i], As, buf + (wm * (BT / WARPS_M) + 16 * i) * ROW + kk / 8, ROW, false);
                [[unroll]] for (uint j = 0; j < FN; ++j) // B = S^T: row j of the tile is column j of B
                    coopMatLoadNV(fb[j], Bs, buf + (wn * (BT / WARPS_N) + 16 * j) * ROW + kk / 8, ROW, true);
                [[unroll]] for (uint i = 0; i < FM; ++i)
                    [[unroll]] for (uint j = 0; j < FN; ++j) acc[i][j] = coopMatMulAddNV(fa[i], fb[j], acc[i][j]);
            }
        }
        if (t < ntiles) {
            const uint buf = (t & 1) * UNITS;
            [[unroll]] for (uint l = 0; l < LOADS; ++l) {
                uint u = tid + l * NT, r = u / (ROW - 1), g = u % (ROW - 1);
                if (r < BT) As[buf + r * ROW + g] = ra[l], Bs[buf + r * ROW + g] = rb[l];
            }
        }
        barrier();
    }

    // Epilogue through this subgroup's 1 KiB of As (f32 bits), one fragment at a time.
    TBuf C = TBuf(t_addr(p.cout, z * p.stride_cout));
    const uint stage = warp * 64;
    [[unroll]] for (uint i = 0; i < FM; ++i)
        [[unroll]] for (uint j = 0; j < FN; ++j) {
            coopMatStoreNV(acc[i][j], As, stage, 4, false);
            subgroupMemoryBarrierShared();
            subgroupBarrier();
            const uint r0 = m0 + wm * (BT / WARPS_M) + 16 * i, c0 = n0 + wn * (BT / WARPS_N) + 16 * j;
            for (uint e = lane; e < 256; e += 32) {
                const uint gi = r0 + e / 16, gj = c0 + e % 16;
                if (gi >= p.n || gj > gi) continue;
                const float v = syrk_value(uintBitsToFloat(As[stage + e / 4][e % 4]), gi, gj, z);
                C.v[gi * p.ldc_out + gj] = float16_t(v);
                if (MIRROR && gi != gj) C.v[gj * p.ldc_out + gi] = float16_t(v);
            }
            subgroupBarrier();
        }
}
