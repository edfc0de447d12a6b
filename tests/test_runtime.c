/* Devices and contexts: enumeration, device choice by option and VKS_DEVICE, status
 * strings, per-thread error messages, profiling, threads sharing a context. */
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <unistd.h>
#include <string.h>

#include "reference.h"
#include "vks_test.h"

static void test_runtime_devices(void **state) {
    (void)state;
    uint32_t n = 0, usable = 0;
    VKT_OK(vks_enumerate_devices(NULL, 0, &n));
    assert_true(n >= 1);
    vks_device_info infos[8];
    for (int i = 0; i < 8; ++i) infos[i].struct_size = sizeof infos[i];
    VKT_OK(vks_enumerate_devices(infos, 8, &n));
    bool found_selected = false;
    for (uint32_t i = 0; i < n && i < 8; ++i) {
        assert_int_equal(infos[i].index, i);
        assert_true(strlen(infos[i].name) > 0);
        if (infos[i].usable) {
            assert_true((infos[i].features & VKS_REQUIRED_FEATURES) == VKS_REQUIRED_FEATURES);
            assert_true(infos[i].api_version >= ((1u << 22) | (2u << 12)));
        }
        found_selected |= strcmp(infos[i].name, vkt->info.name) == 0;
    }
    assert_true(found_selected);
    VKT_OK(vks_probe(&usable));
    assert_true(usable >= 1 && usable <= n);
    /* A struct_size below the first released size is refused and nothing is written (the
     * sizes past it are tests/test_abi.c's). */
    vks_device_info small;
    memset(&small, 0x5a, sizeof small);
    small.struct_size = offsetof(vks_device_info, type);
    VKT_FAILS(vks_enumerate_devices(&small, 1, &n), VKS_ERROR_INVALID_ARGUMENT, "infos[0].struct_size = ");
    assert_int_equal((int)small.type, 0x5a5a5a5a);
    VKT_FAILS(vks_enumerate_devices(NULL, 1, &n), VKS_ERROR_INVALID_ARGUMENT, "infos is NULL but capacity = 1");
    /* struct_size left 0: nothing is written (a whole info could run past an older struct). */
    vks_device_info unset[2];
    memset(unset, 0x5a, sizeof unset);
    unset[0].struct_size = sizeof unset[0], unset[1].struct_size = 0;
    VKT_FAILS(vks_enumerate_devices(unset, 2, &n), VKS_ERROR_INVALID_ARGUMENT, "infos[1].struct_size = 0");
    assert_int_equal((int)unset[1].type, 0x5a5a5a5a);
    VKT_FAILS(vks_probe(NULL), VKS_ERROR_INVALID_ARGUMENT, "usable_devices is NULL");
}

