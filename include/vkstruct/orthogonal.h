/* vkstruct — Orthogonalization: Newton-Schulz, Polar Express, AuON, CholeskyQR2, Cholesky, eigen/SVD.
 * Include <vkstruct/vkstruct.h>; it includes this header. */
#ifndef VKSTRUCT_ORTHOGONAL_H
#define VKSTRUCT_ORTHOGONAL_H

#include "vkstruct/vkstruct.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Functions of this family, in ABI order (append only). */
#define VKS_ORTHOGONAL_FUNCTIONS(X)

#ifdef __cplusplus
}
#endif

#endif /* VKSTRUCT_ORTHOGONAL_H */
