"""Orthogonalization and small factorizations (docs/orthogonal.md). Matrices are (m, n) or
a batch (batch, m, n)."""
import numpy as np

from ._ops import check, choice, empty, ffi, lib, new_struct, on_device

_SCHEDULES = {"muon": lib.VKS_NS_MUON, "polar_express": lib.VKS_NS_POLAR_EXPRESS, "cubic": lib.VKS_NS_CUBIC,
              "quintic": lib.VKS_NS_QUINTIC, "custom": lib.VKS_NS_CUSTOM}
_GRAM = {"auto": lib.VKS_NS_GRAM_AUTO, "off": lib.VKS_NS_GRAM_OFF, "on": lib.VKS_NS_GRAM_ON, False: lib.VKS_NS_GRAM_OFF,
         True: lib.VKS_NS_GRAM_ON}


def newton_schulz(g, *, steps=0, schedule="muon", coefficients=None, eps=0.0, norm_factor=0.0, gram="auto",
                  out=None, ctx=None):
    """Muon's Newton-Schulz orthogonalization: g (m, n) or (batch, m, n) -> same shape.

    X0 = g / (norm_factor ||g||_F + eps), then `steps` steps X <- aX + b(XX^T)X + c(XX^T)^2X
    (tall matrices iterated as their transpose). schedule: "muon" (3.4445, -4.7750, 2.0315;
    5 steps), "polar_express", "cubic", "quintic" or "custom" with coefficients (steps, 3).
    eps 0 keeps it scale-invariant; Muon's code uses 1e-7. dtypes f32, f16, bf16, f64.
    out may be g itself (in place)."""
    ctx, (g, out) = on_device(g, out, ctx=ctx, names=("g", "out"))
    out = out if out is not None else empty(g.shape, g.dtype, ctx)
    opts = new_struct("newton_schulz_options", schedule=choice(schedule, _SCHEDULES, "vkstruct.orth.newton_schulz",
                                                              "schedule"),
                      steps=steps, eps=eps, norm_factor=norm_factor,
                      gram=choice(gram, _GRAM, "vkstruct.orth.newton_schulz", "gram"))
    if coefficients is not None:
        coef = np.ascontiguousarray(coefficients, dtype=np.float64).reshape(-1)
        opts.coefficients, opts.steps = ffi.from_buffer("double[]", coef), steps or coef.size // 3
    check(lib.vks_newton_schulz(ctx.ptr, g.tensor(), out.tensor(), opts))
    return out


def polar_express(g, *, steps=0, eps=0.0, out=None, ctx=None):
    """Polar Express (Amsel et al. 2025): newton_schulz with its minimax schedule."""
    return newton_schulz(g, steps=steps, schedule="polar_express", eps=eps, out=out, ctx=ctx)


def newton_schulz_coefficients(schedule="muon", steps=0):
    """The (a, b, c) per step a schedule applies, as an array (steps, 3)."""
    count = ffi.new("int32_t *")
    s = choice(schedule, _SCHEDULES, "vkstruct.orth.newton_schulz_coefficients", "schedule")
    check(lib.vks_newton_schulz_coefficients(s, steps, ffi.NULL, 0, count))
    abc = np.empty((count[0], 3))
    check(lib.vks_newton_schulz_coefficients(s, steps, ffi.from_buffer("double[]", abc), count[0], count))
    return abc


_AUON = {"code": lib.VKS_AUON_CODE, "paper": lib.VKS_AUON_PAPER}


def auon(g, *, variant="code", gamma=0.0, eps=0.0, ns_steps=0, out=None, ctx=None):
    """AuON: g / (r + 1e-8) with r = sqrt(mean(cosh(gamma g/||g||_F)^2)) (variant "code";
    "paper" scales the normalised g). gamma 0 means 1.5; ns_steps > 0 is Hybrid-AuON
    (that many Newton-Schulz steps first). g (m, n) or (batch, m, n) -> same shape."""
    ctx, (g, out) = on_device(g, out, ctx=ctx, names=("g", "out"))
    out = out if out is not None else empty(g.shape, g.dtype, ctx)
    opts = new_struct("auon_options", variant=choice(variant, _AUON, "vkstruct.orth.auon", "variant"), gamma=gamma,
                      eps=eps, ns_steps=ns_steps)
    check(lib.vks_auon(ctx.ptr, g.tensor(), out.tensor(), opts))
    return out