/* Device choice: explicit index > explicit name > VKS_DEVICE > best type. */
static void test_runtime_device_choice(void **state) {
    (void)state;
    vks_context *ctx = NULL;
    vks_context_options o = vkt_options();
    o.device_index = (int32_t)vkt->info.index;
    o.device_name = "no such device"; /* the index wins */
    VKT_OK(vks_context_create(&o, &ctx));
    VKT_OK(vks_context_destroy(ctx));

    o = vkt_options();
    o.device_index = 999;
    VKT_FAILS(vks_context_create(&o, &ctx), VKS_ERROR_OUT_OF_RANGE, "options.device_index = 999");
    assert_null(ctx);
    o.device_index = -2;
    VKT_FAILS(vks_context_create(&o, &ctx), VKS_ERROR_INVALID_ARGUMENT, "options.device_index = -2, expected");
    assert_null(ctx);
    o = vkt_options();
    o.flags |= 1u << 20;
    VKT_FAILS(vks_context_create(&o, &ctx), VKS_ERROR_INVALID_ARGUMENT, "has unknown bits 0x100000");
    assert_null(ctx);
    o = vkt_options();
    o.device_name = "no such device";
    VKT_FAILS(vks_context_create(&o, &ctx), VKS_ERROR_NO_DEVICE, "'no such device': no usable device");
    assert_true(strstr(vks_last_error(NULL), vkt->info.name) != NULL); /* lists the devices */

    char saved[256];
    snprintf(saved, sizeof saved, "%s", getenv("VKS_DEVICE") ? getenv("VKS_DEVICE") : "");
    char idx[16];
    snprintf(idx, sizeof idx, "%u", vkt->info.index);
    setenv("VKS_DEVICE", idx, 1);
    o = vkt_options();
    VKT_OK(vks_context_create(&o, &ctx));
    vks_device_info info = {.struct_size = sizeof info};
    VKT_OK(vks_context_get_device_info(ctx, &info));
    assert_string_equal(info.name, vkt->info.name);
    VKT_OK(vks_context_destroy(ctx));
    setenv("VKS_DEVICE", "NoSuchGpu", 1);
    VKT_FAILS(vks_context_create(&o, &ctx), VKS_ERROR_NO_DEVICE, "VKS_DEVICE = 'NoSuchGpu'");
    setenv("VKS_DEVICE", "77", 1);
    VKT_FAILS(vks_context_create(&o, &ctx), VKS_ERROR_OUT_OF_RANGE, "VKS_DEVICE = 77");
    setenv("VKS_DEVICE", saved, 1);

    o = vkt_options();
    o.struct_size = 4;
    VKT_FAILS(vks_context_create(&o, &ctx), VKS_ERROR_INVALID_ARGUMENT, "struct_size = 4");
    VKT_FAILS(vks_context_create(NULL, NULL), VKS_ERROR_INVALID_ARGUMENT, "out is NULL");
    VKT_OK(vks_context_destroy(NULL));
}

static void test_runtime_status_strings(void **state) {
    (void)state;
    const vks_status all[] = {
#define X(name, value, text) name,
        VKS_STATUS_LIST(X)
#undef X
    };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; ++i) {
        const char *s = vks_status_string(all[i]);
        assert_non_null(strstr(s, "VKS_"));
        for (size_t j = 0; j < i; ++j) assert_string_not_equal(s, vks_status_string(all[j]));
    }
    assert_string_equal(vks_status_string((vks_status)-999), "unknown vks_status");
    assert_string_equal(vks_status_string(VKS_ERROR_SHAPE_MISMATCH), "VKS_ERROR_SHAPE_MISMATCH: shapes do not agree");
    size_t bytes = 0;
    VKT_OK(vks_dtype_size(VKS_DTYPE_F16, &bytes));
    assert_int_equal(bytes, 2);
    VKT_FAILS(vks_dtype_size((vks_dtype)42, &bytes), VKS_ERROR_INVALID_ARGUMENT, "dtype = 42");
}

/* A failure on one thread leaves other threads' messages alone. */
static void *fail_on_thread(void *arg) {
    (void)arg;
    vks_buffer *b;
    vks_buffer_create(vkt->ctx, 0, &b);
    return strstr(vks_last_error(NULL), "size_bytes = 0") ? (void *)1 : NULL;
}

static void test_runtime_last_error_per_thread(void **state) {
    (void)state;
    vks_synchronize(NULL);
    assert_non_null(strstr(vks_last_error(NULL), "vks_synchronize: ctx is NULL"));
    pthread_t t;
    void *ok = NULL;
    assert_int_equal(pthread_create(&t, NULL, fail_on_thread, NULL), 0);
    pthread_join(t, &ok);
    assert_non_null(ok);
    assert_non_null(strstr(vks_last_error(NULL), "vks_synchronize: ctx is NULL"));
}

/* Several threads share one context: each records GEMMs and reads its own results. */
typedef struct thread_job {
    int id;
    int failures;
} thread_job;

