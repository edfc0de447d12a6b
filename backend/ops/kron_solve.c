/*
 * Gaussian-process solves with Kronecker-structured covariances (Saatci 2012):
 *  - vks_kron_eigh: per-factor eigendecompositions K_i = Q_i diag(lambda_i) Q_i^T (of
 *    D_i^-1/2 K_i D_i^-1/2 with per-factor noise scales), in float64 where the device
 *    has it, with the positive-semi-definiteness check;
 *  - vks_kron_solve: alpha = Q (Lambda + s2)^-1 Q^T y as two Kronecker products around one
 *    fused pass (kron_eigscale) that also sums log(lambda + s2) and y^T alpha; a last
 *    one-workgroup pass (kron_finalize) writes log|K + s2 D| and the log marginal likelihood;
 *  - vks_kron_cholesky_solve: the noiseless case, K_i^-1 = L_i^-T L_i^-1 from vks_cholesky
 *    and vks_trsm, alpha = (⊗K_i^-1) y, log|K| = sum_i (N/n_i) 2 sum_j log L_i[j][j].
 * The factor decompositions are the orthogonal family's (vks_eigh, vks_cholesky, vks_trsm);
 * their temporaries here are internal buffers, not the per-op scratch, which those calls
 * use themselves.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kron_internal.h"
#include "orthogonal_internal.h"

#define KRON_LOG_VECS 8
#define KRON_EIGH_MAX_SWEEPS 100

/* ---- push constants ------------------------------------------------------------------ */

typedef struct prep_push {
    uint64_t src, dst, scale;
    uint32_t n, src_rs, src_cs, scale_stride;
    union {
        float f;
        double d;
    } jitter;
} prep_push;
_Static_assert(offsetof(prep_push, jitter) == 40 && sizeof(prep_push) == 48, "prep_push mirrors kron_prep.comp");

typedef struct convert_push {
    uint64_t src, dst;
    uint32_t count;
} convert_push;

typedef struct eigscale_push {
    uint64_t w, z, zm, partials;
    uint64_t lam[4];
    uint32_t n[4];
    uint32_t points, k, groups, floor_after_noise;
    union {
        struct { float noise, floor_; } f;
        struct { double noise, floor_; } d;
    } s;
} eigscale_push;
_Static_assert(offsetof(eigscale_push, s) == 96 && sizeof(eigscale_push) == 112, "eigscale_push mirrors kron_eigscale.comp");

typedef struct dot_push {
    uint64_t a, b, partials;
    uint32_t points, k, groups, pad0;
} dot_push;
_Static_assert(sizeof(dot_push) == 40, "dot_push mirrors kron_dot.comp");

typedef struct diagscale_push {
    uint64_t src, dst;
    uint64_t c[4];
    uint32_t n[4];
    uint32_t points, k;
} diagscale_push;
_Static_assert(sizeof(diagscale_push) == 72, "diagscale_push mirrors kron_diagscale.comp");

typedef struct finalize_push {
    uint64_t partials, logdet, mll, vecs;
    uint32_t groups, k, nvec, has_log;
    union {
        float f;
        double d;
    } points;
} finalize_push;
_Static_assert(offsetof(finalize_push, points) == 48, "finalize_push mirrors kron_finalize.comp");

/* One vector of log terms for kron_finalize (std430 struct LogVec, 24 bytes either way). */
typedef struct log_vec_f32 {
    uint64_t addr;
    uint32_t n, stride;
    float weight;
    uint32_t pad;
} log_vec_f32;
typedef struct log_vec_f64 {
    uint64_t addr;
    uint32_t n, stride;
    double weight;
} log_vec_f64;
_Static_assert(sizeof(log_vec_f32) == 24 && sizeof(log_vec_f64) == 24, "LogVec in kron_finalize.comp is 24 bytes");

typedef struct log_vec {
    VkDeviceAddress addr;
    int64_t n, stride;
    double weight;
} log_vec;

/* ---- small recorders ------------------------------------------------------------------- */

static uint32_t wg_1d(const vks_context *ctx) { return vks__cpu_kernels(ctx) ? ctx->probe.info.subgroup_size : 256; }

/* MODE 0: dst = S (sym(src) + jitter I) S; MODE 1: dst = I. dst is compact n x n of `dt`. */
static vks_status record_prep(vks_context *ctx, vks_dtype dt, uint32_t mode, const vks_tensor *src,
                              VkDeviceAddress scale, int64_t scale_stride, double jitter, VkDeviceAddress dst,
                              int64_t n) {
    prep_push pc = {.dst = dst, .n = (uint32_t)n};
    bool in_f32 = false;
    if (mode == 0) {
        vks_matrix m;
        VKS_TRY(vks__matrix_view(ctx, src, "vks_kron", "factor", &m));
        pc.src = m.address, pc.src_rs = (uint32_t)m.row_stride, pc.src_cs = (uint32_t)m.col_stride;
        pc.scale = scale, pc.scale_stride = (uint32_t)scale_stride;
        in_f32 = dt == VKS_DTYPE_F64 && src->dtype == VKS_DTYPE_F32;
    }
    if (dt == VKS_DTYPE_F64) pc.jitter.d = jitter;
    else pc.jitter.f = (float)jitter;
    const bool cpu = vks__cpu_kernels(ctx);
    const uint32_t wx = cpu ? ctx->probe.info.subgroup_size : 16, wy = cpu ? 1 : 16;
    const vks_spec spec = {.count = 4, .values = {wx, wy, mode, in_f32}};
    return vks__dispatch(ctx, vks__kron_variant(dt, VKS_SHADER_KRON_PREP_F32, VKS_SHADER_KRON_PREP_F64), &spec, &pc,
                         dt == VKS_DTYPE_F64 ? 48 : 44, (uint32_t)VKS_CEIL_DIV(n, (int64_t)wx),
                         (uint32_t)VKS_CEIL_DIV(n, (int64_t)wy), 1);
}

static vks_status record_convert(vks_context *ctx, VkDeviceAddress src, VkDeviceAddress dst, int64_t count) {
    const uint32_t wg = wg_1d(ctx);
    convert_push pc = {.src = src, .dst = dst, .count = (uint32_t)count};
    uint32_t gx, gy;
    vks__kron_groups_2d(ctx, VKS_CEIL_DIV(count, (int64_t)wg), &gx, &gy);
    const vks_spec spec = {.count = 1, .values = {wg}};
    return vks__dispatch(ctx, VKS_SHADER_KRON_CONVERT, &spec, &pc, 20, gx, gy, 1);
}

