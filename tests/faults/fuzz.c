/* The API fuzz gate: a seeded random driver that calls every public entry point with
 * hostile arguments (NULL pointers, garbage struct_size, huge, negative and zero shapes
 * and strides, unknown enum values, wrong dtypes, outputs aliasing inputs, buffers of
 * another context, things that are not buffers, NaN and infinite scalars) for a bounded
 * time. It runs under ASan/UBSan in `make fuzz`: a crash, a sanitizer report, a hang, a
 * status outside vks_status, a failure without a message or any validation-layer message
 * fails it. Messages that do not start with the called function's name are listed (and
 * fail with VKS_FUZZ_STRICT_MESSAGES=1).
 *
 *   fuzz [seconds] [seed]      (defaults: $VKS_FUZZ_SECONDS or 60, $VKS_FUZZ_SEED or 1)
 *
 * Only misuse the library can detect is generated: a freed buffer or context, a garbage
 * Vulkan handle or a host pointer to too little memory are the caller's undefined
 * behaviour, as with any C library. Calls that pass validation run for real, so shapes
 * stay small unless a stride makes them fail validation first. */
#include <float.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vks_test.h"
#include "vkstruct/plugin.h"

#define VKS_COUNT_OF_(a) (sizeof(a) / sizeof((a)[0]))
#define BUF_BYTES (64u * 1024u)
#define NBUF 4
#define POOL 48

static vkt_rng rng;
static vks_context *ctx, *other;
static vks_buffer *bufs[NBUF + 1], *foreign;
static uint64_t fake_buffer[64]; /* zeroed memory posing as a vks_buffer (no live magic) */
static vks_tensor pool[POOL];
static int pool_next;
static const char *current_fn = "";
static unsigned long iteration;

enum { MAX_BAD_MESSAGES = 64 };
static char bad_messages[MAX_BAD_MESSAGES][160];
static int bad_count;
static unsigned long calls, failures_seen;

static uint64_t rnd(uint64_t n) { return n ? vkt_next(&rng) % n : 0; }
static bool chance(int percent) { return (int)rnd(100) < percent; }

static void on_alarm(int sig) {
    (void)sig;
    static const char msg[] = "fuzz: a call ran past the watchdog (hang); see the last 'call' line\n";
    if (write(2, msg, sizeof msg - 1) < 0) _exit(3);
    _exit(3);
}

/* ---- hostile values ----------------------------------------------------------------- */

static int64_t small_dim(void) {
    static const int64_t d[] = {1, 1, 2, 3, 4, 5, 7, 8, 16, 17, 32, 0};
    return d[rnd(VKS_COUNT_OF_(d))];
}

static int64_t hostile_i64(void) {
    static const int64_t v[] = {-1, -7, 0, 1, 1ll << 31, 1ll << 32, 1ll << 40, 1ll << 62, INT64_MAX, INT64_MIN, 65537};
    return v[rnd(VKS_COUNT_OF_(v))];
}

static int32_t hostile_i32(void) {
    static const int32_t v[] = {0, 1, 2, 3, 4, 5, 8, -1, -2, 100, 1 << 20, INT32_MAX, INT32_MIN};
    return v[rnd(VKS_COUNT_OF_(v))];
}

static double hostile_double(void) {
    const double v[] = {0.0, 1.0, -1.0, 0.5, 2.0, NAN, INFINITY, -INFINITY, 1e308, -1e308, DBL_MIN, 1e-300};
    return chance(60) ? v[rnd(4)] : v[rnd(VKS_COUNT_OF_(v))];
}

static size_t hostile_size(size_t good) {
    if (chance(85)) return good;
    const size_t v[] = {0, 1, 7, 8, good - 8, good + 8, good * 2, SIZE_MAX};
    return v[rnd(VKS_COUNT_OF_(v))];
}

static int hostile_enum(int valid_count) {
    if (chance(85)) return (int)rnd((uint64_t)valid_count);
    const int v[] = {-1, valid_count, valid_count + 1, 99, INT32_MAX, INT32_MIN};
    return v[rnd(VKS_COUNT_OF_(v))];
}

static vks_dtype any_dtype(void) {
    if (chance(55)) return VKS_DTYPE_F32;
    return (vks_dtype)hostile_enum(6);
}

static vks_buffer *any_buffer(void) {
    const int r = (int)rnd(100);
    if (r < 80) return bufs[rnd(NBUF + 1)];
    if (r < 87) return foreign;
    if (r < 93) return (vks_buffer *)fake_buffer;
    return NULL;
}

/* A tensor: mostly small and compact inside a real buffer (so calls reach the device),
 * else with one or more hostile fields. Pointers stay valid until POOL more are made. */
static vks_tensor *tensor_of(vks_dtype dt, int ndim) {
    vks_tensor *t = &pool[pool_next++ % POOL];
    memset(t, 0, sizeof *t);
    t->buffer = any_buffer();
    t->dtype = chance(85) ? dt : any_dtype();
    t->ndim = chance(92) ? ndim : (int32_t)hostile_enum(5);
    const int n = t->ndim >= 1 && t->ndim <= VKS_MAX_DIMS ? t->ndim : VKS_MAX_DIMS;
    for (int i = 0; i < n; ++i) t->shape[i] = chance(95) ? small_dim() : hostile_i64();
    int64_t stride = 1;
    for (int i = n - 1; i >= 0; --i) {
        t->strides[i] = stride;
        stride *= t->shape[i] > 0 && t->shape[i] < (1 << 20) ? t->shape[i] : 1;
    }
    if (chance(10)) {
        const int i = (int)rnd((uint64_t)n);
        const int64_t s[] = {0, 2, -1, 1ll << 33, INT64_MAX};
        t->strides[i] = s[rnd(VKS_COUNT_OF_(s))];
        /* A zero stride broadcasts: keep those shapes small, or the call does real work
         * over a huge logical extent (slow, not hostile). */
        if (t->strides[i] == 0)
            for (int j = 0; j < n; ++j)
                if (t->shape[j] > 64 || t->shape[j] < 0) t->shape[j] = small_dim();
    }
    t->byte_offset = chance(85) ? 16 * rnd(256) : (uint64_t)hostile_i64();
    return t;
}

static vks_tensor *any_tensor(void) {
    if (chance(5)) return NULL;
    return tensor_of(any_dtype(), 1 + (int)rnd(3));
}
static vks_tensor *mat(void) { return chance(5) ? NULL : tensor_of(chance(80) ? VKS_DTYPE_F32 : any_dtype(), 2); }
static vks_tensor *vec(void) { return chance(5) ? NULL : tensor_of(chance(80) ? VKS_DTYPE_F32 : any_dtype(), 1); }
/* Sometimes the same tensor again (outputs aliasing inputs). */
static const vks_tensor *alias_or(const vks_tensor *prev, const vks_tensor *fresh) {
    return prev && chance(10) ? prev : fresh;
}
static vks_context *any_ctx(void) { return chance(4) ? NULL : chance(3) ? other : ctx; }

/* ---- well-formed calls with at most one hostile change ------------------------------
 * Random shapes almost never agree, so half of the calls of the main ops are built
 * consistent (and reach the device) and then get at most one hostile change: one tensor
 * corrupted (another buffer or context, not a buffer, a dtype, a shape, a stride, an offset,
 * aliasing another tensor of the call) or none. */

static uint64_t region_next[NBUF];

static void regions_reset(void) { memset(region_next, 0, sizeof region_next); }

/* A valid compact tensor in a fresh region of one of the big buffers. */
static vks_tensor *V(vks_dtype dt, int ndim, int64_t a, int64_t b, int64_t c) {
    vks_tensor *t = &pool[pool_next++ % POOL];
    const int64_t shape[3] = {a, b, c};
    const int i = (int)rnd(NBUF);
    size_t es = 4;
    vks_dtype_size(dt, &es);
    int64_t count = 1;
    for (int d = 0; d < ndim; ++d) count *= shape[d];
    uint64_t off = (region_next[i] + 15) & ~15ull;
    if (off + (uint64_t)count * es > BUF_BYTES) off = 0; /* (full: overlap an earlier one) */
    region_next[i] = off + (uint64_t)count * es;
    *t = vks_tensor_make(bufs[i], off, dt, ndim, shape);
    return t;
}

