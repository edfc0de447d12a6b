//! variants: f32 f16 bf16 f64
// Elementwise passes of the orthogonalizing iterations over every matrix of the table
// (workgroup (x, y, t): columns x*64.., rows y, y + gridY, ... of matrix t):
//   MODE 0: dst = 2^-e src mult          (the normalised X0; 0 for NaN/Inf input)
//   MODE 1: dst = src                    (the result out of the working copy)
//   MODE 2: dst = src / (r + eps2)       (AuON, the public code)
//   MODE 3: dst = 2^-e src mult / (r + eps2)  (AuON, the paper: the normalised update)
// SRC_ACC / DST_ACC: that side is the f32/f64 working copy instead of the storage dtype.
#version 460
#extension GL_GOOGLE_include_directive : require
#include "common/dtype.glsl"
#include "common/orthogonal_items.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint MODE = 0;
layout(constant_id = 2) const bool SRC_ACC = false;
layout(constant_id = 3) const bool DST_ACC = true;
layout(constant_id = 4) const bool SRC_F16 = false; // that side is the f16 working copy (tensor-core
layout(constant_id = 5) const bool DST_F16 = false; // path; f16/bf16 variants only)

#if defined(VKS_DTYPE_F16) || defined(VKS_DTYPE_BF16)
#define HAS_F16_WORK 1
layout(buffer_reference, std430, buffer_reference_align = 2) buffer HalfBuf { float16_t v[]; };
#endif

layout(push_constant) uniform Push {
    uint64_t items, scalars;
    float eps2;
} p;


void main() {
    const uint j = gl_GlobalInvocationID.x;
    const Item it = ItemBuf(p.items).v[gl_WorkGroupID.z];
    if (j >= it.cols) return;
    AccBuf sc = AccBuf(p.scalars);
    const uint so = it.scal * SCALARS;
    const int ex = int(sc.v[so + SCAL_E]);
    const ACC mult = sc.v[so + SCAL_MULT];
    const bool bad = sc.v[so + SCAL_BAD] != ACC(0);
    const ACC rinv = MODE >= 2 ? ACC(1) / (sc.v[so + SCAL_R] + ACC(p.eps2)) : ACC(1);
    for (uint i = gl_WorkGroupID.y; i < it.rows; i += gl_NumWorkGroups.y) {
        const uint si = i * it.src_rs + j * it.src_cs, di = i * it.dst_rs + j * it.dst_cs;
        ACC x;
#ifdef HAS_F16_WORK
        if (SRC_F16) x = ACC(HalfBuf(it.src).v[si]);
        else
#endif
            x = SRC_ACC ? AccBuf(it.src).v[si] : to_acc(TBuf(it.src).v[si]);
        if (MODE == 0) x = ldexp(x, -ex) * mult;
        else if (MODE == 2) x = x * rinv;
        else if (MODE == 3) x = ldexp(x, -ex) * mult * rinv;
        if (bad) x = ACC(0);
#ifdef HAS_F16_WORK
        if (DST_F16) {
            HalfBuf(it.dst).v[di] = float16_t(x);
            continue;
        }
#endif
        if (DST_ACC) AccBuf(it.dst).v[di] = x;
        else TBuf(it.dst).v[di] = from_acc(x);
    }
}
