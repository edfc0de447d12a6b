/*
 * vks_kron_pde_solve's setup (see kron_pde.c): argument validation, the check of the data
 * for NaN/Inf, and the float64 host work on the n_i x n_i matrices of each dimension —
 * Cholesky of K_i + jitter I, K_i^-1, D_i = K_i'' K_i^-1, the identity, the interior mask,
 * the orthonormal DST-I matrix — and the preconditioner's reciprocals.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "kron_pde_internal.h"
#include "kron_pde_learn_internal.h"

/* ---- host setup (float64, n_i x n_i) -------------------------------------------------------- */

/* c (n x n) = a b, row-major, a cache-friendly i-k-j loop. */
static void host_matmul(const double *a, const double *b, int64_t n, double *c) {
    memset(c, 0, sizeof(double) * (size_t)(n * n));
    for (int64_t i = 0; i < n; ++i)
        for (int64_t k = 0; k < n; ++k) {
            const double aik = a[i * n + k];
            if (aik == 0) continue;
            for (int64_t j = 0; j < n; ++j) c[i * n + j] += aik * b[k * n + j];
        }
}

/* ---- validation ------------------------------------------------------------------------------ */

vks_status vks__pde_validate(vks_context *ctx, const vks_kron_pde_desc *desc, const char *fn, int64_t *points) {
    VKS_TRY(vks__kron_check_d(desc->d, fn));
    int64_t total = 1;
    bool any = false;
    for (int32_t i = 0; i < desc->d; ++i) {
        if (desc->n[i] < 3 || desc->n[i] > 8192)
            return vks__error(VKS_ERROR_INVALID_ARGUMENT,
                              "%s: desc->n[%d] = %lld, expected 3..8192 grid points (both boundary points and at least "
                              "one interior point)",
                              fn, i, (long long)desc->n[i]);
        if (!isfinite(desc->lo[i]) || !isfinite(desc->hi[i]) || !(desc->lo[i] < desc->hi[i]) ||
            !isfinite(desc->hi[i] - desc->lo[i]))
            return vks__error(VKS_ERROR_INVALID_ARGUMENT,
                              "%s: desc->lo[%d] = %g, desc->hi[%d] = %g; expected finite lo < hi (and a finite hi - lo)",
                              fn, i, desc->lo[i], i, desc->hi[i]);
        char name[32];
        snprintf(name, sizeof name, "desc->kernels[%d]", i);
        VKS_TRY(vks__kron_kernel_check(desc->kernels[i], fn, name));
        if (!isfinite(desc->coef_xx[i]))
            return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: desc->coef_xx[%d] = %g, expected a finite value", fn, i,
                              desc->coef_xx[i]);
        any = any || desc->coef_xx[i] != 0;
        if (__builtin_mul_overflow(total, desc->n[i], &total) || total > INT32_MAX)
            return vks__error(VKS_ERROR_OUT_OF_RANGE, "%s: a grid of more than 2^31 - 1 points", fn);
    }
    if (!any)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: desc->coef_xx[0..%d] are all 0; expected a second-order operator",
                          fn, desc->d - 1);
    if (!isfinite(desc->coef_u))
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: desc->coef_u = %g, expected a finite value", fn, desc->coef_u);
    if (!(desc->jitter >= 0) || !isfinite(desc->jitter))
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: desc->jitter = %g, expected a finite value >= 0", fn, desc->jitter);
    if (desc->max_iterations < 1 || desc->max_iterations > 100000)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: desc->max_iterations = %d, expected 1..100000", fn,
                          desc->max_iterations);
    if (!(desc->tolerance > 0 && desc->tolerance < 1))
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: desc->tolerance = %g, expected 0 < tolerance < 1", fn,
                          desc->tolerance);
    const double wts[2] = {desc->weight_boundary, desc->weight_residual};
    const char *wnames[2] = {"desc->weight_boundary", "desc->weight_residual"};
    for (int j = 0; j < 2; ++j)
        if (!(wts[j] >= 0) || !isfinite(wts[j]))
            return vks__error(VKS_ERROR_INVALID_ARGUMENT,
                              "%s: %s = %g, expected 0 (collocation) or a finite weight > 0", fn, wnames[j], wts[j]);
    if ((wts[0] == 0) != (wts[1] == 0))
        return vks__error(VKS_ERROR_INVALID_ARGUMENT,
                          "%s: desc->weight_boundary = %g and desc->weight_residual = %g; expected both 0 (collocation: "
                          "boundary values and PDE residuals imposed exactly) or both > 0 (GP-HM's finite-weight objective)",
                          fn, wts[0], wts[1]);
    if (!desc->f) return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: desc->f is NULL", fn);
    VKS_TRY(vks__check_tensor(ctx, desc->f, fn, "desc->f"));
    const vks_dtype dt = desc->f->dtype;
    VKS_TRY(vks__check_float_dtype(ctx, dt, fn, "desc->f"));
    if (dt != VKS_DTYPE_F32 && dt != VKS_DTYPE_F64)
        return vks__error(VKS_ERROR_UNSUPPORTED, "%s: desc->f has dtype %d; expected f32 or f64", fn, (int)dt);
    if (!vks__has_feature(ctx, VKS_FEATURE_FLOAT64))
        return vks__error(VKS_ERROR_UNSUPPORTED, "%s: the device has no shaderFloat64, which the float64 setup needs", fn);
    const vks_tensor *vecs[4] = {desc->f, desc->boundary, desc->u, desc->alpha};
    const char *names[4] = {"desc->f", "desc->boundary", "desc->u", "desc->alpha"};
    for (int j = 0; j < 4; ++j) {
        if (!vecs[j]) {
            if (j == 3) continue;
            return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: %s is NULL", fn, names[j]);
        }
        VKS_TRY(vks__kron_vector_compact(ctx, vecs[j], total, dt, fn, names[j]));
    }
    for (int j = 2; j < 4; ++j)
        for (int k = 0; k < j; ++k)
            if (vecs[j] && vks__tensors_overlap(vecs[j], vecs[k]))
                return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: %s overlaps %s in memory", fn, names[j], names[k]);
    if (ctx->host_cmd)
        return vks__error(VKS_ERROR_UNSUPPORTED,
                          "%s: reads results back every iteration (synchronizes), which is not possible during external "
                          "recording; call it before vks_begin_external_recording",
                          fn);
    *points = total;
    return VKS_OK;
}