/* out = in * prod_i c_i^(inv_sqrt ? -1/2 : 1/2), elementwise over a grid vector. */
static vks_status record_diagscale(vks_context *ctx, vks_dtype dt, int32_t d, const int64_t *n,
                                   const VkDeviceAddress *c, const kron_vec *in, const kron_vec *out, bool inv_sqrt) {
    diagscale_push pc = {.src = in->addr, .dst = out->addr, .points = (uint32_t)in->n, .k = (uint32_t)in->k};
    for (int32_t i = 0; i < d; ++i) pc.c[i] = c[i], pc.n[i] = (uint32_t)n[i];
    const uint32_t wg = wg_1d(ctx);
    const vks_spec spec = {.count = 5, .values = {wg, (uint32_t)d, inv_sqrt, in->row_major, out->row_major}};
    uint32_t gx, gy;
    vks__kron_groups_2d(ctx, VKS_CEIL_DIV(in->n * in->k, (int64_t)wg), &gx, &gy);
    return vks__dispatch(ctx, vks__kron_variant(dt, VKS_SHADER_KRON_DIAGSCALE_F32, VKS_SHADER_KRON_DIAGSCALE_F64), &spec,
                         &pc, sizeof pc, gx, gy, 1);
}

#define REDUCE_ITEMS 4

static int64_t reduce_groups(const vks_context *ctx, int64_t points) {
    return VKS_MAX(1, VKS_CEIL_DIV(points, (int64_t)wg_1d(ctx) * REDUCE_ITEMS));
}

static vks_status record_finalize(vks_context *ctx, vks_dtype dt, VkDeviceAddress partials, int64_t groups, int64_t k,
                                  bool has_log, const log_vec *vecs, int32_t nvec, int64_t points,
                                  VkDeviceAddress logdet, VkDeviceAddress mll) {
    finalize_push pc = {.partials = partials, .logdet = logdet, .mll = mll, .groups = (uint32_t)groups,
                        .k = (uint32_t)k, .nvec = (uint32_t)nvec, .has_log = has_log};
    if (dt == VKS_DTYPE_F64) pc.points.d = (double)points;
    else pc.points.f = (float)points;
    if (nvec > 0) {
        union {
            log_vec_f32 f[KRON_LOG_VECS];
            log_vec_f64 d[KRON_LOG_VECS];
        } table;
        memset(&table, 0, sizeof table);
        for (int32_t v = 0; v < nvec; ++v) {
            if (dt == VKS_DTYPE_F64)
                table.d[v] = (log_vec_f64){vecs[v].addr, (uint32_t)vecs[v].n, (uint32_t)vecs[v].stride, vecs[v].weight};
            else
                table.f[v] = (log_vec_f32){vecs[v].addr, (uint32_t)vecs[v].n, (uint32_t)vecs[v].stride,
                                           (float)vecs[v].weight, 0};
        }
        VKS_TRY(vks__params(ctx, &table, (uint32_t)(24 * nvec), &pc.vecs));
    }
    const vks_spec spec = {.count = 1, .values = {vks__cpu_kernels(ctx) ? 64u : 256u}};
    return vks__dispatch(ctx, vks__kron_variant(dt, VKS_SHADER_KRON_FINALIZE_F32, VKS_SHADER_KRON_FINALIZE_F64), &spec,
                         &pc, dt == VKS_DTYPE_F64 ? 56 : 52, 1, 1, 1);
}

/* ---- shared validation ------------------------------------------------------------------- */

static bool same_tensor(const vks_tensor *a, const vks_tensor *b) {
    if (a == b) return true;
    if (!a || !b) return false;
    if (a->buffer != b->buffer || a->byte_offset != b->byte_offset || a->dtype != b->dtype || a->ndim != b->ndim)
        return false;
    for (int32_t i = 0; i < a->ndim; ++i)
        if (a->shape[i] != b->shape[i] || a->strides[i] != b->strides[i]) return false;
    return true;
}

/* A square factor (n, n) of dtype dt; returns n. */
static vks_status square_view(const vks_context *ctx, const vks_tensor *t, vks_dtype dt, const char *fn,
                              const char *arg, int64_t *n) {
    kron_factor f;
    VKS_TRY(vks__kron_factor_view(ctx, t, VKS_NO_TRANS, dt, fn, arg, &f));
    if (f.rows != f.cols)
        return vks__error(VKS_ERROR_SHAPE_MISMATCH, "%s: %s is %lld x %lld; expected a square matrix", fn, arg,
                          (long long)f.rows, (long long)f.cols);
    *n = f.rows;
    return VKS_OK;
}

static vks_status grid_size(int32_t d, const int64_t *n, const char *fn, int64_t *points) {
    int64_t p = 1;
    for (int32_t i = 0; i < d; ++i)
        if (__builtin_mul_overflow(p, n[i], &p) || p > INT32_MAX)
            return vks__error(VKS_ERROR_OUT_OF_RANGE, "%s: a grid of more than 2^31 - 1 points", fn);
    *points = p;
    return VKS_OK;
}

/* Optional outputs must not share memory with each other or with the inputs. */
static vks_status check_disjoint(const vks_tensor *const *outs, const char *const *out_names, int nout,
                                 const vks_tensor *const *ins, const char *const *in_names, int nin, const char *fn) {
    vks_arg o[4 + VKS_KRON_MAX_DIMS], in[3 * VKS_KRON_MAX_DIMS + 1];
    for (int i = 0; i < nout; ++i) o[i] = (vks_arg){outs[i], out_names[i], NULL};
    for (int j = 0; j < nin; ++j) in[j] = (vks_arg){ins[j], in_names[j], NULL};
    return vks__check_no_alias(o, nout, in, nin, fn);
}

/* The calls that read results back cannot run inside a host's command buffer. */
static vks_status no_external_recording(const vks_context *ctx, const char *fn) {
    if (!ctx->host_cmd) return VKS_OK;
    return vks__error(VKS_ERROR_UNSUPPORTED,
                      "%s: reads results back (synchronizes), which is not possible during external recording; "
                      "call it before vks_begin_external_recording",
                      fn);
}

static vks_status temp_buffer(vks_context *ctx, uint64_t bytes, vks_buffer **out) {
    return vks__buffer_create_locked(ctx, VKS_MAX(bytes, 16), true, out);
}

/* A compact tensor over an internal buffer, for the orthogonal family's calls. */
/* A compact n x n matrix at addr, as vks__matrix_view reads a rank-2 tensor. */
static orth_mat square_matrix(VkDeviceAddress addr, vks_dtype dt, int64_t n) {
    orth_mat m = orth_dense(addr, dt, 1, n, n);
    m.batch_stride = 0;
    return m;
}

