/* vkstruct — Monarch products: block-diagonal matmul, fused Monarch forward/backward, projection onto Monarch.
 * Include <vkstruct/vkstruct.h>; it includes this header. */
#ifndef VKSTRUCT_MONARCH_H
#define VKSTRUCT_MONARCH_H

#include "vkstruct/vkstruct.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Functions of this family, in ABI order (append only). */
#define VKS_MONARCH_FUNCTIONS(X)

#ifdef __cplusplus
}
#endif

#endif /* VKSTRUCT_MONARCH_H */
