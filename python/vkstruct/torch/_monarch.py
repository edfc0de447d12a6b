"""fly / m2 Monarch and block-diagonal layers whose products run on a vkstruct device."""
import math

import torch
from torch import nn

import vkstruct as vk

from ._bridge import to_device, to_torch
from ._ops import blockdiag, monarch


class MonarchLinear(nn.Module):
    """fly's MonarchLinear(in_features, out_features, nblocks=4): the same parameters
    (blkdiag1, blkdiag2, bias) and state dict, so `load_state_dict(fly_layer.state_dict())`
    or `MonarchLinear.from_fly(fly_layer)` takes a trained layer unchanged."""

    def __init__(self, in_features, out_features, nblocks=4, bias=True, dtype=torch.float32):
        super().__init__()
        self.in_features, self.out_features, self.nblocks = in_features, out_features, nblocks
        s1, s2 = vk.monarch.linear_shapes(in_features, out_features, nblocks)
        self.blkdiag1 = nn.Parameter(torch.empty(s1, dtype=dtype))
        self.blkdiag2 = nn.Parameter(torch.empty(s2, dtype=dtype))
        self.bias = nn.Parameter(torch.empty(out_features, dtype=dtype)) if bias else None
        self.reset_parameters()

    def reset_parameters(self):
        for blkdiag in (self.blkdiag1, self.blkdiag2):  # fly: each block as an nn.Linear
            bound = 1 / math.sqrt(blkdiag.shape[-1])
            nn.init.uniform_(blkdiag, -bound, bound)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -1 / math.sqrt(self.in_features), 1 / math.sqrt(self.in_features))

    @classmethod
    def from_fly(cls, module):
        """A copy of a fly (or m2) MonarchLinear module: same shapes, same weights."""
        layer = cls(module.in_features, module.out_features, module.blkdiag1.shape[0],
                    bias=getattr(module, "bias", None) is not None, dtype=module.blkdiag1.dtype)
        layer.load_state_dict(module.state_dict())
        return layer

    @classmethod
    def from_dense(cls, linear, nblocks=4):
        """The Frobenius-optimal Monarch approximation of an nn.Linear's weight (computed on
        the device by vkstruct.monarch.project); .projection holds its error report."""
        layer = cls(linear.in_features, linear.out_features, nblocks, bias=linear.bias is not None,
                    dtype=linear.weight.dtype)
        w1, w2, info = vk.monarch.project(to_device(linear.weight), layer.blkdiag1.shape, layer.blkdiag2.shape,
                                          padded=True)
        with torch.no_grad():
            layer.blkdiag1.copy_(to_torch(w1))
            layer.blkdiag2.copy_(to_torch(w2))
            if linear.bias is not None:
                layer.bias.copy_(linear.bias)
        layer.projection = info
        return layer

    def forward(self, x):
        return monarch(x, self.blkdiag1, self.blkdiag2, self.bias, self.out_features)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, nblocks={self.nblocks}"


class BlockdiagLinear(nn.Module):
    """M2-BERT's BlockdiagLinear: weight (nblocks, out/nblocks, in/nblocks), bias (out)."""

    def __init__(self, in_features, out_features, nblocks=4, bias=True, dtype=torch.float32):
        super().__init__()
        if in_features % nblocks or out_features % nblocks:
            raise ValueError(f"BlockdiagLinear: in_features {in_features} and out_features {out_features} "
                             f"must be multiples of nblocks {nblocks}")
        self.in_features, self.out_features, self.nblocks = in_features, out_features, nblocks
        self.weight = nn.Parameter(torch.empty(nblocks, out_features // nblocks, in_features // nblocks, dtype=dtype))
        self.bias = nn.Parameter(torch.empty(out_features, dtype=dtype)) if bias else None
        bound = 1 / math.sqrt(in_features // nblocks)
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)

    @classmethod
    def from_m2(cls, module):
        w = module.weight
        layer = cls(w.shape[0] * w.shape[2], w.shape[0] * w.shape[1], w.shape[0],
                    bias=getattr(module, "bias", None) is not None, dtype=w.dtype)
        layer.load_state_dict(module.state_dict())
        return layer

    def forward(self, x):
        return blockdiag(x, self.weight, self.bias)
