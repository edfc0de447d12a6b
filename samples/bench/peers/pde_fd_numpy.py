#!/usr/bin/env python3
"""Finite-difference peer of samples/gp-pde (numpy + scipy.sparse): the same problems on
the same uniform grids of n points per dimension (boundary included) on [0, 1]^d, the
second-order central difference (3-point in 1-D, 5-point Laplacian in 2-D) with the exact
Dirichlet values, solved by scipy.sparse.linalg.spsolve (SuperLU). The error is the relative
L2 error at the grid points (FD has no interpolant between them; gp-pde measures its error
on a test grid that also has every midpoint, which can only make its number larger).

Usage: pde_fd_numpy.py [--n1 N] [--n2 N] [--quick]
"""
import argparse
import time

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla


def mix(t):
    return np.sin(6 * t) * np.sin(20 * t)


def mix_dd(t):
    return 0.5 * (-196 * np.cos(14 * t) + 676 * np.cos(26 * t))


PROBLEMS = [
    ("poisson1d-sin100", 1, 0.0, lambda x: np.sin(100 * x[0]), lambda x: -1e4 * np.sin(100 * x[0])),
    ("poisson1d-multi", 1, 0.0, lambda x: np.sin(x[0]) + 0.1 * np.sin(20 * x[0]) + 0.05 * np.cos(100 * x[0]),
     lambda x: -np.sin(x[0]) - 40 * np.sin(20 * x[0]) - 500 * np.cos(100 * x[0])),
    ("poisson2d-sin100", 2, 0.0, lambda x: np.sin(100 * x[0]) * np.sin(100 * x[1]),
     lambda x: -2e4 * np.sin(100 * x[0]) * np.sin(100 * x[1])),
    ("poisson2d-mix", 2, 0.0, lambda x: mix(x[0]) + mix(x[1]), lambda x: mix_dd(x[0]) + mix_dd(x[1])),
    ("helmholtz2d", 2, 10.0, lambda x: np.sin(20 * x[0]) * np.cos(15 * x[1]),
     lambda x: -615.0 * np.sin(20 * x[0]) * np.cos(15 * x[1])),
]


def solve(d, kappa2, u, f, n):
    h = 1.0 / (n - 1)
    t = np.linspace(0, 1, n)
    grids = np.meshgrid(*([t] * d), indexing="ij")
    ue, fv = u(grids), f(grids)
    m = n - 2
    lap1 = sp.diags([np.ones(m - 1), -2 * np.ones(m), np.ones(m - 1)], [-1, 0, 1]) / h**2
    eye = sp.identity(m)
    a = lap1 if d == 1 else sp.kron(lap1, eye) + sp.kron(eye, lap1)
    a = (a + kappa2 * sp.identity(m**d)).tocsc()
    # Boundary values move to the right-hand side: b = f - (L lift) on the interior.
    lift = ue.copy()
    inner = (slice(1, -1),) * d
    lift[inner] = 0
    llift = np.zeros_like(lift)
    for ax in range(d):
        llift += (np.roll(lift, 1, ax) - 2 * lift + np.roll(lift, -1, ax)) / h**2
    b = (fv - llift - kappa2 * lift)[inner].ravel()
    t0 = time.perf_counter()
    v = spla.spsolve(a, b)
    ms = (time.perf_counter() - t0) * 1e3
    got = ue.copy()
    got[inner] = v.reshape((m,) * d)
    return np.linalg.norm(got - ue) / np.linalg.norm(ue), ms


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n1", type=int, default=0)
    ap.add_argument("--n2", type=int, default=0)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    n1 = args.n1 or (256 if args.quick else 512)
    n2 = args.n2 or (128 if args.quick else 256)
    for name, d, kappa2, u, f in PROBLEMS:
        n = n1 if d == 1 else n2
        err, ms = solve(d, kappa2, u, f, n)
        print(f"{name:18s} grid {n:5d}^{d}  FD (2nd order) rel L2 error {err:.2e}  spsolve {ms:8.1f} ms")


if __name__ == "__main__":
    main()