/* A nested recorder's message without its leading "fn: " (the caller puts it in context). */
static const char *inner_message(vks_context *ctx, const char *fn) {
    const char *m = vks_last_error(ctx);
    const size_t len = strlen(fn);
    return strncmp(m, fn, len) == 0 && m[len] == ':' && m[len + 1] == ' ' ? m + len + 2 : m;
}

/* ---- vks_kron_eigh ------------------------------------------------------------------------ */

typedef struct eigh_work {
    vks_buffer *in, *w, *v; /* the matrix to decompose; float64 results when promoting */
    int64_t n;
    int32_t copy_of; /* -1, or the earlier factor with the same tensor and scales */
} eigh_work;

/* What the eigen and Cholesky paths check alike: d, the jitter, and d square factors of
 * one supported dtype (their sizes into n). */
static vks_status check_factors(vks_context *ctx, int32_t d, const vks_tensor *const *factors, double jitter,
                                const char *fn, int64_t *n, vks_dtype *dt) {
    VKS_TRY(vks__kron_check_d(d, fn));
    if (!(jitter >= 0) || !isfinite(jitter))
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: desc->jitter = %g, expected a finite value >= 0", fn, jitter);
    if (!factors[0]) return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: desc->factors[0] is NULL", fn);
    VKS_TRY(vks__check_tensor(ctx, factors[0], fn, "desc->factors[0]"));
    *dt = factors[0]->dtype;
    VKS_TRY(vks__check_float_dtype(ctx, *dt, fn, "desc->factors[0]"));
    char arg[48];
    for (int32_t i = 0; i < d; ++i) {
        snprintf(arg, sizeof arg, "desc->factors[%d]", i);
        VKS_TRY(square_view(ctx, factors[i], *dt, fn, arg, &n[i]));
    }
    return VKS_OK;
}

static vks_status eigh_validate(vks_context *ctx, const vks_kron_eigh_desc *desc, const char *fn, int64_t *n) {
    vks_dtype dt;
    VKS_TRY(check_factors(ctx, desc->d, desc->factors, desc->jitter, fn, n, &dt));
    char arg[48];
    for (int32_t i = 0; i < desc->d; ++i) {
        if (desc->noise_scales[i]) {
            snprintf(arg, sizeof arg, "desc->noise_scales[%d]", i);
            VKS_TRY(vks__kron_vector_compact(ctx, desc->noise_scales[i], n[i], dt, fn, arg));
        }
        if (!desc->eigvecs[i] || !desc->eigvals[i])
            return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: desc->%s[%d] is NULL", fn,
                              desc->eigvecs[i] ? "eigvals" : "eigvecs", i);
        snprintf(arg, sizeof arg, "desc->eigvecs[%d]", i);
        VKS_TRY(vks__kron_square_compact(ctx, desc->eigvecs[i], n[i], dt, fn, arg));
        snprintf(arg, sizeof arg, "desc->eigvals[%d]", i);
        VKS_TRY(vks__kron_vector_compact(ctx, desc->eigvals[i], n[i], dt, fn, arg));
    }
    /* Outputs against every input and each other. */
    const vks_tensor *outs[2 * VKS_KRON_MAX_DIMS], *ins[2 * VKS_KRON_MAX_DIMS];
    const char *onames[2 * VKS_KRON_MAX_DIMS], *inames[2 * VKS_KRON_MAX_DIMS];
    char names[4][2 * VKS_KRON_MAX_DIMS][32];
    for (int32_t i = 0; i < desc->d; ++i) {
        outs[2 * i] = desc->eigvecs[i], outs[2 * i + 1] = desc->eigvals[i];
        ins[2 * i] = desc->factors[i], ins[2 * i + 1] = desc->noise_scales[i];
        snprintf(names[0][i], 32, "desc->eigvecs[%d]", i), snprintf(names[1][i], 32, "desc->eigvals[%d]", i);
        snprintf(names[2][i], 32, "desc->factors[%d]", i), snprintf(names[3][i], 32, "desc->noise_scales[%d]", i);
        onames[2 * i] = names[0][i], onames[2 * i + 1] = names[1][i];
        inames[2 * i] = names[2][i], inames[2 * i + 1] = names[3][i];
    }
    /* Outputs may not overlap each other, except that a factor given twice (the same tensor
     * and scales) may name the same outputs twice: it is decomposed once. */
    for (int32_t i = 0; i < 2 * desc->d; ++i)
        for (int32_t j = 0; j < i; ++j) {
            if (!vks__tensors_overlap(outs[i], outs[j])) continue;
            const bool same_input = same_tensor(desc->factors[i / 2], desc->factors[j / 2]) &&
                                    same_tensor(desc->noise_scales[i / 2], desc->noise_scales[j / 2]);
            if (same_tensor(outs[i], outs[j]) && i % 2 == j % 2 && same_input) continue;
            return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: %s overlaps %s in memory%s", fn, onames[i], onames[j],
                              same_tensor(outs[i], outs[j]) ? " (the same tensor for different factors)" : "");
        }
    /* (each output on its own: the exception above is checked) */
    for (int32_t i = 0; i < 2 * desc->d; ++i)
        VKS_TRY(check_disjoint(&outs[i], &onames[i], 1, ins, inames, 2 * desc->d, fn));
    return VKS_OK;
}

