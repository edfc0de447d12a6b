#!/usr/bin/env python3
"""Peer of vks-bench --op orthogonal: the same rows computed the way the peers do, in torch.

  newton_schulz  Muon's zeropower_via_newtonschulz5 (REFERENCE.md, Orthogonalization): tall
                 inputs transposed, X = G / (||G||_F + 1e-7), 5 steps of A = X X^T,
                 B = b A + c A A, X = a X + B X with (a, b, c) = (3.4445, -4.7750, 2.0315);
  polar_express  Amsel et al. 2025: per-step minimax quintics with the 1.01 safety factor on
                 every polynomial but the last, X = G / (1.01 ||G||_F + 1e-7), 5 steps;
  syrk           X X^T as a matmul (torch has no SYRK);
  cholesky, eigh torch.linalg.cholesky / torch.linalg.eigh (cuSOLVER on a GPU);
  cholqr2        CholeskyQR2 in torch: R = chol(X^T X)^T, Q = X R^-1 (triangular solve), twice.

Shapes, dtypes and JSON fields follow vks-bench's rows (the orth_err / polar_err fields too:
max |sigma_i - 1| and ||X - polar(G)||_2 from float64 SVDs). f32 runs with TF32 off (plain
fp32, like vkstruct's f32 path); bf16 runs in bf16 as Muon does. FLOPs use the peers' count
(4 m^2 n + 2 m^3 per step) so that GFLOP/s compare directly.

  orthogonal_torch.py [--device cuda|cpu] [--quick] [--json FILE] [--iters N]
  orthogonal_torch.py --selftest      (numpy only: the schedules and the iteration's algebra)
"""
import sys

MUON = (3.4445, -4.7750, 2.0315)
POLAR_EXPRESS = [  # REFERENCE.md; the last one repeats
    (8.28721, -23.59589, 17.30039), (4.10706, -2.94785, 0.54484), (3.94869, -2.90890, 0.55182),
    (3.31842, -2.48849, 0.51005), (2.30065, -1.66890, 0.41881), (1.89130, -1.26800, 0.37680),
    (1.875, -1.25, 0.375),
]


def schedule(name, steps=5):
    """The (a, b, c) of each step, safety factors included (as vkstruct applies them)."""
    if name == "newton_schulz":
        return [MUON] * steps
    scaled = [(a / 1.01, b / 1.01 ** 3, c / 1.01 ** 5) for a, b, c in POLAR_EXPRESS[:-1]] + [POLAR_EXPRESS[-1]]
    return [scaled[min(t, len(scaled) - 1)] for t in range(steps)]


def norm_factor(name):
    return 1.01 if name == "polar_express" else 1.0


def newton_schulz(G, coeffs, factor, eps, mT, norm):
    """The peers' iteration on G (..., m, n) with array ops mT (transpose) and norm (Frobenius
    over the last two dims, keepdims): written once for torch and numpy."""
    X = G
    tall = G.shape[-2] > G.shape[-1]
    if tall:
        X = mT(X)
    X = X / (norm(X) * factor + eps)
    for a, b, c in coeffs:
        A = X @ mT(X)
        B = b * A + c * (A @ A)
        X = a * X + B @ X
    return mT(X) if tall else X


def ns_flops(batch, m, n, steps=5):
    mm, nn = min(m, n), max(m, n)
    return batch * steps * (4.0 * mm * mm * nn + 2.0 * mm ** 3)


