#!/usr/bin/env python3
"""CPU peer of vks-bench's kron rows in numpy (OpenBLAS), f32 and f64, same shapes:

  kron_mvm    the rotate-the-mode products GPyTorch's KroneckerProductLinearOperator runs
              (one matmul per factor, the contracted mode moved to the back)
  kron_solve  eig_given: Q (Lambda + s2)^-1 Q^T y from the factors' known eigendecompositions
              (DCT-II bases, lambda_j = 0.2 n exp(-(8 j / n)^2 / 2), s2 = 0.01, as vks-bench)
  dense_solve the dense N x N system (K ⊗ K + 0.1 I, K an RBF matrix with lengthscale 0.2 on
              an n-point grid) by Cholesky (scipy's cho_factor/cho_solve when installed,
              else numpy.linalg.solve, variant "lu")

Errors as vks-bench computes them: kron_mvm against float64 products on the same inputs,
kron_solve the normwise backward error, dense_solve against a float64 solve.
"""
import math

from peerlib import Peer, parse_args, require

MVM = [(256, 256), (1024, 1024), (128, 128, 128), (32, 32, 32, 32), (2048, 2048), (256, 256, 256)]
CROSS = [4, 8, 16, 32]
NOISE = 0.01


def shape_of(dims, k=1):
    s = {"points": math.prod(dims), "dims": list(dims)}
    if k > 1:
        s["rhs"] = k
    return s


def kron_mvm(np, factors, x):
    """(A_1 ⊗ ... ⊗ A_d) x, x of shape (N, k): contract the leading mode, rotate it back."""
    k = x.shape[1]
    t = x
    for a in factors:
        t = a @ t.reshape(a.shape[1], -1)
        t = np.ascontiguousarray(t.reshape(a.shape[0], -1, k).swapaxes(0, 1)).reshape(-1, k)
    return t


def dct_factor(np, n):
    i = np.arange(n, dtype=np.float64)[:, None]
    j = np.arange(n, dtype=np.float64)[None, :]
    q = np.sqrt(np.where(j == 0, 1.0 / n, 2.0 / n)) * np.cos(math.pi * (i + 0.5) * j / n)
    lam = 0.2 * n * np.exp(-0.5 * (8.0 * np.arange(n) / n) ** 2)
    return q, lam


def main():
    args = parse_args(__doc__)
    require("numpy")
    import numpy as np
    try:
        import scipy.linalg as sla
    except ImportError:
        sla = None
    peer = Peer(None, args, impl="numpy")
    rng = np.random.default_rng(42)
    grids = MVM[:3] if args.quick else MVM
    for dt in (["f32"] if args.quick else ["f32", "f64"]):
        npdt = np.float32 if dt == "f32" else np.float64
        es = 4 if dt == "f32" else 8
        for dims in grids:
            n_pts = math.prod(dims)
            set_bytes = (2 * n_pts + sum(n * n for n in dims)) * es
            nsets = peer.sets(set_bytes)
            fac = [[rng.uniform(-1, 1, (n, n)).astype(npdt) / np.sqrt(n).astype(npdt) for n in dims]
                   for _ in range(nsets)]
            xs = [rng.uniform(-1, 1, (n_pts, 1)).astype(npdt) for _ in range(nsets)]
            med, mn, iters = peer.time(lambda s: kron_mvm(np, fac[s], xs[s]), nsets)
            got = kron_mvm(np, fac[0], xs[0]).astype(np.float64)
            want = kron_mvm(np, [f.astype(np.float64) for f in fac[0]], xs[0].astype(np.float64))
            peer.report("kron_mvm", "openblas", dt, shape_of(dims), med, mn, iters, 2.0 * n_pts * sum(dims), set_bytes,
                        float(np.abs(got - want).max() / np.abs(want).max()))
            del fac, xs
        for dims in grids:
            n_pts = math.prod(dims)
            qs, lams = zip(*[dct_factor(np, n) for n in dims])
            qd, qtd = [q.astype(npdt) for q in qs], [np.ascontiguousarray(q.T).astype(npdt) for q in qs]
            lam = lams[0]
            for lv in lams[1:]:
                lam = np.kron(lam, lv)
            den = (lam + NOISE).astype(npdt)[:, None]
            set_bytes = 2 * n_pts * es
            nsets = peer.sets(set_bytes)
            ys = [rng.uniform(-1, 1, (n_pts, 1)).astype(npdt) for _ in range(nsets)]
            solve = lambda s: kron_mvm(np, qd, kron_mvm(np, qtd, ys[s]) / den)  # noqa: E731
            med, mn, iters = peer.time(solve, nsets)
            a = solve(0).astype(np.float64)
            ks = [(q * lv) @ q.T for q, lv in zip(qs, lams)]
            r = kron_mvm(np, ks, a) + NOISE * a - ys[0].astype(np.float64)
            knorm = math.prod(float(lv.max()) for lv in lams)
            back = float(np.abs(r).max() / ((knorm + NOISE) * np.abs(a).max() + np.abs(ys[0]).max()))
            peer.report("kron_solve", "eig_given", dt, shape_of(dims), med, mn, iters,
                        4.0 * n_pts * sum(dims) + 4.0 * n_pts, set_bytes + sum(n * n + n for n in dims) * es, back,
                        {"error": "backward", "noise": NOISE})
            del ys
        for n in CROSS[:3] if args.quick else CROSS:
            x = np.linspace(0, 1, n)
            k = np.exp(-0.5 * (x[:, None] - x[None, :]) ** 2 / 0.2 ** 2)
            a64 = np.kron(k, k) + 0.1 * np.eye(n * n)
            a = a64.astype(npdt)
            y = rng.uniform(-1, 1, (n * n, 1)).astype(npdt)
            if sla is not None:
                run = lambda s: sla.cho_solve(sla.cho_factor(a, lower=True), y)  # noqa: E731
                variant = "chol_trsm"
            else:
                run = lambda s: np.linalg.solve(a, y)  # noqa: E731
                variant = "lu"
            med, mn, iters = peer.time(run, 1)
            want = np.linalg.solve(a64, y.astype(np.float64))
            err = float(np.abs(run(0).astype(np.float64) - want).max() / np.abs(want).max())
            big_n = float(n * n)
            peer.report("dense_solve", variant, dt, shape_of((n, n)), med, mn, iters, big_n ** 3 / 3 + 2 * big_n ** 2,
                        (big_n ** 2 + 2 * big_n) * es, err)


if __name__ == "__main__":
    main()
