/*
 * Per-context tuning (vks_tuning): what vks_context_create settles from the caller's struct,
 * the context flags and the environment, read back with vks_context_get_tuning; bad values
 * refused; and two contexts of one process tuned differently, each choosing its own kernels
 * and both computing correct results. The environment test is the one place the suite sets
 * tuning variables: it checks that they are read (once, at creation).
 */
#include "vks_test.h"

#include <string.h>

#include "reference.h"
#include "reference_monarch.h"

static const char *const tuning_variables[] = {"VKS_KERNELS",        "VKS_MONARCH_KERNELS", "VKS_MONARCH_COOPMAT",
                                               "VKS_MONARCH_GROUPED", "VKS_GEMM_TILED",     "VKS_LOWRANK_SPLITK",
                                               "VKS_LOWRANK_SPLITK_TILE", "VKS_EIGH_REDUCTION"};

static void clear_tuning_variables(void) {
    for (size_t i = 0; i < sizeof tuning_variables / sizeof tuning_variables[0]; ++i) unsetenv(tuning_variables[i]);
}

/* Library notices (ignored environment values) and validation messages of the contexts
 * this file creates itself. */
typedef struct notices {
    int warnings, validation;
    char last[1024];
} notices;

static void collect(void *user, vks_message_source source, vks_message_severity sev, const char *msg) {
    notices *n = user;
    if (sev == VKS_MESSAGE_INFO) return;
    if (source == VKS_SOURCE_VALIDATION) {
        n->validation++;
        fprintf(stderr, "validation: %s\n", msg);
        return;
    }
    n->warnings++;
    snprintf(n->last, sizeof n->last, "%s", msg);
}

static vks_context *create(const vks_tuning *t, uint32_t flags, notices *n) {
    vks_context_options o = vkt_options();
    o.tuning = t;
    o.flags |= flags;
    o.message_callback = collect;
    o.message_user = n;
    vks_context *ctx = NULL;
    VKT_OK(vks_context_create(&o, &ctx));
    return ctx;
}

static vks_tuning read_back(const vks_context *ctx) {
    vks_tuning t;
    memset(&t, 0xAB, sizeof t); /* every field must be written */
    t.struct_size = sizeof t;
    VKT_OK(vks_context_get_tuning(ctx, &t));
    assert_int_equal(t.struct_size, sizeof t);
    return t;
}

static void assert_tuning_equal(const vks_tuning *got, const vks_tuning *want) {
    assert_int_equal(got->flags, want->flags);
    assert_int_equal(got->kernels, want->kernels);
    assert_int_equal(got->monarch_coopmat, want->monarch_coopmat);
    assert_int_equal(got->monarch_grouped, want->monarch_grouped);
    assert_memory_equal(&got->gemm_tiled, &want->gemm_tiled, sizeof got->gemm_tiled);
    assert_int_equal(got->lowrank_splitk, want->lowrank_splitk);
    assert_int_equal(got->lowrank_splitk_slices, want->lowrank_splitk_slices);
    assert_memory_equal(&got->lowrank_splitk_tile, &want->lowrank_splitk_tile, sizeof got->lowrank_splitk_tile);
    assert_int_equal(got->eigh_reduction, want->eigh_reduction);
}

static const vks_gemm_tile tile_a = {.bm = 64, .bn = 128, .bk = 16, .tm = 4, .tn = 8, .nbuf = 2, .col4 = 1};
static const vks_splitk_tile splitk_tile_a = {.nw = 4, .fn = 2, .u = 4, .kstage = 64};

/* No caller struct, no environment: the library's choices, all AUTO / 0. */
static void test_tuning_defaults(void **state) {
    (void)state;
    notices n = {0};
    vks_context *ctx = create(NULL, 0, &n);
    const vks_tuning t = read_back(ctx), want = VKS_TUNING_INIT;
    assert_tuning_equal(&t, &want);
    assert_int_equal(n.warnings, 0);
    VKT_OK(vks_context_destroy(ctx));
    assert_int_equal(n.validation, 0);
}

