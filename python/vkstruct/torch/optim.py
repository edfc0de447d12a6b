"""Muon with its Newton-Schulz step and its momentum on a vkstruct device."""
import numpy as np
import torch

import vkstruct as vk
from vkstruct import dist

from ._bridge import to_device, to_torch


class Muon(torch.optim.Optimizer):
    """Muon (KellerJordan/Muon's muon_update) for 2-D (or flattened >2-D) parameters:
        m <- momentum m + (1 - momentum) g            (kept on the device between steps)
        u <- (1 - momentum) g + momentum m            (Nesterov; u = m without it)
        u <- NewtonSchulz5(u) * sqrt(max(1, rows / cols))   (on the device)
        p <- p (1 - lr weight_decay) - lr u
    Parameters and gradients are CPU tensors (copied to the device each step). ns_steps and
    eps as Muon's zeropower_via_newtonschulz5 (5, 1e-7).

    process_group (a torch.distributed process group, e.g. torch.distributed.group.WORLD, or
    an mpi4py communicator; None: no distribution): each rank computes the momentum and Newton-Schulz of the
    parameters vkstruct.dist.plan assigns it (the library's flop-balanced partition over all
    parameters, in param_groups order), the updates are exchanged with one all_gather, and
    every rank applies all of them: parameters bit-identical to a one-process run. step() is
    then collective (every rank calls it with the same parameter shapes and the same set of
    gradients, as after DDP's all-reduce); a rank with bad input (a parameter that is not a
    matrix, other shapes, a NaN/Inf update) makes every rank raise the same vkstruct.Error
    with no parameter and no momentum changed. A rank keeps the momentum of its own
    parameters only (momentum_buffer is None for the others)."""

    def __init__(self, params, lr=0.02, momentum=0.95, nesterov=True, weight_decay=0.0, ns_steps=5, eps=1e-7,
                 ctx=None, process_group=None):
        defaults = dict(lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay, ns_steps=ns_steps,
                        eps=eps)
        super().__init__(params, defaults)
        self.ctx = ctx or vk.default_context()
        self._one = {}
        self.process_group = process_group
        self._comm = None

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
        if self.process_group is not None:
            self._distributed_step()
            return loss
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

    def _orthogonalized_update(self, p, group, momentum):
        """(host float32 update, next momentum) of one parameter: the one-process step's
        device work, the momentum advanced on a copy (committed after the ranks agree)."""
        beta = group["momentum"]
        g = to_device(p.grad.reshape(p.shape[0], -1).float(), self.ctx)
        m = vk.zeros(g.shape, np.float32, self.ctx) if momentum is None else momentum.copy()
        self._axpby(1 - beta, g, beta, m)
        if group["nesterov"]:
            self._axpby(beta, m, 1 - beta, g)
            u = g
        else:
            u = m.copy()
        vk.orth.newton_schulz(u, out=u, steps=group["ns_steps"], eps=group["eps"], gram="off")
        return u.numpy(), m

    def _distributed_step(self):
        fn = "vkstruct.torch.optim.Muon.step"
        if self._comm is None:
            self._comm = dist.communicator(self.process_group)
        comm = self._comm
        entries = [(p, group) for group in self.param_groups for p in group["params"]]
        shapes = [(p.shape[0], p.numel() // max(p.shape[0], 1)) if p.dim() >= 1 else (1, 1) for p, _ in entries]
        active = [i for i, (p, _) in enumerate(entries) if p.grad is not None]
        hyper = [sorted((k, v) for k, v in g.items() if k != "params") for g in self.param_groups]
        failure, owner, updates, momenta = None, [], {}, {}
        try:
            for i in active:
                if entries[i][0].dim() < 2:
                    raise vk.InvalidArgumentError(dist._STATUS["VKS_ERROR_INVALID_ARGUMENT"],
                                                  f"{fn}: parameter {i} has shape {tuple(entries[i][0].shape)}, "
                                                  "expected a matrix (optimize it with AdamW)")
            # Owners over every parameter (not only those with gradients), so a parameter keeps
            # its owner, and its momentum, from step to step.
            owner = dist.plan(shapes, comm.size)
            for i in active:
                if owner[i] == comm.rank:
                    p, group = entries[i]
                    with dist.about(fn, f"parameter {i}"):
                        u, m = self._orthogonalized_update(p, group, self.state[p].get("momentum_buffer"))
                    dist.check_finite(u, fn, f"parameter {i}")
                    updates[i], momenta[p] = u, m
        except Exception as exc:  # noqa: BLE001 - every failure must reach the agreement
            failure = dist.as_error(exc, fn)
        dist.agree(comm, fn, failure, dist.digest(fn, shapes, active, hyper))
        for p, m in momenta.items():
            self.state[p]["momentum_buffer"] = m
        flat = dist.exchange(comm, [owner[i] for i in active], [updates.get(i) for i in active],
                             [4 * entries[i][0].numel() for i in active])
        for i, f in zip(active, flat):
            p, group = entries[i]
            update = torch.from_numpy(f.view(np.float32).copy()).reshape(p.shape).to(p.dtype)
            scale = max(1.0, shapes[i][0] / shapes[i][1]) ** 0.5
            if group["weight_decay"]:
                p.mul_(1 - group["lr"] * group["weight_decay"])
            p.add_(update, alpha=-group["lr"] * scale)

    def momentum_buffer(self, p):
        """The momentum of parameter p, copied back from the device (None before a step)."""
        m = self.state[p].get("momentum_buffer")
        return None if m is None else to_torch(m).reshape(p.shape)
