/* What the MPI samples share: one context per rank, on the device `--device D` names, else
 * $VKS_DEVICE, else the node-local rank's turn among the usable devices (ranks on one node
 * with two GPUs take one each; with one device they share it). */
#ifndef VKS_SAMPLE_MPI_H
#define VKS_SAMPLE_MPI_H

#include <mpi.h>
#include <stdlib.h>

#include "sample_device.h"

static inline vks_status sample_mpi_context(const char *device, vks_context **out) {
    vks_context_options o = VKS_CONTEXT_OPTIONS_INIT;
    if (device) {
        sample_choose_device(&o, device);
    } else if (!getenv("VKS_DEVICE")) {
        MPI_Comm node;
        int local = 0;
        MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
        MPI_Comm_rank(node, &local);
        MPI_Comm_free(&node);
        vks_device_info infos[16];
        uint32_t count = 0, usable = 0;
        for (int i = 0; i < 16; ++i) infos[i].struct_size = sizeof infos[i];
        if (vks_enumerate_devices(infos, 16, &count) == VKS_OK) {
            int32_t list[16];
            for (uint32_t i = 0; i < count && i < 16; ++i)
                if (infos[i].usable && infos[i].type != VKS_DEVICE_CPU) list[usable++] = (int32_t)infos[i].index;
            if (usable) o.device_index = list[local % (int)usable];
        }
    }
    return vks_context_create(&o, out);
}

#endif
