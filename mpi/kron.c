/* Distributed Kronecker products and Saatci's noisy solve over slabs of the grid's first
 * mode: modes 1..d-1 on the slab with vks_kron_matmul (no communication), one all-to-all to
 * slabs of mode 1 (kron_exchange.c), mode 0 there (a GEMM, or vks_kron_solve with identity
 * factors for the other modes so its fused scaling and log-determinant serve), one
 * all-to-all back. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kron_internal.h"

/* Working state of one call. */
typedef struct kron_call {
    const char *fn;
    int rank, size;
    int32_t d;
    vks_dtype dt;
    size_t es;
    int64_t n[VKS_KRON_MAX_DIMS];
    int64_t rest;      /* R = n_1 ... n_{d-1} */
    kron_layout lay;
    bool lay_made;
    vks_buffer *ta, *tb, *tb2, *tb3, *eye, *scalars;
    unsigned char *ha, *hb, *hb2;
    vks_mpi_stats *stats;
} kron_call;

static void call_free(kron_call *c) {
    if (c->lay_made) vks__mpi_kron_layout_free(&c->lay);
    vks_buffer *bufs[6] = {c->ta, c->tb, c->tb2, c->tb3, c->eye, c->scalars};
    for (int i = 0; i < 6; ++i) vks_buffer_destroy(bufs[i]);
    free(c->ha), free(c->hb), free(c->hb2);
}

/* A square (n, n) matrix of the call's dtype, any strides vkstruct takes. */
static vks_status check_square(const kron_call *c, const vks_tensor *t, const char *arg, int32_t i, int64_t *n) {
    if (!t) return vks__mpi_error(VKS_ERROR_INVALID_ARGUMENT, "%s: %s[%d] is NULL", c->fn, arg, (int)i);
    if (t->ndim != 2 || t->shape[0] != t->shape[1] || t->shape[0] < 1)
        return vks__mpi_error(VKS_ERROR_SHAPE_MISMATCH, "%s: %s[%d] has rank %d and shape (%lld, %lld), expected a square matrix",
                              c->fn, arg, (int)i, (int)t->ndim, (long long)t->shape[0],
                              (long long)(t->ndim > 1 ? t->shape[1] : 0));
    if (t->dtype != c->dt)
        return vks__mpi_error(VKS_ERROR_DTYPE_MISMATCH, "%s: %s[%d].dtype is %d, expected %d (that of %s[0])", c->fn, arg,
                              (int)i, (int)t->dtype, (int)c->dt, arg);
    *n = t->shape[0];
    return VKS_OK;
}

/* A compact vector of `len` elements of the call's dtype. */
static vks_status check_vector(const kron_call *c, const vks_tensor *t, int64_t len, const char *arg) {
    if (!t) return vks__mpi_error(VKS_ERROR_INVALID_ARGUMENT, "%s: %s is NULL", c->fn, arg);
    if (t->dtype != c->dt)
        return vks__mpi_error(VKS_ERROR_DTYPE_MISMATCH, "%s: %s.dtype is %d, expected %d", c->fn, arg, (int)t->dtype,
                              (int)c->dt);
    if (vks__mpi_numel(t) != len || !vks__mpi_compact(t) || !t->buffer)
        return vks__mpi_error(VKS_ERROR_SHAPE_MISMATCH,
                              "%s: %s has %lld elements (rank %d), expected this rank's slab: a compact vector of %lld",
                              c->fn, arg, (long long)vks__mpi_numel(t), (int)t->ndim, (long long)len);
    return vks__mpi_check_in_buffer(t, c->fn, arg);
}