static void corrupt_one(vks_tensor *const *ts, int n) {
    if (n == 0 || chance(50)) return;
    vks_tensor *t = ts[rnd((uint64_t)n)];
    if (!t) return;
    switch (rnd(9)) {
    case 0: t->buffer = any_buffer(); break;
    case 1: t->dtype = any_dtype(); break;
    case 2: t->ndim = (int32_t)hostile_enum(5); break;
    case 3: t->shape[rnd(3)] = chance(50) ? t->shape[0] + 1 : hostile_i64(); break;
    case 4: {
        const int64_t s[] = {0, 2, -1, 1ll << 33, INT64_MAX};
        const int d = (int)rnd((uint64_t)(t->ndim > 0 && t->ndim <= VKS_MAX_DIMS ? t->ndim : 1));
        t->strides[d] = s[rnd(VKS_COUNT_OF_(s))];
        break;
    }
    case 5: t->byte_offset = chance(50) ? t->byte_offset + 2 : (uint64_t)hostile_i64(); break;
    case 6: *t = *ts[rnd((uint64_t)n)]; break; /* aliases another tensor of the call (or itself) */
    case 7: t->buffer = foreign; break;
    default: t->byte_offset = BUF_BYTES - 4; break; /* runs past the end */
    }
}

static int64_t dim(void) { return 1 + (int64_t)rnd(12); }
static vks_dtype fdt(void) {
    return chance(80) ? VKS_DTYPE_F32 : chance(50) ? VKS_DTYPE_F16 : VKS_DTYPE_F64;
}
static vks_dtype float_dtype = VKS_DTYPE_F32;

static vks_status w_gemm(void) {
    const vks_dtype dt = fdt();
    const int64_t m = dim(), n = dim(), k = dim();
    vks_tensor *t[4] = {V(dt, 2, m, k, 0), V(dt, 2, k, n, 0), V(dt, 2, m, n, 0), V(dt, 1, n, 0, 0)};
    corrupt_one(t, 4);
    vks_gemm_desc d = VKS_GEMM_DESC_INIT;
    d.a = t[0], d.b = t[1], d.c = t[2], d.bias = chance(50) ? t[3] : NULL, d.beta = chance(50) ? 0.0 : 1.0;
    d.activation = (vks_activation)rnd(4);
    if (chance(50)) {
        current_fn = "vks_gemm";
        return vks_gemm(ctx, VKS_NO_TRANS, VKS_NO_TRANS, 1.0, t[0], t[1], 0.0, t[2]);
    }
    current_fn = "vks_gemm_ex";
    return vks_gemm_ex(ctx, &d);
}
static vks_status w_kron_matmul(void) {
    const int64_t r0 = dim(), c0 = dim(), r1 = dim(), c1 = dim(), k = chance(50) ? 0 : 1 + (int64_t)rnd(3);
    vks_tensor *t[4] = {V(float_dtype, 2, r0, c0, 0), V(float_dtype, 2, r1, c1, 0),
                        k ? V(float_dtype, 2, c0 * c1, k, 0) : V(float_dtype, 1, c0 * c1, 0, 0),
                        k ? V(float_dtype, 2, r0 * r1, k, 0) : V(float_dtype, 1, r0 * r1, 0, 0)};
    corrupt_one(t, 4);
    const vks_tensor *f[2] = {t[0], t[1]};
    return vks_kron_matmul(ctx, 2, f, VKS_NO_TRANS, 1.0, t[2], 0.0, t[3]);
}
static vks_status w_kron_kernel(void) {
    const int64_t n1 = dim(), n2 = dim();
    vks_tensor *t[3] = {V(float_dtype, 1, n1, 0, 0), V(float_dtype, 1, n2, 0, 0), V(float_dtype, 2, n1, n2, 0)};
    corrupt_one(t, 3);
    static const double w[2] = {0.6, 0.4}, rho[2] = {9.0, 30.0}, fq[2] = {0.0, 2.0};
    vks_kernel_desc d = VKS_KERNEL_DESC_INIT;
    d.kind = (vks_kernel_kind)rnd(3), d.num_mixtures = 2, d.sm_weights = w, d.sm_rhos = rho, d.sm_freqs = fq;
    d.dx1 = (int32_t)rnd(2), d.dx2 = (int32_t)rnd(2);
    return vks_kron_kernel_matrix(ctx, &d, t[0], t[1], t[2]);
}
static vks_status w_lora(void) {
    const vks_dtype dt = chance(80) ? VKS_DTYPE_F32 : VKS_DTYPE_F16;
    const int64_t m = dim(), in = dim(), out = dim(), r = (int64_t)rnd(5);
    const int64_t rr = r ? r : 1;
    vks_tensor *t[6] = {V(dt, 2, m, in, 0), V(dt, 2, out, in, 0), V(dt, 2, rr, in, 0),
                        V(dt, 2, out, rr, 0), V(dt, 1, out, 0, 0), V(dt, 2, m, out, 0)};
    corrupt_one(t, 6);
    switch (rnd(4)) {
    case 0: {
        vks_lora_desc d = VKS_LORA_DESC_INIT;
        d.x = t[0], d.w = t[1], d.a = t[2], d.b = t[3], d.bias = chance(50) ? t[4] : NULL, d.y = t[5];
        d.scale = 0.5;
        current_fn = "vks_lora_forward";
        return vks_lora_forward(ctx, &d);
    }
    case 1: current_fn = "vks_factorized_linear"; return vks_factorized_linear(ctx, t[0], t[2], t[3], t[4], t[5]);
    case 2: current_fn = "vks_lora_merge"; return vks_lora_merge(ctx, t[1], t[2], t[3], 0.25);
    default: current_fn = "vks_galore_project";
        return vks_galore_project(ctx, VKS_GALORE_RIGHT, t[1], t[2], V(dt, 2, out, rr, 0));
    }
}
static vks_status w_blockdiag_monarch(void) {
    const int64_t b = dim();
    if (chance(50)) {
        const int64_t nb = 1 + (int64_t)rnd(4), ib = dim(), ob = dim();
        vks_tensor *t[4] = {V(VKS_DTYPE_F32, 2, b, nb * ib, 0), V(VKS_DTYPE_F32, 3, nb, ob, ib),
                            V(VKS_DTYPE_F32, 1, nb * ob, 0, 0), V(VKS_DTYPE_F32, 2, b, nb * ob, 0)};
        corrupt_one(t, 4);
        vks_blockdiag_desc d = VKS_BLOCKDIAG_DESC_INIT;
        d.x = t[0], d.w = t[1], d.bias = chance(50) ? t[2] : NULL, d.y = t[3];
        current_fn = "vks_blockdiag_linear";
        return vks_blockdiag_linear(ctx, &d);
    }
    /* M = 12 x 8: w1 (2, 4, 4), w2 (4, 3, 2); x (B, 8), y (B, 12). */
    vks_tensor *t[4] = {V(VKS_DTYPE_F32, 2, b, 8, 0), V(VKS_DTYPE_F32, 3, 2, 4, 4), V(VKS_DTYPE_F32, 3, 4, 3, 2),
                        V(VKS_DTYPE_F32, 2, b, 12, 0)};
    corrupt_one(t, 4);
    vks_monarch_desc d = VKS_MONARCH_DESC_INIT;
    d.x = t[0], d.w1 = t[1], d.w2 = t[2], d.y = t[3], d.path = (vks_monarch_path)rnd(4);
    current_fn = "vks_monarch_forward";
    return vks_monarch_forward(ctx, &d);
}
static vks_status w_orthogonal(void) {
    const int64_t n = dim(), k = dim(), m = n + (int64_t)rnd(6);
    switch (rnd(8)) {
    case 0: {
        vks_tensor *t[3] = {V(float_dtype, 2, n, n, 0), V(float_dtype, 1, n, 0, 0), V(float_dtype, 2, n, n, 0)};
        corrupt_one(t, 3);
        current_fn = "vks_eigh";
        return vks_eigh(ctx, t[0], t[1], chance(70) ? t[2] : NULL);
    }
    case 1: {
        vks_tensor *t[2] = {V(float_dtype, 2, n, n, 0), V(float_dtype, 2, n, n, 0)};
        corrupt_one(t, 2);
        current_fn = "vks_cholesky";
        return vks_cholesky(ctx, t[0], t[1]);
    }
    case 2: {
        vks_tensor *t[3] = {V(float_dtype, 2, n, n, 0), V(float_dtype, 2, n, k, 0), V(float_dtype, 2, n, k, 0)};
        corrupt_one(t, 3);
        current_fn = "vks_trsm";
        return vks_trsm(ctx, (vks_transpose)rnd(2), t[0], t[1], t[2]);
    }
    case 3: {
        vks_tensor *t[2] = {V(float_dtype, 2, n, k, 0), V(float_dtype, 2, n, n, 0)};
        corrupt_one(t, 2);
        current_fn = "vks_syrk";
        return vks_syrk(ctx, VKS_NO_TRANS, 1.0, t[0], 0.0, t[1], (int32_t)rnd(2));
    }
    case 4: {
        vks_tensor *t[3] = {V(float_dtype, 2, m, n, 0), V(float_dtype, 2, m, n, 0), V(float_dtype, 2, n, n, 0)};
        corrupt_one(t, 3);
        current_fn = "vks_cholqr";
        return vks_cholqr(ctx, t[0], t[1], chance(50) ? t[2] : NULL, NULL);
    }
    case 5: {
        vks_tensor *t[2] = {V(float_dtype, 2, m, n, 0), V(float_dtype, 1, n, 0, 0)};
        corrupt_one(t, 2);
        current_fn = "vks_svd";
        return vks_svd(ctx, t[0], NULL, t[1], NULL);
    }
    case 6: {
        vks_tensor *t[2] = {V(VKS_DTYPE_F32, 2, m, n, 0), V(VKS_DTYPE_F32, 2, m, n, 0)};
        corrupt_one(t, 2);
        current_fn = "vks_newton_schulz";
        return vks_newton_schulz(ctx, t[0], t[1], NULL);
    }
    default: {
        vks_tensor *t[2] = {V(VKS_DTYPE_F32, 2, m, n, 0), V(VKS_DTYPE_F32, 2, m, n, 0)};
        corrupt_one(t, 2);
        current_fn = "vks_auon";
        return vks_auon(ctx, t[0], t[1], NULL);
    }
    }
}

