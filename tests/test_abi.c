/* Struct defaults and the one struct_size rule (vkstruct.h, vks_struct_init): the library's
 * defaults equal the _INIT macros byte for byte; truncated, too small and larger sizes at
 * vks_struct_init and at the entry points; output structs never written past the caller's
 * size (guard bytes). */
#include <string.h>

#include "abi_struct_fields.h"
#include "vks_test.h"

#define GUARD 0xa5
#define SIZE_THROUGH(type, field) (offsetof(type, field) + sizeof(((type *)0)->field))

/* Every struct type with its C size, its first released size (frozen: through the last field
 * of the first release) and its _INIT macro as a static instance (static storage: padding 0,
 * so memcmp compares the fields and nothing else). */
#define STRUCTS(X)                                                                                                   \
    X(VKS_STRUCT_CONTEXT_OPTIONS, vks_context_options, VKS_CONTEXT_OPTIONS_INIT, message_user)                     \
    X(VKS_STRUCT_TUNING, vks_tuning, VKS_TUNING_INIT, lowrank_splitk_tile)                                          \
    X(VKS_STRUCT_GEMM_DESC, vks_gemm_desc, VKS_GEMM_DESC_INIT, activation)                                          \
    X(VKS_STRUCT_VULKAN_DEVICE, vks_vulkan_device, VKS_VULKAN_DEVICE_INIT, get_instance_proc_addr)                  \
    X(VKS_STRUCT_DEVICE_INFO, vks_device_info, VKS_DEVICE_INFO_INIT, timestamp_period_ns)                           \
    X(VKS_STRUCT_CONTEXT_STATS, vks_context_stats, VKS_CONTEXT_STATS_INIT, validation_messages)                     \
    X(VKS_STRUCT_DEVICE_PEAKS, vks_device_peaks, VKS_DEVICE_PEAKS_INIT, mma_gflops_f16)                             \
    X(VKS_STRUCT_BLOCKDIAG_DESC, vks_blockdiag_desc, VKS_BLOCKDIAG_DESC_INIT, activation)                           \
    X(VKS_STRUCT_BLOCKDIAG_BACKWARD_DESC, vks_blockdiag_backward_desc, VKS_BLOCKDIAG_BACKWARD_DESC_INIT, dbias)     \
    X(VKS_STRUCT_MONARCH_DESC, vks_monarch_desc, VKS_MONARCH_DESC_INIT, padded)                                     \
    X(VKS_STRUCT_MONARCH_BACKWARD_DESC, vks_monarch_backward_desc, VKS_MONARCH_BACKWARD_DESC_INIT, padded)          \
    X(VKS_STRUCT_MONARCH_PROJECT_DESC, vks_monarch_project_desc, VKS_MONARCH_PROJECT_DESC_INIT, padded)             \
    X(VKS_STRUCT_MONARCH_PROJECT_RESULT, vks_monarch_project_result, VKS_MONARCH_PROJECT_RESULT_INIT, blocks)       \
    X(VKS_STRUCT_LORA_DESC, vks_lora_desc, VKS_LORA_DESC_INIT, beta)                                                \
    X(VKS_STRUCT_LORA_ADAPTERS, vks_lora_adapters, VKS_LORA_ADAPTERS_INIT, b)                                       \
    X(VKS_STRUCT_LORA_MULTI_DESC, vks_lora_multi_desc, VKS_LORA_MULTI_DESC_INIT, status)                            \
    X(VKS_STRUCT_RANDLORA_DESC, vks_randlora_desc, VKS_RANDLORA_DESC_INIT, beta)                                    \
    X(VKS_STRUCT_EIGH_OPTIONS, vks_eigh_options, VKS_EIGH_OPTIONS_INIT, info)                                       \
    X(VKS_STRUCT_CHOLESKY_OPTIONS, vks_cholesky_options, VKS_CHOLESKY_OPTIONS_INIT, info)                           \
    X(VKS_STRUCT_NEWTON_SCHULZ_OPTIONS, vks_newton_schulz_options, VKS_NEWTON_SCHULZ_OPTIONS_INIT, flags)           \
    X(VKS_STRUCT_AUON_OPTIONS, vks_auon_options, VKS_AUON_OPTIONS_INIT, status)                                     \
    X(VKS_STRUCT_CHOLQR_OPTIONS, vks_cholqr_options, VKS_CHOLQR_OPTIONS_INIT, info)                                 \
    X(VKS_STRUCT_KERNEL_DESC, vks_kernel_desc, VKS_KERNEL_DESC_INIT, dx2)                                           \
    X(VKS_STRUCT_KRON_EIGH_DESC, vks_kron_eigh_desc, VKS_KRON_EIGH_DESC_INIT, eigvals)                              \
    X(VKS_STRUCT_KRON_SOLVE_DESC, vks_kron_solve_desc, VKS_KRON_SOLVE_DESC_INIT, mll)                               \
    X(VKS_STRUCT_KRON_CHOLESKY_DESC, vks_kron_cholesky_desc, VKS_KRON_CHOLESKY_DESC_INIT, inverses)