_CHOLQR = {"auto": lib.VKS_CHOLQR_AUTO, "cholqr2": lib.VKS_CHOLQR_2, "shifted3": lib.VKS_CHOLQR_SHIFTED_3}


def cholqr(a, *, mode="auto", f64_work=False, ctx=None):
    """Thin QR of a tall a (m, n), m >= n, or (batch, m, n) by CholeskyQR2 (shifted
    CholeskyQR3 when needed): returns (q (m, n), r (n, n) upper triangular, positive diagonal)."""
    ctx, (a,) = on_device(a, ctx=ctx, names=("a",))
    q = empty(a.shape, a.dtype, ctx)
    r = empty(a.shape[:-2] + (a.shape[-1], a.shape[-1]), a.dtype, ctx)
    opts = new_struct("cholqr_options", mode=choice(mode, _CHOLQR, "vkstruct.orth.cholqr", "mode"),
                      flags=lib.VKS_CHOLQR_F64_WORK if f64_work else 0)
    check(lib.vks_cholqr(ctx.ptr, a.tensor(), q.tensor(), r.tensor(), opts))
    return q, r


def cholesky(a, *, ctx=None):
    """Lower Cholesky factor l of a symmetric positive definite a (n, n) or (batch, n, n)
    (only a's lower triangle is read); NotPositiveDefiniteError names the failing pivot."""
    ctx, (a,) = on_device(a, ctx=ctx, names=("a",))
    l_ = empty(a.shape, a.dtype, ctx)
    check(lib.vks_cholesky(ctx.ptr, a.tensor(), l_.tensor()))
    return l_


def trsm(l, b, *, trans=False, ctx=None):  # noqa: E741 - the factor's conventional name
    """x = l^-1 b (trans: l^-T b) for a lower-triangular l (n, n) or (batch, n, n) and
    b (n, k) or (batch, n, k)."""
    ctx, (l, b) = on_device(l, b, ctx=ctx, names=("l", "b"))
    x = empty(b.shape, b.dtype, ctx)
    check(lib.vks_trsm(ctx.ptr, lib.VKS_TRANS if trans else lib.VKS_NO_TRANS, l.tensor(), b.tensor(), x.tensor()))
    return x


def eigh(a, *, ctx=None):
    """Symmetric eigendecomposition: a (n, n) or (batch, n, n) (lower triangle read) ->
    (w (n) ascending, v (n, n) eigenvectors in the columns, largest component positive)."""
    ctx, (a,) = on_device(a, ctx=ctx, names=("a",))
    w = empty(a.shape[:-1], a.dtype, ctx)
    v = empty(a.shape, a.dtype, ctx)
    check(lib.vks_eigh(ctx.ptr, a.tensor(), w.tensor(), v.tensor()))
    return w, v


def svd(a, *, ctx=None):
    """Thin SVD (torch.linalg.svd(full_matrices=False)): a (m, n) or (batch, m, n) ->
    (u (m, k), s (k) descending, vh (k, n)), k = min(m, n)."""
    ctx, (a,) = on_device(a, ctx=ctx, names=("a",))
    m, n = a.shape[-2:] if a.ndim >= 2 else (0, 0)
    k, batch = min(m, n), a.shape[:-2]
    u, s, vh = empty(batch + (m, k), a.dtype, ctx), empty(batch + (k,), a.dtype, ctx), empty(batch + (k, n), a.dtype, ctx)
    check(lib.vks_svd(ctx.ptr, a.tensor(), u.tensor(), s.tensor(), vh.tensor()))
    return u, s, vh


def syrk(a, *, trans=False, alpha=1.0, c=None, beta=0.0, mirror=True, ctx=None):
    """c = alpha op(a) op(a)^T + beta c (op(a) = a (n, k), or a^T with trans); the lower
    triangle computed, mirrored to the upper one with mirror. a rank 2 or 3 -> c (n, n)."""
    ctx, (a, c) = on_device(a, c, ctx=ctx, names=("a", "c"))
    if c is None:
        n = a.shape[-1] if trans else a.shape[-2]
        c, beta = empty(a.shape[:-2] + (n, n), a.dtype, ctx), 0.0
    check(lib.vks_syrk(ctx.ptr, lib.VKS_TRANS if trans else lib.VKS_NO_TRANS, alpha, a.tensor(), beta, c.tensor(),
                       int(mirror)))
    return c


__all__ = ["newton_schulz", "polar_express", "newton_schulz_coefficients", "auon", "cholqr", "cholesky", "trsm",
           "eigh", "svd", "syrk"]
