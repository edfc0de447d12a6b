"""Low-rank GEMMs in PEFT's conventions (docs/lowrank.md): W (out, in), A = lora_A.weight
(r, in), B = lora_B.weight (out, r), x (M, in), y (M, out), scale = lora_alpha / r."""
import numpy as np

from ._core import Array
from ._ops import check, choice, empty, ffi, lib, new_struct, on_device, tensor


def lora(x, w, a, b, bias=None, *, scale=1.0, y=None, beta=0.0, ctx=None):
    """y = beta*y + x W^T + scale (x A^T) B^T + bias in one pass over W (w may be None:
    the adapter's term alone). x (M, in), w (out, in), a (r, in), b (out, r), bias (out)
    -> y (M, out)."""
    ctx, (x, w, a, b, bias, y) = on_device(x, w, a, b, bias, y, ctx=ctx, names=("x", "w", "a", "b", "bias", "y"))
    if y is None:
        y, beta = empty((x.shape[0], b.shape[0]), x.dtype, ctx), 0.0
    d = new_struct("lora_desc", scale=scale, beta=beta)
    keep = [tensor(v) for v in (x, w, a, b, bias, y)]
    d.x, d.w, d.a, d.b, d.bias, d.y = keep
    check(lib.vks_lora_forward(ctx.ptr, d))
    return y


def factorized(x, v, u, bias=None, *, ctx=None):
    """A factorized (SVD-compressed) layer: x (M, in), v (r, in), u (out, r), bias (out)
    -> y = (x v^T) u^T + bias, (M, out)."""
    ctx, (x, v, u, bias) = on_device(x, v, u, bias, ctx=ctx, names=("x", "v", "u", "bias"))
    y = empty((x.shape[0], u.shape[0]), x.dtype, ctx)
    check(lib.vks_factorized_linear(ctx.ptr, x.tensor(), v.tensor(), u.tensor(), tensor(bias), y.tensor()))
    return y


class Adapters:
    """Several LoRA adapters of one layer, packed on the device once (no rank padding):
    Adapters([(a_0, b_0, scale_0), (a_1, b_1, scale_1), ...]) with a_i (r_i, in), b_i (out, r_i).
    Adapter ids are the list positions; pass it to lora_multi."""

    def __init__(self, adapters, ctx=None, dtype=None):
        host = [(np.asarray(a), np.asarray(b), float(s)) for a, b, s in adapters]
        if not host:
            raise ValueError("vkstruct.lowrank.Adapters: adapters is empty")
        self.ranks = ffi.new("int32_t[]", [a.shape[0] for a, _, _ in host])
        self.scales = ffi.new("double[]", [s for _, _, s in host])
        self.count = len(host)
        dtype = dtype or host[0][0].dtype
        flat_a = np.concatenate([a.reshape(-1) for a, _, _ in host] + [np.zeros(1, host[0][0].dtype)])
        flat_b = np.concatenate([b.reshape(-1) for _, b, _ in host] + [np.zeros(1, host[0][1].dtype)])
        from ._core import asarray

        self.a, self.b = asarray(flat_a, dtype=dtype, ctx=ctx), asarray(flat_b, dtype=dtype, ctx=ctx)
        self.in_features = host[0][0].shape[1]
        self.out_features = host[0][1].shape[0]

    def struct(self):
        s = new_struct("lora_adapters", count=self.count, ranks=self.ranks, scales=self.scales)
        keep = (self.a.tensor(), self.b.tensor())
        s.a, s.b = keep
        return s, keep


def lora_multi(x, w, adapters, *, indices=None, segments=None, bias=None, ctx=None):
    """Many adapters in one batch (Punica/S-LoRA BGMV/SGMV): row i of x (M, in) gets
    x W^T + s_a (x A_a^T) B_a^T + bias with a = indices[i] (-1: base only), or, with
    segments = (starts (S+1), ids (S)), rows starts[j]..starts[j+1]-1 use adapter ids[j].
    adapters: an Adapters or a list of (a, b, scale). Returns y (M, out)."""
    if not isinstance(adapters, Adapters):
        adapters = Adapters(adapters, ctx=ctx if ctx is not None else x.ctx if isinstance(x, Array) else None,
                            dtype=x.dtype if isinstance(x, (Array, np.ndarray)) else None)
    ctx, (x, w, bias) = on_device(x, w, bias, ctx=ctx or adapters.a.ctx, names=("x", "w", "bias"))
    y = empty((x.shape[0], adapters.out_features), x.dtype, ctx)
    ad, keep = adapters.struct()
    d = new_struct("lora_multi_desc", adapters=ad)
    keep += tuple(tensor(v) for v in (x, w, bias, y))
    d.x, d.w, d.bias, d.y = keep[2:]
    if (indices is None) == (segments is None):
        raise ValueError("vkstruct.lowrank.lora_multi: give exactly one of indices and segments")
    if indices is not None:
        idx = np.ascontiguousarray(indices, dtype=np.int32)
        if idx.shape != (x.shape[0],):
            raise ValueError(f"vkstruct.lowrank.lora_multi: indices has shape {idx.shape}, expected ({x.shape[0]},)")
        d.layout, d.indices = lib.VKS_LORA_GATHERED, ffi.from_buffer("int32_t[]", idx)
    else:
        starts = np.ascontiguousarray(segments[0], dtype=np.int32)
        ids = np.ascontiguousarray(segments[1], dtype=np.int32)
        if starts.shape != (ids.shape[0] + 1,):
            raise ValueError(f"vkstruct.lowrank.lora_multi: segments have {starts.shape[0]} starts and "
                             f"{ids.shape[0]} ids, expected ids + 1 starts")
        d.layout, d.num_segments = lib.VKS_LORA_SEGMENTED, ids.shape[0]
        d.seg_starts, d.seg_adapters = ffi.from_buffer("int32_t[]", starts), ffi.from_buffer("int32_t[]", ids)
    check(lib.vks_lora_multi_forward(ctx.ptr, d))
    return y


