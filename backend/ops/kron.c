/*
 * Kronecker products on grids: (op(A_1) ⊗ ... ⊗ op(A_d)) x without forming the product.
 * Grid data of shape (n_1, ..., n_d) is a row-major (n_1, R) matrix with R = N / n_1;
 * one GEMM contracts its leading mode and writes (R, m_1), i.e. the grid with mode 1
 * rotated to the back. After d such GEMMs every mode has been contracted and rotated
 * once, and the modes are in their original order again (GPyTorch's "rotate the mode";
 * cost 2 N sum_i n_i for square factors). Right-hand sides stored row-major (N, k) ride
 * along in the GEMMs' rest dimension and come out as k grids one after another (k grids
 * as input are k batch entries); a row-major output costs one transpose at the end.
 * The GEMMs are the library's own (vks__gemm_record): tuned kernels for lavapipe and GPUs.
 * Also here: the posterior mean at scattered points (vks_kron_predict), and the
 * argument views and helpers the other kron*.c files share.
 */
#include <stdio.h>
#include <string.h>

#include "kron_internal.h"

/* ---- argument views ------------------------------------------------------------------ */

vks_status vks__kron_check_d(int32_t d, const char *fn) {
    if (d < 1 || d > VKS_KRON_MAX_DIMS)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: d = %d, expected 1..%d grid dimensions", fn, d,
                          VKS_KRON_MAX_DIMS);
    return VKS_OK;
}

vks_status vks__kron_factor_view(const vks_context *ctx, const vks_tensor *t, vks_transpose trans, vks_dtype dt,
                                 const char *fn, const char *arg, kron_factor *out) {
    VKS_TRY(vks__check_tensor(ctx, t, fn, arg));
    VKS_TRY(vks__check_ndim(t, 2, 2, fn, arg));
    VKS_TRY(vks__check_dtype(t, dt, fn, arg));
    vks_matrix m;
    VKS_TRY(vks__matrix_view(ctx, t, fn, arg, &m));
    if (m.rows < 1 || m.cols < 1)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: %s is %lld x %lld; expected at least 1 x 1", fn, arg,
                          (long long)m.rows, (long long)m.cols);
    const uint64_t last = (uint64_t)(m.rows - 1) * (uint64_t)m.row_stride + (uint64_t)(m.cols - 1) * (uint64_t)m.col_stride;
    if (last > INT32_MAX)
        return vks__error(VKS_ERROR_OUT_OF_RANGE, "%s: %s spans %llu elements; at most 2^31 are supported", fn, arg,
                          (unsigned long long)last + 1);
    const bool tr = trans == VKS_TRANS;
    *out = (kron_factor){.addr = m.address,
                         .rows = tr ? m.cols : m.rows,
                         .cols = tr ? m.rows : m.cols,
                         .rs = tr ? m.col_stride : m.row_stride,
                         .cs = tr ? m.row_stride : m.col_stride};
    return VKS_OK;
}

vks_status vks__kron_square_compact(const vks_context *ctx, const vks_tensor *t, int64_t n, vks_dtype dt,
                                    const char *fn, const char *arg) {
    VKS_TRY(vks__check_tensor(ctx, t, fn, arg));
    VKS_TRY(vks__check_ndim(t, 2, 2, fn, arg));
    VKS_TRY(vks__check_dtype(t, dt, fn, arg));
    if (t->shape[0] != n || t->shape[1] != n)
        return vks__error(VKS_ERROR_SHAPE_MISMATCH, "%s: %s is %lld x %lld, expected %lld x %lld", fn, arg,
                          (long long)t->shape[0], (long long)t->shape[1], (long long)n, (long long)n);
    if (!vks__tensor_is_contiguous(t))
        return vks__error(VKS_ERROR_UNSUPPORTED, "%s: %s has strides (%lld, %lld); expected compact (%lld, 1)", fn,
                          arg, (long long)t->strides[0], (long long)t->strides[1], (long long)n);
    return VKS_OK;
}

