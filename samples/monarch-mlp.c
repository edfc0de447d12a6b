/*
 * monarch-mlp: replace a dense MLP layer by Monarch matrices.
 *
 * Takes a dense layer W (out x in; y = x W^T, PyTorch's nn.Linear layout): a random one with
 * a decaying (power-law) spectrum, built on the device, or a raw little-endian f32 file. For
 * each nblocks it projects W onto Monarch (fly's MonarchLinear weight shapes, the optimal
 * Frobenius approximation, computed on the device), and reports the approximation error,
 * the parameter count, and the time of dense vs Monarch forward on a batch of tokens.
 *
 *   monarch-mlp [--in N] [--out M] [--file W.f32 --shape OUTxIN] [--nblocks 4,16,32]
 *               [--batch B] [--alpha A] [--iters N] [--device D] [--quick]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <vkstruct/vkstruct.h>

#include "sample_device.h"

#define CHECK(call) SAMPLE_CHECK("monarch-mlp", call)

static uint64_t rng_state = 0x5EEDull;

static double uniform(void) {
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (double)(z >> 11) * 0x1.0p-53;
}

static double normal(void) {
    const double u1 = fmax(uniform(), 1e-300), u2 = uniform();
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

static vks_buffer *upload(vks_context *ctx, const float *v, size_t n) {
    vks_buffer *b = NULL;
    CHECK(vks_buffer_create(ctx, n * sizeof(float), &b));
    CHECK(vks_buffer_write(b, 0, v, n * sizeof(float)));
    return b;
}

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef void (*record_fn)(vks_context *ctx, void *user);

/* Median GPU time of one call: warm-up, then `iters` calls and one synchronize, timed by
 * the context's per-op timestamps. */
static double time_op(vks_context *ctx, record_fn fn, void *user, int iters) {
    for (int i = 0; i < 2; ++i) fn(ctx, user);
    CHECK(vks_synchronize(ctx));
    CHECK(vks_profile_clear(ctx));
    for (int i = 0; i < iters; ++i) fn(ctx, user);
    CHECK(vks_synchronize(ctx));
    size_t count = 0;
    CHECK(vks_profile_get(ctx, NULL, 0, &count));
    vks_profile_entry *e = calloc(count ? count : 1, sizeof *e);
    double *ms = calloc(count ? count : 1, sizeof *ms);
    CHECK(vks_profile_get(ctx, e, count, &count));
    for (size_t i = 0; i < count; ++i) ms[i] = e[i].gpu_ms;
    qsort(ms, count, sizeof *ms, cmp_double);
    const double med = count ? ms[count / 2] : NAN;
    free(e), free(ms);
    return med;
}

typedef struct forward_args {
    vks_tensor x, y, w, w1, w2;
} forward_args;

static void record_dense(vks_context *ctx, void *user) {
    forward_args *a = user;
    CHECK(vks_gemm(ctx, VKS_NO_TRANS, VKS_TRANS, 1.0, &a->x, &a->w, 0.0, &a->y));
}

static void record_monarch(vks_context *ctx, void *user) {
    forward_args *a = user;
    vks_monarch_desc d = VKS_MONARCH_DESC_INIT;
    d.x = &a->x, d.w1 = &a->w1, d.w2 = &a->w2, d.y = &a->y;
    CHECK(vks_monarch_linear(ctx, &d));
}

static void read_floats(vks_buffer *b, float *out, size_t n) { CHECK(vks_buffer_read(b, 0, out, n * sizeof(float))); }

static void usage(FILE *f) {
    fprintf(f, "usage: monarch-mlp [--in N] [--out M] [--file W.f32 --shape OUTxIN] [--nblocks 4,16,32]\n"
               "                   [--batch B] [--alpha A] [--iters N] [--device D] [--quick]\n"
               "  --in/--out  size of the random layer (default 1024 x 1024; --quick 256 x 256)\n"
               "  --file      raw little-endian f32 weight, out x in row-major (nn.Linear.weight)\n"
               "  --shape     its shape, e.g. 3072x768\n"
               "  --nblocks   comma-separated block counts (default 4,16,32)\n"
               "  --batch     tokens per forward (default 256)\n"
               "  --alpha     spectrum decay of the random layer: sigma_j = (j+1)^-alpha (default 1)\n"
               "  --iters     timed forwards per case (default 20; --quick 5)\n"
               "  --device    device index or name substring\n");
}