static void *gemm_worker(void *arg) {
    thread_job *job = arg;
    vkt_rng rng = vkt_rng_seed(100 + (uint64_t)job->id);
    const int64_t m = 20 + job->id, n = 17, k = 13;
    for (int iter = 0; iter < 6; ++iter) {
        double a[40 * 13], b[13 * 17], want[40 * 17];
        vkt_fill_uniform(&rng, a, (size_t)(m * k), -1, 1);
        vkt_fill_uniform(&rng, b, (size_t)(k * n), -1, 1);
        vkt_round_to(VKS_DTYPE_F32, a, (size_t)(m * k));
        vkt_round_to(VKS_DTYPE_F32, b, (size_t)(k * n));
        float fa[40 * 13], fb[13 * 17], fc[40 * 17];
        for (int i = 0; i < m * k; ++i) fa[i] = (float)a[i];
        for (int i = 0; i < k * n; ++i) fb[i] = (float)b[i];
        vks_buffer *A, *B, *C;
        if (vks_buffer_create(vkt->ctx, sizeof fa, &A) || vks_buffer_create(vkt->ctx, sizeof fb, &B) ||
            vks_buffer_create(vkt->ctx, sizeof fc, &C)) {
            job->failures++;
            return NULL;
        }
        vks_tensor ta = vks_tensor_2d(A, VKS_DTYPE_F32, m, k), tb = vks_tensor_2d(B, VKS_DTYPE_F32, k, n);
        vks_tensor tc = vks_tensor_2d(C, VKS_DTYPE_F32, m, n);
        vks_status st = vks_buffer_write(A, 0, fa, (uint64_t)(m * k) * 4);
        if (!st) st = vks_buffer_write(B, 0, fb, (uint64_t)(k * n) * 4);
        if (!st) st = vks_gemm(vkt->ctx, VKS_NO_TRANS, VKS_NO_TRANS, 1.0, &ta, &tb, 0.0, &tc);
        if (!st) st = vks_buffer_read(C, 0, fc, (uint64_t)(m * n) * 4);
        ref_gemm(1.0, ref_rowmajor(a, m, k), ref_rowmajor(b, k, n), 0.0, ref_rowmajor(want, m, n));
        for (int i = 0; i < m * n && !st; ++i)
            if (fabs(fc[i] - want[i]) > 1e-4) st = VKS_ERROR_OUT_OF_RANGE; /* wrong value */
        if (st) job->failures++;
        vks_buffer_destroy(A), vks_buffer_destroy(B), vks_buffer_destroy(C);
    }
    return NULL;
}

static void test_runtime_threads_share_context(void **state) {
    (void)state;
    enum { T = 4 };
    pthread_t threads[T];
    thread_job jobs[T];
    for (int i = 0; i < T; ++i) {
        jobs[i] = (thread_job){.id = i};
        assert_int_equal(pthread_create(&threads[i], NULL, gemm_worker, &jobs[i]), 0);
    }
    for (int i = 0; i < T; ++i) pthread_join(threads[i], NULL);
    for (int i = 0; i < T; ++i) assert_int_equal(jobs[i].failures, 0);
}

/* vks_context_destroy while other threads are inside calls on the context: one holds the
 * lock (a long synchronize), the destroy comes next, then three more calls (reads) reach the
 * lock while the destroy waits. The destroy lets every call finish first; each returns its
 * status and the right data (a destroy that took the lock first and tore the context down
 * under the readers read freed memory, which ASan and TSan report, or left them waiting on
 * a destroyed mutex). */
typedef struct inflight_job {
    vks_context *ctx;
    vks_buffer *buf;
    atomic_int started;
    vks_status status;
    float value;
} inflight_job;

static void *inflight_sync(void *arg) {
    inflight_job *job = arg;
    job->started = 1;
    job->status = vks_synchronize(job->ctx);
    return NULL;
}

static void *inflight_destroy(void *arg) {
    inflight_job *job = arg;
    job->started = 1;
    job->status = vks_context_destroy(job->ctx);
    return NULL;
}

