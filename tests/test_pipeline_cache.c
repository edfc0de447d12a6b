/* The persistent pipeline cache: written at destroy under <dir>/<uuid>.bin, loaded by the
 * next context; corrupt, truncated, foreign or unreadable files are ignored (and then
 * replaced by a good one); writes are atomic (no temporary file left behind). */
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vks_test.h"

static char dir[512];

static void cache_file(char *path, size_t n) {
    char uuid[33];
    for (int i = 0; i < 16; ++i) snprintf(uuid + 2 * i, 3, "%02x", vkt->info.pipeline_cache_uuid[i]);
    snprintf(path, n, "%s/%s.bin", dir, uuid);
}

static int count_files(void) {
    DIR *d = opendir(dir);
    int n = 0;
    if (!d) return 0;
    for (struct dirent *e; (e = readdir(d));) n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* A context with the cache in `dir` that runs one GEMM (creating a pipeline); returns
 * how many bytes of cache it loaded at creation. */
static uint64_t run_once(void) {
    vks_context_options o = vkt_options();
    o.cache_dir = dir;
    vks_context *ctx = NULL;
    VKT_OK(vks_context_create(&o, &ctx));
    vks_context_stats s = {.struct_size = sizeof s};
    VKT_OK(vks_context_get_stats(ctx, &s));
    vks_buffer *b;
    VKT_OK(vks_buffer_create(ctx, 3 * 16 * 4, &b));
    VKT_OK(vks_buffer_fill(b, 0, 3 * 16 * 4, 0x40000000u)); /* 2.0f */
    vks_tensor x = vks_tensor_2d(b, VKS_DTYPE_F32, 4, 4), y = x, z = x;
    y.byte_offset = 64, z.byte_offset = 128;
    VKT_OK(vks_gemm(ctx, VKS_NO_TRANS, VKS_NO_TRANS, 1.0, &x, &y, 0.0, &z));
    float v = 0;
    VKT_OK(vks_buffer_read(b, 128, &v, 4));
    assert_true(v == 16.0f); /* 4 * 2 * 2: the pipeline works whatever the cache held */
    VKT_OK(vks_context_destroy(ctx));
    return s.pipeline_cache_loaded_bytes;
}

static void overwrite(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

static long file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

static void test_pipeline_cache_round_trip(void **state) {
    (void)state;
    char path[1024];
    cache_file(path, sizeof path);
    unlink(path);
    assert_int_equal(run_once(), 0); /* nothing there yet */
    assert_true(file_size(path) > 64);
    assert_true(run_once() > 0);     /* loaded */
    assert_int_equal(count_files(), 1);
}

static void test_pipeline_cache_corrupt_files(void **state) {
    (void)state;
    char path[1024];
    cache_file(path, sizeof path);
    run_once();
    long good = file_size(path);
    assert_true(good > 64);
    FILE *f = fopen(path, "rb");
    char *bytes = malloc((size_t)good);
    assert_int_equal(fread(bytes, 1, (size_t)good, f), (size_t)good);
    fclose(f);

    /* Garbage, a truncated file, one flipped payload byte, a foreign device id, empty. */
    overwrite(path, "this is not a pipeline cache", 28);
    assert_int_equal(run_once(), 0);
    assert_int_equal(file_size(path), good); /* replaced by a good one */
    overwrite(path, bytes, (size_t)good / 2);
    assert_int_equal(run_once(), 0);
    bytes[good - 3] ^= 0x40;
    overwrite(path, bytes, (size_t)good);
    assert_int_equal(run_once(), 0);
    bytes[good - 3] ^= 0x40;
    bytes[16] ^= 0x01; /* vendor id field of our header */
    overwrite(path, bytes, (size_t)good);
    assert_int_equal(run_once(), 0);
    bytes[16] ^= 0x01;
    overwrite(path, "", 0);
    assert_int_equal(run_once(), 0);
    /* And the original, intact, loads. */
    overwrite(path, bytes, (size_t)good);
    assert_true(run_once() > 0);
    assert_int_equal(count_files(), 1); /* no temporaries left */
    free(bytes);
}

static void test_pipeline_cache_disabled(void **state) {
    (void)state;
    char off[600];
    snprintf(off, sizeof off, "%s/off", dir);
    mkdir(off, 0755);
    vks_context_options o = vkt_options();
    o.cache_dir = ""; /* "" turns it off */
    vks_context *ctx = NULL;
    VKT_OK(vks_context_create(&o, &ctx));
    VKT_OK(vks_context_save_pipeline_cache(ctx));
    VKT_OK(vks_context_destroy(ctx));
    o.cache_dir = off;
    o.flags |= VKS_CONTEXT_NO_PIPELINE_CACHE; /* the flag wins over a directory */
    VKT_OK(vks_context_create(&o, &ctx));
    VKT_OK(vks_context_destroy(ctx));
    DIR *d = opendir(off);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));) n += e->d_name[0] != '.';
    if (d) closedir(d);
    assert_int_equal(n, 0);
    rmdir(off);
}