#define MACRO_INSTANCE_(e, type, init, last) static const type macro_##e = init;
STRUCTS(MACRO_INSTANCE_)

typedef struct kind {
    vks_struct_type type;
    const char *name;
    size_t size, first_size;
    const void *macro;
} kind;

static const kind kinds[] = {
#define KIND_(e, type, init, last) {e, #type, sizeof(type), SIZE_THROUGH(type, last), &macro_##e},
    STRUCTS(KIND_)
};

#define N_KINDS (sizeof kinds / sizeof kinds[0])

static size_t struct_size_of(const void *s) {
    size_t n;
    memcpy(&n, s, sizeof n);
    return n;
}

/* Every type is listed once and the enum values are the ABI's (append only). */
static void test_abi_struct_types(void **state) {
    (void)state;
    assert_int_equal(N_KINDS, 26);
    assert_int_equal(VKS_STRUCT_CONTEXT_OPTIONS, 1);
    assert_int_equal(VKS_STRUCT_TUNING, 2);
    assert_int_equal(VKS_STRUCT_GEMM_DESC, 3);
    assert_int_equal(VKS_STRUCT_KRON_CHOLESKY_DESC, 26);
    for (size_t i = 0; i < N_KINDS; ++i)
        for (size_t j = i + 1; j < N_KINDS; ++j) assert_int_not_equal(kinds[i].type, kinds[j].type);
}

/* vks_struct_init at the full size writes exactly the _INIT macro's bytes. */
static void test_abi_defaults_equal_macros(void **state) {
    (void)state;
    for (size_t i = 0; i < N_KINDS; ++i) {
        const kind *k = &kinds[i];
        unsigned char buf[4096];
        assert_true(k->size + 64 <= sizeof buf);
        memset(buf, GUARD, sizeof buf);
        VKT_OK(vks_struct_init(k->type, buf, k->size));
        if (memcmp(buf, k->macro, k->size) != 0) fail_msg("%s: vks_struct_init differs from its _INIT macro", k->name);
        assert_int_equal(struct_size_of(buf), k->size);
        for (size_t b = k->size; b < sizeof buf; ++b)
            if (buf[b] != GUARD) fail_msg("%s: byte %zu past struct_size written", k->name, b);
    }
    /* The defaults that zero-filling would get wrong. */
    vks_context_options o;
    VKT_OK(vks_struct_init(VKS_STRUCT_CONTEXT_OPTIONS, &o, sizeof o));
    assert_int_equal(o.device_index, -1);
    vks_kron_solve_desc ks;
    VKT_OK(vks_struct_init(VKS_STRUCT_KRON_SOLVE_DESC, &ks, sizeof ks));
    assert_true(ks.eig_floor == VKS_KRON_EIG_FLOOR_DEFAULT);
    vks_lora_desc ld;
    VKT_OK(vks_struct_init(VKS_STRUCT_LORA_DESC, &ld, sizeof ld));
    assert_true(ld.scale == 1.0 && ld.beta == 0.0);
    vks_gemm_desc gd;
    VKT_OK(vks_struct_init(VKS_STRUCT_GEMM_DESC, &gd, sizeof gd));
    assert_true(gd.alpha == 1.0);
}

