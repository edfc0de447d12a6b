//! variants: f32 f16 f64
// Arithmetic probe: 8 independent FMA chains per invocation (f16: on f16vec2, the packed
// rate; f64 on dvec2), `iters` rounds; the sum is stored so nothing is optimised away.
#version 460
#extension GL_EXT_buffer_reference : require
#extension GL_EXT_shader_explicit_arithmetic_types_int64 : require
#if defined(VKS_DTYPE_F16)
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#define V f16vec2
#elif defined(VKS_DTYPE_F64)
#define V dvec2
#else
#define V vec2
#endif
layout(local_size_x = 256) in;
layout(buffer_reference, std430, buffer_reference_align = 4) buffer OutBuf { float v[]; };
layout(push_constant) uniform Push {
    uint64_t out_addr;
    uint iters;
    float seed;
} p;

void main() {
    V x[4];
    for (int c = 0; c < 4; ++c) x[c] = V(p.seed * float(gl_GlobalInvocationID.x + c), p.seed);
    const V a = V(0.999, 0.998), b = V(0.001, 0.002);
    for (uint it = 0; it < p.iters; ++it) {
        for (int c = 0; c < 4; ++c) x[c] = fma(x[c], a, b);
        for (int c = 0; c < 4; ++c) x[c] = fma(x[c], a, b);
    }
    V s = x[0] + x[1] + x[2] + x[3];
    OutBuf(p.out_addr).v[gl_GlobalInvocationID.x] = float(s.x + s.y);
}
