/*
 * Symmetric eigendecomposition by block-parallel two-sided Jacobi, batched, f32/f64.
 *
 * The n x n matrix (scaled by a power of two, padded to N, a multiple of the pair block BS
 * = 2B) is cut into 2m slabs of B columns. A sweep has 2m - 1 rounds; in each round the
 * slabs are paired (round-robin) and every pair's 2B x 2B diagonal block is diagonalized by
 * one workgroup (orthogonal_jacobi_block.comp), giving an orthogonal Q_k per pair. The
 * rotations then update the whole matrix with GEMMs:  W <- Q^T W Q, V <- V Q  (Q block
 * diagonal: one batched GEMM per side, batched over the pairs), and a permutation moves the
 * next round's pairs next to each other (orthogonal_eigh_permute.comp). A sweep in which no
 * block needed a rotation ends the iteration. Small matrices (N <= BS) are one block: one
 * kernel solves them completely, batches of them in one dispatch.
 *
 * Why Jacobi: it is accurate (eigenvectors orthogonal to working precision, clustered or
 * tiny eigenvalues — a kernel matrix's — handled without special cases), its work is
 * GEMMs, and batches of small matrices run one workgroup each.
 */
#include <stdlib.h>
#include <math.h>
#include <string.h>

#include "orthogonal_internal.h"

typedef struct prep_push {
    uint64_t a, w, v, flags, norms, a_bs;
    uint32_t a_rs, a_cs, n, N;
} prep_push;
_Static_assert(sizeof(prep_push) == 64, "prep_push mirrors shaders/orthogonal_eigh_prep.comp");

typedef struct block_push {
    uint64_t w, q, v, norms, rot, offs, w_bs;
    uint32_t N, nn, max_sweeps, pairs;
    uint32_t round, rounds;
} block_push;
_Static_assert(sizeof(block_push) == 80, "block_push mirrors shaders/orthogonal_jacobi_block.comp");

typedef struct perm_push {
    uint64_t w_src, w_dst, v_src, v_dst, perm;
    uint32_t N, B;
} perm_push;
_Static_assert(sizeof(perm_push) == 48, "perm_push mirrors shaders/orthogonal_eigh_permute.comp");

typedef struct finish_push {
    uint64_t wm, vm, w_out, v_out, flags, rot, info, offs, norms, w_bs, v_bs;
    uint32_t n, N, w_s, v_rs, v_cs, rounds, pairs;
    float tol;
} finish_push;
_Static_assert(sizeof(finish_push) == 120, "finish_push mirrors shaders/orthogonal_eigh_finish.comp");

/* The pair block 2B: as large as S and Q (2 x 2B x (2B+1) values) fit in shared memory, of
 * 64, 48 (f64 on 48 KiB: the GEMMs' 64-wide tiles then run 3/4 full instead of 1/2, and a
 * sweep has 1.5x fewer rounds), 32; 32 on lavapipe, where the inner solve dominates. */
static uint32_t pair_block(const vks_context *ctx, vks_dtype dt) {
    const uint64_t es = vks__dtype_bytes(dt), shared = ctx->probe.info.max_shared_memory_bytes;
    if (vks__cpu_kernels(ctx)) return 32;
    static const uint32_t sizes[] = {64, 48};
    for (size_t i = 0; i < VKS_COUNT_OF(sizes); ++i)
        if (2ull * sizes[i] * (sizes[i] + 1) * es + 3072 <= shared) return sizes[i];
    return 32;
}

static int64_t padded_size(const vks_context *ctx, vks_dtype dt, int64_t n) {
    const int64_t bs = pair_block(ctx, dt);
    return n <= bs ? n + (n & 1) : VKS_CEIL_DIV(n, bs) * bs;
}

/* Converged when the off-diagonal blocks seen during a sweep have a Frobenius norm below
 * tol ||a||_F: a few ulps times sqrt(N), above the rounding noise the GEMM updates leave. */
