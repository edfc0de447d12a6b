//! variants: f32 f64
// Combines the partials of orthogonal_reduce.comp per matrix (one invocation each):
//   MODE 0: e = the exponent of max|G| (so 2^-e max|G| is in [0.5, 1)), ||2^-e G||_F, the
//           NaN/Inf flag, and mult = 1 / (norm_factor ||2^-e G||_F + 2^-e eps) (0 for G = 0
//           without eps, and for NaN/Inf) — X0 = 2^-e G mult is scale-invariant; the flag also
//           goes to the caller's status tensor (i32) when one is given;
//   MODE 1: r = sqrt(mean(cosh^2)).
#version 460
#extension GL_GOOGLE_include_directive : require
#include "common/dtype.glsl"
#include "common/orthogonal_items.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint MODE = 0;

layout(push_constant) uniform Push {
    uint64_t items, partials, scalars, status;
    uint count, nparts;
    ACC norm_factor, eps; // f64 variant: doubles (1.01 is not exact in f32)
} p;


void main() {
    const uint t = gl_GlobalInvocationID.x;
    if (t >= p.count) return;
    const Item it = ItemBuf(p.items).v[t];
    AccBuf part = AccBuf(p.partials), sc = AccBuf(p.scalars);
    const uint base = t * p.nparts * 3, so = it.scal * SCALARS;
    if (MODE == 0) {
        ACC m = ACC(0), bad = ACC(0);
        for (uint x = 0; x < p.nparts; ++x) m = max(m, part.v[base + 3 * x]), bad = max(bad, part.v[base + 3 * x + 2]);
        ACC s = ACC(0);
        for (uint x = 0; x < p.nparts; ++x) {
            const ACC r = m > ACC(0) ? part.v[base + 3 * x] / m : ACC(0);
            s += part.v[base + 3 * x + 1] * r * r;
        }
        int ex = 0;
        ACC mant = ACC(0);
        if (m > ACC(0)) mant = frexp(m, ex);
        const ACC nrm = mant * sqrt(s); // ||2^-e G||_F
        const ACC den = ACC(p.norm_factor) * nrm + ldexp(ACC(p.eps), -ex);
        sc.v[so + SCAL_E] = ACC(ex);
        sc.v[so + SCAL_NORM] = nrm;
        sc.v[so + SCAL_BAD] = bad;
        sc.v[so + SCAL_MULT] = (bad != ACC(0) || !(den > ACC(0))) ? ACC(0) : ACC(1) / den;
        if (p.status != 0) IntBuf(p.status).v[t] = bad != ACC(0) ? 1 : 0;
    } else {
        ACC s = ACC(0);
        for (uint x = 0; x < p.nparts; ++x) s += part.v[base + 3 * x + 1];
        sc.v[so + SCAL_R] = sqrt(s / ACC(it.rows * it.cols));
    }
}
