/*
 * Symmetric eigendecomposition on the LAPACK pipeline (as LAPACK's dsyevd, cuSOLVER's syevd
 * and MAGMA's dsyevd_gpu), batched, f32 (in f64 where the device has it) and f64:
 *   1. the lower triangle is copied on the device into a dense working-precision matrix and
 *      read back (one synchronization);
 *   2. on the host, with the system's LAPACK loaded at run time (dlopen, as the Vulkan
 *      loader is: the library keeps no link-time dependency): scaling by a power of two,
 *      Householder tridiagonalization (dsytrd, blocked, half its work SYR2K), the
 *      tridiagonal eigenproblem (dstedc: divide and conquer; dsterf when only eigenvalues
 *      are wanted), and the compact-WY form of each block of reflectors (dlarft: T);
 *   3. on the device, the back-transformation V = Q Z = (I - Y1 T1 Y1^T) ... (I - Yb Tb Yb^T) Z
 *      as three GEMMs per block of NB reflectors (vks__gemm_record), then one pass that fixes
 *      the signs and writes w and v into the caller's strided outputs.
 * Stage 1 of MAGMA (the reduction) also runs on the GPU; here it runs on the host unless
 * vks_tuning.eigh_reduction asks for the device (orthogonal_sytrd.c, then the host goes on
 * from dsytrd's output): see docs/orthogonal.md for what each costs and why.
 */
#include <dlfcn.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "orthogonal_internal.h"

/* ---- LAPACK, loaded at run time --------------------------------------------------------- */

/* gfortran's calling convention: every argument by reference, the lengths of character
 * arguments appended as size_t. */
typedef void dsytrd_fn(const char *uplo, const int *n, double *a, const int *lda, double *d, double *e, double *tau,
                       double *work, const int *lwork, int *info, size_t uplo_len);
typedef void dstedc_fn(const char *compz, const int *n, double *d, double *e, double *z, const int *ldz, double *work,
                       const int *lwork, int *iwork, const int *liwork, int *info, size_t compz_len);
typedef void dsterf_fn(const int *n, double *d, double *e, int *info);
typedef void dsyevd_fn(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w,
                       double *work, const int *lwork, int *iwork, const int *liwork, int *info, size_t jobz_len,
                       size_t uplo_len);
typedef void dlarft_fn(const char *direct, const char *storev, const int *n, const int *k, const double *v,
                       const int *ldv, const double *tau, double *t, const int *ldt, size_t direct_len,
                       size_t storev_len);

static struct {
    pthread_once_t once;
    void *handle;
    dsytrd_fn *sytrd;
    dstedc_fn *stedc;
    dsterf_fn *sterf;
    dlarft_fn *larft;
    dsyevd_fn *syevd;
} lapack = {PTHREAD_ONCE_INIT, NULL, NULL, NULL, NULL, NULL, NULL};

/* Debian's liblapack3 (reference LAPACK) or libopenblas0 (OpenBLAS with LAPACK) provide it. */
#define VKS_LAPACK_LIBRARY "liblapack.so.3"

static void lapack_load(void) {
    static const char *const names[] = {VKS_LAPACK_LIBRARY, "libopenblas.so.0", "liblapack.so"};
    for (size_t i = 0; i < VKS_COUNT_OF(names) && !lapack.sytrd; ++i) {
        void *h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
        if (!h) continue;
        lapack.sytrd = (dsytrd_fn *)dlsym(h, "dsytrd_");
        lapack.stedc = (dstedc_fn *)dlsym(h, "dstedc_");
        lapack.sterf = (dsterf_fn *)dlsym(h, "dsterf_");
        lapack.larft = (dlarft_fn *)dlsym(h, "dlarft_");
        lapack.syevd = (dsyevd_fn *)dlsym(h, "dsyevd_");
        if (lapack.sytrd && lapack.stedc && lapack.sterf && lapack.larft && lapack.syevd) {
            lapack.handle = h; /* kept for the process's lifetime, as the Vulkan loader */
        } else {
            lapack.sytrd = NULL;
            dlclose(h);
        }
    }
}

bool vks__lapack_available(void) {
    pthread_once(&lapack.once, lapack_load);
    return lapack.sytrd != NULL;
}

const char *vks__lapack_library_name(void) { return VKS_LAPACK_LIBRARY; }

