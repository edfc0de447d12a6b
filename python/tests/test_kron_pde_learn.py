"""vkstruct.kron.pde_learn (vks_kron_pde_learn): learning lowers J and the collocation error of
u'' = f, u = sin(60x) (1-D) and of a 2-D Poisson problem, against the exact solution; the
returned kernels reproduce u through pde_solve; errors."""
import numpy as np
import pytest

import vkstruct
from conftest import rel_err


def poisson_1d(n):
    x = np.linspace(0.0, 1.0, n)
    u = np.sin(60 * x)
    return -3600 * u, u


def test_pde_learn_1d_lowers_error_and_objective(ctx):
    f, u = poisson_1d(96)
    kw = dict(n=[96], lo=0.0, hi=1.0, coef_xx=1.0, tolerance=1e-10)
    uniform = vkstruct.kron.pde_learn(f, u, rounds=0, **kw)
    out = vkstruct.kron.pde_learn(f, u, want_alpha=True, **kw)
    err0, err = rel_err(uniform["u"].numpy(), u), rel_err(out["u"].numpy(), u)
    assert err < 1e-3 and err < 0.1 * err0, (err0, err)
    assert out["objective"] < uniform["objective"]
    assert out["weights"].shape == (1, 30) and abs(out["weights"].sum() - 1) < 1e-12
    assert np.all(out["weights"] > 0)
    h = 1 / 95
    assert abs(out["freqs"][0, 0] - 1) < 1e-12 and abs(out["freqs"][0, -1] - 0.5 / h) < 1e-9 / h
    assert np.allclose(out["rhos"], 1 / (2 * (6 * h) ** 2), rtol=1e-12)
    assert out["iterations"] > 0 and out["residual"] <= 1e-10 and "alpha" in out
    # The learned kernel, rebuilt from the outputs, gives the same u through pde_solve.
    kernel = dict(kind="spectral_mixture", sm_base="se", sm_weights=out["weights"][0], sm_rhos=out["rhos"][0],
                  sm_freqs=out["freqs"][0])
    again = vkstruct.kron.pde_solve(f, u, kernels=kernel, jitter=1e-8, **kw)
    assert rel_err(again["u"].numpy(), out["u"].numpy()) < 1e-12


def test_pde_learn_2d_matern(ctx):
    """Δu = f, u = sin(6x) sin(20y) on a ragged 40 x 36 grid, Matern-5/2 envelope, f32 data."""
    n = (40, 36)
    x, y = np.meshgrid(np.linspace(0, 1, n[0]), np.linspace(0, 1, n[1]), indexing="ij")
    u = np.sin(6 * x) * np.sin(20 * y)
    f = -(36 + 400) * u
    out = vkstruct.kron.pde_learn(f.ravel().astype(np.float32), u.ravel().astype(np.float32), n=n, lo=0.0, hi=1.0,
                                  coef_xx=1.0, base="matern52", rounds=2, tolerance=1e-5)
    err = rel_err(out["u"].numpy(), u.ravel())
    assert err < 1e-3, err  # 7.8e-5 on lavapipe
    assert out["weights"].shape == (2, 30)
    assert np.allclose(out["weights"].sum(axis=1), 1, rtol=0, atol=1e-12)


def test_pde_learn_errors(ctx):
    f, u = poisson_1d(16)
    kw = dict(n=[16], lo=0.0, hi=1.0, coef_xx=1.0)
    with pytest.raises(vkstruct.InvalidArgumentError, match="vks_kron_pde_learn: learn->num_mixtures = 0"):
        vkstruct.kron.pde_learn(f, u, num_mixtures=0, **kw)
    with pytest.raises(vkstruct.InvalidArgumentError, match="learn->steps = 0"):
        vkstruct.kron.pde_learn(f, u, steps=0, **kw)
    with pytest.raises(vkstruct.InvalidArgumentError, match="learn->learning_rate = -1"):
        vkstruct.kron.pde_learn(f, u, learning_rate=-1, **kw)
    with pytest.raises(vkstruct.ShapeMismatchError, match="desc->f"):
        vkstruct.kron.pde_learn(f[:10], u[:10], **kw)
    with pytest.raises(Exception, match="base"):
        vkstruct.kron.pde_learn(f, u, base="cosine", **kw)
