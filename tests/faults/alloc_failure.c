/* The allocation-failure sweep: for every N, the N-th host allocation of the library
 * (vks__malloc/calloc/realloc through backend/alloc.c) fails during context creation
 * and during one small op of each family. Each run must end in a status — never a crash —
 * and leave nothing behind: no device buffer (the context's live count), no host memory
 * (LeakSanitizer in `make asan`), and a context that keeps working. A run that absorbs the
 * failure (an untimed op, an unsaved cache) must still return the right result.
 *
 * Linked against the library's objects (not the shared library) to reach the hook. */
#include <math.h>
#include <string.h>

#include "vks_test.h"

/* backend/alloc.c: the n-th allocation from now fails; returns the failures since the last call. */
long vks__alloc_fail_at(long n, bool repeat);

#define MAX_FAIL_AT 4000 /* far above any path's allocation count: a loop that does not end fails */

/* One run of a scenario: its buffers are made and read with injection off; only the op
 * itself runs armed. `out` receives the result (host doubles, malloc'd). */
typedef vks_status scenario_fn(long fail_at, long *failed, double **out, size_t *count);

#define ARMED(call) (vks__alloc_fail_at(fail_at, false), st = (call), *failed = vks__alloc_fail_at(0, false))

static double *download_all(vks_buffer *b, vks_dtype dt, size_t n) { return vkt_download(b, dt, 0, n); }

static double *spd(int64_t n, uint64_t seed) {
    vkt_rng rng = vkt_rng_seed(seed);
    double *b = vkt_random(&rng, (size_t)(n * n), -1, 1), *k = malloc(sizeof(double) * (size_t)(n * n));
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < n; ++j) {
            double s = 0;
            for (int64_t p = 0; p < n; ++p) s += b[i * n + p] * b[j * n + p];
            k[i * n + j] = s / (double)n + (i == j ? 1.0 : 0.0);
        }
    free(b);
    return k;
}

/* ---- scenarios ------------------------------------------------------------------------ */

static vks_status sc_context(long fail_at, long *failed, double **out, size_t *count) {
    vks_status st;
    vks_context *ctx = NULL;
    vks_context_options o = vkt_options();
    ARMED(vks_context_create(&o, &ctx));
    if (st == VKS_OK) {
        assert_non_null(ctx);
        vks_device_info info = {.struct_size = sizeof info};
        VKT_OK(vks_context_get_device_info(ctx, &info));
        *out = malloc(sizeof(double)), **out = info.type, *count = 1;
        VKT_OK(vks_context_destroy(ctx));
    }
    return st;
}

static vks_status sc_gemm(long fail_at, long *failed, double **out, size_t *count) {
    enum { M = 17, N = 12, K = 9 };
    vkt_rng rng = vkt_rng_seed(1);
    double *a = vkt_random(&rng, M * K, -1, 1), *b = vkt_random(&rng, K * N, -1, 1), *c = vkt_random(&rng, N, -1, 1);
    vks_buffer *A = vkt_upload(VKS_DTYPE_F32, a, M * K), *B = vkt_upload(VKS_DTYPE_F32, b, K * N);
    vks_buffer *Bias = vkt_upload(VKS_DTYPE_F32, c, N), *C = vkt_poisoned(VKS_DTYPE_F32, M * N);
    vks_tensor ta = vks_tensor_2d(A, VKS_DTYPE_F32, M, K), tb = vks_tensor_2d(B, VKS_DTYPE_F32, K, N);
    vks_tensor tc = vks_tensor_2d(C, VKS_DTYPE_F32, M, N), tbias = vks_tensor_1d(Bias, VKS_DTYPE_F32, N);
    vks_gemm_desc d = VKS_GEMM_DESC_INIT;
    d.a = &ta, d.b = &tb, d.c = &tc, d.bias = &tbias;
    vks_status st;
    ARMED(vks_gemm_ex(vkt->ctx, &d));
    if (st == VKS_OK) *out = download_all(C, VKS_DTYPE_F32, M * N), *count = M * N;
    free(a), free(b), free(c);
    vks_buffer_destroy(A), vks_buffer_destroy(B), vks_buffer_destroy(Bias), vks_buffer_destroy(C);
    return st;
}