/* Reads the eigenvalues back, checks positive semi-definiteness, zeroes small negatives. */
static vks_status eigh_check(vks_context *ctx, const vks_kron_eigh_desc *desc, const int64_t *n, vks_dtype cdt,
                             const char *fn) {
    const vks_dtype dt = desc->eigvals[0]->dtype;
    const size_t es = vks__dtype_bytes(dt);
    /* The factors are only known to their dtype's precision, whatever the compute dtype. */
    (void)cdt;
    const double eps = dt == VKS_DTYPE_F64 ? DBL_EPSILON : FLT_EPSILON;
    for (int32_t i = 0; i < desc->d; ++i) {
        const vks_tensor *t = desc->eigvals[i];
        uint8_t *bytes = vks__malloc((size_t)n[i] * es);
        double *lam = vks__malloc(sizeof(double) * (size_t)n[i]);
        vks_status st = bytes && lam ? VKS_OK : vks__error(VKS_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", fn);
        if (st == VKS_OK) st = vks__buffer_read_locked(t->buffer, t->byte_offset, bytes, (uint64_t)n[i] * es);
        double big = 0, least = INFINITY;
        bool finite = true;
        for (int64_t j = 0; st == VKS_OK && j < n[i]; ++j) {
            if (dt == VKS_DTYPE_F64) memcpy(&lam[j], bytes + 8 * j, 8);
            else {
                float f;
                memcpy(&f, bytes + 4 * j, 4);
                lam[j] = f;
            }
            finite = finite && isfinite(lam[j]);
            big = fmax(big, fabs(lam[j]));
            least = fmin(least, lam[j]);
        }
        const double tol = 16.0 * (double)n[i] * eps * big;
        if (st == VKS_OK && !finite)
            st = vks__error(VKS_ERROR_NON_FINITE, "%s: factors[%d] has non-finite eigenvalues (NaN/Inf in the factor?)",
                            fn, i);
        else if (st == VKS_OK && least < -tol)
            st = vks__error(VKS_ERROR_NOT_POSITIVE_DEFINITE,
                            "%s: factors[%d] (n = %lld) is not positive semi-definite: eigenvalue %.6g < -%.3g (the "
                            "rounding tolerance) with jitter %g; add jitter or check the kernel",
                            fn, i, (long long)n[i], least, tol, desc->jitter);
        else if (st == VKS_OK && least < 0) { /* rounding: store the exact zeros */
            for (int64_t j = 0; j < n[i]; ++j) {
                if (lam[j] >= 0) continue;
                if (dt == VKS_DTYPE_F64) memset(bytes + 8 * j, 0, 8);
                else memset(bytes + 4 * j, 0, 4);
            }
            st = vks__buffer_write_locked(t->buffer, t->byte_offset, bytes, (uint64_t)n[i] * es);
        }
        vks__free(bytes), vks__free(lam);
        VKS_TRY(st);
    }
    return VKS_OK;
}

static vks_status eigh_run(vks_context *ctx, const vks_kron_eigh_desc *desc, const int64_t *n, eigh_work *work,
                           const char *fn) {
    const vks_dtype dt = desc->factors[0]->dtype;
    const bool promote = dt == VKS_DTYPE_F32 && vks__has_feature(ctx, VKS_FEATURE_FLOAT64);
    const vks_dtype cdt = promote ? VKS_DTYPE_F64 : dt;
    const size_t ces = vks__dtype_bytes(cdt);
    for (int32_t i = 0; i < desc->d; ++i) {
        work[i].n = n[i];
        work[i].copy_of = -1;
        for (int32_t j = 0; j < i && work[i].copy_of < 0; ++j)
            if (same_tensor(desc->factors[i], desc->factors[j]) && same_tensor(desc->noise_scales[i], desc->noise_scales[j]))
                work[i].copy_of = j;
        if (work[i].copy_of >= 0) continue;
        VKS_TRY(temp_buffer(ctx, (uint64_t)(n[i] * n[i]) * ces, &work[i].in));
        if (promote) {
            VKS_TRY(temp_buffer(ctx, (uint64_t)n[i] * ces, &work[i].w));
            VKS_TRY(temp_buffer(ctx, (uint64_t)(n[i] * n[i]) * ces, &work[i].v));
        }
    }
    /* The matrices to decompose: symmetrized, jittered, scaled, in the compute dtype. */
    vks_status st = vks__op_begin(ctx, "kron_eigh_prep");
    for (int32_t i = 0; st == VKS_OK && i < desc->d; ++i) {
        if (work[i].copy_of >= 0) continue;
        const vks_tensor *c = desc->noise_scales[i];
        st = record_prep(ctx, cdt, 0, desc->factors[i], c ? vks__tensor_address(c) : 0, 1, desc->jitter,
                         work[i].in->address, n[i]);
    }
    vks__op_end(ctx);
    VKS_TRY(st);
    /* The eigensolver synchronizes (the tridiagonal method once, Jacobi per sweep): each factor
     * is an op of its own. Where it is Jacobi, kernel matrices on grids have clusters of
     * eigenvalues near 0 on which it converges slowly (an RBF matrix of 256 points,
     * lengthscale 0.02, needs 30-60 sweeps): allow up to 100. */
    vks_eigh_options eo = VKS_EIGH_OPTIONS_INIT;
    eo.max_sweeps = KRON_EIGH_MAX_SWEEPS;
    for (int32_t i = 0; i < desc->d; ++i) {
        if (work[i].copy_of >= 0) continue;
        const orth_mat a = square_matrix(work[i].in->address, cdt, n[i]);
        const VkDeviceAddress w = promote ? work[i].w->address : vks__tensor_address(desc->eigvals[i]);
        const orth_mat v = square_matrix(promote ? work[i].v->address : vks__tensor_address(desc->eigvecs[i]), cdt, n[i]);
        char arg[32];
        snprintf(arg, sizeof arg, "factors[%d]", i);
        VKS_TRY(vks__eigh_record(ctx, a, w, 0, 1, v, 0, &eo, fn, arg));
    }
    st = vks__op_begin(ctx, "kron_eigh_finish");
    const size_t es = vks__dtype_bytes(dt);
    for (int32_t i = 0; st == VKS_OK && i < desc->d; ++i) {
        const int32_t j = work[i].copy_of;
        if (j >= 0) { /* the results of the identical earlier factor, unless they are its very outputs */
            if (!same_tensor(desc->eigvecs[i], desc->eigvecs[j]))
                st = vks__record_copy(ctx, desc->eigvecs[j]->buffer->buffer, desc->eigvecs[j]->byte_offset,
                                      desc->eigvecs[i]->buffer->buffer, desc->eigvecs[i]->byte_offset,
                                      (uint64_t)(n[i] * n[i]) * es);
            if (st == VKS_OK && !same_tensor(desc->eigvals[i], desc->eigvals[j]))
                st = vks__record_copy(ctx, desc->eigvals[j]->buffer->buffer, desc->eigvals[j]->byte_offset,
                                      desc->eigvals[i]->buffer->buffer, desc->eigvals[i]->byte_offset, (uint64_t)n[i] * es);
        } else if (promote) {
            st = record_convert(ctx, work[i].v->address, vks__tensor_address(desc->eigvecs[i]), n[i] * n[i]);
            if (st == VKS_OK) st = record_convert(ctx, work[i].w->address, vks__tensor_address(desc->eigvals[i]), n[i]);
        }
    }
    vks__op_end(ctx);
    VKS_TRY(st);
    return eigh_check(ctx, desc, n, cdt, fn);
}

typedef struct kron_eigh_call {
    const char *fn;
    vks_kron_eigh_desc desc; /* the library's full copy of the caller's */
    int64_t n[VKS_KRON_MAX_DIMS];
} kron_eigh_call;

static vks_status kron_eigh_check(vks_context *ctx, void *call, bool *empty) {
    kron_eigh_call *c = call;
    (void)empty;
    VKS_TRY(no_external_recording(ctx, c->fn));
    return eigh_validate(ctx, &c->desc, c->fn, c->n);
}

/* Its own op regions: the eigensolver reads back per factor. */
static vks_status kron_eigh_record(vks_context *ctx, void *call) {
    const kron_eigh_call *c = call;
    eigh_work work[VKS_KRON_MAX_DIMS];
    memset(work, 0, sizeof work);
    const vks_status st = eigh_run(ctx, &c->desc, c->n, work, c->fn);
    for (int32_t i = 0; i < VKS_KRON_MAX_DIMS; ++i) {
        if (work[i].in) vks__buffer_retire_locked(work[i].in);
        if (work[i].w) vks__buffer_retire_locked(work[i].w);
        if (work[i].v) vks__buffer_retire_locked(work[i].v);
    }
    return st;
}

vks_status vks_kron_eigh(vks_context *ctx, const vks_kron_eigh_desc *desc) {
    kron_eigh_call call = {.fn = "vks_kron_eigh"};
    const vks_op op = {.fn = call.fn, .desc = desc, .desc_arg = "desc", .desc_type = VKS_STRUCT_KRON_EIGH_DESC,
                       .desc_copy = &call.desc, .validate = kron_eigh_check, .record = kron_eigh_record};
    return vks__op_run(ctx, &op, &call);
}

/* ---- vks_kron_solve ----------------------------------------------------------------------- */

typedef struct solve_args {
    vks_dtype dt;
    int32_t d;
    int64_t n[VKS_KRON_MAX_DIMS], points, k;
    kron_factor qt[VKS_KRON_MAX_DIMS], q[VKS_KRON_MAX_DIMS]; /* Q_i^T and Q_i */
    VkDeviceAddress lam[VKS_KRON_MAX_DIMS], scale[VKS_KRON_MAX_DIMS];
    bool scaled;
    kron_vec y, alpha, mean;
    bool has_y, has_alpha, has_mean;
    VkDeviceAddress logdet, mll;
} solve_args;

static vks_status solve_validate(vks_context *ctx, const vks_kron_solve_desc *desc, const char *fn, solve_args *a) {
    VKS_TRY(vks__kron_check_d(desc->d, fn));
    if (!(desc->noise >= 0) || !isfinite(desc->noise))
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: desc->noise = %g, expected a finite value >= 0", fn,
                          desc->noise);
    if (!(desc->eig_floor >= 0) || !isfinite(desc->eig_floor))
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: desc->eig_floor = %g, expected a finite value >= 0", fn,
                          desc->eig_floor);
    if (desc->flags & ~(uint32_t)VKS_KRON_SOLVE_FLOOR_AFTER_NOISE)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: desc->flags = 0x%x has unknown bits (known: 0x%x)", fn,
                          desc->flags, (unsigned)VKS_KRON_SOLVE_FLOOR_AFTER_NOISE);
    if (desc->noise + desc->eig_floor <= 0)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT,
                          "%s: desc->noise = 0 and desc->eig_floor = 0: the system may be singular; use "
                          "vks_kron_cholesky_solve for the noiseless case (or set eig_floor > 0)",
                          fn);
    if (!desc->eigvecs[0]) return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: desc->eigvecs[0] is NULL", fn);
    VKS_TRY(vks__check_tensor(ctx, desc->eigvecs[0], fn, "desc->eigvecs[0]"));
    a->dt = desc->eigvecs[0]->dtype;
    a->d = desc->d;
    VKS_TRY(vks__check_float_dtype(ctx, a->dt, fn, "desc->eigvecs[0]"));
    char arg[48];
    for (int32_t i = 0; i < desc->d; ++i) {
        snprintf(arg, sizeof arg, "desc->eigvecs[%d]", i);
        VKS_TRY(square_view(ctx, desc->eigvecs[i], a->dt, fn, arg, &a->n[i]));
        VKS_TRY(vks__kron_factor_view(ctx, desc->eigvecs[i], VKS_TRANS, a->dt, fn, arg, &a->qt[i]));
        VKS_TRY(vks__kron_factor_view(ctx, desc->eigvecs[i], VKS_NO_TRANS, a->dt, fn, arg, &a->q[i]));
        if (!desc->eigvals[i]) return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: desc->eigvals[%d] is NULL", fn, i);
        snprintf(arg, sizeof arg, "desc->eigvals[%d]", i);
        VKS_TRY(vks__kron_vector_compact(ctx, desc->eigvals[i], a->n[i], a->dt, fn, arg));
        a->lam[i] = vks__tensor_address(desc->eigvals[i]);
        a->scale[i] = 0;
        if (desc->noise_scales[i]) {
            snprintf(arg, sizeof arg, "desc->noise_scales[%d]", i);
            VKS_TRY(vks__kron_vector_compact(ctx, desc->noise_scales[i], a->n[i], a->dt, fn, arg));
            a->scale[i] = vks__tensor_address(desc->noise_scales[i]);
            a->scaled = true;
        }
    }
    VKS_TRY(grid_size(desc->d, a->n, fn, &a->points));
    a->has_y = desc->y != NULL, a->has_alpha = desc->alpha != NULL, a->has_mean = desc->mean != NULL;
    a->k = 0;
    if ((a->has_alpha || a->has_mean || desc->mll) && !a->has_y)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: desc->y is NULL but desc->%s is requested", fn,
                          a->has_alpha ? "alpha" : a->has_mean ? "mean" : "mll");
    if (a->has_y) {
        VKS_TRY(vks__kron_vec_view(ctx, desc->y, a->points, -1, a->dt, fn, "desc->y", &a->y));
        a->k = a->y.k;
        if (a->k > 65535)
            return vks__error(VKS_ERROR_OUT_OF_RANGE, "%s: desc->y has %lld right-hand sides; at most 65535", fn,
                              (long long)a->k);
    }
    if (a->has_alpha) VKS_TRY(vks__kron_vec_view(ctx, desc->alpha, a->points, a->k, a->dt, fn, "desc->alpha", &a->alpha));
    if (a->has_mean) VKS_TRY(vks__kron_vec_view(ctx, desc->mean, a->points, a->k, a->dt, fn, "desc->mean", &a->mean));
    a->logdet = a->mll = 0;
    if (desc->logdet) {
        VKS_TRY(vks__kron_vector_compact(ctx, desc->logdet, 1, a->dt, fn, "desc->logdet"));
        a->logdet = vks__tensor_address(desc->logdet);
    }
    if (desc->mll) {
        VKS_TRY(vks__kron_vector_compact(ctx, desc->mll, a->k, a->dt, fn, "desc->mll"));
        a->mll = vks__tensor_address(desc->mll);
    }
    const vks_tensor *outs[4] = {desc->alpha, desc->mean, desc->logdet, desc->mll};
    const char *onames[4] = {"desc->alpha", "desc->mean", "desc->logdet", "desc->mll"};
    const vks_tensor *ins[3 * VKS_KRON_MAX_DIMS + 1];
    const char *inames[3 * VKS_KRON_MAX_DIMS + 1];
    char names[3][VKS_KRON_MAX_DIMS][32];
    int nin = 0;
    ins[nin] = desc->y, inames[nin++] = "desc->y";
    for (int32_t i = 0; i < desc->d; ++i) {
        snprintf(names[0][i], 32, "desc->eigvecs[%d]", i), snprintf(names[1][i], 32, "desc->eigvals[%d]", i);
        snprintf(names[2][i], 32, "desc->noise_scales[%d]", i);
        ins[nin] = desc->eigvecs[i], inames[nin++] = names[0][i];
        ins[nin] = desc->eigvals[i], inames[nin++] = names[1][i];
        ins[nin] = desc->noise_scales[i], inames[nin++] = names[2][i];
    }
    return check_disjoint(outs, onames, 4, ins, inames, nin, fn);
}

