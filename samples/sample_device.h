/* What the sample apps share: `--device D` as an index or a name substring, the failure
 * check that prints the call and the library's message, and a wall clock. */
#ifndef VKS_SAMPLE_DEVICE_H
#define VKS_SAMPLE_DEVICE_H

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <vkstruct/vkstruct.h>

/* Sets options->device_index (D all digits) or options->device_name; NULL leaves both. */
static inline void sample_choose_device(vks_context_options *options, const char *device) {
    if (!device) return;
    char *end = NULL;
    long idx = strtol(device, &end, 10);
    if (end && end != device && *end == '\0') options->device_index = (int32_t)idx;
    else options->device_name = device;
}

/* Runs `call`; on failure prints "<sample>: <call>", the status and vks_last_error, then exits. */
#define SAMPLE_CHECK(sample, call)                                                                     \
    do {                                                                                               \
        vks_status sample_s_ = (call);                                                                 \
        if (sample_s_ != VKS_OK) {                                                                     \
            fprintf(stderr, "%s: %s\n  -> %s\n  -> %s\n", sample, #call, vks_status_string(sample_s_), \
                    vks_last_error(NULL));                                                             \
            exit(1);                                                                                   \
        }                                                                                              \
    } while (0)

/* Wall clock in milliseconds (CLOCK_MONOTONIC). */
static inline double sample_now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

#endif