/* Embeds a desc in zeroed room, so a hostile struct_size larger than the desc still
 * names memory the caller owns (a real caller's larger struct). */
#define ROOMY(type) \
    struct {        \
        type d;     \
        char room[512]; \
    }

/* ---- the entry points --------------------------------------------------------------- */

static vks_status f_gemm(void) {
    vks_tensor *a = mat(), *b = mat();
    return vks_gemm(any_ctx(), (vks_transpose)hostile_enum(2), (vks_transpose)hostile_enum(2), hostile_double(), a, b,
                    hostile_double(), alias_or(a, mat()));
}
static vks_status f_gemm_ex(void) {
    ROOMY(vks_gemm_desc) r = {VKS_GEMM_DESC_INIT, {0}};
    r.d.struct_size = hostile_size(sizeof r.d);
    r.d.trans_a = (vks_transpose)hostile_enum(2), r.d.trans_b = (vks_transpose)hostile_enum(2);
    r.d.alpha = hostile_double(), r.d.beta = hostile_double();
    r.d.a = mat(), r.d.b = mat(), r.d.c = alias_or(r.d.a, mat());
    r.d.bias = chance(40) ? alias_or(r.d.c, vec()) : NULL;
    r.d.activation = (vks_activation)hostile_enum(4);
    return vks_gemm_ex(any_ctx(), chance(5) ? NULL : &r.d);
}
static vks_status f_kron_matmul(void) {
    const vks_tensor *f[VKS_KRON_MAX_DIMS + 2];
    const int32_t d = chance(90) ? 1 + (int32_t)rnd(3) : hostile_i32();
    for (int i = 0; i < VKS_KRON_MAX_DIMS + 2; ++i) f[i] = mat();
    vks_tensor *x = any_tensor();
    return vks_kron_matmul(any_ctx(), d, chance(5) ? NULL : f, (vks_transpose)hostile_enum(2), hostile_double(), x,
                           hostile_double(), alias_or(x, any_tensor()));
}
static vks_status f_kron_kernel_matrix(void) {
    ROOMY(vks_kernel_desc) r = {VKS_KERNEL_DESC_INIT, {0}};
    double w[4] = {0.5, 0.25, hostile_double(), 1}, rho[4] = {3, hostile_double(), 1, 2}, fq[4] = {0, 1, 2, 3};
    r.d.struct_size = hostile_size(sizeof r.d);
    r.d.kind = (vks_kernel_kind)hostile_enum(3), r.d.sm_base = (vks_sm_base)hostile_enum(2);
    r.d.lengthscale = hostile_double(), r.d.outputscale = hostile_double();
    r.d.num_mixtures = chance(80) ? 1 + (int32_t)rnd(4) : hostile_i32();
    if (r.d.num_mixtures > 4 && r.d.num_mixtures != INT32_MAX) r.d.num_mixtures = 4; /* the arrays' real size */
    r.d.sm_weights = chance(95) ? w : NULL, r.d.sm_rhos = chance(95) ? rho : NULL, r.d.sm_freqs = chance(95) ? fq : NULL;
    if (r.d.num_mixtures == INT32_MAX) r.d.sm_weights = NULL; /* a huge count only with a missing array */
    r.d.dx1 = (int32_t)hostile_enum(3), r.d.dx2 = (int32_t)hostile_enum(3);
    vks_tensor *x1 = vec();
    return vks_kron_kernel_matrix(any_ctx(), chance(5) ? NULL : &r.d, x1, vec(), alias_or(x1, mat()));
}
static vks_status f_kron_eigh(void) {
    ROOMY(vks_kron_eigh_desc) r = {VKS_KRON_EIGH_DESC_INIT, {0}};
    r.d.struct_size = hostile_size(sizeof r.d);
    r.d.d = chance(90) ? 1 + (int32_t)rnd(2) : hostile_i32();
    for (int i = 0; i < VKS_KRON_MAX_DIMS; ++i) {
        r.d.factors[i] = mat(), r.d.eigvecs[i] = alias_or((vks_tensor *)r.d.factors[i], mat()), r.d.eigvals[i] = vec();
        r.d.noise_scales[i] = chance(20) ? vec() : NULL;
    }
    r.d.jitter = hostile_double();
    return vks_kron_eigh(any_ctx(), chance(5) ? NULL : &r.d);
}
static vks_status f_kron_solve(void) {
    ROOMY(vks_kron_solve_desc) r = {VKS_KRON_SOLVE_DESC_INIT, {0}};
    r.d.struct_size = hostile_size(sizeof r.d);
    r.d.d = chance(90) ? 1 + (int32_t)rnd(2) : hostile_i32();
    for (int i = 0; i < VKS_KRON_MAX_DIMS; ++i) {
        r.d.eigvecs[i] = mat(), r.d.eigvals[i] = vec();
        r.d.noise_scales[i] = chance(20) ? vec() : NULL;
    }
    r.d.noise = hostile_double(), r.d.eig_floor = hostile_double();
    r.d.y = chance(90) ? any_tensor() : NULL;
    r.d.alpha = chance(80) ? alias_or((vks_tensor *)r.d.y, any_tensor()) : NULL;
    r.d.mean = chance(40) ? any_tensor() : NULL, r.d.logdet = chance(40) ? vec() : NULL;
    r.d.mll = chance(30) ? vec() : NULL;
    return vks_kron_solve(any_ctx(), chance(5) ? NULL : &r.d);
}
static vks_status f_kron_cholesky_solve(void) {
    ROOMY(vks_kron_cholesky_desc) r = {VKS_KRON_CHOLESKY_DESC_INIT, {0}};
    double used[VKS_KRON_MAX_DIMS];
    r.d.struct_size = hostile_size(sizeof r.d);
    r.d.d = chance(90) ? 1 + (int32_t)rnd(2) : hostile_i32();
    for (int i = 0; i < VKS_KRON_MAX_DIMS; ++i) r.d.factors[i] = mat(), r.d.inverses[i] = chance(20) ? mat() : NULL;
    r.d.jitter = hostile_double(), r.d.jitter_retries = chance(80) ? (int32_t)rnd(3) : hostile_i32();
    r.d.jitter_used = chance(50) ? used : NULL;
    r.d.y = chance(90) ? any_tensor() : NULL;
    r.d.alpha = chance(80) ? any_tensor() : NULL, r.d.logdet = chance(40) ? vec() : NULL;
    r.d.mll = chance(30) ? vec() : NULL;
    return vks_kron_cholesky_solve(any_ctx(), chance(5) ? NULL : &r.d);
}
static vks_status f_kron_predict(void) {
    const vks_tensor *cr[VKS_KRON_MAX_DIMS + 2];
    for (int i = 0; i < VKS_KRON_MAX_DIMS + 2; ++i) cr[i] = mat();
    return vks_kron_predict(any_ctx(), chance(90) ? 1 + (int32_t)rnd(3) : hostile_i32(), chance(5) ? NULL : cr,
                            any_tensor(), any_tensor());
}
/* Mostly small valid grids (3..6 points a side, compact vectors of the grid's size) so that
 * solves run, collocation or finite weights, with hostile fields and tensors among them. */
