//! variants: f16
// Strided block-batched GEMM on tensor cores (VK_NV_cooperative_matrix), f16 operands, f32
// accumulation: the same contract as monarch_bmm_tiled (common/monarch_bmm_push.glsl), for
// NVIDIA GPUs with 32-wide subgroups. Each workgroup (4 subgroups) computes a 64 x 64 tile
// of C: operands are staged through shared memory 32 terms at a time by plain strided loads
// (so any strides, the Monarch permutations included, cost only addressing), each subgroup
// multiplies a 32 x 32 quarter as 2 x 2 fragments of 16 x 16 x 16, and the accumulators go
// back through shared memory to the strided, bias-adding, activating epilogue.
// Opt-in (VKS_MONARCH_COOPMAT=1) until measured on a GPU; see docs/monarch.md.
#version 460
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_NV_cooperative_matrix : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#include "common/dtype.glsl"
#include "common/activation.glsl"
#include "common/monarch_bmm_push.glsl"

layout(local_size_x_id = 0) in; // 128: 4 subgroups of 32

// Scope 3 = subgroup (gl_ScopeSubgroup needs GL_KHR_memory_scope_semantics).
const int SCOPE_SUBGROUP = 3;
#define MON_SUBGROUP_ID gl_SubgroupID
#define FRAGS_DECLARE                                                                                \
    fcoopmatNV<32, SCOPE_SUBGROUP, 16, 16> acc[2][2];                                                \
    fcoopmatNV<16, SCOPE_SUBGROUP, 16, 16> fa[2], fb[2]
#define ZERO_C(i, j) acc[i][j] = fcoopmatNV<32, SCOPE_SUBGROUP, 16, 16>(0.0)
#define LOAD_A(i, off) coopMatLoadNV(fa[i], As, off, SAK, false)
#define LOAD_B(j, off) coopMatLoadNV(fb[j], Bs, off, SBN, false)
#define MMA(i, j) acc[i][j] = coopMatMulAddNV(fa[i], fb[j], acc[i][j])
#define STORE_C(i, j, off) coopMatStoreNV(acc[i][j], Cs, off, SCN, false)
#include "common/monarch_bmm_coopmat.glsl"
