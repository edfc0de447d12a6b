"""Gaussian-process regression on a full grid with a Kronecker-structured kernel (numpy in,
numpy out; the N-sized work runs on the device through vkstruct.kron)."""
import numpy as np

from . import kron
from ._core import asarray, default_context, new_struct


class KroneckerGP:
    """Exact GP on a grid x_1 × ... × x_d (y of shape (n_1, ..., n_d)) with the product
    kernel K = outputscale · k(x_1; l_1) ⊗ ... ⊗ k(x_d; l_d) ("rbf" or "matern52", per-dimension
    length-scales) and Gaussian noise: what GPyTorch computes with
    KroneckerProductAddedDiagLinearOperator, without forming an N × N matrix.

    fit(grid, y) maximises the log marginal likelihood over the length-scales, outputscale
    and noise (scipy's L-BFGS-B on their logs; needs scipy); log_marginal_likelihood() gives it in full
    (GPyTorch's ExactMarginalLogLikelihood reports it divided by N); predict() gives the
    posterior mean on a grid (a list of 1-D arrays) or at scattered points (P, d).

    ard: one length-scale per dimension (True) or one shared by all (False: fewer
    likelihood evaluations in fit).
    factor_eigh: "device" (vkstruct.kron.eigh) or "host" (numpy's LAPACK). The factors are
    only n_i × n_i; on a CPU device (lavapipe) the host LAPACK is the faster path for the
    same CPU, and the device's Jacobi solver needs minutes at n_i = 512.
    """

    def __init__(self, kernel="rbf", lengthscale=1.0, outputscale=1.0, noise=0.1, ard=True, dtype=np.float64,
                 factor_eigh="device", eig_floor=None, ctx=None):
        if factor_eigh not in ("device", "host"):
            raise ValueError(f"KroneckerGP: factor_eigh {factor_eigh!r} is not 'device' or 'host'")
        self.kernel, self.dtype, self.factor_eigh, self.ard = kernel, np.dtype(dtype), factor_eigh, ard
        self.lengthscale, self.outputscale, self.noise = lengthscale, float(outputscale), float(noise)
        self.ctx = ctx or default_context()
        self._eig_cache = {}
        # K's eigenvalues are floored here before the noise is added (GPyTorch's way); None:
        # the library's default (vks_kron_solve_desc.eig_floor), 0: no floor
        self.eig_floor = float(new_struct("kron_solve_desc").eig_floor if eig_floor is None else eig_floor)

    # -- the pieces ---------------------------------------------------------------------------
    def _lengthscales(self, d):
        ls = np.broadcast_to(np.asarray(self.lengthscale, dtype=np.float64), (d,))
        return [float(v) for v in ls]

    def _factor_eig(self, i, ls):
        key = (i, ls)
        if key not in self._eig_cache:
            x = asarray(self.grid[i].astype(self.dtype), ctx=self.ctx)
            k = kron.kernel(x, kind=self.kernel, lengthscale=ls)
            if self.factor_eigh == "host":
                w, v = np.linalg.eigh(k.numpy().astype(np.float64))
                vec, val = asarray(v.astype(self.dtype), ctx=self.ctx), asarray(w.astype(self.dtype), ctx=self.ctx)
            else:
                (vec,), (val,) = kron.eigh([k])
            if len(self._eig_cache) > 64:
                self._eig_cache.clear()
            self._eig_cache[key] = (vec, val)
        return self._eig_cache[key]

    def _eig(self):
        pairs = [self._factor_eig(i, ls) for i, ls in enumerate(self._lengthscales(len(self.grid)))]
        vecs = [p[0] for p in pairs]
        vals = [p[1] for p in pairs]
        # outputscale scales K: fold it into the first factor's eigenvalues
        vals[0] = asarray(vals[0].numpy() * self.outputscale, ctx=self.ctx)
        return vecs, vals

    def _set_data(self, grid, y):
        self.grid = [np.asarray(g, dtype=np.float64).reshape(-1) for g in grid]
        shape = tuple(len(g) for g in self.grid)
        y = np.asarray(y, dtype=np.float64)
        if y.size != int(np.prod(shape)):
            raise ValueError(f"KroneckerGP: y has {y.size} values, the grid {shape} has {int(np.prod(shape))}")
        self.shape, self.y = shape, y.reshape(-1)
        self._y_dev = asarray(self.y.astype(self.dtype), ctx=self.ctx)
        self._eig_cache = {}

    def log_marginal_likelihood(self):
        """log p(y) = -y^T alpha / 2 - log|K + noise I| / 2 - N log(2 pi) / 2 at the current
        hyperparameters (computed on the device by vkstruct.kron.solve)."""
        vecs, vals = self._eig()
        out = kron.solve(vecs, vals, self._y_dev, noise=self.noise, eig_floor=self.eig_floor, want=("mll",))
        return float(out["mll"].numpy()[0])

    # -- fitting ------------------------------------------------------------------------------
    def _rotated(self, ls):
        """(lambda = ⊗lambda_i flattened, (⊗Q_i)^T y) for length-scales ls: the rotation is
        one Kronecker product on the device; every (outputscale, noise) then costs O(N) on
        the host, the same formulas kron.solve evaluates."""
        pairs = [self._factor_eig(i, v) for i, v in enumerate(ls)]
        lam = np.ones(1)
        for _, val in pairs:
            lam = np.multiply.outer(lam, val.numpy().astype(np.float64)).reshape(-1)
        rot = kron.matmul([vec for vec, _ in pairs], self._y_dev, trans=True).numpy().astype(np.float64)
        return lam, rot

    def fit(self, grid, y, optimize=True, max_iter=30):
        """Takes the grid (a list of d 1-D arrays) and y (n_1, ..., n_d); with optimize, fits
        the length-scales, outputscale and noise by maximising the log marginal likelihood
        (L-BFGS-B on their logs: exact gradients in outputscale and noise, forward differences
        in the length-scales). Returns self."""
        self._set_data(grid, y)
        n, d_grid = self.y.size, len(self.grid)
        d = d_grid if self.ard else 1  # length-scale parameters
        if optimize:
            from scipy.optimize import minimize

            def objective(theta):
                """-mll / N and its gradient in theta = log(ls_1..ls_d, outputscale, noise)."""
                def at(log_ls):
                    ls = np.broadcast_to(np.exp(log_ls), (d_grid,))
                    lam, rot = self._rotated(tuple(float(v) for v in ls))
                    s = np.maximum(np.exp(theta[d]) * lam, self.eig_floor) + np.exp(theta[d + 1])
                    value = 0.5 * np.sum(rot ** 2 / s) + 0.5 * np.sum(np.log(s)) + 0.5 * n * np.log(2 * np.pi)
                    return value / n, lam, rot, s

                f, lam, rot, s = at(theta[:d])
                grad = np.empty_like(theta)
                w = 0.5 * (1 / s - rot ** 2 / s ** 2)  # d(-mll)/ds
                grad[d] = np.sum(w * lam * (np.exp(theta[d]) * lam > self.eig_floor)) * np.exp(theta[d]) / n
                grad[d + 1] = np.sum(w) * np.exp(theta[d + 1]) / n
                for i in range(d):
                    step = np.array(theta[:d])
                    step[i] += 1e-4
                    grad[i] = (at(step)[0] - f) / 1e-4
                return f, grad

            theta0 = np.log(np.concatenate([self._lengthscales(d_grid)[:d], [self.outputscale, self.noise]]))
            res = minimize(objective, theta0, jac=True, method="L-BFGS-B",
                           bounds=[(-7, 5)] * d + [(-7, 7), (-12, 3)], options={"maxiter": max_iter})
            self.lengthscale = np.exp(res.x[:d]) if self.ard else float(np.exp(res.x[0]))
            self.outputscale, self.noise = float(np.exp(res.x[d])), float(np.exp(res.x[d + 1]))
            self.optimization = res
        self._solve()
        return self

    def _solve(self):
        vecs, vals = self._eig()
        out = kron.solve(vecs, vals, self._y_dev, noise=self.noise, eig_floor=self.eig_floor,
                         want=("alpha", "mll"))
        self._alpha, self.mll_ = out["alpha"], float(out["mll"].numpy()[0])

    # -- prediction ---------------------------------------------------------------------------
    def predict(self, x):
        """Posterior mean: x a list of d 1-D arrays (a test grid; returns (m_1, ..., m_d)) or
        points (P, d) (returns (P,))."""
        ls = self._lengthscales(len(self.grid))
        cross = []
        on_grid = isinstance(x, (list, tuple))
        pts = x if on_grid else np.asarray(x, dtype=np.float64).T
        for i, g in enumerate(self.grid):
            xs = asarray(np.asarray(pts[i], dtype=self.dtype).reshape(-1), ctx=self.ctx)
            k = kron.kernel(xs, asarray(g.astype(self.dtype), ctx=self.ctx), kind=self.kernel, lengthscale=ls[i],
                            outputscale=self.outputscale if i == 0 else 1.0)
            cross.append(k)
        if on_grid:
            mean = kron.matmul(cross, self._alpha).numpy()
            return mean.reshape([len(p) for p in pts])
        return kron.predict(cross, self._alpha).numpy()
