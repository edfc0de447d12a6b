/* Buffers: round trips through the staging ring, copies, fills, sub-allocation, a buffer
 * beyond maxStorageBufferRange used by a kernel, DLPack import, and their error paths. */
#include <math.h>
#include <string.h>

#include "reference.h"
#include "vks_test.h"

static vks_context_stats stats(void) {
    vks_context_stats s = {.struct_size = sizeof s};
    VKT_OK(vks_context_get_stats(vkt->ctx, &s));
    return s;
}

static void test_memory_round_trips(void **state) {
    (void)state;
    /* Odd sizes, odd offsets, and one larger than the 32 MiB staging ring. */
    static const uint64_t sizes[] = {1, 3, 4096 + 7, 40ull << 20};
    vkt_rng rng = vkt_rng_seed(1);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; ++i) {
        uint64_t n = sizes[i], off = i % 2 ? 5 : 0;
        uint8_t *src = malloc(n), *dst = malloc(n);
        for (uint64_t j = 0; j < n; ++j) src[j] = (uint8_t)vkt_next(&rng);
        vks_buffer *b = NULL;
        VKT_OK(vks_buffer_create(vkt->ctx, n + off, &b));
        uint64_t size = 0;
        VKT_OK(vks_buffer_get_size(b, &size));
        assert_int_equal(size, n + off);
        VKT_OK(vks_buffer_write(b, off, src, n));
        memset(dst, 0, n);
        VKT_OK(vks_buffer_read(b, off, dst, n));
        assert_memory_equal(src, dst, n);
        VKT_OK(vks_buffer_destroy(b));
        free(src), free(dst);
    }
}

static void test_memory_copy_and_fill(void **state) {
    (void)state;
    uint32_t data[256], out[256];
    for (int i = 0; i < 256; ++i) data[i] = 0x01000000u + (uint32_t)i;
    vks_buffer *a = NULL, *b = NULL;
    VKT_OK(vks_buffer_create(vkt->ctx, sizeof data, &a));
    VKT_OK(vks_buffer_create(vkt->ctx, sizeof data, &b));
    VKT_OK(vks_buffer_write(a, 0, data, sizeof data));
    VKT_OK(vks_buffer_fill(b, 0, sizeof data, 0xdeadbeefu));
    VKT_OK(vks_buffer_copy(a, 16, b, 64, 128)); /* elements 4..35 -> 16..47 */
    VKT_OK(vks_buffer_copy(a, 0, a, 512, 64));  /* within one buffer, no overlap */
    VKT_OK(vks_buffer_read(b, 0, out, sizeof out));
    for (int i = 0; i < 256; ++i) assert_int_equal(out[i], (i >= 16 && i < 48) ? data[i - 12] : 0xdeadbeefu);
    VKT_OK(vks_buffer_read(a, 512, out, 64));
    for (int i = 0; i < 16; ++i) assert_int_equal(out[i], data[i]);
    /* Writes and ops interleave in recording order: write, copy, write again, read. */
    uint32_t first = 1, second = 2, got = 0;
    VKT_OK(vks_buffer_write(a, 0, &first, 4));
    VKT_OK(vks_buffer_copy(a, 0, b, 0, 4));
    VKT_OK(vks_buffer_write(a, 0, &second, 4));
    VKT_OK(vks_buffer_read(b, 0, &got, 4));
    assert_int_equal(got, 1);
    VKT_OK(vks_buffer_read(a, 0, &got, 4));
    assert_int_equal(got, 2);
    VKT_OK(vks_buffer_destroy(a));
    VKT_OK(vks_buffer_destroy(b));
}