/* Common checks: d, dtype, grid sizes against the rank count, the slab plan, staging. */
static vks_status setup(kron_call *c, vks_context *ctx, int32_t d, const vks_tensor *const *mats, const char *arg,
                        uint64_t *hash) {
    if (!ctx) return vks__mpi_error(VKS_ERROR_INVALID_ARGUMENT, "%s: ctx is NULL", c->fn);
    if (d < 2 || d > VKS_KRON_MAX_DIMS)
        return vks__mpi_error(VKS_ERROR_INVALID_ARGUMENT, "%s: d is %d, expected 2..%d (the grid is split along mode 0)",
                              c->fn, (int)d, VKS_KRON_MAX_DIMS);
    if (!mats || !mats[0]) return vks__mpi_error(VKS_ERROR_INVALID_ARGUMENT, "%s: %s[0] is NULL", c->fn, arg);
    c->d = d, c->dt = mats[0]->dtype;
    if (c->dt != VKS_DTYPE_F32 && c->dt != VKS_DTYPE_F64)
        return vks__mpi_error(VKS_ERROR_UNSUPPORTED, "%s: %s[0].dtype is %d, expected f32 or f64", c->fn, arg, (int)c->dt);
    c->es = vks__mpi_dtype_bytes(c->dt);
    c->rest = 1;
    for (int32_t i = 0; i < d; ++i) {
        vks_status st = check_square(c, mats[i], arg, i, &c->n[i]);
        if (st != VKS_OK) return st;
        if (i) c->rest *= c->n[i];
    }
    for (int32_t i = 0; i < 2; ++i)
        if (c->n[i] < c->size)
            return vks__mpi_error(VKS_ERROR_OUT_OF_RANGE, "%s: n_%d is %lld, expected at least the %d ranks (mode %d is split)",
                                  c->fn, (int)i, (long long)c->n[i], c->size, (int)i);
    int64_t key[6] = {d, c->dt, c->n[0], c->n[1], d > 2 ? c->n[2] : 0, d > 3 ? c->n[3] : 0};
    *hash = vks__mpi_hash(*hash, key, sizeof key);
    vks_status st = vks__mpi_kron_layout(&c->lay, c->rank, c->size, c->n[0], c->n[1], c->rest / c->n[1], c->es, c->fn);
    c->lay_made = true;
    if (st != VKS_OK) return st;
    c->ha = malloc(c->lay.a_bytes), c->hb = malloc(c->lay.b_bytes);
    if (!c->ha || !c->hb)
        return vks__mpi_error(VKS_ERROR_OUT_OF_HOST_MEMORY, "%s: no host memory for %llu staging bytes", c->fn,
                              (unsigned long long)(c->lay.a_bytes + c->lay.b_bytes));
    const vks_status sa = vks_buffer_create(ctx, c->lay.a_bytes, &c->ta);
    const vks_status sb = sa == VKS_OK ? vks_buffer_create(ctx, c->lay.b_bytes, &c->tb) : sa;
    if (sb != VKS_OK) return vks__mpi_core_error(sb, c->fn, "the slab buffers");
    return VKS_OK;
}

/* x as the (R, c0) grid vectors vks_kron_matmul takes: c0 grids of R points one after another. */
static vks_tensor slab_grids(vks_buffer *b, uint64_t offset, vks_dtype dt, int64_t rest, int64_t c0) {
    vks_tensor t = vks_tensor_1d(b, dt, rest * c0);
    t.byte_offset = offset;
    if (c0 > 1) t.ndim = 2, t.shape[0] = rest, t.shape[1] = c0, t.strides[0] = 1, t.strides[1] = rest;
    return t;
}

/* dst_slab = (I ⊗ op(F_1) ⊗ ... ⊗ op(F_{d-1})) src_slab on this rank's slab of mode 0. */
static vks_status local_modes(kron_call *c, vks_context *ctx, const vks_tensor *const *f, vks_transpose trans,
                              const vks_tensor *src, const vks_tensor *dst) {
    const int64_t c0 = c->lay.c0[c->rank];
    vks_tensor x = slab_grids(src->buffer, src->byte_offset, c->dt, c->rest, c0);
    vks_tensor y = slab_grids(dst->buffer, dst->byte_offset, c->dt, c->rest, c0);
    vks_status st = vks_kron_matmul(ctx, c->d - 1, f + 1, trans, 1.0, &x, 0.0, &y);
    if (c->stats)
        for (int32_t i = 1; i < c->d; ++i) c->stats->flops += 2.0 * (double)(c0 * c->rest) * (double)c->n[i];
    return st == VKS_OK ? VKS_OK : vks__mpi_core_error(st, c->fn, "vks_kron_matmul on the slab");
}

static vks_status read_all(vks_buffer *b, void *host, uint64_t bytes, const char *fn) {
    vks_status st = vks_buffer_read(b, 0, host, bytes);
    return st == VKS_OK ? VKS_OK : vks__mpi_core_error(st, fn, "reading a slab");
}