/* Reads a compact (N) tensor to float64 on the host. */
static vks_status read_vector(const vks_tensor *t, int64_t n, double *out) {
    const size_t es = vks__dtype_bytes(t->dtype);
    VKS_TRY(vks__buffer_read_locked(t->buffer, t->byte_offset, out, (uint64_t)n * es));
    if (t->dtype == VKS_DTYPE_F32) /* widen in place, from the back */
        for (int64_t j = n - 1; j >= 0; --j) {
            float v;
            memcpy(&v, (const uint8_t *)out + 4 * j, 4);
            out[j] = v;
        }
    return VKS_OK;
}

/* NaN/Inf anywhere in f or the boundary values is refused up front: the entries the
 * equations do not use still pass through the selection GEMMs (0 * NaN = NaN). */
vks_status vks__pde_check_data(pde_solver *s, const vks_kron_pde_desc *desc, const char *fn) {
    double *h = vks__malloc(sizeof(double) * (size_t)s->points);
    if (!h) return vks__error(VKS_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", fn);
    vks_status st = VKS_OK;
    for (int which = 0; which < 2 && st == VKS_OK; ++which) {
        st = read_vector(which ? desc->boundary : desc->f, s->points, h);
        for (int64_t e = 0; st == VKS_OK && e < s->points; ++e) {
            if (isfinite(h[e])) continue;
            bool on_boundary = false;
            int64_t rest = e;
            for (int32_t t = s->d - 1; t >= 0; --t) {
                const int64_t i = rest % s->dim[t].n;
                rest /= s->dim[t].n;
                on_boundary = on_boundary || i == 0 || i == s->dim[t].n - 1;
            }
            st = vks__error(VKS_ERROR_NON_FINITE,
                            "%s: %s[%lld] = %g at a%s grid point; expected finite values everywhere (entries the "
                            "equations do not use included)",
                            fn, which ? "desc->boundary" : "desc->f", (long long)e, h[e],
                            on_boundary ? " boundary" : "n interior");
        }
    }
    vks__free(h);
    return st;
}

/* ---- setup ------------------------------------------------------------------------------------- */

vks_status vks__pde_setup_buffers(pde_solver *s) {
    uint64_t at = 0;
    const size_t es = s->es;
    int64_t elems = 0;
    for (int32_t i = 0; i < s->d; ++i)
        elems += (s->weighted ? 7 : 4) * s->dim[i].n * s->dim[i].n + s->dim[i].m * s->dim[i].m;
    elems += s->vlen * 12 + s->points * 4;
    VKS_TRY(vks__buffer_create_locked(s->ctx, (uint64_t)elems * es, true, &s->buf));
    const VkDeviceAddress b = s->buf->address;
#define TAKE(count) (b + (at += (uint64_t)(count) * es) - (uint64_t)(count) * es)
    for (int32_t i = 0; i < s->d; ++i) {
        pde_dim *q = &s->dim[i];
        q->d = TAKE(q->n * q->n), q->kinv = TAKE(q->n * q->n), q->eye = TAKE(q->n * q->n);
        q->mask = TAKE(q->n * q->n), q->s = TAKE(q->m * q->m);
        if (s->weighted) q->whiten = TAKE(q->n * q->n), q->whiten_d = TAKE(q->n * q->n), q->unwhiten = TAKE(q->n * q->n);
    }
    s->recip = TAKE(s->vlen);
    for (int j = 0; j < 11; ++j) s->v[j] = TAKE(s->vlen);
    s->full0 = TAKE(s->points), s->full1 = TAKE(s->points), s->full2 = TAKE(s->points), s->full3 = TAKE(s->points);
#undef TAKE
    /* Every dot product dispatches this many groups, enough for the whole grid. */
    s->groups = VKS_MAX(1, VKS_CEIL_DIV(s->points, (int64_t)vks__pde_wg_1d(s->ctx) * DOT_ITEMS));
    return vks__buffer_create_locked(s->ctx, (uint64_t)(MAX_DOTS * s->groups) * es, true, &s->partials);
}

vks_status vks__pde_upload(pde_solver *s, VkDeviceAddress addr, const double *v, int64_t count) {
    const uint64_t off = addr - s->buf->address;
    if (s->dt == VKS_DTYPE_F64) return vks__buffer_write_locked(s->buf, off, v, (uint64_t)count * 8);
    float *f = vks__malloc(sizeof(float) * (size_t)count);
    if (!f) return vks__error(VKS_ERROR_OUT_OF_HOST_MEMORY, "vks_kron_pde_solve: out of host memory");
    for (int64_t j = 0; j < count; ++j) f[j] = (float)v[j];
    const vks_status st = vks__buffer_write_locked(s->buf, off, f, (uint64_t)count * 4);
    vks__free(f);
    return st;
}

/* K_i and K_i'' on the grid (device, float64), then on the host: Cholesky of K_i + jitter I,
 * K_i^-1, D_i = K_i'' K_i^-1, the identity, the interior mask and the DST-I matrix. */
vks_status vks__pde_setup_dim(pde_solver *s, const vks_kron_pde_desc *desc, int32_t i, const char *fn) {
    pde_dim *q = &s->dim[i];
    const int64_t n = q->n, m = q->m;
    vks_buffer *kb = NULL;
    double *k = vks__malloc(sizeof(double) * (size_t)(n * n)), *k2 = vks__malloc(sizeof(double) * (size_t)(n * n));
    double *inv = vks__malloc(sizeof(double) * (size_t)(n * n)), *x = vks__malloc(sizeof(double) * (size_t)(n * n));
    double *keig = s->weighted ? vks__malloc(sizeof(double) * (size_t)(n * n)) : NULL;
    vks_status st = k && k2 && inv && x && (keig || !s->weighted) ? VKS_OK : vks__error(VKS_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", fn);
    for (int64_t j = 0; st == VKS_OK && j < n; ++j) x[j] = desc->lo[i] + (double)j * q->h;
    if (st == VKS_OK) st = vks__buffer_create_locked(s->ctx, (uint64_t)(n + 2 * n * n) * 8, true, &kb);
    if (st == VKS_OK) st = vks__buffer_write_locked(kb, 0, x, (uint64_t)n * 8);
    if (st == VKS_OK) {
        const kron_points p = {kb->address, n, 1};
        const kron_factor f0 = {kb->address + (uint64_t)n * 8, n, n, n, 1};
        const kron_factor f2 = {kb->address + (uint64_t)(n + n * n) * 8, n, n, n, 1};
        st = vks__op_begin(s->ctx, "kron_pde_kernels");
        if (st == VKS_OK) st = vks__kron_kernel_record(s->ctx, desc->kernels[i], VKS_DTYPE_F64, &p, &p, &f0, 0, 0, fn);
        if (st == VKS_OK) st = vks__kron_kernel_record(s->ctx, desc->kernels[i], VKS_DTYPE_F64, &p, &p, &f2, 2, 0, fn);
        vks__op_end(s->ctx);
    }
    if (st == VKS_OK) st = vks__buffer_read_locked(kb, (uint64_t)n * 8, k, (uint64_t)(n * n) * 8);
    if (st == VKS_OK) st = vks__buffer_read_locked(kb, (uint64_t)(n + n * n) * 8, k2, (uint64_t)(n * n) * 8);
    if (kb) vks__buffer_retire_locked(kb);
    if (st == VKS_OK) {
        for (int64_t r = 0; r < n; ++r) /* symmetrize (rounding), jitter */
            for (int64_t c = 0; c <= r; ++c) k[r * n + c] = k[c * n + r] = 0.5 * (k[r * n + c] + k[c * n + r]);
        for (int64_t j = 0; j < n; ++j) k[j * n + j] += desc->jitter;
        if (keig) memcpy(keig, k, sizeof(double) * (size_t)(n * n));
        double pivot = 0;
        const int64_t bad = vks__host_cholesky(k, n, &pivot);
        if (bad >= 0)
            st = vks__error(VKS_ERROR_NOT_POSITIVE_DEFINITE,
                            "%s: desc->kernels[%d] on %lld grid points plus jitter %g is not positive definite (Cholesky "
                            "pivot %lld is %.6g); check the kernel's weights or raise desc->jitter",
                            fn, i, (long long)n, desc->jitter, (long long)bad, pivot);
    }
    if (st == VKS_OK) {
        vks__host_cholesky_inverse(k, n, inv, x);
        host_matmul(k2, inv, n, k); /* D_i, into k */
        st = vks__pde_upload(s, q->d, k, n * n);
    }
    if (st == VKS_OK) st = vks__pde_upload(s, q->kinv, inv, n * n);
    if (st == VKS_OK && keig) st = vks__pde_setup_whiten(s, i, keig, k2, fn);
    if (st == VKS_OK) {
        memset(k, 0, sizeof(double) * (size_t)(n * n));
        for (int64_t j = 0; j < n; ++j) k[j * n + j] = 1.0;
        st = vks__pde_upload(s, q->eye, k, n * n);
        k[0] = k[n * n - 1] = 0.0;
        if (st == VKS_OK) st = vks__pde_upload(s, q->mask, k, n * n);
    }
    if (st == VKS_OK) {
        const double scale = sqrt(2.0 / (double)(m + 1));
        for (int64_t r = 0; r < m; ++r)
            for (int64_t c = 0; c < m; ++c)
                k[r * m + c] = scale * sin(PDE_PI * (double)((r + 1) * (c + 1) % (2 * (m + 1))) / (double)(m + 1));
        st = vks__pde_upload(s, q->s, k, m * m);
    }
    vks__free(k), vks__free(k2), vks__free(inv), vks__free(x), vks__free(keig);
    return st;
}

/* 1 / (sum_i a_i mu_i[e_i] + c) on the interior grid, mu_i the finite-difference second
 * derivative's eigenvalues -(4/h^2) sin^2(k pi / (2(m+1))); near-zero values (a resonant
 * Helmholtz operator) are kept away from 0: this is only the preconditioner. */
vks_status vks__pde_setup_recip(pde_solver *s) {
    double *mu[VKS_KRON_MAX_DIMS] = {NULL};
    double *r = vks__malloc(sizeof(double) * (size_t)s->interior);
    bool ok = r != NULL;
    for (int32_t i = 0; i < s->d; ++i) {
        const int64_t m = s->dim[i].m;
        mu[i] = vks__malloc(sizeof(double) * (size_t)m);
        ok = ok && mu[i];
        for (int64_t k = 0; mu[i] && k < m; ++k) {
            const double sn = sin((double)(k + 1) * PDE_PI / (2.0 * (double)(m + 1)));
            mu[i][k] = s->coef_xx[i] * (-4.0 / (s->dim[i].h * s->dim[i].h)) * sn * sn;
        }
    }
    vks_status st = ok ? VKS_OK : vks__error(VKS_ERROR_OUT_OF_HOST_MEMORY, "vks_kron_pde_solve: out of host memory");
    double big = 0;
    for (int64_t e = 0; ok && e < s->interior; ++e) {
        double v = s->coef_u;
        int64_t rest = e;
        for (int32_t t = s->d - 1; t >= 0; --t) {
            v += mu[t][rest % s->dim[t].m];
            rest /= s->dim[t].m;
        }
        r[e] = v;
        big = fmax(big, fabs(v));
    }
    for (int64_t e = 0; ok && e < s->interior; ++e) {
        const double floor_ = 1e-8 * big;
        const double v = fabs(r[e]) < floor_ ? (r[e] < 0 ? -floor_ : floor_) : r[e];
        r[e] = 1.0 / v;
    }
    if (st == VKS_OK) st = vks__pde_upload(s, s->recip, r, s->interior);
    for (int32_t i = 0; i < s->d; ++i) vks__free(mu[i]);
    vks__free(r);
    return st;
}