/* Many small buffers share a few blocks: maxMemoryAllocationCount is never the limit. */
static void test_memory_suballocation(void **state) {
    (void)state;
    vks_context_stats before = stats();
    vks_buffer *bufs[300];
    for (int i = 0; i < 300; ++i) VKT_OK(vks_buffer_create(vkt->ctx, 1000 + 37 * (uint64_t)i, &bufs[i]));
    vks_context_stats during = stats();
    assert_int_equal(during.live_buffers, before.live_buffers + 300);
    assert_true(during.memory_blocks <= before.memory_blocks + 1);
    /* Distinct, correctly placed: each holds its own value after all were written. */
    for (int i = 0; i < 300; ++i) VKT_OK(vks_buffer_write(bufs[i], 996, &i, 4));
    for (int i = 0; i < 300; i += 7) {
        int v = -1;
        VKT_OK(vks_buffer_read(bufs[i], 996, &v, 4));
        assert_int_equal(v, i);
    }
    /* Free every other one, allocate again into the holes, then free all. */
    for (int i = 0; i < 300; i += 2) VKT_OK(vks_buffer_destroy(bufs[i]));
    for (int i = 0; i < 300; i += 2) VKT_OK(vks_buffer_create(vkt->ctx, 900, &bufs[i]));
    assert_true(stats().memory_blocks <= before.memory_blocks + 1);
    for (int i = 0; i < 300; ++i) VKT_OK(vks_buffer_destroy(bufs[i]));
    vks_context_stats after = stats();
    assert_int_equal(after.live_buffers, before.live_buffers);
    assert_int_equal(after.device_bytes_in_use, before.device_bytes_in_use);
}

/* 160 MiB, past lavapipe's 128 MiB maxStorageBufferRange: a GEMM reads operands that
 * straddle the 128 MiB mark and writes its result near the end. */
static void test_memory_beyond_storage_range(void **state) {
    (void)state;
    const uint64_t size = 160ull << 20, mark = 128ull << 20;
    assert_true(size > vkt->info.max_storage_buffer_range || vkt->info.max_storage_buffer_range > mark);
    vks_buffer *big = NULL;
    VKT_OK(vks_buffer_create(vkt->ctx, size, &big));
    const int64_t m = 64, n = 48, k = 40;
    vkt_rng rng = vkt_rng_seed(7);
    double *a = vkt_random(&rng, m * k, -1, 1), *b = vkt_random(&rng, k * n, -1, 1);
    float fa[64 * 40], fb[40 * 48];
    for (int i = 0; i < m * k; ++i) fa[i] = (float)a[i], a[i] = fa[i];
    for (int i = 0; i < k * n; ++i) fb[i] = (float)b[i], b[i] = fb[i];
    const uint64_t oa = mark - 4000, ob = mark + 16384, oc = size - (uint64_t)(m * n) * 4;
    VKT_OK(vks_buffer_write(big, oa, fa, sizeof fa));
    VKT_OK(vks_buffer_write(big, ob, fb, sizeof fb));
    vks_tensor ta = vks_tensor_2d(big, VKS_DTYPE_F32, m, k), tb = vks_tensor_2d(big, VKS_DTYPE_F32, k, n);
    vks_tensor tc = vks_tensor_2d(big, VKS_DTYPE_F32, m, n);
    ta.byte_offset = oa, tb.byte_offset = ob, tc.byte_offset = oc;
    VKT_OK(vks_gemm(vkt->ctx, VKS_NO_TRANS, VKS_NO_TRANS, 1.0, &ta, &tb, 0.0, &tc));
    float fc[64 * 48];
    VKT_OK(vks_buffer_read(big, oc, fc, sizeof fc));
    double got[64 * 48], want[64 * 48];
    for (int i = 0; i < m * n; ++i) got[i] = fc[i];
    ref_gemm(1.0, ref_rowmajor(a, m, k), ref_rowmajor(b, k, n), 0.0, ref_rowmajor(want, m, n));
    vkt_assert_close(got, want, (size_t)(m * n), 1e-5, "GEMM across the 128 MiB mark");
    free(a), free(b);
    VKT_OK(vks_buffer_destroy(big));
}