vks_status vks__host_syevd(int n, double *a, double *w, const char *fn) {
    if (!vks__lapack_available())
        return vks__error(VKS_ERROR_UNSUPPORTED, "%s: needs LAPACK (%s), which could not be loaded", fn,
                          VKS_LAPACK_LIBRARY);
    if (n <= 0) return VKS_OK;
    int info = 0, m1 = -1, iq = 0;
    double q = 0;
    lapack.syevd("V", "L", &n, a, &n, w, &q, &m1, &iq, &m1, &info, 1, 1);
    const int lwork = (int)fmax(q, 1.0), liwork = iq > 1 ? iq : 1;
    double *work = vks__malloc((size_t)lwork * sizeof(double));
    int *iwork = vks__malloc((size_t)liwork * sizeof(int));
    vks_status st = work && iwork ? VKS_OK : vks__error(VKS_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", fn);
    if (st == VKS_OK) lapack.syevd("V", "L", &n, a, &n, w, work, &lwork, iwork, &liwork, &info, 1, 1);
    if (st == VKS_OK && info != 0)
        st = vks__error(VKS_ERROR_NOT_CONVERGED, "%s: LAPACK's dsyevd did not converge (info %d)", fn, info);
    vks__free(work), vks__free(iwork);
    return st;
}

/* ---- sizes ------------------------------------------------------------------------------- */

/* Reflectors per block of the back-transformation: the GEMMs' k. */
static int64_t block_width(int64_t n) { return n <= 64 ? 32 : 64; }

static int64_t block_count(int64_t n) { return n > 1 ? VKS_CEIL_DIV(n - 1, block_width(n)) : 0; }

uint64_t vks__orth_eigh_lapack_ws_bytes(vks_dtype dt, int64_t batch, int64_t n, bool vectors) {
    const uint64_t es = vks__dtype_bytes(dt), nb = (uint64_t)block_width(n), sq = orth_round((uint64_t)batch * n * n * es);
    uint64_t bytes = sq + orth_round((uint64_t)batch * n * es) + orth_round(4 * (uint64_t)batch) +
                     vks__sytrd_ws_bytes(dt, batch, n);
    if (vectors)
        bytes += sq + orth_round((uint64_t)batch * block_count(n) * nb * nb * es) +
                 2 * orth_round((uint64_t)batch * nb * n * es);
    return bytes;
}

/* ---- the host stage ---------------------------------------------------------------------- */

typedef struct host_stage {
    int n, lwork, liwork;
    double *a, *z, *d, *e, *tau, *t, *work; /* column-major n x n: a (reflectors), z */
    int *iwork;
    void *io; /* one matrix in the working dtype, to the device */
} host_stage;

static void host_free(host_stage *h) {
    void *const bufs[] = {h->a, h->z, h->d, h->e, h->tau, h->t, h->work, h->iwork, h->io};
    for (size_t i = 0; i < VKS_COUNT_OF(bufs); ++i) vks__free(bufs[i]);
}

static vks_status host_alloc(host_stage *h, int n, size_t es, bool vectors, const char *fn) {
    memset(h, 0, sizeof *h);
    h->n = n;
    const size_t nn = (size_t)n * (size_t)n, nb = (size_t)block_width(n);
    h->a = vks__malloc(nn * sizeof(double));
    h->d = vks__malloc((size_t)n * sizeof(double));
    h->e = vks__malloc((size_t)n * sizeof(double));
    h->tau = vks__malloc((size_t)n * sizeof(double));
    h->io = vks__malloc(VKS_MAX(nn, (size_t)block_count(n) * nb * nb) * es); /* Z, Y or the T blocks, converted */
    if (vectors) {
        h->z = vks__malloc(nn * sizeof(double));
        h->t = vks__calloc((size_t)block_count(n) * nb * nb + 1, sizeof(double));
    }
    bool ok = h->a && h->d && h->e && h->tau && h->io && (!vectors || (h->z && h->t));
    /* Workspace queries: dsytrd's and dstedc's optimal sizes. */
    int info = 0, m1 = -1, iq = 0;
    double q1 = 0, q2 = 0;
    if (ok) lapack.sytrd("L", &n, h->a, &n, h->d, h->e, h->tau, &q1, &m1, &info, 1);
    if (ok && vectors) lapack.stedc("I", &n, h->d, h->e, h->z, &n, &q2, &m1, &iq, &m1, &info, 1);
    h->lwork = (int)fmax(fmax(q1, q2), 1.0);
    h->liwork = iq > 1 ? iq : 1;
    if (ok) {
        h->work = vks__malloc((size_t)h->lwork * sizeof(double));
        h->iwork = vks__malloc((size_t)h->liwork * sizeof(int));
        ok = h->work && h->iwork;
    }
    if (ok) return VKS_OK;
    host_free(h);
    return vks__error(VKS_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory for the tridiagonal stage (n = %d)", fn, n);
}

/* One matrix: io (row-major, lower triangle valid) -> eigenvalues in d (ascending, or
 * descending), and with vectors Z (column-major, columns in the same order), the reflectors
 * as an explicit unit lower-trapezoidal Y (column-major, in a) and their T blocks.
 * Returns 0, 1 (NaN/Inf: w = 0, V = I) or 2 (dstedc did not converge). */
static int host_solve(host_stage *h, const void *src, vks_dtype wdt, bool vectors, bool descending,
                      const vks__sytrd_host *dev, int64_t z) {
    const int n = h->n;
    const size_t nn = (size_t)n * n;
    const double *io64 = src;
    const float *io32 = src;
    double amax = 0;
    bool finite = true;
    int ex = 0;
    if (dev) /* reduced on the device (orthogonal_sytrd.c): a, d, e, tau as dsytrd leaves them */
        finite = vks__sytrd_unpack(dev, src, z, h->a, h->d, h->e, h->tau, &ex);
    else {
        for (int j = 0; j < n; ++j)
            for (int i = j; i < n; ++i) {
                const size_t k = (size_t)i * n + j;
                const double x = wdt == VKS_DTYPE_F64 ? io64[k] : (double)io32[k];
                h->a[(size_t)j * n + i] = x;
                finite = finite && isfinite(x);
                amax = fmax(amax, fabs(x));
            }
    }
    int status = 0, info = 0;
    if (!finite) {
        status = 1;
        memset(h->d, 0, (size_t)n * sizeof(double));
        if (vectors) {
            memset(h->z, 0, nn * sizeof(double));
            for (int i = 0; i < n; ++i) h->z[(size_t)i * n + i] = 1;
            memset(h->a, 0, nn * sizeof(double)); /* Y = 0: the back-transformation leaves I */
        }
        return status;
    }
    /* Scale by a power of two (exact) so that max|a| is in [0.5, 1): no overflow in the
     * reduction's norms, no underflow of tiny matrices' eigenvalues (dsyevd scales too). */
    double scale = 1;
    if (amax > 0 && !dev) {
        (void)frexp(amax, &ex);
        scale = ldexp(1.0, -ex);
        for (int j = 0; j < n; ++j)
            for (int i = j; i < n; ++i) h->a[(size_t)j * n + i] *= scale;
    }
    if (!dev) lapack.sytrd("L", &n, h->a, &n, h->d, h->e, h->tau, h->work, &h->lwork, &info, 1);
    if (vectors) lapack.stedc("I", &n, h->d, h->e, h->z, &n, h->work, &h->lwork, h->iwork, &h->liwork, &info, 1);
    else lapack.sterf(&n, h->d, h->e, &info);
    if (info != 0) status = 2;
    for (int i = 0; i < n; ++i) h->d[i] = ldexp(h->d[i], ex);
    if (descending)
        for (int i = 0, k = n - 1; i < k; ++i, --k) {
            const double t = h->d[i];
            h->d[i] = h->d[k], h->d[k] = t;
            if (vectors) /* swap columns i and k of Z */
                for (int r = 0; r < n; ++r) {
                    const double s = h->z[(size_t)i * n + r];
                    h->z[(size_t)i * n + r] = h->z[(size_t)k * n + r], h->z[(size_t)k * n + r] = s;
                }
        }
    if (!vectors) return status;
    /* T of each block (dlarft reads the reflectors below the unit diagonal), then Y explicit:
     * column k holds v_k = (0, ..., 0, 1, a[k+2.., k]) (LAPACK's uplo = 'L' storage). */
    const int nb = (int)block_width(n);
    for (int b = 0; b < (int)block_count(n); ++b) {
        const int k0 = b * nb, kb = VKS_MIN(nb, n - 1 - k0), rows = n - k0 - 1;
        lapack.larft("F", "C", &rows, &kb, h->a + (size_t)k0 * n + k0 + 1, &n, h->tau + k0, h->t + (size_t)b * nb * nb, &nb,
                     1, 1);
    }
    for (int j = 0; j < n; ++j)
        for (int i = 0; i < n; ++i) {
            double *y = &h->a[(size_t)j * n + i];
            if (j == n - 1 || i <= j + 1) *y = i == j + 1 && j < n - 1 ? 1.0 : 0.0;
        }
    return status;
}

/* Converts count doubles to the working dtype into h->io and uploads them to addr. */
static vks_status upload(vks_context *ctx, host_stage *h, vks_dtype wdt, const double *src, size_t count,
                         VkDeviceAddress addr) {
    const void *p = src;
    if (wdt == VKS_DTYPE_F32) {
        float *f = h->io;
        for (size_t i = 0; i < count; ++i) f[i] = (float)src[i];
        p = f;
    }
    return vks__buffer_write_locked(ctx->scratch, addr - ctx->scratch->address, p, count * vks__dtype_bytes(wdt));
}

/* ---- the recorder ------------------------------------------------------------------------ */

typedef struct output_push {
    uint64_t z, w, v_out, w_out;
    uint64_t status, info;
    uint64_t v_bs, w_out_bs;
    uint32_t n, v_rs, v_cs, w_s;
} output_push;
_Static_assert(sizeof(output_push) == 80, "output_push mirrors shaders/orthogonal_eigh_output.comp");

vks_status vks__orth_eigh_lapack_record(vks_context *ctx, vks_dtype wdt, orth_mat a, VkDeviceAddress w_out, int64_t w_bs,
                                        int64_t w_s, orth_mat v, VkDeviceAddress info, bool descending, orth_ws *ws,
                                        orth_eigh_report *rep, const char *fn) {
    memset(rep, 0, sizeof *rep);
    rep->first_nonfinite = rep->first_unconverged = -1;
    if (!vks__lapack_available())
        return vks__error(VKS_ERROR_UNSUPPORTED,
                          "%s: the tridiagonal eigensolver needs LAPACK (%s, Debian package liblapack3 or "
                          "libopenblas0), which could not be loaded; the Jacobi method (VKS_EIGH_JACOBI) needs none",
                          fn, VKS_LAPACK_LIBRARY);
    const int64_t n = a.rows, batch = a.batch;
    const bool vectors = v.address != 0;
    const uint64_t es = vks__dtype_bytes(wdt);
    const int64_t nb = block_width(n), nblk = block_count(n);
    const orth_mat acopy = orth_dense(vks__orth_take(ws, (uint64_t)batch * n * n * es), wdt, batch, n, n);
    const VkDeviceAddress wv = vks__orth_take(ws, (uint64_t)batch * n * es), stat = vks__orth_take(ws, 4 * (uint64_t)batch);
    VkDeviceAddress zb = 0, tb = 0, w1 = 0, w2 = 0;
    if (vectors) {
        zb = vks__orth_take(ws, (uint64_t)batch * n * n * es);
        tb = vks__orth_take(ws, (uint64_t)batch * nblk * nb * nb * es);
        w1 = vks__orth_take(ws, (uint64_t)batch * nb * n * es), w2 = vks__orth_take(ws, (uint64_t)batch * nb * n * es);
    }
    if (ws->overflow) return vks__orth_ws_check(ws, fn);
    /* 1. The lower triangle, in the working dtype, to the host; reduced first on the device
     * when the context says so (vks_tuning.eigh_reduction). */
    VKS_TRY(vks__orth_copy(ctx, ORTH_COPY_LOWER, &a, &acopy));
    const bool on_device = vks__sytrd_on_device(ctx, n);
    vks__sytrd_buffers sb;
    vks__sytrd_host dev = {0};
    if (on_device) {
        VKS_TRY(vks__sytrd_record(ctx, wdt, acopy, ws, &sb));
        if (ws->overflow) return vks__orth_ws_check(ws, fn);
    }
    host_stage h;
    VKS_TRY(host_alloc(&h, (int)n, es, vectors, fn));
    int32_t *status = vks__malloc((size_t)batch * sizeof *status);
    void *in = vks__malloc((size_t)(batch * n * n) * es);
    vks_status st = status && in ? VKS_OK : vks__error(VKS_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", fn);
    if (st == VKS_OK) st = vks__orth_ws_read(ctx, acopy.address, in, (uint64_t)(batch * n * n) * es);
    if (st == VKS_OK && on_device) st = vks__sytrd_fetch(ctx, &sb, wdt, batch, n, &dev, fn);
    /* 2. Per matrix on the host; uploads are recorded in order with the device's work. */
    for (int64_t z = 0; z < batch && st == VKS_OK; ++z) {
        status[z] = host_solve(&h, (const char *)in + (size_t)(z * n * n) * es, wdt, vectors, descending,
                               on_device ? &dev : NULL, z);
        if (status[z] == 1 && rep->first_nonfinite < 0) rep->first_nonfinite = z;
        if (status[z] == 2 && rep->first_unconverged < 0) rep->first_unconverged = z;
        st = upload(ctx, &h, wdt, h.d, (size_t)n, wv + (uint64_t)z * n * es);
        if (st == VKS_OK && vectors) st = upload(ctx, &h, wdt, h.z, (size_t)(n * n), zb + (uint64_t)z * n * n * es);
        /* Y overwrites the copy of a (read back above) */
        if (st == VKS_OK && vectors) st = upload(ctx, &h, wdt, h.a, (size_t)(n * n), acopy.address + (uint64_t)z * n * n * es);
        if (st == VKS_OK && vectors && nblk)
            st = upload(ctx, &h, wdt, h.t, (size_t)(nblk * nb * nb), tb + (uint64_t)z * nblk * nb * nb * es);
    }
    if (st == VKS_OK)
        st = vks__buffer_write_locked(ctx->scratch, stat - ctx->scratch->address, status, 4 * (uint64_t)batch);
    vks__free(status), vks__free(in);
    vks__sytrd_host_free(&dev);
    host_free(&h);
    rep->synced = true;
    /* 3. V = Q Z, the last block of reflectors first: Z_s -= Y_b (T_b (Y_b^T Z_s)) on the rows
     * below the block's first reflector. */
    for (int64_t b = nblk - 1; b >= 0 && st == VKS_OK && vectors; --b) {
        const int64_t k0 = b * nb, kb = VKS_MIN(nb, n - 1 - k0), r0 = k0 + 1, rows = n - r0;
        const orth_mat yb = {acopy.address + (uint64_t)(r0 + k0 * n) * es, wdt, batch, rows, kb, n * n, 1, n};
        const orth_mat zs = {zb + (uint64_t)r0 * es, wdt, batch, rows, n, n * n, 1, n};
        const orth_mat tm = {tb + (uint64_t)b * nb * nb * es, wdt, batch, kb, kb, nblk * nb * nb, 1, nb};
        const orth_mat m1 = {w1, wdt, batch, kb, n, nb * n, n, 1}, m2 = {w2, wdt, batch, kb, n, nb * n, n, 1};
        st = vks__orth_gemm(ctx, 1.0, orth_t(yb), zs, 0.0, m1);
        if (st == VKS_OK) st = vks__orth_gemm(ctx, 1.0, tm, m1, 0.0, m2);
        if (st == VKS_OK) st = vks__orth_gemm(ctx, -1.0, yb, m2, 1.0, zs);
    }
    if (st != VKS_OK) return st;
    output_push op = {.z = zb,
                      .w = wv,
                      .v_out = vectors ? v.address : 0,
                      .w_out = w_out,
                      .status = stat,
                      .info = info,
                      .v_bs = (uint64_t)v.batch_stride,
                      .w_out_bs = (uint64_t)w_bs,
                      .n = (uint32_t)n,
                      .v_rs = (uint32_t)v.row_stride,
                      .v_cs = (uint32_t)v.col_stride,
                      .w_s = (uint32_t)w_s};
    const vks_dtype out_dt = a.dtype;
    const vks_spec spec = {.count = 2, .values = {64, out_dt != wdt}};
    const vks_shader_id shader =
        wdt == VKS_DTYPE_F64 ? VKS_SHADER_ORTHOGONAL_EIGH_OUTPUT_F64 : VKS_SHADER_ORTHOGONAL_EIGH_OUTPUT_F32;
    return vks__dispatch(ctx, shader, &spec, &op, sizeof op, (uint32_t)VKS_CEIL_DIV(n, 64), 1, (uint32_t)batch);
}
