#!/usr/bin/env python3
"""Peer of vks-bench's kron rows: GPyTorch / linear_operator (else plain torch) on the same
grids and dtypes.

  kron_mvm    KroneckerProductLinearOperator(K_1, ..., K_d) @ x            (variant "linear_operator")
              or the same rotate-the-mode products in plain torch          (variant "torch")
  kron_solve  eig_given: Q (Lambda + s2)^-1 Q^T y from given factor eigendecompositions, plain
              torch mode products (what vks-bench's eig_given rows time)
              lo_solve: KroneckerProductAddedDiagLinearOperator(K, s2 I).solve(y) as a user calls
              it on a fresh operator: linear_operator eigendecomposes every factor in float64
              (torch.linalg.eigh) and solves in float64, then casts back
              lo_solve_cached: the same operator object solved again (whatever it caches)
  dense_solve torch.linalg.cholesky + cholesky_solve of the dense N x N system (small N)

The factors of the solve rows are those of vks-bench: K_i = Q_i diag(lambda_i) Q_i^T with
Q_i the orthonormal DCT-II basis and lambda_j = 0.2 n exp(-(8 j / n)^2 / 2), noise 0.01.
Errors: kron_mvm against a float64 product on the same inputs; kron_solve the normwise
backward error max|(K + s2 I) a - y| / ((prod max lambda_i + s2) max|a| + max|y|), as
vks-bench reports it. f32 runs with TF32 off.
"""
import math

from peerlib import Peer, import_torch, parse_args, torch_dtype

GPU_MVM = [(256, 256), (1024, 1024), (128, 128, 128), (32, 32, 32, 32), (2048, 2048), (256, 256, 256)]
CPU_MVM = [(256, 256), (1024, 1024), (128, 128, 128)]
GPU_SOLVE = GPU_MVM
CPU_SOLVE = CPU_MVM
GPU_CROSS = [4, 8, 16, 32, 64, 96]
CPU_CROSS = [4, 8, 16, 32]
NOISE = 0.01


def shape_of(dims, k=1):
    s = {"points": math.prod(dims), "dims": list(dims)}
    if k > 1:
        s["rhs"] = k
    return s


def kron_mvm(torch, factors, x):
    """(A_1 ⊗ ... ⊗ A_d) x for x of shape (N, k): contract the leading mode, rotate it back."""
    k = x.shape[1]
    t = x.reshape(-1, k)
    for a in factors:
        n = a.shape[1]
        t = a @ t.reshape(n, -1)                 # (m, rest * k)
        t = t.reshape(a.shape[0], -1, k).transpose(0, 1).reshape(-1, k)  # mode to the back
    return t


def dct_factor(torch, n, dtype, device):
    i = torch.arange(n, dtype=torch.float64).unsqueeze(1)
    j = torch.arange(n, dtype=torch.float64).unsqueeze(0)
    q = torch.sqrt(torch.where(j == 0, 1.0 / n, 2.0 / n)) * torch.cos(math.pi * (i + 0.5) * j / n)
    lam = 0.2 * n * torch.exp(-0.5 * (8.0 * torch.arange(n, dtype=torch.float64) / n) ** 2)
    return q.to(device, dtype), lam.to(device, dtype)


def backward_error(torch, qs, lams, a, y):
    """Normwise backward error of a for (⊗Q_i diag(lam_i) Q_i^T + NOISE I) a = y, in float64."""
    a64, y64 = a.double().reshape(-1, 1), y.double().reshape(-1, 1)
    ks = [(q.double() * l.double()) @ q.double().T for q, l in zip(qs, lams)]
    r = kron_mvm(torch, ks, a64) + NOISE * a64 - y64
    knorm = math.prod(float(l.double().max()) for l in lams)
    return float(r.abs().max() / ((knorm + NOISE) * a64.abs().max() + y64.abs().max()))


def lo_module():
    try:
        from linear_operator.operators import (ConstantDiagLinearOperator, DenseLinearOperator,
                                               KroneckerProductAddedDiagLinearOperator,
                                               KroneckerProductLinearOperator)
        return ConstantDiagLinearOperator, DenseLinearOperator, KroneckerProductAddedDiagLinearOperator, \
            KroneckerProductLinearOperator
    except ImportError:
        return None


def bench_mvm(torch, peer, lo, dims, dt):
    tdt = torch_dtype(torch, dt)
    es = 8 if dt == "f64" else 4
    n_pts = math.prod(dims)
    set_bytes = (2 * n_pts + sum(n * n for n in dims)) * es
    nsets = peer.sets(set_bytes)
    gen = torch.Generator(device="cpu").manual_seed(42)
    fac = [[((torch.rand(n, n, generator=gen) * 2 - 1) / math.sqrt(n)).to(peer.dev, tdt) for n in dims]
           for _ in range(nsets)]
    xs = [(torch.rand(n_pts, 1, generator=gen) * 2 - 1).to(peer.dev, tdt) for _ in range(nsets)]
    if lo:
        KP, Dense = lo[3], lo[1]
        ops = [KP(*[Dense(f) for f in fs]) for fs in fac]
        run = lambda s: ops[s] @ xs[s]  # noqa: E731
        variant = "linear_operator"
    else:
        run = lambda s: kron_mvm(torch, fac[s], xs[s])  # noqa: E731
        variant = "torch"
    med, mn, iters = peer.time(run, nsets)
    got = run(0)
    want = kron_mvm(torch, [f.double() for f in fac[0]], xs[0].double())
    err = float((got.double() - want).abs().max() / want.abs().max())
    peer.report("kron_mvm", variant, dt, shape_of(dims), med, mn, iters, 2.0 * n_pts * sum(dims), set_bytes, err,
                {"impl": "gpytorch"} if lo else None)


