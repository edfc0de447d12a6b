"""PEFT LoRA / RandLoRA layers served by vkstruct (the adapters' weights unchanged)."""
import numpy as np
from torch import nn

import vkstruct as vk

from ._bridge import to_device, to_torch


def _base(layer):
    return layer.get_base_layer() if hasattr(layer, "get_base_layer") else layer.base_layer


def _adapter_of(layer, name):
    """('lora', A, B, scale) or ('randlora', basis_a, basis_b, lambda, gamma, scale) of one
    adapter of a PEFT layer, as tensors (no copy of their values yet)."""
    if hasattr(layer, "lora_A") and name in layer.lora_A:
        if getattr(layer, "use_dora", {}).get(name, False):
            raise NotImplementedError(f"LoRALinear.from_peft: adapter {name!r} uses DoRA, which vkstruct does not fuse")
        return ("lora", layer.lora_A[name].weight, layer.lora_B[name].weight, float(layer.scaling[name]))
    if hasattr(layer, "randlora_lambda") and name in layer.randlora_lambda:
        return ("randlora", layer.randlora_A[name], layer.randlora_B[name], layer.randlora_lambda[name],
                layer.randlora_gamma[name], float(layer.scaling[name]))
    raise ValueError(f"LoRALinear.from_peft: the layer has no LoRA or RandLoRA adapter named {name!r}")


class LoRALinear(nn.Module):
    """y = x W^T + bias + the active adapters' terms, each a fused vkstruct op (LoRA: one pass
    over W; RandLoRA: no Delta W formed). Weights live on the device (uploaded once; call
    refresh() after changing them). merge()/unmerge() fold the adapters into W in place."""

    def __init__(self, weight, bias=None, adapters=(), ctx=None):
        super().__init__()
        self.ctx = ctx or vk.default_context()
        self.out_features, self.in_features = weight.shape
        self._host = {"weight": weight.detach(), "bias": None if bias is None else bias.detach()}
        self.adapters = list(adapters)
        self.merged = False
        self.refresh()

    @classmethod
    def from_peft(cls, peft_layer, adapter_names=None, ctx=None):
        """From a PEFT LoraLayer / RandLoraLayer (e.g. model.base_model.model.fc1): its base
        nn.Linear and its active adapters (or adapter_names)."""
        base = _base(peft_layer)
        names = adapter_names or list(peft_layer.active_adapters)
        return cls(base.weight, base.bias, [_adapter_of(peft_layer, n) for n in names], ctx=ctx)

    def refresh(self):
        """(Re-)uploads W, bias and the adapters."""
        self._w = to_device(self._host["weight"], self.ctx)
        self._bias = to_device(self._host["bias"], self.ctx)
        self._dev = [(a[0],) + tuple(to_device(t, self.ctx) for t in a[1:-1]) + (a[-1],) for a in self.adapters]
        self.merged = False

    def _delta_terms(self, x, y):
        for kind, *ts, scale in self._dev:
            if kind == "lora":
                a, b = ts
                vk.lowrank.lora(x, None, a, b, scale=scale, y=y, beta=1.0)
            else:
                basis_a, basis_b, lam, gamma = ts
                vk.lowrank.randlora(x, None, basis_a, basis_b, lam, gamma, scale=scale, y=y, beta=1.0)

    def _one(self):
        if getattr(self, "_eye", None) is None:
            self._eye = vk.asarray(np.eye(self.out_features), dtype=self._w.dtype, ctx=self.ctx)
        return self._eye

    def forward(self, x):
        shape = x.shape
        xd = to_device(x.reshape(-1, self.in_features), self.ctx)
        if self.merged or not self._dev:
            y = vk.gemm(xd, self._w, trans_b=True, bias=self._bias)
        elif len(self._dev) == 1 and self._dev[0][0] == "lora":
            _, a, b, scale = self._dev[0]
            y = vk.lowrank.lora(xd, self._w, a, b, self._bias, scale=scale)
        elif self._dev[0][0] == "randlora":
            _, basis_a, basis_b, lam, gamma, scale = self._dev[0]
            y = vk.lowrank.randlora(xd, self._w, basis_a, basis_b, lam, gamma, self._bias, scale=scale)
            rest = self._dev[1:]
            self._dev, saved = rest, self._dev
            try:
                self._delta_terms(xd, y)
            finally:
                self._dev = saved
        else:
            y = vk.gemm(xd, self._w, trans_b=True, bias=self._bias)
            self._delta_terms(xd, y)
        return to_torch(y).reshape(*shape[:-1], self.out_features)

    def _delta_w(self, adapter):
        """RandLoRA's Delta W (out, in) in PEFT's order, formed for merging only."""
        _, basis_a, basis_b, lam, gamma, scale = adapter
        a, b, lam, gamma = (t.detach().double().numpy() for t in (basis_a, basis_b, lam, gamma))
        in_f, out_f = self.in_features, self.out_features
        d_min, d_max = min(in_f, out_f), max(in_f, out_f)
        r, n = lam.shape
        a_flat = (lam[:, :, None] * a.reshape(r, -1)[None, :, :d_min].transpose(1, 0, 2) * gamma[None]).reshape(
            r * n, d_min)
        b_flat = b[:d_max, :n, :].reshape(d_max, n * r)
        dw = scale * (b_flat @ a_flat)  # (d_max, d_min)
        return dw if in_f <= out_f else dw.T

    def merge(self):
        """W += the adapters' Delta W, on the device (LoRA: vks_lora_merge)."""
        if not self.merged:
            self._fold(+1)
            self.merged = True

    def unmerge(self):
        """Undoes merge (to within one rounding of W's dtype)."""
        if self.merged:
            self._fold(-1)
            self.merged = False

    def _fold(self, sign):
        for dev, host in zip(self._dev, self.adapters):
            if dev[0] == "lora":
                (vk.lowrank.merge if sign > 0 else vk.lowrank.unmerge)(self._w, dev[1], dev[2], dev[3])
            else:
                dw = vk.asarray(self._delta_w(host), dtype=self._w.dtype, ctx=self.ctx)
                vk.gemm(self._one(), dw, self._w, alpha=float(sign), beta=1.0)

    def merged_weight(self):
        """W as it is on the device now (merged or not), a CPU tensor."""
        return to_torch(self._w)