static vks_status record_eigscale(vks_context *ctx, const solve_args *a, VkDeviceAddress w, VkDeviceAddress z,
                                  VkDeviceAddress zm, VkDeviceAddress partials, int64_t groups, double noise,
                                  double floor_, bool floor_after_noise) {
    eigscale_push pc = {.w = w, .z = z, .zm = zm, .partials = partials, .points = (uint32_t)a->points,
                        .k = (uint32_t)a->k, .groups = (uint32_t)groups, .floor_after_noise = floor_after_noise};
    for (int32_t i = 0; i < a->d; ++i) pc.lam[i] = a->lam[i], pc.n[i] = (uint32_t)a->n[i];
    if (a->dt == VKS_DTYPE_F64) pc.s.d.noise = noise, pc.s.d.floor_ = floor_;
    else pc.s.f.noise = (float)noise, pc.s.f.floor_ = (float)floor_;
    const vks_spec spec = {.count = 3, .values = {wg_1d(ctx), (uint32_t)a->d, REDUCE_ITEMS}};
    uint32_t gx, gy;
    vks__kron_groups_2d(ctx, groups, &gx, &gy);
    return vks__dispatch(ctx, vks__kron_variant(a->dt, VKS_SHADER_KRON_EIGSCALE_F32, VKS_SHADER_KRON_EIGSCALE_F64), &spec,
                         &pc, a->dt == VKS_DTYPE_F64 ? 112 : 104, gx, gy, (uint32_t)VKS_MAX(a->k, 1));
}

