#!/usr/bin/env python3
"""CPU peer of vks-bench's orthogonal rows on lavapipe: numpy (OpenBLAS / LAPACK) computing
them the peers' way — Muon's Newton-Schulz and Polar Express (the iteration of
orthogonal_torch.py, f32), X X^T as a matmul, numpy.linalg.cholesky / eigh, CholeskyQR2 —
on vks-bench's CPU shapes, with the same JSON fields (orth_err, polar_err from float64 SVDs).
Its float64 computations are also the oracles of its rows. VKS_BENCH_ORTHOGONAL=chol: only the
Cholesky sweep (as vks-bench's)."""
import os

from orthogonal_torch import newton_schulz, norm_factor, ns_flops, schedule
from peerlib import Peer, parse_args, require


def main():
    args = parse_args(__doc__)
    require("numpy")
    import numpy as np
    mT = lambda x: np.swapaxes(x, -1, -2)  # noqa: E731
    norm = lambda x: np.sqrt((x * x).sum(axis=(-2, -1), keepdims=True, dtype=x.dtype))  # noqa: E731
    peer = Peer(None, args, impl="numpy")
    rng = np.random.default_rng(42)
    if os.environ.get("VKS_BENCH_ORTHOGONAL") == "chol":
        return cholesky_sweep(np, peer, rng, args.quick)
    shapes = [(256, 256)] if args.quick else [(256, 256), (512, 512), (256, 1024)]
    for name in ("newton_schulz", "polar_express"):
        for m, n in shapes:
            nsets = peer.sets(8.0 * m * n)
            gs = [rng.uniform(-1, 1, (m, n)).astype(np.float32) for _ in range(nsets)]
            coeffs, factor = schedule(name), norm_factor(name)
            coeffs32 = [tuple(np.float32(v) for v in c) for c in coeffs]
            med, mn, iters = peer.time(
                lambda s: newton_schulz(gs[s], coeffs32, np.float32(factor), np.float32(1e-7), mT, norm), nsets)
            x = newton_schulz(gs[0], coeffs32, np.float32(factor), np.float32(1e-7), mT, norm).astype(np.float64)
            g64 = gs[0].astype(np.float64)
            want = newton_schulz(g64, coeffs, factor, 1e-7, mT, norm)
            err = float(np.abs(x - want).max() / np.abs(want).max())
            extra = None
            if min(m, n) <= 256:
                u, _, vh = np.linalg.svd(g64, full_matrices=False)
                extra = {"orth_err": float(np.abs(np.linalg.svd(x, compute_uv=False) - 1).max()),
                         "polar_err": float(np.linalg.svd(x - u @ vh, compute_uv=False)[0])}
            peer.report(name, "openblas", "f32", {"batch": 1, "m": m, "n": n, "steps": 5}, med, mn, iters,
                        ns_flops(1, m, n), 8.0 * m * n, err, extra)
    for m in ([256] if args.quick else [256, 512]):
        nsets = peer.sets(4.0 * 2 * m * m)
        xs = [rng.uniform(-1, 1, (m, m)).astype(np.float32) for _ in range(nsets)]
        med, mn, iters = peer.time(lambda s: xs[s] @ xs[s].T, nsets)
        want = xs[0].astype(np.float64) @ xs[0].astype(np.float64).T
        err = float(np.abs((xs[0] @ xs[0].T) - want).max() / np.abs(want).max())
        peer.report("syrk", "matmul", "f32", {"m": m, "k": m}, med, mn, iters, 2.0 * m ** 3, 8.0 * m * m, err)

    def spd(n):
        b = rng.uniform(-1, 1, (n, n))
        return (b @ b.T / n + np.eye(n)).astype(np.float32)

    n = 128 if args.quick else 256
    xs = [spd(n) for _ in range(peer.sets(8.0 * n * n))]
    med, mn, iters = peer.time(lambda s: np.linalg.cholesky(xs[s]), len(xs))
    l, a = np.linalg.cholesky(xs[0]).astype(np.float64), xs[0].astype(np.float64)
    peer.report("cholesky", "lapack", "f32", {"n": n}, med, mn, iters, n ** 3 / 3, 8.0 * n * n,
                float(np.abs(l @ l.T - a).max() / np.abs(a).max()))
    n = 64 if args.quick else 128
    xs = [spd(n) for _ in range(peer.sets(8.0 * n * n))]
    med, mn, iters = peer.time(lambda s: np.linalg.eigh(xs[s]), len(xs))
    w, v = (t.astype(np.float64) for t in np.linalg.eigh(xs[0]))
    a = xs[0].astype(np.float64)
    peer.report("eigh", "lapack", "f32", {"n": n, "sweeps": 10}, med, mn, iters, 9.0 * n ** 3, 8.0 * n * n,
                float(np.abs(a @ v - v * w).max() / np.abs(w).max()))
    # The f64 rows beside vks-bench's eigh (tridiagonal) and cholesky f64.
    for n in ([256] if args.quick else [256, 512, 1024]):
        xs = [spd(n).astype(np.float64) for _ in range(peer.sets(16.0 * n * n))]
        med, mn, iters = peer.time(lambda s: np.linalg.eigh(xs[s]), len(xs))
        w, v = np.linalg.eigh(xs[0])
        peer.report("eigh", "lapack", "f64", {"n": n}, med, mn, iters, 9.0 * n ** 3, 16.0 * n * n,
                    float(np.abs(xs[0] @ v - v * w).max() / np.abs(w).max()))
        med, mn, iters = peer.time(lambda s: np.linalg.cholesky(xs[s]), len(xs))
        l = np.linalg.cholesky(xs[0])
        peer.report("cholesky", "lapack", "f64", {"n": n}, med, mn, iters, n ** 3 / 3, 16.0 * n * n,
                    float(np.abs(l @ l.T - xs[0]).max() / np.abs(xs[0]).max()))
    m, n = (2048, 64) if args.quick else (4096, 64)
    xs = [rng.uniform(-1, 1, (m, n)).astype(np.float32) for _ in range(peer.sets(8.0 * m * n))]

    def cholqr2(x):
        q, r = x, None
        for _ in range(2):
            l = np.linalg.cholesky(q.T @ q)
            q = np.linalg.solve(l, q.T).T  # Q L^-T (numpy has no triangular solve)
            r = l.T if r is None else l.T @ r
        return q, r

    med, mn, iters = peer.time(lambda s: cholqr2(xs[s]), len(xs))
    q, r = (t.astype(np.float64) for t in cholqr2(xs[0]))
    a = xs[0].astype(np.float64)
    peer.report("cholqr2", "numpy", "f32", {"m": m, "n": n}, med, mn, iters, 2.0 * (3.0 * m * n * n + n ** 3),
                8.0 * m * n, float(np.abs(q @ r - a).max() / np.abs(a).max()))


