// Tensor-core probe (VK_NV_cooperative_matrix): each subgroup keeps 8 independent 16x16 f32
// accumulators and multiplies f16 16x16 fragments into them `iters` times. 8192 FLOP per
// fragment product. Only dispatched where VKS_FEATURE_COOPMAT_NV is present.
#version 460
#extension GL_NV_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_EXT_buffer_reference : require
#extension GL_EXT_shader_explicit_arithmetic_types_int64 : require
layout(local_size_x = 128) in;
layout(buffer_reference, std430, buffer_reference_align = 16) buffer OutBuf { uvec4 v[]; };
layout(push_constant) uniform Push {
    uint64_t out_addr;
    uint iters;
} p;
shared uvec4 seed[64];

void main() {
    // Inputs from shared memory the compiler cannot constant-fold (1.0h = 0x3C00).
    if (gl_LocalInvocationID.x < 64) seed[gl_LocalInvocationID.x] = uvec4(0x3C003C00u * (p.iters & 1u));
    barrier();
    fcoopmatNV<16, gl_ScopeSubgroup, 16, 16> a, b;
    coopMatLoadNV(a, seed, 0, 2, false);
    coopMatLoadNV(b, seed, 32, 2, false);
    fcoopmatNV<32, gl_ScopeSubgroup, 16, 16> c[8];
    [[unroll]] for (uint i = 0; i < 8; ++i) c[i] = fcoopmatNV<32, gl_ScopeSubgroup, 16, 16>(0.0);
    for (uint it = 0; it < p.iters; ++it)
        [[unroll]] for (uint i = 0; i < 8; ++i) c[i] = coopMatMulAddNV(a, b, c[i]);
    // (Adding coopmats made glslc 2023.2 crash: store each instead.)
    const uint base = (gl_WorkGroupID.x * 4 + gl_SubgroupID) * 8 * 64;
    [[unroll]] for (uint i = 0; i < 8; ++i) coopMatStoreNV(c[i], OutBuf(p.out_addr).v, base + i * 64, 4, false);
}