static vks_status write_all(vks_buffer *b, uint64_t offset, const void *host, uint64_t bytes, const char *fn) {
    vks_status st = vks_buffer_write(b, offset, host, bytes);
    return st == VKS_OK ? VKS_OK : vks__mpi_core_error(st, fn, "writing a slab");
}

static vks_status begin(kron_call *c, MPI_Comm comm, const char *fn, const vks_mpi_options *mpi) {
    memset(c, 0, sizeof *c);
    c->fn = fn;
    vks_status st = vks__mpi_comm_info(comm, fn, &c->rank, &c->size);
    if (st == VKS_OK) st = vks__mpi_check_options(mpi, fn);
    c->stats = mpi ? mpi->stats : NULL;
    return st;
}

vks_status vks_mpi_kron_matmul(vks_context *ctx, MPI_Comm comm, int32_t d, const vks_tensor *const *factors,
                               vks_transpose trans, const vks_tensor *x_local, const vks_tensor *y_local,
                               const vks_mpi_options *mpi) {
    kron_call c;
    vks_status st = begin(&c, comm, "vks_mpi_kron_matmul", mpi);
    if (st != VKS_OK && c.size == 0) return st; /* no communicator to agree over */
    const double t0 = vks__mpi_now();
    uint64_t hash = 0xCBF29CE484222325ull;
    hash = vks__mpi_hash(hash, &trans, sizeof trans);
    if (st == VKS_OK && trans != VKS_NO_TRANS && trans != VKS_TRANS)
        st = vks__mpi_error(VKS_ERROR_INVALID_ARGUMENT, "%s: trans is %d, expected VKS_NO_TRANS or VKS_TRANS", c.fn,
                            (int)trans);
    if (st == VKS_OK) st = setup(&c, ctx, d, factors, "factors", &hash);
    const int64_t local = st == VKS_OK ? c.lay.c0[c.rank] * c.rest : 0;
    if (st == VKS_OK) st = check_vector(&c, x_local, local, "x_local");
    if (st == VKS_OK) st = check_vector(&c, y_local, local, "y_local");
    if (st == VKS_OK && x_local->buffer == y_local->buffer &&
        x_local->byte_offset < y_local->byte_offset + (uint64_t)local * c.es &&
        y_local->byte_offset < x_local->byte_offset + (uint64_t)local * c.es)
        st = vks__mpi_error(VKS_ERROR_INVALID_ARGUMENT, "%s: y_local overlaps x_local", c.fn);
    if (st == VKS_OK && (st = vks_buffer_create(ctx, c.lay.b_bytes, &c.tb2)) != VKS_OK)
        st = vks__mpi_core_error(st, c.fn, "the slab buffers");
    vks_tensor ta = {0};
    if (st == VKS_OK) {
        ta = vks_tensor_1d(c.ta, c.dt, local);
        st = local_modes(&c, ctx, factors, trans, x_local, &ta);
    }
    if (st == VKS_OK) st = read_all(c.ta, c.ha, c.lay.a_bytes, c.fn);
    if (c.stats) c.stats->compute_seconds += vks__mpi_now() - t0;
    st = vks__mpi_agree(comm, st, c.fn, &hash);
    if (st != VKS_OK) goto done;

    st = vks__mpi_kron_a_to_b(comm, &c.lay, c.ha, c.hb, c.stats, c.fn);
    if (st != VKS_OK) goto done;
    /* Mode 0 on slabs of mode 1: Y (n0, K) = op(A_0) X (n0, K), K = c1 r2. */
    double t1 = vks__mpi_now();
    const int64_t kb = c.lay.c1[c.rank] * c.lay.r2;
    vks_tensor xb = vks_tensor_2d(c.tb, c.dt, c.n[0], kb), yb = vks_tensor_2d(c.tb2, c.dt, c.n[0], kb);
    vks_status lst = write_all(c.tb, 0, c.hb, c.lay.b_bytes, c.fn);
    if (lst == VKS_OK) {
        lst = vks_gemm(ctx, trans, VKS_NO_TRANS, 1.0, factors[0], &xb, 0.0, &yb);
        if (lst != VKS_OK) lst = vks__mpi_core_error(lst, c.fn, "vks_gemm along mode 0");
        if (c.stats) c.stats->flops += 2.0 * (double)c.n[0] * (double)(c.n[0] * kb);
    }
    if (lst == VKS_OK) lst = read_all(c.tb2, c.hb, c.lay.b_bytes, c.fn);
    if (c.stats) c.stats->compute_seconds += vks__mpi_now() - t1;
    st = vks__mpi_agree(comm, lst, c.fn, NULL);
    if (st != VKS_OK) goto done;
    st = vks__mpi_kron_b_to_a(comm, &c.lay, c.hb, c.ha, c.stats, c.fn);
    if (st == VKS_OK) st = write_all(y_local->buffer, y_local->byte_offset, c.ha, c.lay.a_bytes, c.fn);
    if (c.stats) c.stats->items = (uint32_t)c.lay.c0[c.rank];
    st = vks__mpi_agree(comm, st, c.fn, NULL);
done:
    call_free(&c);
    return st;
}