vks_status vks__kron_vector_compact(const vks_context *ctx, const vks_tensor *t, int64_t n, vks_dtype dt,
                                    const char *fn, const char *arg) {
    VKS_TRY(vks__check_tensor(ctx, t, fn, arg));
    VKS_TRY(vks__check_ndim(t, 1, 1, fn, arg));
    VKS_TRY(vks__check_dtype(t, dt, fn, arg));
    if (t->shape[0] != n)
        return vks__error(VKS_ERROR_SHAPE_MISMATCH, "%s: %s has %lld elements, expected %lld", fn, arg,
                          (long long)t->shape[0], (long long)n);
    if (n > 1 && t->strides[0] != 1)
        return vks__error(VKS_ERROR_UNSUPPORTED, "%s: %s has stride %lld; expected 1 (compact)", fn, arg,
                          (long long)t->strides[0]);
    return VKS_OK;
}

vks_status vks__kron_vec_view(const vks_context *ctx, const vks_tensor *t, int64_t n, int64_t k_expected,
                              vks_dtype dt, const char *fn, const char *arg, kron_vec *out) {
    VKS_TRY(vks__check_tensor(ctx, t, fn, arg));
    VKS_TRY(vks__check_ndim(t, 1, 2, fn, arg));
    VKS_TRY(vks__check_dtype(t, dt, fn, arg));
    const int64_t rows = t->shape[0], k = t->ndim == 2 ? t->shape[1] : 1;
    if (rows != n)
        return vks__error(VKS_ERROR_SHAPE_MISMATCH, "%s: %s has %lld rows, expected %lld (one per grid point)", fn, arg,
                          (long long)rows, (long long)n);
    if (k_expected >= 0 && k != k_expected)
        return vks__error(VKS_ERROR_SHAPE_MISMATCH, "%s: %s has %lld columns, expected %lld (right-hand sides)", fn,
                          arg, (long long)k, (long long)k_expected);
    const int64_t s0 = t->strides[0], s1 = t->ndim == 2 ? t->strides[1] : 1;
    bool row_major = false;
    if (k <= 1 || n <= 1) {
        /* One column (or one row): only the stride that is used must be 1. */
        if ((k <= 1 && n > 1 && s0 != 1) || (n <= 1 && k > 1 && s1 != 1))
            return vks__error(VKS_ERROR_UNSUPPORTED, "%s: %s has strides (%lld, %lld); its elements must be contiguous",
                              fn, arg, (long long)s0, (long long)s1);
    } else if (s0 == k && s1 == 1) {
        row_major = true;
    } else if (!(s0 == 1 && s1 == n)) {
        return vks__error(VKS_ERROR_UNSUPPORTED,
                          "%s: %s has strides (%lld, %lld); expected (%lld, 1) (row-major, GPyTorch's layout) or "
                          "(1, %lld) (one grid after another)",
                          fn, arg, (long long)s0, (long long)s1, (long long)k, (long long)n);
    }
    *out = (kron_vec){.addr = vks__tensor_address(t), .n = n, .k = k, .row_major = row_major};
    return VKS_OK;
}

void vks__kron_indexed_args(const vks_tensor *const *ts, int32_t d, const char *name, char (*names)[32],
                            vks_arg *out) {
    for (int32_t i = 0; i < d; ++i) {
        snprintf(names[i], 32, "%s[%d]", name, i);
        out[i] = (vks_arg){ts[i], names[i], NULL};
    }
}

const char *vks__kron_dims_text(int32_t d, const int64_t *n, char *buf, size_t size) {
    size_t used = (size_t)snprintf(buf, size, "(");
    for (int32_t i = 0; i < d && used < size; ++i)
        used += (size_t)snprintf(buf + used, size - used, "%s%lld", i ? " x " : "", (long long)n[i]);
    if (used < size) snprintf(buf + used, size - used, ")");
    return buf;
}

void vks__kron_groups_2d(const vks_context *ctx, int64_t groups, uint32_t *gx, uint32_t *gy) {
    const int64_t xmax = ctx->probe.info.max_workgroup_count[0];
    if (groups <= xmax) {
        *gx = (uint32_t)groups;
        *gy = groups > 0 ? 1u : 0u;
        return;
    }
    *gy = (uint32_t)VKS_CEIL_DIV(groups, xmax);
    *gx = (uint32_t)VKS_CEIL_DIV(groups, (int64_t)*gy);
}

/* ---- the recorders ------------------------------------------------------------------- */

typedef struct transpose_push {
    uint64_t src, dst;
    uint32_t rows, cols, row_tiles, pad;
    union {
        struct { float alpha, beta; } f;
        struct { double alpha, beta; } d;
    } s;
} transpose_push;
_Static_assert(offsetof(transpose_push, s) == 32 && sizeof(transpose_push) == 48,
               "transpose_push must mirror shaders/kron_transpose.comp");

