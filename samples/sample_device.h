/* What the sample apps share: `--device D` as an index or a name substring. */
#ifndef VKS_SAMPLE_DEVICE_H
#define VKS_SAMPLE_DEVICE_H

#include <stdlib.h>

#include <vkstruct/vkstruct.h>

/* Sets options->device_index (D all digits) or options->device_name; NULL leaves both. */
static inline void sample_choose_device(vks_context_options *options, const char *device) {
    if (!device) return;
    char *end = NULL;
    long idx = strtol(device, &end, 10);
    if (end && end != device && *end == '\0') options->device_index = (int32_t)idx;
    else options->device_name = device;
}

#endif