def cholesky_sweep(np, peer, rng, quick):
    """vks-bench's VKS_BENCH_ORTHOGONAL=chol rows: numpy.linalg.cholesky (LAPACK potrf, stacked
    for the batches) at n = 100..1024 and batches 16 x 128, 64 x 96, f32 and f64."""
    cases = [(n, 1) for n in ([100, 256] if quick else [100, 256, 512, 1024])] + [(128, 16), (96, 64)]
    for dt, name in ((np.float32, "f32"), (np.float64, "f64")):
        for n, batch in cases:
            def spd():
                b = rng.uniform(-1, 1, (n, n))
                a = (b @ b.T / n + np.eye(n)).astype(dt)
                return np.broadcast_to(a, (batch, n, n)).copy() if batch > 1 else a
            es = np.dtype(dt).itemsize
            xs = [spd() for _ in range(peer.sets(2.0 * es * batch * n * n))]
            med, mn, iters = peer.time(lambda s: np.linalg.cholesky(xs[s]), len(xs))
            a = xs[0].astype(np.float64)
            l = np.linalg.cholesky(xs[0]).astype(np.float64)
            err = float(np.abs(l @ np.swapaxes(l, -1, -2) - a).max() / np.abs(a).max())
            shape = {"batch": batch, "n": n} if batch > 1 else {"n": n}
            peer.report("cholesky", "lapack", name, shape, med, mn, iters, batch * n ** 3 / 3, 2.0 * es * batch * n * n, err)


if __name__ == "__main__":
    main()
