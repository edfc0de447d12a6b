/*
 * Private to the orthogonalization family (backend/ops/orthogonal_*.c): recorders that the
 * public entry points compose (Cholesky inside CholeskyQR, the Jacobi eigensolver inside the
 * SVD, SYRK inside Newton-Schulz), with their workspace passed in explicitly.
 *
 * Workspace: a public entry point asks vks__scratch once for everything its recorders need
 * (they report their needs through *_ws_bytes) and carves it with vks__orth_take. Recorders never
 * call vks__scratch or public functions that do: the scratch region is shared by every op,
 * and growing it midway would retire the region the outer op still uses.
 */
#ifndef VKS_ORTHOGONAL_INTERNAL_H
#define VKS_ORTHOGONAL_INTERNAL_H

#include "internal.h"

/* A strided batch of matrices: element (i, j) of matrix z at addr + (z*bs + i*rs + j*cs)
 * elements (vks_matrix of internal.h, whose fields we fill by hand for sub-views). */
typedef vks_matrix orth_mat;

static inline orth_mat orth_sub(orth_mat m, int64_t i0, int64_t j0, int64_t rows, int64_t cols) {
    m.address += (uint64_t)(i0 * m.row_stride + j0 * m.col_stride) * vks__dtype_bytes(m.dtype);
    m.rows = rows;
    m.cols = cols;
    return m;
}
static inline orth_mat orth_t(orth_mat m) {
    int64_t r = m.rows, rs = m.row_stride;
    m.rows = m.cols, m.row_stride = m.col_stride;
    m.cols = r, m.col_stride = rs;
    return m;
}
/* A compact row-major batch at addr. */
static inline orth_mat orth_dense(VkDeviceAddress addr, vks_dtype dt, int64_t batch, int64_t rows, int64_t cols) {
    orth_mat m = {addr, dt, batch, rows, cols, rows * cols, cols, 1};
    return m;
}

/* ---- workspace ---------------------------------------------------------------------------- */

typedef struct orth_ws {
    VkDeviceAddress base;
    uint64_t used, size;
    bool overflow; /* a recorder took more than was sized: a bug, reported by vks__orth_ws_check */
} orth_ws;

static inline uint64_t orth_round(uint64_t bytes) { return (bytes + 255) / 256 * 256; }
/* The next `bytes` of the workspace (256-byte aligned; callers sized it). */
VkDeviceAddress vks__orth_take(orth_ws *ws, uint64_t bytes);
/* VKS_OK, or an internal error when the sizes did not add up (vks__orth_take then handed out the
 * region's start again rather than memory past its end). */
vks_status vks__orth_ws_check(const orth_ws *ws, const char *fn);
/* Gets the scratch region of `bytes` for the op being recorded. */
vks_status vks__orth_ws_begin(vks_context *ctx, uint64_t bytes, orth_ws *ws);
/* Fill / read back a range of the scratch region (addr from vks__orth_take). Reading flushes. */
vks_status vks__orth_ws_fill(vks_context *ctx, VkDeviceAddress addr, uint64_t bytes, uint32_t pattern);
vks_status vks__orth_ws_read(vks_context *ctx, VkDeviceAddress addr, void *dst, uint64_t bytes);

/* ---- argument checks shared by the family ------------------------------------------------ */

/* vks__matrix_view with the family's limits: at most maxComputeWorkGroupCount[2] matrices, a
 * batch stride that is not 0 over several matrices, the 32-bit span (vks__check_matrix_span). */
vks_status vks__orth_view(vks_context *ctx, const vks_tensor *t, const char *fn, const char *arg, orth_mat *m);
/* vks__orth_view for a matrix the op writes: its rows must not overlap (vks__check_output_matrix). */
vks_status vks__orth_out_view(vks_context *ctx, const vks_tensor *t, const char *fn, const char *arg, orth_mat *m);
/* An optional i32 status tensor of `count` elements (contiguous). */
vks_status vks__orth_check_info(vks_context *ctx, const vks_tensor *t, int64_t count, const char *fn, const char *arg);
/* The rest is tensor.c's vocabulary: vks__check_no_alias, vks__check_output_vector,
 * vks__check_matrix_span, vks__same_view. */

/* ---- recorders ------------------------------------------------------------------------------ */

/* dst = src (MODE 0), lower(src) (1), zero dst's strict upper triangle (2), dst = I (3);
 * src and dst may be one f32 and one f64 (a converting copy; needs shaderFloat64). */
enum { ORTH_COPY = 0, ORTH_COPY_LOWER = 1, ORTH_ZERO_UPPER = 2, ORTH_IDENTITY = 3 };
vks_status vks__orth_copy(vks_context *ctx, int mode, const orth_mat *src, const orth_mat *dst);

/* C = alpha * A * B + beta * C on views (transposes are views: orth_t); batch from C, a
 * batch stride of 0 broadcasts A or B. C may be row- or column-major. */
vks_status vks__orth_gemm(vks_context *ctx, double alpha, orth_mat a, orth_mat b, double beta, orth_mat c);