static double conv_tol(vks_dtype dt, int64_t N) { return 4.0 * (dt == VKS_DTYPE_F64 ? 0x1p-53 : 0x1p-24) * sqrt((double)N); }

vks_dtype vks__orth_eigh_work_dtype(const vks_context *ctx, vks_dtype dt, uint32_t flags) {
    if (dt == VKS_DTYPE_F32 && !(flags & VKS_EIGH_INPUT_PRECISION) && vks__has_feature(ctx, VKS_FEATURE_FLOAT64))
        return VKS_DTYPE_F64;
    return dt;
}

uint64_t vks__orth_eigh_ws_bytes(const vks_context *ctx, vks_dtype dt, int64_t batch, int64_t n) {
    const uint64_t es = vks__dtype_bytes(dt), N = (uint64_t)padded_size(ctx, dt, n), bs = pair_block(ctx, dt);
    const bool single = N <= bs;
    const uint64_t mats = single ? 2 : 4, pairs = single ? 1 : N / bs, rounds = single ? 0 : 2 * pairs - 1;
    return mats * orth_round(batch * N * N * es) + orth_round(batch * pairs * bs * bs * es) +
           orth_round(16 * (uint64_t)batch) + orth_round(4 * (uint64_t)batch) + orth_round((uint64_t)batch * es) +
           orth_round(batch * rounds * pairs * es + 8);
}

/* perm[new slab] = old slab for the round-robin "circle" rotation of 2m slabs: slab 0 stays,
 * the others move one place around the cycle (tops right, bottoms left), pairs (2k, 2k+1). */
static void circle_permutation(uint32_t m, uint32_t *perm) {
    perm[0] = 0;
    for (uint32_t k = 1; k + 1 < m; ++k) perm[2 * (k + 1)] = 2 * k;
    perm[2] = 1;
    perm[2 * m - 1] = 2 * (m - 1);
    for (uint32_t k = 1; k < m; ++k) perm[2 * (k - 1) + 1] = 2 * k + 1;
}

/* After a sweep (or the single-block solve): reads the flags and, for the blocked sweep, the
 * off-diagonal norms it measured; marks the matrices that have not converged. */
