// lowrank_splitk_coopmat's split-K pass with the cooperative-matrix operations emulated
// (scalar code, same staging, offsets and partial sums), so that devices without
// VK_NV_cooperative_matrix test it (VKS_LOWRANK_SPLITK=emulate; the lowrank tests do).
// Each of a subgroup's 32 invocations keeps 8 of an accumulator's 256 elements (element
// e = lane + 32 t: row e / 16, column e % 16); loaded A and B fragments are remembered as
// where they were loaded from (nothing overwrites that between the load and the product).
// B's staged fragments are read from memory with the staging's bounds: lavapipe runs a
// group of 32 as several subgroups that are not in step, so the staging tile is not shared.
#version 460
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_EXT_shader_16bit_storage : require
#extension GL_EXT_buffer_reference : require
#extension GL_EXT_shader_explicit_arithmetic_types_int64 : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_EXT_control_flow_attributes : require

#define FRAG_EMULATED 1
struct EmuA { uint unit; };
struct EmuB { uint64_t base; uint col0, k0, ld, ncols, kend; }; // read from base, zero outside ncols x kend
struct EmuC { float v[8]; };
#define SUBGROUP_ID (gl_LocalInvocationID.x / 32)
#define FRAG_A EmuA
#define FRAG_B EmuB
#define FRAG_C EmuC
#define ZERO_C(c) for (uint t_ = 0; t_ < 8; ++t_) c.v[t_] = 0.0
#define LOAD_A(f, u) f.unit = (u)
#define LOAD_B_STAGED(f, u, b, c, k, nc, ke, l) f = EmuB(b, c, k, l, nc, ke)
#define LOAD_B_TILE(f, u, b, c, k, nc, ke, l) f = EmuB(b, c, k, l, nc, ke)
#define MMA(c, a, b) emu_mma(c, a, b)
#define STORE_C(c, offset) emu_store(c, offset)
#define WARP_SYNC()
#include "common/lowrank_splitk.glsl"
