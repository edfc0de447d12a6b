#include "vks_test.h"

#include <math.h>
#include <string.h>

vkt_env *vkt;

static void count_message(void *user, vks_message_source source, vks_message_severity sev, const char *msg) {
    vkt_env *env = user;
    if (source != VKS_SOURCE_VALIDATION || sev == VKS_MESSAGE_INFO) return;
    env->messages++;
    snprintf(env->last_message, sizeof env->last_message, "%s", msg);
}

/* The tuning vkt_options passes (vkt_set_tuning), and whether there is one. */
static vks_tuning group_tuning;
static bool group_tuned;

void vkt_set_tuning(const vks_tuning *t) {
    group_tuned = t != NULL;
    if (t) group_tuning = *t;
}

vks_context_options vkt_options(void) {
    vks_context_options o = VKS_CONTEXT_OPTIONS_INIT;
    o.flags = getenv("VKT_NO_VALIDATION") ? 0u : VKS_CONTEXT_VALIDATION;
    o.tuning = group_tuned ? &group_tuning : NULL;
    o.message_callback = count_message;
    o.message_user = vkt;
    return o;
}

int vkt_group_setup(void **state) {
    /* lavapipe unless the caller chose a device. */
    setenv("VKS_DEVICE", getenv("VKS_DEVICE") ? getenv("VKS_DEVICE") : "llvmpipe", 0);
    vkt = calloc(1, sizeof *vkt);
    if (!vkt) return -1;
    vks_context_options o = vkt_options();
    vks_status st = vks_context_create(&o, &vkt->ctx);
    if (st != VKS_OK) {
        fprintf(stderr, "vkt_group_setup: %s: %s\n", vks_status_string(st), vks_last_error(NULL));
        return -1;
    }
    vkt->info.struct_size = sizeof vkt->info;
    vks_context_get_device_info(vkt->ctx, &vkt->info);
    *state = vkt;
    return 0;
}

int vkt_gpu_kernels_setup(void **state) {
    vks_tuning t = VKS_TUNING_INIT;
    t.kernels = VKS_KERNELS_GPU;
    vkt_set_tuning(&t); /* vkt_group_teardown resets it */
    return vkt_group_setup(state);
}

bool vkt_gpu_kernels(void) {
    vks_tuning t = {.struct_size = sizeof t};
    VKT_OK(vks_context_get_tuning(vkt->ctx, &t));
    if (t.kernels != VKS_KERNELS_AUTO) return t.kernels == VKS_KERNELS_GPU;
    return vkt->info.type != VKS_DEVICE_CPU;
}

/* The suite's context while a tuned one stands in for it (vkt_push_tuned_context). */
static vks_context *pushed_from;

void vkt_push_tuned_context(const vks_tuning *t) {
    assert_null(pushed_from);
    vks_tuning own = *t;
    if (own.kernels == VKS_KERNELS_AUTO) { /* keep the suite's kernel family */
        vks_tuning cur = {.struct_size = sizeof cur};
        VKT_OK(vks_context_get_tuning(vkt->ctx, &cur));
        own.kernels = cur.kernels;
    }
    vks_context_options o = vkt_options();
    o.tuning = &own;
    vks_context *ctx = NULL;
    VKT_OK(vks_context_create(&o, &ctx));
    pushed_from = vkt->ctx;
    vkt->ctx = ctx;
}

void vkt_pop_context(void) {
    if (!pushed_from) return;
    vks_context *tuned = vkt->ctx;
    vkt->ctx = pushed_from;
    pushed_from = NULL;
    vks_context_stats st = {.struct_size = sizeof st};
    VKT_OK(vks_context_get_stats(tuned, &st));
    const uint32_t left = st.live_buffers;
    VKT_OK(vks_context_destroy(tuned));
    if (left) fail_msg("vkt_pop_context: the tuned context still had %u buffer(s)", left);
}

bool vkt_device_is_cpu(void) {
    setenv("VKS_DEVICE", getenv("VKS_DEVICE") ? getenv("VKS_DEVICE") : "llvmpipe", 0);
    vks_context *ctx = NULL;
    vks_context_options o = VKS_CONTEXT_OPTIONS_INIT;
    vks_device_info info = {.struct_size = sizeof info};
    bool cpu = vks_context_create(&o, &ctx) == VKS_OK && vks_context_get_device_info(ctx, &info) == VKS_OK &&
               info.type == VKS_DEVICE_CPU;
    vks_context_destroy(ctx);
    return cpu;
}

int vkt_group_teardown(void **state) {
    (void)state;
    vks_status st = vks_context_destroy(vkt->ctx);
    int rc = (st == VKS_OK && vkt->messages == 0) ? 0 : -1;
    vkt_set_tuning(NULL);
    if (vkt->messages) fprintf(stderr, "validation at teardown: %s\n", vkt->last_message);
    free(vkt);
    vkt = NULL;
    return rc;
}