/* An older caller (its size from the first release up) gets that many bytes; a newer one
 * (larger) gets the library's size, the rest left alone; below the first size is refused. */
static void test_abi_struct_init_sizes(void **state) {
    (void)state;
    for (size_t i = 0; i < N_KINDS; ++i) {
        const kind *k = &kinds[i];
        unsigned char buf[4096];
        /* first released size */
        memset(buf, GUARD, sizeof buf);
        VKT_OK(vks_struct_init(k->type, buf, k->first_size));
        assert_int_equal(struct_size_of(buf), k->first_size);
        assert_memory_equal(buf + sizeof(size_t), (const unsigned char *)k->macro + sizeof(size_t),
                            k->first_size - sizeof(size_t));
        for (size_t b = k->first_size; b < sizeof buf; ++b) assert_int_equal(buf[b], GUARD);
        /* larger: a newer header */
        memset(buf, GUARD, sizeof buf);
        VKT_OK(vks_struct_init(k->type, buf, k->size + 40));
        assert_int_equal(struct_size_of(buf), k->size);
        assert_memory_equal(buf + sizeof(size_t), (const unsigned char *)k->macro + sizeof(size_t),
                            k->size - sizeof(size_t));
        for (size_t b = k->size; b < sizeof buf; ++b) assert_int_equal(buf[b], GUARD);
        /* too small */
        const size_t small[] = {0, 1, 7, 8, k->first_size - 1};
        for (size_t s = 0; s < sizeof small / sizeof small[0]; ++s) {
            memset(buf, GUARD, sizeof buf);
            char want[96];
            snprintf(want, sizeof want, "struct_size = %zu, expected at least %zu", small[s], k->first_size);
            VKT_FAILS(vks_struct_init(k->type, buf, small[s]), VKS_ERROR_INVALID_ARGUMENT, want);
            assert_non_null(strstr(vks_last_error(NULL), "vks_struct_init"));
            assert_non_null(strstr(vks_last_error(NULL), k->name));
            for (size_t b = 0; b < sizeof buf; ++b) assert_int_equal(buf[b], GUARD);
        }
    }
    unsigned char buf[64];
    VKT_FAILS(vks_struct_init(VKS_STRUCT_GEMM_DESC, NULL, 80), VKS_ERROR_INVALID_ARGUMENT, "vks_struct_init: s is NULL");
    VKT_FAILS(vks_struct_init((vks_struct_type)0, buf, sizeof buf), VKS_ERROR_INVALID_ARGUMENT, "type = 0");
    VKT_FAILS(vks_struct_init((vks_struct_type)999, buf, sizeof buf), VKS_ERROR_INVALID_ARGUMENT, "type = 999");
    VKT_FAILS(vks_struct_init((vks_struct_type)-3, buf, sizeof buf), VKS_ERROR_INVALID_ARGUMENT, "type = -3");
    /* vks_tuning's first release is larger than buf. */
    VKT_FAILS(vks_struct_init(VKS_STRUCT_TUNING, buf, sizeof buf), VKS_ERROR_INVALID_ARGUMENT,
              "vks_struct_init: struct_size = 64, expected at least");
}

/* Output structs at the entry points: sizes 1..7 (accepted before) and one below the first
 * size are refused without writing; a newer caller's larger struct is filled up to ours
 * and no further. */
