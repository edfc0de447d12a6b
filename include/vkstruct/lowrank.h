/* vkstruct — Low-rank GEMMs: fused LoRA, multi-adapter SGMV/BGMV, factorized layers, RandLoRA, merge, GaLore.
 * Include <vkstruct/vkstruct.h>; it includes this header. */
#ifndef VKSTRUCT_LOWRANK_H
#define VKSTRUCT_LOWRANK_H

#include "vkstruct/vkstruct.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Functions of this family, in ABI order (append only). */
#define VKS_LOWRANK_FUNCTIONS(X)

#ifdef __cplusplus
}
#endif

#endif /* VKSTRUCT_LOWRANK_H */