def selftest():
    """Checks without torch: the schedules, and that the iteration maps singular values
    through the scalar polynomials (G = U S V^T -> U p(S) V^T) in float64."""
    import numpy as np
    pe = schedule("polar_express", 9)
    assert abs(pe[0][0] - 8.28721 / 1.01) < 1e-12 and abs(pe[0][2] - 17.30039 / 1.01 ** 5) < 1e-12
    assert pe[5][0] == 1.89130 / 1.01 and pe[6] == (1.875, -1.25, 0.375) and pe[8] == (1.875, -1.25, 0.375)
    assert schedule("newton_schulz") == [MUON] * 5
    rng = np.random.default_rng(1)
    mT = lambda x: np.swapaxes(x, -1, -2)  # noqa: E731
    norm = lambda x: np.sqrt((x * x).sum(axis=(-2, -1), keepdims=True))  # noqa: E731
    for name in ("newton_schulz", "polar_express"):
        for m, n in ((20, 33), (33, 20), (16, 16)):
            G = rng.uniform(-1, 1, (m, n))
            X = newton_schulz(G, schedule(name), norm_factor(name), 1e-7, mT, norm)
            U, S, Vh = np.linalg.svd(G, full_matrices=False)
            s = S / (np.linalg.norm(G) * norm_factor(name) + 1e-7)
            for a, b, c in schedule(name):
                s = a * s + b * s ** 3 + c * s ** 5
            want = (U * s) @ Vh
            err = np.abs(X - want).max() / np.abs(want).max()
            assert err < 1e-10, (name, m, n, err)
    print("orthogonal_torch.py selftest: schedules and iteration algebra OK (numpy, float64)")


