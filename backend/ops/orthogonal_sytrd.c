/*
 * Householder tridiagonalization on the device (step 1 of the tridiagonal eigensolver,
 * orthogonal_eigh_lapack.c), as LAPACK's dsytrd (uplo = 'L') and MAGMA's dsytrd_gpu: a
 * blocked one-stage reduction. Per panel of NB columns (dlatrd), per column j:
 *   orthogonal_sytrd_column: the column updated by the panel's V and W, its reflector
 *     (dlarfg), p = V^T v and q = W^T v; it also finishes the previous column's w;
 *   orthogonal_sytrd_symv: w = tau (A22 v - W p - V q), A22 the trailing matrix as of the
 *     panel's start (half the reduction's flops, memory-bound as in every one-stage dsytrd);
 * then the trailing update A22 -= V W^T + W V^T as two GEMMs (vks__orth_gemm, batched; the
 * other half of the flops). A is kept full and symmetric (the GEMMs update both triangles),
 * so the symv reads it by columns. Before the panels three small passes compute max|A| and a
 * NaN/Inf flag per matrix and scale A exactly by a power of two (max|A| in [0.5, 1)), as the
 * host path does.
 *
 * On exit, per matrix (row-major n x n, working dtype): d_j = A(j, j), e_j = A(j, j+1), the
 * reflector v_j in A(j+1:n, j) (unit entry stored), tau_j in aux[j]; flags: NaN/Inf, the
 * scaling exponent. The host reads them back (vks__sytrd_unpack) and continues exactly as
 * after dsytrd: dstedc, dlarft for the T blocks, the back-transformation on the device.
 */
#include <math.h>
#include <string.h>

#include "orthogonal_internal.h"

typedef struct sytrd_push {
    uint64_t a, w, aux, flags;
    uint32_t n, nb, j, i, finalize_only, pad;
} sytrd_push;
_Static_assert(sizeof(sytrd_push) == 56, "sytrd_push mirrors shaders/common/orthogonal_sytrd_push.glsl");

/* Columns per panel: the GEMMs' k (at most 64: the column kernel holds a panel row in shared
 * memory and computes p and q with 64 invocations each). */
static int64_t panel_width(int64_t n) { return n <= 64 ? 32 : 64; }

static uint64_t aux_elems(int64_t n) { return (uint64_t)(n + 2 * panel_width(n)); }

/* The kernels index a matrix with 32-bit element offsets and loop about n / 4 times per
 * invocation: past this n (never reached in practice) the host reduces. */
#define SYTRD_MAX_N 32768

bool vks__sytrd_on_device(const vks_context *ctx, int64_t n) {
    if (n > SYTRD_MAX_N) return false;
    switch (ctx->tuning.eigh_reduction) {
    case VKS_EIGH_REDUCTION_DEVICE: return true;
    case VKS_EIGH_REDUCTION_HOST: return false;
    default: return false; /* AUTO: the host's dsytrd measured faster on lavapipe at every n (docs/orthogonal.md) */
    }
}

uint64_t vks__sytrd_ws_bytes(vks_dtype wdt, int64_t batch, int64_t n) {
    const uint64_t es = vks__dtype_bytes(wdt);
    return orth_round((uint64_t)batch * n * panel_width(n) * es) + orth_round((uint64_t)batch * aux_elems(n) * es) +
           orth_round(8 * (uint64_t)batch);
}

static vks_status dispatch(vks_context *ctx, vks_dtype wdt, int kernel, const sytrd_push *p, uint32_t gx, uint32_t gy,
                           uint32_t gz) {
    static const vks_shader_id ids[5][2] = {
        {VKS_SHADER_ORTHOGONAL_SYTRD_ROWMAX_F32, VKS_SHADER_ORTHOGONAL_SYTRD_ROWMAX_F64},
        {VKS_SHADER_ORTHOGONAL_SYTRD_SCALE_F32, VKS_SHADER_ORTHOGONAL_SYTRD_SCALE_F64},
        {VKS_SHADER_ORTHOGONAL_SYTRD_MIRROR_F32, VKS_SHADER_ORTHOGONAL_SYTRD_MIRROR_F64},
        {VKS_SHADER_ORTHOGONAL_SYTRD_COLUMN_F32, VKS_SHADER_ORTHOGONAL_SYTRD_COLUMN_F64},
        {VKS_SHADER_ORTHOGONAL_SYTRD_SYMV_F32, VKS_SHADER_ORTHOGONAL_SYTRD_SYMV_F64}};
    const vks_spec spec = {.count = kernel == 0 || kernel == 2 ? 1 : 0, .values = {64}};
    return vks__dispatch(ctx, ids[kernel][wdt == VKS_DTYPE_F64], &spec, p, sizeof *p, gx, gy, gz);
}
enum { K_ROWMAX, K_SCALE, K_MIRROR, K_COLUMN, K_SYMV };