vks_status vks__kron_transpose(vks_context *ctx, vks_dtype dt, VkDeviceAddress src, VkDeviceAddress dst, int64_t rows,
                               int64_t cols, double alpha, double beta) {
    const bool cpu = vks__cpu_kernels(ctx);
    const uint32_t tile = cpu ? 8 : 32, pass_rows = 8;
    const int64_t rt = VKS_CEIL_DIV(rows, tile), ct = VKS_CEIL_DIV(cols, tile);
    transpose_push pc = {.src = src, .dst = dst, .rows = (uint32_t)rows, .cols = (uint32_t)cols,
                         .row_tiles = (uint32_t)rt};
    if (dt == VKS_DTYPE_F64) pc.s.d.alpha = alpha, pc.s.d.beta = beta;
    else pc.s.f.alpha = (float)alpha, pc.s.f.beta = (float)beta;
    const vks_spec spec = {.count = 3, .values = {tile, pass_rows, tile}};
    uint32_t gx, gy;
    vks__kron_groups_2d(ctx, rt * ct, &gx, &gy);
    return vks__dispatch(ctx, vks__kron_variant(dt, VKS_SHADER_KRON_TRANSPOSE_F32, VKS_SHADER_KRON_TRANSPOSE_F64), &spec,
                         &pc, dt == VKS_DTYPE_F64 ? 48 : 40, gx, gy, 1);
}

int64_t vks__kron_apply_scratch(int32_t d, const kron_factor *f, int64_t k) {
    int64_t size = 1;
    for (int32_t t = 0; t < d; ++t) size *= f[t].cols;
    int64_t largest = size;
    for (int32_t t = 0; t < d; ++t) {
        size = size / f[t].cols * f[t].rows;
        largest = VKS_MAX(largest, size);
    }
    return largest * k;
}

typedef struct mode_push {
    uint64_t x, a, y;
    uint32_t fibers, s, a_rs, a_cs;
    union {
        struct { float alpha, beta; } f;
        struct { double alpha, beta; } d;
    } c;
} mode_push;
_Static_assert(offsetof(mode_push, c) == 40 && sizeof(mode_push) == 56, "mode_push mirrors kron_mode_small.comp");

#define SMALL_FACTOR 64

/* GPUs, every factor at most 64 x 64: d mode products in place of the rotation GEMMs,
 * keeping the modes' order (and the layout of x: row-major (N, k) is the grid with a
 * trailing mode k, k grids one with a leading one). */
static bool use_small_modes(const vks_context *ctx, int32_t d, const kron_factor *f) {
    if (vks__cpu_kernels(ctx)) return false;
    for (int32_t t = 0; t < d; ++t)
        if (f[t].rows > SMALL_FACTOR || f[t].cols > SMALL_FACTOR) return false;
    return true;
}

static vks_status apply_small_modes(vks_context *ctx, vks_dtype dt, int32_t d, const kron_factor *f, const kron_vec *x,
                                    const kron_vec *y, double alpha, double beta, VkDeviceAddress buf0,
                                    VkDeviceAddress buf1) {
    const int64_t k = x->k;
    /* The result comes out in x's layout; y in the other one gets it through a transpose. */
    const bool direct = x->row_major == y->row_major || k == 1;
    int64_t out_n = 1;
    for (int32_t t = 0; t < d; ++t) out_n *= f[t].rows;
    const int64_t lead = x->row_major ? 1 : k, trail = x->row_major ? k : 1;
    int64_t dims[VKS_KRON_MAX_DIMS];
    for (int32_t t = 0; t < d; ++t) dims[t] = f[t].cols;
    VkDeviceAddress cur = x->addr;
    const uint32_t wg = 256;
    for (int32_t t = 0; t < d; ++t) {
        const bool last = t == d - 1;
        int64_t pre = lead, post = trail;
        for (int32_t i = 0; i < t; ++i) pre *= dims[i];
        for (int32_t i = t + 1; i < d; ++i) post *= dims[i];
        const VkDeviceAddress dst = (last && direct) ? y->addr : (cur == buf0 ? buf1 : buf0);
        mode_push pc = {.x = cur, .a = f[t].addr, .y = dst, .fibers = (uint32_t)(pre * post), .s = (uint32_t)post,
                        .a_rs = (uint32_t)f[t].rs, .a_cs = (uint32_t)f[t].cs};
        const double a_t = last ? alpha : 1.0, b_t = (last && direct) ? beta : 0.0;
        if (dt == VKS_DTYPE_F64) pc.c.d.alpha = a_t, pc.c.d.beta = b_t;
        else pc.c.f.alpha = (float)a_t, pc.c.f.beta = (float)b_t;
        const vks_spec spec = {.count = 3, .values = {wg, (uint32_t)f[t].cols, (uint32_t)f[t].rows}};
        uint32_t gx, gy;
        vks__kron_groups_2d(ctx, VKS_CEIL_DIV(pre * post, (int64_t)wg), &gx, &gy);
        VKS_TRY(vks__dispatch(ctx, vks__kron_variant(dt, VKS_SHADER_KRON_MODE_SMALL_F32, VKS_SHADER_KRON_MODE_SMALL_F64),
                              &spec, &pc, dt == VKS_DTYPE_F64 ? 56 : 48, gx, gy, 1));
        dims[t] = f[t].rows;
        cur = dst;
    }
    if (direct) return VKS_OK;
    /* x row-major: (M, k) -> k grids; x k grids: (k, M) -> (M, k). */
    return x->row_major ? vks__kron_transpose(ctx, dt, cur, y->addr, out_n, k, 1.0, beta)
                        : vks__kron_transpose(ctx, dt, cur, y->addr, k, out_n, 1.0, beta);
}