/* cout = alpha * S S^T + beta * cin + gamma * I for an n x k view S (a transposed view,
 * orth_t, gives S^T S): the lower triangle, and the upper too when mirror. cin may be cout. */
typedef struct orth_syrk_args {
    orth_mat s;     /* n x k, either stride 1 */
    orth_mat cin;   /* read when beta != 0 */
    orth_mat cout;  /* n x n, unit column stride */
    double alpha, beta, gamma;
    bool mirror;
} orth_syrk_args;
vks_status vks__orth_syrk(vks_context *ctx, const orth_syrk_args *a);

/* Blocked Cholesky of a (batch x n x n, lower triangle read) into l (may be a itself).
 * status: 2 ints per matrix in the workspace (first failing pivot or -1; NaN/Inf flag);
 * info: 0 or an i32 device array that receives -1 / pivot / -2 per matrix. */
uint64_t vks__orth_cholesky_ws_bytes(const vks_context *ctx, vks_dtype dt, int64_t batch, int64_t n);
vks_status vks__orth_cholesky_record(vks_context *ctx, orth_mat a, orth_mat l, VkDeviceAddress status,
                                VkDeviceAddress info, orth_ws *ws);

/* The triangular solves' diagonal block (64, or 32 on CPU devices' kernels and small shared
 * memory; orthogonal_trsm.c). */
uint32_t vks__orth_block_size(const vks_context *ctx, vks_dtype dt);

/* The f32 or f64 variant of a shader, by the working dtype. */
static inline vks_shader_id vks__orth_pick(vks_dtype dt, vks_shader_id f32, vks_shader_id f64) {
    return dt == VKS_DTYPE_F64 ? f64 : f32;
}
/* x = l^{-1} b or l^{-T} b in one dispatch, a column of b per invocation; l's order <= maxn,
 * the kernel's register array (specialization); x may be b. */
vks_status vks__orth_trsm_small(vks_context *ctx, bool trans, orth_mat l, orth_mat b, orth_mat x, uint32_t maxn);

/* x = l^{-1} b or l^{-T} b (l's batch stride 0 broadcasts); x may be b. */
uint64_t vks__orth_trsm_ws_bytes(const vks_context *ctx, vks_dtype dt, int64_t batch, int64_t n, int64_t k);
vks_status vks__orth_trsm_record(vks_context *ctx, bool trans, orth_mat l, orth_mat b, orth_mat x, orth_ws *ws);

/* Jacobi eigensolver: w (eigenvalues ascending, element (z, i) at w + (z*w_bs + i*w_s)*es),
 * v (eigenvectors in columns). fixed_sweeps > 0: that many sweeps, no synchronization;
 * else sweeps until converged (at most max_sweeps, 0: 30), reading flags after each. */
typedef struct orth_eigh_report {
    int sweeps;
    bool synced;                /* flags were read: the two fields below are valid */
    int64_t first_nonfinite;    /* -1: none */
    int64_t first_unconverged;  /* -1: none */
} orth_eigh_report;
/* The working precision: f64 for f32 input where the device has it (unless flags say
 * VKS_EIGH_INPUT_PRECISION). `work` of the record and of the workspace size. */
vks_dtype vks__orth_eigh_work_dtype(const vks_context *ctx, vks_dtype dt, uint32_t flags);
uint64_t vks__orth_eigh_ws_bytes(const vks_context *ctx, vks_dtype work, int64_t batch, int64_t n);
vks_status vks__orth_eigh_record(vks_context *ctx, vks_dtype work, orth_mat a, VkDeviceAddress w, int64_t w_bs, int64_t w_s,
                            orth_mat v, VkDeviceAddress info, int fixed_sweeps, int max_sweeps, bool descending,
                            orth_ws *ws, orth_eigh_report *rep);

/* ---- the eigensolver every family calls ------------------------------------------------ */

/* The system's LAPACK (loaded once, at the first call; orthogonal_eigh_lapack.c). */
bool vks__lapack_available(void);
const char *vks__lapack_library_name(void);
/* Host eigendecomposition of one small symmetric matrix (column-major n x n, lower triangle
 * read; a receives the eigenvectors, w the eigenvalues ascending): dsyevd. For the per-block
 * problems of other families that are read back anyway (Monarch projection). */
vks_status vks__host_syevd(int n, double *a, double *w, const char *fn);
/* The tridiagonal path alone: v.address 0 for eigenvalues only; synchronizes once. */
uint64_t vks__orth_eigh_lapack_ws_bytes(vks_dtype work, int64_t batch, int64_t n, bool vectors);
vks_status vks__orth_eigh_lapack_record(vks_context *ctx, vks_dtype work, orth_mat a, VkDeviceAddress w, int64_t w_bs,
                                        int64_t w_s, orth_mat v, VkDeviceAddress info, bool descending, orth_ws *ws,
                                        orth_eigh_report *rep, const char *fn);

