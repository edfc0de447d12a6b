//! variants: f32 f16 bf16 f64
// Per-matrix reductions of the orthogonalizing iterations, for every matrix of the table at
// once: workgroup (x, t) reduces a strided share of matrix t's elements into partials[t][x].
//   MODE 0: the Frobenius norm without overflow or underflow (LAPACK's nrm2 way: a running
//           maximum m and sum of (x/m)^2) and whether any element is NaN/Inf: (m, s, bad);
//   MODE 1: sum of cosh(gamma * xhat)^2, xhat = 2^-e x mult (AuON; cosh evaluated in f32).
// SRC_ACC reads the f32/f64 working copy instead of the storage dtype.
#version 460
#extension GL_GOOGLE_include_directive : require
#include "common/dtype.glsl"
#include "common/orthogonal_items.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint MODE = 0;
layout(constant_id = 2) const bool SRC_ACC = false;

layout(push_constant) uniform Push {
    uint64_t items, partials, scalars;
    uint nparts;
    float gamma;
} p;


shared ACC red_m[256], red_s[256];
shared uint bad;

ACC load(uint64_t base, uint idx) { return SRC_ACC ? AccBuf(base).v[idx] : to_acc(TBuf(base).v[idx]); }

void main() {
    const uint tid = gl_LocalInvocationID.x, nt = gl_WorkGroupSize.x;
    const uint t = gl_WorkGroupID.y;
    const Item it = ItemBuf(p.items).v[t];
    const uint numel = it.rows * it.cols;
    if (tid == 0) bad = 0;
    barrier();
    ACC m = ACC(0), s = ACC(0), mult = ACC(0);
    int ex = 0;
    if (MODE == 1) {
        AccBuf sc = AccBuf(p.scalars);
        ex = int(sc.v[it.scal * SCALARS + SCAL_E]);
        mult = sc.v[it.scal * SCALARS + SCAL_MULT];
    }
    for (uint e = gl_WorkGroupID.x * nt + tid; e < numel; e += p.nparts * nt) {
        const uint i = e / it.cols, j = e % it.cols;
        const ACC x = load(it.src, i * it.src_rs + j * it.src_cs);
        if (MODE == 0) {
            if (isnan(x) || isinf(x)) {
                bad = 1;
                continue;
            }
            const ACC ax = abs(x);
            if (ax > m) {
                const ACC r = m / ax;
                s = s * r * r + ACC(1);
                m = ax;
            } else if (ax > ACC(0)) {
                const ACC r = ax / m;
                s += r * r;
            }
        } else {
            const float c = cosh(p.gamma * float(ldexp(x, -ex) * mult));
            s += ACC(c) * ACC(c);
        }
    }
    red_m[tid] = m;
    red_s[tid] = s;
    barrier();
    for (uint h = nt / 2; h > 0; h >>= 1) {
        if (tid < h) {
            if (MODE == 0) {
                const ACC m1 = red_m[tid], m2 = red_m[tid + h], mm = max(m1, m2);
                const ACC r1 = mm > ACC(0) ? m1 / mm : ACC(0), r2 = mm > ACC(0) ? m2 / mm : ACC(0);
                red_s[tid] = red_s[tid] * r1 * r1 + red_s[tid + h] * r2 * r2;
                red_m[tid] = mm;
            } else {
                red_s[tid] += red_s[tid + h];
            }
        }
        barrier();
    }
    if (tid == 0) {
        AccBuf part = AccBuf(p.partials);
        const uint o = (t * p.nparts + gl_WorkGroupID.x) * 3;
        part.v[o] = red_m[0];
        part.v[o + 1] = red_s[0];
        part.v[o + 2] = ACC(bad);
    }
}
