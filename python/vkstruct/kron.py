"""Kronecker-structured GP algebra (docs/kron.md): K = K_1 ⊗ ... ⊗ K_d on a grid of
N = n_1 ... n_d points, grid values flattened row-major (the last dimension fastest)."""
import numpy as np

from ._ops import InvalidArgumentError, check, choice, empty, fail, ffi, lib, new_struct, on_device, tensor


def _factors(factors, extra, ctx, names):
    objs = list(factors) + list(extra)
    ctx, arrs = on_device(*objs, ctx=ctx, names=[f"factors[{i}]" for i in range(len(factors))] + list(names))
    return ctx, arrs[:len(factors)], arrs[len(factors):]


def _room(fn, slots, count, what):
    """The C descriptors hold len(slots) (VKS_KRON_MAX_DIMS) factors; more would be an
    IndexError while filling them, before the library could say so."""
    if not 1 <= count <= len(slots):
        fail(InvalidArgumentError, f"{fn}: {count} {what}, expected 1..{len(slots)}")


def matmul(factors, x, *, trans=False, alpha=1.0, y=None, beta=0.0, ctx=None):
    """y = alpha (op(A_1) ⊗ ... ⊗ op(A_d)) x + beta y, op = transpose with trans. A_i may be
    rectangular (m_i, n_i); x (N) or (N, k) with N = prod n_i -> y (M) or (M, k), M = prod m_i."""
    ctx, fs, (x, y) = _factors(factors, (x, y), ctx, ("x", "y"))
    if y is None:
        m = int(np.prod([f.shape[1] if trans else f.shape[0] for f in fs], dtype=np.int64))
        y, beta = empty((m,) + x.shape[1:], x.dtype, ctx), 0.0
    ts = [f.tensor() for f in fs]
    arr = ffi.new("vks_tensor *[]", ts)
    check(lib.vks_kron_matmul(ctx.ptr, len(fs), arr, lib.VKS_TRANS if trans else lib.VKS_NO_TRANS, alpha,
                              x.tensor(), beta, y.tensor()))
    return y


_KINDS = {"rbf": lib.VKS_KERNEL_RBF, "matern52": lib.VKS_KERNEL_MATERN52,
          "spectral_mixture": lib.VKS_KERNEL_SPECTRAL_MIXTURE}
_SM_BASE = {"se": lib.VKS_SM_BASE_SE, "matern52": lib.VKS_SM_BASE_MATERN52}


def _kernel_desc(fn, kind="rbf", lengthscale=1.0, outputscale=1.0, sm_base="se", sm_weights=None, sm_rhos=None,
                 sm_freqs=None, dx1=0, dx2=0):
    """(vks_kernel_desc, the host arrays it points to, to keep alive)."""
    d = new_struct("kernel_desc", kind=choice(kind, _KINDS, fn, "kind"), lengthscale=lengthscale,
                   outputscale=outputscale, sm_base=choice(sm_base, _SM_BASE, fn, "sm_base"), dx1=dx1, dx2=dx2)
    keep = []
    if kind == "spectral_mixture":
        keep = [np.ascontiguousarray(v, dtype=np.float64) for v in (sm_weights, sm_rhos, sm_freqs)]
        d.num_mixtures = keep[0].size
        d.sm_weights, d.sm_rhos, d.sm_freqs = (ffi.from_buffer("double[]", v) for v in keep)
    return d, keep


def kernel(x1, x2=None, *, kind="rbf", lengthscale=1.0, outputscale=1.0, sm_base="se", sm_weights=None,
           sm_rhos=None, sm_freqs=None, dx1=0, dx2=0, ctx=None):
    """The kernel matrix k (n1, n2) of 1-D points x1 (n1) and x2 (n2) (default x1), r = x - x':
    "rbf" outputscale exp(-r^2 / (2 lengthscale^2)) (GPyTorch's RBFKernel), "matern52", or
    "spectral_mixture" (GP-HM: sum_q w_q phi(|r|; rho_q) cos(2 pi f_q r), base "se" or
    "matern52"). dx1, dx2 (0..2) differentiate in x and x'."""
    x2 = x1 if x2 is None else x2
    ctx, (x1, x2) = on_device(x1, x2, ctx=ctx, names=("x1", "x2"))
    k = empty((x1.shape[0], x2.shape[0]), x1.dtype, ctx)
    d, keep = _kernel_desc("vkstruct.kron.kernel", kind, lengthscale, outputscale, sm_base, sm_weights, sm_rhos,
                           sm_freqs, dx1, dx2)
    check(lib.vks_kron_kernel_matrix(ctx.ptr, d, x1.tensor(), x2.tensor(), k.tensor()))
    del keep
    return k


