// Bandwidth probe: dst[i] = src[i] over n vec4s (16-byte loads and stores), grid-stride.
#version 460
#extension GL_EXT_buffer_reference : require
#extension GL_EXT_shader_explicit_arithmetic_types_int64 : require
layout(local_size_x = 256) in;
layout(buffer_reference, std430, buffer_reference_align = 16) buffer Vec4Buf { vec4 v[]; };
layout(push_constant) uniform Push {
    uint64_t src, dst;
    uint n;
} p;

void main() {
    Vec4Buf s = Vec4Buf(p.src), d = Vec4Buf(p.dst);
    const uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint i = gl_GlobalInvocationID.x; i < p.n; i += stride) d.v[i] = s.v[i];
}
