/*
 * Shared helpers of the cmocka tests: one context per test executable (on lavapipe
 * unless VKS_DEVICE says otherwise) with the validation layer on; a test fails when the
 * layer said anything during it. Seeded random data, dtype conversion, NaN poisoning,
 * and comparisons against float64 oracles (reference.h).
 */
#ifndef VKS_TEST_H
#define VKS_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "vkstruct/vkstruct.h"

typedef struct vkt_env {
    vks_context *ctx;
    vks_device_info info;
    uint64_t messages;       /* validation warnings + errors seen so far */
    uint64_t messages_at_start; /* at the start of the current test */
    char last_message[2048];
} vkt_env;

/* The environment of the running executable (set by vkt_group_setup). */
extern vkt_env *vkt;

/* Context options every test context uses: validation on, messages counted, the tuning
 * of vkt_set_tuning. Tests choose kernels through vks_tuning, never the environment. */
vks_context_options vkt_options(void);
/* The tuning vkt_options passes from now on (copied; NULL: none); vkt_group_teardown resets it. */
void vkt_set_tuning(const vks_tuning *t);
int vkt_group_setup(void **state);
/* Whether the suite's device ($VKS_DEVICE, default llvmpipe) is a CPU: then a test may
 * run its cases a second time with the GPU kernels (vks_tuning.kernels = VKS_KERNELS_GPU). */
bool vkt_device_is_cpu(void);
/* vkt_group_setup with kernels = VKS_KERNELS_GPU: the group setup of that second run
 * (cmocka_run_group_tests_name(name, tests, vkt_gpu_kernels_setup, vkt_group_teardown)). */
int vkt_gpu_kernels_setup(void **state);
/* Whether vkt->ctx runs the GPU kernel family (its tuning, else its device type). */
bool vkt_gpu_kernels(void);
/* Until vkt_pop_context, vkt->ctx is a new context of the same device tuned by `t` (its
 * kernels, when AUTO, those of the suite's context): what a test records and uploads goes
 * there. vkt_pop_context destroys it (failing if buffers were left) and restores the suite's;
 * a failed test's teardown does that too. */
void vkt_push_tuned_context(const vks_tuning *t);
void vkt_pop_context(void);
int vkt_group_teardown(void **state);
int vkt_test_setup(void **state);
int vkt_test_teardown(void **state);

#define VKT_TEST(fn) cmocka_unit_test_setup_teardown(fn, vkt_test_setup, vkt_test_teardown)
/* VKT_FILTER=pattern (cmocka's wildcards) runs only the tests whose names match. */
#define VKT_RUN(tests)                                                                            \
    (getenv("VKT_FILTER") ? cmocka_set_test_filter(getenv("VKT_FILTER")) : (void)0,               \
     cmocka_run_group_tests(tests, vkt_group_setup, vkt_group_teardown))

/* Fails the test with the status and vkstruct's message when `call` is not VKS_OK. */
#define VKT_OK(call)                                                                              \
    do {                                                                                          \
        vks_status vkt_s_ = (call);                                                               \
        if (vkt_s_ != VKS_OK)                                                                     \
            fail_msg("%s\n  -> %s\n  -> %s", #call, vks_status_string(vkt_s_), vks_last_error(NULL)); \
    } while (0)

/* Expects `call` to fail with `status` and a message containing `needle`. */
#define VKT_FAILS(call, status, needle) vkt_expect_failure((call), (status), (needle), #call, __FILE__, __LINE__)
void vkt_expect_failure(vks_status got, vks_status want, const char *needle, const char *expr, const char *file,
                        int line);

/* ---- random data -------------------------------------------------------------------- */

typedef struct vkt_rng {
    uint64_t state;
} vkt_rng;

vkt_rng vkt_rng_seed(uint64_t seed);
uint64_t vkt_next(vkt_rng *r);
double vkt_uniform(vkt_rng *r, double lo, double hi);
double vkt_normal(vkt_rng *r);
void vkt_fill_uniform(vkt_rng *r, double *x, size_t n, double lo, double hi);
double *vkt_random(vkt_rng *r, size_t n, double lo, double hi); /* malloc'd */

/* ---- dtypes and device data ---------------------------------------------------------- */

size_t vkt_dtype_bytes(vks_dtype dt);
uint16_t vkt_f32_to_f16(float f);
float vkt_f16_to_f32(uint16_t h);
/* Rounds every value to what `dt` stores (so oracles see exactly the device's inputs). */
void vkt_round_to(vks_dtype dt, double *x, size_t n);
/* A new buffer holding x[0..n) converted to dt. */
vks_buffer *vkt_upload(vks_dtype dt, const double *x, size_t n);
/* A new buffer of n elements of dt, every one NaN (so unwritten outputs fail). */
vks_buffer *vkt_poisoned(vks_dtype dt, size_t n);
/* Reads n elements of dt at element offset `first` into doubles (malloc'd). */
double *vkt_download(vks_buffer *buf, vks_dtype dt, size_t first, size_t n);

/* ---- comparisons --------------------------------------------------------------------- */

/* Relative tolerance of a dtype for results of moderate-length reductions (up to a few
 * thousand terms). */
double vkt_tol(vks_dtype dt);
/* The same for sums of `terms` terms: rounding error grows like sqrt(terms) * u, so the
 * tolerance widens by sqrt(terms / 4096) beyond 4096 terms (a kernel that sums sequentially,
 * as GPUs do over K, reaches ~sqrt(K) u; slicing, as on lavapipe, stays below). */
double vkt_tol_sum(vks_dtype dt, int64_t terms);
/* max|got - want| / max(max|want|, floor) <= tol, and every value finite; on failure,
 * reports the worst element. Returns the measured error. */
double vkt_assert_close(const double *got, const double *want, size_t n, double tol, const char *what);
/* The same measure without asserting. */
double vkt_rel_err(const double *got, const double *want, size_t n);

#endif
