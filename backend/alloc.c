/*
 * The backend's host allocator: the C library's, plus a failure-injection hook for the
 * allocation-failure sweep (tests/test_alloc_failure.c). The hook costs one atomic load
 * per allocation, which is nothing beside the Vulkan calls that surround every one.
 */
#include <stdatomic.h>
#include <stdlib.h>

#include "internal.h"

static atomic_long alloc_countdown; /* 0: disarmed; k: the k-th allocation from now fails */
static atomic_bool alloc_repeat;
static atomic_long alloc_failed;

static bool alloc_should_fail(void) {
    long left = atomic_load_explicit(&alloc_countdown, memory_order_relaxed);
    if (left <= 0) return false;
    if (atomic_fetch_sub(&alloc_countdown, 1) != 1) return false;
    if (atomic_load(&alloc_repeat)) atomic_store(&alloc_countdown, 1);
    atomic_fetch_add(&alloc_failed, 1);
    return true;
}

void *vks__malloc(size_t size) {
    return alloc_should_fail() ? NULL : malloc(size);
}

void *vks__calloc(size_t count, size_t size) {
    return alloc_should_fail() ? NULL : calloc(count, size);
}

void *vks__realloc(void *ptr, size_t size) {
    return alloc_should_fail() ? NULL : realloc(ptr, size);
}

void vks__free(void *ptr) {
    free(ptr);
}

long vks__alloc_fail_at(long n, bool repeat) {
    atomic_store(&alloc_repeat, repeat);
    atomic_store(&alloc_countdown, n > 0 ? n : 0);
    return atomic_exchange(&alloc_failed, 0);
}
