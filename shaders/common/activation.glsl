// Epilogue activations shared by GEMM-like kernels (values of enum vks_activation).
// f64 variants evaluate the transcendental part in f32: GLSL has no double exp/tanh.
#ifndef VKS_ACTIVATION_GLSL
#define VKS_ACTIVATION_GLSL

#define VKS_ACT_NONE 0u
#define VKS_ACT_RELU 1u
#define VKS_ACT_GELU_TANH 2u
#define VKS_ACT_GELU_ERF 3u

// Abramowitz & Stegun 7.1.26: |error| < 1.5e-7, enough for an f32 epilogue.
float vks_erf(float x) {
    float s = sign(x);
    x = abs(x);
    float t = 1.0 / (1.0 + 0.3275911 * x);
    float y = ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t;
    return s * (1.0 - y * exp(-x * x));
}

float vks_gelu_tanh(float x) {
    // tanh of a clamped argument: tanh(±10) is ±1 in f32, and some drivers return NaN
    // for tanh of large arguments.
    float u = clamp(0.7978845608028654 * (x + 0.044715 * x * x * x), -10.0, 10.0);
    return 0.5 * x * (1.0 + tanh(u));
}

float vks_gelu_erf(float x) { return 0.5 * x * (1.0 + vks_erf(x * 0.7071067811865476)); }

#define VKS_ACTIVATE(ACC_T, v, act)                                                           \
    ((act) == VKS_ACT_RELU        ? max((v), ACC_T(0))                                        \
     : (act) == VKS_ACT_GELU_TANH ? ACC_T(vks_gelu_tanh(float(v)))                            \
     : (act) == VKS_ACT_GELU_ERF  ? ACC_T(vks_gelu_erf(float(v)))                             \
                                  : (v))

#endif