static void test_memory_errors(void **state) {
    (void)state;
    vks_buffer *b = NULL;
    uint8_t byte = 0;
    VKT_FAILS(vks_buffer_create(NULL, 16, &b), VKS_ERROR_INVALID_ARGUMENT, "ctx is NULL");
    VKT_FAILS(vks_buffer_create(vkt->ctx, 16, NULL), VKS_ERROR_INVALID_ARGUMENT, "out is NULL");
    VKT_FAILS(vks_buffer_create(vkt->ctx, 0, &b), VKS_ERROR_INVALID_ARGUMENT, "size_bytes = 0");
    VKT_FAILS(vks_buffer_create(vkt->ctx, 1ull << 50, &b), VKS_ERROR_OUT_OF_RANGE, "exceeds the device's largest buffer");
    assert_null(b);
    VKT_OK(vks_buffer_create(vkt->ctx, 64, &b));
    VKT_FAILS(vks_buffer_write(b, 60, &byte, 8), VKS_ERROR_OUT_OF_RANGE, "bytes [60, 68) are outside dst, which has 64");
    VKT_FAILS(vks_buffer_read(b, 65, &byte, 1), VKS_ERROR_OUT_OF_RANGE, "outside src");
    /* offset + size past 2^64: said as given, not as the wrapped sum (which would be 4). */
    VKT_FAILS(vks_buffer_write(b, UINT64_MAX - 3, &byte, 8), VKS_ERROR_OUT_OF_RANGE,
              "vks_buffer_write: bytes [18446744073709551612, 18446744073709551612 + 8) run past 2^64; dst has 64");
    VKT_FAILS(vks_buffer_copy(b, 8, b, UINT64_MAX, 2), VKS_ERROR_OUT_OF_RANGE, "run past 2^64; dst has 64");
    vks_tensor far = vks_tensor_1d(b, VKS_DTYPE_F32, 4);
    far.byte_offset = UINT64_MAX - 7;
    VKT_FAILS(vks_gemm(vkt->ctx, VKS_NO_TRANS, VKS_NO_TRANS, 1.0, &far, &far, 0.0, &far), VKS_ERROR_OUT_OF_RANGE,
              "from byte 18446744073709551608, past 2^64");
    /* A copy between contexts: neither buffer is the wrong one, the pair is. */
    vks_context *other = NULL;
    vks_context_options o = vkt_options();
    VKT_OK(vks_context_create(&o, &other));
    vks_buffer *foreign = NULL;
    VKT_OK(vks_buffer_create(other, 64, &foreign));
    VKT_FAILS(vks_buffer_copy(foreign, 0, b, 0, 16), VKS_ERROR_INVALID_ARGUMENT,
              "vks_buffer_copy: src and dst belong to different contexts");
    VKT_FAILS(vks_buffer_copy(b, 0, foreign, 0, 16), VKS_ERROR_INVALID_ARGUMENT,
              "vks_buffer_copy: src and dst belong to different contexts");
    VKT_OK(vks_context_destroy(other));
    VKT_FAILS(vks_buffer_read(b, 0, NULL, 1), VKS_ERROR_INVALID_ARGUMENT, "dst is NULL");
    VKT_FAILS(vks_buffer_write(NULL, 0, &byte, 1), VKS_ERROR_INVALID_ARGUMENT, "dst is NULL");
    VKT_FAILS(vks_buffer_copy(b, 0, b, 8, 16), VKS_ERROR_INVALID_ARGUMENT, "overlap");
    VKT_FAILS(vks_buffer_fill(b, 2, 4, 0), VKS_ERROR_INVALID_ARGUMENT, "multiples of 4");
    uint32_t not_a_buffer[16] = {0};
    VKT_FAILS(vks_buffer_read((vks_buffer *)not_a_buffer, 0, &byte, 1), VKS_ERROR_INVALID_ARGUMENT,
              "is not a live vks_buffer");
    VKT_OK(vks_buffer_destroy(b));
    VKT_OK(vks_buffer_destroy(NULL));
}

/* DLPack: a CPU tensor with non-compact strides is uploaded (layout kept); a kDLVulkan
 * tensor whose data is one of our buffers is used in place. */
