"""Autograd-aware ops on CPU tensors. Where torch has torch.library.custom_op (>= 2.4) they
are registered as custom ops `vkstruct::*` with fake kernels (so torch.compile traces them);
on older torch (Debian's 1.13) they are torch.autograd.Functions."""
import torch

import vkstruct as vk

from ._bridge import to_device, to_torch


def _flat(x):
    return x.reshape(-1, x.shape[-1])


def _monarch_fwd(x, w1, w2, bias, out_features):
    y = vk.monarch.forward(to_device(_flat(x)), to_device(w1), to_device(w2), to_device(bias), padded=True,
                           out_features=out_features)
    return to_torch(y).reshape(*x.shape[:-1], out_features)


def _monarch_bwd(x, w1, w2, dy, has_bias):
    need = ("dx", "dw1", "dw2") + (("dbias",) if has_bias else ())
    g = vk.monarch.backward(to_device(_flat(x)), to_device(w1), to_device(w2), to_device(_flat(dy)), padded=True,
                            need=need)
    dx = to_torch(g["dx"]).reshape(x.shape)
    return dx, to_torch(g["dw1"]), to_torch(g["dw2"]), to_torch(g["dbias"]) if has_bias else None


def _blockdiag_fwd(x, w, bias):
    y = vk.monarch.blockdiag(to_device(_flat(x)), to_device(w), to_device(bias))
    return to_torch(y).reshape(*x.shape[:-1], w.shape[0] * w.shape[1])


def _blockdiag_bwd(x, w, dy, has_bias):
    need = ("dx", "dw") + (("dbias",) if has_bias else ())
    g = vk.monarch.blockdiag_backward(to_device(_flat(x)), to_device(w), to_device(_flat(dy)), need=need)
    return to_torch(g["dx"]).reshape(x.shape), to_torch(g["dw"]), to_torch(g["dbias"]) if has_bias else None


if hasattr(torch, "library") and hasattr(torch.library, "custom_op"):  # torch >= 2.4
    from typing import Optional

    @torch.library.custom_op("vkstruct::monarch", mutates_args=())
    def _monarch_op(x: torch.Tensor, w1: torch.Tensor, w2: torch.Tensor, bias: Optional[torch.Tensor],
                    out_features: int) -> torch.Tensor:
        return _monarch_fwd(x, w1, w2, bias, out_features)

    @_monarch_op.register_fake
    def _(x, w1, w2, bias, out_features):
        return x.new_empty(*x.shape[:-1], out_features)

    def _monarch_setup(ctx, inputs, output):
        ctx.save_for_backward(*inputs[:3])
        ctx.has_bias = inputs[3] is not None

    def _monarch_grad(ctx, dy):
        x, w1, w2 = ctx.saved_tensors
        return (*_monarch_bwd(x, w1, w2, dy.contiguous(), ctx.has_bias), None)

    _monarch_op.register_autograd(_monarch_grad, setup_context=_monarch_setup)

    @torch.library.custom_op("vkstruct::blockdiag", mutates_args=())
    def _blockdiag_op(x: torch.Tensor, w: torch.Tensor, bias: Optional[torch.Tensor]) -> torch.Tensor:
        return _blockdiag_fwd(x, w, bias)

    @_blockdiag_op.register_fake
    def _(x, w, bias):
        return x.new_empty(*x.shape[:-1], w.shape[0] * w.shape[1])

    def _blockdiag_setup(ctx, inputs, output):
        ctx.save_for_backward(*inputs[:2])
        ctx.has_bias = inputs[2] is not None

    def _blockdiag_grad(ctx, dy):
        x, w = ctx.saved_tensors
        return _blockdiag_bwd(x, w, dy.contiguous(), ctx.has_bias)

    _blockdiag_op.register_autograd(_blockdiag_grad, setup_context=_blockdiag_setup)

    def monarch(x, w1, w2, bias=None, out_features=None):
        return _monarch_op(x, w1, w2, bias, out_features or w2.shape[0] * w2.shape[1])

    def blockdiag(x, w, bias=None):
        return _blockdiag_op(x, w, bias)

    CUSTOM_OPS = True
else:
    class _Monarch(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, w1, w2, bias, out_features):
            ctx.save_for_backward(x, w1, w2)
            ctx.has_bias = bias is not None
            return _monarch_fwd(x, w1, w2, bias, out_features)

        @staticmethod
        def backward(ctx, dy):
            x, w1, w2 = ctx.saved_tensors
            return (*_monarch_bwd(x, w1, w2, dy.contiguous(), ctx.has_bias), None)

    class _Blockdiag(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, w, bias):
            ctx.save_for_backward(x, w)
            ctx.has_bias = bias is not None
            return _blockdiag_fwd(x, w, bias)

        @staticmethod
        def backward(ctx, dy):
            x, w = ctx.saved_tensors
            return _blockdiag_bwd(x, w, dy.contiguous(), ctx.has_bias)

    def monarch(x, w1, w2, bias=None, out_features=None):
        return _Monarch.apply(x, w1, w2, bias, out_features or w2.shape[0] * w2.shape[1])

    def blockdiag(x, w, bias=None):
        return _Blockdiag.apply(x, w, bias)

    CUSTOM_OPS = False

monarch.__doc__ = """fly's Monarch product on CPU tensors, differentiable: x (..., n) (zero-padded to
k*p), w1 (k, q, p), w2 (l, s, r), bias (out_features) -> (..., out_features) (default l*s)."""
blockdiag.__doc__ = """M2's block-diagonal product, differentiable: x (..., nb*in_blk), w (nb, out_blk,
in_blk), bias (nb*out_blk) -> (..., nb*out_blk)."""


def newton_schulz(input, epsilon=1e-7, steps=5):
    """Dion's `newton_schulz_func(input, epsilon)` hook: Muon's quintic Newton-Schulz
    (5 steps, X0 = G / (||G||_F + epsilon)) of a matrix (m, n) or a batch (..., m, n),
    run on the device; returns a CPU tensor of the input's dtype and shape."""
    flat = input.reshape(-1, *input.shape[-2:]) if input.dim() > 3 else input
    out = vk.orth.newton_schulz(to_device(flat), eps=float(epsilon), steps=steps)
    return to_torch(out).reshape(input.shape)