static void test_abi_output_structs(void **state) {
    (void)state;
    unsigned char buf[4096];
    for (size_t sz = 0; sz < sizeof(vks_context_stats); sz += (sz < 8 ? 1 : 8)) {
        memset(buf, GUARD, sizeof buf);
        memcpy(buf, &sz, sizeof sz);
        char want[128];
        snprintf(want, sizeof want, "vks_context_get_stats: stats->struct_size = %zu, expected at least", sz);
        VKT_FAILS(vks_context_get_stats(vkt->ctx, (vks_context_stats *)(void *)buf), VKS_ERROR_INVALID_ARGUMENT, want);
        for (size_t b = sizeof(size_t); b < sizeof buf; ++b) assert_int_equal(buf[b], GUARD);
    }
    for (size_t sz = 1; sz < 8; ++sz) {
        vks_device_info info;
        memset(&info, GUARD, sizeof info);
        info.struct_size = sz;
        VKT_FAILS(vks_context_get_device_info(vkt->ctx, &info), VKS_ERROR_INVALID_ARGUMENT,
                  "vks_context_get_device_info: info->struct_size = ");
        assert_int_equal(info.name[0], (char)GUARD);
    }
    /* exact size, in a bigger buffer: nothing past it */
    vks_buffer *one = NULL;
    VKT_OK(vks_buffer_create(vkt->ctx, 256, &one));
    memset(buf, GUARD, sizeof buf);
    vks_context_stats *s = (vks_context_stats *)(void *)buf;
    s->struct_size = sizeof *s;
    VKT_OK(vks_context_get_stats(vkt->ctx, s));
    VKT_OK(vks_buffer_destroy(one));
    assert_int_equal(s->struct_size, sizeof *s);
    assert_true(s->live_buffers >= 1 && s->device_bytes_in_use >= 256);
    for (size_t b = sizeof *s; b < sizeof buf; ++b) assert_int_equal(buf[b], GUARD);
    /* a newer caller's larger struct */
    memset(buf, GUARD, sizeof buf);
    vks_device_info *info = (vks_device_info *)(void *)buf;
    info->struct_size = sizeof *info + 100;
    VKT_OK(vks_context_get_device_info(vkt->ctx, info));
    assert_int_equal(info->struct_size, sizeof *info);
    assert_string_equal(info->name, vkt->info.name);
    for (size_t b = sizeof *info; b < sizeof buf; ++b) assert_int_equal(buf[b], GUARD);
    /* vks_enumerate_devices: the array's stride is the caller's size */
    typedef struct newer_info {
        vks_device_info info;
        unsigned char extra[40];
    } newer_info;
    newer_info arr[3];
    memset(arr, GUARD, sizeof arr);
    for (int i = 0; i < 3; ++i) arr[i].info.struct_size = sizeof arr[i];
    uint32_t n = 0;
    VKT_OK(vks_enumerate_devices(&arr[0].info, 3, &n));
    for (uint32_t i = 0; i < n && i < 3; ++i) {
        assert_int_equal(arr[i].info.index, i);
        assert_true(strlen(arr[i].info.name) > 0);
        assert_int_equal(arr[i].info.struct_size, sizeof arr[i]); /* the stride stays */
        for (size_t b = 0; b < sizeof arr[i].extra; ++b) assert_int_equal(arr[i].extra[b], GUARD);
    }
    arr[1].info.struct_size = sizeof(vks_device_info);
    VKT_FAILS(vks_enumerate_devices(&arr[0].info, 2, &n), VKS_ERROR_INVALID_ARGUMENT, "infos[1].struct_size = ");
    arr[0].info.struct_size = (size_t)1 << 40; /* garbage: stepping by it would leave the array */
    VKT_FAILS(vks_enumerate_devices(&arr[0].info, 2, &n), VKS_ERROR_INVALID_ARGUMENT, "past 65536 bytes");
    /* monarch projection's result: refused before any work */
    vks_monarch_project_result r;
    memset(&r, GUARD, sizeof r);
    r.struct_size = 7;
    vks_monarch_project_desc pd = VKS_MONARCH_PROJECT_DESC_INIT;
    VKT_FAILS(vks_monarch_project(vkt->ctx, &pd, &r), VKS_ERROR_INVALID_ARGUMENT,
              "vks_monarch_project: result->struct_size = 7, expected at least");
    assert_int_equal(r.iterations, (int32_t)0xa5a5a5a5);
}