vks_status vks__kron_apply(vks_context *ctx, vks_dtype dt, int32_t d, const kron_factor *f, const kron_vec *x,
                           const kron_vec *y, double alpha, double beta, VkDeviceAddress buf0, VkDeviceAddress buf1) {
    const int64_t k = x->k;
    if (k == 0) return VKS_OK;
    if (use_small_modes(ctx, d, f) && vks__kron_apply_scratch(d, f, k) <= INT32_MAX)
        return apply_small_modes(ctx, dt, d, f, x, y, alpha, beta, buf0, buf1);
    /* Row-major (N, k) is the grid (n_1, ..., n_d, k): the right-hand sides ride along in
     * the rest of every GEMM (one batch entry) and end up in front, i.e. as k grids one
     * after another. k grids one after another are k batch entries. Either way the result
     * is k grids: row-major outputs are transposed at the end. */
    VkDeviceAddress cur = x->addr;
    bool fold = x->row_major;
    if (fold && vks__kron_apply_scratch(d, f, k) > INT32_MAX) {
        /* Too large for the GEMMs' 32-bit indexing as one entry: k grids, transposed first. */
        VKS_TRY(vks__kron_transpose(ctx, dt, x->addr, buf0, x->n, k, 1.0, 0.0));
        cur = buf0;
        fold = false;
    }
    const int64_t batch = fold ? 1 : k;
    int64_t size = fold ? x->n * k : x->n; /* elements per batch entry */
    const bool direct = !y->row_major;     /* the last GEMM writes y itself */
    for (int32_t t = 0; t < d; ++t) {
        const bool last = t == d - 1;
        const int64_t rest = size / f[t].cols, out_size = rest * f[t].rows;
        const VkDeviceAddress dst = (last && direct) ? y->addr : (cur == buf0 ? buf1 : buf0);
        /* C (rest x m) = X^T (rest x n) * op(A)^T (n x m), X the grid as (n, rest). */
        const vks_gemm_args g = {.dtype = dt,
                                 .m = rest,
                                 .n = f[t].rows,
                                 .k = f[t].cols,
                                 .batch = batch,
                                 .a = cur,
                                 .b = f[t].addr,
                                 .c = dst,
                                 .a_rs = 1,
                                 .a_cs = rest,
                                 .b_rs = f[t].cs,
                                 .b_cs = f[t].rs,
                                 .c_rs = f[t].rows,
                                 .a_bs = size,
                                 .b_bs = 0,
                                 .c_bs = out_size,
                                 .alpha = last ? alpha : 1.0,
                                 .beta = (last && direct) ? beta : 0.0,
                                 .activation = VKS_ACT_NONE};
        VKS_TRY(vks__gemm_record(ctx, &g));
        cur = dst;
        size = out_size;
    }
    if (!direct) VKS_TRY(vks__kron_transpose(ctx, dt, cur, y->addr, k, y->n, 1.0, beta));
    return VKS_OK;
}

/* ---- vks_kron_matmul ---------------------------------------------------------------------- */

