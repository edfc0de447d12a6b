"""Dense GEMM (vks_gemm_ex)."""
from ._core import Array
from ._ops import activation, check, empty, lib, new_struct, on_device, tensor


def gemm(a, b, c=None, *, alpha=1.0, beta=0.0, trans_a=False, trans_b=False, bias=None, act=None, ctx=None):
    """c = act(alpha * op(a) @ op(b) + beta * c + bias), op = transpose when trans_*.

    a: (M, K) or (batch, M, K) (with trans_a: (K, M) / (batch, K, M)); b: (K, N) or (batch, K, N)
    (trans_b: (N, K)); a batch of 1 broadcasts (pass a rank-2 operand). c: (M, N) or
    (batch, M, N), updated in place when given (an Array), else a new Array; bias: (N).
    act: None, "relu", "gelu" (erf, torch's default) or "gelu_tanh". All operands share one
    dtype: float32, float16 or float64. Returns c.
    """
    ctx, (a, b, c, bias) = on_device(a, b, c, bias, ctx=ctx, names=("a", "b", "c", "bias"))
    if c is None:
        m = a.shape[-1] if trans_a else a.shape[-2] if a.ndim >= 2 else 0
        n = b.shape[-2] if trans_b and b.ndim >= 2 else b.shape[-1]
        batch = max(x.shape[0] if x.ndim == 3 else 1 for x in (a, b))
        c = empty((batch, m, n) if 3 in (a.ndim, b.ndim) else (m, n), a.dtype, ctx)
        beta = 0.0
    if c.ndim == 3:  # a rank-2 operand serves every batch entry (batch stride 0)
        a, b = (Array(x._buffer, x.dtype, (c.shape[0],) + x.shape, (0,) + x._estrides, x._offset)
                if x.ndim == 2 else x for x in (a, b))
    desc = new_struct("gemm_desc", trans_a=lib.VKS_TRANS if trans_a else lib.VKS_NO_TRANS,
                      trans_b=lib.VKS_TRANS if trans_b else lib.VKS_NO_TRANS, alpha=alpha, beta=beta,
                      activation=activation(act, "vkstruct.gemm"))
    ta, tb, tc, tbias = tensor(a), tensor(b), tensor(c), tensor(bias)
    desc.a, desc.b, desc.c, desc.bias = ta, tb, tc, tbias
    check(lib.vks_gemm_ex(ctx.ptr, desc))
    return c
