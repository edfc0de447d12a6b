/* vkstruct — Orthogonalization: Newton-Schulz, Polar Express, AuON, CholeskyQR2, Cholesky, eigen/SVD.
 * Include <vkstruct/vkstruct.h>; it includes this header.
 *
 * Conventions of the family
 *  - Matrices are rank-2 tensors (rows, cols) or rank-3 strided batches (batch, rows, cols),
 *    row-major or with any strides where one of the two matrix strides is 1.
 *  - dtypes: the factorizations (Cholesky, triangular solve, eigen/SVD, CholeskyQR) take f32
 *    or f64 (f64 needs VKS_FEATURE_FLOAT64); the orthogonalizing iterations (Newton-Schulz,
 *    AuON) also take f16 and bf16 (needs VKS_FEATURE_STORAGE16) and iterate in f32 (Newton-
 *    Schulz: in f16 on tensor cores where the device has them, see VKS_NS_NO_TENSOR_CORES).
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
 * included) is read; not modified. w: (n) or (batch, n); v: same shape as a, may not alias a,
 * or NULL: eigenvalues only (the eigenvectors are not computed).
 * f32 and f64 (f64 needs shaderFloat64); w and v have a's dtype. n up to 4096 and beyond,
 * memory permitting.
 * Method (vks_eigh_options.method): by default LAPACK's pipeline, VKS_EIGH_TRIDIAGONAL below
 * (residual ||a v - v diag(w)|| / ||a|| and ||v^T v - I|| a small multiple of n u, as LAPACK),
 * and Jacobi for batches of small matrices on GPUs and where LAPACK is not available. Both are
 * computed in f64 also for f32 input where the device has shaderFloat64.
 * Sign convention: in each eigenvector the component of largest magnitude is positive (the
 * first such component when several tie), so results are deterministic.
 * Jacobi: block-parallel two-sided Jacobi (round-robin pairs of column blocks; each pair's
 * 2b x 2b subproblem diagonalized in one workgroup, the rotations applied with GEMMs), on
 * the matrix scaled by a power of two, iterated in f64 (also for f32 input where the device
 * has shaderFloat64; see VKS_EIGH_INPUT_PRECISION). f32 results: the residual
 * ||a v - v diag(w)||_F / ||a||_F and ||v^T v - I||_F are a few f32 ulps times sqrt(n); f64
 * results ~1e-13 at n = 100 (the GEMM updates' rounding accumulates over the rounds: ~1e-11
 * at n = 2048). Synchronizes once per sweep to test convergence (see vks_eigh_ex for a fixed
 * number of sweeps without synchronizing).
 * Errors: VKS_ERROR_NON_FINITE (a holds NaN/Inf; names the batch index; that matrix's w and v
 * are set to 0 and I), VKS_ERROR_NOT_CONVERGED (Jacobi after max sweeps, or dstedc failing;
 * results are the last iterate), VKS_ERROR_UNSUPPORTED (VKS_EIGH_TRIDIAGONAL asked for
 * without LAPACK), VKS_ERROR_OUT_OF_HOST_MEMORY (the host stage's buffers). */
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

typedef enum vks_eigh_method {
    VKS_EIGH_AUTO = 0,
    /* Block-parallel two-sided Jacobi on the device (fixed_sweeps / max_sweeps apply). */
    VKS_EIGH_JACOBI = 1,
    /* LAPACK's pipeline (dsyevd's): Householder tridiagonalization (dsytrd) and the
     * tridiagonal eigenproblem (dstedc; dsterf for eigenvalues only) on the host with the
     * system's LAPACK (liblapack.so.3, loaded at run time), the back-transformation V = Q Z on
     * the device as GEMMs (compact-WY blocks of reflectors). Synchronizes once. Without
     * LAPACK: VKS_ERROR_UNSUPPORTED naming the library. */
    VKS_EIGH_TRIDIAGONAL = 2
} vks_eigh_method;

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
    /* VKS_EIGH_AUTO (default): the tridiagonal (LAPACK) method; Jacobi where LAPACK cannot be
     * loaded, during external recording, with fixed_sweeps > 0, and on GPUs for batches of
     * matrices small enough for one Jacobi workgroup each (on lavapipe the tridiagonal
     * method measured faster at every size and batch). */
    vks_eigh_method method;
} vks_eigh_options;

#define VKS_EIGH_OPTIONS_INIT {sizeof(vks_eigh_options), 0u, 0, 0, NULL, VKS_EIGH_AUTO}

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

/* ---- orthogonalizing iterations (Muon and its relatives) --------------------------------- */

/* Coefficient schedules of the Newton-Schulz polar iteration X <- a X + b (X X^T) X + c (X X^T)^2 X
 * (REFERENCE: Muon's zeropower_via_newtonschulz5, Polar Express). */
