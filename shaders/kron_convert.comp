// f64 -> f32 for the eigendecompositions vks_kron_eigh computes in float64 for f32
// factors (as GPyTorch does). Only dispatched on devices with shaderFloat64.
#version 460
#extension GL_EXT_buffer_reference : require
#extension GL_EXT_shader_explicit_arithmetic_types_int64 : require

layout(local_size_x_id = 0) in;
layout(buffer_reference, std430, buffer_reference_align = 8) buffer DoubleBuf { double v[]; };
layout(buffer_reference, std430, buffer_reference_align = 4) buffer FloatBuf { float v[]; };

layout(push_constant) uniform ConvertPush {
    uint64_t src, dst;
    uint count;
} p;

void main() {
    const uint i = (gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
    if (i < p.count) FloatBuf(p.dst).v[i] = float(DoubleBuf(p.src).v[i]);
}