/* Input structs at the entry points: too small is refused naming function and argument; a
 * newer caller's larger struct works with its unknown tail ignored; fields past an older
 * caller's size take the defaults (context options: `vulkan` came after the first release). */
static void test_abi_input_structs(void **state) {
    (void)state;
    const double av[4] = {1, 2, 3, 4}, bv[4] = {-1, 0.5, 2, 1};
    vks_buffer *A = vkt_upload(VKS_DTYPE_F32, av, 4), *B = vkt_upload(VKS_DTYPE_F32, bv, 4);
    vks_buffer *C = vkt_poisoned(VKS_DTYPE_F32, 4);
    vks_tensor ta = vks_tensor_2d(A, VKS_DTYPE_F32, 2, 2), tb = vks_tensor_2d(B, VKS_DTYPE_F32, 2, 2);
    vks_tensor tc = vks_tensor_2d(C, VKS_DTYPE_F32, 2, 2);
    struct {
        vks_gemm_desc d;
        unsigned char tail[48];
    } newer;
    memset(&newer, GUARD, sizeof newer); /* the tail a newer header would have: garbage to us */
    VKT_OK(vks_struct_init(VKS_STRUCT_GEMM_DESC, &newer.d, sizeof newer.d));
    newer.d.struct_size = sizeof newer;
    newer.d.a = &ta, newer.d.b = &tb, newer.d.c = &tc;
    VKT_OK(vks_gemm_ex(vkt->ctx, &newer.d));
    double *c = vkt_download(C, VKS_DTYPE_F32, 0, 4);
    const double want[4] = {1 * -1 + 2 * 2, 1 * 0.5 + 2 * 1, 3 * -1 + 4 * 2, 3 * 0.5 + 4 * 1};
    vkt_assert_close(c, want, 4, 1e-6, "gemm_ex with a newer desc");
    free(c);
    newer.d.struct_size = 8;
    VKT_FAILS(vks_gemm_ex(vkt->ctx, &newer.d), VKS_ERROR_INVALID_ARGUMENT,
              "vks_gemm_ex: desc->struct_size = 8, expected at least");
    vks_gemm_desc zero;
    memset(&zero, 0, sizeof zero); /* zero-filled is not the defaults: refused */
    VKT_FAILS(vks_gemm_ex(vkt->ctx, &zero), VKS_ERROR_INVALID_ARGUMENT, "desc->struct_size = 0");
    /* optional option structs: NULL is the defaults, a bad size is refused */
    vks_eigh_options eo = VKS_EIGH_OPTIONS_INIT;
    eo.struct_size = 4;
    VKT_FAILS(vks_eigh_ex(vkt->ctx, &ta, &ta, &tb, &eo), VKS_ERROR_INVALID_ARGUMENT,
              "vks_eigh_ex: options->struct_size = 4, expected at least");
    vks_lora_adapters ad = VKS_LORA_ADAPTERS_INIT;
    ad.struct_size = 3;
    vks_lora_multi_desc md = VKS_LORA_MULTI_DESC_INIT;
    md.adapters = &ad;
    VKT_FAILS(vks_lora_multi_forward(vkt->ctx, &md), VKS_ERROR_INVALID_ARGUMENT,
              "vks_lora_multi_forward: desc->adapters->struct_size = 3, expected at least");
    /* an older caller of vks_context_create: its struct ends before `vulkan` */
    struct {
        vks_context_options o;
    } older;
    memset(&older, GUARD, sizeof older); /* the bytes the older caller does not have */
    vks_context_options base = vkt_options();
    memcpy(&older.o, &base, offsetof(vks_context_options, vulkan));
    older.o.struct_size = offsetof(vks_context_options, vulkan);
    vks_context *ctx = NULL;
    VKT_OK(vks_context_create(&older.o, &ctx)); /* `vulkan` took its default, NULL */
    vks_device_info info = VKS_DEVICE_INFO_INIT;
    VKT_OK(vks_context_get_device_info(ctx, &info));
    assert_string_equal(info.name, vkt->info.name);
    VKT_OK(vks_context_destroy(ctx));
    older.o.struct_size = offsetof(vks_context_options, message_user);
    VKT_FAILS(vks_context_create(&older.o, &ctx), VKS_ERROR_INVALID_ARGUMENT,
              "vks_context_create: options->struct_size = ");
    VKT_OK(vks_buffer_destroy(A));
    VKT_OK(vks_buffer_destroy(B));
    VKT_OK(vks_buffer_destroy(C));
}

