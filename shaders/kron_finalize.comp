//! variants: f32 f64
// Reduces the partial sums of kron_eigscale / kron_dot and writes
//   logdet = sum_g logdet partials (if any) + sum_v weight_v * sum_j log(vec_v[j * stride_v])
//   mll[r] = -quad[r]/2 - logdet/2 - N log(2 pi)/2
// The vectors carry the rest of the log-determinant: per-factor noise scales c_i (weight
// N/n_i) or the diagonals of Cholesky factors (weight 2N/n_i). One workgroup.
#version 460
#extension GL_GOOGLE_include_directive : require
#include "common/dtype.glsl"
#include "common/kron_math.glsl"

layout(local_size_x_id = 0) in;

struct LogVec {
    uint64_t addr;
    uint n, stride;
    ACC weight;
};
layout(buffer_reference, std430, buffer_reference_align = 8) buffer LogVecs { LogVec v[]; };

layout(push_constant) uniform FinalizePush {
    uint64_t partials, logdet, mll, vecs;
    uint groups, k, nvec, has_log;
    ACC points;
} p;

shared ACC red[gl_WorkGroupSize.x];

ACC reduce(ACC v) {
    const uint lid = gl_LocalInvocationID.x;
    barrier(); // earlier readers of red[0] are done
    red[lid] = v;
    barrier();
    for (uint s = gl_WorkGroupSize.x / 2; s > 0; s >>= 1) {
        if (lid < s) red[lid] += red[lid + s];
        barrier();
    }
    return red[0];
}

void main() {
    const uint lid = gl_LocalInvocationID.x, wg = gl_WorkGroupSize.x;
    TBuf part = TBuf(p.partials);
    ACC logs = ACC(0);
    if (p.has_log != 0)
        for (uint g = lid; g < p.groups; g += wg) logs += to_acc(part.v[p.k * p.groups + g]);
    for (uint v = 0; v < p.nvec; ++v) {
        const LogVec lv = LogVecs(p.vecs).v[v];
        ACC s = ACC(0);
        for (uint j = lid; j < lv.n; j += wg) s += kr_log(to_acc(TBuf(lv.addr).v[j * lv.stride]));
        logs += lv.weight * s;
    }
    const ACC logdet = reduce(logs);
    if (lid == 0 && p.logdet != 0) TBuf(p.logdet).v[0] = from_acc(logdet);
    if (p.mll == 0) return;
    for (uint r = 0; r < p.k; ++r) {
        ACC q = ACC(0);
        for (uint g = lid; g < p.groups; g += wg) q += to_acc(part.v[r * p.groups + g]);
        q = reduce(q);
        if (lid == 0) TBuf(p.mll).v[r] = from_acc(ACC(-0.5) * q - ACC(0.5) * logdet - ACC(0.5) * p.points * KR_LOG_2PI);
    }
}
