"""float64 numpy oracles written from REFERENCE.md's formulas (independent of the C code)."""
import numpy as np


def monarch(x, w1, w2, out_features=None):
    """fly's blockdiag_butterfly_multiply (x zero-padded to k*p; y truncated to out_features)."""
    x, w1, w2 = (np.asarray(v, dtype=np.float64) for v in (x, w1, w2))
    k, q, p = w1.shape
    l, s, r = w2.shape
    b = x.shape[0]
    xp = np.zeros((b, k * p))
    xp[:, :x.shape[1]] = x
    out1 = np.einsum("bkp,kqp->bkq", xp.reshape(b, k, p), w1).reshape(b, k * q)
    out1 = out1.reshape(b, r, l).transpose(0, 2, 1)  # '(r l) -> (l r)'
    out2 = np.einsum("blr,lsr->bls", out1, w2)
    y = out2.transpose(0, 2, 1).reshape(b, s * l)  # '(l s) -> (s l)'
    return y[:, :out_features] if out_features else y


def blockdiag(x, w):
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    nb, ob, ib = w.shape
    return np.einsum("bni,noi->bno", x.reshape(x.shape[0], nb, ib), w).reshape(x.shape[0], nb * ob)


def randlora_delta(x, basis_a, basis_b, lam, gamma, scale, out_features):
    """PEFT's RandLoRA product (REFERENCE.md: Â_flat rows ρ·n+i, B_flat columns i·r+ρ)."""
    x, a, b, lam, gamma = (np.asarray(v, np.float64) for v in (x, basis_a, basis_b, lam, gamma))
    a = a.reshape(a.shape[0], -1)
    in_f = x.shape[1]
    d_min, d_max = min(in_f, out_features), max(in_f, out_features)
    r, n = lam.shape
    a_hat = lam[:, :, None] * a[:, None, :d_min] * gamma[None, :, :]  # (r, n, d_min)
    a_flat = a_hat.reshape(r * n, d_min)
    b_flat = b[:d_max, :n, :].reshape(d_max, n * r)
    if in_f <= out_features:
        return scale * (x @ a_flat.T) @ b_flat.T
    return scale * (x @ b_flat) @ a_flat


def rbf(x1, x2, lengthscale, outputscale=1.0):
    r = np.subtract.outer(np.asarray(x1, np.float64), np.asarray(x2, np.float64))
    return outputscale * np.exp(-r ** 2 / (2 * lengthscale ** 2))


def kron_all(factors):
    k = np.ones((1, 1))
    for f in factors:
        k = np.kron(k, np.asarray(f, np.float64))
    return k
