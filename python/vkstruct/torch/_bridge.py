"""CPU torch tensors to and from device Arrays (copies: the path for machines whose torch
has no backend for their GPU; vkstruct runs the op on it through Vulkan)."""
import numpy as np
import torch

import vkstruct as vk


def to_device(t, ctx=None):
    """A device copy of a CPU tensor (any dtype vkstruct supports, bfloat16 included)."""
    if t is None:
        return None
    t = t.detach()
    if t.device.type != "cpu":
        t = t.cpu()
    if t.dtype == torch.bfloat16:
        bits = t.contiguous().view(torch.int16).numpy().view(np.uint16)
        return vk.asarray(bits, dtype="bfloat16", ctx=ctx)  # uint16 + bfloat16: taken as bit patterns
    return vk.asarray(t.contiguous().numpy(), ctx=ctx)


def to_torch(a, dtype=None):
    """A CPU tensor copy of a device Array."""
    host = a.numpy()
    if a.dtype is vk.bfloat16:
        return torch.from_numpy(host.view(np.int16)).view(torch.bfloat16)
    out = torch.from_numpy(host)
    return out if dtype is None else out.to(dtype)