/* A GEMM on a fresh context: its pipeline is created (and its table grown) under failure. */
static vks_status sc_fresh_gemm(long fail_at, long *failed, double **out, size_t *count) {
    enum { M = 9, N = 7, K = 5 };
    vks_context *c = NULL;
    vks_context_options o = vkt_options();
    o.flags |= VKS_CONTEXT_NO_PIPELINE_CACHE;
    VKT_OK(vks_context_create(&o, &c));
    vkt_rng rng = vkt_rng_seed(8);
    double *a = vkt_random(&rng, M * K, -1, 1), *b = vkt_random(&rng, K * N, -1, 1);
    float fa[M * K], fb[K * N], fc[M * N];
    for (int i = 0; i < M * K; ++i) fa[i] = (float)a[i];
    for (int i = 0; i < K * N; ++i) fb[i] = (float)b[i];
    vks_buffer *A, *B, *C;
    VKT_OK(vks_buffer_create(c, sizeof fa, &A));
    VKT_OK(vks_buffer_create(c, sizeof fb, &B));
    VKT_OK(vks_buffer_create(c, sizeof fc, &C));
    VKT_OK(vks_buffer_write(A, 0, fa, sizeof fa));
    VKT_OK(vks_buffer_write(B, 0, fb, sizeof fb));
    vks_tensor ta = vks_tensor_2d(A, VKS_DTYPE_F32, M, K), tb = vks_tensor_2d(B, VKS_DTYPE_F32, K, N);
    vks_tensor tc = vks_tensor_2d(C, VKS_DTYPE_F32, M, N);
    vks_status st;
    ARMED(vks_gemm(c, VKS_NO_TRANS, VKS_NO_TRANS, 1.0, &ta, &tb, 0.0, &tc));
    if (st == VKS_OK) {
        VKT_OK(vks_buffer_read(C, 0, fc, sizeof fc));
        *out = malloc(sizeof(double) * M * N), *count = M * N;
        for (int i = 0; i < M * N; ++i) (*out)[i] = fc[i];
    }
    free(a), free(b);
    VKT_OK(vks_context_destroy(c));
    return st;
}

/* Jacobi: n = 8 one block, n = 80 the blocked solver with its host-side convergence checks;
 * the tridiagonal method (its host stage: LAPACK's buffers, the read-back, the uploads), with
 * vectors and eigenvalues only. */
static vks_status eigh_n(int64_t n, vks_eigh_method method, bool vectors, long fail_at, long *failed, double **out,
                         size_t *count) {
    double *a = spd(n, 2 + (uint64_t)n);
    vks_buffer *A = vkt_upload(VKS_DTYPE_F32, a, (size_t)(n * n)), *W = vkt_poisoned(VKS_DTYPE_F32, (size_t)n);
    vks_buffer *V = vkt_poisoned(VKS_DTYPE_F32, (size_t)(n * n));
    vks_tensor ta = vks_tensor_2d(A, VKS_DTYPE_F32, n, n), tw = vks_tensor_1d(W, VKS_DTYPE_F32, n);
    vks_tensor tv = vks_tensor_2d(V, VKS_DTYPE_F32, n, n);
    vks_eigh_options o = VKS_EIGH_OPTIONS_INIT;
    o.method = method;
    vks_status st;
    ARMED(vks_eigh_ex(vkt->ctx, &ta, &tw, vectors ? &tv : NULL, &o));
    if (st == VKS_OK) *out = download_all(W, VKS_DTYPE_F32, (size_t)n), *count = (size_t)n; /* vectors: signs vary */
    free(a);
    vks_buffer_destroy(A), vks_buffer_destroy(W), vks_buffer_destroy(V);
    return st;
}
static vks_status sc_eigh_small(long f, long *failed, double **out, size_t *count) {
    return eigh_n(8, VKS_EIGH_JACOBI, true, f, failed, out, count);
}
static vks_status sc_eigh_blocked(long f, long *failed, double **out, size_t *count) {
    return eigh_n(80, VKS_EIGH_JACOBI, true, f, failed, out, count);
}
static vks_status sc_eigh_tridiagonal(long f, long *failed, double **out, size_t *count) {
    return eigh_n(80, VKS_EIGH_TRIDIAGONAL, true, f, failed, out, count);
}
static vks_status sc_eigh_values(long f, long *failed, double **out, size_t *count) {
    return eigh_n(40, VKS_EIGH_TRIDIAGONAL, false, f, failed, out, count);
}
/* The reduction on the device (its read-back of tau and the flags), on a context tuned so. */
static vks_status sc_eigh_device_reduction(long f, long *failed, double **out, size_t *count) {
    vks_tuning t = VKS_TUNING_INIT;
    t.eigh_reduction = VKS_EIGH_REDUCTION_DEVICE;
    vkt_push_tuned_context(&t);
    const vks_status st = eigh_n(70, VKS_EIGH_TRIDIAGONAL, true, f, failed, out, count);
    vkt_pop_context();
    return st;
}