/* What the caller set comes back, every field; the flag VKS_CONTEXT_GPU_KERNELS is
 * kernels = GPU. */
static void test_tuning_caller_values(void **state) {
    (void)state;
    notices n = {0};
    vks_tuning set = VKS_TUNING_INIT;
    set.kernels = VKS_KERNELS_CPU, set.monarch_coopmat = VKS_COOPMAT_OFF, set.monarch_grouped = VKS_TUNING_ON;
    set.gemm_tiled = tile_a, set.lowrank_splitk = VKS_SPLITK_FMA, set.lowrank_splitk_slices = 5;
    set.lowrank_splitk_tile = splitk_tile_a, set.eigh_reduction = VKS_EIGH_REDUCTION_DEVICE;
    vks_context *ctx = create(&set, 0, &n);
    vks_tuning t = read_back(ctx);
    assert_tuning_equal(&t, &set);
    VKT_OK(vks_context_destroy(ctx));

    ctx = create(NULL, VKS_CONTEXT_GPU_KERNELS, &n);
    t = read_back(ctx);
    assert_int_equal(t.kernels, VKS_KERNELS_GPU);
    VKT_OK(vks_context_destroy(ctx));
    vks_tuning gpu = VKS_TUNING_INIT;
    gpu.kernels = VKS_KERNELS_GPU; /* the flag and the field may say the same */
    ctx = create(&gpu, VKS_CONTEXT_GPU_KERNELS, &n);
    assert_int_equal(read_back(ctx).kernels, VKS_KERNELS_GPU);
    VKT_OK(vks_context_destroy(ctx));

    /* A newer caller's larger struct is read up to what this library knows. */
    struct {
        vks_tuning t;
        uint64_t newer_field;
    } big = {.t = set, .newer_field = 7};
    big.t.struct_size = sizeof big;
    ctx = create(&big.t, 0, &n);
    t = read_back(ctx);
    assert_tuning_equal(&t, &set);
    /* Read back into a larger struct: the known part is written, nothing past it. */
    memset(&big, 0x5A, sizeof big);
    big.t.struct_size = sizeof big;
    VKT_OK(vks_context_get_tuning(ctx, &big.t));
    assert_int_equal(big.t.struct_size, sizeof(vks_tuning));
    assert_tuning_equal(&big.t, &set);
    assert_true(big.newer_field == 0x5A5A5A5A5A5A5A5Aull);
    VKT_OK(vks_context_destroy(ctx));
    assert_int_equal(n.warnings, 0);
    assert_int_equal(n.validation, 0);
}

/* The environment, read at creation: every variable with today's syntax; the caller's
 * fields override it field by field; VKS_TUNING_NO_ENVIRONMENT ignores it; values that do
 * not parse are ignored with a warning; and a later change of the environment does not
 * reach an existing context. */
