"""vkstruct.kron.pde_solve (vks_kron_pde_solve): collocation against an exact solution of the
GP's equations, on and off the grid; GP-HM's finite-weight objective against a float64 numpy
oracle of its normal equations (in the GP-posterior form) and its large-weight limit; errors."""
import numpy as np
import pytest

import vkstruct
from conftest import rel_err

torch = pytest.importorskip("torch")


def se(r, l):
    return np.exp(-r**2 / (2 * l**2))


def se_dd(r, l):
    return (r**2 / l**4 - 1 / l**2) * se(r, l)


def grid(n, lo, hi):
    return [np.linspace(a, b, m) for m, a, b in zip(n, lo, hi)]


def kron_all(ms):
    out = np.ones((1, 1))
    for m in ms:
        out = np.kron(out, m)
    return out


def test_pde_collocation_exact_off_grid(ctx, rng):
    """u = sum_ab c_ab k1(x, x_a) k2(y, y_b) solves the GP's collocation equations exactly
    (jitter 0), so U = u on the grid and the posterior mean through alpha is u everywhere."""
    n, lo, hi, ls, coef, c = (14, 11), (0.0, -1.0), (1.0, 1.0), (0.15, 0.3), (1.0, 0.5), 4.0
    xs = grid(n, lo, hi)
    cf = rng.uniform(-1, 1, n)
    ks = [se(x[:, None] - x[None, :], l) for x, l in zip(xs, ls)]
    kdd = [se_dd(x[:, None] - x[None, :], l) for x, l in zip(xs, ls)]
    u = ks[0] @ cf @ ks[1].T
    f = coef[0] * kdd[0] @ cf @ ks[1].T + coef[1] * ks[0] @ cf @ kdd[1].T + c * u
    out = vkstruct.kron.pde_solve(f.ravel(), u.ravel(), n=n, lo=lo, hi=hi,
                                  kernels=[{"lengthscale": ls[0]}, {"lengthscale": ls[1]}], coef_xx=coef, coef_u=c,
                                  jitter=0.0, tolerance=1e-13, want_alpha=True)
    assert out["iterations"] >= 1 and out["residual"] <= 1e-13
    assert rel_err(out["u"].numpy(), u.ravel()) < 1e-9
    ts = [np.linspace(a, b, 3 * m - 2) for m, a, b in zip(n, lo, hi)]
    cross = [vkstruct.kron.kernel(t, x, lengthscale=l) for t, x, l in zip(ts, xs, ls)]
    pred = vkstruct.kron.matmul(cross, out["alpha"]).numpy()
    exact = se(ts[0][:, None] - xs[0][None, :], ls[0]) @ cf @ se(ts[1][:, None] - xs[1][None, :], ls[1]).T
    assert rel_err(pred, exact.ravel()) < 1e-8
    # the collocation objective is the prior term 1/2 U^T K^-1 U = 1/2 c^T K c
    assert abs(out["objective"] - 0.5 * np.sum(cf * u)) < 1e-8 * abs(out["objective"])


def weighted_oracle(n, lo, hi, ls, coef, c, jitter, wb, wr, f, g):
    """U = K C^T (C K C^T + diag(1 / (2 lambda)))^-1 y, C = [B; R L]: the minimizer of
    1/2 U^T K^-1 U + wb ||B U - g||^2 + wr ||R (L U - f)||^2, without K^-1 of the grid."""
    xs = grid(n, lo, hi)
    ks = [se(x[:, None] - x[None, :], l) + jitter * np.eye(len(x)) for x, l in zip(xs, ls)]
    kdd = [se_dd(x[:, None] - x[None, :], l) for x, l in zip(xs, ls)]
    dm = [kd @ np.linalg.inv(k) for kd, k in zip(kdd, ks)]
    d = len(n)
    eye = [np.eye(m) for m in n]
    lop = c * np.eye(int(np.prod(n))) + sum(coef[i] * kron_all([dm[j] if j == i else eye[j] for j in range(d)])
                                           for i in range(d))
    lk = c * kron_all(ks) + sum(coef[i] * kron_all([kdd[j] if j == i else ks[j] for j in range(d)]) for i in range(d))
    inner = kron_all([np.diag([0.0] + [1.0] * (m - 2) + [0.0]) for m in n]).diagonal() > 0
    cm = np.where(inner[:, None], lop, np.eye(len(inner)))
    ck = np.where(inner[:, None], lk, kron_all(ks))
    gm = cm @ ck.T
    gm = 0.5 * (gm + gm.T)
    lam = np.where(inner, wr, wb)
    y = np.where(inner, f, g)
    beta = np.linalg.solve(gm + np.diag(1 / (2 * lam)), y)
    gb = gm @ beta
    return ck.T @ beta, 0.5 * beta @ gb + np.sum(lam * (gb - y) ** 2)


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-8), (np.float32, 2e-3)])
def test_pde_weighted_oracle(ctx, rng, dtype, tol):
    n, lo, hi, ls, coef, c = (9, 8), (0.0, 0.0), (1.0, 2.0), (0.2, 0.4), (1.0, 2.0), 1.0
    f, g = rng.uniform(-1, 1, 72), rng.uniform(-1, 1, 72)
    want, want_obj = weighted_oracle(n, lo, hi, ls, coef, c, 1e-8, 5.0, 0.5, f, g)
    out = vkstruct.kron.pde_solve(torch.from_numpy(f.astype(dtype)), torch.from_numpy(g.astype(dtype)), n=n, lo=lo,
                                  hi=hi, kernels=[{"lengthscale": ls[0]}, {"lengthscale": ls[1]}], coef_xx=coef,
                                  coef_u=c, weight_boundary=5.0, weight_residual=0.5,
                                  tolerance=1e-12 if dtype == np.float64 else 1e-6)
    assert rel_err(out["u"].numpy(), want) < tol
    assert abs(out["objective"] - want_obj) < tol * abs(want_obj)