/* A directory too long to hold is refused, naming where it came from, never cut to
 * 1023 characters (a cut path is some other directory). */
static void test_pipeline_cache_long_dir(void **state) {
    (void)state;
    char long_dir[1100];
    memset(long_dir, 'a', sizeof long_dir - 1);
    long_dir[0] = '/', long_dir[sizeof long_dir - 1] = '\0';
    vks_context_options o = vkt_options();
    o.cache_dir = long_dir;
    vks_context *ctx = NULL;
    VKT_FAILS(vks_context_create(&o, &ctx), VKS_ERROR_INVALID_ARGUMENT,
              "vks_context_create: options->cache_dir gives a pipeline cache directory of 1099 characters, at most 1023");
    assert_null(ctx);
    long_dir[1023] = '\0'; /* exactly the limit: accepted (the directory need not exist to run) */
    VKT_OK(vks_context_create(&o, &ctx));
    VKT_OK(vks_context_destroy(ctx));
    long_dir[1023] = 'a';
    o.cache_dir = NULL;
    char *saved = getenv("VKS_CACHE_DIR") ? strdup(getenv("VKS_CACHE_DIR")) : NULL;
    setenv("VKS_CACHE_DIR", long_dir, 1);
    VKT_FAILS(vks_context_create(&o, &ctx), VKS_ERROR_INVALID_ARGUMENT, "$VKS_CACHE_DIR gives a pipeline cache directory");
    o.flags |= VKS_CONTEXT_NO_PIPELINE_CACHE; /* no cache: nothing to refuse */
    VKT_OK(vks_context_create(&o, &ctx));
    VKT_OK(vks_context_destroy(ctx));
    if (saved) setenv("VKS_CACHE_DIR", saved, 1), free(saved);
    else unsetenv("VKS_CACHE_DIR");
}

/* An unwritable directory: creation still works; an explicit save reports VKS_ERROR_IO. */
static void test_pipeline_cache_unwritable(void **state) {
    (void)state;
    vks_context_options o = vkt_options();
    o.cache_dir = "/proc/vkstruct-cannot-exist";
    vks_context *ctx = NULL;
    VKT_OK(vks_context_create(&o, &ctx));
    vks_buffer *b;
    VKT_OK(vks_buffer_create(ctx, 64, &b));
    vks_tensor x = vks_tensor_2d(b, VKS_DTYPE_F32, 2, 2), y = x, z = x;
    y.byte_offset = 16, z.byte_offset = 32;
    VKT_OK(vks_gemm(ctx, VKS_NO_TRANS, VKS_NO_TRANS, 1.0, &x, &y, 0.0, &z));
    VKT_OK(vks_synchronize(ctx));
    VKT_FAILS(vks_context_save_pipeline_cache(ctx), VKS_ERROR_IO, "pipeline cache: cannot create");
    VKT_OK(vks_context_destroy(ctx)); /* the failed save at destroy is only a message */
    VKT_FAILS(vks_context_save_pipeline_cache(NULL), VKS_ERROR_INVALID_ARGUMENT, "ctx is NULL");
}

static int setup(void **state) {
    snprintf(dir, sizeof dir, "%s/pipeline-cache-test-%ld/nested", VKS_TEST_BINARY_DIR, (long)getpid());
    return vkt_group_setup(state);
}

static int teardown(void **state) {
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));) {
        char p[1200];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (e->d_name[0] != '.') unlink(p);
    }
    if (d) closedir(d);
    rmdir(dir);
    char parent[600];
    snprintf(parent, sizeof parent, "%s", dir);
    *strrchr(parent, '/') = '\0';
    rmdir(parent);
    return vkt_group_teardown(state);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VKT_TEST(test_pipeline_cache_round_trip),
        VKT_TEST(test_pipeline_cache_corrupt_files),
        VKT_TEST(test_pipeline_cache_disabled),
        VKT_TEST(test_pipeline_cache_unwritable),
        VKT_TEST(test_pipeline_cache_long_dir),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
