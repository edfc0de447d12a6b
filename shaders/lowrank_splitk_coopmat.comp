// Fused LoRA at decode sizes on tensor cores (VK_NV_cooperative_matrix): the split-K pass of
// common/lowrank_splitk.glsl with 16 x 16 x 16 fragments, f16 inputs, f32 accumulation.
// Every loop over fragments is [[unroll]] (NVIDIA otherwise keeps fragment arrays in local
// memory, docs/bench/h100-notes.md); no f16 literals (glslang 11.13).
#version 460
#extension GL_GOOGLE_include_directive : require
#extension GL_NV_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_EXT_shader_16bit_storage : require
#extension GL_EXT_buffer_reference : require
#extension GL_EXT_shader_explicit_arithmetic_types_int64 : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_EXT_control_flow_attributes : require

#define SUBGROUP_ID gl_SubgroupID
#define FRAG_A fcoopmatNV<16, gl_ScopeSubgroup, 16, 16>
#define FRAG_B fcoopmatNV<16, gl_ScopeSubgroup, 16, 16>
#define FRAG_C fcoopmatNV<32, gl_ScopeSubgroup, 16, 16>
#define ZERO_C(c) c = FRAG_C(0.0)
#define LOAD_A(f, unit) coopMatLoadNV(f, xs, unit, XROW, false)
#define LOAD_B_STAGED(f, unit, base, col0, k0, ncols, kend, ld) coopMatLoadNV(f, ws, unit, BROW, true)
#define LOAD_B_TILE(f, unit, base, col0, k0, ncols, kend, ld) coopMatLoadNV(f, ws, unit, WROW, true)
#define MMA(c, a, b) c = coopMatMulAddNV(a, b, c)
#define STORE_C(c, unit) coopMatStoreNV(c, ws, unit, CROW / 4, false)
#define WARP_SYNC() subgroupMemoryBarrierShared(), subgroupBarrier()
#include "common/lowrank_splitk.glsl"