static vks_status solve_record(vks_context *ctx, const vks_kron_solve_desc *desc, const solve_args *a) {
    const size_t es = vks__dtype_bytes(a->dt);
    const int64_t nk = a->points * a->k, groups = reduce_groups(ctx, a->points);
    const int64_t pp = vks__kron_apply_scratch(a->d, a->q, VKS_MAX(a->k, 1));
    /* Scratch: [pre-scaled y][w][z][zm][ping][pong][partials]. */
    const int64_t elems = 4 * nk + 2 * pp + (a->k + 1) * groups;
    VkDeviceAddress base;
    VKS_TRY(vks__scratch(ctx, (uint64_t)elems * es, &base));
    const VkDeviceAddress ys = base, w = ys + (uint64_t)nk * es, z = w + (uint64_t)nk * es, zm = z + (uint64_t)nk * es;
    const VkDeviceAddress ping = zm + (uint64_t)nk * es, pong = ping + (uint64_t)pp * es;
    const VkDeviceAddress partials = pong + (uint64_t)pp * es;
    const kron_vec grids = {.n = a->points, .k = a->k, .row_major = false};
    if (a->has_y && a->k > 0) {
        kron_vec src = a->y;
        if (a->scaled) { /* D^-1/2 y, in the grids layout */
            kron_vec dst = grids;
            dst.addr = ys;
            VKS_TRY(record_diagscale(ctx, a->dt, a->d, a->n, a->scale, &a->y, &dst, true));
            src = dst;
        }
        kron_vec wv = grids;
        wv.addr = w;
        VKS_TRY(vks__kron_apply(ctx, a->dt, a->d, a->qt, &src, &wv, 1.0, 0.0, ping, pong));
        VKS_TRY(record_eigscale(ctx, a, w, a->has_alpha ? z : 0, a->has_mean ? zm : 0, partials, groups, desc->noise,
                                desc->eig_floor, desc->flags & VKS_KRON_SOLVE_FLOOR_AFTER_NOISE));
        for (int out = 0; out < 2; ++out) {
            if (out == 0 ? !a->has_alpha : !a->has_mean) continue;
            kron_vec in = grids;
            in.addr = out == 0 ? z : zm;
            const kron_vec *dst = out == 0 ? &a->alpha : &a->mean;
            VKS_TRY(vks__kron_apply(ctx, a->dt, a->d, a->q, &in, dst, 1.0, 0.0, ping, pong));
            /* alpha = D^-1/2 (...), mean = K alpha = D^1/2 (...) */
            if (a->scaled) VKS_TRY(record_diagscale(ctx, a->dt, a->d, a->n, a->scale, dst, dst, out == 0));
        }
    } else if (a->logdet) {
        VKS_TRY(record_eigscale(ctx, a, 0, 0, 0, partials, groups, desc->noise, desc->eig_floor,
                                desc->flags & VKS_KRON_SOLVE_FLOOR_AFTER_NOISE));
    }
    if (!a->logdet && !a->mll) return VKS_OK;
    /* log|K + s2 D| = log|D| + sum log(lambda~ + s2): the scales' part is sum_i (N/n_i) sum_j log c_ij. */
    log_vec vecs[VKS_KRON_MAX_DIMS];
    int32_t nvec = 0;
    for (int32_t i = 0; i < a->d; ++i)
        if (a->scale[i])
            vecs[nvec++] = (log_vec){a->scale[i], a->n[i], 1, (double)(a->points / a->n[i])};
    return record_finalize(ctx, a->dt, partials, groups, a->has_y ? a->k : 0, true, vecs, nvec, a->points, a->logdet,
                           a->mll);
}

typedef struct kron_solve_call {
    const char *fn;
    vks_kron_solve_desc desc; /* the library's full copy of the caller's */
    solve_args a;
} kron_solve_call;

static vks_status kron_solve_check(vks_context *ctx, void *call, bool *empty) {
    kron_solve_call *c = call;
    VKS_TRY(solve_validate(ctx, &c->desc, c->fn, &c->a));
    *empty = !(c->a.has_alpha || c->a.has_mean || c->a.mll || c->a.logdet);
    return VKS_OK;
}

