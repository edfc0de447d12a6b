/* vkstruct — Orthogonalization: Newton-Schulz, Polar Express, AuON, CholeskyQR2, Cholesky, eigen/SVD.
 * Include <vkstruct/vkstruct.h>; it includes this header.
 *
 * Conventions of the family
 *  - Matrices are rank-2 tensors (rows, cols) or rank-3 strided batches (batch, rows, cols),
 *    row-major or with any strides where one of the two matrix strides is 1.
 *  - dtypes: the factorizations (Cholesky, triangular solve, eigen/SVD, CholeskyQR) take f32
 *    or f64 (f64 needs VKS_FEATURE_FLOAT64); the orthogonalizing iterations (Newton-Schulz,
 *    AuON) also take f16 and bf16 (needs VKS_FEATURE_STORAGE16) and iterate in f32.
 *  - Calls that report a data-dependent failure (a matrix that is not positive definite,
 *    NaN/Inf input, no convergence) have to look at the device's result: unless told where to
 *    write that status on the device (an `info`/`status` tensor in their options), they
 *    synchronize before returning (like a read-back). With the tensor they only record work.
 *  - Only the lower triangle of a symmetric input is read.
 */
#ifndef VKSTRUCT_ORTHOGONAL_H
#define VKSTRUCT_ORTHOGONAL_H

#include "vkstruct/vkstruct.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- small dense factorizations ------------------------------------------------------- */

/* Symmetric eigendecomposition a = v * diag(w) * v^T, eigenvalues ascending, eigenvectors in
 * the columns of v. a: (n, n) or (batch, n, n), symmetric: only its lower triangle (diagonal
 * included) is read; not modified. w: (n) or (batch, n); v: same shape as a, may not alias a.
 * f32 and f64 (f64 needs shaderFloat64); w and v have a's dtype. n up to 2048 (larger works,
 * memory permitting: 4 n^2 elements of scratch per matrix).
 * Sign convention: in each eigenvector the component of largest magnitude is positive (the
 * first such component when several tie), so results are deterministic.
 * Method: block-parallel two-sided Jacobi (round-robin pairs of column blocks; each pair's
 * 2b x 2b subproblem diagonalized in one workgroup, the rotations applied with GEMMs), on
 * the matrix scaled by a power of two, iterated in f64 (also for f32 input where the device
 * has shaderFloat64; see VKS_EIGH_INPUT_PRECISION): the residual ||a v - v diag(w)||_F and
 * ||v^T v - I||_F are a few ulps of the output dtype times sqrt(n). Synchronizes once per sweep to test convergence
 * (see vks_eigh_ex for a fixed number of sweeps without synchronizing).
 * Errors: VKS_ERROR_NON_FINITE (a holds NaN/Inf; names the batch index; that matrix's w and v
 * are set to 0 and I), VKS_ERROR_NOT_CONVERGED (after max sweeps; results are the last
 * iterate). */
typedef vks_status vks_eigh_fn(vks_context *ctx, const vks_tensor *a, const vks_tensor *w, const vks_tensor *v);
VKS_API vks_eigh_fn vks_eigh;

/* Cholesky a = l * l^T, l lower triangular with zeros above the diagonal; a (n, n) or
 * (batch, n, n), only its lower triangle read, not modified, unless l is the very same tensor
 * as a (same buffer, offset and strides): in-place factorization is supported. l may not
 * partially overlap a. f32/f64, n up to 2048 (and beyond). Blocked right-looking algorithm:
 * each diagonal block factored in one workgroup, the panel and the trailing update by GEMM
 * and SYRK kernels.
 * Not positive definite -> VKS_ERROR_NOT_POSITIVE_DEFINITE naming the batch index and the
 * failing pivot (0-based: the leading (p+1) x (p+1) minor is not positive definite); that
 * matrix's l then holds the factor's first p columns and zeros elsewhere — never NaNs.
 * NaN/Inf in the lower triangle -> VKS_ERROR_NON_FINITE, that matrix's l set to 0.
 * Synchronizes to read the status (vks_cholesky_ex with an info tensor does not). */