/* Every entry point that takes a struct refuses a struct_size of 7 (accepted by some before)
 * with a message naming itself, the argument and the size: the one rule is applied
 * everywhere. The tensors beside option structs are valid, so only the struct can fail. */
static void test_abi_every_entry_point(void **state) {
    (void)state;
    _Alignas(16) unsigned char raw[4096];
    memset(raw, 0, sizeof raw);
    const size_t seven = 7;
    memcpy(raw, &seven, sizeof seven);
    void *bad = raw;
    vks_context *ctx = vkt->ctx;
    vks_buffer *buf = vkt_poisoned(VKS_DTYPE_F32, 64);
    vks_tensor sq = vks_tensor_2d(buf, VKS_DTYPE_F32, 4, 4), sq2 = sq, vec = vks_tensor_1d(buf, VKS_DTYPE_F32, 4);
    sq2.byte_offset = 16 * sizeof(float);
    vec.byte_offset = 32 * sizeof(float);
    const vks_tensor gs[2] = {sq, sq}, outs[2] = {sq2, sq2};
    vks_context *none = NULL;
    uint32_t n = 0;
#define REFUSED(call, needle) VKT_FAILS(call, VKS_ERROR_INVALID_ARGUMENT, needle ".struct_size = 7, expected at least")
#define REFUSED_P(call, needle) VKT_FAILS(call, VKS_ERROR_INVALID_ARGUMENT, needle "->struct_size = 7, expected at least")
    REFUSED_P(vks_context_create(bad, &none), "vks_context_create: options");
    vks_context_options o = vkt_options();
    o.vulkan = bad;
    REFUSED_P(vks_context_create(&o, &none), "vks_context_create: options->vulkan");
    assert_null(none);
    REFUSED(vks_enumerate_devices(bad, 1, &n), "vks_enumerate_devices: infos[0]");
    REFUSED_P(vks_context_get_device_info(ctx, bad), "vks_context_get_device_info: info");
    REFUSED_P(vks_context_get_stats(ctx, bad), "vks_context_get_stats: stats");
    REFUSED_P(vks_measure_peaks(ctx, bad), "vks_measure_peaks: peaks");
    REFUSED_P(vks_gemm_ex(ctx, bad), "vks_gemm_ex: desc");
    REFUSED_P(vks_blockdiag_linear(ctx, bad), "vks_blockdiag_linear: desc");
    REFUSED_P(vks_blockdiag_backward(ctx, bad), "vks_blockdiag_backward: desc");
    REFUSED_P(vks_monarch_forward(ctx, bad), "vks_monarch_forward: desc");
    REFUSED_P(vks_monarch_linear(ctx, bad), "vks_monarch_linear: desc");
    REFUSED_P(vks_monarch_backward(ctx, bad), "vks_monarch_backward: desc");
    REFUSED_P(vks_monarch_project(ctx, bad, NULL), "vks_monarch_project: desc");
    REFUSED_P(vks_lora_forward(ctx, bad), "vks_lora_forward: desc");
    REFUSED_P(vks_lora_multi_forward(ctx, bad), "vks_lora_multi_forward: desc");
    REFUSED_P(vks_lora_multi_shrink(ctx, bad, &sq), "vks_lora_multi_shrink: desc");
    REFUSED_P(vks_lora_multi_expand(ctx, bad, &sq), "vks_lora_multi_expand: desc");
    REFUSED_P(vks_randlora_forward(ctx, bad), "vks_randlora_forward: desc");
    REFUSED_P(vks_eigh_ex(ctx, &sq, &vec, &sq2, bad), "vks_eigh_ex: options");
    REFUSED_P(vks_cholesky_ex(ctx, &sq, &sq2, bad), "vks_cholesky_ex: options");
    REFUSED_P(vks_newton_schulz(ctx, &sq, &sq2, bad), "vks_newton_schulz: options");
    REFUSED_P(vks_newton_schulz_grouped(ctx, 2, gs, outs, bad), "vks_newton_schulz_grouped: options");
    REFUSED_P(vks_auon(ctx, &sq, &sq2, bad), "vks_auon: options");
    REFUSED_P(vks_auon_grouped(ctx, 2, gs, outs, bad), "vks_auon_grouped: options");
    REFUSED_P(vks_cholqr(ctx, &sq, &sq2, NULL, bad), "vks_cholqr: options");
    REFUSED_P(vks_kron_kernel_matrix(ctx, bad, &vec, &vec, &sq), "vks_kron_kernel_matrix: desc");
    REFUSED_P(vks_kron_eigh(ctx, bad), "vks_kron_eigh: desc");
    REFUSED_P(vks_kron_solve(ctx, bad), "vks_kron_solve: desc");
    REFUSED_P(vks_kron_cholesky_solve(ctx, bad), "vks_kron_cholesky_solve: desc");
#undef REFUSED
#undef REFUSED_P
    VKT_OK(vks_buffer_destroy(buf));
}

