/* DLPack both ways: vks_tensor_to_dlpack's fields, export then import in place, every dtype,
 * the export's reference on the buffer (vks_buffer_destroy while exported, the last deleter
 * destroying it), deleters after the context is gone, and bad arguments. */
#include <pthread.h>
#include <string.h>

#include "vks_test.h"

static uint32_t live_buffers(vks_context *ctx) {
    vks_context_stats s = VKS_CONTEXT_STATS_INIT;
    VKT_OK(vks_context_get_stats(ctx, &s));
    return s.live_buffers;
}

/* C (2 x 2) = A^T-free product of an exported-then-imported A (2 x 3 view, row stride 4,
 * at element 2) with B (3 x 2), checked against a float64 product of the same values. */
static void check_gemm_with(const vks_tensor *a, const double *a_host, int64_t a_ld, int64_t a_off) {
    const double bv[6] = {0.5, -1, 2, 0.25, -3, 1.5};
    vks_buffer *B = vkt_upload(VKS_DTYPE_F32, bv, 6), *C = vkt_poisoned(VKS_DTYPE_F32, 4);
    vks_tensor tb = vks_tensor_2d(B, VKS_DTYPE_F32, 3, 2), tc = vks_tensor_2d(C, VKS_DTYPE_F32, 2, 2);
    VKT_OK(vks_gemm(vkt->ctx, VKS_NO_TRANS, VKS_NO_TRANS, 1.0, a, &tb, 0.0, &tc));
    double want[4] = {0};
    for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 2; ++j)
            for (int k = 0; k < 3; ++k) want[i * 2 + j] += a_host[a_off + i * a_ld + k] * bv[k * 2 + j];
    double *c = vkt_download(C, VKS_DTYPE_F32, 0, 4);
    vkt_assert_close(c, want, 4, 1e-6, "gemm through an imported export");
    free(c);
    VKT_OK(vks_buffer_destroy(B));
    VKT_OK(vks_buffer_destroy(C));
}