typedef enum vks_ns_schedule {
    VKS_NS_MUON = 0,          /* (3.4445, -4.7750, 2.0315) each step; default 5 steps. Singular values
                               * end in ~[0.7, 1.2] by design, not at 1 */
    VKS_NS_POLAR_EXPRESS = 1, /* Amsel et al. 2025: a minimax quintic per step, the paper's list of 8;
                               * step t uses entry min(t, 7): the safety factor 1.01 (a/1.01,
                               * b/1.01^3, c/1.01^5) on the first 7 entries, the 8th (1.875, -1.25,
                               * 0.375) unscaled and repeated; norm_factor 1.01; default 5 */
    VKS_NS_CUBIC = 2,         /* (1.5, -0.5, 0): the classical Newton-Schulz iteration; default 18 */
    VKS_NS_QUINTIC = 3,       /* (15/8, -10/8, 3/8): the classical quintic; default 12 */
    VKS_NS_CUSTOM = 4         /* options->coefficients: steps x (a, b, c) */
} vks_ns_schedule;

typedef enum vks_ns_gram {
    VKS_NS_GRAM_AUTO = 0, /* Gram-NS when the aspect ratio max/min >= 4 */
    VKS_NS_GRAM_OFF = 1,
    VKS_NS_GRAM_ON = 2
} vks_ns_gram;

typedef struct vks_newton_schulz_options {
    size_t struct_size;          /* sizeof(vks_newton_schulz_options) */
    vks_ns_schedule schedule;
    int32_t steps;               /* 0: the schedule's default; 1..100 */
    const double *coefficients;  /* VKS_NS_CUSTOM: 3 * steps values a, b, c (read during the call) */
    /* X0 = G / (norm_factor * ||G||_F + eps). norm_factor 0: the schedule's (1.01 for Polar
     * Express, else 1). eps default 0: the norm is computed with scaling, so the result is the
     * same for ||G||_F = 1e-30 as for 1 (the peers add 1e-7, which silently stops orthogonalizing
     * tiny gradients: NeMo #229); set eps = 1e-7 to reproduce them exactly. */
    double norm_factor;
    double eps;
    /* Gram Newton-Schulz for wide-or-tall matrices: iterates on the small Gram matrix
     * R = X X^T (m x m): Q <- p(R) Q, R <- p(R)^2 R, X = Q X0 at the end, restarting from
     * X = Q X0 after gram_restart steps (0: 2) to keep rounding in check. */
    vks_ns_gram gram;
    int32_t gram_restart;
    /* Optional i32 tensor, one per matrix: 0, or 1 when that input held NaN/Inf (its output is
     * then 0). With it the call only records work; without it a NaN/Inf input makes the call
     * synchronize and return VKS_ERROR_NON_FINITE naming the matrix. */
    const vks_tensor *status;
    uint32_t flags; /* VKS_NS_* below */
} vks_newton_schulz_options;

enum {
    /* f16/bf16 input is iterated on tensor cores (f16 working copies, f32 accumulation; the
     * plain iteration, no Gram-NS) where the device has VK_NV_cooperative_matrix; this flag
     * keeps the portable f32 iteration instead. */
    VKS_NS_NO_TENSOR_CORES = 1u << 0,
    /* f16/bf16 input iterated in f16 working copies (f32 accumulation) also without tensor
     * cores: the tensor-core path's precision with the portable kernels. */
    VKS_NS_HALF_WORK = 1u << 1
};

#define VKS_NEWTON_SCHULZ_OPTIONS_INIT                                                                       \
    {sizeof(vks_newton_schulz_options), VKS_NS_MUON, 0, NULL, 0.0, 0.0, VKS_NS_GRAM_AUTO, 0, NULL, 0u}

/* out = the Newton-Schulz orthogonalization of g: g (m, n) or (batch, m, n), out the same shape
 * (out may be g itself; any other overlap is an error). A tall matrix (m > n) is iterated as its
 * transpose (X X^T is then n x n) and transposed back. dtypes f32, f16, bf16 (iterated in f32)
 * and f64. X X^T and the polynomial b A + c A^2 + a I use a symmetric (SYRK) kernel that computes
 * half of the output, with the polynomial in its epilogue: 3 passes per step. options may be
 * NULL (Muon, 5 steps). */
typedef vks_status vks_newton_schulz_fn(vks_context *ctx, const vks_tensor *g, const vks_tensor *out,
                                        const vks_newton_schulz_options *options);
VKS_API vks_newton_schulz_fn vks_newton_schulz;