class MultiLoRALinear(nn.Module):
    """One base layer serving several LoRA adapters in one batch (Punica/S-LoRA): each row
    of x names its adapter (-1: base only). Adapters packed on the device without padding."""

    def __init__(self, weight, bias, adapters, names=None, ctx=None):
        super().__init__()
        self.ctx = ctx or vk.default_context()
        self.out_features, self.in_features = weight.shape
        self.names = list(names) if names else [str(i) for i in range(len(adapters))]
        self._w, self._bias = to_device(weight, self.ctx), to_device(bias, self.ctx)
        dtype = self._w.dtype
        host = [(a.detach().float().numpy(), b.detach().float().numpy(), s) for a, b, s in adapters]
        self._packed = vk.lowrank.Adapters(host, ctx=self.ctx, dtype=dtype)

    @classmethod
    def from_peft(cls, peft_layer, adapter_names=None, ctx=None):
        """Every LoRA adapter of a PEFT LoraLayer (or those named), ids in that order."""
        base = _base(peft_layer)
        names = adapter_names or list(peft_layer.lora_A.keys())
        ads = []
        for n in names:
            kind, a, b, scale = _adapter_of(peft_layer, n)
            ads.append((a, b, scale))
        return cls(base.weight, base.bias, ads, names, ctx=ctx)

    def forward(self, x, adapter_ids):
        """x (..., in); adapter_ids: one id (position or name) per row of x flattened."""
        ids = [self.names.index(i) if isinstance(i, str) else int(i) for i in
               (adapter_ids.tolist() if hasattr(adapter_ids, "tolist") else adapter_ids)]
        flat = x.reshape(-1, self.in_features)
        y = vk.lowrank.lora_multi(to_device(flat, self.ctx), self._w, self._packed, indices=np.asarray(ids),
                                  bias=self._bias)
        return to_torch(y).reshape(*x.shape[:-1], self.out_features)
