"""vkstruct: structured linear algebra (Monarch, low-rank, orthogonalization, Kronecker GP)
on any Vulkan 1.2 device, from numpy (and torch through vkstruct.torch).

    import numpy as np, vkstruct
    a = vkstruct.asarray(np.random.rand(64, 32).astype(np.float32))   # on the device
    q = vkstruct.orth.newton_schulz(a)                               # recorded
    print(np.asarray(q))                                             # runs, copies back
"""
import os as _os

# An in-tree build (make test) keeps the compiled module in the CMake build directory.
if _os.environ.get("VKSTRUCT_EXT_DIR"):
    __path__.append(_os.environ["VKSTRUCT_EXT_DIR"])

from ._core import (  # noqa: E402,F401
    Array, Context, DeviceInfo, Error, InvalidArgumentError, ShapeMismatchError, DtypeMismatchError,
    UnsupportedError, OutOfRangeError, OutOfMemoryError, NoDeviceError, VulkanError, DeviceLostError,
    NotPositiveDefiniteError, NonFiniteError, NotConvergedError, asarray, bfloat16, bfloat16_to_float32,
    default_context, devices, empty, from_dlpack, full, set_default_context, zeros)
from ._gemm import gemm  # noqa: E402,F401
from . import monarch, lowrank, orth, kron, gp  # noqa: E402,F401

__version__ = "0.1.0"


def synchronize(ctx=None):
    """Runs everything recorded on ctx (default: the default context) and waits."""
    (ctx or default_context()).synchronize()