static vks_status kron_solve_record(vks_context *ctx, void *call) {
    kron_solve_call *c = call;
    return solve_record(ctx, &c->desc, &c->a);
}

vks_status vks_kron_solve(vks_context *ctx, const vks_kron_solve_desc *desc) {
    kron_solve_call call = {.fn = "vks_kron_solve"};
    const vks_op op = {.fn = call.fn, .name = "kron_solve", .desc = desc, .desc_arg = "desc",
                       .desc_type = VKS_STRUCT_KRON_SOLVE_DESC, .desc_copy = &call.desc,
                       .validate = kron_solve_check, .record = kron_solve_record};
    return vks__op_run(ctx, &op, &call);
}

/* ---- vks_kron_cholesky_solve ------------------------------------------------------------------ */

typedef struct chol_work {
    vks_buffer *l, *inv; /* the Cholesky factor (in place of the prepared matrix), K^-1 if not the caller's */
    int64_t n;
    int32_t copy_of;
    double jitter;
} chol_work;

static vks_status chol_validate(vks_context *ctx, const vks_kron_cholesky_desc *desc, const char *fn, int64_t *n,
                                int64_t *points, kron_vec *y, kron_vec *alpha) {
    if (desc->jitter_retries < 0 || desc->jitter_retries > 16) /* scalars before tensors */
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: desc->jitter_retries = %d, expected 0..16", fn,
                          desc->jitter_retries);
    vks_dtype dt;
    VKS_TRY(check_factors(ctx, desc->d, desc->factors, desc->jitter, fn, n, &dt));
    char arg[48];
    for (int32_t i = 0; i < desc->d; ++i) {
        if (desc->inverses[i]) {
            snprintf(arg, sizeof arg, "desc->inverses[%d]", i);
            VKS_TRY(vks__kron_square_compact(ctx, desc->inverses[i], n[i], dt, fn, arg));
        }
    }
    VKS_TRY(grid_size(desc->d, n, fn, points));
    if ((desc->alpha || desc->mll) && !desc->y)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: desc->y is NULL but desc->%s is requested", fn,
                          desc->alpha ? "alpha" : "mll");
    y->k = 0;
    if (desc->y) {
        VKS_TRY(vks__kron_vec_view(ctx, desc->y, *points, -1, dt, fn, "desc->y", y));
        if (y->k > 65535)
            return vks__error(VKS_ERROR_OUT_OF_RANGE, "%s: desc->y has %lld right-hand sides; at most 65535", fn,
                              (long long)y->k);
    }
    if (desc->alpha) VKS_TRY(vks__kron_vec_view(ctx, desc->alpha, *points, y->k, dt, fn, "desc->alpha", alpha));
    if (desc->logdet) VKS_TRY(vks__kron_vector_compact(ctx, desc->logdet, 1, dt, fn, "desc->logdet"));
    if (desc->mll) VKS_TRY(vks__kron_vector_compact(ctx, desc->mll, y->k, dt, fn, "desc->mll"));
    const vks_tensor *outs[3 + VKS_KRON_MAX_DIMS] = {desc->alpha, desc->logdet, desc->mll};
    const char *onames[3 + VKS_KRON_MAX_DIMS] = {"desc->alpha", "desc->logdet", "desc->mll"};
    const vks_tensor *ins[1 + VKS_KRON_MAX_DIMS] = {desc->y};
    const char *inames[1 + VKS_KRON_MAX_DIMS] = {"desc->y"};
    char names[2][VKS_KRON_MAX_DIMS][32];
    for (int32_t i = 0; i < desc->d; ++i) {
        snprintf(names[0][i], 32, "desc->inverses[%d]", i), snprintf(names[1][i], 32, "desc->factors[%d]", i);
        outs[3 + i] = desc->inverses[i], onames[3 + i] = names[0][i];
        ins[1 + i] = desc->factors[i], inames[1 + i] = names[1][i];
    }
    return check_disjoint(outs, onames, 3 + desc->d, ins, inames, 1 + desc->d, fn);
}

/* Factor i: prepare (sym + jitter), Cholesky in place, retrying with more jitter. */
static vks_status chol_factor(vks_context *ctx, const vks_kron_cholesky_desc *desc, int32_t i, chol_work *w,
                              const char *fn) {
    const vks_dtype dt = desc->factors[0]->dtype;
    const orth_mat l = square_matrix(w->l->address, dt, w->n);
    double jitter = desc->jitter;
    for (int32_t attempt = 0;; ++attempt) {
        vks_status st = vks__op_begin(ctx, "kron_cholesky_prep");
        if (st == VKS_OK) st = record_prep(ctx, dt, 0, desc->factors[i], 0, 1, jitter, w->l->address, w->n);
        vks__op_end(ctx);
        VKS_TRY(st);
        st = vks__cholesky_record(ctx, l, l, 0, fn);
        if (st == VKS_OK) {
            w->jitter = jitter;
            return VKS_OK;
        }
        char inner[768];
        snprintf(inner, sizeof inner, "%s", inner_message(ctx, fn));
        if (st != VKS_ERROR_NOT_POSITIVE_DEFINITE || attempt >= desc->jitter_retries)
            return vks__error(st, "%s: factors[%d] (n = %lld) with jitter %g%s: %s", fn, i, (long long)w->n, jitter,
                              attempt ? " (after retries)" : "", inner);
        jitter = jitter > 0 ? jitter * 10 : (dt == VKS_DTYPE_F32 ? 1e-6 : 1e-8);
    }
}