def eigh(factors, *, noise_scales=None, jitter=0.0, ctx=None):
    """Per-factor eigendecompositions K_i (+ jitter) = Q_i diag(lambda_i) Q_i^T (of
    D_i^-1/2 K_i D_i^-1/2 with noise_scales c_i): returns (eigvecs list of (n_i, n_i),
    eigvals list of (n_i) ascending), the input of solve."""
    scales = list(noise_scales) if noise_scales is not None else []
    ctx, fs, scales = _factors(factors, scales, ctx, [f"noise_scales[{i}]" for i in range(len(scales))])
    d = new_struct("kron_eigh_desc", d=len(fs), jitter=jitter)
    _room("vkstruct.kron.eigh", d.factors, len(fs), "factors")
    vecs = [empty(f.shape, f.dtype, ctx) for f in fs]
    vals = [empty(f.shape[:1], f.dtype, ctx) for f in fs]
    keep = []
    for i, f in enumerate(fs):
        keep += [f.tensor(), vecs[i].tensor(), vals[i].tensor()]
        d.factors[i], d.eigvecs[i], d.eigvals[i] = keep[-3:]
        if scales:
            keep.append(scales[i].tensor())
            d.noise_scales[i] = keep[-1]
    check(lib.vks_kron_eigh(ctx.ptr, d))
    return vecs, vals


def solve(eigvecs, eigvals, y=None, *, noise, noise_scales=None, eig_floor=None,
          want=("alpha", "mean", "logdet", "mll"), ctx=None):
    """(K + noise D) alpha = y from eigh's factors: y (N) or (N, k). Returns a dict with
    alpha (like y), mean = K alpha (the posterior mean on the grid), logdet (1) =
    log|K + noise D| and mll (k) or (1) = -y^T alpha/2 - logdet/2 - N log(2 pi)/2, those in
    `want`. eig_floor clamps each lambda + noise (default: the library's, 1e-7)."""
    d_ = len(eigvecs)
    scales = list(noise_scales) if noise_scales is not None else []
    ctx, arrs = on_device(*eigvecs, *eigvals, *scales, y, ctx=ctx)
    vecs, vals, scales, y = arrs[:d_], arrs[d_:2 * d_], arrs[2 * d_:-1], arrs[-1]
    d = new_struct("kron_solve_desc", d=d_, noise=noise)
    _room("vkstruct.kron.solve", d.eigvecs, d_, "eigvecs")
    if eig_floor is not None:
        d.eig_floor = eig_floor
    out = {}
    if y is not None:
        for k in ("alpha", "mean"):
            if k in want:
                out[k] = empty(y.shape, y.dtype, ctx)
        if "mll" in want:
            out["mll"] = empty(y.shape[1:] or (1,), y.dtype, ctx)
    if "logdet" in want:
        out["logdet"] = empty((1,), vals[0].dtype, ctx)
    keep = [tensor(y)] + [tensor(out.get(k)) for k in ("alpha", "mean", "logdet", "mll")]
    d.y, d.alpha, d.mean, d.logdet, d.mll = keep
    for i in range(d_):
        keep += [vecs[i].tensor(), vals[i].tensor()]
        d.eigvecs[i], d.eigvals[i] = keep[-2:]
        if scales:
            keep.append(scales[i].tensor())
            d.noise_scales[i] = keep[-1]
    check(lib.vks_kron_solve(ctx.ptr, d))
    return out


