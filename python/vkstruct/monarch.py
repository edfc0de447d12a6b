"""Monarch and block-diagonal products (fly / m2 conventions, docs/monarch.md).

Shapes: x (B, n), n = k*p; w1 (k, q, p); w2 (l, s, r) with l*r = k*q; y (B, m), m = l*s.
"""
from ._ops import ACTIVATIONS, activation, check, choice, empty, ffi, lib, new_struct, on_device, tensor

_PATHS = {"auto": lib.VKS_MONARCH_PATH_AUTO, "fused": lib.VKS_MONARCH_PATH_FUSED,
          "two_pass": lib.VKS_MONARCH_PATH_TWO_PASS, "unfused": lib.VKS_MONARCH_PATH_UNFUSED}


def _rows(x):
    return x.shape[0] if x.ndim >= 1 else 0


def forward(x, w1, w2, bias=None, *, act=None, padded=False, path="auto", out_features=None, ctx=None):
    """y = act(monarch(x, w1, w2) + bias), fly's blockdiag_butterfly_multiply.

    x (B, n), w1 (k, q, p), w2 (l, s, r), bias (m) -> y (B, m) with m = l*s. padded=True
    reads x as zero-padded to k*p and truncates y to out_features (default l*s), as
    MonarchLinear does. path: "auto", "fused", "two_pass" or "unfused" (the peers' way).
    """
    ctx, (x, w1, w2, bias) = on_device(x, w1, w2, bias, ctx=ctx, names=("x", "w1", "w2", "bias"))
    m = w2.shape[0] * w2.shape[1] if w2.ndim == 3 else 0
    y = empty((_rows(x), out_features if padded and out_features else m), x.dtype, ctx)
    d = new_struct("monarch_desc", activation=activation(act, "vkstruct.monarch.forward"), padded=int(padded),
                   path=choice(path, _PATHS, "vkstruct.monarch.forward", "path"))
    t = [tensor(v) for v in (x, w1, w2, bias, y)]
    d.x, d.w1, d.w2, d.bias, d.y = t
    check(lib.vks_monarch_forward(ctx.ptr, d))
    return y


def linear_shapes(in_features, out_features, nblocks=4):
    """The (w1, w2) shapes of fly's MonarchLinear(in_features, out_features, nblocks)."""
    s1, s2 = ffi.new("int64_t[3]"), ffi.new("int64_t[3]")
    check(lib.vks_monarch_linear_shapes(in_features, out_features, nblocks, s1, s2))
    return tuple(s1), tuple(s2)


def linear(x, w1, w2, bias=None, *, out_features, act=None, ctx=None):
    """fly's MonarchLinear forward: x (B, in_features) zero-padded to nblocks*in_blk, the
    product truncated to out_features, then + bias (out_features) and act. w1, w2 as
    linear_shapes(in_features, out_features, nblocks) gives. Returns y (B, out_features)."""
    ctx, (x, w1, w2, bias) = on_device(x, w1, w2, bias, ctx=ctx, names=("x", "w1", "w2", "bias"))
    y = empty((_rows(x), out_features), x.dtype, ctx)
    d = new_struct("monarch_desc", activation=activation(act, "vkstruct.monarch.linear"))
    t = [tensor(v) for v in (x, w1, w2, bias, y)]
    d.x, d.w1, d.w2, d.bias, d.y = t
    check(lib.vks_monarch_linear(ctx.ptr, d))
    return y


def backward(x, w1, w2, dy, *, padded=False, need=("dx", "dw1", "dw2", "dbias"), ctx=None):
    """Gradients of forward (before the activation): x (B, n), w1, w2, dy (B, m) ->
    dict with dx (B, n), dw1 (k, q, p), dw2 (l, s, r), dbias (m), those named in `need`."""
    ctx, (x, w1, w2, dy) = on_device(x, w1, w2, dy, ctx=ctx, names=("x", "w1", "w2", "dy"))
    out = {"dx": x.shape, "dw1": w1.shape, "dw2": w2.shape, "dbias": dy.shape[-1:]}
    grads = {k: empty(v, x.dtype, ctx) for k, v in out.items() if k in need}
    d = new_struct("monarch_backward_desc", padded=int(padded))
    keep = [tensor(v) for v in (x, w1, w2, dy)] + [tensor(grads.get(k)) for k in out]
    d.x, d.w1, d.w2, d.dy, d.dx, d.dw1, d.dw2, d.dbias = keep
    check(lib.vks_monarch_backward(ctx.ptr, d))
    return grads


def project(m, w1_shape, w2_shape, *, padded=False, max_iterations=0, tolerance=0.0, ctx=None):
    """The Frobenius-optimal Monarch approximation of a dense m (m_rows, n_cols) (y = x m^T):
    returns (w1, w2, info) with w1 of w1_shape (k, q, p), w2 of w2_shape (l, s, r) and info a
    dict (relative_error, iterations, unconverged, max_rank, blocks). Synchronizes."""
    ctx, (m,) = on_device(m, ctx=ctx, names=("m",))
    w1, w2 = empty(w1_shape, m.dtype, ctx), empty(w2_shape, m.dtype, ctx)
    d = new_struct("monarch_project_desc", max_iterations=max_iterations, tolerance=tolerance, padded=int(padded))
    keep = [tensor(v) for v in (m, w1, w2)]
    d.m, d.w1, d.w2 = keep
    res = ffi.new("vks_monarch_project_result *")
    res.struct_size = ffi.sizeof("vks_monarch_project_result")
    check(lib.vks_monarch_project(ctx.ptr, d, res))
    info = {n: getattr(res, n) for n, _ in ffi.typeof("vks_monarch_project_result").fields if n != "struct_size"}
    return w1, w2, info


def blockdiag(x, w, bias=None, *, act=None, ctx=None):
    """M2-BERT's BlockdiagLinear: x (B, nblocks*in_blk), w (nblocks, out_blk, in_blk),
    bias (nblocks*out_blk) -> y (B, nblocks*out_blk) = act(x BD(w)^T + bias)."""
    ctx, (x, w, bias) = on_device(x, w, bias, ctx=ctx, names=("x", "w", "bias"))
    y = empty((_rows(x), w.shape[0] * w.shape[1] if w.ndim == 3 else 0), x.dtype, ctx)
    d = new_struct("blockdiag_desc", activation=activation(act, "vkstruct.monarch.blockdiag"))
    keep = [tensor(v) for v in (x, w, bias, y)]
    d.x, d.w, d.bias, d.y = keep
    check(lib.vks_blockdiag_linear(ctx.ptr, d))
    return y


def blockdiag_backward(x, w, dy, *, need=("dx", "dw", "dbias"), ctx=None):
    """Gradients of blockdiag (before the activation) -> dict of dx, dw, dbias (those in need)."""
    ctx, (x, w, dy) = on_device(x, w, dy, ctx=ctx, names=("x", "w", "dy"))
    out = {"dx": x.shape, "dw": w.shape, "dbias": dy.shape[-1:]}
    grads = {k: empty(v, x.dtype, ctx) for k, v in out.items() if k in need}
    d = new_struct("blockdiag_backward_desc")
    keep = [tensor(v) for v in (x, w, dy)] + [tensor(grads.get(k)) for k in out]
    d.x, d.w, d.dy, d.dx, d.dw, d.dbias = keep
    check(lib.vks_blockdiag_backward(ctx.ptr, d))
    return grads


__all__ = ["forward", "backward", "linear", "linear_shapes", "project", "blockdiag", "blockdiag_backward"]
del ACTIVATIONS