static void test_dlpack_round_trip(void **state) {
    (void)state;
    const double av[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    vks_buffer *A = vkt_upload(VKS_DTYPE_F32, av, 10);
    /* a strided view: 2 x 3 at element 2, row stride 4 */
    vks_tensor ta = {A, 2 * sizeof(float), VKS_DTYPE_F32, 2, {2, 3, 0, 0}, {4, 1, 0, 0}};
    DLManagedTensor *m = NULL;
    VKT_OK(vks_tensor_to_dlpack(&ta, &m));
    assert_non_null(m);
    assert_non_null(m->deleter);
    const DLTensor *d = &m->dl_tensor;
    assert_ptr_equal(d->data, A);
    assert_int_equal(d->device.device_type, kDLVulkan);
    assert_int_equal(d->device.device_id, (int32_t)vkt->info.index);
    assert_int_equal(d->ndim, 2);
    assert_int_equal(d->dtype.code, kDLFloat);
    assert_int_equal(d->dtype.bits, 32);
    assert_int_equal(d->dtype.lanes, 1);
    assert_int_equal(d->shape[0], 2);
    assert_int_equal(d->shape[1], 3);
    assert_int_equal(d->strides[0], 4);
    assert_int_equal(d->strides[1], 1);
    assert_int_equal(d->byte_offset, 2 * sizeof(float));
    /* import in place: the same tensor, nothing uploaded */
    vks_tensor back;
    vks_buffer *owned = (vks_buffer *)(uintptr_t)1;
    VKT_OK(vks_tensor_from_dlpack(vkt->ctx, d, &back, &owned));
    assert_null(owned);
    assert_ptr_equal(back.buffer, A);
    assert_int_equal(back.byte_offset, ta.byte_offset);
    assert_int_equal(back.dtype, ta.dtype);
    assert_int_equal(back.ndim, 2);
    for (int i = 0; i < 2; ++i) {
        assert_int_equal(back.shape[i], ta.shape[i]);
        assert_int_equal(back.strides[i], ta.strides[i]);
    }
    check_gemm_with(&back, av, 4, 2);
    m->deleter(m);
    VKT_OK(vks_buffer_destroy(A)); /* the export's reference is gone: an ordinary destroy */
}

static void test_dlpack_dtypes(void **state) {
    (void)state;
    vks_buffer *buf = NULL;
    VKT_OK(vks_buffer_create(vkt->ctx, 1024, &buf));
    const vks_dtype dts[] = {VKS_DTYPE_F32, VKS_DTYPE_F16, VKS_DTYPE_F64, VKS_DTYPE_BF16, VKS_DTYPE_I32, VKS_DTYPE_I64};
    const uint8_t codes[] = {kDLFloat, kDLFloat, kDLFloat, kDLBfloat, kDLInt, kDLInt};
    const uint8_t bits[] = {32, 16, 64, 16, 32, 64};
    for (size_t i = 0; i < sizeof dts / sizeof dts[0]; ++i) {
        const int64_t shape[4] = {2, 1, 3, 4};
        vks_tensor t = vks_tensor_make(buf, 8, dts[i], 4, shape);
        DLManagedTensor *m = NULL;
        VKT_OK(vks_tensor_to_dlpack(&t, &m));
        assert_int_equal(m->dl_tensor.dtype.code, codes[i]);
        assert_int_equal(m->dl_tensor.dtype.bits, bits[i]);
        assert_int_equal(m->dl_tensor.ndim, 4);
        vks_tensor back;
        vks_buffer *owned = NULL;
        VKT_OK(vks_tensor_from_dlpack(vkt->ctx, &m->dl_tensor, &back, &owned));
        assert_null(owned);
        assert_int_equal(back.dtype, dts[i]);
        assert_memory_equal(back.shape, t.shape, sizeof t.shape);
        assert_memory_equal(back.strides, t.strides, sizeof t.strides);
        m->deleter(m);
    }
    VKT_OK(vks_buffer_destroy(buf));
}

/* The export keeps the buffer alive past vks_buffer_destroy; the last deleter destroys it. */
static void test_dlpack_outlives_destroy(void **state) {
    (void)state;
    const double av[10] = {3, -1, 4, 1, -5, 9, 2, -6, 5, 3};
    vks_buffer *A = vkt_upload(VKS_DTYPE_F32, av, 10);
    vks_tensor ta = {A, 2 * sizeof(float), VKS_DTYPE_F32, 2, {2, 3, 0, 0}, {4, 1, 0, 0}};
    DLManagedTensor *m1 = NULL, *m2 = NULL;
    VKT_OK(vks_tensor_to_dlpack(&ta, &m1));
    VKT_OK(vks_tensor_to_dlpack(&ta, &m2));
    const uint32_t before = live_buffers(vkt->ctx);
    VKT_OK(vks_buffer_destroy(A)); /* the creator lets go */
    assert_int_equal(live_buffers(vkt->ctx), before);
    VKT_FAILS(vks_buffer_destroy(A), VKS_ERROR_INVALID_ARGUMENT, "vks_buffer_destroy: buf = ");
    assert_non_null(strstr(vks_last_error(NULL), "already destroyed (2 DLPack exports"));
    /* still usable through an export */
    vks_tensor back;
    vks_buffer *owned = NULL;
    VKT_OK(vks_tensor_from_dlpack(vkt->ctx, &m1->dl_tensor, &back, &owned));
    check_gemm_with(&back, av, 4, 2);
    m1->deleter(m1);
    assert_int_equal(live_buffers(vkt->ctx), before); /* m2 still holds it */
    VKT_OK(vks_tensor_from_dlpack(vkt->ctx, &m2->dl_tensor, &back, &owned));
    check_gemm_with(&back, av, 4, 2);
    int64_t stale_shape[2] = {2, 3}, stale_strides[2] = {4, 1}; /* the export's arrays go with it */
    DLTensor stale = m2->dl_tensor;
    stale.shape = stale_shape, stale.strides = stale_strides;
    m2->deleter(m2);
    assert_int_equal(live_buffers(vkt->ctx), before - 1); /* gone with the last reference */
    VKT_FAILS(vks_tensor_from_dlpack(vkt->ctx, &stale, &back, &owned), VKS_ERROR_INVALID_ARGUMENT,
              "must be a vks_buffer* of this context");
}

/* A context destroyed with exports alive: its buffers go, the deleters free only the exports. */
static void test_dlpack_after_context_destroy(void **state) {
    (void)state;
    vks_context_options o = vkt_options();
    vks_context *ctx = NULL;
    VKT_OK(vks_context_create(&o, &ctx));
    vks_buffer *a = NULL, *b = NULL;
    VKT_OK(vks_buffer_create(ctx, 256, &a));
    VKT_OK(vks_buffer_create(ctx, 256, &b));
    vks_tensor ta = vks_tensor_1d(a, VKS_DTYPE_F32, 64), tb = vks_tensor_1d(b, VKS_DTYPE_F32, 64);
    DLManagedTensor *ma = NULL, *mb = NULL, *mb2 = NULL;
    VKT_OK(vks_tensor_to_dlpack(&ta, &ma));
    VKT_OK(vks_tensor_to_dlpack(&tb, &mb));
    VKT_OK(vks_tensor_to_dlpack(&tb, &mb2));
    VKT_OK(vks_buffer_destroy(b)); /* b lives on in its exports ... */
    mb2->deleter(mb2);
    VKT_OK(vks_context_destroy(ctx)); /* ... until the context goes */
    ma->deleter(ma);
    mb->deleter(mb);
    /* the test's own context is unaffected */
    assert_true(live_buffers(vkt->ctx) < 1000);
}

/* Exports made and deleted on several threads while the test thread records on the same
 * context: the references balance, and the buffer then destroys at once. */
typedef struct export_job {
    const vks_tensor *t;
    int rounds;
    int failures;
} export_job;

static void *export_many(void *arg) {
    export_job *job = arg;
    for (int i = 0; i < job->rounds; ++i) {
        DLManagedTensor *m = NULL;
        if (vks_tensor_to_dlpack(job->t, &m) != VKS_OK || !m || m->dl_tensor.data != job->t->buffer) {
            job->failures++;
            continue;
        }
        m->deleter(m);
    }
    return NULL;
}

static void test_dlpack_threads(void **state) {
    (void)state;
    vks_buffer *buf = NULL;
    VKT_OK(vks_buffer_create(vkt->ctx, 4096, &buf));
    vks_tensor t = vks_tensor_1d(buf, VKS_DTYPE_F32, 1024);
    export_job jobs[3];
    pthread_t th[3];
    for (int i = 0; i < 3; ++i) {
        jobs[i] = (export_job){&t, 300, 0};
        assert_int_equal(pthread_create(&th[i], NULL, export_many, &jobs[i]), 0);
    }
    float x[16], back[16];
    for (int r = 0; r < 50; ++r) {
        for (int i = 0; i < 16; ++i) x[i] = (float)(r * 16 + i);
        VKT_OK(vks_buffer_write(buf, 64, x, sizeof x));
        VKT_OK(vks_buffer_read(buf, 64, back, sizeof back));
        assert_memory_equal(x, back, sizeof x);
    }
    for (int i = 0; i < 3; ++i) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(jobs[i].failures, 0);
    }
    const uint32_t before = live_buffers(vkt->ctx);
    VKT_OK(vks_buffer_destroy(buf)); /* no reference left: destroyed now */
    assert_int_equal(live_buffers(vkt->ctx), before - 1);
}