def cholesky_solve(factors, y=None, *, jitter=0.0, jitter_retries=0, ctx=None):
    """The noiseless solve (⊗K_i) alpha = y by per-factor Cholesky: returns a dict with
    alpha, logdet, mll and jitter_used (the jitter each factor needed)."""
    ctx, fs, (y,) = _factors(factors, (y,), ctx, ("y",))
    d = new_struct("kron_cholesky_desc", d=len(fs), jitter=jitter, jitter_retries=jitter_retries)
    _room("vkstruct.kron.cholesky_solve", d.factors, len(fs), "factors")
    out = {"logdet": empty((1,), fs[0].dtype, ctx)}
    if y is not None:
        out["alpha"] = empty(y.shape, y.dtype, ctx)
        out["mll"] = empty(y.shape[1:] or (1,), y.dtype, ctx)
    used = ffi.new("double[]", len(fs))
    keep = [tensor(y), tensor(out.get("alpha")), out["logdet"].tensor(), tensor(out.get("mll"))]
    d.y, d.alpha, d.logdet, d.mll = keep
    d.jitter_used = used
    for i, f in enumerate(fs):
        keep.append(f.tensor())
        d.factors[i] = keep[-1]
    check(lib.vks_kron_cholesky_solve(ctx.ptr, d))
    out["jitter_used"] = list(used)
    return out


def predict(cross, alpha, *, ctx=None):
    """Posterior mean at P scattered points: cross[i] = k_i(x*_i, grid_i) (P, n_i), alpha
    (N) or (N, k) from solve -> mean (P) or (P, k)."""
    ctx, cs, (alpha,) = _factors(cross, (alpha,), ctx, ("alpha",))
    mean = empty((cs[0].shape[0],) + alpha.shape[1:], alpha.dtype, ctx)
    ts = [c.tensor() for c in cs]
    check(lib.vks_kron_predict(ctx.ptr, len(cs), ffi.new("vks_tensor *[]", ts), alpha.tensor(), mean.tensor()))
    return mean


def _pde_desc(fn, f, boundary, n, lo, hi, kernels, coef_xx, coef_u, want_alpha, ctx, **fields):
    """(vks_kron_pde_desc, its outputs dict, what it points to, ctx) for pde_solve / pde_learn."""
    n = [int(v) for v in np.atleast_1d(n)]
    d_ = len(n)
    if not 1 <= d_ <= 4:  # the C desc holds 4; the library's own check would not be reached
        fail(InvalidArgumentError, f"{fn}: n = {tuple(n)} has {d_} dimensions, expected 1..4")
    specs = [] if kernels is None else [kernels] * d_ if isinstance(kernels, dict) else list(kernels)
    if kernels is not None and len(specs) != d_:
        fail(InvalidArgumentError, f"{fn}: kernels has {len(specs)} entries, expected a dict or a list of {d_}")
    vec = {}
    for name, val in (("lo", lo), ("hi", hi), ("coef_xx", coef_xx)):
        v = np.atleast_1d(np.asarray(val, dtype=np.float64))
        if v.ndim != 1 or v.size not in (1, d_):
            fail(InvalidArgumentError, f"{fn}: {name} has {v.size} values, expected 1 or {d_}")
        vec[name] = [float(x) for x in np.broadcast_to(v, (d_,))]
    ctx, (f, boundary) = on_device(f, boundary, ctx=ctx, names=("f", "boundary"))
    u = empty((f.shape[0],), f.dtype, ctx)
    alpha = empty((f.shape[0],), f.dtype, ctx) if want_alpha else None
    iters, res, obj = ffi.new("int32_t *"), ffi.new("double *"), ffi.new("double *")
    desc = new_struct("kron_pde_desc", d=d_, coef_u=coef_u, **fields)
    keep = [f.tensor(), boundary.tensor(), u.tensor(), tensor(alpha), iters, res, obj, f, boundary]
    desc.f, desc.boundary, desc.u, desc.alpha = keep[:4]
    desc.iterations, desc.residual, desc.objective = iters, res, obj
    for i in range(len(specs)):
        kd, arrays = _kernel_desc(fn, **specs[i])
        keep += [kd, arrays]
        desc.kernels[i] = kd
    for i in range(d_):
        desc.n[i], desc.lo[i], desc.hi[i], desc.coef_xx[i] = n[i], vec["lo"][i], vec["hi"][i], vec["coef_xx"][i]
    out = {"u": u, "alpha": alpha}
    return desc, out, keep, ctx


def _pde_results(out, keep):
    out.update(iterations=int(keep[4][0]), residual=float(keep[5][0]), objective=float(keep[6][0]))
    if out["alpha"] is None:
        del out["alpha"]
    return out


