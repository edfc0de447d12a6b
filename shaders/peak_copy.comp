// Bandwidth probe: dst[i] = src[i] over `n` bytes / 16, grid-stride. GPUs move 16-byte
// vectors per load; lavapipe turns each component into a scalar loop over the lanes,
// so there one 64-bit component per load is the widest (CPU_WIDTH).
#version 460
#extension GL_EXT_buffer_reference : require
#extension GL_EXT_shader_explicit_arithmetic_types_int64 : require
layout(local_size_x = 256) in;
layout(constant_id = 0) const bool CPU_WIDTH = false;
layout(buffer_reference, std430, buffer_reference_align = 16) buffer Vec4Buf { uvec4 v[]; };
layout(buffer_reference, std430, buffer_reference_align = 8) buffer U64Buf { uint64_t v[]; };
layout(push_constant) uniform Push {
    uint64_t src, dst;
    uint n; // 16-byte units
} p;

void main() {
    const uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    if (CPU_WIDTH) {
        U64Buf s = U64Buf(p.src), d = U64Buf(p.dst);
        for (uint i = gl_GlobalInvocationID.x; i < 2 * p.n; i += stride) d.v[i] = s.v[i];
    } else {
        Vec4Buf s = Vec4Buf(p.src), d = Vec4Buf(p.dst);
        for (uint i = gl_GlobalInvocationID.x; i < p.n; i += stride) d.v[i] = s.v[i];
    }
}