static void test_dlpack_errors(void **state) {
    (void)state;
    vks_buffer *buf = NULL;
    VKT_OK(vks_buffer_create(vkt->ctx, 64, &buf));
    vks_tensor t = vks_tensor_1d(buf, VKS_DTYPE_F32, 16);
    DLManagedTensor *m = (DLManagedTensor *)(uintptr_t)1;
    VKT_FAILS(vks_tensor_to_dlpack(&t, NULL), VKS_ERROR_INVALID_ARGUMENT, "vks_tensor_to_dlpack: out is NULL");
    VKT_FAILS(vks_tensor_to_dlpack(NULL, &m), VKS_ERROR_INVALID_ARGUMENT, "vks_tensor_to_dlpack: t is NULL");
    assert_null(m);
    vks_tensor bad = t;
    bad.buffer = NULL;
    VKT_FAILS(vks_tensor_to_dlpack(&bad, &m), VKS_ERROR_INVALID_ARGUMENT, "t.buffer is NULL");
    bad = t, bad.shape[0] = 17;
    VKT_FAILS(vks_tensor_to_dlpack(&bad, &m), VKS_ERROR_OUT_OF_RANGE, "vks_tensor_to_dlpack");
    bad = t, bad.ndim = 5;
    VKT_FAILS(vks_tensor_to_dlpack(&bad, &m), VKS_ERROR_INVALID_ARGUMENT, "t.ndim = 5");
    bad = t, bad.dtype = (vks_dtype)42;
    VKT_FAILS(vks_tensor_to_dlpack(&bad, &m), VKS_ERROR_INVALID_ARGUMENT, "t.dtype = 42");
    assert_null(m);
    VKT_OK(vks_buffer_destroy(buf)); /* no export was made: an ordinary destroy */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VKT_TEST(test_dlpack_round_trip),
        VKT_TEST(test_dlpack_dtypes),
        VKT_TEST(test_dlpack_outlives_destroy),
        VKT_TEST(test_dlpack_after_context_destroy),
        VKT_TEST(test_dlpack_threads),
        VKT_TEST(test_dlpack_errors),
    };
    return VKT_RUN(tests);
}