vks_status vks__sytrd_record(vks_context *ctx, vks_dtype wdt, orth_mat a, orth_ws *ws, vks__sytrd_buffers *out) {
    const int64_t n = a.rows, batch = a.batch, nb = panel_width(n);
    const uint64_t es = vks__dtype_bytes(wdt);
    out->w = vks__orth_take(ws, (uint64_t)batch * n * nb * es);
    out->aux = vks__orth_take(ws, (uint64_t)batch * aux_elems(n) * es);
    out->flags = vks__orth_take(ws, 8 * (uint64_t)batch);
    if (ws->overflow) return VKS_OK; /* the caller's vks__orth_ws_check reports it */
    sytrd_push p = {.a = a.address, .w = out->w, .aux = out->aux, .flags = out->flags, .n = (uint32_t)n, .nb = (uint32_t)nb};
    const uint32_t zc = (uint32_t)batch, rows64 = (uint32_t)VKS_CEIL_DIV(n, 64);
    VKS_TRY(dispatch(ctx, wdt, K_ROWMAX, &p, rows64, 1, zc));
    VKS_TRY(dispatch(ctx, wdt, K_SCALE, &p, 1, 1, zc));
    VKS_TRY(dispatch(ctx, wdt, K_MIRROR, &p, rows64, (uint32_t)n, zc));
    for (int64_t k0 = 0; k0 < n - 1; k0 += nb) {
        const int64_t kb = VKS_MIN(nb, n - 1 - k0);
        for (int64_t i = 0; i < kb; ++i) {
            p.j = (uint32_t)(k0 + i), p.i = (uint32_t)i, p.finalize_only = 0;
            VKS_TRY(dispatch(ctx, wdt, K_COLUMN, &p, 1, 1, zc));
            VKS_TRY(dispatch(ctx, wdt, K_SYMV, &p, (uint32_t)VKS_CEIL_DIV(n - 1 - (int64_t)p.j, 64), 1, zc));
        }
        p.j = (uint32_t)(k0 + kb), p.i = (uint32_t)kb, p.finalize_only = 1;
        VKS_TRY(dispatch(ctx, wdt, K_COLUMN, &p, 1, 1, zc));
        /* A22 -= V W^T + W V^T below and right of the panel (both triangles). */
        const int64_t r0 = k0 + kb, rows = n - r0;
        const orth_mat v = {a.address + (uint64_t)(r0 * n + k0) * es, wdt, batch, rows, kb, n * n, n, 1};
        const orth_mat w = {out->w + (uint64_t)(r0 * nb) * es, wdt, batch, rows, kb, n * nb, nb, 1};
        const orth_mat a22 = {a.address + (uint64_t)(r0 * n + r0) * es, wdt, batch, rows, rows, n * n, n, 1};
        VKS_TRY(vks__orth_gemm(ctx, -1.0, v, orth_t(w), 1.0, a22));
        VKS_TRY(vks__orth_gemm(ctx, -1.0, w, orth_t(v), 1.0, a22));
    }
    return VKS_OK;
}

vks_status vks__sytrd_fetch(vks_context *ctx, const vks__sytrd_buffers *b, vks_dtype wdt, int64_t batch, int64_t n,
                            vks__sytrd_host *h, const char *fn) {
    memset(h, 0, sizeof *h);
    h->wdt = wdt, h->n = n;
    const size_t aux_bytes = (size_t)((uint64_t)batch * aux_elems(n) * vks__dtype_bytes(wdt));
    h->aux = vks__malloc(aux_bytes);
    h->flags = vks__malloc((size_t)batch * 2 * sizeof(int32_t));
    if (!h->aux || !h->flags) {
        vks__sytrd_host_free(h);
        return vks__error(VKS_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory for the tridiagonal stage (n = %lld)",
                          fn, (long long)n);
    }
    vks_status st = vks__orth_ws_read(ctx, b->aux, h->aux, aux_bytes);
    if (st == VKS_OK) st = vks__orth_ws_read(ctx, b->flags, h->flags, (uint64_t)batch * 8);
    if (st != VKS_OK) vks__sytrd_host_free(h);
    return st;
}

void vks__sytrd_host_free(vks__sytrd_host *h) {
    vks__free(h->aux), vks__free(h->flags);
    h->aux = NULL, h->flags = NULL;
}

bool vks__sytrd_unpack(const vks__sytrd_host *h, const void *mat, int64_t z, double *a, double *d, double *e,
                       double *tau, int *exponent) {
    const int64_t n = h->n;
    const bool f64 = h->wdt == VKS_DTYPE_F64;
    const double *m64 = mat;
    const float *m32 = mat;
#define AT(i, j) (f64 ? m64[(size_t)(i) * (size_t)n + (size_t)(j)] : (double)m32[(size_t)(i) * (size_t)n + (size_t)(j)])
    const size_t aux0 = (size_t)((uint64_t)z * aux_elems(n));
    *exponent = h->flags[2 * z + 1];
    if (h->flags[2 * z] != 0) return false;
    for (int64_t j = 0; j < n; ++j) {
        d[j] = AT(j, j);
        if (j + 1 < n) {
            e[j] = AT(j, j + 1);
            tau[j] = f64 ? ((const double *)h->aux)[aux0 + j] : (double)((const float *)h->aux)[aux0 + j];
        }
        for (int64_t i = j + 1; i < n; ++i) a[(size_t)j * n + i] = AT(i, j);
    }
#undef AT
    return true;
}