/* Step 1 of the tridiagonal path on the device (orthogonal_sytrd.c): the blocked Householder
 * tridiagonalization of the dense batch a (n x n, row-major, working dtype, lower triangle
 * read) in place, as dsytrd (uplo = 'L') leaves it after an exact power-of-two scaling.
 * vks__sytrd_on_device: the context's choice (vks_tuning.eigh_reduction). */
bool vks__sytrd_on_device(const vks_context *ctx, int64_t n);
uint64_t vks__sytrd_ws_bytes(vks_dtype work, int64_t batch, int64_t n);
typedef struct vks__sytrd_buffers {
    VkDeviceAddress w, aux, flags; /* taken from the workspace by vks__sytrd_record */
} vks__sytrd_buffers;
vks_status vks__sytrd_record(vks_context *ctx, vks_dtype work, orth_mat a, orth_ws *ws, vks__sytrd_buffers *out);
/* After the read-back of a: tau and the flags read back too (synchronizes). */
typedef struct vks__sytrd_host {
    vks_dtype wdt;
    int64_t n;
    void *aux;      /* tau per matrix (and the kernels' scratch) */
    int32_t *flags; /* per matrix: NaN/Inf in the input, the scaling exponent */
} vks__sytrd_host;
vks_status vks__sytrd_fetch(vks_context *ctx, const vks__sytrd_buffers *b, vks_dtype work, int64_t batch, int64_t n,
                            vks__sytrd_host *h, const char *fn);
void vks__sytrd_host_free(vks__sytrd_host *h);
/* Matrix z (mat: its read-back n x n in the working dtype) as dsytrd leaves it: a (column-major,
 * the reflectors below the diagonal), d, e, tau, and the exponent e with A = 2^e (what was
 * reduced). false: the input held NaN/Inf (nothing written but the exponent). */
bool vks__sytrd_unpack(const vks__sytrd_host *h, const void *mat, int64_t z, double *a, double *d, double *e,
                       double *tau, int *exponent);

/* An eigendecomposition as the families ask for it: work from vks__orth_eigh_work_dtype;
 * v.address 0: eigenvalues only; method VKS_EIGH_AUTO resolved by vks__eigh_method. */
typedef struct vks__eigh_args {
    vks_dtype work;
    vks_eigh_method method; /* resolved: JACOBI or TRIDIAGONAL */
    orth_mat a, v;
    VkDeviceAddress w;
    int64_t w_bs, w_s;
    VkDeviceAddress info;
    int fixed_sweeps, max_sweeps; /* Jacobi's */
    bool descending;
    const char *fn; /* the public function, for messages */
} vks__eigh_args;
/* AUTO -> Jacobi where LAPACK is missing, during external recording, with fixed sweeps, and
 * on GPU kernels for batches of matrices that fit one Jacobi workgroup; else TRIDIAGONAL. */
vks_eigh_method vks__eigh_method(const vks_context *ctx, vks_eigh_method requested, vks_dtype work, int64_t batch,
                                 int64_t n, int fixed_sweeps);
uint64_t vks__eigh_ws_bytes(const vks_context *ctx, const vks__eigh_args *args);
/* Records it into the caller's workspace (sized with vks__eigh_ws_bytes); the SVD's way in. */
vks_status vks__orth_eigh_run(vks_context *ctx, const vks__eigh_args *args, orth_ws *ws, orth_eigh_report *rep);

/* CholeskyQR2 of x (batch x m x n, working dtype) into q (may be in the workspace or the
 * caller's, same dtype); status: 16 bytes per matrix (two Choleskys) in the workspace. */
uint64_t vks__orth_cholqr2_ws_bytes(const vks_context *ctx, vks_dtype wdt, int64_t batch, int64_t m, int64_t n);
vks_status vks__orth_cholqr2_record(vks_context *ctx, orth_mat x, orth_mat q, VkDeviceAddress status, orth_ws *ws);

/* ---- recorders other families compose through (each inside or outside an op region: it
 * opens its own, nested one, so its workspace is given back when it returns) ---------------- */

/* vks_eigh_ex on validated views: w's element (z, i) at w + (z*w_bs + i*w_s)*es; v.address 0:
 * eigenvalues only; o->method picks the method (AUTO: vks__eigh_method's rule, the tridiagonal
 * one on CPU devices). info 0: the first non-finite or unconverged matrix is an error naming
 * fn and arg. */
vks_status vks__eigh_record(vks_context *ctx, orth_mat a, VkDeviceAddress w, int64_t w_bs, int64_t w_s, orth_mat v,
                            VkDeviceAddress info, const vks_eigh_options *o, const char *fn, const char *arg);
/* vks_cholesky_ex on validated views (l may be a); info 0: a failed factorization is an error. */
vks_status vks__cholesky_record(vks_context *ctx, orth_mat a, orth_mat l, VkDeviceAddress info, const char *fn);
/* vks_trsm on validated views (x may be b; l's batch stride 0 broadcasts). */
vks_status vks__trsm_record(vks_context *ctx, bool trans, orth_mat l, orth_mat b, orth_mat x, const char *fn);

#endif /* VKS_ORTHOGONAL_INTERNAL_H */