static void *inflight_read(void *arg) {
    inflight_job *job = arg;
    job->started = 1;
    job->status = vks_buffer_read(job->buf, 0, &job->value, sizeof job->value);
    return NULL;
}

static void test_runtime_threads_destroy_in_flight(void **state) {
    (void)state;
    enum { N = 768, READERS = 3 };
    vks_context *ctx = NULL;
    vks_context_options o = vkt_options();
    VKT_OK(vks_context_create(&o, &ctx));
    vks_buffer *big = NULL, *small[READERS];
    VKT_OK(vks_buffer_create(ctx, 3ull * N * N * 4, &big));
    VKT_OK(vks_buffer_fill(big, 0, 2ull * N * N * 4, 0x3f800000u));
    for (int i = 0; i < READERS; ++i) {
        const float v = 1.5f + (float)i;
        VKT_OK(vks_buffer_create(ctx, 64, &small[i]));
        VKT_OK(vks_buffer_write(small[i], 0, &v, sizeof v));
    }
    vks_tensor a = vks_tensor_2d(big, VKS_DTYPE_F32, N, N), c = a;
    c.byte_offset = 2ull * N * N * 4;
    for (int r = 0; r < 4; ++r) VKT_OK(vks_gemm(ctx, VKS_NO_TRANS, VKS_NO_TRANS, 1.0, &a, &a, 0.0, &c));
    inflight_job holder = {.ctx = ctx}, destroyer = {.ctx = ctx}, readers[READERS];
    atomic_init(&holder.started, 0), atomic_init(&destroyer.started, 0);
    pthread_t th, td, tr[READERS];
    assert_int_equal(pthread_create(&th, NULL, inflight_sync, &holder), 0);
    while (!holder.started) sched_yield();
    usleep(20000); /* (ordering only) the synchronize holds the lock */
    assert_int_equal(pthread_create(&td, NULL, inflight_destroy, &destroyer), 0);
    while (!destroyer.started) sched_yield();
    usleep(20000); /* the destroy is waiting */
    for (int i = 0; i < READERS; ++i) {
        readers[i] = (inflight_job){.ctx = ctx, .buf = small[i]};
        atomic_init(&readers[i].started, 0);
        assert_int_equal(pthread_create(&tr[i], NULL, inflight_read, &readers[i]), 0);
    }
    pthread_join(th, NULL);
    pthread_join(td, NULL);
    assert_int_equal(holder.status, VKS_OK);
    assert_int_equal(destroyer.status, VKS_OK);
    for (int i = 0; i < READERS; ++i) {
        pthread_join(tr[i], NULL);
        assert_int_equal(readers[i].status, VKS_OK);
        assert_true(readers[i].value == 1.5f + (float)i);
    }
}