static vks_status f_kron_pde_solve(void) {
    regions_reset();
    ROOMY(vks_kron_pde_desc) r = {VKS_KRON_PDE_DESC_INIT, {0}};
    vks_kernel_desc k = VKS_KERNEL_DESC_INIT;
    k.lengthscale = chance(85) ? 0.3 : hostile_double();
    r.d.struct_size = hostile_size(sizeof r.d);
    r.d.d = chance(90) ? 1 + (int32_t)rnd(3) : hostile_i32();
    int64_t npts = 1;
    for (int i = 0; i < VKS_KRON_MAX_DIMS; ++i) {
        r.d.n[i] = chance(92) ? 3 + (int64_t)rnd(4) : hostile_i64();
        r.d.lo[i] = chance(92) ? 0.0 : hostile_double(), r.d.hi[i] = chance(92) ? 1.0 : hostile_double();
        r.d.coef_xx[i] = chance(90) ? 1.0 : hostile_double();
        r.d.kernels[i] = chance(97) ? &k : NULL;
        if (i < r.d.d && r.d.n[i] > 0 && r.d.n[i] < 8) npts *= r.d.n[i];
    }
    r.d.coef_u = chance(80) ? 0.5 : hostile_double(), r.d.jitter = chance(80) ? 1e-6 : hostile_double();
    r.d.max_iterations = chance(85) ? 100 : hostile_i32(), r.d.tolerance = chance(85) ? 1e-6 : hostile_double();
    const double w = chance(40) ? 0.0 : chance(80) ? 10.0 : hostile_double();
    r.d.weight_boundary = w, r.d.weight_residual = chance(85) ? w : hostile_double();
    const vks_dtype dt = chance(75) ? VKS_DTYPE_F64 : any_dtype();
    vks_tensor *t[4] = {V(dt, 1, npts, 0, 0), V(dt, 1, npts, 0, 0), V(dt, 1, npts, 0, 0),
                        chance(50) ? V(dt, 1, npts, 0, 0) : NULL};
    static double data[8 * 8 * 8 * 8];
    static float data32[8 * 8 * 8 * 8];
    for (int64_t e = 0; e < npts; ++e) data[e] = vkt_uniform(&rng, -1, 1), data32[e] = (float)data[e];
    for (int j = 0; j < 2 && (dt == VKS_DTYPE_F64 || dt == VKS_DTYPE_F32) && chance(97); ++j) /* other calls leave NaN */
        (void)vks_buffer_write(t[j]->buffer, t[j]->byte_offset, dt == VKS_DTYPE_F64 ? (const void *)data : data32,
                               (size_t)npts * (dt == VKS_DTYPE_F64 ? 8 : 4));
    corrupt_one(t, t[3] ? 4 : 3);
    r.d.f = chance(97) ? t[0] : NULL, r.d.boundary = t[1], r.d.u = chance(97) ? t[2] : NULL, r.d.alpha = t[3];
    int32_t iters;
    double res, obj;
    r.d.iterations = chance(50) ? &iters : NULL, r.d.residual = chance(50) ? &res : NULL;
    r.d.objective = chance(50) ? &obj : NULL;
    return vks_kron_pde_solve(any_ctx(), chance(5) ? NULL : &r.d);
}
static vks_status f_lora_forward(void) {
    ROOMY(vks_lora_desc) r = {VKS_LORA_DESC_INIT, {0}};
    r.d.struct_size = hostile_size(sizeof r.d);
    r.d.x = mat(), r.d.w = chance(80) ? mat() : NULL, r.d.a = mat(), r.d.b = mat();
    r.d.bias = chance(30) ? vec() : NULL, r.d.y = alias_or((vks_tensor *)r.d.x, mat());
    r.d.scale = hostile_double(), r.d.beta = hostile_double();
    return vks_lora_forward(any_ctx(), chance(5) ? NULL : &r.d);
}
static vks_status f_factorized_linear(void) {
    vks_tensor *x = mat();
    return vks_factorized_linear(any_ctx(), x, mat(), mat(), chance(30) ? vec() : NULL, alias_or(x, mat()));
}
static vks_status f_lora_pack_offsets(void) {
    int32_t ranks[8];
    int64_t ao[8], bo[8], na, nb;
    for (int i = 0; i < 8; ++i) ranks[i] = chance(90) ? (int32_t)rnd(5) : hostile_i32();
    int32_t count = chance(85) ? (int32_t)rnd(9) : hostile_i32();
    if (count > 8) count = chance(50) ? count : 8;
    if (count > 8) return vks_lora_pack_offsets(count, NULL, 4, 4, NULL, NULL, &na, &nb); /* a huge count, no array */
    return vks_lora_pack_offsets(count, chance(95) ? ranks : NULL, chance(90) ? small_dim() : hostile_i64(),
                                 chance(90) ? small_dim() : hostile_i64(), chance(50) ? ao : NULL, chance(50) ? bo : NULL,
                                 chance(50) ? &na : NULL, chance(50) ? &nb : NULL);
}
/* The adapters, ids and segments of a multi-LoRA call: arrays sized for what count says. */
typedef struct multi_args {
    ROOMY(vks_lora_adapters) ad;
    ROOMY(vks_lora_multi_desc) r;
    int32_t ranks[8], ids[64], starts[10], segs[9];
    double scales[8];
    int64_t aoff[8], boff[8];
} multi_args;
static void multi_fill(multi_args *m) {
    memset(m, 0, sizeof *m);
    m->ad.d = (vks_lora_adapters)VKS_LORA_ADAPTERS_INIT;
    m->r.d = (vks_lora_multi_desc)VKS_LORA_MULTI_DESC_INIT;
    m->ad.d.struct_size = hostile_size(sizeof m->ad.d);
    m->ad.d.count = chance(90) ? (int32_t)rnd(9) : hostile_i32();
    if (m->ad.d.count > 8 && m->ad.d.count != INT32_MAX) m->ad.d.count = 8;
    for (int i = 0; i < 8; ++i) {
        m->ranks[i] = chance(90) ? (int32_t)rnd(4) : hostile_i32(), m->scales[i] = hostile_double();
        m->aoff[i] = chance(90) ? 8 * i : hostile_i64(), m->boff[i] = chance(90) ? 8 * i : hostile_i64();
    }
    for (int i = 0; i < 64; ++i) m->ids[i] = chance(90) ? (int32_t)rnd(9) - 1 : hostile_i32();
    for (int i = 0; i < 10; ++i) m->starts[i] = chance(90) ? i : hostile_i32();
    for (int i = 0; i < 9; ++i) m->segs[i] = chance(90) ? (int32_t)rnd(9) - 1 : hostile_i32();
    const bool huge = m->ad.d.count == INT32_MAX; /* only with arrays missing: the count is all that is hostile */
    m->ad.d.ranks = huge || chance(3) ? NULL : m->ranks;
    m->ad.d.scales = !huge && chance(50) ? m->scales : NULL;
    m->ad.d.a_offsets = !huge && chance(30) ? m->aoff : NULL, m->ad.d.b_offsets = !huge && chance(30) ? m->boff : NULL;
    m->ad.d.a = any_tensor(), m->ad.d.b = any_tensor();
    vks_lora_multi_desc *d = &m->r.d;
    d->struct_size = hostile_size(sizeof *d);
    d->x = mat(), d->w = chance(70) ? mat() : NULL, d->bias = chance(30) ? vec() : NULL;
    d->y = alias_or((vks_tensor *)d->x, mat()), d->beta = hostile_double();
    d->adapters = chance(95) ? &m->ad.d : NULL;
    d->layout = (vks_lora_layout)hostile_enum(2);
    /* Host mappings sized for M <= 64 rows; device mappings as tensors. */
    if (d->x && d->x->shape[0] > 64) d->x = NULL;
    if (chance(50)) {
        d->indices = chance(95) ? m->ids : NULL;
        d->num_segments = chance(90) ? (int32_t)rnd(10) : hostile_i32();
        if (d->num_segments > 9) d->num_segments = 9;
        d->seg_starts = chance(95) ? m->starts : NULL, d->seg_adapters = chance(95) ? m->segs : NULL;
    } else {
        d->indices_dev = chance(60) ? tensor_of(VKS_DTYPE_I32, 1) : NULL;
        d->num_segments = chance(90) ? (int32_t)rnd(10) : hostile_i32();
        d->seg_starts_dev = chance(50) ? tensor_of(VKS_DTYPE_I32, 1) : NULL;
        d->seg_adapters_dev = chance(50) ? tensor_of(VKS_DTYPE_I32, 1) : NULL;
        d->status = chance(30) ? tensor_of(VKS_DTYPE_I32, 1) : NULL;
    }
}
static vks_status f_lora_multi_forward(void) {
    static multi_args m;
    multi_fill(&m);
    return vks_lora_multi_forward(any_ctx(), chance(5) ? NULL : &m.r.d);
}
static vks_status f_lora_multi_shrink(void) {
    static multi_args m;
    multi_fill(&m);
    return vks_lora_multi_shrink(any_ctx(), chance(5) ? NULL : &m.r.d, mat());
}
static vks_status f_lora_multi_expand(void) {
    static multi_args m;
    multi_fill(&m);
    return vks_lora_multi_expand(any_ctx(), chance(5) ? NULL : &m.r.d, mat());
}
static vks_status f_randlora_forward(void) {
    ROOMY(vks_randlora_desc) r = {VKS_RANDLORA_DESC_INIT, {0}};
    r.d.struct_size = hostile_size(sizeof r.d);
    r.d.x = mat(), r.d.w = chance(80) ? mat() : NULL, r.d.bias = chance(30) ? vec() : NULL;
    r.d.y = alias_or((vks_tensor *)r.d.x, mat());
    r.d.basis_a = any_tensor(), r.d.basis_b = any_tensor(), r.d.lambda = any_tensor(), r.d.gamma = any_tensor();
    r.d.scale = hostile_double(), r.d.beta = hostile_double();
    return vks_randlora_forward(any_ctx(), chance(5) ? NULL : &r.d);
}
static vks_status f_lora_merge(void) {
    vks_tensor *w = mat();
    return vks_lora_merge(any_ctx(), w, alias_or(w, mat()), mat(), hostile_double());
}
static vks_status f_galore_project(void) {
    vks_tensor *g = any_tensor();
    return vks_galore_project(any_ctx(), (vks_galore_side)hostile_enum(3), g, any_tensor(), alias_or(g, any_tensor()));
}
static vks_status f_galore_project_back(void) {
    vks_tensor *r = any_tensor();
    return vks_galore_project_back(any_ctx(), (vks_galore_side)hostile_enum(3), r, any_tensor(), hostile_double(),
                                   alias_or(r, any_tensor()));
}
static vks_status f_blockdiag_linear(void) {
    ROOMY(vks_blockdiag_desc) r = {VKS_BLOCKDIAG_DESC_INIT, {0}};
    r.d.struct_size = hostile_size(sizeof r.d);
    r.d.x = mat(), r.d.w = tensor_of(VKS_DTYPE_F32, 3), r.d.bias = chance(30) ? vec() : NULL;
    r.d.y = alias_or((vks_tensor *)r.d.x, mat()), r.d.activation = (vks_activation)hostile_enum(4);
    return vks_blockdiag_linear(any_ctx(), chance(5) ? NULL : &r.d);
}
static vks_status f_blockdiag_backward(void) {
    ROOMY(vks_blockdiag_backward_desc) r = {VKS_BLOCKDIAG_BACKWARD_DESC_INIT, {0}};
    r.d.struct_size = hostile_size(sizeof r.d);
    r.d.x = mat(), r.d.w = tensor_of(VKS_DTYPE_F32, 3), r.d.dy = mat();
    r.d.dx = chance(60) ? alias_or((vks_tensor *)r.d.dy, mat()) : NULL;
    r.d.dw = chance(60) ? tensor_of(VKS_DTYPE_F32, 3) : NULL, r.d.dbias = chance(40) ? vec() : NULL;
    return vks_blockdiag_backward(any_ctx(), chance(5) ? NULL : &r.d);
}
static void monarch_fill(vks_monarch_desc *d) {
    d->x = mat(), d->w1 = tensor_of(VKS_DTYPE_F32, 3), d->w2 = tensor_of(VKS_DTYPE_F32, 3);
    d->bias = chance(30) ? vec() : NULL, d->y = alias_or((vks_tensor *)d->x, mat());
    d->activation = (vks_activation)hostile_enum(4), d->path = (vks_monarch_path)hostile_enum(4);
    d->padded = chance(80) ? (int32_t)rnd(2) : hostile_i32();
}
static vks_status f_monarch_forward(void) {
    ROOMY(vks_monarch_desc) r = {VKS_MONARCH_DESC_INIT, {0}};
    r.d.struct_size = hostile_size(sizeof r.d);
    monarch_fill(&r.d);
    return vks_monarch_forward(any_ctx(), chance(5) ? NULL : &r.d);
}
static vks_status f_monarch_linear(void) {
    ROOMY(vks_monarch_desc) r = {VKS_MONARCH_DESC_INIT, {0}};
    r.d.struct_size = hostile_size(sizeof r.d);
    monarch_fill(&r.d);
    return vks_monarch_linear(any_ctx(), chance(5) ? NULL : &r.d);
}
static vks_status f_monarch_linear_shapes(void) {
    int64_t w1[3], w2[3];
    return vks_monarch_linear_shapes(chance(80) ? small_dim() : hostile_i64(), chance(80) ? small_dim() : hostile_i64(),
                                     chance(80) ? small_dim() : hostile_i64(), chance(95) ? w1 : NULL,
                                     chance(95) ? w2 : NULL);
}
static vks_status f_monarch_fusable(void) {
    int32_t fusable;
    return vks_monarch_fusable(any_ctx(), tensor_of(VKS_DTYPE_F32, 3), tensor_of(VKS_DTYPE_F32, 3),
                               chance(80) ? small_dim() : hostile_i64(), chance(95) ? &fusable : NULL);
}
static vks_status f_monarch_backward(void) {
    ROOMY(vks_monarch_backward_desc) r = {VKS_MONARCH_BACKWARD_DESC_INIT, {0}};
    r.d.struct_size = hostile_size(sizeof r.d);
    r.d.x = mat(), r.d.w1 = tensor_of(VKS_DTYPE_F32, 3), r.d.w2 = tensor_of(VKS_DTYPE_F32, 3), r.d.dy = mat();
    r.d.dx = chance(60) ? alias_or((vks_tensor *)r.d.dy, mat()) : NULL;
    r.d.dw1 = chance(50) ? tensor_of(VKS_DTYPE_F32, 3) : NULL, r.d.dw2 = chance(50) ? tensor_of(VKS_DTYPE_F32, 3) : NULL;
    r.d.dbias = chance(30) ? vec() : NULL, r.d.padded = chance(80) ? (int32_t)rnd(2) : hostile_i32();
    return vks_monarch_backward(any_ctx(), chance(5) ? NULL : &r.d);
}
static vks_status f_monarch_project(void) {
    ROOMY(vks_monarch_project_desc) r = {VKS_MONARCH_PROJECT_DESC_INIT, {0}};
    ROOMY(vks_monarch_project_result) res = {{0}, {0}};
    r.d.struct_size = hostile_size(sizeof r.d);
    res.d.struct_size = hostile_size(sizeof res.d);
    r.d.m = mat(), r.d.w1 = tensor_of(VKS_DTYPE_F32, 3), r.d.w2 = tensor_of(VKS_DTYPE_F32, 3);
    r.d.max_iterations = chance(80) ? (int32_t)rnd(8) : hostile_i32(), r.d.tolerance = hostile_double();
    r.d.padded = chance(80) ? (int32_t)rnd(2) : hostile_i32();
    return vks_monarch_project(any_ctx(), chance(5) ? NULL : &r.d, chance(50) ? &res.d : NULL);
}
static vks_status f_eigh(void) {
    vks_tensor *a = mat();
    return vks_eigh(any_ctx(), a, alias_or(a, vec()), chance(80) ? mat() : NULL);
}
static vks_status f_eigh_ex(void) {
    ROOMY(vks_eigh_options) o = {VKS_EIGH_OPTIONS_INIT, {0}};
    o.d.struct_size = hostile_size(sizeof o.d);
    o.d.flags = chance(80) ? (uint32_t)rnd(2) : (uint32_t)hostile_i32();
    o.d.fixed_sweeps = chance(80) ? (int32_t)rnd(4) : hostile_i32();
    o.d.max_sweeps = chance(80) ? (int32_t)rnd(10) : hostile_i32();
    o.d.info = chance(30) ? tensor_of(VKS_DTYPE_I32, 1) : NULL;
    vks_tensor *a = mat();
    return vks_eigh_ex(any_ctx(), a, vec(), chance(80) ? alias_or(a, mat()) : NULL, chance(70) ? &o.d : NULL);
}
static vks_status f_cholesky(void) {
    vks_tensor *a = mat();
    return vks_cholesky(any_ctx(), a, alias_or(a, mat()));
}
static vks_status f_cholesky_ex(void) {
    ROOMY(vks_cholesky_options) o = {VKS_CHOLESKY_OPTIONS_INIT, {0}};
    o.d.struct_size = hostile_size(sizeof o.d);
    o.d.info = chance(50) ? tensor_of(VKS_DTYPE_I32, 1) : NULL;
    vks_tensor *a = mat();
    return vks_cholesky_ex(any_ctx(), a, alias_or(a, mat()), chance(70) ? &o.d : NULL);
}
static vks_status f_trsm(void) {
    vks_tensor *b = mat();
    return vks_trsm(any_ctx(), (vks_transpose)hostile_enum(2), mat(), b, alias_or(b, mat()));
}
static void ns_fill(vks_newton_schulz_options *o, double *abc) {
    o->struct_size = hostile_size(sizeof *o);
    o->schedule = (vks_ns_schedule)hostile_enum(5);
    o->steps = chance(80) ? (int32_t)rnd(6) : hostile_i32();
    if (o->schedule == VKS_NS_CUSTOM && (o->steps < 0 || o->steps > 8)) o->steps = 8; /* abc holds 8 steps */
    o->coefficients = chance(95) ? abc : NULL;
    o->norm_factor = hostile_double(), o->eps = hostile_double();
    o->gram = (vks_ns_gram)hostile_enum(3);
    o->status = chance(20) ? tensor_of(VKS_DTYPE_I32, 1) : NULL;
}
static vks_status f_newton_schulz(void) {
    ROOMY(vks_newton_schulz_options) o = {VKS_NEWTON_SCHULZ_OPTIONS_INIT, {0}};
    double abc[24];
    for (int i = 0; i < 24; ++i) abc[i] = hostile_double();
    ns_fill(&o.d, abc);
    vks_tensor *g = any_tensor();
    return vks_newton_schulz(any_ctx(), g, alias_or(g, any_tensor()), chance(60) ? &o.d : NULL);
}
static vks_status f_newton_schulz_grouped(void) {
    ROOMY(vks_newton_schulz_options) o = {VKS_NEWTON_SCHULZ_OPTIONS_INIT, {0}};
    double abc[24];
    for (int i = 0; i < 24; ++i) abc[i] = hostile_double();
    ns_fill(&o.d, abc);
    vks_tensor g[4], out[4];
    for (int i = 0; i < 4; ++i) g[i] = *tensor_of(VKS_DTYPE_F32, 2), out[i] = chance(10) ? g[i] : *tensor_of(VKS_DTYPE_F32, 2);
    uint32_t count = chance(90) ? (uint32_t)rnd(5) : (uint32_t)hostile_i32();
    if (count > 4) count = chance(50) ? 4 : count;
    if (count > 4) return vks_newton_schulz_grouped(any_ctx(), count, NULL, NULL, NULL); /* huge count, no arrays */
    return vks_newton_schulz_grouped(any_ctx(), count, chance(95) ? g : NULL, chance(95) ? out : NULL,
                                     chance(60) ? &o.d : NULL);
}
static vks_status f_newton_schulz_coefficients(void) {
    double abc[3 * 16];
    int32_t count;
    int32_t cap = chance(80) ? (int32_t)rnd(17) : hostile_i32();
    if (cap > 16) cap = 16;
    return vks_newton_schulz_coefficients((vks_ns_schedule)hostile_enum(5), chance(80) ? (int32_t)rnd(20) : hostile_i32(),
                                          chance(90) ? abc : NULL, cap, chance(95) ? &count : NULL);
}
static void auon_fill(vks_auon_options *o) {
    o->struct_size = hostile_size(sizeof *o);
    o->variant = (vks_auon_variant)hostile_enum(2), o->gamma = hostile_double(), o->eps = hostile_double();
    o->ns_steps = chance(80) ? (int32_t)rnd(6) : hostile_i32();
    o->status = chance(20) ? tensor_of(VKS_DTYPE_I32, 1) : NULL;
}
static vks_status f_auon(void) {
    ROOMY(vks_auon_options) o = {VKS_AUON_OPTIONS_INIT, {0}};
    auon_fill(&o.d);
    vks_tensor *g = any_tensor();
    return vks_auon(any_ctx(), g, alias_or(g, any_tensor()), chance(60) ? &o.d : NULL);
}
static vks_status f_auon_grouped(void) {
    ROOMY(vks_auon_options) o = {VKS_AUON_OPTIONS_INIT, {0}};
    auon_fill(&o.d);
    vks_tensor g[3], out[3];
    for (int i = 0; i < 3; ++i) g[i] = *tensor_of(VKS_DTYPE_F32, 2), out[i] = *tensor_of(VKS_DTYPE_F32, 2);
    const uint32_t count = (uint32_t)rnd(4);
    return vks_auon_grouped(any_ctx(), count, chance(95) ? g : NULL, chance(95) ? out : NULL, chance(60) ? &o.d : NULL);
}
static vks_status f_syrk(void) {
    vks_tensor *a = mat();
    return vks_syrk(any_ctx(), (vks_transpose)hostile_enum(2), hostile_double(), a, hostile_double(), alias_or(a, mat()),
                    chance(80) ? (int32_t)rnd(2) : hostile_i32());
}
static vks_status f_cholqr(void) {
    ROOMY(vks_cholqr_options) o = {VKS_CHOLQR_OPTIONS_INIT, {0}};
    double orth;
    int32_t shifted;
    o.d.struct_size = hostile_size(sizeof o.d);
    o.d.mode = (vks_cholqr_mode)hostile_enum(3), o.d.flags = chance(80) ? (uint32_t)rnd(2) : (uint32_t)hostile_i32();
    o.d.orth_error = chance(50) ? &orth : NULL, o.d.shifted = chance(50) ? &shifted : NULL;
    o.d.info = chance(30) ? tensor_of(VKS_DTYPE_I32, 1) : NULL;
    vks_tensor *a = mat();
    return vks_cholqr(any_ctx(), a, alias_or(a, mat()), chance(70) ? mat() : NULL, chance(60) ? &o.d : NULL);
}
static vks_status f_svd(void) {
    vks_tensor *a = mat();
    return vks_svd(any_ctx(), a, chance(50) ? mat() : NULL, alias_or(a, vec()), chance(50) ? mat() : NULL);
}

