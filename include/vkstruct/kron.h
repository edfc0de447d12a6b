/* vkstruct — Kronecker-structured Gaussian processes: mode products, noisy solves, log-likelihood, kernels.
 * Include <vkstruct/vkstruct.h>; it includes this header. */
#ifndef VKSTRUCT_KRON_H
#define VKSTRUCT_KRON_H

#include "vkstruct/vkstruct.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Functions of this family, in ABI order (append only). */
#define VKS_KRON_FUNCTIONS(X)

#ifdef __cplusplus
}
#endif

#endif /* VKSTRUCT_KRON_H */