/* The same for a list of matrices of any shapes (one optimizer step over all layers): g[i] ->
 * out[i], i < count, all of one dtype; each may be rank 2 or 3. Matrices of one shape (after
 * transposing the tall ones) are iterated together as one batch; status (if given) has one
 * entry per matrix in list order, a rank-3 entry counting as its batch. */
typedef vks_status vks_newton_schulz_grouped_fn(vks_context *ctx, uint32_t count, const vks_tensor *g,
                                                const vks_tensor *out, const vks_newton_schulz_options *options);
VKS_API vks_newton_schulz_grouped_fn vks_newton_schulz_grouped;

/* The (a, b, c) a schedule applies at each of `steps` steps (0: its default), safety factors
 * included: abc[3 t + 0..2] for step t; *count (optional) = the number of steps. */
typedef vks_status vks_newton_schulz_coefficients_fn(vks_ns_schedule schedule, int32_t steps, double *abc,
                                                     int32_t capacity_steps, int32_t *count);
VKS_API vks_newton_schulz_coefficients_fn vks_newton_schulz_coefficients;

/* AuON (REFERENCE: Orthogonalization): Ghat = G / (||G||_F + eps), r = sqrt(mean(cosh(gamma Ghat)^2)),
 *   VKS_AUON_CODE:  update = G / (r + 1e-8)     (the public code)
 *   VKS_AUON_PAPER: update = Ghat / (r + 1e-8)  (the paper, section 3.1: the normalised U).
 * Hybrid-AuON: ns_steps > 0 Muon Newton-Schulz steps first (paper: 1, code: 5), then the same
 * scaling applied to their result. */
typedef enum vks_auon_variant { VKS_AUON_CODE = 0, VKS_AUON_PAPER = 1 } vks_auon_variant;

typedef struct vks_auon_options {
    size_t struct_size; /* sizeof(vks_auon_options) */
    vks_auon_variant variant;
    double gamma;     /* 0: 1.5 */
    double eps;       /* the normalisation's; default 0 (scale-invariant, see Newton-Schulz); peers 1e-7 */
    int32_t ns_steps; /* Hybrid-AuON: 0 plain AuON */
    const vks_tensor *status; /* as vks_newton_schulz_options.status */
} vks_auon_options;

#define VKS_AUON_OPTIONS_INIT {sizeof(vks_auon_options), VKS_AUON_CODE, 0.0, 0.0, 0, NULL}

/* out = AuON(g), shapes and dtypes as vks_newton_schulz (out may be g). The cosh is evaluated in f32. */
typedef vks_status vks_auon_fn(vks_context *ctx, const vks_tensor *g, const vks_tensor *out,
                               const vks_auon_options *options);
VKS_API vks_auon_fn vks_auon;

typedef vks_status vks_auon_grouped_fn(vks_context *ctx, uint32_t count, const vks_tensor *g, const vks_tensor *out,
                                       const vks_auon_options *options);
VKS_API vks_auon_grouped_fn vks_auon_grouped;

/* Symmetric rank-k update: c = alpha * op(a) op(a)^T + beta * c, op(a) = a (n x k) or a^T
 * (VKS_TRANS: a is k x n), computing the lower triangle only (half a GEMM; beta * c reads c's
 * lower triangle) and, with `mirror`, storing it to the upper triangle too (else the strict
 * upper triangle of c is left as it was).
 * a: rank 2 or 3; c: (n, n) or (batch, n, n), unit column stride, must not overlap a; with
 * beta == 0 c is not read. f32 or f64. */
typedef vks_status vks_syrk_fn(vks_context *ctx, vks_transpose trans, double alpha, const vks_tensor *a, double beta,
                               const vks_tensor *c, int32_t mirror);
VKS_API vks_syrk_fn vks_syrk;

/* ---- CholeskyQR ---------------------------------------------------------------------------- */

typedef enum vks_cholqr_mode {
    /* CholeskyQR2, falling back when the first Cholesky fails or its factor's diagonal says
     * kappa(a) is beyond CholeskyQR2's reach (~u^-1/2: 4e3 in f32, 1e8 in f64): f32 input on a
     * device with shaderFloat64 is then factored in f64 working precision (as with
     * VKS_CHOLQR_F64_WORK: CholeskyQR2 to kappa ~1e8, shifted CholeskyQR3 to ~1e15; the output
     * stays f32); otherwise shifted CholeskyQR3 in the working precision (f32: kappa to ~3e4).
     * Synchronizes once to decide. A remaining failure's message says what to do. */
    VKS_CHOLQR_AUTO = 0,
    VKS_CHOLQR_2 = 1,          /* R = chol(A^T A)^T, Q = A R^-1, twice: ||Q^T Q - I|| = O(u) for kappa <~ u^-1/2 */
    VKS_CHOLQR_SHIFTED_3 = 2   /* a first pass on A^T A + s I (Fukaya et al. 2020), then CholeskyQR2 */
} vks_cholqr_mode;

