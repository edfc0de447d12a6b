/*
 * Low-rank family, part 4: RandLoRA's forward (PEFT tuners/randlora) without forming ΔW or
 * the scaled bases. With d_min = min(in, out), n bases of rank r, c the flattened index:
 *   Â_flat[c, :] = λ_flat[c] * A[c / n, :] * γ[c % n, :]      (row c = ρ*n + i)
 *   B_flat[:, c] = B[:, c / r, c % r]                          (column c = i*r + ρ)
 * and column c of B_flat meets row c of Â_flat. The two stages map onto the low-rank
 * recorder with t[c] = s * λ_flat[c] * (...):
 *   in <= out:  t = s λ ⊙ (x Â_flat^T): shrink with S = A ⊙ γ formed per element (product
 *               mode); then y += t B_flat^T: a plain expand with rank n*r, fused with W.
 *   in >  out:  t = s λ ⊙ (x B_flat): shrink reading B_flat transposed; then
 *               y += t Â_flat (λ already in t): expand with E = A ⊙ γ per element.
 */
#include "lowrank_internal.h"

typedef struct randlora_call {
    lr_problem pb; /* what validation derives */
    lr_adapter ad;
    vks_randlora_desc d; /* the library's full copy of the caller's */
} randlora_call;

static vks_status randlora_check(vks_context *ctx, void *call, bool *empty) {
    static const char fn[] = "vks_randlora_forward";
    randlora_call *c = call;
    const vks_randlora_desc *d = &c->d;
    (void)empty; /* vks__lr_record knows what an empty problem still writes */
    lr_mat mx, my, mw = {0};
    VKS_TRY(vks__rows_view(ctx, d->x, 2, 4, false, fn, "x", &mx));
    VKS_TRY(vks__check_dtype_in(ctx, mx.dtype, VKS_LR_DTYPES, fn, "x"));
    const vks_dtype dt = mx.dtype;
    VKS_TRY(vks__rows_view(ctx, d->y, 2, 4, false, fn, "y", &my));
    VKS_TRY(vks__check_dtype(d->y, dt, fn, "y"));
    const int64_t m = mx.rows, in = mx.cols, out = my.cols;
    VKS_TRY(vks__lr_check_y(&my, m, fn));
    if (d->w) VKS_TRY(vks__lr_check_weight(ctx, d->w, dt, out, in, fn, &mw));
    VkDeviceAddress bias = 0;
    if (d->bias) VKS_TRY(vks__vector_view(ctx, d->bias, dt, out, fn, "bias", &bias));
    const int64_t dmin = in < out ? in : out, dmax = in < out ? out : in;

    /* randlora_A: (r, D) or PEFT's (r, 1, D), D >= d_min. */
    const vks_tensor *A = d->basis_a, *B = d->basis_b, *L = d->lambda, *G = d->gamma;
    VKS_TRY(vks__check_tensor(ctx, A, fn, "basis_a"));
    VKS_TRY(vks__check_ndim(A, 2, 3, fn, "basis_a"));
    VKS_TRY(vks__check_dtype(A, dt, fn, "basis_a"));
    if (A->ndim == 3 && A->shape[1] != 1)
        return vks__error(VKS_ERROR_UNSUPPORTED,
                          "%s: basis_a has shape (%lld, %lld, %lld); one A shared by the bases is expected, (r, D) or "
                          "PEFT's (r, 1, D)",
                          fn, (long long)A->shape[0], (long long)A->shape[1], (long long)A->shape[2]);
    const int64_t r = A->shape[0], a_cols = A->shape[A->ndim - 1], a_ld = A->strides[0];
    if (a_cols < dmin)
        return vks__error(VKS_ERROR_SHAPE_MISMATCH, "%s: basis_a has %lld columns, expected >= min(in, out) = %lld", fn,
                          (long long)a_cols, (long long)dmin);
    if (dmin > 1 && A->strides[A->ndim - 1] != 1)
        return vks__error(VKS_ERROR_UNSUPPORTED, "%s: basis_a's last dimension must have stride 1", fn);
    if (r < 1) return vks__error(VKS_ERROR_SHAPE_MISMATCH, "%s: basis_a has rank r = %lld, expected >= 1", fn, (long long)r);
    /* randlora_lambda: (r, n), compact (read flat, index rho*n + i). */
    VKS_TRY(vks__check_tensor(ctx, L, fn, "lambda"));
    VKS_TRY(vks__check_ndim(L, 2, 2, fn, "lambda"));
    VKS_TRY(vks__check_dtype(L, dt, fn, "lambda"));
    const int64_t n = L->shape[1];
    if (L->shape[0] != r || n < 1)
        return vks__error(VKS_ERROR_SHAPE_MISMATCH, "%s: lambda is %lld x %lld, expected (r, n) with r = %lld, n >= 1", fn,
                          (long long)L->shape[0], (long long)n, (long long)r);
    if (!vks__tensor_is_contiguous(L))
        return vks__error(VKS_ERROR_UNSUPPORTED, "%s: lambda must be compact (strides (n, 1))", fn);
    /* randlora_gamma: (n, d_min). */
    lr_mat mg;
    VKS_TRY(vks__rows_view(ctx, G, 2, 2, false, fn, "gamma", &mg));
    VKS_TRY(vks__check_dtype(G, dt, fn, "gamma"));
    if (mg.rows != n || mg.cols != dmin)
        return vks__error(VKS_ERROR_SHAPE_MISMATCH, "%s: gamma is %lld x %lld, expected (n, min(in, out)) = %lld x %lld",
                          fn, (long long)mg.rows, (long long)mg.cols, (long long)n, (long long)dmin);
    /* randlora_B: (D', N, r), D' >= d_max, N >= n, the (N, r) block of a row compact. */
    VKS_TRY(vks__check_tensor(ctx, B, fn, "basis_b"));
    VKS_TRY(vks__check_ndim(B, 3, 3, fn, "basis_b"));
    VKS_TRY(vks__check_dtype(B, dt, fn, "basis_b"));
    if (B->shape[0] < dmax || B->shape[1] < n || B->shape[2] != r)
        return vks__error(VKS_ERROR_SHAPE_MISMATCH,
                          "%s: basis_b has shape (%lld, %lld, %lld), expected (>= max(in, out), >= n, r) = (>= %lld, >= "
                          "%lld, %lld)",
                          fn, (long long)B->shape[0], (long long)B->shape[1], (long long)B->shape[2], (long long)dmax,
                          (long long)n, (long long)r);
    if ((r > 1 && B->strides[2] != 1) || (n > 1 && B->strides[1] != r))
        return vks__error(VKS_ERROR_UNSUPPORTED, "%s: basis_b's last two dimensions must be compact (strides (.., r, 1))",
                          fn);
    const int64_t b_ld = dmax > 1 ? B->strides[0] : n * r, R = n * r;
    if (R > INT32_MAX / 2 || a_ld > INT32_MAX || b_ld > INT32_MAX)
        return vks__error(VKS_ERROR_OUT_OF_RANGE, "%s: the bases are too large (n*r = %lld)", fn, (long long)R);
    const vks_arg outs[] = {{d->y, "y", NULL}};
    const vks_arg ins[] = {{d->x, "x", NULL},       {d->w, "w", NULL},       {d->bias, "bias", NULL},
                           {A, "basis_a", NULL},    {B, "basis_b", NULL},    {L, "lambda", NULL},
                           {G, "gamma", NULL}};
    VKS_TRY(vks__check_no_alias(outs, 1, ins, VKS_COUNT_OF(ins), fn));

    const bool in_is_min = in <= out;
    lr_adapter ad = {.rank = (uint32_t)R, .nb = (uint32_t)n, .scale = (float)d->scale,
                     .post = vks__tensor_address(L), .g = mg.address, .g_ld = (uint32_t)mg.ld};
    if (in_is_min) {
        ad.s = vks__tensor_address(A), ad.s_ld = (uint32_t)a_ld; /* Â_flat rows, formed per element */
        ad.e = vks__tensor_address(B), ad.e_ld = (uint32_t)b_ld; /* B_flat (out, n*r) */
    } else {
        ad.s = vks__tensor_address(B), ad.s_ld = (uint32_t)b_ld; /* B_flat (in, n*r), read transposed */
        ad.e = vks__tensor_address(A), ad.e_ld = (uint32_t)a_ld; /* Â_flat (n*r, out), formed per element */
    }
    c->ad = ad;
    c->pb = (lr_problem){.fn = fn,
                     .op = "randlora_forward",
                     .dtype = dt,
                     .m = (uint32_t)m,
                     .in = (uint32_t)in,
                     .out = (uint32_t)out,
                     .x = mx.address,
                     .w = d->w ? mw.address : 0,
                     .y = my.address,
                     .bias = bias,
                     .ldx = (uint32_t)mx.ld,
                     .ldw = d->w ? (uint32_t)mw.ld : 0,
                     .ldy = (uint32_t)my.ld,
                     .beta = (float)d->beta,
                     .adapters = &c->ad,
                     .nadapters = 1,
                     .max_rank = (uint32_t)R,
                     .s_mode = in_is_min ? LR_S_PRODUCT : LR_S_TRANSPOSED,
                     .e_product = !in_is_min,
                     .shrink = true,
                     .expand = true};
    return vks__lr_check_problem(ctx, &c->pb);
}

static vks_status randlora_record(vks_context *ctx, void *call) {
    return vks__lr_record(ctx, &((randlora_call *)call)->pb);
}

vks_status vks_randlora_forward(vks_context *ctx, const vks_randlora_desc *d) {
    randlora_call call = {.pb.op = "randlora_forward"};
    const vks_op op = {.fn = "vks_randlora_forward", .name = "randlora_forward", .desc = d, .desc_arg = "desc",
                       .desc_type = VKS_STRUCT_RANDLORA_DESC, .desc_copy = &call.d, .validate = randlora_check,
                       .record = randlora_record};
    return vks__op_run(ctx, &op, &call);
}
