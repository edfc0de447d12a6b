"""vkstruct.gp.KroneckerGP against a dense float64 oracle and GPyTorch's
KroneckerProductAddedDiagLinearOperator (linear_operator) where installed."""
import numpy as np
import pytest

import vkstruct
import oracles


def grid_data(rng, n1=14, n2=11):
    g1, g2 = np.linspace(0, 1, n1), np.linspace(-1, 1, n2)
    f = np.sin(5 * g1)[:, None] * np.cos(3 * g2)[None, :]
    return [g1, g2], f + 0.05 * rng.standard_normal(f.shape), f


@pytest.mark.parametrize("factor_eigh", ["device", "host"])
def test_log_marginal_likelihood_and_predict_match_dense(ctx, rng, factor_eigh):
    grid, y, _ = grid_data(rng)
    gp = vkstruct.gp.KroneckerGP(lengthscale=[0.3, 0.5], outputscale=1.7, noise=0.02, factor_eigh=factor_eigh,
                                 eig_floor=0.0)  # no floor: the dense solve
    gp.fit(grid, y, optimize=False)
    k = 1.7 * oracles.kron_all([oracles.rbf(grid[0], grid[0], 0.3), oracles.rbf(grid[1], grid[1], 0.5)])
    a = k + 0.02 * np.eye(k.shape[0])
    yv = y.reshape(-1)
    alpha = np.linalg.solve(a, yv)
    mll = -0.5 * yv @ alpha - 0.5 * np.linalg.slogdet(a)[1] - 0.5 * yv.size * np.log(2 * np.pi)
    assert abs(gp.log_marginal_likelihood() - mll) < 1e-8 * abs(mll)
    pts = rng.uniform([0, -1], [1, 1], (7, 2))
    cross = 1.7 * oracles.rbf(pts[:, 0], grid[0], 0.3)[:, :, None] * oracles.rbf(pts[:, 1], grid[1], 0.5)[:, None, :]
    assert np.allclose(gp.predict(pts), cross.reshape(7, -1) @ alpha, rtol=1e-9, atol=1e-10)
    test_grid = [np.linspace(0, 1, 5), np.linspace(-1, 1, 4)]
    kx = 1.7 * np.kron(oracles.rbf(test_grid[0], grid[0], 0.3), oracles.rbf(test_grid[1], grid[1], 0.5))
    assert np.allclose(gp.predict(test_grid), (kx @ alpha).reshape(5, 4), rtol=1e-9, atol=1e-10)


def test_fit_increases_the_likelihood_and_recovers_the_noise(ctx, rng):
    pytest.importorskip("scipy", reason="scipy is not installed: KroneckerGP.fit untested")
    grid, y, f = grid_data(rng, 40, 30)
    gp = vkstruct.gp.KroneckerGP(lengthscale=1.0, noise=0.5)
    gp.fit(grid, y, optimize=False)
    before = gp.log_marginal_likelihood()
    gp.fit(grid, y)
    assert gp.log_marginal_likelihood() > before + 100
    assert 0.5 * 0.05 ** 2 < gp.noise < 2 * 0.05 ** 2
    err = gp.predict(grid) - f  # the posterior mean removes most of the noise (sd 0.05)
    assert np.sqrt(np.mean(err ** 2)) < 0.02 and np.abs(err).max() < 0.1


def test_against_gpytorch_kronecker_added_diag(ctx, rng):
    torch = pytest.importorskip("torch", reason="torch is not installed")
    lo = pytest.importorskip("linear_operator", reason="linear_operator (GPyTorch) is not installed")
    from linear_operator.operators import (ConstantDiagLinearOperator, DenseLinearOperator,
                                           KroneckerProductAddedDiagLinearOperator, KroneckerProductLinearOperator)

    grid, y, _ = grid_data(rng, 12, 9)
    # linear_operator 0.5 (the last on torch 1.13) clamps the factors' eigenvalues at 0, 0.6 at
    # 1e-7 (the library's default floor): take the floor that matches the installed version
    floor = 1e-7 if np.lib.NumpyVersion(lo.__version__) >= "0.6.0" else 0.0
    gp = vkstruct.gp.KroneckerGP(lengthscale=[0.25, 0.4], outputscale=1.0, noise=0.03, eig_floor=floor)
    gp.fit(grid, y, optimize=False)
    ks = [torch.from_numpy(oracles.rbf(g, g, ls)) for g, ls in zip(grid, [0.25, 0.4])]
    op = KroneckerProductAddedDiagLinearOperator(
        KroneckerProductLinearOperator(*[DenseLinearOperator(k) for k in ks]),
        ConstantDiagLinearOperator(torch.tensor([0.03], dtype=torch.float64), diag_shape=y.size))
    yt = torch.from_numpy(y.reshape(-1))
    inv_quad, logdet = op.inv_quad_logdet(yt.unsqueeze(-1), logdet=True)
    mll = -0.5 * inv_quad.item() - 0.5 * logdet.item() - 0.5 * y.size * np.log(2 * np.pi)
    print(f"linear_operator {lo.__version__}: mll {mll:.10f}, vkstruct {gp.log_marginal_likelihood():.10f}")
    assert abs(gp.log_marginal_likelihood() - mll) < 1e-7 * abs(mll)
    alpha = op.solve(yt.unsqueeze(-1)).squeeze(-1).numpy()
    assert np.allclose(gp._alpha.numpy(), alpha, rtol=1e-7, atol=1e-9)
