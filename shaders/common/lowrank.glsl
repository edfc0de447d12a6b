// Shared by the lowrank_* kernels: the adapter table and vector loads.
// Include after common/dtype.glsl and after declaring the specialization constant
//   const bool WIDE  (16-byte loads for GPUs; otherwise 8-byte loads, the widest lavapipe
//                     turns into one load per lane rather than one per 32-bit component).
#ifndef VKS_LOWRANK_GLSL
#define VKS_LOWRANK_GLSL

// One adapter as the kernels see it (mirrors lr_adapter in backend/ops/lowrank_internal.h).
//   shrink operand S(c, k): plain s[c*s_ld + k]; transposed s[k*s_ld + c];
//                           product s[(c / nb)*s_ld + k] * g[(c % nb)*g_ld + k] (RandLoRA's Â)
//   expand operand E(o, c): plain e[o*e_ld + c]; product e[(c / nb)*e_ld + o] * g[(c % nb)*g_ld + o]
//   t[slot, c] = scale * post[c] * sum_k x[row, k] S(c, k), for c < rank.
struct LoraAdapter {
    uint64_t s, e, g, post; // device addresses; g and post 0 when unused
    uint rank;
    uint s_ld, e_ld, g_ld;
    uint nb;
    float scale;
    uint s_vec; // 1: S's rows (and g's) start on a vector boundary, so vector loads along k are aligned
    uint e_vec; // 1: E's rows start on a vector boundary
};
layout(buffer_reference, std430, buffer_reference_align = 8) readonly buffer AdapterBuf { LoraAdapter v[]; };
layout(buffer_reference, std430, buffer_reference_align = 8) buffer U64Buf { uint64_t v[]; };
layout(buffer_reference, std430, buffer_reference_align = 16) buffer U128Buf { uvec4 v[]; };
layout(buffer_reference, std430, buffer_reference_align = 4) buffer F32Buf { float v[]; };

#if defined(VKS_DTYPE_F16)
const uint VMAX = 8;
#else
const uint VMAX = 4;
#endif
// Elements of T per vector load.
const uint V = WIDE ? VMAX : VMAX / 2;

// The V elements of T at element index e (a multiple of V) of an array whose base is
// aligned to a vector. Slots past V are zero.
void load_tv(uint64_t base, uint e, out float f[VMAX]) {
    [[unroll]] for (uint i = 0; i < VMAX; ++i) f[i] = 0.0;
    if (WIDE) {
        uvec4 u = U128Buf(base).v[e / V];
#if defined(VKS_DTYPE_F16)
        [[unroll]] for (uint q = 0; q < 4; ++q) {
            vec2 h = unpackHalf2x16(u[q]);
            f[2 * q] = h.x, f[2 * q + 1] = h.y;
        }
#else
        [[unroll]] for (uint q = 0; q < 4; ++q) f[q] = uintBitsToFloat(u[q]);
#endif
    } else {
        uvec2 u = unpackUint2x32(U64Buf(base).v[e / V]);
#if defined(VKS_DTYPE_F16)
        vec2 h0 = unpackHalf2x16(u.x), h1 = unpackHalf2x16(u.y);
        f[0] = h0.x, f[1] = h0.y, f[2] = h1.x, f[3] = h1.y;
#else
        f[0] = uintBitsToFloat(u.x), f[1] = uintBitsToFloat(u.y);
#endif
    }
}

// V f32 values at element index e (a multiple of V) of an f32 array aligned to 8 floats.
void load_fv(uint64_t base, uint e, out float f[VMAX]) {
    [[unroll]] for (uint i = 0; i < VMAX; ++i) f[i] = 0.0;
    if (WIDE) {
        [[unroll]] for (uint q = 0; q < V / 4; ++q) {
            uvec4 u = U128Buf(base).v[e / 4 + q];
            [[unroll]] for (uint j = 0; j < 4; ++j) f[4 * q + j] = uintBitsToFloat(u[j]);
        }
    } else {
        [[unroll]] for (uint q = 0; q < V / 2; ++q) {
            uvec2 u = unpackUint2x32(U64Buf(base).v[e / 2 + q]);
            f[2 * q] = uintBitsToFloat(u.x), f[2 * q + 1] = uintBitsToFloat(u.y);
        }
    }
}

// One element of T as f32.
float load_t(uint64_t base, uint e) { return float(to_acc(TBuf(base).v[e])); }

#endif