static void test_memory_dlpack(void **state) {
    (void)state;
    const int64_t m = 6, k = 5, n = 4;
    float a[6 * 8];      /* m x k inside rows of 8 (non-compact) */
    float b_t[4 * 5];    /* B stored transposed: B(i, j) = b_t[j * 5 + i] */
    for (int i = 0; i < 48; ++i) a[i] = (float)(i % 11) * 0.25f - 1.0f;
    for (int i = 0; i < 20; ++i) b_t[i] = (float)(i % 7) * 0.5f - 1.5f;
    int64_t a_shape[2] = {m, k}, a_strides[2] = {8, 1};
    int64_t b_shape[2] = {k, n}, b_strides[2] = {1, k};
    DLTensor da = {a, {kDLCPU, 0}, 2, {kDLFloat, 32, 1}, a_shape, a_strides, 0};
    DLTensor db = {b_t, {kDLCPU, 0}, 2, {kDLFloat, 32, 1}, b_shape, b_strides, 0};
    vks_tensor ta, tb;
    vks_buffer *owned_a = NULL, *owned_b = NULL;
    VKT_OK(vks_tensor_from_dlpack(vkt->ctx, &da, &ta, &owned_a));
    VKT_OK(vks_tensor_from_dlpack(vkt->ctx, &db, &tb, &owned_b));
    assert_non_null(owned_a);
    assert_int_equal(ta.strides[0], 8);
    vks_buffer *C = vkt_poisoned(VKS_DTYPE_F32, (size_t)(m * n));
    int64_t c_shape[2] = {m, n};
    DLTensor dc = {C, {kDLVulkan, 0}, 2, {kDLFloat, 32, 1}, c_shape, NULL, 0};
    vks_tensor tc;
    vks_buffer *owned_c = (vks_buffer *)1;
    VKT_OK(vks_tensor_from_dlpack(vkt->ctx, &dc, &tc, &owned_c));
    assert_null(owned_c);
    assert_ptr_equal(tc.buffer, C);
    VKT_OK(vks_gemm(vkt->ctx, VKS_NO_TRANS, VKS_NO_TRANS, 1.0, &ta, &tb, 0.0, &tc));
    double *got = vkt_download(C, VKS_DTYPE_F32, 0, (size_t)(m * n)), want[24];
    for (int i = 0; i < m; ++i)
        for (int j = 0; j < n; ++j) {
            double s = 0;
            for (int q = 0; q < k; ++q) s += (double)a[i * 8 + q] * b_t[j * k + q];
            want[i * n + j] = s;
        }
    vkt_assert_close(got, want, (size_t)(m * n), 1e-6, "GEMM on DLPack tensors");
    free(got);

    vks_tensor t;
    vks_buffer *o;
    DLTensor bad = da;
    bad.dtype.lanes = 2;
    VKT_FAILS(vks_tensor_from_dlpack(vkt->ctx, &bad, &t, &o), VKS_ERROR_UNSUPPORTED, "lanes = 2");
    bad = da, bad.dtype = (DLDataType){kDLUInt, 8, 1};
    VKT_FAILS(vks_tensor_from_dlpack(vkt->ctx, &bad, &t, &o), VKS_ERROR_UNSUPPORTED, "(code 1, bits 8)");
    bad = da, bad.device.device_type = kDLCUDA;
    VKT_FAILS(vks_tensor_from_dlpack(vkt->ctx, &bad, &t, &o), VKS_ERROR_UNSUPPORTED, "device_type = 2");
    bad = dc, bad.data = a;
    VKT_FAILS(vks_tensor_from_dlpack(vkt->ctx, &bad, &t, &o), VKS_ERROR_INVALID_ARGUMENT, "must be a vks_buffer*");
    bad = dc, bad.ndim = 5;
    VKT_FAILS(vks_tensor_from_dlpack(vkt->ctx, &bad, &t, &o), VKS_ERROR_UNSUPPORTED, "ndim = 5");
    int64_t big_shape[2] = {1000, 1000};
    bad = dc, bad.shape = big_shape;
    VKT_FAILS(vks_tensor_from_dlpack(vkt->ctx, &bad, &t, &o), VKS_ERROR_OUT_OF_RANGE, "but its buffer has");
    /* A CPU tensor whose extent overflows 64 bits (strides given, or compact ones implied):
     * an error naming it, not a 4-byte upload of nothing returned as VKS_OK. */
    int64_t huge_strides[2] = {INT64_MAX / 2, 1}, huge_shape[2] = {(int64_t)1 << 62, 4};
    bad = da, bad.strides = huge_strides;
    o = (vks_buffer *)1;
    VKT_FAILS(vks_tensor_from_dlpack(vkt->ctx, &bad, &t, &o), VKS_ERROR_OUT_OF_RANGE,
              "vks_tensor_from_dlpack: src's extent overflows 64 bits");
    assert_null(o);
    bad = da, bad.shape = huge_shape, bad.strides = NULL;
    VKT_FAILS(vks_tensor_from_dlpack(vkt->ctx, &bad, &t, &o), VKS_ERROR_OUT_OF_RANGE,
              "vks_tensor_from_dlpack: src's extent overflows 64 bits");
    VKT_OK(vks_buffer_destroy(owned_a));
    VKT_OK(vks_buffer_destroy(owned_b));
    VKT_OK(vks_buffer_destroy(C));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VKT_TEST(test_memory_round_trips), VKT_TEST(test_memory_copy_and_fill),
        VKT_TEST(test_memory_suballocation), VKT_TEST(test_memory_beyond_storage_range),
        VKT_TEST(test_memory_errors), VKT_TEST(test_memory_dlpack),
    };
    return VKT_RUN(tests);
}
