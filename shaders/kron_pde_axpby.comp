//! variants: f32 f64
// Vector steps of the PDE solver's Krylov iteration (backend/ops/kron_pde.c):
// PRODUCT false: z = a x + b y (y unread when b == 0; z may alias x or y);
// PRODUCT true:  z = a x ⊙ y (the preconditioner's scaling by precomputed reciprocals).
#version 460
#extension GL_GOOGLE_include_directive : require
#include "common/dtype.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const bool PRODUCT = false;

layout(push_constant) uniform AxpbyPush {
    uint64_t x, y, z;
    uint count, pad0;
    ACC a, b;
} p;

void main() {
    const uint i = (gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
    if (i >= p.count) return;
    const ACC xv = to_acc(TBuf(t_addr(p.x, i)).v[0]);
    ACC r;
    if (PRODUCT) r = p.a * xv * to_acc(TBuf(t_addr(p.y, i)).v[0]);
    else r = p.b != ACC(0) ? p.a * xv + p.b * to_acc(TBuf(t_addr(p.y, i)).v[0]) : p.a * xv;
    TBuf(t_addr(p.z, i)).v[0] = from_acc(r);
}