/* The identities of modes 1..d-1 of the local solve, one after another in c->eye:
 * (c1 x c1), (n_2 x n_2), ...; their tensors in eye[1..d-1]. */
static vks_status make_identities(kron_call *c, vks_context *ctx, vks_tensor *eye) {
    int64_t sizes[VKS_KRON_MAX_DIMS] = {0}, total = 0;
    for (int32_t i = 1; i < c->d; ++i) {
        sizes[i] = i == 1 ? c->lay.c1[c->rank] : c->n[i];
        total += sizes[i] * sizes[i];
    }
    unsigned char *h = calloc((size_t)total, c->es);
    if (!h) return vks__mpi_error(VKS_ERROR_OUT_OF_HOST_MEMORY, "%s: no host memory for identity factors", c->fn);
    int64_t at = 0;
    for (int32_t i = 1; i < c->d; ++i) {
        for (int64_t j = 0; j < sizes[i]; ++j) {
            unsigned char *e = h + (size_t)(at + j * sizes[i] + j) * c->es;
            if (c->dt == VKS_DTYPE_F64) *(double *)(void *)e = 1.0;
            else *(float *)(void *)e = 1.0f;
        }
        eye[i] = vks_tensor_2d(NULL, c->dt, sizes[i], sizes[i]);
        eye[i].byte_offset = (uint64_t)at * c->es;
        at += sizes[i] * sizes[i];
    }
    vks_status st = vks_buffer_create(ctx, (uint64_t)total * c->es, &c->eye);
    if (st == VKS_OK) st = vks_buffer_write(c->eye, 0, h, (uint64_t)total * c->es);
    free(h);
    for (int32_t i = 1; i < c->d; ++i) eye[i].buffer = c->eye;
    return st == VKS_OK ? VKS_OK : vks__mpi_core_error(st, c->fn, "the identity factors");
}

static vks_status check_solve_desc(kron_call *c, vks_context *ctx, const vks_mpi_kron_solve_desc *desc, uint64_t *hash) {
    if (!desc) return vks__mpi_error(VKS_ERROR_INVALID_ARGUMENT, "%s: desc is NULL", c->fn);
    if (desc->struct_size < sizeof *desc)
        return vks__mpi_error(VKS_ERROR_INVALID_ARGUMENT, "%s: desc->struct_size is %zu, expected %zu", c->fn,
                              desc->struct_size, sizeof *desc);
    vks_status st = setup(c, ctx, desc->d, desc->eigvecs, "eigvecs", hash);
    if (st != VKS_OK) return st;
    for (int32_t i = 0; i < c->d; ++i) {
        char arg[24];
        snprintf(arg, sizeof arg, "eigvals[%d]", (int)i);
        st = check_vector(c, desc->eigvals[i], c->n[i], arg);
        if (st != VKS_OK) return st;
    }
    if (!(desc->noise >= 0) || !(desc->eig_floor >= 0) || !(desc->noise + desc->eig_floor > 0))
        return vks__mpi_error(VKS_ERROR_INVALID_ARGUMENT,
                              "%s: noise is %g and eig_floor %g, expected both >= 0 with a positive sum", c->fn,
                              desc->noise, desc->eig_floor);
    if (!desc->alpha && !desc->mean && !desc->logdet && !desc->mll)
        return vks__mpi_error(VKS_ERROR_INVALID_ARGUMENT, "%s: alpha, mean, logdet and mll are all NULL", c->fn);
    const int64_t local = c->lay.c0[c->rank] * c->rest;
    st = check_vector(c, desc->y, local, "y");
    if (st == VKS_OK && desc->alpha) st = check_vector(c, desc->alpha, local, "alpha");
    if (st == VKS_OK && desc->mean) st = check_vector(c, desc->mean, local, "mean");
    double key[2] = {desc->noise, desc->eig_floor};
    *hash = vks__mpi_hash(*hash, key, sizeof key);
    int outs[4] = {desc->alpha != NULL, desc->mean != NULL, desc->logdet != NULL, desc->mll != NULL};
    *hash = vks__mpi_hash(*hash, outs, sizeof outs);
    return st;
}

