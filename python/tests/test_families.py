"""Every family function against a float64 numpy oracle, on shapes the C tests do not use."""
import numpy as np
import pytest

import vkstruct
import oracles
from conftest import rel_err


def randn(rng, *shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


# ---- gemm ---------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype,tol", [(np.float32, 2e-6), (np.float64, 1e-14), (np.float16, 2e-3)])
def test_gemm_bias_act_batch(ctx, rng, dtype, tol):
    a, b, bias = randn(rng, 3, 21, 13, dtype=dtype), randn(rng, 13, 11, dtype=dtype), randn(rng, 11, dtype=dtype)
    y = vkstruct.gemm(a, b, bias=bias, act="relu", alpha=0.5)
    want = np.maximum(0.5 * a.astype(np.float64) @ b + bias, 0)
    assert rel_err(y.numpy(), want) < tol


def test_gemm_transposes_and_beta(ctx, rng):
    a, b = randn(rng, 9, 30), randn(rng, 17, 9)
    c = vkstruct.asarray(randn(rng, 30, 17))
    c0 = c.numpy().astype(np.float64)
    out = vkstruct.gemm(a, b, c, trans_a=True, trans_b=True, beta=-2.0)
    assert out is c
    assert rel_err(c.numpy(), a.T.astype(np.float64) @ b.T - 2 * c0) < 2e-6


def test_gemm_gelu(ctx, rng):
    from math import erf

    a, b = randn(rng, 5, 7, dtype=np.float64), randn(rng, 7, 3, dtype=np.float64)
    z = a @ b
    want = 0.5 * z * (1 + np.vectorize(erf)(z / np.sqrt(2)))
    assert rel_err(vkstruct.gemm(a, b, act="gelu").numpy(), want) < 1e-6
    with pytest.raises(vkstruct.InvalidArgumentError, match="activation 'swish'"):
        vkstruct.gemm(a, b, act="swish")


# ---- Monarch ------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["auto", "two_pass", "unfused"])
def test_monarch_forward(ctx, rng, path):
    k, q, p, l, s = 3, 4, 5, 6, 7  # l*r = k*q with r = 2
    w1, w2 = randn(rng, k, q, p), randn(rng, l, s, 2)
    x, bias = randn(rng, 9, k * p), randn(rng, l * s)
    y = vkstruct.monarch.forward(x, w1, w2, bias, path=path)
    assert rel_err(y.numpy(), oracles.monarch(x, w1, w2) + bias) < 2e-6


def test_monarch_linear_rectangular(ctx, rng):
    in_f, out_f, nb = 50, 37, 4
    s1, s2 = vkstruct.monarch.linear_shapes(in_f, out_f, nb)
    assert s1 == (4, 10, 13) and s2 == (4, 10, 10)
    w1, w2, x, bias = randn(rng, *s1), randn(rng, *s2), randn(rng, 6, in_f), randn(rng, out_f)
    y = vkstruct.monarch.linear(x, w1, w2, bias, out_features=out_f, act="relu")
    assert rel_err(y.numpy(), np.maximum(oracles.monarch(x, w1, w2, out_f) + bias, 0)) < 2e-6


def test_monarch_backward(ctx, rng):
    k, q, p, l, s, r = 2, 6, 3, 4, 5, 3
    w1, w2 = randn(rng, k, q, p), randn(rng, l, s, r)  # Monarch ops are f32/f16
    x, dy = randn(rng, 7, k * p), randn(rng, 7, l * s)
    g = vkstruct.monarch.backward(x, w1, w2, dy)
    w1, w2, x, dy = (v.astype(np.float64) for v in (w1, w2, x, dy))
    # y is linear in x, w1 and w2 separately: each gradient is <dy, y(e_i)> over a basis
    n = k * p
    dense = oracles.monarch(np.eye(n), w1, w2)  # (n, m): y = x @ dense
    assert rel_err(g["dx"].numpy(), dy @ dense.T) < 2e-6
    dw1 = np.array([np.sum(dy * oracles.monarch(x, np.eye(w1.size)[i].reshape(w1.shape), w2))
                    for i in range(w1.size)]).reshape(w1.shape)
    dw2 = np.array([np.sum(dy * oracles.monarch(x, w1, np.eye(w2.size)[i].reshape(w2.shape)))
                    for i in range(w2.size)]).reshape(w2.shape)
    assert rel_err(g["dw1"].numpy(), dw1) < 2e-6
    assert rel_err(g["dw2"].numpy(), dw2) < 2e-6
    assert rel_err(g["dbias"].numpy(), dy.sum(0)) < 2e-6


def test_monarch_project_recovers_a_monarch_matrix(ctx, rng):
    w1, w2 = randn(rng, 4, 4, 6), randn(rng, 4, 5, 4)
    m = oracles.monarch(np.eye(24), w1, w2).T.astype(np.float32)  # (20, 24), y = x m^T
    p1, p2, info = vkstruct.monarch.project(m, w1.shape, w2.shape)
    assert info["relative_error"] < 1e-5
    assert rel_err(oracles.monarch(np.eye(24), p1.numpy(), p2.numpy()).T, m) < 1e-5


def test_blockdiag_forward_backward(ctx, rng):
    w, x, bias = randn(rng, 3, 5, 4), randn(rng, 11, 12), randn(rng, 15)
    y = vkstruct.monarch.blockdiag(x, w, bias)
    assert rel_err(y.numpy(), oracles.blockdiag(x, w) + bias) < 2e-6
    dy = randn(rng, 11, 15)
    g = vkstruct.monarch.blockdiag_backward(x, w, dy)
    dense = oracles.blockdiag(np.eye(12), w)  # (12, 15)
    assert rel_err(g["dx"].numpy(), dy.astype(np.float64) @ dense.T) < 2e-6
    want_dw = np.einsum("bno,bni->noi", dy.reshape(11, 3, 5).astype(np.float64), x.reshape(11, 3, 4))
    assert rel_err(g["dw"].numpy(), want_dw) < 2e-6
    assert rel_err(g["dbias"].numpy(), dy.sum(0)) < 2e-6


def test_monarch_error_names_argument(ctx, rng):
    with pytest.raises(vkstruct.ShapeMismatchError, match="vks_monarch_forward.*x"):
        vkstruct.monarch.forward(randn(rng, 4, 10), randn(rng, 3, 4, 5), randn(rng, 6, 7, 2))


# ---- low-rank -----------------------------------------------------------------------------

def test_lora(ctx, rng):
    x, w, a, b, bias = randn(rng, 13, 40), randn(rng, 29, 40), randn(rng, 6, 40), randn(rng, 29, 6), randn(rng, 29)
    y = vkstruct.lowrank.lora(x, w, a, b, bias, scale=16 / 6)
    x64 = x.astype(np.float64)
    assert rel_err(y.numpy(), x64 @ w.T + 16 / 6 * (x64 @ a.T) @ b.T + bias) < 2e-6
    only = vkstruct.lowrank.lora(x, None, a, b, scale=0.5)
    assert rel_err(only.numpy(), 0.5 * (x64 @ a.T) @ b.T) < 2e-6


def test_lora_multi_gathered_and_segmented(ctx, rng):
    ranks, scales = [3, 0, 8], [2.0, 1.0, 0.25]
    ads = [(randn(rng, r, 24), randn(rng, 19, r), s) for r, s in zip(ranks, scales)]
    x, w = randn(rng, 10, 24), randn(rng, 19, 24)
    idx = np.array([2, -1, 0, 0, 1, 2, 2, -1, 0, 1])
    x64 = x.astype(np.float64)
    want = x64 @ w.T
    for i, a_id in enumerate(idx):
        if a_id >= 0:
            a, b, s = ads[a_id]
            want[i] += s * (x64[i] @ a.T) @ b.T
    y = vkstruct.lowrank.lora_multi(x, w, ads, indices=idx)
    assert rel_err(y.numpy(), want) < 2e-6
    order = np.argsort(idx, kind="stable")
    starts, ids = [0], []
    for a_id in (-1, 0, 1, 2):
        ids.append(a_id)
        starts.append(starts[-1] + int(np.sum(idx == a_id)))
    pack = vkstruct.lowrank.Adapters(ads)
    y2 = vkstruct.lowrank.lora_multi(x[order], w, pack, segments=(starts, ids))
    assert rel_err(y2.numpy(), want[order]) < 2e-6
    with pytest.raises(vkstruct.OutOfRangeError, match="vks_lora_multi_forward"):
        vkstruct.lowrank.lora_multi(x, w, pack, indices=np.full(10, 3))


def test_factorized(ctx, rng):
    x, v, u, bias = randn(rng, 7, 33), randn(rng, 5, 33), randn(rng, 21, 5), randn(rng, 21)
    y = vkstruct.lowrank.factorized(x, v, u, bias)
    assert rel_err(y.numpy(), (x.astype(np.float64) @ v.T) @ u.T + bias) < 2e-6


@pytest.mark.parametrize("in_f,out_f", [(20, 34), (34, 20)])
def test_randlora(ctx, rng, in_f, out_f):
    r = 4
    d_min, d_max = min(in_f, out_f), max(in_f, out_f)
    n = -(-d_min // r)
    basis_a, basis_b = randn(rng, r, 1, d_max + 3), randn(rng, d_max + 2, n + 1, r)
    lam, gamma = randn(rng, r, n), randn(rng, n, d_min)
    x, w = randn(rng, 9, in_f), randn(rng, out_f, in_f)
    y = vkstruct.lowrank.randlora(x, w, basis_a, basis_b, lam, gamma, scale=0.7)
    want = x.astype(np.float64) @ w.T + oracles.randlora_delta(x, basis_a, basis_b, lam, gamma, 0.7, out_f)
    assert rel_err(y.numpy(), want) < 5e-6


def test_merge_unmerge(ctx, rng):
    w, a, b = randn(rng, 23, 17), randn(rng, 3, 17), randn(rng, 23, 3)
    dw = vkstruct.asarray(w)
    vkstruct.lowrank.merge(dw, a, b, 1.5)
    assert rel_err(dw.numpy(), w + 1.5 * b.astype(np.float64) @ a) < 2e-6
    vkstruct.lowrank.unmerge(dw, a, b, 1.5)
    assert np.abs(dw.numpy() - w).max() <= 4 * np.finfo(np.float32).eps * np.abs(w).max() + 1e-6


@pytest.mark.parametrize("m,n,side", [(30, 12, "auto"), (12, 30, "auto"), (30, 12, "left")])
def test_galore(ctx, rng, m, n, side):
    g = randn(rng, m, n, dtype=np.float64)
    u, s, vh = np.linalg.svd(g, full_matrices=False)
    right = side == "right" or (side == "auto" and m >= n)
    p = vh[:4] if right else u[:, :4]
    r = vkstruct.lowrank.galore_project(g, p, side=side)
    want = g @ p.T if right else p.T @ g
    assert rel_err(r.numpy(), want) < 1e-13
    back = vkstruct.lowrank.galore_back(r, p, side=side)
    assert rel_err(back.numpy(), 0.25 * (want @ p if right else p @ want)) < 1e-13


# ---- orthogonalization ----------------------------------------------------------------------

def muon_ns_reference(g, steps=5, eps=1e-7):
    """Muon's zeropower_via_newtonschulz5 in float64, from REFERENCE.md."""
    a, b, c = 3.4445, -4.7750, 2.0315
    x = np.asarray(g, np.float64)
    tall = x.shape[-2] > x.shape[-1]
    if tall:
        x = np.swapaxes(x, -1, -2)
    x = x / (np.linalg.norm(x, axis=(-2, -1), keepdims=True) + eps)
    for _ in range(steps):
        A = x @ np.swapaxes(x, -1, -2)
        B = b * A + c * A @ A
        x = a * x + B @ x
    return np.swapaxes(x, -1, -2) if tall else x


@pytest.mark.parametrize("shape", [(26, 70), (70, 26), (2, 33, 41)])
def test_newton_schulz_matches_muon(ctx, rng, shape):
    g = randn(rng, *shape)
    out = vkstruct.orth.newton_schulz(g, eps=1e-7, gram="off")
    assert rel_err(out.numpy(), muon_ns_reference(g)) < 1e-4


def test_polar_express_and_custom(ctx, rng):
    g = randn(rng, 40, 40, dtype=np.float64)
    abc = vkstruct.orth.newton_schulz_coefficients("polar_express", 8)
    assert abc.shape == (8, 3) and abs(abc[0, 0] / (8.28721201814563 / 1.01) - 1) < 1e-5
    assert np.array_equal(abc[-1], [1.875, -1.25, 0.375])
    x = g / (np.linalg.norm(g) * 1.01)
    for a, b, c in abc:
        A = x @ x.T
        x = a * x + (b * A + c * A @ A) @ x
    got = vkstruct.orth.polar_express(g, steps=8)
    assert rel_err(got.numpy(), x) < 1e-10
    cubic = vkstruct.orth.newton_schulz(g, schedule="custom", coefficients=[[1.5, -0.5, 0.0]] * 3)
    y = g / np.linalg.norm(g)
    for _ in range(3):
        y = 1.5 * y - 0.5 * (y @ y.T) @ y
    assert rel_err(cubic.numpy(), y) < 1e-12


def test_auon(ctx, rng):
    g = randn(rng, 18, 27, dtype=np.float64)
    gh = g / (np.linalg.norm(g) + 1e-7)
    r = np.sqrt(np.mean(np.cosh(1.5 * gh) ** 2))
    got = vkstruct.orth.auon(g, eps=1e-7)
    assert rel_err(got.numpy(), g / (r + 1e-8)) < 1e-6  # the cosh is evaluated in f32


def test_cholqr_cholesky_trsm(ctx, rng):
    a = randn(rng, 45, 11, dtype=np.float64)
    q, r = vkstruct.orth.cholqr(a)
    qn, rn = q.numpy(), r.numpy()
    assert np.abs(qn.T @ qn - np.eye(11)).max() < 1e-13
    assert rel_err(qn @ rn, a) < 1e-13 and np.allclose(np.tril(rn, -1), 0) and np.all(np.diag(rn) > 0)
    spd = a.T @ a + np.eye(11)
    l_ = vkstruct.orth.cholesky(spd)
    assert rel_err(l_.numpy(), np.linalg.cholesky(spd)) < 1e-13
    b = randn(rng, 11, 4, dtype=np.float64)
    lo = np.linalg.cholesky(spd)
    assert rel_err(vkstruct.orth.trsm(l_, b).numpy(), np.linalg.solve(lo, b)) < 1e-12
    assert rel_err(vkstruct.orth.trsm(l_, b, trans=True).numpy(), np.linalg.solve(lo.T, b)) < 1e-12
    with pytest.raises(vkstruct.NotPositiveDefiniteError, match="vks_cholesky"):
        vkstruct.orth.cholesky(-spd).numpy()


def test_eigh_svd_syrk(ctx, rng):
    a = randn(rng, 3, 14, 14, dtype=np.float64)
    s = a + np.swapaxes(a, 1, 2)
    w, v = vkstruct.orth.eigh(s)
    assert rel_err(w.numpy(), np.linalg.eigvalsh(s)) < 1e-12
    vn = v.numpy()
    assert rel_err(vn @ (w.numpy()[..., None] * np.swapaxes(vn, 1, 2)), s) < 1e-12
    m = randn(rng, 19, 8, dtype=np.float64)
    u, sv, vh = vkstruct.orth.svd(m)
    assert rel_err(sv.numpy(), np.linalg.svd(m, compute_uv=False)) < 1e-12
    assert rel_err((u.numpy() * sv.numpy()) @ vh.numpy(), m) < 1e-12
    c = vkstruct.orth.syrk(m, trans=True, alpha=2.0)
    assert rel_err(c.numpy(), 2 * m.T @ m) < 1e-13


# ---- Kronecker ------------------------------------------------------------------------------

def test_kron_matmul_rectangular(ctx, rng):
    fs = [randn(rng, 4, 3, dtype=np.float64), randn(rng, 2, 5, dtype=np.float64), randn(rng, 3, 3, dtype=np.float64)]
    x = randn(rng, 45, 2, dtype=np.float64)
    assert rel_err(vkstruct.kron.matmul(fs, x).numpy(), oracles.kron_all(fs) @ x) < 1e-13
    xt = randn(rng, 24, dtype=np.float64)
    assert rel_err(vkstruct.kron.matmul(fs, xt, trans=True).numpy(), oracles.kron_all(fs).T @ xt) < 1e-13


def test_kron_kernel(ctx, rng):
    x1, x2 = np.linspace(0, 1, 13), np.linspace(-0.5, 2, 7)
    k = vkstruct.kron.kernel(x1, x2, lengthscale=0.3, outputscale=2.0)
    assert rel_err(k.numpy(), oracles.rbf(x1, x2, 0.3, 2.0)) < 1e-13
    r = np.abs(np.subtract.outer(x1, x2))
    s = np.sqrt(5) * r / 0.4
    m52 = vkstruct.kron.kernel(x1, x2, kind="matern52", lengthscale=0.4)
    assert rel_err(m52.numpy(), (1 + s + s * s / 3) * np.exp(-s)) < 1e-13
    w, rho, f = np.array([0.5, 1.5]), np.array([2.0, 7.0]), np.array([0.3, 1.1])
    sm = vkstruct.kron.kernel(x1, x2, kind="spectral_mixture", sm_weights=w, sm_rhos=rho, sm_freqs=f)
    d = np.subtract.outer(x1, x2)
    want = sum(w[q] * np.exp(-rho[q] * d ** 2) * np.cos(2 * np.pi * f[q] * d) for q in range(2))
    assert rel_err(sm.numpy(), want) < 1e-12


def test_kron_eigh_solve_predict(ctx, rng):
    grids = [np.linspace(0, 1, 9), np.linspace(0, 2, 6)]
    ks = [oracles.rbf(g, g, 0.4) for g in grids]
    y = randn(rng, 54, dtype=np.float64)
    vecs, vals = vkstruct.kron.eigh(ks)
    out = vkstruct.kron.solve(vecs, vals, y, noise=0.1, eig_floor=0.0)  # no clamp: the dense solve
    dense = oracles.kron_all(ks) + 0.1 * np.eye(54)
    alpha = np.linalg.solve(dense, y)
    assert rel_err(out["alpha"].numpy(), alpha) < 1e-10
    assert rel_err(out["mean"].numpy(), oracles.kron_all(ks) @ alpha) < 1e-10
    logdet = np.linalg.slogdet(dense)[1]
    assert abs(out["logdet"].numpy()[0] - logdet) < 1e-9
    mll = -0.5 * y @ alpha - 0.5 * logdet - 27 * np.log(2 * np.pi)
    assert abs(out["mll"].numpy()[0] - mll) < 1e-9
    # by default (GPyTorch's way) K's eigenvalues are floored at 1e-7 before sigma^2 is added
    lam, q = np.linalg.eigh(oracles.kron_all(ks))
    floored = q @ ((q.T @ y) / (np.maximum(lam, 1e-7) + 0.1))
    default = vkstruct.kron.solve(vecs, vals, y, noise=0.1, want=("alpha",))
    assert rel_err(default["alpha"].numpy(), floored) < 1e-10
    pts = rng.uniform(0, 1, (5, 2)) * [1, 2]
    cross = [oracles.rbf(pts[:, i], grids[i], 0.4) for i in range(2)]
    mean = vkstruct.kron.predict(cross, out["alpha"])
    rows = np.stack([np.kron(cross[0][p], cross[1][p]) for p in range(5)])
    assert rel_err(mean.numpy(), rows @ alpha) < 1e-10


def test_kron_too_many_factors(ctx):
    ks = [np.eye(2)] * 5  # the descriptors hold 4 factors
    with pytest.raises(vkstruct.InvalidArgumentError, match=r"vkstruct.kron.eigh: 5 factors, expected 1..4"):
        vkstruct.kron.eigh(ks)
    with pytest.raises(vkstruct.InvalidArgumentError, match=r"vkstruct.kron.solve: 5 eigvecs, expected 1..4"):
        vkstruct.kron.solve(ks, [np.ones(2)] * 5, np.ones(32), noise=0.1)
    with pytest.raises(vkstruct.InvalidArgumentError, match=r"vkstruct.kron.cholesky_solve: 5 factors, expected 1..4"):
        vkstruct.kron.cholesky_solve(ks, np.ones(32))
    with pytest.raises(vkstruct.InvalidArgumentError, match=r"vkstruct.kron.eigh: 0 factors, expected 1..4"):
        vkstruct.kron.eigh([])


def test_kron_cholesky_solve(ctx, rng):
    ks = [oracles.rbf(np.linspace(0, 1, 5), np.linspace(0, 1, 5), 0.5) + 0.1 * np.eye(5),
          oracles.rbf(np.linspace(0, 1, 4), np.linspace(0, 1, 4), 0.3) + 0.1 * np.eye(4)]
    y = randn(rng, 20, 3, dtype=np.float64)
    out = vkstruct.kron.cholesky_solve(ks, y)
    dense = oracles.kron_all(ks)
    assert rel_err(out["alpha"].numpy(), np.linalg.solve(dense, y)) < 1e-10
    assert abs(out["logdet"].numpy()[0] - np.linalg.slogdet(dense)[1]) < 1e-9