static void test_tuning_environment(void **state) {
    (void)state;
    notices n = {0};
    setenv("VKS_MONARCH_KERNELS", "gpu", 1); /* the old name of VKS_KERNELS */
    setenv("VKS_MONARCH_COOPMAT", "emulate", 1);
    setenv("VKS_MONARCH_GROUPED", "1", 1);
    setenv("VKS_GEMM_TILED", "64,128,16,4,8,2,1", 1);
    setenv("VKS_LOWRANK_SPLITK", "7", 1);
    setenv("VKS_LOWRANK_SPLITK_TILE", "4,2,4,64", 1);
    setenv("VKS_EIGH_REDUCTION", "device", 1);
    vks_context *ctx = create(NULL, 0, &n);
    vks_tuning want = VKS_TUNING_INIT;
    want.kernels = VKS_KERNELS_GPU, want.monarch_coopmat = VKS_COOPMAT_EMULATE, want.monarch_grouped = VKS_TUNING_ON;
    want.gemm_tiled = tile_a, want.lowrank_splitk_slices = 7, want.lowrank_splitk_tile = splitk_tile_a;
    want.eigh_reduction = VKS_EIGH_REDUCTION_DEVICE;
    vks_tuning t = read_back(ctx);
    assert_tuning_equal(&t, &want);
    assert_int_equal(n.warnings, 0);
    /* Read once: the context keeps what it read. */
    setenv("VKS_MONARCH_GROUPED", "0", 1);
    t = read_back(ctx);
    assert_int_equal(t.monarch_grouped, VKS_TUNING_ON);
    VKT_OK(vks_context_destroy(ctx));

    /* VKS_KERNELS wins over the old name; the other spellings of each variable. */
    setenv("VKS_KERNELS", "cpu", 1);
    setenv("VKS_MONARCH_COOPMAT", "0", 1);
    setenv("VKS_LOWRANK_SPLITK", "fma", 1);
    setenv("VKS_EIGH_REDUCTION", "host", 1);
    ctx = create(NULL, 0, &n);
    t = read_back(ctx);
    assert_int_equal(t.kernels, VKS_KERNELS_CPU);
    assert_int_equal(t.monarch_coopmat, VKS_COOPMAT_OFF);
    assert_int_equal(t.monarch_grouped, VKS_TUNING_OFF);
    assert_int_equal(t.lowrank_splitk, VKS_SPLITK_FMA);
    assert_int_equal(t.lowrank_splitk_slices, 0);
    assert_int_equal(t.eigh_reduction, VKS_EIGH_REDUCTION_HOST);
    VKT_OK(vks_context_destroy(ctx));
    setenv("VKS_MONARCH_COOPMAT", "1", 1);
    setenv("VKS_LOWRANK_SPLITK", "0", 1);
    ctx = create(NULL, 0, &n);
    t = read_back(ctx);
    assert_int_equal(t.monarch_coopmat, VKS_COOPMAT_ON);
    assert_int_equal(t.lowrank_splitk, VKS_SPLITK_OFF);
    VKT_OK(vks_context_destroy(ctx));
    setenv("VKS_LOWRANK_SPLITK", "emulate", 1);
    setenv("VKS_EIGH_REDUCTION", "auto", 1);
    ctx = create(NULL, 0, &n);
    assert_int_equal(read_back(ctx).lowrank_splitk, VKS_SPLITK_EMULATE);
    assert_int_equal(read_back(ctx).eigh_reduction, VKS_EIGH_REDUCTION_AUTO);
    VKT_OK(vks_context_destroy(ctx));

    /* The caller's fields override the environment's, the rest come from it; the flag
     * VKS_CONTEXT_GPU_KERNELS overrides VKS_KERNELS=cpu. */
    vks_tuning set = VKS_TUNING_INIT;
    set.monarch_coopmat = VKS_COOPMAT_AUTO; /* zero: not set, the environment's 1 stays */
    set.lowrank_splitk = VKS_SPLITK_FMA;
    set.gemm_tiled = (vks_gemm_tile){.bm = 128, .bn = 128, .bk = 8, .tm = 8, .tn = 8, .nbuf = 1, .col4 = 0};
    ctx = create(&set, VKS_CONTEXT_GPU_KERNELS, &n);
    t = read_back(ctx);
    assert_int_equal(t.kernels, VKS_KERNELS_GPU);
    assert_int_equal(t.monarch_coopmat, VKS_COOPMAT_ON);
    assert_int_equal(t.lowrank_splitk, VKS_SPLITK_FMA);
    assert_memory_equal(&t.gemm_tiled, &set.gemm_tiled, sizeof t.gemm_tiled);
    assert_memory_equal(&t.lowrank_splitk_tile, &splitk_tile_a, sizeof t.lowrank_splitk_tile);
    VKT_OK(vks_context_destroy(ctx));

    /* VKS_TUNING_NO_ENVIRONMENT: the library's choices where the caller set nothing. */
    set = (vks_tuning)VKS_TUNING_INIT;
    set.flags = VKS_TUNING_NO_ENVIRONMENT;
    set.monarch_grouped = VKS_TUNING_ON;
    ctx = create(&set, 0, &n);
    t = read_back(ctx);
    assert_tuning_equal(&t, &set);
    VKT_OK(vks_context_destroy(ctx));
    assert_int_equal(n.warnings, 0);

    /* Values that do not parse, or tiles the kernels cannot take: ignored, with a warning
     * naming the variable and its value. */
    clear_tuning_variables();
    static const struct {
        const char *name, *value;
    } bad[] = {{"VKS_KERNELS", "fast"},
               {"VKS_MONARCH_KERNELS", "GPU"},
               {"VKS_MONARCH_COOPMAT", "2"},
               {"VKS_MONARCH_GROUPED", "yes"},
               {"VKS_GEMM_TILED", "128,128,8,8,8,2"},
               {"VKS_GEMM_TILED", "128,128,8,0,8,1,0"},
               {"VKS_GEMM_TILED", "128,128,8,16,16,1,0"},
               {"VKS_GEMM_TILED", "128,128,8,8,8,1,0,"},
               {"VKS_LOWRANK_SPLITK", "-3"},
               {"VKS_LOWRANK_SPLITK", "4x"},
               {"VKS_LOWRANK_SPLITK_TILE", "8,1,4,100"},
               {"VKS_LOWRANK_SPLITK_TILE", "8,1,4"},
               {"VKS_EIGH_REDUCTION", "gpu"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
        setenv(bad[i].name, bad[i].value, 1);
        n.warnings = 0;
        ctx = create(NULL, 0, &n);
        t = read_back(ctx);
        want = (vks_tuning)VKS_TUNING_INIT;
        assert_tuning_equal(&t, &want);
        if (n.warnings != 1 || !strstr(n.last, bad[i].name) || !strstr(n.last, bad[i].value) ||
            strncmp(n.last, "vks_context_create: ", 20))
            fail_msg("%s=\"%s\": %d warning(s), last \"%s\"", bad[i].name, bad[i].value, n.warnings, n.last);
        VKT_OK(vks_context_destroy(ctx));
        unsetenv(bad[i].name);
    }
    assert_int_equal(n.validation, 0);
}

/* Bad values of the caller: INVALID_ARGUMENT naming the field, its value and what was
 * expected; nothing is created. Bad arguments of vks_context_get_tuning. */
static void test_tuning_errors(void **state) {
    (void)state;
    vks_context_options o = vkt_options();
    vks_context *ctx = (vks_context *)&o; /* must come back NULL */
    vks_tuning t = VKS_TUNING_INIT;
    o.tuning = &t;
#define REFUSED(needle)                                                                          \
    do {                                                                                         \
        VKT_FAILS(vks_context_create(&o, &ctx), VKS_ERROR_INVALID_ARGUMENT, needle);             \
        assert_null(ctx);                                                                        \
        t = (vks_tuning)VKS_TUNING_INIT;                                                         \
        o.flags &= ~(uint32_t)VKS_CONTEXT_GPU_KERNELS;                                           \
    } while (0)
    const size_t first_size = offsetof(vks_tuning, lowrank_splitk_tile) + sizeof t.lowrank_splitk_tile;
    char needle[160];
    snprintf(needle, sizeof needle, "vks_context_create: options.tuning->struct_size = 8, expected at least %zu",
             first_size);
    t.struct_size = 8;
    REFUSED(needle);
    t.flags = 6;
    REFUSED("options.tuning->flags = 0x6 has unknown bits 0x6");
    t.kernels = (vks_kernel_family)3;
    REFUSED("options.tuning->kernels = 3, expected a vks_kernel_family");
    t.kernels = (vks_kernel_family)-1;
    REFUSED("options.tuning->kernels = -1");
    t.monarch_coopmat = (vks_coopmat_mode)4;
    REFUSED("options.tuning->monarch_coopmat = 4, expected a vks_coopmat_mode");
    t.monarch_grouped = (vks_tuning_switch)3;
    REFUSED("options.tuning->monarch_grouped = 3, expected a vks_tuning_switch");
    t.lowrank_splitk = (vks_splitk_mode)4;
    REFUSED("options.tuning->lowrank_splitk = 4, expected a vks_splitk_mode");
    t.eigh_reduction = (vks_eigh_reduction)3;
    REFUSED("options.tuning->eigh_reduction = 3, expected a vks_eigh_reduction");
    t.gemm_tiled = (vks_gemm_tile){.bm = 128, .bn = 128, .bk = 8, .tm = 0, .tn = 8, .nbuf = 1};
    REFUSED("options.tuning->gemm_tiled = {bm 128, bn 128, bk 8, tm 0, tn 8, nbuf 1, col4 0}, expected all zero");
    t.gemm_tiled = (vks_gemm_tile){.bm = 128, .bn = 128, .bk = 8, .tm = 8, .tn = 6, .nbuf = 1, .col4 = 1};
    REFUSED("col4 1}, expected all zero or a tile gemm_tiled takes");
    t.gemm_tiled = (vks_gemm_tile){.bm = 128, .bn = 128, .bk = 65, .tm = 8, .tn = 8, .nbuf = 1};
    REFUSED("bk 65");
    t.gemm_tiled = (vks_gemm_tile){.bm = 128, .bn = 128, .bk = 8, .tm = 8, .tn = 8, .nbuf = 3};
    REFUSED("nbuf 3");
    t.lowrank_splitk_tile = (vks_splitk_tile){.nw = 8, .fn = 1, .u = 4, .kstage = 100};
    REFUSED("options.tuning->lowrank_splitk_tile = {nw 8, fn 1, u 4, kstage 100}, expected all zero");
    t.lowrank_splitk_tile = (vks_splitk_tile){.nw = 17, .fn = 1, .u = 4, .kstage = 128};
    REFUSED("nw 17");
    t.kernels = VKS_KERNELS_CPU, o.flags |= VKS_CONTEXT_GPU_KERNELS;
    REFUSED("options.flags has VKS_CONTEXT_GPU_KERNELS but options.tuning->kernels = VKS_KERNELS_CPU");
#undef REFUSED

    vks_tuning out = {.struct_size = sizeof out};
    VKT_FAILS(vks_context_get_tuning(NULL, &out), VKS_ERROR_INVALID_ARGUMENT, "vks_context_get_tuning: ctx is NULL");
    VKT_FAILS(vks_context_get_tuning(vkt->ctx, NULL), VKS_ERROR_INVALID_ARGUMENT,
              "vks_context_get_tuning: tuning is NULL");
    for (size_t size = 0; size < first_size; size += 4) {
        memset(&out, 0x11, sizeof out);
        out.struct_size = size;
        VKT_FAILS(vks_context_get_tuning(vkt->ctx, &out), VKS_ERROR_INVALID_ARGUMENT, "tuning->struct_size = ");
        assert_int_equal(out.kernels, 0x11111111); /* nothing written */
    }
    /* The first released size is enough (the padding after it is not needed). */
    memset(&out, 0x11, sizeof out);
    out.struct_size = first_size;
    VKT_OK(vks_context_get_tuning(vkt->ctx, &out));
    assert_int_equal(out.struct_size, first_size);
    assert_true(vks_get_proc_address("vks_context_get_tuning") == (vks_proc)vks_context_get_tuning);
    /* The library's defaults for bindings: the same as VKS_TUNING_INIT. */
    vks_tuning from_lib, from_macro = VKS_TUNING_INIT;
    memset(&from_lib, 0x22, sizeof from_lib);
    VKT_OK(vks_struct_init(VKS_STRUCT_TUNING, &from_lib, sizeof from_lib));
    assert_int_equal(from_lib.struct_size, sizeof from_lib);
    assert_tuning_equal(&from_lib, &from_macro);
}

/* ---- two contexts, two kernel families --------------------------------------------------- */

static vks_buffer *upload_f32(vks_context *ctx, const double *x, size_t n) {
    float *f = malloc(n * sizeof *f);
    assert_non_null(f);
    for (size_t i = 0; i < n; ++i) f[i] = (float)x[i];
    vks_buffer *b = NULL;
    VKT_OK(vks_buffer_create(ctx, n * sizeof *f, &b));
    VKT_OK(vks_buffer_write(b, 0, f, n * sizeof *f));
    free(f);
    return b;
}

static vks_buffer *poisoned_f32(vks_context *ctx, size_t n) {
    vks_buffer *b = NULL;
    VKT_OK(vks_buffer_create(ctx, n * 4, &b));
    VKT_OK(vks_buffer_fill(b, 0, n * 4, 0x7fc00000u));
    return b;
}

static double *download_f32(vks_buffer *b, size_t n) {
    float *f = malloc(n * sizeof *f);
    double *d = malloc(n * sizeof *d);
    assert_non_null(f);
    assert_non_null(d);
    VKT_OK(vks_buffer_read(b, 0, f, n * sizeof *f));
    for (size_t i = 0; i < n; ++i) d[i] = f[i];
    free(f);
    return d;
}

/* One context per kernel family, used in turn with both recording before either
 * synchronizes. Monarch with w1 (4, 2, 2), w2 (4, 3, 2) at batch 3: the GPU family's decode
 * kernel fuses it, the CPU family cannot (q = 2 is not a multiple of l = 4) and takes two
 * passes; vks_monarch_fusable and a forced fused path say which family each context runs.
 * Both results, and a GEMM on each, match the float64 oracles. */
static void test_tuning_two_contexts(void **state) {
    (void)state;
    notices n = {0};
    vks_tuning cpu = VKS_TUNING_INIT, gpu = VKS_TUNING_INIT;
    cpu.kernels = VKS_KERNELS_CPU, gpu.kernels = VKS_KERNELS_GPU;
    vks_context *ctxs[2] = {create(&cpu, 0, &n), create(&gpu, 0, &n)};
    assert_int_equal(read_back(ctxs[0]).kernels, VKS_KERNELS_CPU);
    assert_int_equal(read_back(ctxs[1]).kernels, VKS_KERNELS_GPU);

    enum { B = 3, K = 4, Q = 2, P = 2, L = 4, S = 3, R = 2, N = K * P, M = L * S, GM = 37, GN = 29, GK = 45 };
    vkt_rng rng = vkt_rng_seed(4100);
    double *x = vkt_random(&rng, B * N, -1, 1), *w1 = vkt_random(&rng, K * Q * P, -1, 1);
    double *w2 = vkt_random(&rng, L * S * R, -1, 1), *bias = vkt_random(&rng, M, -1, 1);
    double *ga = vkt_random(&rng, GM * GK, -1, 1), *gb = vkt_random(&rng, GK * GN, -1, 1);
    vkt_round_to(VKS_DTYPE_F32, x, B * N), vkt_round_to(VKS_DTYPE_F32, w1, K * Q * P);
    vkt_round_to(VKS_DTYPE_F32, w2, L * S * R), vkt_round_to(VKS_DTYPE_F32, bias, M);
    vkt_round_to(VKS_DTYPE_F32, ga, GM * GK), vkt_round_to(VKS_DTYPE_F32, gb, GK * GN);
    double want_y[B * M], want_c[GM * GN] = {0};
    refm_monarch_forward(x, B, N, N, w1, K, Q, P, w2, L, S, R, M, bias, VKS_ACT_RELU, want_y);
    ref_gemm(1.0, ref_rowmajor(ga, GM, GK), ref_rowmajor(gb, GK, GN), 0.0, ref_rowmajor(want_c, GM, GN));

    vks_buffer *bufs[2][8];
    for (int c = 0; c < 2; ++c) {
        vks_context *ctx = ctxs[c];
        bufs[c][0] = upload_f32(ctx, x, B * N), bufs[c][1] = upload_f32(ctx, w1, K * Q * P);
        bufs[c][2] = upload_f32(ctx, w2, L * S * R), bufs[c][3] = upload_f32(ctx, bias, M);
        bufs[c][4] = poisoned_f32(ctx, B * M), bufs[c][5] = upload_f32(ctx, ga, GM * GK);
        bufs[c][6] = upload_f32(ctx, gb, GK * GN), bufs[c][7] = poisoned_f32(ctx, GM * GN);
    }
    for (int c = 0; c < 2; ++c) {
        vks_buffer **bf = bufs[c];
        vks_tensor tx = vks_tensor_2d(bf[0], VKS_DTYPE_F32, B, N), ty = vks_tensor_2d(bf[4], VKS_DTYPE_F32, B, M);
        vks_tensor tw1 = vks_tensor_3d(bf[1], VKS_DTYPE_F32, K, Q, P), tw2 = vks_tensor_3d(bf[2], VKS_DTYPE_F32, L, S, R);
        vks_tensor tb = vks_tensor_1d(bf[3], VKS_DTYPE_F32, M);
        int32_t fusable = -1;
        VKT_OK(vks_monarch_fusable(ctxs[c], &tw1, &tw2, B, &fusable));
        assert_int_equal(fusable, c == 1); /* the GPU family's decode kernel only */
        vks_monarch_desc d = VKS_MONARCH_DESC_INIT;
        d.x = &tx, d.w1 = &tw1, d.w2 = &tw2, d.bias = &tb, d.y = &ty, d.activation = VKS_ACT_RELU;
        d.path = VKS_MONARCH_PATH_FUSED;
        if (c == 0) VKT_FAILS(vks_monarch_forward(ctxs[c], &d), VKS_ERROR_UNSUPPORTED, "q = 2 is not a multiple of l = 4");
        d.path = VKS_MONARCH_PATH_AUTO; /* fused on the GPU family, two-pass on the CPU one */
        VKT_OK(vks_monarch_forward(ctxs[c], &d));
        vks_tensor ta = vks_tensor_2d(bf[5], VKS_DTYPE_F32, GM, GK), tgb = vks_tensor_2d(bf[6], VKS_DTYPE_F32, GK, GN);
        vks_tensor tc = vks_tensor_2d(bf[7], VKS_DTYPE_F32, GM, GN);
        VKT_OK(vks_gemm(ctxs[c], VKS_NO_TRANS, VKS_NO_TRANS, 1.0, &ta, &tgb, 0.0, &tc));
    }
    for (int c = 0; c < 2; ++c) {
        VKT_OK(vks_synchronize(ctxs[c]));
        double *y = download_f32(bufs[c][4], B * M), *cc = download_f32(bufs[c][7], GM * GN);
        vkt_assert_close(y, want_y, B * M, vkt_tol(VKS_DTYPE_F32), c ? "monarch, GPU kernels" : "monarch, CPU kernels");
        vkt_assert_close(cc, want_c, GM * GN, vkt_tol(VKS_DTYPE_F32), c ? "gemm, GPU kernels" : "gemm, CPU kernels");
        free(y), free(cc);
        for (int i = 0; i < 8; ++i) VKT_OK(vks_buffer_destroy(bufs[c][i]));
        VKT_OK(vks_context_destroy(ctxs[c]));
    }
    free(x), free(w1), free(w2), free(bias), free(ga), free(gb);
    assert_int_equal(n.validation, 0);
    assert_int_equal(n.warnings, 0);
}

/* Each test starts from an environment without tuning variables (also after one that failed
 * halfway through setting them): the tests say what they expect from it. */
static int clean_setup(void **state) {
    clear_tuning_variables();
    return vkt_test_setup(state);
}

#define TUNING_TEST(fn) cmocka_unit_test_setup_teardown(fn, clean_setup, vkt_test_teardown)

int main(void) {
    clear_tuning_variables();
    const struct CMUnitTest tests[] = {
        TUNING_TEST(test_tuning_defaults), TUNING_TEST(test_tuning_caller_values), TUNING_TEST(test_tuning_environment),
        TUNING_TEST(test_tuning_errors),   TUNING_TEST(test_tuning_two_contexts),
    };
    return VKT_RUN(tests);
}