int vkt_test_setup(void **state) {
    (void)state;
    vkt->messages_at_start = vkt->messages;
    return 0;
}

int vkt_test_teardown(void **state) {
    (void)state;
    if (pushed_from) { /* a test that failed with a tuned context standing in */
        vks_context_destroy(vkt->ctx);
        vkt->ctx = pushed_from;
        pushed_from = NULL;
    }
    if (vkt->messages != vkt->messages_at_start) {
        fprintf(stderr, "validation layer: %llu message(s) during the test; last:\n%s\n",
                (unsigned long long)(vkt->messages - vkt->messages_at_start), vkt->last_message);
        return -1;
    }
    return 0;
}

void vkt_expect_failure(vks_status got, vks_status want, const char *needle, const char *expr, const char *file,
                        int line) {
    const char *msg = vks_last_error(NULL);
    if (got != want) {
        fprintf(stderr, "%s\n  returned %s, expected %s (message: %s)\n", expr, vks_status_string(got),
                vks_status_string(want), msg);
        _fail(file, line);
    }
    if (needle && !strstr(msg, needle)) {
        fprintf(stderr, "%s\n  message \"%s\" lacks \"%s\"\n", expr, msg, needle);
        _fail(file, line);
    }
}

/* ---- random ------------------------------------------------------------------------------ */

vkt_rng vkt_rng_seed(uint64_t seed) { return (vkt_rng){seed * 0x9E3779B97F4A7C15ull + 1}; }

uint64_t vkt_next(vkt_rng *r) { /* splitmix64 */
    uint64_t z = (r->state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

double vkt_uniform(vkt_rng *r, double lo, double hi) { return lo + (hi - lo) * ((vkt_next(r) >> 11) * 0x1.0p-53); }

double vkt_normal(vkt_rng *r) {
    double u1 = vkt_uniform(r, 1e-300, 1.0), u2 = vkt_uniform(r, 0.0, 1.0);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

void vkt_fill_uniform(vkt_rng *r, double *x, size_t n, double lo, double hi) {
    for (size_t i = 0; i < n; ++i) x[i] = vkt_uniform(r, lo, hi);
}

double *vkt_random(vkt_rng *r, size_t n, double lo, double hi) {
    double *x = malloc((n ? n : 1) * sizeof *x);
    assert_non_null(x);
    vkt_fill_uniform(r, x, n, lo, hi);
    return x;
}

/* ---- dtypes ------------------------------------------------------------------------------ */

size_t vkt_dtype_bytes(vks_dtype dt) {
    size_t b = 0;
    vks_dtype_size(dt, &b);
    return b;
}

uint16_t vkt_f32_to_f16(float f) { /* round to nearest even, with subnormals and inf/NaN */
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u, e = (x >> 23) & 0xFFu, m = x & 0x7FFFFFu;
    if (e == 0xFF) return (uint16_t)(sign | 0x7C00u | (m ? 0x200u : 0));
    int exp = (int)e - 127 + 15;
    if (exp >= 31) return (uint16_t)(sign | 0x7C00u);
    if (exp <= 0) {
        if (exp < -10) return (uint16_t)sign;
        m |= 0x800000u;
        uint32_t shift = (uint32_t)(14 - exp);
        uint32_t h = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (h & 1))) ++h;
        return (uint16_t)(sign | h);
    }
    uint32_t h = ((uint32_t)exp << 10) | (m >> 13), rem = m & 0x1FFFu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) ++h;
    return (uint16_t)(sign | h);
}

float vkt_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1Fu, m = h & 0x3FFu, x;
    if (e == 0) {
        float v = ldexpf((float)m, -24);
        return sign ? -v : v;
    }
    if (e == 31) x = sign | 0x7F800000u | (m << 13);
    else x = sign | ((e - 15 + 127) << 23) | (m << 13);
    float f;
    memcpy(&f, &x, 4);
    return f;
}