typedef vks_status vks_cholesky_fn(vks_context *ctx, const vks_tensor *a, const vks_tensor *l);
VKS_API vks_cholesky_fn vks_cholesky;

/* Triangular solve with a lower-triangular l: x = l^{-1} b (VKS_NO_TRANS) or l^{-T} b
 * (VKS_TRANS); l (n, n) or (batch, n, n) (its strict upper triangle is not read; a rank-2 l
 * serves every batch entry of b), b, x: (n, k) or (batch, n, k); x may equal b (in place;
 * any other overlap is an error). f32/f64. A zero on l's diagonal gives Inf/NaN, as in BLAS:
 * l from vks_cholesky never has one. Blocked: the diagonal blocks are inverted in one kernel,
 * the rest is GEMMs. */
typedef vks_status vks_trsm_fn(vks_context *ctx, vks_transpose trans, const vks_tensor *l, const vks_tensor *b,
                               const vks_tensor *x);
VKS_API vks_trsm_fn vks_trsm;

enum {
    /* Iterate in the input's precision: f32 input is otherwise iterated in f64 where the
     * device has shaderFloat64 (about 2x the time on datacenter GPUs, far more where f64 is
     * slow; f32 iteration leaves errors of ~1e-4 ||a||_F at n = 200 instead of ~1e-7). */
    VKS_EIGH_INPUT_PRECISION = 1u << 0
};

typedef struct vks_eigh_options {
    size_t struct_size; /* sizeof(vks_eigh_options) */
    uint32_t flags;     /* VKS_EIGH_* */
    /* 0: sweep until converged (synchronizing after each sweep), at most max_sweeps.
     * > 0: exactly this many sweeps, recorded without synchronizing (no convergence check;
     * 10 (f32) / 14 (f64) is enough for n <= 2048 in practice). */
    int32_t fixed_sweeps;
    int32_t max_sweeps; /* 0: 30 */
    /* Optional i32 tensor (batch) (or (1) unbatched) written on the device: 0 ok, 1 a holds
     * NaN/Inf, 2 not converged (only with fixed_sweeps == 0). With it, the call does not
     * return VKS_ERROR_NON_FINITE / NOT_CONVERGED itself. */
    const vks_tensor *info;
} vks_eigh_options;

#define VKS_EIGH_OPTIONS_INIT {sizeof(vks_eigh_options), 0u, 0, 0, NULL}

typedef vks_status vks_eigh_ex_fn(vks_context *ctx, const vks_tensor *a, const vks_tensor *w, const vks_tensor *v,
                                  const vks_eigh_options *options);
/* vks_eigh with options (options may be NULL: the defaults). */
VKS_API vks_eigh_ex_fn vks_eigh_ex;

typedef struct vks_cholesky_options {
    size_t struct_size; /* sizeof(vks_cholesky_options) */
    /* Optional i32 tensor (batch) (or (1)) written on the device instead of synchronizing:
     * -1 success, p >= 0 the first failing pivot, -2 NaN/Inf in the input. The call then
     * returns VKS_OK once the work is recorded. */
    const vks_tensor *info;
} vks_cholesky_options;

#define VKS_CHOLESKY_OPTIONS_INIT {sizeof(vks_cholesky_options), NULL}

typedef vks_status vks_cholesky_ex_fn(vks_context *ctx, const vks_tensor *a, const vks_tensor *l,
                                      const vks_cholesky_options *options);
VKS_API vks_cholesky_ex_fn vks_cholesky_ex;

/* Functions of this family, in ABI order (append only). */
#define VKS_ORTHOGONAL_FUNCTIONS(X)                                                      \
    X(vks_eigh)                                                                          \
    X(vks_cholesky)                                                                      \
    X(vks_trsm)                                                                          \
    X(vks_eigh_ex)                                                                       \
    X(vks_cholesky_ex)

#ifdef __cplusplus
}
#endif

#endif /* VKSTRUCT_ORTHOGONAL_H */
