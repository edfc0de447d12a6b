// The per-matrix table of the orthogonalizing iterations (mirrored by ns_item in
// backend/ops/orthogonal_ns.c): element (i, j) of matrix t, i < rows, j < cols, is read at
// src + i*src_rs + j*src_cs and written at dst + i*dst_rs + j*dst_cs (element strides);
// scal indexes its 8 scalars: [0] e, [1] ||2^-e G||_F, [2] 1 when G holds NaN/Inf,
// [3] mult = 1 / (norm_factor ||2^-e G||_F + 2^-e eps) (X0 = 2^-e G mult), [4] AuON's r.
#ifndef VKS_ORTHOGONAL_ITEMS_GLSL
#define VKS_ORTHOGONAL_ITEMS_GLSL

struct Item {
    uint64_t src, dst;
    uint rows, cols, src_rs, src_cs, dst_rs, dst_cs, scal, pad;
};
layout(buffer_reference, std430, buffer_reference_align = 8) buffer ItemBuf { Item v[]; };

// The f32/f64 working copy and the scalars (ACC, whatever the storage dtype).
#if defined(VKS_DTYPE_F64)
layout(buffer_reference, std430, buffer_reference_align = 8) buffer AccBuf { ACC v[]; };
#else
layout(buffer_reference, std430, buffer_reference_align = 4) buffer AccBuf { ACC v[]; };
#endif

#define SCAL_E 0
#define SCAL_NORM 1
#define SCAL_BAD 2
#define SCAL_MULT 3
#define SCAL_R 4
#define SCALARS 8

#endif