/* An older caller of an op whose struct grew: vks_kron_solve_desc gained `flags` after its
 * first release. With the first released size, garbage where `flags` would be is never read
 * (flags takes its default, 0); the same bytes inside a full-size struct are refused. The
 * solve itself is checked: Q = I, lambda = (1, 2, 4), sigma^2 = 1, y = (2, 3, 5) gives
 * alpha = y / (lambda + 1) = (1, 1, 1). */
static void test_abi_older_desc_at_an_op(void **state) {
    (void)state;
    const double q[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1}, lam[3] = {1, 2, 4}, y[3] = {2, 3, 5};
    vks_buffer *Q = vkt_upload(VKS_DTYPE_F32, q, 9), *L = vkt_upload(VKS_DTYPE_F32, lam, 3);
    vks_buffer *Y = vkt_upload(VKS_DTYPE_F32, y, 3), *A = vkt_poisoned(VKS_DTYPE_F32, 3);
    vks_tensor tq = vks_tensor_2d(Q, VKS_DTYPE_F32, 3, 3), tl = vks_tensor_1d(L, VKS_DTYPE_F32, 3);
    vks_tensor ty = vks_tensor_1d(Y, VKS_DTYPE_F32, 3), ta = vks_tensor_1d(A, VKS_DTYPE_F32, 3);
    vks_kron_solve_desc d;
    memset(&d, GUARD, sizeof d);
    const size_t first = SIZE_THROUGH(vks_kron_solve_desc, mll);
    assert_true(first < sizeof d); /* the struct did grow */
    VKT_OK(vks_struct_init(VKS_STRUCT_KRON_SOLVE_DESC, &d, first));
    d.d = 1, d.eigvecs[0] = &tq, d.eigvals[0] = &tl, d.noise = 1.0, d.y = &ty, d.alpha = &ta;
    assert_int_equal(d.struct_size, first);
    VKT_OK(vks_kron_solve(vkt->ctx, &d));
    double *alpha = vkt_download(A, VKS_DTYPE_F32, 0, 3);
    const double want[3] = {1, 1, 1};
    vkt_assert_close(alpha, want, 3, 1e-6, "kron_solve from a first-release desc");
    free(alpha);
    d.struct_size = sizeof d; /* now the garbage is this caller's `flags` */
    VKT_FAILS(vks_kron_solve(vkt->ctx, &d), VKS_ERROR_INVALID_ARGUMENT, "desc->flags = 0xa5a5a5a5");
    VKT_OK(vks_buffer_destroy(Q));
    VKT_OK(vks_buffer_destroy(L));
    VKT_OK(vks_buffer_destroy(Y));
    VKT_OK(vks_buffer_destroy(A));
}