def main():
    if "--selftest" in sys.argv:
        selftest()
        return
    from peerlib import Peer, import_torch, parse_args, torch_dtype
    args = parse_args(__doc__)
    torch = import_torch()
    peer = Peer(torch, args)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dev = peer.dev
    gen = torch.Generator(device="cpu").manual_seed(42)
    mT = lambda x: x.mT  # noqa: E731
    norm = lambda x: x.norm(dim=(-2, -1), keepdim=True)  # noqa: E731

    def uniform(*shape):
        return torch.rand(*shape, generator=gen, dtype=torch.float64) * 2 - 1

    def ns_row(name, dt, batch, m, n, errors):
        tdt = torch_dtype(torch, dt)
        es = 2 if dt == "bf16" else 4
        numel = batch * m * n
        nsets = peer.sets(2.0 * numel * es)
        shape = (batch, m, n) if batch > 1 else (m, n)
        gs = [uniform(*shape).to(dev, tdt) for _ in range(nsets)]
        coeffs, factor = schedule(name), norm_factor(name)
        med, mn, iters = peer.time(lambda s: newton_schulz(gs[s], coeffs, factor, 1e-7, mT, norm), nsets)
        X = newton_schulz(gs[0], coeffs, factor, 1e-7, mT, norm).double()
        G64 = gs[0].double()
        want = newton_schulz(G64, coeffs, factor, 1e-7, mT, norm)
        err = float((X - want).abs().max() / want.abs().max())
        extra = None
        if errors and min(m, n) <= 2048:
            x0, g0 = (X[0], G64[0]) if batch > 1 else (X, G64)
            orth = float((torch.linalg.svdvals(x0) - 1).abs().max())
            U, _, Vh = torch.linalg.svd(g0, full_matrices=False)
            polar = float(torch.linalg.svdvals(x0 - U @ Vh)[0])
            extra = {"orth_err": orth, "polar_err": polar}
        peer.report(name, "torch", dt, {"batch": batch, "m": m, "n": n, "steps": 5}, med, mn, iters,
                    ns_flops(batch, m, n), 2.0 * numel * es, err, extra)

    def syrk_row(m, k):
        nsets = peer.sets(4.0 * (m * k + m * m))
        xs = [uniform(m, k).to(dev, torch.float32) for _ in range(nsets)]
        med, mn, iters = peer.time(lambda s: xs[s] @ xs[s].T, nsets)
        want = xs[0].double() @ xs[0].double().T
        err = float(((xs[0] @ xs[0].T).double() - want).abs().max() / want.abs().max())
        peer.report("syrk", "matmul", "f32", {"m": m, "k": k}, med, mn, iters, 2.0 * m * m * k, 4.0 * (m * k + m * m),
                    err)

    def spd(n, tdt):
        b = uniform(n, n)
        return (b @ b.T / n + torch.eye(n, dtype=torch.float64)).to(dev, tdt)

    def fact_row(which, dt, m, n):
        tdt = torch_dtype(torch, dt)
        es = 8 if dt == "f64" else 4
        rows = m if which == "cholqr2" else n
        nsets = peer.sets(2.0 * rows * n * es)
        if which == "cholqr2":
            xs = [uniform(m, n).to(dev, tdt) for _ in range(nsets)]
        else:
            xs = [spd(n, tdt) for _ in range(nsets)]

        def cholqr2(x):
            q, r = x, None
            for _ in range(2):
                l = torch.linalg.cholesky(q.T @ q)
                q = torch.linalg.solve_triangular(l, q.T, upper=False).T
                r = l.T if r is None else l.T @ r
            return q, r

        fn = {"cholesky": torch.linalg.cholesky, "eigh": torch.linalg.eigh, "cholqr2": cholqr2}[which]
        med, mn, iters = peer.time(lambda s: fn(xs[s]), nsets)
        a = xs[0].double()
        if which == "cholesky":
            l = fn(xs[0]).double()
            err = float((l @ l.T - a).abs().max() / a.abs().max())
            shape, flops = {"n": n}, n ** 3 / 3
        elif which == "eigh":
            w, v = (t.double() for t in fn(xs[0]))
            err = float((a @ v - v * w).abs().max() / w.abs().max())
            shape, flops = {"n": n, "sweeps": 14 if dt == "f64" else 10}, 9.0 * n ** 3
        else:
            q, r = (t.double() for t in fn(xs[0]))
            err = float((q @ r - a).abs().max() / a.abs().max())
            shape, flops = {"m": m, "n": n}, 2.0 * (3.0 * m * n * n + n ** 3)
        variant = {"cholesky": "torch.linalg", "eigh": "torch.linalg", "cholqr2": "torch"}[which]
        peer.report(which, variant, dt, shape, med, mn, iters, flops, 2.0 * rows * n * es, err)

    if not peer.cuda:  # vks-bench's CPU (lavapipe) rows
        shapes = [(1, 256, 256)] if args.quick else [(1, 256, 256), (1, 512, 512), (1, 256, 1024)]
        for name in ("newton_schulz", "polar_express"):
            for b, m, n in shapes:
                ns_row(name, "f32", b, m, n, True)
        for m in ([256] if args.quick else [256, 512]):
            syrk_row(m, m)
        fact_row("cholesky", "f32", 0, 128 if args.quick else 256)
        fact_row("eigh", "f32", 0, 64 if args.quick else 128)
        fact_row("cholqr2", "f32", 2048 if args.quick else 4096, 64)
        return
    shapes = [(1, 256, 256), (1, 512, 512), (1, 1024, 1024), (1, 2048, 2048), (1, 1024, 4096)]
    for name in ("newton_schulz", "polar_express"):
        for b, m, n in shapes[:3] if args.quick else shapes:
            ns_row(name, "f32", b, m, n, True)
    if not args.quick:  # the sizes of the torch comparison
        for name in ("newton_schulz", "polar_express"):
            for dt in ("f32", "bf16"):
                for b, m, n in ((1, 4096, 4096), (1, 4096, 11008), (8, 1024, 1024)):
                    ns_row(name, dt, b, m, n, False)
    for m in ([1024] if args.quick else [1024, 2048, 4096]):
        syrk_row(m, m)
    for n in ([256] if args.quick else [256, 1024, 2048]):
        fact_row("cholesky", "f32", 0, n)
        if not args.quick:
            fact_row("cholesky", "f64", 0, n)
    for n in ([128, 512] if args.quick else [128, 512, 1024, 2048]):
        fact_row("eigh", "f32", 0, n)
        if not args.quick:
            fact_row("eigh", "f64", 0, n)
    for m, n in ([(16384, 256)] if args.quick else [(16384, 256), (65536, 128), (32768, 512)]):
        fact_row("cholqr2", "f32", m, n)


if __name__ == "__main__":
    main()