static vks_status sc_cholesky(long fail_at, long *failed, double **out, size_t *count) {
    enum { N = 10 };
    double *a = spd(N, 3);
    vks_buffer *A = vkt_upload(VKS_DTYPE_F32, a, N * N), *L = vkt_poisoned(VKS_DTYPE_F32, N * N);
    vks_tensor ta = vks_tensor_2d(A, VKS_DTYPE_F32, N, N), tl = vks_tensor_2d(L, VKS_DTYPE_F32, N, N);
    vks_status st;
    ARMED(vks_cholesky(vkt->ctx, &ta, &tl));
    if (st == VKS_OK) *out = download_all(L, VKS_DTYPE_F32, N * N), *count = N * N;
    free(a);
    vks_buffer_destroy(A), vks_buffer_destroy(L);
    return st;
}

static vks_status sc_cholqr(long fail_at, long *failed, double **out, size_t *count) {
    enum { M = 20, N = 6 };
    vkt_rng rng = vkt_rng_seed(4);
    double *a = vkt_random(&rng, M * N, -1, 1);
    vks_buffer *A = vkt_upload(VKS_DTYPE_F32, a, M * N), *Q = vkt_poisoned(VKS_DTYPE_F32, M * N);
    vks_buffer *R = vkt_poisoned(VKS_DTYPE_F32, N * N);
    vks_tensor ta = vks_tensor_2d(A, VKS_DTYPE_F32, M, N), tq = vks_tensor_2d(Q, VKS_DTYPE_F32, M, N);
    vks_tensor tr = vks_tensor_2d(R, VKS_DTYPE_F32, N, N);
    vks_status st;
    ARMED(vks_cholqr(vkt->ctx, &ta, &tq, &tr, NULL));
    if (st == VKS_OK) *out = download_all(Q, VKS_DTYPE_F32, M * N), *count = M * N;
    free(a);
    vks_buffer_destroy(A), vks_buffer_destroy(Q), vks_buffer_destroy(R);
    return st;
}

static vks_status sc_newton_schulz(long fail_at, long *failed, double **out, size_t *count) {
    static const int64_t shapes[3][2] = {{4, 6}, {6, 4}, {5, 5}};
    vkt_rng rng = vkt_rng_seed(5);
    vks_buffer *G = NULL, *O = NULL;
    double *g = vkt_random(&rng, 3 * 36, -1, 1);
    G = vkt_upload(VKS_DTYPE_F32, g, 3 * 36), O = vkt_poisoned(VKS_DTYPE_F32, 3 * 36);
    vks_tensor tg[3], to[3];
    for (int k = 0; k < 3; ++k) {
        tg[k] = vks_tensor_2d(G, VKS_DTYPE_F32, shapes[k][0], shapes[k][1]), tg[k].byte_offset = 36 * 4 * (uint64_t)k;
        to[k] = tg[k], to[k].buffer = O;
    }
    vks_status st;
    ARMED(vks_newton_schulz_grouped(vkt->ctx, 3, tg, to, NULL));
    if (st == VKS_OK) { /* the unwritten tails of each 36-element slot stay NaN: compare the written part */
        double *all = download_all(O, VKS_DTYPE_F32, 3 * 36);
        *out = malloc(sizeof(double) * 3 * 36), *count = 0;
        for (int k = 0; k < 3; ++k)
            for (int64_t i = 0; i < shapes[k][0] * shapes[k][1]; ++i) (*out)[(*count)++] = all[36 * k + i];
        free(all);
    }
    free(g);
    vks_buffer_destroy(G), vks_buffer_destroy(O);
    return st;
}

