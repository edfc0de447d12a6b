/* vkstruct_mpi under mpirun (ctest runs it with -np 2 and -np 3, so partitions and slabs are
 * uneven): every rank has its own context (all on lavapipe here) and checks its own results.
 *  - Newton-Schulz, replicated and sharded: bit-identical (memcmp) to vks_newton_schulz on
 *    each matrix on one device, which tests/test_orthogonal_ns.c checks against float64
 *    oracles; exchanges in several rounds; statistics add up across ranks.
 *  - Kronecker products and solves (d = 3 and 4, f64 and f32): each rank's slab against a
 *    float64 oracle built from the dense Kronecker matrix and against the one-device
 *    vks_kron_matmul / vks_kron_solve on the whole grid (to round-off); log-det and mll too.
 *  - A rank with bad input, a NaN on one rank, ranks that disagree on the list: every rank
 *    returns the same error with the failing rank's message, and nothing hangs (ctest's
 *    timeout bounds the run). */
#include <math.h>
#include <string.h>

#include "reference.h"
#include "reference_kron.h"
#include "reference_orthogonal.h"
#include "vks_test.h"
#include "vkstruct/mpi.h"

static int g_rank, g_size;

/* ---- helpers ---------------------------------------------------------------------------- */

static vks_buffer *upload(vks_dtype dt, const double *x, size_t n) { return vkt_upload(dt, x, n); }

static void expect_everywhere(vks_status got, vks_status want, const char *needle, const char *what) {
    /* Every rank checks its own status and message; the test fails on any rank that differs. */
    if (got != want)
        fail_msg("rank %d: %s returned %s, expected %s (message: %s)", g_rank, what, vks_status_string(got),
                 vks_status_string(want), vks_mpi_last_error());
    if (needle && !strstr(vks_mpi_last_error(), needle))
        fail_msg("rank %d: %s: message \"%s\" lacks \"%s\"", g_rank, what, vks_mpi_last_error(), needle);
}

#define MPI_OK(call)                                                                                          \
    do {                                                                                                      \
        vks_status s_ = (call);                                                                               \
        if (s_ != VKS_OK) fail_msg("rank %d: %s\n  -> %s\n  -> %s", g_rank, #call, vks_status_string(s_),     \
                                   vks_mpi_last_error());                                                     \
    } while (0)

/* ---- Newton-Schulz ---------------------------------------------------------------------------- */

/* A model's matrices: ragged, tall, wide, a batch, a 1-row one, and one large enough that the
 * all-gather needs several 64 KiB rounds. */
enum { NS_COUNT = 8 };
static const int64_t ns_shapes[NS_COUNT][3] = {
    {1, 48, 24}, {1, 17, 40}, {1, 40, 17}, {1, 8, 8}, {1, 3, 50}, {3, 16, 12}, {1, 1, 33}, {1, 96, 200}};

typedef struct ns_list {
    vks_dtype dt;
    vks_buffer *in[NS_COUNT], *out[NS_COUNT];
    vks_tensor g[NS_COUNT], o[NS_COUNT];
    double *host[NS_COUNT];
    size_t numel[NS_COUNT];
} ns_list;

static vks_tensor shaped(vks_buffer *b, vks_dtype dt, const int64_t *s) {
    return s[0] > 1 ? vks_tensor_3d(b, dt, s[0], s[1], s[2]) : vks_tensor_2d(b, dt, s[1], s[2]);
}

static void ns_make(ns_list *l, vks_dtype dt, uint64_t seed) {
    vkt_rng rng = vkt_rng_seed(seed); /* the same on every rank: the list is replicated */
    l->dt = dt;
    for (int i = 0; i < NS_COUNT; ++i) {
        l->numel[i] = (size_t)(ns_shapes[i][0] * ns_shapes[i][1] * ns_shapes[i][2]);
        l->host[i] = vkt_random(&rng, l->numel[i], -1, 1);
        l->in[i] = upload(dt, l->host[i], l->numel[i]);
        l->out[i] = vkt_poisoned(dt, l->numel[i]);
        l->g[i] = shaped(l->in[i], dt, ns_shapes[i]);
        l->o[i] = shaped(l->out[i], dt, ns_shapes[i]);
    }
}

