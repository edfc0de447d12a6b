// Tensor-core products of the f16 Newton-Schulz path (VK_NV_cooperative_matrix; NVIDIA):
// f16 storage, f32 accumulation in 16 x 16 x 16 fragments.
//   SYRK = false: C = alpha A B            A m x k, B k x n, C m x n (all row-major)
//   SYRK = true:  C = alpha S S^T + beta CIN + gamma I, S m x k (B = S^T), only tiles on or
//                 below the diagonal work, each value stored at (i, j) and (j, i).
// Workgroup: 4 subgroups of 32 in a 2 x 2 grid, each computing a 64 x 64 block (4 x 4
// fragments) of the 128 x 128 tile; K staged through shared memory BK = 32 at a time.
// Feature-gated (VKS_FEATURE_COOPMAT_NV + FLOAT16); other devices iterate in f32.
#version 460
#extension GL_NV_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_EXT_shader_explicit_arithmetic_types_int64 : require
#extension GL_EXT_shader_16bit_storage : require
#extension GL_EXT_buffer_reference : require

layout(local_size_x = 128) in;
layout(constant_id = 0) const bool SYRK = false;

layout(buffer_reference, std430, buffer_reference_align = 2) buffer HBuf { float16_t v[]; };

layout(push_constant) uniform Push {
    uint64_t a, b, c, cin;          // b unused with SYRK; cin read when beta != 0
    uint64_t sa, sb, sc, scin;      // batch strides (elements)
    uint m, n, k, lda;
    uint ldb, ldc, ldcin, pad;
    float alpha, beta, gamma;
} p;

const uint BT = 128, BK = 32, AP = BK + 8, BP = BT + 8; // padded rows (16-byte multiples)
shared float16_t As[BT * AP];
shared float16_t Bs[BT * AP]; // B^T rows (SYRK, or GEMM staged transposed): row j holds B(:, j)
shared float Cs[4 * 256];

#define FRAG16 fcoopmatNV<16, gl_ScopeSubgroup, 16, 16>
#define FRAG32 fcoopmatNV<32, gl_ScopeSubgroup, 16, 16>

void main() {
    const uint tx = gl_WorkGroupID.x, ty = gl_WorkGroupID.y;
    if (SYRK && tx > ty) return; // the tile lies above the diagonal
    const uint tid = gl_LocalInvocationID.x, sg = gl_SubgroupID, lane = gl_SubgroupInvocationID;
    const uint wm = sg / 2, wn = sg % 2;
    const uint m0 = ty * BT, n0 = tx * BT;
    const uint64_t z = gl_WorkGroupID.z;
    HBuf A = HBuf(p.a + z * p.sa * 2);
    HBuf B = HBuf((SYRK ? p.a + z * p.sa * 2 : p.b + z * p.sb * 2));
    const uint nrows_b = SYRK ? p.m : p.n; // rows of B^T

    FRAG32 acc[4][4];
    for (uint i = 0; i < 4; ++i)
        for (uint j = 0; j < 4; ++j) acc[i][j] = FRAG32(0.0);

    for (uint k0 = 0; k0 < p.k; k0 += BK) {
        // A rows m0.., columns k0..: consecutive invocations read consecutive columns.
        for (uint e = tid; e < BT * BK; e += 128) {
            const uint r = e / BK, c = e % BK, gi = m0 + r, gk = k0 + c;
            As[r * AP + c] = (gi < p.m && gk < p.k) ? A.v[gi * p.lda + gk] : float16_t(0);
        }
        // B^T rows n0..: with SYRK the rows of S; for a GEMM B(k, j) walked along j.
        for (uint e = tid; e < BT * BK; e += 128) {
            uint r, c;
            if (SYRK) r = e / BK, c = e % BK;
            else r = e % BT, c = e / BT;
            const uint gj = n0 + r, gk = k0 + c;
            float16_t v = float16_t(0);
            if (gj < nrows_b && gk < p.k) v = SYRK ? B.v[gj * p.lda + gk] : B.v[gk * p.ldb + gj];
            Bs[r * AP + c] = v;
        }
        barrier();
        for (uint kk = 0; kk < BK; kk += 16) {
            FRAG16 fa[4], fb[4];
            for (uint i = 0; i < 4; ++i) coopMatLoadNV(fa[i], As, (wm * 64 + i * 16) * AP + kk, AP, false);
            for (uint j = 0; j < 4; ++j) coopMatLoadNV(fb[j], Bs, (wn * 64 + j * 16) * AP + kk, AP, true);
            for (uint i = 0; i < 4; ++i)
                for (uint j = 0; j < 4; ++j) acc[i][j] = coopMatMulAddNV(fa[i], fb[j], acc[i][j]);
        }
        barrier();
    }

    // Epilogue, one fragment at a time through this subgroup's 16 x 16 slice of Cs.
    HBuf C = HBuf(p.c + z * p.sc * 2), CI = HBuf(p.cin + z * p.scin * 2);
    for (uint i = 0; i < 4; ++i)
        for (uint j = 0; j < 4; ++j) {
            coopMatStoreNV(acc[i][j], Cs, sg * 256, 16, false);
            subgroupMemoryBarrierShared();
            subgroupBarrier();
            for (uint e = lane; e < 256; e += 32) {
                const uint gi = m0 + wm * 64 + i * 16 + e / 16, gj = n0 + wn * 64 + j * 16 + e % 16;
                if (gi >= p.m || gj >= p.n || (SYRK && gj > gi)) continue;
                float v = p.alpha * Cs[sg * 256 + e];
                if (SYRK) {
                    if (p.beta != 0.0) v += p.beta * float(CI.v[gi * p.ldcin + gj]);
                    if (gi == gj) v += p.gamma;
                }
                const float16_t h = float16_t(v);
                C.v[gi * p.ldc + gj] = h;
                if (SYRK && gi != gj) C.v[gj * p.ldc + gi] = h;
            }
            subgroupBarrier();
        }
}