static vks_status sc_svd(long fail_at, long *failed, double **out, size_t *count) {
    enum { M = 6, N = 4 };
    vkt_rng rng = vkt_rng_seed(6);
    double *a = vkt_random(&rng, M * N, -1, 1);
    vks_buffer *A = vkt_upload(VKS_DTYPE_F32, a, M * N), *S = vkt_poisoned(VKS_DTYPE_F32, N);
    vks_tensor ta = vks_tensor_2d(A, VKS_DTYPE_F32, M, N), ts = vks_tensor_1d(S, VKS_DTYPE_F32, N);
    vks_status st;
    ARMED(vks_svd(vkt->ctx, &ta, NULL, &ts, NULL));
    if (st == VKS_OK) *out = download_all(S, VKS_DTYPE_F32, N), *count = N;
    free(a);
    vks_buffer_destroy(A), vks_buffer_destroy(S);
    return st;
}

static vks_status sc_lora_multi(long fail_at, long *failed, double **out, size_t *count) {
    enum { M = 7, IN = 8, OUT = 6, NAD = 3 };
    static const int32_t ranks[NAD] = {2, 0, 3}, ids[M] = {0, 2, -1, 1, 2, 0, 2};
    int64_t ae = 0, be = 0;
    VKT_OK(vks_lora_pack_offsets(NAD, ranks, IN, OUT, NULL, NULL, &ae, &be));
    vkt_rng rng = vkt_rng_seed(7);
    double *x = vkt_random(&rng, M * IN, -1, 1), *w = vkt_random(&rng, OUT * IN, -1, 1);
    double *a = vkt_random(&rng, (size_t)ae, -1, 1), *b = vkt_random(&rng, (size_t)be, -1, 1);
    vks_buffer *X = vkt_upload(VKS_DTYPE_F32, x, M * IN), *W = vkt_upload(VKS_DTYPE_F32, w, OUT * IN);
    vks_buffer *Ab = vkt_upload(VKS_DTYPE_F32, a, (size_t)ae), *Bb = vkt_upload(VKS_DTYPE_F32, b, (size_t)be);
    vks_buffer *Y = vkt_poisoned(VKS_DTYPE_F32, M * OUT);
    vks_tensor tx = vks_tensor_2d(X, VKS_DTYPE_F32, M, IN), tw = vks_tensor_2d(W, VKS_DTYPE_F32, OUT, IN);
    vks_tensor ta = vks_tensor_1d(Ab, VKS_DTYPE_F32, ae), tb = vks_tensor_1d(Bb, VKS_DTYPE_F32, be);
    vks_tensor ty = vks_tensor_2d(Y, VKS_DTYPE_F32, M, OUT);
    vks_lora_adapters ad = VKS_LORA_ADAPTERS_INIT;
    ad.count = NAD, ad.ranks = ranks, ad.a = &ta, ad.b = &tb;
    vks_lora_multi_desc d = VKS_LORA_MULTI_DESC_INIT;
    d.x = &tx, d.w = &tw, d.y = &ty, d.adapters = &ad, d.layout = VKS_LORA_GATHERED, d.indices = ids;
    vks_status st;
    ARMED(vks_lora_multi_forward(vkt->ctx, &d));
    if (st == VKS_OK) *out = download_all(Y, VKS_DTYPE_F32, M * OUT), *count = M * OUT;
    free(x), free(w), free(a), free(b);
    vks_buffer_destroy(X), vks_buffer_destroy(W), vks_buffer_destroy(Ab), vks_buffer_destroy(Bb), vks_buffer_destroy(Y);
    return st;
}