/* Validates d factors of one dtype (that of factors[0]) and their products' sizes. */
static vks_status factors_view(vks_context *ctx, int32_t d, const vks_tensor *const *factors, vks_transpose trans,
                               const char *fn, const char *name, kron_factor *f, int64_t *n_in, int64_t *n_out) {
    if (!factors) return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: %s is NULL", fn, name);
    char arg[32];
    snprintf(arg, sizeof arg, "%s[0]", name);
    VKS_TRY(vks__check_tensor(ctx, factors[0], fn, arg));
    const vks_dtype dt = factors[0]->dtype;
    VKS_TRY(vks__check_float_dtype(ctx, dt, fn, arg));
    int64_t nin = 1, nout = 1, largest = 1;
    for (int32_t i = 0; i < d; ++i) {
        snprintf(arg, sizeof arg, "%s[%d]", name, i);
        VKS_TRY(vks__kron_factor_view(ctx, factors[i], trans, dt, fn, arg, &f[i]));
        if (__builtin_mul_overflow(nin, f[i].cols, &nin) || __builtin_mul_overflow(nout, f[i].rows, &nout))
            return vks__error(VKS_ERROR_OUT_OF_RANGE, "%s: the grid's size overflows 64 bits", fn);
    }
    /* The GEMMs index within one right-hand side's grid with 32-bit integers. */
    int64_t size = nin;
    largest = nin;
    for (int32_t i = 0; i < d; ++i) {
        if (__builtin_mul_overflow(size / f[i].cols, f[i].rows, &size))
            return vks__error(VKS_ERROR_OUT_OF_RANGE, "%s: an intermediate grid overflows 64 bits", fn);
        largest = VKS_MAX(largest, size); /* never an assignment inside VKS_MAX: it evaluates twice */
    }
    if (largest > INT32_MAX)
        return vks__error(VKS_ERROR_OUT_OF_RANGE, "%s: a grid of %lld points per right-hand side; at most 2^31 - 1", fn,
                          (long long)largest);
    *n_in = nin;
    *n_out = nout;
    return VKS_OK;
}

typedef struct matmul_call {
    const char *fn;
    int32_t d;
    const vks_tensor *const *factors;
    vks_transpose trans;
    double alpha, beta;
    const vks_tensor *x, *y;
    kron_factor f[VKS_KRON_MAX_DIMS];
    kron_vec xv, yv;
} matmul_call;

static vks_status matmul_check(vks_context *ctx, void *call, bool *empty) {
    matmul_call *c = call;
    const char *fn = c->fn;
    const int32_t d = c->d;
    VKS_TRY(vks__kron_check_d(d, fn));
    if (c->trans != VKS_NO_TRANS && c->trans != VKS_TRANS)
        return vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: trans = %d, expected VKS_NO_TRANS or VKS_TRANS", fn,
                          (int)c->trans);
    int64_t n_in = 0, n_out = 0;
    VKS_TRY(factors_view(ctx, d, c->factors, c->trans, fn, "factors", c->f, &n_in, &n_out));
    const vks_dtype dt = c->factors[0]->dtype;
    VKS_TRY(vks__kron_vec_view(ctx, c->x, n_in, -1, dt, fn, "x", &c->xv));
    VKS_TRY(vks__kron_vec_view(ctx, c->y, n_out, c->xv.k, dt, fn, "y", &c->yv));
    vks_arg ins[1 + VKS_KRON_MAX_DIMS] = {{c->x, "x", NULL}};
    char names[VKS_KRON_MAX_DIMS][32];
    vks__kron_indexed_args(c->factors, d, "factors", names, ins + 1);
    const vks_arg outs[] = {{c->y, "y", NULL}};
    VKS_TRY(vks__check_no_alias(outs, 1, ins, 1 + d, fn));
    *empty = c->xv.k == 0;
    return VKS_OK;
}

static vks_status matmul_record(vks_context *ctx, void *call) {
    const matmul_call *c = call;
    const vks_dtype dt = c->factors[0]->dtype;
    const int64_t elems = vks__kron_apply_scratch(c->d, c->f, c->xv.k);
    VkDeviceAddress scratch = 0;
    VKS_TRY(vks__scratch(ctx, 2 * (uint64_t)elems * vks__dtype_bytes(dt), &scratch));
    return vks__kron_apply(ctx, dt, c->d, c->f, &c->xv, &c->yv, c->alpha, c->beta, scratch,
                           scratch + (uint64_t)elems * vks__dtype_bytes(dt));
}