/* The layouts of the public structs against tests/abi_structs_golden.txt: a field moved,
 * inserted before another or retyped to another size fails here; an append fails until its
 * lines are added (to the golden file and abi_struct_fields.h) on purpose. */
static void test_abi_struct_layouts(void **state) {
    (void)state;
    typedef struct entry {
        char text[160];
    } entry;
    static const char *const names[] = {
#define NAME_(t) #t,
        VKS_ABI_STRUCTS(NAME_)
#undef NAME_
    };
    static const size_t sizes[] = {
#define SIZE_(t) sizeof(t),
        VKS_ABI_STRUCTS(SIZE_)
#undef SIZE_
    };
    static const char *const fields[] = {
#define FIELD_(t, f) #t "." #f,
        VKS_ABI_STRUCT_FIELDS(FIELD_)
#undef FIELD_
    };
    static const size_t offsets[] = {
#define OFFSET_(t, f) offsetof(t, f),
        VKS_ABI_STRUCT_FIELDS(OFFSET_)
#undef OFFSET_
    };
    const size_t n_structs = sizeof names / sizeof names[0], n_fields = sizeof fields / sizeof fields[0];
    entry *want = calloc(n_structs + n_fields, sizeof *want);
    assert_non_null(want);
    for (size_t i = 0; i < n_structs; ++i) snprintf(want[i].text, sizeof want[i].text, "%s sizeof %zu", names[i], sizes[i]);
    for (size_t i = 0; i < n_fields; ++i)
        snprintf(want[n_structs + i].text, sizeof want[i].text, "%s %zu", fields[i], offsets[i]);
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/abi_structs_golden.txt", VKS_TEST_SOURCE_DIR);
    FILE *f = fopen(path, "r");
    if (!f) fail_msg("cannot open %s", path);
    /* Compared as sets of lines (offsets place the fields), so that an update is "add these
     * lines"; off LP64 only the names are compared. */
    const bool lp64 = sizeof(void *) == 8 && sizeof(size_t) == 8;
    const size_t n_want = n_structs + n_fields;
    bool *seen = calloc(n_want, sizeof *seen);
    assert_non_null(seen);
    char line[256];
    int mismatches = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n') continue;
        line[strcspn(line, "\n")] = 0;
        bool found = false;
        for (size_t j = 0; j < n_want && !found; ++j) {
            const size_t name_len = strcspn(want[j].text, " ");
            found = lp64 ? strcmp(line, want[j].text) == 0
                         : strncmp(line, want[j].text, name_len) == 0 && line[name_len] == ' ';
            if (found) seen[j] = true;
        }
        if (!found) {
            fprintf(stderr, "golden '%s' does not hold any more (moved, removed or retyped?)\n", line);
            ++mismatches;
        }
    }
    fclose(f);
    for (size_t j = 0; j < n_want; ++j)
        if (!seen[j]) {
            fprintf(stderr, "'%s' is not in %s (add it if the field was appended on purpose)\n", want[j].text, path);
            ++mismatches;
        }
    free(seen);
    free(want);
    assert_int_equal(mismatches, 0);
    /* every struct with a vks_struct_type is frozen here too */
    for (size_t k = 0; k < N_KINDS; ++k) {
        bool listed = false;
        for (size_t j = 0; j < n_structs; ++j) listed |= strcmp(names[j], kinds[k].name) == 0;
        if (!listed) fail_msg("%s has a vks_struct_type but no layout in abi_struct_fields.h", kinds[k].name);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_abi_struct_types),
        cmocka_unit_test(test_abi_defaults_equal_macros),
        cmocka_unit_test(test_abi_struct_init_sizes),
        cmocka_unit_test(test_abi_struct_layouts),
        VKT_TEST(test_abi_output_structs),
        VKT_TEST(test_abi_input_structs),
        VKT_TEST(test_abi_every_entry_point),
        VKT_TEST(test_abi_older_desc_at_an_op),
    };
    return VKT_RUN(tests);
}