/* On slabs of mode 1: vks_kron_solve with the factors (Q_0, I, ..., I) and the eigenvalues
 * (lambda_0, lambda_1[this slab], lambda_2, ...); the partial log-det and mll go to c->scalars. */
static vks_status solve_on_b(kron_call *c, vks_context *ctx, const vks_mpi_kron_solve_desc *desc) {
    vks_tensor eye[VKS_KRON_MAX_DIMS];
    vks_status st = make_identities(c, ctx, eye);
    if (st != VKS_OK) return st;
    if ((st = vks_buffer_create(ctx, c->lay.b_bytes, &c->tb2)) != VKS_OK ||
        (desc->mean && (st = vks_buffer_create(ctx, c->lay.b_bytes, &c->tb3)) != VKS_OK) ||
        (st = vks_buffer_create(ctx, 2 * c->es, &c->scalars)) != VKS_OK)
        return vks__mpi_core_error(st, c->fn, "the slab buffers");
    const int64_t c1 = c->lay.c1[c->rank], nb = c->n[0] * c1 * c->lay.r2;
    vks_tensor lam1 = *desc->eigvals[1];
    lam1.ndim = 1, lam1.shape[0] = c1, lam1.strides[0] = 1;
    lam1.byte_offset += (uint64_t)c->lay.f1[c->rank] * c->es;
    vks_tensor y = vks_tensor_1d(c->tb, c->dt, nb), alpha = vks_tensor_1d(c->tb2, c->dt, nb);
    vks_tensor mean = vks_tensor_1d(c->tb3, c->dt, nb);
    vks_tensor logdet = vks_tensor_1d(c->scalars, c->dt, 1), mll = logdet;
    mll.byte_offset = c->es;
    vks_kron_solve_desc sd = VKS_KRON_SOLVE_DESC_INIT;
    sd.d = c->d;
    for (int32_t i = 0; i < c->d; ++i) {
        sd.eigvecs[i] = i == 0 ? desc->eigvecs[0] : &eye[i];
        sd.eigvals[i] = i == 1 ? &lam1 : desc->eigvals[i];
    }
    sd.noise = desc->noise, sd.eig_floor = desc->eig_floor;
    sd.y = &y, sd.alpha = &alpha, sd.mean = desc->mean ? &mean : NULL, sd.logdet = &logdet, sd.mll = &mll;
    st = vks_kron_solve(ctx, &sd);
    if (c->stats) {
        double sum = 0;
        for (int32_t i = 0; i < c->d; ++i) sum += (double)(i == 1 ? c1 : c->n[i]);
        c->stats->flops += (desc->mean ? 3.0 : 2.0) * 2.0 * (double)nb * sum;
    }
    return st == VKS_OK ? VKS_OK : vks__mpi_core_error(st, c->fn, "vks_kron_solve on the slab of mode 1");
}

/* The partial log-det and mll of this rank, in f64. */
static vks_status read_scalars(kron_call *c, double *out) {
    unsigned char h[16];
    vks_status st = vks_buffer_read(c->scalars, 0, h, 2 * c->es);
    if (st != VKS_OK) return vks__mpi_core_error(st, c->fn, "reading the log-determinant");
    for (int i = 0; i < 2; ++i)
        out[i] = c->dt == VKS_DTYPE_F64 ? ((double *)(void *)h)[i] : (double)((float *)(void *)h)[i];
    return VKS_OK;
}