static uint16_t f32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if (isnan(f)) return (uint16_t)(0x7FC0u | (u >> 16));
    return (uint16_t)((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

static float bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

void vkt_round_to(vks_dtype dt, double *x, size_t n) {
    for (size_t i = 0; i < n; ++i) {
        if (dt == VKS_DTYPE_F32) x[i] = (float)x[i];
        else if (dt == VKS_DTYPE_F16) x[i] = vkt_f16_to_f32(vkt_f32_to_f16((float)x[i]));
        else if (dt == VKS_DTYPE_BF16) x[i] = bf16_to_f32(f32_to_bf16((float)x[i]));
        else if (dt == VKS_DTYPE_I32) x[i] = (double)(int32_t)x[i];
    }
}

static void *to_bytes(vks_dtype dt, const double *x, size_t n) {
    size_t es = vkt_dtype_bytes(dt);
    uint8_t *out = malloc((n ? n : 1) * es);
    assert_non_null(out);
    for (size_t i = 0; i < n; ++i) {
        switch (dt) {
        case VKS_DTYPE_F32: { float v = (float)x[i]; memcpy(out + 4 * i, &v, 4); break; }
        case VKS_DTYPE_F64: memcpy(out + 8 * i, &x[i], 8); break;
        case VKS_DTYPE_F16: { uint16_t v = vkt_f32_to_f16((float)x[i]); memcpy(out + 2 * i, &v, 2); break; }
        case VKS_DTYPE_BF16: { uint16_t v = f32_to_bf16((float)x[i]); memcpy(out + 2 * i, &v, 2); break; }
        case VKS_DTYPE_I32: { int32_t v = (int32_t)x[i]; memcpy(out + 4 * i, &v, 4); break; }
        case VKS_DTYPE_I64: { int64_t v = (int64_t)x[i]; memcpy(out + 8 * i, &v, 8); break; }
        default: fail_msg("to_bytes: dtype %d", (int)dt);
        }
    }
    return out;
}

vks_buffer *vkt_upload(vks_dtype dt, const double *x, size_t n) {
    size_t es = vkt_dtype_bytes(dt);
    vks_buffer *b = NULL;
    VKT_OK(vks_buffer_create(vkt->ctx, (n ? n : 1) * es, &b));
    void *bytes = to_bytes(dt, x, n);
    if (n) VKT_OK(vks_buffer_write(b, 0, bytes, n * es));
    free(bytes);
    return b;
}

vks_buffer *vkt_poisoned(vks_dtype dt, size_t n) {
    double *nan = malloc((n ? n : 1) * sizeof *nan);
    assert_non_null(nan);
    for (size_t i = 0; i < n; ++i) nan[i] = NAN;
    vks_buffer *b = vkt_upload(dt, nan, n);
    free(nan);
    return b;
}

double *vkt_download(vks_buffer *buf, vks_dtype dt, size_t first, size_t n) {
    size_t es = vkt_dtype_bytes(dt);
    uint8_t *bytes = malloc((n ? n : 1) * es);
    double *out = malloc((n ? n : 1) * sizeof *out);
    assert_non_null(bytes);
    assert_non_null(out);
    if (n) VKT_OK(vks_buffer_read(buf, first * es, bytes, n * es));
    for (size_t i = 0; i < n; ++i) {
        switch (dt) {
        case VKS_DTYPE_F32: { float v; memcpy(&v, bytes + 4 * i, 4); out[i] = v; break; }
        case VKS_DTYPE_F64: memcpy(&out[i], bytes + 8 * i, 8); break;
        case VKS_DTYPE_F16: { uint16_t v; memcpy(&v, bytes + 2 * i, 2); out[i] = vkt_f16_to_f32(v); break; }
        case VKS_DTYPE_BF16: { uint16_t v; memcpy(&v, bytes + 2 * i, 2); out[i] = bf16_to_f32(v); break; }
        case VKS_DTYPE_I32: { int32_t v; memcpy(&v, bytes + 4 * i, 4); out[i] = v; break; }
        case VKS_DTYPE_I64: { int64_t v; memcpy(&v, bytes + 8 * i, 8); out[i] = (double)v; break; }
        default: fail_msg("vkt_download: dtype %d", (int)dt);
        }
    }
    free(bytes);
    return out;
}

/* ---- comparisons ------------------------------------------------------------------------- */

double vkt_tol(vks_dtype dt) {
    switch (dt) {
    case VKS_DTYPE_F64: return 1e-12;
    case VKS_DTYPE_F16: return 1e-2;
    case VKS_DTYPE_BF16: return 3e-2;
    default: return 1e-5;
    }
}

double vkt_tol_sum(vks_dtype dt, int64_t terms) {
    return vkt_tol(dt) * fmax(1.0, sqrt((double)terms / 4096.0));
}

double vkt_rel_err(const double *got, const double *want, size_t n) {
    double scale = 0, err = 0;
    for (size_t i = 0; i < n; ++i) scale = fmax(scale, fabs(want[i]));
    for (size_t i = 0; i < n; ++i) {
        if (!isfinite(got[i])) return INFINITY;
        err = fmax(err, fabs(got[i] - want[i]));
    }
    return err / fmax(scale, 1e-300);
}

double vkt_assert_close(const double *got, const double *want, size_t n, double tol, const char *what) {
    double scale = 0;
    for (size_t i = 0; i < n; ++i) scale = fmax(scale, fabs(want[i]));
    scale = fmax(scale, 1e-300);
    size_t worst = 0;
    double worst_err = -1;
    for (size_t i = 0; i < n; ++i) {
        double e = isfinite(got[i]) ? fabs(got[i] - want[i]) / scale : INFINITY;
        if (e > worst_err) worst_err = e, worst = i;
    }
    if (n && !(worst_err <= tol))
        fail_msg("%s: relative error %.3g > %.3g at element %zu of %zu: got %.9g, want %.9g", what, worst_err, tol,
                 worst, n, got[worst], want[worst]);
    return n ? worst_err : 0.0;
}