enum {
    /* f32 input factored in f64 where the device has shaderFloat64 (kappa up to ~1e8 with
     * CholeskyQR2, ~1e15 shifted); the output stays f32. */
    VKS_CHOLQR_F64_WORK = 1u << 0
};

typedef struct vks_cholqr_options {
    size_t struct_size; /* sizeof(vks_cholqr_options) */
    vks_cholqr_mode mode;
    uint32_t flags;     /* VKS_CHOLQR_* */
    /* Optional: receives max over the batch of ||Q^T Q - I||_F, measured on the device (in
     * the working precision) after the call; asking for it synchronizes. */
    double *orth_error;
    /* Optional: receives 1 when AUTO chose the shifted variant, else 0. */
    int32_t *shifted;
    /* Optional i32 tensor (batch): -1 success, p >= 0 a Cholesky pivot failed (rank-deficient
     * or too ill-conditioned), -2 NaN/Inf. With it and mode != AUTO the call does not
     * synchronize (and does not report those failures itself). */
    const vks_tensor *info;
} vks_cholqr_options;

#define VKS_CHOLQR_OPTIONS_INIT {sizeof(vks_cholqr_options), VKS_CHOLQR_AUTO, 0u, NULL, NULL, NULL}

/* a = q r for a tall matrix a (m, n), m >= n, or a batch (batch, m, n): q (same shape as a,
 * orthonormal columns; may be a itself), r (n, n) / (batch, n, n) upper triangular with a
 * positive diagonal (NULL: not wanted). f32/f64. Made for tall-skinny matrices (n <= 512);
 * works for any n <= m. Errors: VKS_ERROR_NOT_POSITIVE_DEFINITE when a is (numerically)
 * rank-deficient even for the shifted variant, VKS_ERROR_NON_FINITE for NaN/Inf. */
typedef vks_status vks_cholqr_fn(vks_context *ctx, const vks_tensor *a, const vks_tensor *q, const vks_tensor *r,
                                 const vks_cholqr_options *options);
VKS_API vks_cholqr_fn vks_cholqr;

/* ---- SVD ------------------------------------------------------------------------------------ */

/* Thin SVD a = u diag(s) vh of a (m, n) or (batch, m, n), torch.linalg.svd(full_matrices=False)'s
 * convention: k = min(m, n), s (k) / (batch, k) descending, u (m, k), vh (k, n) (each may be NULL:
 * not wanted). Small and tall (or wide) matrices, min(m, n) up to 4096: the Gram matrix of the
 * short side, G = a^T a, goes through vks_eigh's solver (the tridiagonal one, or Jacobi for
 * batches of small matrices; f64 working precision also for f32 where the device has it),
 * B = a V gives s = ||B[:, j]|| and u = B / s orthonormalized by CholeskyQR2 (columns of zero
 * singular values completed to an orthonormal basis; rank-deficient and rank-1 inputs are
 * supported: where the rounding noise of a makes such columns dependent, every column below
 * sqrt(u_w) s_0 — the Gram matrix's resolution — is completed instead). Accuracy:
 * absolute errors of ~u_w ||a||_2 in s for the large values and ~u_w ||a||^2 / s_j in the
 * vectors of s_j (u_w the working precision's unit roundoff), as for any Gram-based method.
 * Synchronizes (the eigensolver tests convergence). Errors as vks_eigh. */
typedef vks_status vks_svd_fn(vks_context *ctx, const vks_tensor *a, const vks_tensor *u, const vks_tensor *s,
                              const vks_tensor *vh);
VKS_API vks_svd_fn vks_svd;

/* Functions of this family (membership only: the plugin table's order is
 * VKS_PLUGIN_FUNCTIONS in plugin.h, where a new function is appended too). */
#define VKS_ORTHOGONAL_FUNCTIONS(X)                                                      \
    X(vks_eigh)                                                                          \
    X(vks_cholesky)                                                                      \
    X(vks_trsm)                                                                          \
    X(vks_eigh_ex)                                                                       \
    X(vks_cholesky_ex)                                                                   \
    X(vks_newton_schulz)                                                                 \
    X(vks_newton_schulz_grouped)                                                         \
    X(vks_newton_schulz_coefficients)                                                    \
    X(vks_auon)                                                                          \
    X(vks_auon_grouped)                                                                  \
    X(vks_syrk)                                                                          \
    X(vks_cholqr)                                                                        \
    X(vks_svd)

#ifdef __cplusplus
}
#endif

#endif /* VKSTRUCT_ORTHOGONAL_H */