static vks_status sc_kron_kernel(long fail_at, long *failed, double **out, size_t *count) {
    enum { N1 = 5, N2 = 4 };
    static const double w[2] = {0.6, 0.4}, rho[2] = {9.0, 30.0}, f[2] = {0.0, 2.0};
    double x1[N1] = {0, 0.2, 0.4, 0.6, 1.0}, x2[N2] = {0.1, 0.3, 0.5, 0.9};
    vks_buffer *X1 = vkt_upload(VKS_DTYPE_F32, x1, N1), *X2 = vkt_upload(VKS_DTYPE_F32, x2, N2);
    vks_buffer *K = vkt_poisoned(VKS_DTYPE_F32, N1 * N2);
    vks_tensor t1 = vks_tensor_1d(X1, VKS_DTYPE_F32, N1), t2 = vks_tensor_1d(X2, VKS_DTYPE_F32, N2);
    vks_tensor tk = vks_tensor_2d(K, VKS_DTYPE_F32, N1, N2);
    vks_kernel_desc d = VKS_KERNEL_DESC_INIT;
    d.kind = VKS_KERNEL_SPECTRAL_MIXTURE, d.sm_base = VKS_SM_BASE_SE, d.num_mixtures = 2;
    d.sm_weights = w, d.sm_rhos = rho, d.sm_freqs = f;
    vks_status st;
    ARMED(vks_kron_kernel_matrix(vkt->ctx, &d, &t1, &t2, &tk));
    if (st == VKS_OK) *out = download_all(K, VKS_DTYPE_F32, N1 * N2), *count = N1 * N2;
    vks_buffer_destroy(X1), vks_buffer_destroy(X2), vks_buffer_destroy(K);
    return st;
}

/* vks_kron_pde_learn: a 1-D Poisson problem, one round of two Adam steps between two solves. */
static vks_status sc_kron_pde_learn(long fail_at, long *failed, double **out, size_t *count) {
    enum { N = 9 };
    double f[N], g[N];
    for (int j = 0; j < N; ++j) g[j] = sin(3.0 * j / (N - 1)), f[j] = -9 * g[j];
    vks_buffer *F = vkt_upload(VKS_DTYPE_F64, f, N), *G = vkt_upload(VKS_DTYPE_F64, g, N);
    vks_buffer *U = vkt_poisoned(VKS_DTYPE_F64, N);
    vks_tensor tf = vks_tensor_1d(F, VKS_DTYPE_F64, N), tg = vks_tensor_1d(G, VKS_DTYPE_F64, N);
    vks_tensor tu = vks_tensor_1d(U, VKS_DTYPE_F64, N);
    vks_kron_pde_desc d = VKS_KRON_PDE_DESC_INIT;
    d.d = 1, d.n[0] = N, d.hi[0] = 1, d.coef_xx[0] = 1, d.f = &tf, d.boundary = &tg, d.u = &tu;
    vks_kron_pde_learn_desc l = VKS_KRON_PDE_LEARN_DESC_INIT;
    double w[3];
    l.num_mixtures = 3, l.rounds = 1, l.steps = 2, l.weights[0] = w;
    vks_status st;
    ARMED(vks_kron_pde_learn(vkt->ctx, &d, &l));
    if (st == VKS_OK) {
        double *u = download_all(U, VKS_DTYPE_F64, N);
        *out = malloc(sizeof(double) * (N + 3)), *count = N + 3;
        memcpy(*out, u, sizeof(double) * N), memcpy(*out + N, w, sizeof w);
        free(u);
    }
    vks_buffer_destroy(F), vks_buffer_destroy(G), vks_buffer_destroy(U);
    return st;
}