vks_status vks_kron_matmul(vks_context *ctx, int32_t d, const vks_tensor *const *factors, vks_transpose trans,
                           double alpha, const vks_tensor *x, double beta, const vks_tensor *y) {
    matmul_call call = {.fn = "vks_kron_matmul", .d = d, .factors = factors, .trans = trans, .alpha = alpha,
                        .beta = beta, .x = x, .y = y};
    const vks_op op = {.fn = call.fn, .name = "kron_matmul", .validate = matmul_check, .record = matmul_record};
    return vks__op_run(ctx, &op, &call);
}

/* ---- vks_kron_predict ------------------------------------------------------------------- */

typedef struct rowdot_push {
    uint64_t t, cross, out;
    uint32_t points, n, r, pad0;
    uint32_t cross_rs, cross_cs, pad1, pad2;
} rowdot_push;
_Static_assert(sizeof(rowdot_push) == 56, "rowdot_push must mirror shaders/kron_rowdot.comp");

/* Elements of one ping-pong buffer of the scattered-point contraction. */
#define PREDICT_CHUNK_ELEMS (1ll << 24)

typedef struct predict_call {
    const char *fn;
    int32_t d;
    const vks_tensor *const *cross;
    const vks_tensor *alpha, *mean;
    kron_factor c[VKS_KRON_MAX_DIMS];
    int64_t n, points;
    kron_vec av, mv;
} predict_call;

static vks_status predict_check(vks_context *ctx, void *call, bool *empty) {
    predict_call *pc = call;
    const char *fn = pc->fn;
    const int32_t d = pc->d;
    const vks_tensor *const *cross = pc->cross;
    const vks_tensor *alpha = pc->alpha, *mean = pc->mean;
    VKS_TRY(vks__kron_check_d(d, fn));
    /* cross[i] is (P, n_i), viewed as op(C_i) = C_i^T: rows = n_i, cols = P. */
    kron_factor *c = pc->c;
    int64_t n = 1, points = 0;
    kron_vec av, mv;
    vks_status st = cross ? vks__check_tensor(ctx, cross[0], fn, "cross[0]")
                          : vks__error(VKS_ERROR_INVALID_ARGUMENT, "%s: cross is NULL", fn);
    if (st == VKS_OK) st = vks__check_float_dtype(ctx, cross[0]->dtype, fn, "cross[0]");
    for (int32_t i = 0; st == VKS_OK && i < d; ++i) {
        char arg[32];
        snprintf(arg, sizeof arg, "cross[%d]", i);
        st = vks__kron_factor_view(ctx, cross[i], VKS_TRANS, cross[0]->dtype, fn, arg, &c[i]);
        if (st == VKS_OK && i == 0) points = c[0].cols;
        if (st == VKS_OK && c[i].cols != points)
            st = vks__error(VKS_ERROR_SHAPE_MISMATCH, "%s: cross[%d] has %lld rows but cross[0] has %lld (one per point)",
                            fn, i, (long long)c[i].cols, (long long)points);
        if (st == VKS_OK && __builtin_mul_overflow(n, c[i].rows, &n))
            st = vks__error(VKS_ERROR_OUT_OF_RANGE, "%s: the grid's size overflows 64 bits", fn);
    }
    if (st == VKS_OK && n > INT32_MAX)
        st = vks__error(VKS_ERROR_OUT_OF_RANGE, "%s: a grid of %lld points; at most 2^31 - 1", fn, (long long)n);
    if (st == VKS_OK) st = vks__kron_vec_view(ctx, alpha, n, -1, cross[0]->dtype, fn, "alpha", &av);
    if (st == VKS_OK) st = vks__kron_vec_view(ctx, mean, points, av.k, cross[0]->dtype, fn, "mean", &mv);
    if (st == VKS_OK && av.k > 1 && ((av.n > 1 && !av.row_major) || (mv.n > 1 && !mv.row_major)))
        st = vks__error(VKS_ERROR_UNSUPPORTED, "%s: with %lld right-hand sides alpha and mean must be row-major (N, k)",
                        fn, (long long)av.k);
    if (st == VKS_OK) {
        vks_arg ins[1 + VKS_KRON_MAX_DIMS] = {{alpha, "alpha", NULL}};
        char names[VKS_KRON_MAX_DIMS][32];
        vks__kron_indexed_args(cross, d, "cross", names, ins + 1);
        const vks_arg outs[] = {{mean, "mean", NULL}};
        st = vks__check_no_alias(outs, 1, ins, 1 + d, fn);
    }
    if (st == VKS_OK) {
        pc->n = n, pc->points = points, pc->av = av, pc->mv = mv;
        *empty = av.k == 0 || points == 0;
    }
    return st;
}

