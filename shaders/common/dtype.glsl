// Storage type T and accumulation type ACC of a dtype variant (-DVKS_DTYPE_<X>=1):
//   f32: float / float      f16: float16_t / float (16-bit storage only)
//   f64: double / double    bf16: uint16_t bits / float
// Buffers are reached through device addresses (GL_EXT_buffer_reference): kernels take
// 64-bit addresses in push constants, so no buffer is limited by maxStorageBufferRange.
#ifndef VKS_DTYPE_GLSL
#define VKS_DTYPE_GLSL

#extension GL_EXT_buffer_reference : require
#extension GL_EXT_shader_explicit_arithmetic_types_int64 : require

#if defined(VKS_DTYPE_F16)
#extension GL_EXT_shader_16bit_storage : require
#define T float16_t
#define ACC float
#define T_BYTES 2
#define to_acc(x) float(x)
#define from_acc(x) float16_t(x)
#elif defined(VKS_DTYPE_BF16)
#extension GL_EXT_shader_16bit_storage : require
#define T uint16_t
#define ACC float
#define T_BYTES 2
#define to_acc(x) uintBitsToFloat(uint(x) << 16)
// Round to nearest even; NaN stays a (quiet) NaN. The 16-bit value exists only at the store
// (uint16_t(...) converts there): a uint16_t in registers would need shaderInt16, which
// 16-bit storage alone does not give (lavapipe has no shaderInt16).
uint vks_bf16_bits(float f) {
    uint u = floatBitsToUint(f);
    if (isnan(f)) return 0x7FC0u | (u >> 16);
    return (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;
}
#define from_acc(x) uint16_t(vks_bf16_bits(x))
#elif defined(VKS_DTYPE_F64)
#define T double
#define ACC double
#define T_BYTES 8
#define to_acc(x) (x)
#define from_acc(x) (x)
#else
#define T float
#define ACC float
#define T_BYTES 4
#define to_acc(x) (x)
#define from_acc(x) (x)
#endif

layout(buffer_reference, std430, buffer_reference_align = T_BYTES) buffer TBuf { T v[]; };
layout(buffer_reference, std430, buffer_reference_align = 4) buffer FloatBuf { float v[]; };
layout(buffer_reference, std430, buffer_reference_align = 4) buffer IntBuf { int v[]; };
layout(buffer_reference, std430, buffer_reference_align = 4) buffer UintBuf { uint v[]; };

// Address of element `index` of a T array starting at `base`.
uint64_t t_addr(uint64_t base, uint64_t index) { return base + index * uint64_t(T_BYTES); }

#endif