static void ns_free(ns_list *l) {
    for (int i = 0; i < NS_COUNT; ++i) vks_buffer_destroy(l->in[i]), vks_buffer_destroy(l->out[i]), free(l->host[i]);
}

/* The one-device result of matrix i: vks_newton_schulz on it alone. */
static void *ns_single(const ns_list *l, int i) {
    const size_t bytes = l->numel[i] * vkt_dtype_bytes(l->dt);
    vks_buffer *b = vkt_poisoned(l->dt, l->numel[i]);
    vks_tensor t = shaped(b, l->dt, ns_shapes[i]);
    VKT_OK(vks_newton_schulz(vkt->ctx, &l->g[i], &t, NULL));
    void *h = malloc(bytes);
    VKT_OK(vks_buffer_read(b, 0, h, bytes));
    vks_buffer_destroy(b);
    return h;
}

static void ns_replicated_bit_identical(vks_dtype dt) {
    ns_list l;
    ns_make(&l, dt, 77);
    vks_mpi_stats stats = {sizeof stats};
    vks_mpi_options mo = VKS_MPI_OPTIONS_INIT;
    mo.round_bytes = 1; /* the 64 KiB floor per rank: the 96 x 200 result takes several rounds */
    mo.stats = &stats;
    MPI_OK(vks_mpi_newton_schulz(vkt->ctx, MPI_COMM_WORLD, NS_COUNT, l.g, l.o, NULL, &mo));
    uint64_t total = 0;
    for (int i = 0; i < NS_COUNT; ++i) {
        const size_t bytes = l.numel[i] * vkt_dtype_bytes(dt);
        total += bytes;
        void *want = ns_single(&l, i), *got = malloc(bytes);
        VKT_OK(vks_buffer_read(l.out[i], 0, got, bytes));
        if (memcmp(got, want, bytes) != 0)
            fail_msg("rank %d of %d: matrix %d differs from vks_newton_schulz on one device", g_rank, g_size, i);
        free(want), free(got);
    }
    /* Every matrix computed exactly once; each rank received all bytes but its own. */
    uint64_t mine[2] = {stats.items, 0}, sum[2];
    double cost[NS_COUNT];
    int32_t owner[NS_COUNT];
    for (int i = 0; i < NS_COUNT; ++i) cost[i] = vks_mpi_ns_step_flops(ns_shapes[i][1], ns_shapes[i][2]) * (double)ns_shapes[i][0];
    MPI_OK(vks_mpi_partition(NS_COUNT, cost, g_size, owner, NULL));
    for (int i = 0; i < NS_COUNT; ++i)
        if (owner[i] == g_rank) mine[1] += l.numel[i] * vkt_dtype_bytes(dt);
    assert_int_equal(stats.bytes_received, total - mine[1]);
    MPI_Allreduce(mine, sum, 2, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
    assert_int_equal(sum[0], NS_COUNT);
    assert_int_equal(sum[1], total);
    if (g_size > 1) assert_true(stats.exchanges >= 2); /* 96 x 200 x 4 bytes > 64 KiB */
    ns_free(&l);
}

static void ns_replicated_f32(void **state) {
    (void)state;
    ns_replicated_bit_identical(VKS_DTYPE_F32);
}

static void ns_replicated_f64(void **state) {
    (void)state;
    if (!(vkt->info.features & VKS_FEATURE_FLOAT64)) skip();
    ns_replicated_bit_identical(VKS_DTYPE_F64);
}

static void ns_sharded_bit_identical(void **state) {
    (void)state;
    const vks_dtype dt = VKS_DTYPE_F32;
    ns_list l;
    ns_make(&l, dt, 78);
    /* Rank-2 matrices only (the sharded form takes row slabs of matrices). */
    enum { C = NS_COUNT - 1 };
    const int idx[C] = {0, 1, 2, 3, 4, 6, 7};
    int64_t rows[C], cols[C];
    vks_tensor gs[C], os[C];
    vks_buffer *gb[C], *ob[C];
    for (int k = 0; k < C; ++k) {
        const int i = idx[k];
        rows[k] = ns_shapes[i][1], cols[k] = ns_shapes[i][2];
        int64_t first, cnt;
        MPI_OK(vks_mpi_slab(rows[k], g_size, g_rank, &first, &cnt));
        gb[k] = cnt ? upload(dt, l.host[i] + first * cols[k], (size_t)(cnt * cols[k])) : NULL;
        ob[k] = cnt ? vkt_poisoned(dt, (size_t)(cnt * cols[k])) : NULL;
        gs[k] = vks_tensor_2d(gb[k], dt, cnt, cols[k]);
        os[k] = vks_tensor_2d(ob[k], dt, cnt, cols[k]);
    }
    vks_mpi_stats stats = {sizeof stats};
    vks_mpi_options mo = VKS_MPI_OPTIONS_INIT;
    mo.stats = &stats;
    MPI_OK(vks_mpi_newton_schulz_sharded(vkt->ctx, MPI_COMM_WORLD, C, rows, cols, gs, os, NULL, &mo));
    for (int k = 0; k < C; ++k) {
        int64_t first, cnt;
        vks_mpi_slab(rows[k], g_size, g_rank, &first, &cnt);
        if (!cnt) continue;
        float *want = ns_single(&l, idx[k]), *got = malloc((size_t)(cnt * cols[k]) * 4);
        VKT_OK(vks_buffer_read(ob[k], 0, got, (size_t)(cnt * cols[k]) * 4));
        if (memcmp(got, want + first * cols[k], (size_t)(cnt * cols[k]) * 4) != 0)
            fail_msg("rank %d of %d: slab of matrix %d differs from vks_newton_schulz on one device", g_rank, g_size,
                     idx[k]);
        free(want), free(got);
        vks_buffer_destroy(gb[k]), vks_buffer_destroy(ob[k]);
    }
    if (g_size > 1) assert_int_equal(stats.exchanges, 2);
    uint64_t items = stats.items, sum = 0;
    MPI_Allreduce(&items, &sum, 1, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
    assert_int_equal(sum, C);
    ns_free(&l);
}

/* Bad input on the last rank only: every rank returns the error, with that rank's message. */
static void ns_bad_input_on_one_rank(void **state) {
    (void)state;
    ns_list l;
    ns_make(&l, VKS_DTYPE_F32, 79);
    const int bad = g_size - 1;
    if (g_rank == bad) l.o[2].shape[0] = 39; /* out[2] is 39 x 17, g[2] 40 x 17 */
    vks_status st = vks_mpi_newton_schulz(vkt->ctx, MPI_COMM_WORLD, NS_COUNT, l.g, l.o, NULL, NULL);
    char needle[64];
    snprintf(needle, sizeof needle, g_rank == bad ? "vks_mpi_newton_schulz: rank %d: out[2]" : "rank %d failed", bad);
    expect_everywhere(st, VKS_ERROR_SHAPE_MISMATCH, needle, "bad out[2] on one rank");
    assert_non_null(strstr(vks_mpi_last_error(), "out[2] differs from g[2]"));
    /* A NaN in a matrix the last rank owns: found by its owner, reported by all. */
    if (g_rank == bad) l.o[2].shape[0] = 40;
    double cost[NS_COUNT];
    int32_t owner[NS_COUNT];
    for (int i = 0; i < NS_COUNT; ++i) cost[i] = vks_mpi_ns_step_flops(ns_shapes[i][1], ns_shapes[i][2]) * (double)ns_shapes[i][0];
    MPI_OK(vks_mpi_partition(NS_COUNT, cost, g_size, owner, NULL));
    int victim = 0;
    while (victim < NS_COUNT - 1 && owner[victim] != bad) victim++;
    const float nan = NAN;
    VKT_OK(vks_buffer_write(l.in[victim], 4 * 5, &nan, 4));
    st = vks_mpi_newton_schulz(vkt->ctx, MPI_COMM_WORLD, NS_COUNT, l.g, l.o, NULL, NULL);
    snprintf(needle, sizeof needle, "g[%d] holds NaN or Inf", victim);
    expect_everywhere(st, VKS_ERROR_NON_FINITE, needle, "NaN on one rank");
    /* Ranks that disagree on the list (each valid alone). */
    if (g_rank == bad) l.g[0] = vks_tensor_2d(l.in[0], VKS_DTYPE_F32, 48, 12), l.o[0] = vks_tensor_2d(l.out[0], VKS_DTYPE_F32, 48, 12);
    st = vks_mpi_newton_schulz(vkt->ctx, MPI_COMM_WORLD, NS_COUNT, l.g, l.o, NULL, NULL);
    expect_everywhere(st, g_size > 1 ? VKS_ERROR_SHAPE_MISMATCH : VKS_OK, g_size > 1 ? "disagree" : NULL,
                      "different lists");
    /* The sharded form with a wrong slab on one rank. */
    int64_t rows[1] = {40}, cols[1] = {17}, first, cnt;
    vks_mpi_slab(40, g_size, g_rank, &first, &cnt);
    vks_tensor gs = vks_tensor_2d(l.in[2], VKS_DTYPE_F32, g_rank == bad ? cnt + 1 : cnt, 17);
    st = vks_mpi_newton_schulz_sharded(vkt->ctx, MPI_COMM_WORLD, 1, rows, cols, &gs, &gs, NULL, NULL);
    expect_everywhere(st, VKS_ERROR_SHAPE_MISMATCH, "expected this rank's slab", "sharded: a wrong slab");
    ns_free(&l);
}

/* ---- Kronecker ---------------------------------------------------------------------------- */

typedef struct grid {
    vks_dtype dt;
    int32_t d;
    int64_t n[4], points, rest, first, count; /* this rank's slab of mode 0 */
    double *q[4], *lam[4], *y;                /* factors Q_i (orthogonal), lambda_i > 0, y on the grid */
    vks_buffer *bq[4], *bl[4];
    vks_tensor tq[4], tl[4];
} grid;

static void grid_make(grid *g, vks_dtype dt, int32_t d, const int64_t *n, uint64_t seed) {
    vkt_rng rng = vkt_rng_seed(seed);
    memset(g, 0, sizeof *g);
    g->dt = dt, g->d = d, g->points = 1;
    for (int32_t i = 0; i < d; ++i) {
        g->n[i] = n[i], g->points *= n[i];
        g->q[i] = calloc((size_t)(n[i] * n[i]), sizeof(double));
        ref_random_orthonormal(&rng, n[i], n[i], g->q[i]);
        g->lam[i] = vkt_random(&rng, (size_t)n[i], 0.05, 2.0);
        vkt_round_to(dt, g->q[i], (size_t)(n[i] * n[i]));
        vkt_round_to(dt, g->lam[i], (size_t)n[i]);
        g->bq[i] = upload(dt, g->q[i], (size_t)(n[i] * n[i]));
        g->bl[i] = upload(dt, g->lam[i], (size_t)n[i]);
        g->tq[i] = vks_tensor_2d(g->bq[i], dt, n[i], n[i]);
        g->tl[i] = vks_tensor_1d(g->bl[i], dt, n[i]);
    }
    g->rest = g->points / n[0];
    g->y = vkt_random(&rng, (size_t)g->points, -1, 1);
    vkt_round_to(dt, g->y, (size_t)g->points);
    vks_mpi_slab(n[0], g_size, g_rank, &g->first, &g->count);
}

static void grid_free(grid *g) {
    for (int32_t i = 0; i < g->d; ++i) free(g->q[i]), free(g->lam[i]), vks_buffer_destroy(g->bq[i]), vks_buffer_destroy(g->bl[i]);
    free(g->y);
}

/* The dense K_i = Q_i diag(lambda_i) Q_i^T (f64). */
static double *dense_factor(const grid *g, int32_t i) {
    const int64_t n = g->n[i];
    double *k = calloc((size_t)(n * n), sizeof *k);
    for (int64_t a = 0; a < n; ++a)
        for (int64_t b = 0; b < n; ++b) {
            double t = 0;
            for (int64_t j = 0; j < n; ++j) t += g->q[i][a * n + j] * g->lam[i][j] * g->q[i][b * n + j];
            k[a * n + b] = t;
        }
    return k;
}

/* y = (⊗ op(M_i)) x with the dense Kronecker matrix of the given factors (f64 oracle). */
static void oracle_kron(const grid *g, double *const *m, int trans, const double *x, double *y) {
    ref_mat f[4];
    for (int32_t i = 0; i < g->d; ++i) {
        f[i] = ref_rowmajor(m[i], g->n[i], g->n[i]);
        if (trans) f[i] = ref_t(f[i]);
    }
    const int64_t nn = g->points;
    double *dense = calloc((size_t)(nn * nn), sizeof *dense);
    ref_kron_dense(g->d, f, dense);
    for (int64_t a = 0; a < nn; ++a) {
        double t = 0;
        for (int64_t b = 0; b < nn; ++b) t += dense[a * nn + b] * x[b];
        y[a] = t;
    }
    free(dense);
}

static double *read_slab(vks_buffer *b, const grid *g) { return vkt_download(b, g->dt, 0, (size_t)(g->count * g->rest)); }

static void kron_matmul_case(vks_dtype dt, int32_t d, const int64_t *n, vks_transpose trans) {
    grid g;
    grid_make(&g, dt, d, n, 90 + (uint64_t)d);
    const size_t local = (size_t)(g.count * g.rest);
    vks_buffer *bx = upload(dt, g.y + g.first * g.rest, local), *by = vkt_poisoned(dt, local);
    vks_tensor x = vks_tensor_1d(bx, dt, (int64_t)local), y = vks_tensor_1d(by, dt, (int64_t)local);
    const vks_tensor *f[4] = {&g.tq[0], &g.tq[1], &g.tq[2], &g.tq[3]};
    vks_mpi_stats stats = {sizeof stats};
    vks_mpi_options mo = VKS_MPI_OPTIONS_INIT;
    mo.stats = &stats;
    MPI_OK(vks_mpi_kron_matmul(vkt->ctx, MPI_COMM_WORLD, d, f, trans, &x, &y, &mo));
    double *got = read_slab(by, &g), *want = calloc((size_t)g.points, sizeof *want);
    oracle_kron(&g, g.q, trans == VKS_TRANS, g.y, want);
    char what[96];
    snprintf(what, sizeof what, "rank %d/%d kron_matmul d=%d %s", g_rank, g_size, d, dt == VKS_DTYPE_F64 ? "f64" : "f32");
    vkt_assert_close(got, want + g.first * g.rest, local, vkt_tol_sum(dt, g.points), what);
    /* And the one-device product of the whole grid, to round-off. */
    vks_buffer *bxa = upload(dt, g.y, (size_t)g.points), *bya = vkt_poisoned(dt, (size_t)g.points);
    vks_tensor xa = vks_tensor_1d(bxa, dt, g.points), ya = vks_tensor_1d(bya, dt, g.points);
    VKT_OK(vks_kron_matmul(vkt->ctx, d, f, trans, 1.0, &xa, 0.0, &ya));
    double *one = vkt_download(bya, dt, (size_t)(g.first * g.rest), local);
    vkt_assert_close(got, one, local, 8 * vkt_tol(dt), what);
    if (g_size > 1) assert_int_equal(stats.exchanges, 2);
    free(got), free(want), free(one);
    vks_buffer_destroy(bx), vks_buffer_destroy(by), vks_buffer_destroy(bxa), vks_buffer_destroy(bya);
    grid_free(&g);
}

static void kron_matmul_d3_f64(void **state) {
    (void)state;
    if (!(vkt->info.features & VKS_FEATURE_FLOAT64)) skip();
    kron_matmul_case(VKS_DTYPE_F64, 3, (const int64_t[]){7, 5, 6}, VKS_NO_TRANS);
    kron_matmul_case(VKS_DTYPE_F64, 3, (const int64_t[]){4, 3, 9}, VKS_TRANS);
}

static void kron_matmul_d4_f32(void **state) {
    (void)state;
    kron_matmul_case(VKS_DTYPE_F32, 4, (const int64_t[]){5, 4, 3, 4}, VKS_NO_TRANS);
    kron_matmul_case(VKS_DTYPE_F32, 2, (const int64_t[]){11, 3}, VKS_TRANS);
}

static void kron_solve_case(vks_dtype dt, int32_t d, const int64_t *n, double noise, bool with_mean) {
    grid g;
    grid_make(&g, dt, d, n, 120 + (uint64_t)d);
    const size_t local = (size_t)(g.count * g.rest);
    vks_buffer *by = upload(dt, g.y + g.first * g.rest, local), *ba = vkt_poisoned(dt, local);
    vks_buffer *bm = vkt_poisoned(dt, local);
    vks_tensor y = vks_tensor_1d(by, dt, (int64_t)local), alpha = vks_tensor_1d(ba, dt, (int64_t)local);
    vks_tensor mean = vks_tensor_1d(bm, dt, (int64_t)local);
    vks_mpi_kron_solve_desc sd = VKS_MPI_KRON_SOLVE_DESC_INIT;
    double logdet = NAN, mll = NAN;
    sd.d = d, sd.noise = noise, sd.eig_floor = 0;
    for (int32_t i = 0; i < d; ++i) sd.eigvecs[i] = &g.tq[i], sd.eigvals[i] = &g.tl[i];
    sd.y = &y, sd.alpha = &alpha, sd.mean = with_mean ? &mean : NULL, sd.logdet = &logdet, sd.mll = &mll;
    vks_mpi_stats stats = {sizeof stats};
    vks_mpi_options mo = VKS_MPI_OPTIONS_INIT;
    mo.stats = &stats;
    MPI_OK(vks_mpi_kron_solve(vkt->ctx, MPI_COMM_WORLD, &sd, &mo));
    double *got_a = read_slab(ba, &g), *got_m = with_mean ? read_slab(bm, &g) : NULL;

    /* float64 oracle: K = ⊗ Q_i diag(lambda_i) Q_i^T, (K + noise I) alpha = y by dense Cholesky. */
    const int64_t nn = g.points;
    double *k[4];
    for (int32_t i = 0; i < d; ++i) k[i] = dense_factor(&g, i);
    ref_mat f[4];
    for (int32_t i = 0; i < d; ++i) f[i] = ref_rowmajor(k[i], n[i], n[i]);
    double *dense = calloc((size_t)(nn * nn), sizeof *dense), *l = calloc((size_t)(nn * nn), sizeof *l);
    ref_kron_dense(d, f, dense);
    double *want_m = calloc((size_t)nn, sizeof *want_m), *want_a = malloc((size_t)nn * sizeof *want_a);
    memcpy(want_a, g.y, (size_t)nn * sizeof *want_a);
    for (int64_t a = 0; a < nn; ++a) dense[a * nn + a] += noise;
    assert_int_equal(ref_kron_cholesky(nn, dense, l), 0);
    ref_kron_cholesky_solve(nn, l, want_a, 1);
    const double want_logdet = ref_kron_cholesky_logdet(nn, l);
    double yta = 0;
    for (int64_t a = 0; a < nn; ++a) yta += g.y[a] * want_a[a];
    const double want_mll = -0.5 * yta - 0.5 * want_logdet - 0.5 * (double)nn * log(2 * M_PI);
    for (int64_t a = 0; a < nn; ++a) { /* mean = K alpha = y - noise alpha */
        want_m[a] = g.y[a] - noise * want_a[a];
    }
    char what[96];
    snprintf(what, sizeof what, "rank %d/%d kron_solve d=%d %s", g_rank, g_size, d, dt == VKS_DTYPE_F64 ? "f64" : "f32");
    /* kappa = (max lambda + noise) / (min lambda + noise) <= ~1e3 here. */
    const double tol = (dt == VKS_DTYPE_F64 ? 1e-11 : 2e-3);
    vkt_assert_close(got_a, want_a + g.first * g.rest, local, tol, what);
    if (with_mean) vkt_assert_close(got_m, want_m + g.first * g.rest, local, tol, what);
    const double ld_tol = (dt == VKS_DTYPE_F64 ? 1e-10 : 1e-4) * (double)nn;
    if (!(fabs(logdet - want_logdet) <= ld_tol)) fail_msg("%s: logdet %.12g, oracle %.12g", what, logdet, want_logdet);
    if (!(fabs(mll - want_mll) <= ld_tol + tol * fabs(yta)))
        fail_msg("%s: mll %.12g, oracle %.12g", what, mll, want_mll);

    /* The one-device solve of the whole grid, to round-off. */
    vks_buffer *bya = upload(dt, g.y, (size_t)nn), *baa = vkt_poisoned(dt, (size_t)nn), *bs = vkt_poisoned(dt, 2);
    vks_tensor ya = vks_tensor_1d(bya, dt, nn), aa = vks_tensor_1d(baa, dt, nn), ld1 = vks_tensor_1d(bs, dt, 1);
    vks_tensor ml1 = ld1;
    ml1.byte_offset = vkt_dtype_bytes(dt);
    vks_kron_solve_desc one = VKS_KRON_SOLVE_DESC_INIT;
    one.d = d, one.noise = noise, one.eig_floor = 0;
    for (int32_t i = 0; i < d; ++i) one.eigvecs[i] = &g.tq[i], one.eigvals[i] = &g.tl[i];
    one.y = &ya, one.alpha = &aa, one.logdet = &ld1, one.mll = &ml1;
    VKT_OK(vks_kron_solve(vkt->ctx, &one));
    double *one_a = vkt_download(baa, dt, (size_t)(g.first * g.rest), local), *one_s = vkt_download(bs, dt, 0, 2);
    vkt_assert_close(got_a, one_a, local, dt == VKS_DTYPE_F64 ? 1e-12 : 1e-4, what);
    if (!(fabs(logdet - one_s[0]) <= (dt == VKS_DTYPE_F64 ? 1e-11 : 1e-5) * (double)nn))
        fail_msg("%s: logdet %.12g, one device %.12g", what, logdet, one_s[0]);
    if (!(fabs(mll - one_s[1]) <= (dt == VKS_DTYPE_F64 ? 1e-10 : 1e-4) * (double)nn))
        fail_msg("%s: mll %.12g, one device %.12g", what, mll, one_s[1]);
    /* Every rank got the same scalars. */
    double mine[2] = {logdet, mll}, lo[2], hi[2];
    MPI_Allreduce(mine, lo, 2, MPI_DOUBLE, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(mine, hi, 2, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    assert_true(lo[0] == hi[0] && lo[1] == hi[1]);
    if (g_size > 1) assert_int_equal(stats.exchanges, with_mean ? 3 : 2);
    /* The bytes docs/scale-out.md's model counts: to slabs of mode 1, everything but this
     * rank's own columns; back, everything but its own rows; once more for the mean. */
    int64_t f1, c1;
    vks_mpi_slab(n[1], g_size, g_rank, &f1, &c1);
    const uint64_t es = vkt_dtype_bytes(dt), r2 = (uint64_t)(g.rest / n[1]);
    const uint64_t to_b = (uint64_t)(g.count * (n[1] - c1)) * r2 * es, to_a = (uint64_t)((n[0] - g.count) * c1) * r2 * es;
    assert_int_equal(stats.bytes_sent, to_b + (with_mean ? 2 : 1) * to_a);
    assert_int_equal(stats.items, g.count);

    for (int32_t i = 0; i < d; ++i) free(k[i]);
    free(dense), free(l), free(want_a), free(want_m), free(got_a), free(got_m), free(one_a), free(one_s);
    vks_buffer *all[] = {by, ba, bm, bya, baa, bs};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; ++i) vks_buffer_destroy(all[i]);
    grid_free(&g);
}

static void kron_solve_d3_f64(void **state) {
    (void)state;
    if (!(vkt->info.features & VKS_FEATURE_FLOAT64)) skip();
    kron_solve_case(VKS_DTYPE_F64, 3, (const int64_t[]){7, 5, 6}, 0.1, true);
}

static void kron_solve_d4_f64(void **state) {
    (void)state;
    if (!(vkt->info.features & VKS_FEATURE_FLOAT64)) skip();
    kron_solve_case(VKS_DTYPE_F64, 4, (const int64_t[]){4, 3, 3, 5}, 0.02, false);
}

static void kron_solve_d3_f32(void **state) {
    (void)state;
    kron_solve_case(VKS_DTYPE_F32, 3, (const int64_t[]){5, 4, 7}, 0.3, true);
}

static void kron_solve_d4_f32(void **state) {
    (void)state;
    kron_solve_case(VKS_DTYPE_F32, 4, (const int64_t[]){3, 5, 2, 4}, 0.3, true);
}

static void kron_bad_input_on_one_rank(void **state) {
    (void)state;
    grid g;
    const int64_t n[3] = {6, 4, 3};
    grid_make(&g, VKS_DTYPE_F32, 3, n, 131);
    const int bad = g_size - 1;
    const size_t local = (size_t)(g.count * g.rest);
    vks_buffer *by = upload(VKS_DTYPE_F32, g.y + g.first * g.rest, local), *ba = vkt_poisoned(VKS_DTYPE_F32, local);
    vks_tensor y = vks_tensor_1d(by, VKS_DTYPE_F32, (int64_t)local), alpha = vks_tensor_1d(ba, VKS_DTYPE_F32, (int64_t)local);
    if (g_rank == bad) y.shape[0] -= 1;
    vks_mpi_kron_solve_desc sd = VKS_MPI_KRON_SOLVE_DESC_INIT;
    sd.d = 3, sd.noise = 0.1;
    for (int32_t i = 0; i < 3; ++i) sd.eigvecs[i] = &g.tq[i], sd.eigvals[i] = &g.tl[i];
    sd.y = &y, sd.alpha = &alpha;
    vks_status st = vks_mpi_kron_solve(vkt->ctx, MPI_COMM_WORLD, &sd, NULL);
    char needle[64];
    snprintf(needle, sizeof needle, g_rank == bad ? "vks_mpi_kron_solve: rank %d: y has" : "rank %d failed", bad);
    expect_everywhere(st, VKS_ERROR_SHAPE_MISMATCH, needle, "kron_solve: short y on one rank");
    y.shape[0] = (int64_t)local;
    /* A grid too small for the ranks along mode 1 (every rank sees it). */
    if (g_size > 1) {
        const vks_tensor *f[2] = {&g.tq[0], &g.tq[0]};
        vks_tensor q1 = vks_tensor_2d(g.bq[1], VKS_DTYPE_F32, 1, 1);
        f[1] = &q1;
        vks_tensor x6 = vks_tensor_1d(by, VKS_DTYPE_F32, g.count), y6 = vks_tensor_1d(ba, VKS_DTYPE_F32, g.count);
        st = vks_mpi_kron_matmul(vkt->ctx, MPI_COMM_WORLD, 2, f, VKS_NO_TRANS, &x6, &y6, NULL);
        expect_everywhere(st, VKS_ERROR_OUT_OF_RANGE, "n_1 is 1, expected at least", "kron_matmul: n_1 < ranks");
    }
    /* Noise only on one rank: the ranks disagree. */
    if (g_rank == bad) sd.noise = 0.2;
    st = vks_mpi_kron_solve(vkt->ctx, MPI_COMM_WORLD, &sd, NULL);
    expect_everywhere(st, g_size > 1 ? VKS_ERROR_SHAPE_MISMATCH : VKS_OK, g_size > 1 ? "disagree" : NULL,
                      "kron_solve: different noise");
    vks_buffer_destroy(by), vks_buffer_destroy(ba);
    grid_free(&g);
}

int main(int argc, char **argv) {
    /* Unbuffered: a rank killed by the timeout still shows how far it got. */
    setvbuf(stdout, NULL, _IONBF, 0);
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    const struct CMUnitTest tests[] = {
        VKT_TEST(ns_replicated_f32),       VKT_TEST(ns_replicated_f64),  VKT_TEST(ns_sharded_bit_identical),
        VKT_TEST(ns_bad_input_on_one_rank), VKT_TEST(kron_matmul_d3_f64), VKT_TEST(kron_matmul_d4_f32),
        VKT_TEST(kron_solve_d3_f64),       VKT_TEST(kron_solve_d4_f64),  VKT_TEST(kron_solve_d3_f32),
        VKT_TEST(kron_solve_d4_f32),       VKT_TEST(kron_bad_input_on_one_rank),
    };
    const int failed = VKT_RUN(tests);
    /* A rank whose test failed must not leave the others in MPI_Finalize's barrier forever:
     * the ctest timeout bounds it, and the exit status of mpirun reports it. */
    int any = 0;
    MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    MPI_Finalize();
    return any ? 1 : 0;
}