def bench_solve(torch, peer, lo, dims, dt, k=1):
    tdt = torch_dtype(torch, dt)
    es = 8 if dt == "f64" else 4
    n_pts = math.prod(dims)
    qs, lams = zip(*[dct_factor(torch, n, tdt, peer.dev) for n in dims])
    set_bytes = 2 * n_pts * k * es
    nsets = peer.sets(set_bytes)
    gen = torch.Generator(device="cpu").manual_seed(7)
    ys = [(torch.rand(n_pts, k, generator=gen) * 2 - 1).to(peer.dev, tdt) for _ in range(nsets)]
    qts = [q.T.contiguous() for q in qs]
    lam = lams[0]
    for l in lams[1:]:
        lam = torch.kron(lam, l)  # the product eigenvalues, row-major over the grid

    def eig_given(s):
        w = kron_mvm(torch, qts, ys[s])
        return kron_mvm(torch, qs, w / (lam + NOISE).unsqueeze(1))

    flops = 4.0 * n_pts * k * sum(dims) + 4.0 * n_pts * k
    fbytes = sum(n * n + n for n in dims) * es
    med, mn, iters = peer.time(eig_given, nsets)
    err = backward_error(torch, qs, lams, eig_given(0)[:, :1], ys[0][:, :1])
    peer.report("kron_solve", "eig_given", dt, shape_of(dims, k), med, mn, iters, flops, set_bytes + fbytes, err,
                {"error": "backward", "noise": NOISE})
    if not lo or k > 1:
        return
    Const, Dense, KPAdded, KP = lo
    ks = [((q.double() * l.double()) @ q.double().T).to(tdt) for q, l in zip(qs, lams)]
    noise = torch.tensor([NOISE], device=peer.dev, dtype=tdt)

    def make():
        return KPAdded(KP(*[Dense(kk) for kk in ks]), Const(noise, diag_shape=n_pts))

    def fresh(s):
        return make().solve(ys[s])

    # A fresh operator per call: what a training step does after the hyperparameters changed.
    eig_flops = flops + sum(9.0 * n ** 3 for n in dims)
    saved_iters = peer.iters
    peer.iters = min(peer.iters, 10)  # seconds per call at 2048^2: keep the GPU run short
    med, mn, iters = peer.time(fresh, nsets, warmup=1)
    err = backward_error(torch, qs, lams, fresh(0), ys[0])
    peer.report("kron_solve", "lo_solve", dt, shape_of(dims, k), med, mn, iters, eig_flops, set_bytes + fbytes, err,
                {"impl": "gpytorch", "error": "backward", "noise": NOISE, "includes": "factor eigh (float64)"})
    op = make()
    op.solve(ys[0])
    med, mn, iters = peer.time(lambda s: op.solve(ys[s]), nsets)
    peer.iters = saved_iters
    err = backward_error(torch, qs, lams, op.solve(ys[0]), ys[0])
    peer.report("kron_solve", "lo_solve_cached", dt, shape_of(dims, k), med, mn, iters, flops, set_bytes + fbytes, err,
                {"impl": "gpytorch", "error": "backward", "noise": NOISE})


def bench_dense(torch, peer, n, dt):
    """Cholesky solve of the dense (K ⊗ K + 0.1 I) for an RBF K on an n-point grid."""
    tdt = torch_dtype(torch, dt)
    x = torch.linspace(0, 1, n, dtype=torch.float64)
    k = torch.exp(-0.5 * (x[:, None] - x[None, :]) ** 2 / 0.2 ** 2)
    a = (torch.kron(k, k) + 0.1 * torch.eye(n * n, dtype=torch.float64)).to(peer.dev, tdt)
    gen = torch.Generator(device="cpu").manual_seed(3)
    y = (torch.rand(n * n, 1, generator=gen) * 2 - 1).to(peer.dev, tdt)

    def run(s):
        return torch.cholesky_solve(y, torch.linalg.cholesky(a))

    med, mn, iters = peer.time(run, 1)
    got = run(0).double()
    want = torch.linalg.solve(a.double(), y.double())
    err = float((got - want).abs().max() / want.abs().max())
    N = float(n * n)
    peer.report("dense_solve", "chol_trsm", dt, shape_of((n, n)), med, mn, iters, N ** 3 / 3 + 2 * N * N,
                (N * N + 2 * N) * (8 if dt == "f64" else 4), err)


def main():
    args = parse_args(__doc__)
    torch = import_torch()
    peer = Peer(torch, args, impl="torch")
    torch.backends.cuda.matmul.allow_tf32 = False
    lo = lo_module()
    print(f"linear_operator: {'yes' if lo else 'not installed (plain torch mode products)'}", flush=True)
    mvm = GPU_MVM if peer.cuda else CPU_MVM
    solve = GPU_SOLVE if peer.cuda else CPU_SOLVE
    cross = GPU_CROSS if peer.cuda else CPU_CROSS
    if args.quick:
        mvm, solve, cross = mvm[:3], solve[:3], cross[:3]
    for dt in ("f32", "f64"):
        for dims in mvm:
            bench_mvm(torch, peer, lo, dims, dt)
        for dims in solve:
            bench_solve(torch, peer, lo, dims, dt)
        bench_solve(torch, peer, lo, solve[0], dt, k=8)
        for n in cross:
            bench_dense(torch, peer, n, dt)


if __name__ == "__main__":
    main()