static vks_status read_progress(vks_context *ctx, vks_dtype dt, int64_t batch, uint32_t rounds, uint32_t pairs,
                                double tol, VkDeviceAddress flags, VkDeviceAddress rot, VkDeviceAddress offs,
                                VkDeviceAddress norms, int32_t *hflags, int32_t *hrot, double *hoffs, double **hnorms,
                                bool *unconverged, bool *done) {
    const size_t es = vks__dtype_bytes(dt), count = (size_t)batch * rounds * pairs;
    VKS_TRY(vks__orth_ws_read(ctx, flags, hflags, 16 * (uint64_t)batch));
    VKS_TRY(vks__orth_ws_read(ctx, rot, hrot, 4 * (uint64_t)batch));
    *done = true;
    if (!rounds) {
        for (int64_t z = 0; z < batch; ++z) unconverged[z] = hrot[z] != 0, *done = *done && !unconverged[z];
        return VKS_OK;
    }
    if (!*hnorms) { /* ||scaled a||_F per matrix, once */
        *hnorms = vks__calloc((size_t)batch, sizeof **hnorms);
        if (!*hnorms) return vks__error(VKS_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", vks__current_fn(ctx));
        void *raw = vks__malloc((size_t)batch * es);
        if (!raw) return vks__error(VKS_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", vks__current_fn(ctx));
        vks_status st = vks__orth_ws_read(ctx, norms, raw, (uint64_t)batch * es);
        for (int64_t z = 0; z < batch; ++z)
            (*hnorms)[z] = es == 8 ? ((const double *)raw)[z] : (double)((const float *)raw)[z];
        vks__free(raw);
        VKS_TRY(st);
    }
    void *raw = vks__malloc(count * es + 8);
    if (!raw) return vks__error(VKS_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", vks__current_fn(ctx));
    vks_status st = vks__orth_ws_read(ctx, offs, raw, (uint64_t)(count * es));
    for (size_t i = 0; i < count; ++i) hoffs[i] = es == 8 ? ((const double *)raw)[i] : (double)((const float *)raw)[i];
    vks__free(raw);
    VKS_TRY(st);
    for (int64_t z = 0; z < batch; ++z) {
        double off = 0;
        for (size_t i = 0; i < (size_t)rounds * pairs; ++i) off += hoffs[(size_t)z * rounds * pairs + i];
        unconverged[z] = !(sqrt(off) <= tol * (*hnorms)[z]) && !hflags[4 * z + 1];
        *done = *done && !unconverged[z];
    }
    return VKS_OK;
}

vks_status vks__orth_eigh_record(vks_context *ctx, vks_dtype dt, orth_mat a, VkDeviceAddress w_out, int64_t w_bs, int64_t w_s,
                            orth_mat v, VkDeviceAddress info, int fixed_sweeps, int max_sweeps, bool descending,
                            orth_ws *ws, orth_eigh_report *rep) {
    const int64_t n = a.rows, batch = a.batch;
    const uint64_t es = vks__dtype_bytes(dt);
    const uint32_t bs = pair_block(ctx, dt);
    const int64_t N = padded_size(ctx, dt, n);
    const bool single = N <= bs;
    const uint32_t pairs = single ? 1 : (uint32_t)(N / bs);
    const uint64_t mat_bytes = (uint64_t)batch * N * N * es;
    VkDeviceAddress wm = vks__orth_take(ws, mat_bytes), vm = vks__orth_take(ws, mat_bytes);
    VkDeviceAddress tm = single ? 0 : vks__orth_take(ws, mat_bytes), v2 = single ? 0 : vks__orth_take(ws, mat_bytes);
    const VkDeviceAddress q = vks__orth_take(ws, (uint64_t)batch * pairs * bs * bs * es);
    const VkDeviceAddress flags = vks__orth_take(ws, 16 * (uint64_t)batch), rot = vks__orth_take(ws, 4 * (uint64_t)batch);
    const VkDeviceAddress norms = vks__orth_take(ws, (uint64_t)batch * es);
    const uint32_t rounds = single ? 0 : 2 * pairs - 1;
    const VkDeviceAddress offs = vks__orth_take(ws, (uint64_t)batch * rounds * pairs * es + 8);
    const double tol = conv_tol(dt, N);
    memset(rep, 0, sizeof *rep);
    rep->first_nonfinite = rep->first_unconverged = -1;
    const bool cpu = vks__cpu_kernels(ctx);
    const uint32_t wg = cpu ? 64 : 256;

    prep_push pp = {.a = a.address,
                    .w = wm,
                    .v = vm,
                    .flags = flags,
                    .norms = norms,
                    .a_bs = (uint64_t)a.batch_stride,
                    .a_rs = (uint32_t)a.row_stride,
                    .a_cs = (uint32_t)a.col_stride,
                    .n = (uint32_t)n,
                    .N = (uint32_t)N};
    const vks_spec pspec = {.count = 2, .values = {wg, a.dtype != dt}};
    VKS_TRY(vks__dispatch(ctx, vks__orth_pick(dt, VKS_SHADER_ORTHOGONAL_EIGH_PREP_F32, VKS_SHADER_ORTHOGONAL_EIGH_PREP_F64), &pspec,
                          &pp, sizeof pp, 1, 1, (uint32_t)batch));
    VKS_TRY(vks__orth_ws_fill(ctx, rot, 4 * (uint64_t)batch, 0));
    const bool adaptive = fixed_sweeps <= 0;
    const size_t offs_count = (size_t)batch * rounds * pairs;
    int32_t *hflags = adaptive ? vks__malloc(16 * (size_t)batch + 4 * (size_t)batch) : NULL;
    double *hoffs = adaptive ? vks__calloc(offs_count + 1, sizeof *hoffs) : NULL;
    if (adaptive && (!hflags || !hoffs)) {
        vks__free(hflags), vks__free(hoffs);
        return vks__error(VKS_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", vks__current_fn(ctx));
    }
    int32_t *hrot = hflags ? hflags + 4 * batch : NULL;
    bool *unconverged = adaptive ? vks__calloc((size_t)batch, sizeof *unconverged) : NULL;
    if (adaptive && !unconverged) { /* returned at once: a later status must not hide it */
        vks__free(hflags), vks__free(hoffs);
        return vks__error(VKS_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", vks__current_fn(ctx));
    }
    vks_status st = VKS_OK;
    double *hnorms = NULL;
    /* Reads the flags (and the sweep's off-diagonal norms); *done when every matrix converged. */
#define READ_FLAGS(done)                                                                                     \
    do {                                                                                                     \
        st = read_progress(ctx, dt, batch, rounds, pairs, tol, flags, rot, offs, norms, hflags, hrot, hoffs, \
                           &hnorms, unconverged, &done);                                                     \
        rep->synced = true;                                                                                  \
    } while (0)

    if (single) {
        block_push bp = {.w = wm,
                         .q = 0,
                         .v = vm,
                         .norms = norms,
                         .rot = rot,
                         .w_bs = (uint64_t)(N * N),
                         .N = (uint32_t)N,
                         .nn = (uint32_t)N,
                         .max_sweeps = (uint32_t)(max_sweeps > 0 ? 2 * max_sweeps : 60),
                         .pairs = 1};
        const vks_spec bspec = {.count = 3, .values = {wg, bs, 1}};
        st = vks__dispatch(ctx, vks__orth_pick(dt, VKS_SHADER_ORTHOGONAL_JACOBI_BLOCK_F32, VKS_SHADER_ORTHOGONAL_JACOBI_BLOCK_F64),
                           &bspec, &bp, sizeof bp, 1, 1, (uint32_t)batch);
        rep->sweeps = 1;
        if (st == VKS_OK && adaptive) {
            bool done;
            READ_FLAGS(done);
            (void)done;
        }
    } else {
        const uint32_t slabs = 2 * pairs, b = bs / 2;
        uint32_t perm[2 * 4096];
        if (slabs > VKS_COUNT_OF(perm)) {
            vks__free(hflags), vks__free(hoffs), vks__free(unconverged);
            return vks__error(VKS_ERROR_OUT_OF_RANGE, "%s: n = %lld needs %u slabs; at most %zu", vks__current_fn(ctx),
                              (long long)n, slabs, VKS_COUNT_OF(perm));
        }
        circle_permutation(pairs, perm);
        VkDeviceAddress perm_addr = 0;
        const vks_spec bspec = {.count = 3, .values = {wg, bs, 0}};
        const vks_spec cspec = {.count = 1, .values = {64}};
        const int sweeps = adaptive ? (max_sweeps > 0 ? max_sweeps : 30) : fixed_sweeps;
        for (int sweep = 0; sweep < sweeps && st == VKS_OK; ++sweep) {
            for (uint32_t r = 0; r + 1 < slabs && st == VKS_OK; ++r) {
                block_push bp = {.w = wm,
                                 .q = q,
                                 .v = 0,
                                 .norms = norms,
                                 .rot = rot,
                                 .offs = offs,
                                 .w_bs = (uint64_t)(N * N),
                                 .N = (uint32_t)N,
                                 .nn = bs,
                                 .max_sweeps = 1, /* one sweep per round: as many outer sweeps, cheaper */
                                 .pairs = pairs,
                                 .round = r,
                                 .rounds = rounds};
                st = vks__dispatch(ctx,
                                   vks__orth_pick(dt, VKS_SHADER_ORTHOGONAL_JACOBI_BLOCK_F32, VKS_SHADER_ORTHOGONAL_JACOBI_BLOCK_F64),
                                   &bspec, &bp, sizeof bp, pairs, 1, (uint32_t)batch);
                for (int64_t z = 0; z < batch && st == VKS_OK; ++z) {
                    const uint64_t off = (uint64_t)z * N * N * es;
                    /* Column slabs of W, T and V: pair k's columns [k*bs, (k+1)*bs). */
                    orth_mat wc = {wm + off, dt, pairs, N, bs, bs, N, 1}, tc = {tm + off, dt, pairs, N, bs, bs, N, 1};
                    orth_mat vc = {vm + off, dt, pairs, N, bs, bs, N, 1}, v2c = {v2 + off, dt, pairs, N, bs, bs, N, 1};
                    orth_mat qk = {q + (uint64_t)z * pairs * bs * bs * es, dt, pairs, bs, bs, (int64_t)bs * bs, bs, 1};
                    /* Row slabs of T and W. */
                    orth_mat tr = {tm + off, dt, pairs, bs, N, (int64_t)bs * N, N, 1};
                    orth_mat wr = {wm + off, dt, pairs, bs, N, (int64_t)bs * N, N, 1};
                    st = vks__orth_gemm(ctx, 1.0, wc, qk, 0.0, tc); /* T = W Q */
                    if (st == VKS_OK) st = vks__orth_gemm(ctx, 1.0, orth_t(qk), tr, 0.0, wr); /* W = Q^T T */
                    if (st == VKS_OK) st = vks__orth_gemm(ctx, 1.0, vc, qk, 0.0, v2c); /* V2 = V Q */
                }
                /* The same permutation every round: its table is recorded once per submit. */
                if (st == VKS_OK && !perm_addr) st = vks__params(ctx, perm, 4 * slabs, &perm_addr);
                if (st == VKS_OK) {
                    perm_push qp = {.w_src = wm, .w_dst = tm, .v_src = v2, .v_dst = vm, .perm = perm_addr,
                                    .N = (uint32_t)N, .B = b};
                    st = vks__dispatch(ctx, vks__orth_pick(dt, VKS_SHADER_ORTHOGONAL_EIGH_PERMUTE_F32, VKS_SHADER_ORTHOGONAL_EIGH_PERMUTE_F64),
                                       &cspec, &qp, sizeof qp, (uint32_t)VKS_CEIL_DIV(N, 64),
                                       (uint32_t)VKS_MIN(N, cpu ? 64 : 1024), (uint32_t)batch);
                    VkDeviceAddress t = wm;
                    wm = tm, tm = t;
                }
            }
            rep->sweeps = sweep + 1;
            if (st == VKS_OK && adaptive) {
                bool done;
                READ_FLAGS(done);
                /* A flush resets the params ring: record the table again next round. */
                perm_addr = 0;
                if (done) break;
            }
        }
    }
#undef READ_FLAGS
    if (st == VKS_OK && hflags) {
        for (int64_t z = 0; z < batch; ++z) {
            if (hflags[4 * z + 1] && rep->first_nonfinite < 0) rep->first_nonfinite = z;
            if (!hflags[4 * z + 1] && unconverged[z] && rep->first_unconverged < 0) rep->first_unconverged = z;
        }
    }
    vks__free(hflags), vks__free(hoffs), vks__free(hnorms), vks__free(unconverged);
    if (st != VKS_OK) return st;
    finish_push fp = {.wm = wm,
                      .vm = vm,
                      .w_out = w_out,
                      .v_out = v.address,
                      .flags = flags,
                      .rot = rot,
                      .info = info,
                      .w_bs = (uint64_t)w_bs,
                      .v_bs = (uint64_t)v.batch_stride,
                      .n = (uint32_t)n,
                      .N = (uint32_t)N,
                      .w_s = (uint32_t)w_s,
                      .v_rs = (uint32_t)v.row_stride,
                      .v_cs = (uint32_t)v.col_stride,
                      .offs = offs,
                      .norms = norms,
                      .rounds = rounds,
                      .pairs = pairs,
                      .tol = (float)tol};
    const vks_spec fspec = {.count = 3, .values = {64, v.dtype != dt, descending}};
    return vks__dispatch(ctx, vks__orth_pick(dt, VKS_SHADER_ORTHOGONAL_EIGH_FINISH_F32, VKS_SHADER_ORTHOGONAL_EIGH_FINISH_F64),
                         &fspec, &fp, sizeof fp, (uint32_t)VKS_CEIL_DIV(N, 64), 1, (uint32_t)batch);
}

/* ---- the method, for every family -------------------------------------------------------- */

vks_eigh_method vks__eigh_method(const vks_context *ctx, vks_eigh_method requested, vks_dtype work, int64_t batch,
                                 int64_t n, int fixed_sweeps) {
    if (requested != VKS_EIGH_AUTO) return requested;
    if (fixed_sweeps > 0 || ctx->host_cmd || !vks__lapack_available()) return VKS_EIGH_JACOBI;
    /* Measured on lavapipe (docs/orthogonal.md): the tridiagonal path wins at every size and
     * batch there, even 64 matrices of 4 x 4 (1.5 ms against Jacobi's 5 ms). On GPUs a batch of
     * matrices that fit one Jacobi workgroup each is one dispatch with no host round trip;
     * that choice is not measured (no GPU in this project's CI). */
    if (!vks__cpu_kernels(ctx) && batch > 1 && padded_size(ctx, work, n) <= pair_block(ctx, work)) return VKS_EIGH_JACOBI;
    return VKS_EIGH_TRIDIAGONAL;
}

uint64_t vks__eigh_ws_bytes(const vks_context *ctx, const vks__eigh_args *g) {
    const int64_t batch = g->a.batch, n = g->a.rows;
    if (g->method == VKS_EIGH_TRIDIAGONAL) return vks__orth_eigh_lapack_ws_bytes(g->work, batch, n, g->v.address != 0);
    const uint64_t v_bytes = g->v.address ? 0 : orth_round((uint64_t)batch * n * n * vks__dtype_bytes(g->work));
    return v_bytes + vks__orth_eigh_ws_bytes(ctx, g->work, batch, n);
}

vks_status vks__orth_eigh_run(vks_context *ctx, const vks__eigh_args *g, orth_ws *ws, orth_eigh_report *rep) {
    if (g->method == VKS_EIGH_TRIDIAGONAL)
        return vks__orth_eigh_lapack_record(ctx, g->work, g->a, g->w, g->w_bs, g->w_s, g->v, g->info, g->descending, ws,
                                            rep, g->fn);
    orth_mat v = g->v;
    if (!v.address) /* eigenvalues only: Jacobi still rotates a V, in the workspace */
        v = orth_dense(vks__orth_take(ws, (uint64_t)g->a.batch * g->a.rows * g->a.rows * vks__dtype_bytes(g->work)),
                       g->work, g->a.batch, g->a.rows, g->a.rows);
    return vks__orth_eigh_record(ctx, g->work, g->a, g->w, g->w_bs, g->w_s, v, g->info, g->fixed_sweeps, g->max_sweeps,
                                 g->descending, ws, rep);
}

vks_status vks__eigh_record(vks_context *ctx, orth_mat a, VkDeviceAddress w, int64_t w_bs, int64_t w_s, orth_mat v,
                            VkDeviceAddress info, const vks_eigh_options *o, const char *fn, const char *arg) {
    if (a.rows == 0 || a.batch == 0) return VKS_OK;
    const vks_dtype work = vks__orth_eigh_work_dtype(ctx, a.dtype, o->flags);
    if (o->method == VKS_EIGH_TRIDIAGONAL && ctx->host_cmd)
        return vks__error(VKS_ERROR_UNSUPPORTED,
                          "%s: options->method = VKS_EIGH_TRIDIAGONAL synchronizes, which external recording does not "
                          "allow; use VKS_EIGH_JACOBI with fixed_sweeps",
                          fn);
    if (o->method == VKS_EIGH_TRIDIAGONAL && !vks__lapack_available())
        return vks__error(VKS_ERROR_UNSUPPORTED,
                          "%s: options->method = VKS_EIGH_TRIDIAGONAL needs LAPACK (%s: Debian package liblapack3 or "
                          "libopenblas0), which could not be loaded; VKS_EIGH_JACOBI needs none",
                          fn, vks__lapack_library_name());
    const vks__eigh_args args = {.work = work,
                                 .method = vks__eigh_method(ctx, o->method, work, a.batch, a.rows, o->fixed_sweeps),
                                 .a = a,
                                 .v = v,
                                 .w = w,
                                 .w_bs = w_bs,
                                 .w_s = w_s,
                                 .info = info,
                                 .fixed_sweeps = o->fixed_sweeps,
                                 .max_sweeps = o->max_sweeps,
                                 .descending = false,
                                 .fn = fn};
    vks_status st = vks__op_begin(ctx, "eigh"); /* its workspace is given back at the end */
    orth_ws ws;
    if (st == VKS_OK) st = vks__orth_ws_begin(ctx, vks__eigh_ws_bytes(ctx, &args), &ws);
    orth_eigh_report rep;
    if (st == VKS_OK) st = vks__orth_eigh_run(ctx, &args, &ws, &rep);
    if (st == VKS_OK) st = vks__orth_ws_check(&ws, fn);
    if (st == VKS_OK && !info && rep.first_nonfinite >= 0)
        st = vks__error(VKS_ERROR_NON_FINITE,
                        "%s: %s (matrix %lld of the batch) holds NaN or Inf in its lower triangle; its w was set to 0 "
                        "and v to I",
                        fn, arg, (long long)rep.first_nonfinite);
    else if (st == VKS_OK && !info && rep.first_unconverged >= 0)
        st = args.method == VKS_EIGH_JACOBI
                 ? vks__error(VKS_ERROR_NOT_CONVERGED, "%s: %s (matrix %lld of the batch) did not converge in %d sweeps", fn,
                              arg, (long long)rep.first_unconverged, rep.sweeps)
                 : vks__error(VKS_ERROR_NOT_CONVERGED,
                              "%s: %s (matrix %lld of the batch): LAPACK's tridiagonal eigensolver did not converge", fn,
                              arg, (long long)rep.first_unconverged);
    vks__op_end(ctx);
    return st;
}

typedef struct eigh_call {
    const char *fn;
    const vks_tensor *a, *w, *v;
    vks_eigh_options o; /* the library's full copy of the caller's, or the defaults */
    orth_mat ma, mv;
    int64_t w_bs, w_s;
} eigh_call;

static vks_status eigh_check(vks_context *ctx, void *call, bool *empty) {
    eigh_call *c = call;
    const char *fn = c->fn;
    const vks_tensor *a = c->a, *w = c->w, *v = c->v;
    const vks_eigh_options o = c->o;
    if (o.flags & ~(uint32_t)VKS_EIGH_INPUT_PRECISION)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: options->flags = 0x%x has unknown bits", fn, o.flags);
    if ((unsigned)o.method > VKS_EIGH_TRIDIAGONAL)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT,
                          "%s: options->method = %d, expected VKS_EIGH_AUTO, VKS_EIGH_JACOBI or VKS_EIGH_TRIDIAGONAL", fn,
                          (int)o.method);
    if (o.fixed_sweeps < 0 || o.max_sweeps < 0 || o.fixed_sweeps > 1000 || o.max_sweeps > 1000)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: options->fixed_sweeps = %d, max_sweeps = %d; expected 0..1000",
                          fn, o.fixed_sweeps, o.max_sweeps);
    orth_mat ma, mv = {0};
    VKS_TRY(vks__orth_view(ctx, a, fn, "a", &ma));
    if (v) VKS_TRY(vks__orth_out_view(ctx, v, fn, "v", &mv));
    else mv = (orth_mat){0, ma.dtype, ma.batch, ma.rows, ma.cols, 0, 0, 0}; /* eigenvalues only */
    VKS_TRY(vks__check_tensor(ctx, w, fn, "w"));
    if (ma.dtype != mv.dtype || w->dtype != ma.dtype)
        return vks__error(VKS_ERROR_DTYPE_MISMATCH, "%s: a, w, v have dtypes %s, %s, %s; expected all the same", fn,
                          vks__dtype_name(ma.dtype), vks__dtype_name(w->dtype), vks__dtype_name(mv.dtype));
    VKS_TRY(vks__check_float_dtype(ctx, ma.dtype, fn, "a"));
    if (ma.rows != ma.cols)
        return vks__error(VKS_ERROR_SHAPE_MISMATCH, "%s: a is %lld x %lld; expected a square matrix", fn,
                          (long long)ma.rows, (long long)ma.cols);
    if (v && (v->ndim != a->ndim || mv.rows != ma.rows || mv.cols != ma.cols || mv.batch != ma.batch))
        return vks__error(VKS_ERROR_SHAPE_MISMATCH,
                          "%s: v has shape (%lld, %lld) x batch %lld; expected a's (%lld, %lld) x %lld", fn,
                          (long long)mv.rows, (long long)mv.cols, (long long)mv.batch, (long long)ma.rows,
                          (long long)ma.cols, (long long)ma.batch);
    const bool batched = a->ndim == 3;
    if (w->ndim != a->ndim - 1 || w->shape[w->ndim - 1] != ma.rows || (batched && w->shape[0] != ma.batch))
        return vks__error(VKS_ERROR_SHAPE_MISMATCH, "%s: w has rank %d and %lld eigenvalues per matrix; expected %s(%lld)",
                          fn, w->ndim, (long long)w->shape[w->ndim - 1], batched ? "(batch, n) = " : "(n) = ",
                          (long long)ma.rows);
    const int64_t w_s = w->strides[w->ndim - 1], w_bs = batched ? w->strides[0] : 0;
    VKS_TRY(vks__check_output_vector(batched ? w->shape[0] : 1, ma.rows, w_bs, w_s, fn, "w"));
    if (o.info) VKS_TRY(vks__orth_check_info(ctx, o.info, ma.batch, fn, "options->info"));
    const vks_arg outs[] = {{v, "v", NULL}, {w, "w", NULL}, {o.info, "options->info", NULL}};
    const vks_arg ins[] = {{a, "a", NULL}};
    VKS_TRY(vks__check_no_alias(outs, 3, ins, 1, fn));
    c->ma = ma, c->mv = mv, c->w_bs = w_bs, c->w_s = w_s;
    *empty = ma.rows == 0 || ma.batch == 0;
    return VKS_OK;
}

static vks_status eigh_run(vks_context *ctx, void *call) {
    const eigh_call *c = call;
    return vks__eigh_record(ctx, c->ma, vks__tensor_address(c->w), c->w_bs, c->w_s, c->mv,
                            c->o.info ? vks__tensor_address(c->o.info) : 0, &c->o, c->fn, "a");
}

static vks_status eigh(vks_context *ctx, const char *fn, const vks_tensor *a, const vks_tensor *w, const vks_tensor *v,
                       const vks_eigh_options *options) {
    eigh_call call = {.fn = fn, .a = a, .w = w, .v = v};
    const vks_op op = {.fn = fn, .name = "eigh", .desc = options, .desc_arg = "options",
                       .desc_type = VKS_STRUCT_EIGH_OPTIONS, .desc_copy = &call.o, .desc_optional = true,
                       .validate = eigh_check, .record = eigh_run};
    return vks__op_run(ctx, &op, &call);
}

vks_status vks_eigh_ex(vks_context *ctx, const vks_tensor *a, const vks_tensor *w, const vks_tensor *v,
                       const vks_eigh_options *options) {
    return eigh(ctx, "vks_eigh_ex", a, w, v, options);
}

vks_status vks_eigh(vks_context *ctx, const vks_tensor *a, const vks_tensor *w, const vks_tensor *v) {
    return eigh(ctx, "vks_eigh", a, w, v, NULL);
}
