//! variants: f16
// monarch_bmm_coopmat's tiles with the cooperative-matrix operations emulated
// (common/monarch_coopmat_emu.glsl): for testing the tiling, staging, fragment offsets and
// epilogue of the tensor-core kernel on devices without VK_NV_cooperative_matrix
// (VKS_MONARCH_COOPMAT=emulate).
#version 460
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#include "common/dtype.glsl"
#include "common/activation.glsl"
#include "common/monarch_bmm_push.glsl"

layout(local_size_x_id = 0) in; // 128: 4 groups of 32 invocations

#define MON_EMULATE_COOPMAT 1
#define MON_SUBGROUP_ID (gl_LocalInvocationID.x / 32)
#define FRAGS_DECLARE EMU_DECLARE
#define ZERO_C(i, j) for (uint t_ = 0; t_ < 8; ++t_) emu_acc[(i) * 2 + (j)][t_] = 0.0
#define LOAD_A(i, off) emu_a[i] = (off)
#define LOAD_B(j, off) emu_b[j] = (off)
#define MMA(i, j) emu_mma(emu_acc[(i) * 2 + (j)], emu_a[i], emu_b[j], emu_lane)
#define STORE_C(i, j, off) emu_store(emu_acc[(i) * 2 + (j)], off, emu_lane)
#include "common/monarch_bmm_coopmat.glsl"