static vks_status chol_run(vks_context *ctx, const vks_kron_cholesky_desc *desc, const int64_t *n, int64_t points,
                           const kron_vec *y, const kron_vec *alpha, chol_work *work, const char *fn) {
    const vks_dtype dt = desc->factors[0]->dtype;
    const size_t es = vks__dtype_bytes(dt);
    const int32_t d = desc->d;
    for (int32_t i = 0; i < d; ++i) {
        work[i].n = n[i];
        work[i].copy_of = -1;
        for (int32_t j = 0; j < i && work[i].copy_of < 0; ++j)
            if (same_tensor(desc->factors[i], desc->factors[j])) work[i].copy_of = j;
        if (work[i].copy_of >= 0) continue;
        VKS_TRY(temp_buffer(ctx, (uint64_t)(n[i] * n[i]) * es, &work[i].l));
        VKS_TRY(chol_factor(ctx, desc, i, &work[i], fn));
        /* K^-1 = L^-T (L^-1 I), into the caller's tensor or a temporary. */
        if (!desc->inverses[i]) VKS_TRY(temp_buffer(ctx, (uint64_t)(n[i] * n[i]) * es, &work[i].inv));
        const orth_mat inv = square_matrix(desc->inverses[i] ? vks__tensor_address(desc->inverses[i])
                                                           : work[i].inv->address, dt, n[i]);
        vks_status st = vks__op_begin(ctx, "kron_cholesky_identity");
        if (st == VKS_OK) st = record_prep(ctx, dt, 1, NULL, 0, 0, 0.0, inv.address, n[i]);
        vks__op_end(ctx);
        VKS_TRY(st);
        const orth_mat l = square_matrix(work[i].l->address, dt, n[i]);
        VKS_TRY(vks__trsm_record(ctx, false, l, inv, inv, fn));
        VKS_TRY(vks__trsm_record(ctx, true, l, inv, inv, fn));
    }
    if (desc->jitter_used)
        for (int32_t i = 0; i < d; ++i)
            desc->jitter_used[i] = work[work[i].copy_of >= 0 ? work[i].copy_of : i].jitter;
    /* The factors' inverses as kron factors (duplicates share the first one's). */
    kron_factor f[VKS_KRON_MAX_DIMS];
    for (int32_t i = 0; i < d; ++i) {
        const int32_t src = work[i].copy_of >= 0 ? work[i].copy_of : i;
        const VkDeviceAddress addr = desc->inverses[src] ? vks__tensor_address(desc->inverses[src]) : work[src].inv->address;
        f[i] = (kron_factor){.addr = addr, .rows = n[i], .cols = n[i], .rs = n[i], .cs = 1};
    }
    vks_status st = vks__op_begin(ctx, "kron_cholesky_solve");
    for (int32_t i = 0; st == VKS_OK && i < d; ++i) { /* a duplicate's requested inverse is a copy */
        const int32_t j = work[i].copy_of;
        if (j < 0 || !desc->inverses[i]) continue;
        const VkBuffer src = desc->inverses[j] ? desc->inverses[j]->buffer->buffer : work[j].inv->buffer;
        const uint64_t off = desc->inverses[j] ? desc->inverses[j]->byte_offset : 0;
        st = vks__record_copy(ctx, src, off, desc->inverses[i]->buffer->buffer, desc->inverses[i]->byte_offset,
                              (uint64_t)(n[i] * n[i]) * es);
    }
    const int64_t k = y->k, groups = reduce_groups(ctx, points);
    const bool solve = desc->y && k > 0 && (desc->alpha || desc->mll);
    VkDeviceAddress base = 0;
    const int64_t pp = vks__kron_apply_scratch(d, f, VKS_MAX(k, 1));
    if (st == VKS_OK) st = vks__scratch(ctx, (uint64_t)(points * k + 2 * pp + (k + 1) * groups) * es, &base);
    const VkDeviceAddress tmp = base, ping = tmp + (uint64_t)(points * k) * es, pong = ping + (uint64_t)pp * es;
    const VkDeviceAddress partials = pong + (uint64_t)pp * es;
    if (st == VKS_OK && solve) {
        kron_vec dst = {.addr = tmp, .n = points, .k = k, .row_major = false};
        if (desc->alpha) dst = *alpha;
        st = vks__kron_apply(ctx, dt, d, f, y, &dst, 1.0, 0.0, ping, pong);
        if (st == VKS_OK && desc->mll) { /* y^T alpha per right-hand side */
            dot_push pc = {.a = y->addr, .b = dst.addr, .partials = partials, .points = (uint32_t)points,
                           .k = (uint32_t)k, .groups = (uint32_t)groups};
            const vks_spec spec = {.count = 4, .values = {wg_1d(ctx), REDUCE_ITEMS, y->row_major, dst.row_major}};
            uint32_t gx, gy;
            vks__kron_groups_2d(ctx, groups, &gx, &gy);
            st = vks__dispatch(ctx, vks__kron_variant(dt, VKS_SHADER_KRON_DOT_F32, VKS_SHADER_KRON_DOT_F64), &spec, &pc,
                               sizeof pc, gx, gy, (uint32_t)k);
        }
    }
    if (st == VKS_OK && (desc->logdet || desc->mll)) {
        /* log|⊗K_i| = sum_i (N/n_i) log|K_i|, log|K_i| = 2 sum_j log L_i[j][j]. */
        log_vec vecs[VKS_KRON_MAX_DIMS];
        for (int32_t i = 0; i < d; ++i) {
            const int32_t src = work[i].copy_of >= 0 ? work[i].copy_of : i;
            vecs[i] = (log_vec){work[src].l->address, n[i], n[i] + 1, 2.0 * (double)(points / n[i])};
        }
        st = record_finalize(ctx, dt, partials, groups, desc->mll ? k : 0, false, vecs, d, points,
                             desc->logdet ? vks__tensor_address(desc->logdet) : 0,
                             desc->mll ? vks__tensor_address(desc->mll) : 0);
    }
    vks__op_end(ctx);
    return st;
}

typedef struct kron_chol_call {
    const char *fn;
    vks_kron_cholesky_desc desc; /* the library's full copy of the caller's */
    int64_t n[VKS_KRON_MAX_DIMS], points;
    kron_vec y, alpha;
} kron_chol_call;

static vks_status kron_chol_check(vks_context *ctx, void *call, bool *empty) {
    kron_chol_call *c = call;
    (void)empty;
    VKS_TRY(no_external_recording(ctx, c->fn));
    return chol_validate(ctx, &c->desc, c->fn, c->n, &c->points, &c->y, &c->alpha);
}

/* Its own op regions: each factorization reads its status back. */
static vks_status kron_chol_record(vks_context *ctx, void *call) {
    const kron_chol_call *c = call;
    chol_work work[VKS_KRON_MAX_DIMS];
    memset(work, 0, sizeof work);
    const vks_status st = chol_run(ctx, &c->desc, c->n, c->points, &c->y, &c->alpha, work, c->fn);
    for (int32_t i = 0; i < VKS_KRON_MAX_DIMS; ++i) {
        if (work[i].l) vks__buffer_retire_locked(work[i].l);
        if (work[i].inv) vks__buffer_retire_locked(work[i].inv);
    }
    return st;
}

vks_status vks_kron_cholesky_solve(vks_context *ctx, const vks_kron_cholesky_desc *desc) {
    kron_chol_call call = {.fn = "vks_kron_cholesky_solve"};
    const vks_op op = {.fn = call.fn, .desc = desc, .desc_arg = "desc", .desc_type = VKS_STRUCT_KRON_CHOLESKY_DESC,
                       .desc_copy = &call.desc, .validate = kron_chol_check, .record = kron_chol_record};
    return vks__op_run(ctx, &op, &call);
}