vks_status vks_mpi_kron_solve(vks_context *ctx, MPI_Comm comm, const vks_mpi_kron_solve_desc *desc,
                              const vks_mpi_options *mpi) {
    kron_call c;
    vks_status st = begin(&c, comm, "vks_mpi_kron_solve", mpi);
    if (st != VKS_OK && c.size == 0) return st;
    const double t0 = vks__mpi_now();
    uint64_t hash = 0xCBF29CE484222325ull;
    if (st == VKS_OK) st = check_solve_desc(&c, ctx, desc, &hash);
    const int64_t local = st == VKS_OK ? c.lay.c0[c.rank] * c.rest : 0;
    vks_tensor ta = vks_tensor_1d(c.ta, c.dt, local);
    if (st == VKS_OK) st = local_modes(&c, ctx, desc->eigvecs, VKS_TRANS, desc->y, &ta);
    if (st == VKS_OK) st = read_all(c.ta, c.ha, c.lay.a_bytes, c.fn);
    if (c.stats) c.stats->compute_seconds += vks__mpi_now() - t0;
    st = vks__mpi_agree(comm, st, c.fn, &hash);
    if (st != VKS_OK) goto done;

    st = vks__mpi_kron_a_to_b(comm, &c.lay, c.ha, c.hb, c.stats, c.fn);
    if (st != VKS_OK) goto done;
    double t1 = vks__mpi_now(), partial[2] = {0, 0}, total[2] = {0, 0};
    vks_status lst = write_all(c.tb, 0, c.hb, c.lay.b_bytes, c.fn);
    if (lst == VKS_OK) lst = solve_on_b(&c, ctx, desc);
    if (lst == VKS_OK) lst = read_all(c.tb2, c.hb, c.lay.b_bytes, c.fn);
    if (lst == VKS_OK && desc->mean) {
        c.hb2 = malloc(c.lay.b_bytes);
        lst = c.hb2 ? read_all(c.tb3, c.hb2, c.lay.b_bytes, c.fn)
                    : vks__mpi_error(VKS_ERROR_OUT_OF_HOST_MEMORY, "%s: no host memory for the mean", c.fn);
    }
    if (lst == VKS_OK) lst = read_scalars(&c, partial);
    if (c.stats) c.stats->compute_seconds += vks__mpi_now() - t1;
    st = vks__mpi_agree(comm, lst, c.fn, NULL);
    if (st != VKS_OK) goto done;
    /* log|K + s^2 I| and the mll are sums over the grid points: the slabs' partial sums add up. */
    st = vks__mpi_check(MPI_Allreduce(partial, total, 2, MPI_DOUBLE, MPI_SUM, comm), c.fn, "MPI_Allreduce (log-det)");
    if (st != VKS_OK) goto done;
    if (desc->logdet) *desc->logdet = total[0];
    if (desc->mll) *desc->mll = total[1];
    /* Back to slabs of mode 0 and the modes 1..d-1 again, for alpha and then the mean. */
    const vks_tensor *outs[2] = {desc->alpha, desc->mean};
    unsigned char *from[2] = {c.hb, c.hb2};
    lst = VKS_OK;
    for (int k = 0; k < 2 && st == VKS_OK; ++k) {
        if (!outs[k]) continue;
        st = vks__mpi_kron_b_to_a(comm, &c.lay, from[k], c.ha, c.stats, c.fn);
        if (st != VKS_OK || lst != VKS_OK) continue; /* a failed rank still takes part in the exchanges */
        t1 = vks__mpi_now();
        lst = write_all(c.ta, 0, c.ha, c.lay.a_bytes, c.fn);
        if (lst == VKS_OK) lst = local_modes(&c, ctx, desc->eigvecs, VKS_NO_TRANS, &ta, outs[k]);
        /* ta is rewritten for the mean: vks_buffer_write is ordered after the product recorded
         * here, so no synchronization is needed. */
        if (c.stats) c.stats->compute_seconds += vks__mpi_now() - t1;
    }
    if (c.stats) c.stats->items = (uint32_t)c.lay.c0[c.rank];
    st = vks__mpi_agree(comm, st == VKS_OK ? lst : st, c.fn, NULL);
done:
    call_free(&c);
    return st;
}