/* vks_kron_eigh then vks_kron_solve, both armed (the eigendecompositions read back). */
static vks_status sc_kron_solve(long fail_at, long *failed, double **out, size_t *count) {
    static const int64_t n[2] = {6, 5};
    enum { NP = 30 };
    vks_buffer *F[2], *Q[2], *L[2];
    vks_tensor tf[2], tq[2], tl[2];
    vks_kron_eigh_desc ed = VKS_KRON_EIGH_DESC_INIT;
    vks_kron_solve_desc sd = VKS_KRON_SOLVE_DESC_INIT;
    ed.d = sd.d = 2;
    for (int t = 0; t < 2; ++t) {
        double *k = spd(n[t], 10 + (uint64_t)t);
        F[t] = vkt_upload(VKS_DTYPE_F32, k, (size_t)(n[t] * n[t])), free(k);
        Q[t] = vkt_poisoned(VKS_DTYPE_F32, (size_t)(n[t] * n[t])), L[t] = vkt_poisoned(VKS_DTYPE_F32, (size_t)n[t]);
        tf[t] = vks_tensor_2d(F[t], VKS_DTYPE_F32, n[t], n[t]), tq[t] = vks_tensor_2d(Q[t], VKS_DTYPE_F32, n[t], n[t]);
        tl[t] = vks_tensor_1d(L[t], VKS_DTYPE_F32, n[t]);
        ed.factors[t] = &tf[t], ed.eigvecs[t] = sd.eigvecs[t] = &tq[t], ed.eigvals[t] = sd.eigvals[t] = &tl[t];
    }
    vkt_rng rng = vkt_rng_seed(12);
    double *y = vkt_random(&rng, NP, -1, 1);
    vks_buffer *Y = vkt_upload(VKS_DTYPE_F32, y, NP), *A = vkt_poisoned(VKS_DTYPE_F32, NP);
    vks_tensor ty = vks_tensor_1d(Y, VKS_DTYPE_F32, NP), ta = vks_tensor_1d(A, VKS_DTYPE_F32, NP);
    sd.noise = 0.1, sd.y = &ty, sd.alpha = &ta;
    vks_status st;
    ARMED(vks_kron_eigh(vkt->ctx, &ed));
    long total = *failed;
    if (st == VKS_OK) ARMED(vks_kron_solve(vkt->ctx, &sd)), total += *failed;
    *failed = total;
    if (st == VKS_OK) *out = download_all(A, VKS_DTYPE_F32, NP), *count = NP;
    free(y);
    for (int t = 0; t < 2; ++t) vks_buffer_destroy(F[t]), vks_buffer_destroy(Q[t]), vks_buffer_destroy(L[t]);
    vks_buffer_destroy(Y), vks_buffer_destroy(A);
    return st;
}

/* vks_kron_pde_solve on a 5 x 4 grid (float64 setup on the host), collocation or finite
 * weights, with alpha and the objective: every host allocation of both setups and solvers. */
static vks_status kron_pde(double weight, long fail_at, long *failed, double **out, size_t *count) {
    enum { NP = 20 };
    if (!(vkt->info.features & VKS_FEATURE_FLOAT64)) skip();
    double f[NP], g[NP];
    for (int e = 0; e < NP; ++e) f[e] = sin(0.7 * e), g[e] = cos(0.3 * e);
    vks_buffer *F = vkt_upload(VKS_DTYPE_F64, f, NP), *G = vkt_upload(VKS_DTYPE_F64, g, NP);
    vks_buffer *U = vkt_poisoned(VKS_DTYPE_F64, NP), *A = vkt_poisoned(VKS_DTYPE_F64, NP);
    vks_tensor tf = vks_tensor_1d(F, VKS_DTYPE_F64, NP), tg = vks_tensor_1d(G, VKS_DTYPE_F64, NP);
    vks_tensor tu = vks_tensor_1d(U, VKS_DTYPE_F64, NP), ta = vks_tensor_1d(A, VKS_DTYPE_F64, NP);
    vks_kernel_desc k = VKS_KERNEL_DESC_INIT;
    k.lengthscale = 0.4;
    vks_kron_pde_desc d = VKS_KRON_PDE_DESC_INIT;
    d.d = 2, d.n[0] = 5, d.n[1] = 4, d.coef_u = 0.5, d.tolerance = 1e-10;
    for (int i = 0; i < 2; ++i) d.hi[i] = 1, d.coef_xx[i] = 1, d.kernels[i] = &k;
    d.weight_boundary = d.weight_residual = weight;
    double objective = NAN;
    d.f = &tf, d.boundary = &tg, d.u = &tu, d.alpha = &ta, d.objective = &objective;
    vks_status st;
    ARMED(vks_kron_pde_solve(vkt->ctx, &d));
    if (st == VKS_OK) {
        double *u = download_all(U, VKS_DTYPE_F64, NP), *a = download_all(A, VKS_DTYPE_F64, NP);
        *out = malloc(sizeof(double) * (2 * NP + 1)), *count = 2 * NP + 1;
        memcpy(*out, u, sizeof(double) * NP), memcpy(*out + NP, a, sizeof(double) * NP), (*out)[2 * NP] = objective;
        free(u), free(a);
    }
    vks_buffer_destroy(F), vks_buffer_destroy(G), vks_buffer_destroy(U), vks_buffer_destroy(A);
    return st;
}
static vks_status sc_kron_pde(long f, long *failed, double **out, size_t *count) {
    return kron_pde(0.0, f, failed, out, count);
}
static vks_status sc_kron_pde_weighted(long f, long *failed, double **out, size_t *count) {
    return kron_pde(10.0, f, failed, out, count);
}