/* Profiling: every op timed by timestamps, retrievable after synchronize. */
static void test_runtime_profiling(void **state) {
    (void)state;
    vks_context *ctx = NULL;
    vks_context_options o = vkt_options();
    o.flags |= VKS_CONTEXT_PROFILING;
    VKT_OK(vks_context_create(&o, &ctx));
    vks_buffer *buf = NULL;
    VKT_OK(vks_buffer_create(ctx, 3 * 64 * 64 * 4, &buf));
    VKT_OK(vks_buffer_fill(buf, 0, 3 * 64 * 64 * 4, 0x3f800000u));
    vks_tensor a = vks_tensor_2d(buf, VKS_DTYPE_F32, 64, 64), b = a, c = a;
    b.byte_offset = 64 * 64 * 4, c.byte_offset = 2 * 64 * 64 * 4;
    for (int i = 0; i < 3; ++i) VKT_OK(vks_gemm(ctx, VKS_NO_TRANS, VKS_NO_TRANS, 1.0, &a, &b, 0.0, &c));
    VKT_OK(vks_synchronize(ctx));
    vks_profile_entry e[8];
    size_t count = 0;
    VKT_OK(vks_profile_get(ctx, e, 8, &count));
    assert_int_equal(count, 4); /* the fill and three GEMMs */
    assert_string_equal(e[0].op, "buffer_fill");
    for (int i = 1; i < 4; ++i) {
        assert_string_equal(e[i].op, "gemm");
        assert_true(e[i].gpu_ms > 0 && e[i].gpu_ms < 10000);
        assert_int_equal(e[i].dispatches, 1);
        assert_true(e[i].sequence > e[i - 1].sequence);
    }
    float one = 0;
    VKT_OK(vks_buffer_read(buf, 2 * 64 * 64 * 4, &one, 4));
    assert_true(one == 64.0f);
    VKT_OK(vks_profile_clear(ctx));
    VKT_OK(vks_profile_get(ctx, NULL, 0, &count));
    assert_int_equal(count, 0);
    VKT_OK(vks_context_destroy(ctx)); /* destroys buf too */
    VKT_FAILS(vks_profile_get(vkt->ctx, e, 8, &count), VKS_ERROR_UNSUPPORTED, "profiling is off");
}

static void test_runtime_stats(void **state) {
    (void)state;
    vks_context_stats s = {.struct_size = sizeof s};
    VKT_OK(vks_context_get_stats(vkt->ctx, &s));
    assert_true(s.submits > 0);
    assert_true(s.pipelines >= 1);
    assert_true(s.device_bytes_reserved >= s.device_bytes_in_use);
    assert_int_equal(s.validation_messages, vkt->messages);
    VKT_FAILS(vks_context_get_stats(NULL, &s), VKS_ERROR_INVALID_ARGUMENT, "ctx is NULL");
    vks_context_stats unset_s = {0};
    VKT_FAILS(vks_context_get_stats(vkt->ctx, &unset_s), VKS_ERROR_INVALID_ARGUMENT, "stats->struct_size = 0");
    vks_device_info unset_i = {0};
    VKT_FAILS(vks_context_get_device_info(vkt->ctx, &unset_i), VKS_ERROR_INVALID_ARGUMENT, "info->struct_size = 0");
    VKT_OK(vks_synchronize(vkt->ctx)); /* nothing recorded: fine */
}

/* The benchmark denominators: every probe the device has returns a positive, finite rate. */
static void test_runtime_measure_peaks(void **state) {
    (void)state;
    vks_device_peaks p = {.struct_size = sizeof p};
    VKT_OK(vks_measure_peaks(vkt->ctx, &p));
    assert_true(p.copy_gbps > 0 && isfinite(p.copy_gbps));
    assert_true(p.fma_gflops_f32 > 0 && isfinite(p.fma_gflops_f32));
    assert_true((p.fma_gflops_f64 > 0) == ((vkt->info.features & VKS_FEATURE_FLOAT64) != 0));
    assert_true((p.mma_gflops_f16 > 0) == ((vkt->info.features & VKS_FEATURE_COOPMAT_NV) != 0 &&
                                          vkt->info.subgroup_size == 32));
    VKT_FAILS(vks_measure_peaks(NULL, &p), VKS_ERROR_INVALID_ARGUMENT, "ctx is NULL");
    VKT_FAILS(vks_measure_peaks(vkt->ctx, NULL), VKS_ERROR_INVALID_ARGUMENT, "peaks is NULL");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VKT_TEST(test_runtime_devices),        VKT_TEST(test_runtime_device_choice),
        VKT_TEST(test_runtime_status_strings), VKT_TEST(test_runtime_last_error_per_thread),
        VKT_TEST(test_runtime_threads_share_context),
        VKT_TEST(test_runtime_threads_destroy_in_flight), VKT_TEST(test_runtime_profiling),
        VKT_TEST(test_runtime_stats),          VKT_TEST(test_runtime_measure_peaks),
    };
    return VKT_RUN(tests);
}