int main(int argc, char **argv) {
    int64_t in = 0, out = 0, batch = 256;
    int iters = 0;
    double alpha = 1.0;
    const char *file = NULL, *shape = NULL, *device = NULL, *nblist = "4,16,32";
    int quick = 0;
    for (int i = 1; i < argc; ++i) {
        if (!strcmp(argv[i], "--in") && i + 1 < argc) in = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--out") && i + 1 < argc) out = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--file") && i + 1 < argc) file = argv[++i];
        else if (!strcmp(argv[i], "--shape") && i + 1 < argc) shape = argv[++i];
        else if (!strcmp(argv[i], "--nblocks") && i + 1 < argc) nblist = argv[++i];
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc) batch = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--alpha") && i + 1 < argc) alpha = atof(argv[++i]);
        else if (!strcmp(argv[i], "--iters") && i + 1 < argc) iters = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--device") && i + 1 < argc) device = argv[++i];
        else if (!strcmp(argv[i], "--quick")) quick = 1;
        else {
            usage(strcmp(argv[i], "--help") ? stderr : stdout);
            return strcmp(argv[i], "--help") ? 2 : 0;
        }
    }
    if (file) {
        long long o = 0, n = 0;
        if (!shape || sscanf(shape, "%lldx%lld", &o, &n) != 2 || o < 1 || n < 1) {
            fprintf(stderr, "monarch-mlp: --file needs --shape OUTxIN\n");
            return 2;
        }
        out = o, in = n;
    } else {
        if (!in) in = quick ? 256 : 1024;
        if (!out) out = quick ? 256 : 1024;
    }
    if (!iters) iters = quick ? 5 : 20;
    if (in < 1 || out < 1 || batch < 1) {
        fprintf(stderr, "monarch-mlp: sizes must be >= 1\n");
        return 2;
    }

    vks_context_options o = VKS_CONTEXT_OPTIONS_INIT;
    o.flags = VKS_CONTEXT_PROFILING;
    sample_choose_device(&o, device);
    vks_context *ctx = NULL;
    CHECK(vks_context_create(&o, &ctx));
    vks_device_info info = {sizeof info};
    CHECK(vks_context_get_device_info(ctx, &info));
    printf("device: %s (%s)\n", info.name, info.driver_info);

    /* The dense layer W (out x in) on the device. */
    const size_t nw = (size_t)(out * in);
    vks_buffer *W = NULL;
    if (file) {
        float *host = malloc(nw * sizeof *host);
        FILE *f = fopen(file, "rb");
        if (!host || !f || fread(host, sizeof(float), nw, f) != nw) {
            fprintf(stderr, "monarch-mlp: cannot read %zu f32 values from %s\n", nw, file);
            return 1;
        }
        fclose(f);
        W = upload(ctx, host, nw);
        free(host);
        printf("layer:  %s, %lld x %lld (out x in)\n", file, (long long)out, (long long)in);
    } else {
        /* W = U diag(sigma) V with Gaussian U (out x r), V (r x in), sigma_j = (j+1)^-alpha:
         * a power-law spectrum like trained layers', formed by one GEMM on the device. */
        const int64_t r = in < out ? in : out;
        float *u = malloc((size_t)(out * r) * sizeof *u), *v = malloc((size_t)(r * in) * sizeof *v);
        for (int64_t i = 0; i < out; ++i)
            for (int64_t j = 0; j < r; ++j) u[i * r + j] = (float)(normal() * pow((double)(j + 1), -alpha) / sqrt((double)out));
        for (size_t i = 0; i < (size_t)(r * in); ++i) v[i] = (float)(normal() / sqrt((double)in));
        vks_buffer *U = upload(ctx, u, (size_t)(out * r)), *V = upload(ctx, v, (size_t)(r * in));
        CHECK(vks_buffer_create(ctx, nw * sizeof(float), &W));
        vks_tensor tu = vks_tensor_2d(U, VKS_DTYPE_F32, out, r), tv = vks_tensor_2d(V, VKS_DTYPE_F32, r, in);
        vks_tensor tw = vks_tensor_2d(W, VKS_DTYPE_F32, out, in);
        CHECK(vks_gemm(ctx, VKS_NO_TRANS, VKS_NO_TRANS, 1.0, &tu, &tv, 0.0, &tw));
        CHECK(vks_synchronize(ctx));
        vks_buffer_destroy(U), vks_buffer_destroy(V);
        free(u), free(v);
        printf("layer:  random, %lld x %lld (out x in), spectrum sigma_j = (j+1)^-%.2g\n", (long long)out, (long long)in,
               alpha);
    }
    const vks_tensor tw = vks_tensor_2d(W, VKS_DTYPE_F32, out, in);

    /* A batch of tokens, and the dense reference output on it. */
    float *hx = malloc((size_t)(batch * in) * sizeof *hx);
    for (size_t i = 0; i < (size_t)(batch * in); ++i) hx[i] = (float)normal();
    vks_buffer *X = upload(ctx, hx, (size_t)(batch * in)), *YD = NULL, *YM = NULL;
    free(hx);
    CHECK(vks_buffer_create(ctx, (uint64_t)(batch * out) * sizeof(float), &YD));
    CHECK(vks_buffer_create(ctx, (uint64_t)(batch * out) * sizeof(float), &YM));
    forward_args dense = {.x = vks_tensor_2d(X, VKS_DTYPE_F32, batch, in), .y = vks_tensor_2d(YD, VKS_DTYPE_F32, batch, out),
                          .w = tw};
    const double dense_ms = time_op(ctx, record_dense, &dense, iters);
    float *yd = malloc((size_t)(batch * out) * sizeof *yd), *ym = malloc((size_t)(batch * out) * sizeof *ym);
    read_floats(YD, yd, (size_t)(batch * out));
    printf("batch:  %lld tokens\n\n", (long long)batch);
    printf("%-8s %-22s %12s %8s %12s %12s %12s %9s %8s\n", "nblocks", "w1 / w2", "params", "ratio", "approx err",
           "output err", "project ms", "fwd ms", "speedup");
    printf("%-8s %-22s %12lld %8s %12s %12s %12s %9.3f %8s\n", "dense", "-", (long long)(out * in), "1.00", "0", "0", "-",
           dense_ms, "1.00");

    for (const char *p = nblist; *p;) {
        const long long nb = strtoll(p, (char **)&p, 10);
        while (*p == ',') ++p;
        if (nb < 1) break;
        int64_t s1[3], s2[3];
        CHECK(vks_monarch_linear_shapes(in, out, nb, s1, s2));
        const int64_t n1 = s1[0] * s1[1] * s1[2], n2 = s2[0] * s2[1] * s2[2];
        vks_buffer *W1 = NULL, *W2 = NULL;
        CHECK(vks_buffer_create(ctx, (uint64_t)n1 * sizeof(float), &W1));
        CHECK(vks_buffer_create(ctx, (uint64_t)n2 * sizeof(float), &W2));
        forward_args m = dense;
        m.y = vks_tensor_2d(YM, VKS_DTYPE_F32, batch, out);
        m.w1 = vks_tensor_3d(W1, VKS_DTYPE_F32, s1[0], s1[1], s1[2]);
        m.w2 = vks_tensor_3d(W2, VKS_DTYPE_F32, s2[0], s2[1], s2[2]);
        vks_monarch_project_desc pd = VKS_MONARCH_PROJECT_DESC_INIT;
        pd.m = &tw, pd.w1 = &m.w1, pd.w2 = &m.w2, pd.padded = 1;
        vks_monarch_project_result pr = {sizeof pr};
        CHECK(vks_profile_clear(ctx));
        CHECK(vks_synchronize(ctx));
        const double t_project = sample_now_ms();
        vks_status st = vks_monarch_project(ctx, &pd, &pr);
        if (st == VKS_ERROR_UNSUPPORTED) { /* e.g. blocks too large for lavapipe's loop limit */
            printf("%-8lld projection not available here: %s\n", nb, vks_last_error(NULL));
            vks_buffer_destroy(W1), vks_buffer_destroy(W2);
            continue;
        }
        CHECK(st);
        /* The wall clock: the projection reads m back and synchronizes (untimed by the profiler). */
        const double project_ms = sample_now_ms() - t_project;
        const double ms = time_op(ctx, record_monarch, &m, iters);
        read_floats(YM, ym, (size_t)(batch * out));
        double num = 0, den = 0;
        for (size_t i = 0; i < (size_t)(batch * out); ++i) num += (ym[i] - yd[i]) * (double)(ym[i] - yd[i]), den += (double)yd[i] * yd[i];
        char shapes[64];
        snprintf(shapes, sizeof shapes, "(%lld,%lld,%lld)/(%lld,%lld,%lld)", (long long)s1[0], (long long)s1[1],
                 (long long)s1[2], (long long)s2[0], (long long)s2[1], (long long)s2[2]);
        printf("%-8lld %-22s %12lld %8.3f %12.4f %12.4f %12.1f %9.3f %8.2f%s\n", nb, shapes, (long long)(n1 + n2),
               (double)(n1 + n2) / (double)(out * in), pr.relative_error, sqrt(num / fmax(den, 1e-300)), project_ms, ms,
               dense_ms / ms, pr.unconverged ? " (some blocks unconverged)" : "");
        vks_buffer_destroy(W1), vks_buffer_destroy(W2);
    }
    printf("\napprox err: |W - M|_F / |W|_F of the projection (reported by vks_monarch_project);\n"
           "output err: the same measure on the batch's outputs; times: median GPU time per call.\n");
    free(yd), free(ym);
    vks_buffer_destroy(X), vks_buffer_destroy(YD), vks_buffer_destroy(YM), vks_buffer_destroy(W);
    CHECK(vks_context_destroy(ctx));
    return 0;
}