/* Runtime, buffers and the rest of the core. */
static vks_status f_buffer_io(void) {
    static uint8_t host[BUF_BYTES + 64];
    vks_buffer *b = any_buffer(), *b2 = chance(20) ? b : any_buffer();
    const uint64_t off = chance(85) ? rnd(BUF_BYTES) & ~3ull : (uint64_t)hostile_i64();
    uint64_t size = chance(85) ? rnd(BUF_BYTES / 4) & ~3ull : (uint64_t)hostile_i64();
    const uint64_t off2 = chance(85) ? rnd(BUF_BYTES) & ~3ull : (uint64_t)hostile_i64();
    /* The host side must hold `size` bytes (the library cannot check a host pointer). */
    const bool host_ok = size <= sizeof host;
    switch (rnd(7)) {
    case 0: current_fn = "vks_buffer_write"; return vks_buffer_write(b, off, host_ok ? host : NULL, size);
    case 1: current_fn = "vks_buffer_read"; return vks_buffer_read(b, off, host_ok ? host : NULL, size);
    case 2: current_fn = "vks_buffer_copy"; return vks_buffer_copy(b, off, b2, off2, size);
    case 3: current_fn = "vks_buffer_fill"; return vks_buffer_fill(b, off, size, (uint32_t)vkt_next(&rng));
    case 4: {
        uint64_t s;
        current_fn = "vks_buffer_get_size";
        return vks_buffer_get_size(b, chance(90) ? &s : NULL);
    }
    case 5: {
        uint64_t h, a;
        current_fn = "vks_buffer_get_vulkan";
        return vks_buffer_get_vulkan(b, chance(80) ? &h : NULL, chance(80) ? &a : NULL);
    }
    default: {
        vks_buffer *nb = NULL;
        current_fn = "vks_buffer_create";
        const uint64_t sz = chance(80) ? 1 + rnd(1 << 16) : (uint64_t)hostile_i64();
        vks_status st = vks_buffer_create(any_ctx(), sz, chance(95) ? &nb : NULL);
        if (st == VKS_OK && nb) vks_buffer_destroy(nb);
        return st;
    }
    }
}
static vks_status f_buffer_wrap(void) {
    uint64_t h = 0, real = 0;
    vks_buffer_get_vulkan(bufs[0], &real, NULL);
    const int pick = (int)rnd(3);
    if (pick == 1) h = real; /* a real VkBuffer of this device (only the size is hostile) */
    const uint64_t sizes[] = {0, 16, BUF_BYTES, BUF_BYTES + 1, UINT64_MAX};
    vks_buffer *w = NULL;
    vks_status st = vks_buffer_wrap(chance(90) ? ctx : NULL, h, sizes[rnd(VKS_COUNT_OF_(sizes))], chance(95) ? &w : NULL);
    if (st == VKS_OK && w) vks_buffer_destroy(w);
    return st;
}
static vks_status f_buffer_destroy(void) {
    /* Only misuse the library can see: NULL (a no-op) and memory that is not a buffer. */
    return vks_buffer_destroy(chance(50) ? NULL : (vks_buffer *)fake_buffer);
}
static vks_status f_dtype_size(void) {
    size_t b;
    return vks_dtype_size((vks_dtype)hostile_enum(6), chance(90) ? &b : NULL);
}
static vks_status f_tensor_from_dlpack(void) {
    /* Room for the largest compact tensor this driver describes: 4 dims of up to 16, 8-byte
     * elements, 4 lanes (2 MiB); a smaller array let the upload read past its end. */
    static double host[16 * 16 * 16 * 16 * 4];
    int64_t shape[4], strides[4];
    DLTensor t;
    memset(&t, 0, sizeof t);
    t.ndim = chance(90) ? 1 + (int32_t)rnd(2) : hostile_i32();
    for (int i = 0; i < 4; ++i) shape[i] = 1 + (int64_t)rnd(16), strides[i] = 1;
    if (t.ndim == 2) strides[0] = shape[1];
    t.shape = chance(95) ? shape : NULL;
    t.strides = chance(50) ? strides : NULL;
    t.dtype.code = (uint8_t)(chance(85) ? kDLFloat : rnd(8)), t.dtype.bits = (uint8_t)(chance(85) ? 32 : rnd(70));
    t.dtype.lanes = (uint16_t)(chance(90) ? 1 : rnd(4));
    const int dev = (int)rnd(3);
    if (dev == 0) t.device.device_type = kDLCPU, t.data = chance(95) ? host : NULL;
    else if (dev == 1) t.device.device_type = kDLVulkan, t.data = chance(50) ? (void *)bufs[1] : (void *)fake_buffer;
    else t.device.device_type = (DLDeviceType)rnd(20), t.data = host;
    if (t.ndim < 1 || t.ndim > 4) t.shape = NULL, t.strides = NULL, t.data = NULL; /* the arrays hold 4 */
    t.byte_offset = chance(90) ? 0 : (uint64_t)hostile_i64();
    if (t.device.device_type == kDLCPU && t.byte_offset) t.data = NULL; /* host memory the call would read */
    vks_tensor out;
    vks_buffer *owned = NULL;
    vks_status st = vks_tensor_from_dlpack(any_ctx(), chance(95) ? &t : NULL, chance(95) ? &out : NULL,
                                           chance(95) ? &owned : NULL);
    if (owned) vks_buffer_destroy(owned);
    return st;
}
static vks_status f_context_queries(void) {
    ROOMY(vks_device_info) info = {{0}, {0}};
    ROOMY(vks_context_stats) stats = {{0}, {0}};
    info.d.struct_size = hostile_size(sizeof info.d), stats.d.struct_size = hostile_size(sizeof stats.d);
    vks_profile_entry e[4];
    size_t n;
    switch (rnd(6)) {
    case 0: current_fn = "vks_context_get_device_info";
        return vks_context_get_device_info(any_ctx(), chance(95) ? &info.d : NULL);
    case 1: current_fn = "vks_context_get_stats"; return vks_context_get_stats(any_ctx(), chance(95) ? &stats.d : NULL);
    case 2: current_fn = "vks_profile_get";
        return vks_profile_get(any_ctx(), chance(90) ? e : NULL, chance(80) ? rnd(5) : 0, chance(95) ? &n : NULL);
    case 3: current_fn = "vks_profile_clear"; return vks_profile_clear(any_ctx());
    case 4: current_fn = "vks_synchronize"; return vks_synchronize(any_ctx());
    default: current_fn = "vks_end_external_recording"; return vks_end_external_recording(any_ctx());
    }
}
static vks_status f_begin_external_recording(void) {
    /* A garbage VkCommandBuffer would be the caller's undefined behaviour: NULL only. */
    return vks_begin_external_recording(any_ctx(), NULL);
}
static vks_status f_enumerate(void) {
    ROOMY(vks_device_info) infos[3];
    memset(infos, 0, sizeof infos);
    vks_device_info flat[3];
    for (int i = 0; i < 3; ++i) flat[i] = infos[i].d, flat[i].struct_size = hostile_size(sizeof flat[i]);
    /* A struct_size beyond the real struct would make the library write past `flat`. */
    for (int i = 0; i < 3; ++i)
        if (flat[i].struct_size > sizeof flat[i]) flat[i].struct_size = sizeof flat[i];
    uint32_t count, usable;
    if (chance(30)) {
        current_fn = "vks_probe";
        return vks_probe(chance(90) ? &usable : NULL);
    }
    current_fn = "vks_enumerate_devices";
    return vks_enumerate_devices(chance(90) ? flat : NULL, (uint32_t)rnd(4), chance(95) ? &count : NULL);
}
static vks_status f_context_create(void) {
    ROOMY(vks_context_options) r = {VKS_CONTEXT_OPTIONS_INIT, {0}};
    r.d = vkt_options();
    r.d.struct_size = hostile_size(sizeof r.d);
    r.d.device_index = chance(80) ? -1 : hostile_i32();
    static const char *names[] = {NULL, "llvmpipe", "", "no such device", "LLVMPIPE"};
    r.d.device_name = names[rnd(5)];
    r.d.flags = chance(80) ? (uint32_t)(rnd(2) * VKS_CONTEXT_NO_PIPELINE_CACHE) : (uint32_t)hostile_i32();
    r.d.flags &= ~(uint32_t)VKS_CONTEXT_PROFILING; /* (profiling is fine, just slower) */
    static char long_dir[1500];
    if (!long_dir[0]) memset(long_dir, 'd', sizeof long_dir - 1), long_dir[0] = '/';
    static const char *dirs[] = {NULL, "", "/proc/vkstruct-fuzz-cannot-exist", long_dir};
    r.d.cache_dir = dirs[rnd(4)];
    r.d.vulkan = NULL; /* a host's device with garbage handles is undefined behaviour */
    vks_context *c = NULL;
    vks_status st = vks_context_create(chance(90) ? &r.d : NULL, chance(95) ? &c : NULL);
    if (c) vks_context_destroy(c);
    return st;
}
static vks_status f_plugin(void) {
    static const char *names[] = {NULL, "", "vks_gemm", "vks_no_such_function", "vks_shutdown", "vkCreateInstance",
                                  "vks_plugin_get_api"};
    if (chance(50)) {
        const vks_plugin_api *api = vks_plugin_get_api((uint32_t)hostile_i32());
        (void)api;
    } else {
        vks_proc p = vks_get_proc_address(names[rnd(VKS_COUNT_OF_(names))]);
        (void)p;
    }
    return VKS_OK; /* (no status: reaching here is the test) */
}
static vks_status f_misc(void) {
    ROOMY(vks_device_peaks) peaks = {{0}, {0}};
    switch (rnd(3)) {
    case 0: current_fn = "vks_measure_peaks"; /* the real run is a benchmark: misuse only */
        return vks_measure_peaks(chance(50) ? NULL : ctx, NULL);
    case 1: current_fn = "vks_context_save_pipeline_cache"; return vks_context_save_pipeline_cache(any_ctx());
    default: current_fn = "vks_status_string";
        return vks_status_string((vks_status)hostile_i32()) ? VKS_OK : VKS_ERROR_INVALID_ARGUMENT;
    }
    (void)peaks;
}