static vks_status predict_record(vks_context *ctx, void *call) {
    const predict_call *pcall = call;
    const int32_t d = pcall->d;
    const vks_tensor *const *cross = pcall->cross;
    const kron_factor *c = pcall->c;
    const int64_t n = pcall->n, points = pcall->points;
    const kron_vec av = pcall->av, mv = pcall->mv;
    const vks_dtype dt = cross[0]->dtype;
    const size_t es = vks__dtype_bytes(dt);
    const int64_t k = av.k;
    /* After the GEMM over mode 1 each point holds (n_2, ..., n_d, k) coefficients. */
    const int64_t width = n / c[0].rows * k;
    const int64_t chunk = VKS_MAX(1, VKS_MIN(points, PREDICT_CHUNK_ELEMS / width));
    const bool cpu = vks__cpu_kernels(ctx);
    const uint32_t wg = cpu ? ctx->probe.info.subgroup_size : 256;
    VkDeviceAddress scratch = 0;
    vks_status st = VKS_OK;
    if (d > 1) st = vks__scratch(ctx, 2 * (uint64_t)(chunk * width) * es, &scratch);
    for (int64_t p0 = 0; st == VKS_OK && p0 < points; p0 += chunk) {
        const int64_t pc = VKS_MIN(chunk, points - p0);
        VkDeviceAddress buf[2] = {scratch, scratch + (uint64_t)(chunk * width) * es};
        VkDeviceAddress out = mv.addr + (uint64_t)(p0 * k) * es;
        /* Mode 1: T (pc x width) = C_1[p0 : p0 + pc] (pc x n_1) * alpha (n_1 x width). */
        const kron_factor *c1 = &c[0];
        const vks_gemm_args g = {.dtype = dt,
                                 .m = pc,
                                 .n = width,
                                 .k = c1->rows,
                                 .batch = 1,
                                 .a = c1->addr + (uint64_t)(p0 * c1->cs) * es,
                                 .b = av.addr,
                                 .c = d == 1 ? out : buf[0],
                                 .a_rs = c1->cs,
                                 .a_cs = c1->rs,
                                 .b_rs = width,
                                 .b_cs = 1,
                                 .c_rs = width,
                                 .alpha = 1.0,
                                 .beta = 0.0,
                                 .activation = VKS_ACT_NONE};
        st = vks__gemm_record(ctx, &g);
        /* Modes 2..d: each point contracts its own row of C_i with its slice. */
        int64_t r = width;
        for (int32_t i = 1; st == VKS_OK && i < d; ++i) {
            r /= c[i].rows;
            rowdot_push pc_ = {.t = buf[(i - 1) % 2],
                               .cross = c[i].addr + (uint64_t)(p0 * c[i].cs) * es,
                               .out = i == d - 1 ? out : buf[i % 2],
                               .points = (uint32_t)pc,
                               .n = (uint32_t)c[i].rows,
                               .r = (uint32_t)r,
                               .cross_rs = (uint32_t)c[i].cs,
                               .cross_cs = (uint32_t)c[i].rs};
            const vks_spec spec = {.count = 1, .values = {wg}};
            uint32_t gx, gy;
            vks__kron_groups_2d(ctx, VKS_CEIL_DIV(pc * r, (int64_t)wg), &gx, &gy);
            st = vks__dispatch(ctx, vks__kron_variant(dt, VKS_SHADER_KRON_ROWDOT_F32, VKS_SHADER_KRON_ROWDOT_F64), &spec,
                               &pc_, sizeof pc_, gx, gy, 1);
        }
    }
    return st;
}

vks_status vks_kron_predict(vks_context *ctx, int32_t d, const vks_tensor *const *cross, const vks_tensor *alpha,
                            const vks_tensor *mean) {
    predict_call call = {.fn = "vks_kron_predict", .d = d, .cross = cross, .alpha = alpha, .mean = mean};
    const vks_op op = {.fn = call.fn, .name = "kron_predict", .validate = predict_check, .record = predict_record};
    return vks__op_run(ctx, &op, &call);
}