static vks_status sc_monarch_project(long fail_at, long *failed, double **out, size_t *count) {
    vkt_rng rng = vkt_rng_seed(13);
    double *m = vkt_random(&rng, 12 * 8, -1, 1);
    vks_buffer *Mb = vkt_upload(VKS_DTYPE_F32, m, 96), *W1 = vkt_poisoned(VKS_DTYPE_F32, 32);
    vks_buffer *W2 = vkt_poisoned(VKS_DTYPE_F32, 24);
    vks_tensor tm = vks_tensor_2d(Mb, VKS_DTYPE_F32, 12, 8);
    vks_tensor w1 = vks_tensor_3d(W1, VKS_DTYPE_F32, 2, 4, 4), w2 = vks_tensor_3d(W2, VKS_DTYPE_F32, 4, 3, 2);
    vks_monarch_project_desc d = VKS_MONARCH_PROJECT_DESC_INIT;
    d.m = &tm, d.w1 = &w1, d.w2 = &w2;
    vks_monarch_project_result r = {.struct_size = sizeof r};
    vks_status st;
    ARMED(vks_monarch_project(vkt->ctx, &d, &r));
    if (st == VKS_OK) *out = malloc(sizeof(double)), **out = r.relative_error, *count = 1;
    free(m);
    vks_buffer_destroy(Mb), vks_buffer_destroy(W1), vks_buffer_destroy(W2);
    return st;
}

/* Buffers themselves: create, write, copy, read. */
static vks_status sc_buffers(long fail_at, long *failed, double **out, size_t *count) {
    float v[16];
    for (int i = 0; i < 16; ++i) v[i] = (float)i * 0.5f;
    vks_buffer *A = NULL, *B = NULL;
    vks_status st;
    ARMED(vks_buffer_create(vkt->ctx, sizeof v, &A));
    long total = *failed;
    if (st == VKS_OK) ARMED(vks_buffer_create(vkt->ctx, sizeof v, &B)), total += *failed;
    if (st == VKS_OK) ARMED(vks_buffer_write(A, 0, v, sizeof v)), total += *failed;
    if (st == VKS_OK) ARMED(vks_buffer_copy(A, 0, B, 0, sizeof v)), total += *failed;
    if (st == VKS_OK) ARMED(vks_buffer_read(B, 0, v, sizeof v)), total += *failed;
    *failed = total;
    if (st == VKS_OK) {
        *out = malloc(sizeof(double) * 16), *count = 16;
        for (int i = 0; i < 16; ++i) (*out)[i] = v[i];
    }
    vks_buffer_destroy(A), vks_buffer_destroy(B);
    return st;
}

/* ---- the sweep -------------------------------------------------------------------------- */

