"""Muon with its Newton-Schulz step and its momentum on a vkstruct device."""
import numpy as np
import torch

import vkstruct as vk

from ._bridge import to_device, to_torch


class Muon(torch.optim.Optimizer):
    """Muon (KellerJordan/Muon's muon_update) for 2-D (or flattened >2-D) parameters:
        m <- momentum m + (1 - momentum) g            (kept on the device between steps)
        u <- (1 - momentum) g + momentum m            (Nesterov; u = m without it)
        u <- NewtonSchulz5(u) * sqrt(max(1, rows / cols))   (on the device)
        p <- p (1 - lr weight_decay) - lr u
    Parameters and gradients are CPU tensors (copied to the device each step). ns_steps and
    eps as Muon's zeropower_via_newtonschulz5 (5, 1e-7)."""

    def __init__(self, params, lr=0.02, momentum=0.95, nesterov=True, weight_decay=0.0, ns_steps=5, eps=1e-7,
                 ctx=None):
        defaults = dict(lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay, ns_steps=ns_steps,
                        eps=eps)
        super().__init__(params, defaults)
        self.ctx = ctx or vk.default_context()
        self._one = {}

    def _axpby(self, alpha, x, beta, y):
        """y <- alpha x + beta y on the device (a GEMM with K = 1, one pass over y)."""
        one = self._one.get(x.dtype)
        if one is None:
            one = self._one[x.dtype] = vk.asarray(np.ones((1, 1), np.float32), ctx=self.ctx)
        vk.gemm(one, x.reshape(1, -1), y.reshape(1, -1), alpha=alpha, beta=beta)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta = group["momentum"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.dim() < 2:
                    raise ValueError(f"Muon: parameter of shape {tuple(p.shape)} is not a matrix; "
                                     "optimize it with AdamW")
                g = to_device(p.grad.reshape(p.shape[0], -1).float(), self.ctx)
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = vk.zeros(g.shape, np.float32, self.ctx)
                m = state["momentum_buffer"]
                self._axpby(1 - beta, g, beta, m)
                if group["nesterov"]:
                    self._axpby(beta, m, 1 - beta, g)  # g becomes the update
                    u = g
                else:
                    u = m.copy()
                vk.orth.newton_schulz(u, out=u, steps=group["ns_steps"], eps=group["eps"], gram="off")
                scale = max(1.0, g.shape[0] / g.shape[1]) ** 0.5
                update = to_torch(u).reshape(p.shape).to(p.dtype)
                if group["weight_decay"]:
                    p.mul_(1 - group["lr"] * group["weight_decay"])
                p.add_(update, alpha=-group["lr"] * scale)
        return loss

    def momentum_buffer(self, p):
        """The momentum of parameter p, copied back from the device (None before a step)."""
        m = self.state[p].get("momentum_buffer")
        return None if m is None else to_torch(m).reshape(p.shape)