def randlora(x, w, basis_a, basis_b, lam, gamma, bias=None, *, scale=1.0, y=None, beta=0.0, ctx=None):
    """PEFT's RandLoRA forward: y = x W^T + bias + scale * (the RandLoRA product), never
    forming Delta W. x (M, in), w (out, in) or None, basis_a randlora_A (r, D) or (r, 1, D),
    basis_b randlora_B (D', N, r), lam randlora_lambda (r, n), gamma randlora_gamma
    (n, d_min) -> y (M, out), updated as beta*y + ... when y is given; out is taken from
    y, w or bias."""
    ctx, (x, w, basis_a, basis_b, lam, gamma, bias, y) = on_device(
        x, w, basis_a, basis_b, lam, gamma, bias, y, ctx=ctx,
        names=("x", "w", "basis_a", "basis_b", "lambda", "gamma", "bias", "y"))
    if y is not None:
        out = y.shape[-1]
    elif w is not None:
        out = w.shape[0]
    elif bias is not None:
        out = bias.shape[0]
    else:
        raise ValueError("vkstruct.lowrank.randlora: with w None, pass y or bias (out_features unknown)")
    if y is None:
        y, beta = empty((x.shape[0], out), x.dtype, ctx), 0.0
    d = new_struct("randlora_desc", scale=scale, beta=beta)
    keep = [tensor(v) for v in (x, w, bias, y, basis_a, basis_b, lam, gamma)]
    d.x, d.w, d.bias, d.y, d.basis_a, d.basis_b, d.gamma = keep[:6] + keep[7:]
    setattr(d, "lambda", keep[6])  # a Python keyword
    check(lib.vks_randlora_forward(ctx.ptr, d))
    return y


def _merge(fn, w, a, b, scale, ctx):
    ctx, (w, a, b) = on_device(w, a, b, ctx=ctx, names=("w", "a", "b"))
    check(fn(ctx.ptr, w.tensor(), a.tensor(), b.tensor(), scale))
    return w


def merge(w, a, b, scale=1.0, *, ctx=None):
    """W += scale B A in place (w an Array; a numpy w is uploaded and the Array returned).
    w (out, in), a (r, in), b (out, r)."""
    return _merge(lib.vks_lora_merge, w, a, b, scale, ctx)


def unmerge(w, a, b, scale=1.0, *, ctx=None):
    """W -= scale B A in place: undoes merge to within one rounding of w's dtype."""
    return _merge(lib.vks_lora_unmerge, w, a, b, scale, ctx)


_SIDES = {"auto": lib.VKS_GALORE_AUTO, "right": lib.VKS_GALORE_RIGHT, "left": lib.VKS_GALORE_LEFT}


def galore_project(g, p, *, side="auto", ctx=None):
    """GaLore's projection of a gradient g (m, n) (or (batch, m, n)): "right" (auto when
    m >= n) P (r, n) -> R = G P^T (m, r); "left" P (m, r) -> R = P^T G (r, n)."""
    ctx, (g, p) = on_device(g, p, ctx=ctx, names=("g", "p"))
    s = choice(side, _SIDES, "vkstruct.lowrank.galore_project", "side")
    m, n = g.shape[-2:]
    if s == lib.VKS_GALORE_RIGHT or (s == lib.VKS_GALORE_AUTO and m >= n):
        shape = (m, p.shape[-2])
    else:
        shape = (p.shape[-1], n)
    r = empty(g.shape[:-2] + shape, g.dtype, ctx)
    check(lib.vks_galore_project(ctx.ptr, s, g.tensor(), p.tensor(), r.tensor()))
    return r


def galore_back(r, p, *, scale=0.25, side="auto", ctx=None):
    """Back-projection G = scale R P ("right": R (m, r), P (r, n)) or scale P R ("left":
    P (m, r), R (r, n)); "auto" takes whichever the shapes allow with GaLore's rule."""
    ctx, (r, p) = on_device(r, p, ctx=ctx, names=("r", "p"))
    s = choice(side, _SIDES, "vkstruct.lowrank.galore_back", "side")
    right = (r.shape[-2], p.shape[-1])
    left = (p.shape[-2], r.shape[-1])
    if s == lib.VKS_GALORE_AUTO:
        fits_right = r.shape[-1] == p.shape[-2] and right[0] >= right[1]
        shape = right if fits_right else left
    else:
        shape = right if s == lib.VKS_GALORE_RIGHT else left
    g = empty(r.shape[:-2] + shape, r.dtype, ctx)
    check(lib.vks_galore_project_back(ctx.ptr, s, r.tensor(), p.tensor(), scale, g.tensor()))
    return g


__all__ = ["lora", "lora_multi", "Adapters", "factorized", "randlora", "merge", "unmerge", "galore_project",
           "galore_back"]
