"""Training a small MLP with Muon (Newton-Schulz and momentum on the vkstruct device) for
the matrices and AdamW for the biases, on a synthetic regression task.

    python muon_mlp.py
"""
import torch

import vkstruct.torch as vt


def main(steps=60):
    torch.manual_seed(0)
    teacher = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.Tanh(), torch.nn.Linear(64, 8))
    model = torch.nn.Sequential(torch.nn.Linear(32, 128), torch.nn.ReLU(), torch.nn.Linear(128, 8))
    matrices = [p for p in model.parameters() if p.dim() == 2]
    vectors = [p for p in model.parameters() if p.dim() < 2]
    muon = vt.optim.Muon(matrices, lr=0.02)
    adam = torch.optim.AdamW(vectors, lr=3e-3)
    x_test = torch.randn(512, 32)
    with torch.no_grad():
        y_test = teacher(x_test)
        first = torch.nn.functional.mse_loss(model(x_test), y_test).item()
    for step in range(steps):
        x = torch.randn(128, 32)
        with torch.no_grad():
            y = teacher(x)
        loss = torch.nn.functional.mse_loss(model(x), y)
        muon.zero_grad()
        adam.zero_grad()
        loss.backward()
        muon.step()
        adam.step()
        if step % 20 == 0:
            print(f"step {step:3d}  loss {loss.item():.4f}")
    with torch.no_grad():
        last = torch.nn.functional.mse_loss(model(x_test), y_test).item()
    print(f"test loss {first:.4f} -> {last:.4f}")
    return first, last


if __name__ == "__main__":
    first, last = main()
    assert last < 0.5 * first
