"""A Monarch layer from a dense one: project a trained nn.Linear's weight onto Monarch
matrices on the device, then serve it with vkstruct (fly's MonarchLinear layout).

    python monarch_from_dense.py
"""
import numpy as np
import torch

import vkstruct.torch as vt


def main():
    torch.manual_seed(0)
    n, nblocks = 256, 4
    # A "trained" dense layer: a Monarch matrix plus a little noise, as fine-tuned layers are
    # close to structured ones.
    teacher = vt.MonarchLinear(n, n, nblocks)
    dense = torch.nn.Linear(n, n)
    with torch.no_grad():
        w = (teacher(torch.eye(n)) - teacher.bias).T
        dense.weight.copy_(w + 0.01 * w.std() * torch.randn_like(w))
        dense.bias.copy_(teacher.bias)
    layer = vt.MonarchLinear.from_dense(dense, nblocks)
    x = torch.randn(64, n)
    with torch.no_grad():
        err = ((layer(x) - dense(x)).norm() / dense(x).norm()).item()
    params = sum(p.numel() for p in layer.parameters())
    print(f"projection: relative error {layer.projection['relative_error']:.4f}, "
          f"{params} parameters instead of {n * n + n}; output error {err:.4f}")
    return layer.projection["relative_error"], err


if __name__ == "__main__":
    rel, err = main()
    assert rel < 0.05 and err < 0.05 and np.isfinite(err)