static vks_status f_wellformed(void) {
    regions_reset();
    float_dtype = chance(85) ? VKS_DTYPE_F32 : VKS_DTYPE_F64;
    switch (rnd(6)) {
    case 0: current_fn = "vks_gemm_ex"; return w_gemm();
    case 1: current_fn = "vks_kron_matmul"; return w_kron_matmul();
    case 2: current_fn = "vks_kron_kernel_matrix"; return w_kron_kernel();
    case 3: return w_lora();
    case 4: return w_blockdiag_monarch();
    default: return w_orthogonal();
    }
}

typedef struct entry {
    const char *name;
    vks_status (*fn)(void);
    int weight;
} entry;

#define E(n, w) {"vks_" #n, f_##n, w}
static const entry entries[] = {
    E(gemm, 4), E(gemm_ex, 4), E(kron_matmul, 3), E(kron_kernel_matrix, 3), E(kron_eigh, 2), E(kron_solve, 2),
    E(kron_cholesky_solve, 2), E(kron_predict, 2), E(kron_pde_solve, 2), E(lora_forward, 3), E(factorized_linear, 2),
    E(lora_pack_offsets, 2), E(lora_multi_forward, 3), E(lora_multi_shrink, 2), E(lora_multi_expand, 2),
    E(randlora_forward, 2), E(lora_merge, 2), E(galore_project, 2), E(galore_project_back, 2),
    E(blockdiag_linear, 2), E(blockdiag_backward, 2), E(monarch_forward, 3), E(monarch_linear, 2),
    E(monarch_linear_shapes, 1), E(monarch_fusable, 1), E(monarch_backward, 2), E(monarch_project, 2), E(eigh, 2),
    E(eigh_ex, 2), E(cholesky, 2), E(cholesky_ex, 2), E(trsm, 2), E(newton_schulz, 2), E(newton_schulz_grouped, 2),
    E(newton_schulz_coefficients, 1), E(auon, 2), E(auon_grouped, 1), E(syrk, 2), E(cholqr, 2), E(svd, 2),
    E(buffer_io, 6), E(buffer_wrap, 1), E(buffer_destroy, 1), E(dtype_size, 1), E(tensor_from_dlpack, 2),
    E(context_queries, 2), E(begin_external_recording, 1), {"vks_wellformed", f_wellformed, 15}, {"vks_enumerate_devices", f_enumerate, 1},
    {"vks_context_create", f_context_create, 1}, {"vks_plugin", f_plugin, 1}, {"vks_misc", f_misc, 1},
};