def pde_solve(f, boundary, *, n, lo, hi, kernels, coef_xx, coef_u=0.0, weight_boundary=0.0, weight_residual=0.0,
              jitter=1e-8, max_iterations=1000, tolerance=1e-8, want_alpha=False, ctx=None):
    """The linear PDE sum_i coef_xx[i] d2u/dx_i^2 + coef_u u = f on the box [lo, hi] (d = len(n)
    dimensions, n[i] grid points each, both ends included) with u = boundary on its boundary,
    by GP collocation (vks_kron_pde_solve, docs/kron-pde.md). f, boundary: the values at all
    N = prod(n) grid points, flattened row-major (numpy, torch or Arrays; f32 or f64, f64
    recommended; entries a side does not use must still be finite). kernels: one dict of
    kernel() arguments (kind, lengthscale, sm_weights, ...) for every dimension, or a list of
    d. weight_boundary = weight_residual = 0 imposes the boundary values and the PDE at the
    interior points exactly; both > 0 minimizes GP-HM's objective 1/2 U^T K^-1 U +
    weight_boundary ||U - g||^2 + weight_residual ||L U - f||^2 instead. Returns a dict with
    u (N), alpha (N) = K^-1 u when want_alpha (the posterior mean at x* is
    matmul(cross, alpha) with cross[i] = kernel(x*_i, grid_i)), iterations, residual (the
    relative residual reached) and objective (for collocation its prior term 1/2 u^T K^-1 u)."""
    fn = "vkstruct.kron.pde_solve"
    desc, out, keep, ctx = _pde_desc(fn, f, boundary, n, lo, hi, kernels, coef_xx, coef_u, want_alpha, ctx,
                                     jitter=jitter, max_iterations=max_iterations, tolerance=tolerance,
                                     weight_boundary=weight_boundary, weight_residual=weight_residual)
    check(lib.vks_kron_pde_solve(ctx.ptr, desc))
    return _pde_results(out, keep)


def pde_learn(f, boundary, *, n, lo, hi, coef_xx, coef_u=0.0, num_mixtures=30, base="se", envelope=0.0,
              relative_jitter=1e-8, rounds=4, steps=30, learning_rate=0.3, max_iterations=1000, tolerance=1e-8,
              want_alpha=False, ctx=None):
    """pde_solve's collocation problem with GP-HM's kernel learned on it (vks_kron_pde_learn,
    docs/kron-pde.md "Choosing the kernel"): per dimension a spectral mixture of num_mixtures
    frequencies log-spaced from 1/(hi - lo) to the grid's Nyquist 1/(2h), envelope `base` ("se"
    or "matern52") of lengthscale envelope grid spacings (0: 6 for se, 48 for matern52), the
    weights learned by `rounds` rounds of `steps` Adam steps on GP-HM's prior objective J at the
    collocation solution, each followed by a new solve. Returns pde_solve's dict (u, alpha when
    want_alpha, iterations, residual; objective there is J at the learned weights and u) and
    per dimension the learned kernel: weights (summing to 1), rhos, freqs (numpy (d, Q)), so
    that pde_solve with kernels [dict(kind="spectral_mixture", sm_base=base, sm_weights=w,
    sm_rhos=r, sm_freqs=q)] and jitter=relative_jitter reproduces u."""
    fn = "vkstruct.kron.pde_learn"
    desc, out, keep, ctx = _pde_desc(fn, f, boundary, n, lo, hi, None, coef_xx, coef_u, want_alpha, ctx,
                                     max_iterations=max_iterations, tolerance=tolerance)
    d_ = desc.d
    q = int(num_mixtures)
    arrays = {k: np.zeros((d_, max(q, 1)), dtype=np.float64) for k in ("weights", "rhos", "freqs")}
    obj = ffi.new("double *")
    learn = new_struct("kron_pde_learn_desc", num_mixtures=q, base=choice(base, _SM_BASE, fn, "base"),
                       envelope=envelope, relative_jitter=relative_jitter, rounds=rounds, steps=steps,
                       learning_rate=learning_rate)
    learn.objective = obj
    for i in range(min(d_, 4)):
        for k, v in arrays.items():
            ptr = ffi.from_buffer("double[]", v[i])
            keep.append(ptr)
            getattr(learn, k)[i] = ptr
    check(lib.vks_kron_pde_learn(ctx.ptr, desc, learn))
    out = _pde_results(out, keep)
    out["objective"] = float(obj[0])
    out.update(arrays)
    return out


__all__ = ["matmul", "kernel", "eigh", "solve", "cholesky_solve", "predict", "pde_solve", "pde_learn"]