@pytest.mark.parametrize("n,ls,coef,c", [((4, 5, 3), (0.4, 0.3, 0.5), (1.0, 0.5, 2.0), 0.7),
                                          ((3, 4, 3, 3), (0.5, 0.4, 0.6, 0.5), (1.0, 1.0, 0.5, 0.0), 0.0),
                                          ((3,), (0.5,), (1.0,), 0.0), ((3, 3), (0.5, 0.7), (1.0, 0.0), 1.0)])
def test_pde_weighted_dims(ctx, rng, n, ls, coef, c):
    """d = 3 and 4, the smallest grids (3 points, one interior point) and a zero coef_xx,
    against the oracle; alpha against K^-1 u."""
    d, npts = len(n), int(np.prod(n))
    f, g = rng.uniform(-1, 1, npts), rng.uniform(-1, 1, npts)
    lo, hi = (0.0,) * d, (1.0,) * d
    want, want_obj = weighted_oracle(n, lo, hi, ls, coef, c, 1e-8, 3.0, 0.7, f, g)
    out = vkstruct.kron.pde_solve(f, g, n=n, lo=lo, hi=hi, kernels=[{"lengthscale": v} for v in ls], coef_xx=coef,
                                  coef_u=c, weight_boundary=3.0, weight_residual=0.7, tolerance=1e-12, want_alpha=True)
    u = out["u"].numpy()
    assert rel_err(u, want) < 1e-8
    assert abs(out["objective"] - want_obj) < 1e-8 * abs(want_obj)
    ks = [se(x[:, None] - x[None, :], v) + 1e-8 * np.eye(len(x)) for x, v in zip(grid(n, lo, hi), ls)]
    assert rel_err(out["alpha"].numpy(), np.linalg.solve(kron_all(ks), u)) < 1e-8


def test_pde_weighted_limit(ctx):
    """Growing weights approach the collocation solution (the SE kernel as a dict for both)."""
    n, x = (12,), np.linspace(0, 1, 12)
    f, g = -4 * np.sin(2 * x), np.sin(2 * x)
    kw = dict(n=n, lo=0.0, hi=1.0, kernels={"lengthscale": 0.12}, coef_xx=1.0, tolerance=1e-12)
    col = vkstruct.kron.pde_solve(f, g, **kw)["u"].numpy()
    errs = [rel_err(vkstruct.kron.pde_solve(f, g, weight_boundary=w, weight_residual=w, max_iterations=5000,
                                            **kw)["u"].numpy(), col) for w in (1e2, 1e4, 1e6)]
    assert errs[0] > errs[1] > errs[2] and errs[2] < 1e-4


def test_pde_errors(ctx):
    f = np.zeros(25)
    kw = dict(n=(5, 5), lo=0.0, hi=1.0, kernels={"lengthscale": 0.3}, coef_xx=1.0)
    with pytest.raises(vkstruct.InvalidArgumentError, match="desc->weight_residual = 0; expected both 0"):
        vkstruct.kron.pde_solve(f, f, weight_boundary=1.0, **kw)
    with pytest.raises(vkstruct.InvalidArgumentError, match="desc->weight_boundary = -1"):
        vkstruct.kron.pde_solve(f, f, weight_boundary=-1.0, weight_residual=1.0, **kw)
    with pytest.raises(vkstruct.ShapeMismatchError, match="desc->f has 25 elements, expected 30"):
        vkstruct.kron.pde_solve(f, f, **dict(kw, n=(5, 6)))
    g = f.copy()
    g[0] = np.nan
    with pytest.raises(vkstruct.NonFiniteError, match=r"desc->boundary\[0\] = nan at a boundary grid point"):
        vkstruct.kron.pde_solve(f, g, **kw)
    with pytest.raises(vkstruct.NotPositiveDefiniteError, match="desc->kernels.1. .*Cholesky pivot"):
        vkstruct.kron.pde_solve(f, f, **dict(kw, kernels=[{"lengthscale": 0.3},
                                                          {"kind": "spectral_mixture", "sm_weights": [1.0, -2.0],
                                                           "sm_rhos": [10.0, 10.0], "sm_freqs": [0.0, 0.0]}]))


def test_pde_python_arguments(ctx):
    """Argument shapes the wrapper reads itself fail with the library's error type and a
    message naming the function, the argument, its value and what was expected."""
    f = np.zeros(32)
    kw = dict(n=(2, 2, 2, 2, 2), lo=0.0, hi=1.0, kernels={"lengthscale": 0.3}, coef_xx=1.0)
    with pytest.raises(vkstruct.InvalidArgumentError, match=r"vkstruct.kron.pde_solve: n = \(2, 2, 2, 2, 2\) has 5 "
                                                            r"dimensions, expected 1..4"):
        vkstruct.kron.pde_solve(f, f, **kw)
    kw = dict(kw, n=(5, 5))
    f = np.zeros(25)
    with pytest.raises(vkstruct.InvalidArgumentError, match=r"vkstruct.kron.pde_solve: lo has 3 values, expected 1 "
                                                            r"or 2"):
        vkstruct.kron.pde_solve(f, f, **dict(kw, lo=[0.0, 0.0, 0.0]))
    with pytest.raises(vkstruct.InvalidArgumentError, match=r"vkstruct.kron.pde_solve: kernels has 3 entries, expected "
                                                            r"a dict or a list of 2"):
        vkstruct.kron.pde_solve(f, f, **dict(kw, kernels=[{"lengthscale": 0.3}] * 3))