/* Calls that passed validation (and ran), per function name. */
static struct {
    const char *name;
    unsigned long count;
} accepted[96];
static void note_accepted(const char *fn) {
    for (size_t i = 0; i < VKS_COUNT_OF_(accepted); ++i) {
        if (!accepted[i].name) accepted[i].name = fn;
        if (strcmp(accepted[i].name, fn) == 0) {
            ++accepted[i].count;
            return;
        }
    }
}

static bool valid_status(vks_status st) {
    switch (st) {
#define VKS_FUZZ_CASE_(name, value, text) case name:
        VKS_STATUS_LIST(VKS_FUZZ_CASE_)
#undef VKS_FUZZ_CASE_
        return true;
    }
    return false;
}

static void note_bad_message(const char *fn, const char *msg) {
    char line[160];
    snprintf(line, sizeof line, "%s -> %.120s", fn, msg);
    for (int i = 0; i < bad_count; ++i)
        if (strncmp(bad_messages[i], line, 40 + strlen(fn)) == 0) return; /* one per kind */
    if (bad_count < MAX_BAD_MESSAGES) snprintf(bad_messages[bad_count++], sizeof bad_messages[0], "%s", line);
}

static void test_fuzz(void **state) {
    (void)state;
    const char *env_s = getenv("VKS_FUZZ_SECONDS"), *env_seed = getenv("VKS_FUZZ_SEED");
    const double seconds = env_s ? atof(env_s) : 60.0;
    const uint64_t seed = env_seed ? strtoull(env_seed, NULL, 10) : 1;
    rng = vkt_rng_seed(seed);
    ctx = vkt->ctx;
    vks_context_options o = vkt_options();
    VKT_OK(vks_context_create(&o, &other));
    for (int i = 0; i < NBUF; ++i) VKT_OK(vks_buffer_create(ctx, BUF_BYTES, &bufs[i]));
    VKT_OK(vks_buffer_create(ctx, 16, &bufs[NBUF])); /* a tiny one */
    VKT_OK(vks_buffer_create(other, BUF_BYTES, &foreign));
    static float noise[BUF_BYTES / 4];
    for (size_t i = 0; i < VKS_COUNT_OF_(noise); ++i) noise[i] = (float)vkt_uniform(&rng, -1, 1);
    for (int i = 0; i < NBUF; ++i) VKT_OK(vks_buffer_write(bufs[i], 0, noise, BUF_BYTES));
    int total_weight = 0;
    for (size_t i = 0; i < VKS_COUNT_OF_(entries); ++i) total_weight += entries[i].weight;
    signal(SIGALRM, on_alarm);
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    const bool verbose = getenv("VKS_FUZZ_VERBOSE") != NULL;
    for (iteration = 0;; ++iteration) {
        clock_gettime(CLOCK_MONOTONIC, &t);
        if ((double)(t.tv_sec - t0.tv_sec) + 1e-9 * (double)(t.tv_nsec - t0.tv_nsec) > seconds) break;
        int w = (int)rnd((uint64_t)total_weight);
        size_t k = 0;
        while (w >= entries[k].weight) w -= entries[k++].weight;
        current_fn = entries[k].name;
        if (verbose) fprintf(stderr, "call %lu %s\n", iteration, entries[k].name);
        alarm(60);
        const vks_status st = entries[k].fn();
        alarm(0);
        ++calls;
        if (st == VKS_OK) note_accepted(current_fn);
        if (!valid_status(st)) fail_msg("iteration %lu, %s: status %d is not a vks_status", iteration, current_fn, st);
        if (st != VKS_OK) {
            ++failures_seen;
            const char *msg = vks_last_error(NULL);
            if (!msg || !*msg) fail_msg("iteration %lu, %s: status %s without a message", iteration, current_fn,
                                        vks_status_string(st));
            const size_t n = strlen(current_fn);
            if (strncmp(current_fn, "vks_", 4) == 0 && strcmp(current_fn, "vks_plugin") != 0 &&
                strcmp(current_fn, "vks_misc") != 0 && (strncmp(msg, current_fn, n) != 0 || msg[n] != ':'))
                note_bad_message(current_fn, msg);
        }
        if (vkt->messages != vkt->messages_at_start)
            fail_msg("iteration %lu, %s: the validation layer spoke: %s", iteration, current_fn, vkt->last_message);
        if (iteration % 64 == 63) {
            alarm(60);
            vks_status s = vks_synchronize(ctx);
            alarm(0);
            if (s != VKS_OK) fail_msg("iteration %lu: vks_synchronize after %s: %s", iteration, current_fn,
                                      vks_last_error(NULL));
        }
    }
    VKT_OK(vks_synchronize(ctx));
    print_message("fuzz: seed %llu, %lu calls in %.0f s, %lu refused with a status\n", (unsigned long long)seed, calls,
                  seconds, failures_seen);
    char line[4096] = "";
    for (size_t i = 0; i < VKS_COUNT_OF_(accepted) && accepted[i].name; ++i) {
        char item[96];
        snprintf(item, sizeof item, " %s %lu", accepted[i].name, accepted[i].count);
        if (strlen(line) + strlen(item) + 1 < sizeof line) strcat(line, item);
    }
    print_message("fuzz: accepted (ran past validation):%s\n", line);
    if (bad_count) {
        print_message("fuzz: %d kinds of message do not start with the called function's name:\n", bad_count);
        for (int i = 0; i < bad_count; ++i) print_message("  %s\n", bad_messages[i]);
        if (getenv("VKS_FUZZ_STRICT_MESSAGES")) fail_msg("messages not led by the function's name (above)");
    }
    for (int i = 0; i <= NBUF; ++i) VKT_OK(vks_buffer_destroy(bufs[i]));
    VKT_OK(vks_context_destroy(other)); /* destroys `foreign` too */
}

int main(void) {
    const struct CMUnitTest tests[] = {VKT_TEST(test_fuzz)};
    return VKT_RUN(tests);
}