static void sweep(const char *name, scenario_fn *fn) {
    long failed = 0;
    double *want = NULL;
    size_t want_n = 0;
    vks_status st = fn(0, &failed, &want, &want_n);
    if (st != VKS_OK) fail_msg("%s: the run without failures: %s", name, vks_last_error(NULL));
    vks_context_stats s0 = {.struct_size = sizeof s0};
    VKT_OK(vks_context_get_stats(vkt->ctx, &s0));
    long n = 1;
    for (; n <= MAX_FAIL_AT; ++n) {
        double *got = NULL;
        size_t got_n = 0;
        failed = 0;
        st = fn(n, &failed, &got, &got_n);
        if (failed == 0) { /* the run made fewer than n allocations: every one has failed once */
            if (st != VKS_OK) fail_msg("%s: no allocation failed, yet: %s", name, vks_last_error(NULL));
            free(got);
            break;
        }
        if (st == VKS_OK) { /* the failure was absorbed: the result must not show it */
            if (got_n != want_n) fail_msg("%s: allocation %ld failed: %zu results, expected %zu", name, n, got_n, want_n);
            char what[96];
            snprintf(what, sizeof what, "%s with allocation %ld failing", name, n);
            vkt_assert_close(got, want, want_n, 1e-5, what);
        } else if (st != VKS_ERROR_OUT_OF_HOST_MEMORY) {
            fail_msg("%s: allocation %ld failed: status %s (%s), expected VKS_ERROR_OUT_OF_HOST_MEMORY", name, n,
                     vks_status_string(st), vks_last_error(NULL));
        } else if (strncmp(vks_last_error(NULL), "vks_", 4) != 0) {
            fail_msg("%s: allocation %ld failed: the message does not name the function: %s", name, n,
                     vks_last_error(NULL));
        }
        free(got);
        /* The context is intact: nothing pending is lost, no buffer left behind. */
        VKT_OK(vks_synchronize(vkt->ctx));
        vks_context_stats s1 = {.struct_size = sizeof s1};
        VKT_OK(vks_context_get_stats(vkt->ctx, &s1));
        if (s1.live_buffers != s0.live_buffers)
            fail_msg("%s: allocation %ld failed: %u live buffers after, %u before", name, n, s1.live_buffers,
                     s0.live_buffers);
    }
    if (n > MAX_FAIL_AT) fail_msg("%s: still failing at allocation %d", name, MAX_FAIL_AT);
    print_message("%s: %ld allocation points, each failed once\n", name, n - 1);
    free(want);
}

#define SWEEP(name)                                                                                                \
    static void test_alloc_##name(void **state) {                                                                  \
        (void)state;                                                                                               \
        sweep(#name, sc_##name);                                                                                   \
    }
SWEEP(context)
SWEEP(buffers)
SWEEP(gemm)
SWEEP(fresh_gemm)
SWEEP(eigh_small)
SWEEP(eigh_blocked)
SWEEP(eigh_tridiagonal)
SWEEP(eigh_values)
SWEEP(eigh_device_reduction)
SWEEP(cholesky)
SWEEP(cholqr)
SWEEP(newton_schulz)
SWEEP(svd)
SWEEP(lora_multi)
SWEEP(kron_kernel)
SWEEP(kron_solve)
SWEEP(kron_pde_learn)
SWEEP(kron_pde)
SWEEP(kron_pde_weighted)
SWEEP(monarch_project)

int main(void) {
    const struct CMUnitTest tests[] = {
        VKT_TEST(test_alloc_context),      VKT_TEST(test_alloc_buffers),     VKT_TEST(test_alloc_gemm), VKT_TEST(test_alloc_fresh_gemm),
        VKT_TEST(test_alloc_eigh_small),   VKT_TEST(test_alloc_eigh_blocked), VKT_TEST(test_alloc_eigh_tridiagonal),
        VKT_TEST(test_alloc_eigh_values),  VKT_TEST(test_alloc_eigh_device_reduction), VKT_TEST(test_alloc_cholesky),
        VKT_TEST(test_alloc_cholqr),       VKT_TEST(test_alloc_newton_schulz), VKT_TEST(test_alloc_svd),
        VKT_TEST(test_alloc_lora_multi),   VKT_TEST(test_alloc_kron_kernel),  VKT_TEST(test_alloc_kron_solve),
        VKT_TEST(test_alloc_kron_pde_learn), VKT_TEST(test_alloc_kron_pde), VKT_TEST(test_alloc_kron_pde_weighted),
        VKT_TEST(test_alloc_monarch_project),
    };
    return VKT_RUN(tests);
}
