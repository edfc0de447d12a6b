"""The torch front ends against the peers' own modules where installed (PEFT), and against
the peers' formulas written from REFERENCE.md (fly's blockdiag_butterfly_multiply, Muon)."""
import math

import pytest

torch = pytest.importorskip("torch", reason="torch is not installed: vkstruct.torch untested")
import vkstruct.torch as vt  # noqa: E402


def fly_blockdiag_butterfly_multiply(x, w1, w2):
    """fly's reference: 2 bmm + 2 shuffles (REFERENCE.md), in torch."""
    batch, n = x.shape
    k, q, p = w1.shape
    l, s, r = w2.shape
    out1 = torch.bmm(x.reshape(batch, k, p).transpose(0, 1), w1.transpose(-1, -2))  # (k, B, q)
    out1 = out1.transpose(0, 1).reshape(batch, r, l).transpose(-1, -2).contiguous().transpose(0, 1)  # (l, B, r)
    out2 = torch.bmm(out1, w2.transpose(-1, -2))  # (l, B, s)
    return out2.permute(1, 2, 0).reshape(batch, s * l)


class FlyMonarchLinear(torch.nn.Module):
    """fly's MonarchLinear as its source defines it (parameters blkdiag1, blkdiag2, bias)."""

    def __init__(self, in_features, out_features, nblocks=4):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        in_blk, out_blk = math.ceil(in_features / nblocks), math.ceil(out_features / nblocks)
        if nblocks * in_blk < nblocks * out_blk:
            s1, s2 = (nblocks, in_blk, in_blk), (nblocks, out_blk, in_blk)
        else:
            s1, s2 = (nblocks, out_blk, in_blk), (nblocks, out_blk, out_blk)
        self.blkdiag1 = torch.nn.Parameter(torch.randn(s1, dtype=torch.float64) / math.sqrt(in_blk))
        self.blkdiag2 = torch.nn.Parameter(torch.randn(s2, dtype=torch.float64) / math.sqrt(s2[-1]))
        self.bias = torch.nn.Parameter(torch.randn(out_features, dtype=torch.float64))
        self.in_padded = nblocks * in_blk

    def forward(self, x):
        xp = torch.nn.functional.pad(x, (0, self.in_padded - self.in_features))
        y = fly_blockdiag_butterfly_multiply(xp.reshape(-1, self.in_padded), self.blkdiag1, self.blkdiag2)
        return y[:, :self.out_features].reshape(*x.shape[:-1], self.out_features) + self.bias


def rel(a, b):
    a, b = a.double(), b.double()
    return ((a - b).norm() / b.norm()).item()


def test_monarch_linear_loads_fly_state_dict_forward_and_backward(ctx):
    torch.manual_seed(1)
    fly = FlyMonarchLinear(45, 70, nblocks=5)
    ours = vt.MonarchLinear(45, 70, nblocks=5)
    ours.load_state_dict({k: v.float() for k, v in fly.state_dict().items()})
    x = torch.randn(2, 6, 45, dtype=torch.float64)
    xf = x.float().requires_grad_()
    y = ours(xf)
    want = fly(x)
    assert rel(y, want) < 2e-6
    dy = torch.randn_like(want)
    want.backward(dy)
    y.backward(dy.float())
    assert rel(ours.blkdiag1.grad, fly.blkdiag1.grad) < 2e-6
    assert rel(ours.blkdiag2.grad, fly.blkdiag2.grad) < 2e-6
    assert rel(ours.bias.grad, fly.bias.grad) < 2e-6
    x.requires_grad_()
    fly(x).backward(dy)
    assert rel(xf.grad, x.grad) < 2e-6
    from_fly = vt.MonarchLinear.from_fly(fly.float())
    assert rel(from_fly(xf.detach()), want) < 2e-6


def test_monarch_gradcheck_shapes_with_autograd(ctx):
    w1 = torch.randn(3, 4, 2, requires_grad=True)
    w2 = torch.randn(4, 3, 3, requires_grad=True)
    x = torch.randn(5, 6, requires_grad=True)
    y = vt.monarch(x, w1, w2)
    ref = fly_blockdiag_butterfly_multiply(x.double(), w1.double(), w2.double())
    assert rel(y, ref) < 2e-6
    y.square().sum().backward()
    g = [t.grad.clone() for t in (x, w1, w2)]
    for t in (x, w1, w2):
        t.grad = None
    fly_blockdiag_butterfly_multiply(x, w1, w2).square().sum().backward()
    for got, t in zip(g, (x, w1, w2)):
        assert rel(got, t.grad) < 1e-5


def test_blockdiag_linear_matches_m2(ctx):
    torch.manual_seed(2)
    layer = vt.BlockdiagLinear(24, 18, nblocks=3)
    x = torch.randn(7, 24, requires_grad=True)
    y = layer(x)
    w = layer.weight.detach().double()
    dense = torch.block_diag(*w)  # (18, 24)
    want = x.detach().double() @ dense.T + layer.bias.detach().double()
    assert rel(y, want) < 2e-6
    y.sum().backward()
    assert rel(x.grad, torch.ones(7, 18, dtype=torch.float64) @ dense) < 2e-6


def test_monarch_from_dense_projection(ctx):
    torch.manual_seed(3)
    fly = FlyMonarchLinear(32, 32, nblocks=4).float()
    dense = torch.nn.Linear(32, 32)
    with torch.no_grad():  # a dense layer that is exactly Monarch: its projection recovers it
        dense.weight.copy_((fly(torch.eye(32)) - fly.bias).T)
        dense.bias.copy_(fly.bias)
    layer = vt.MonarchLinear.from_dense(dense, nblocks=4)
    assert layer.projection["relative_error"] < 1e-5
    x = torch.randn(4, 32)
    assert rel(layer(x), dense(x)) < 1e-5


# ---- Muon ---------------------------------------------------------------------------------------

def muon_reference_step(p, g, buf, lr, beta=0.95, steps=5, eps=1e-7):
    """Muon's update from REFERENCE.md / KellerJordan's muon_update, in float64."""
    buf.mul_(beta).add_(g, alpha=1 - beta)  # momentum.lerp_(grad, 1 - beta)
    u = g * (1 - beta) + buf * beta  # Nesterov: grad.lerp_(momentum, beta)
    x = u.clone()
    tall = x.shape[0] > x.shape[1]
    if tall:
        x = x.T
    x = x / (x.norm() + eps)
    for _ in range(steps):
        a = x @ x.T
        x = 3.4445 * x + (-4.7750 * a + 2.0315 * a @ a) @ x
    if tall:
        x = x.T
    p.add_(x, alpha=-lr * max(1, g.shape[0] / g.shape[1]) ** 0.5)


def test_muon_matches_the_reference_over_steps(ctx):
    torch.manual_seed(4)
    w_tall, w_wide = torch.randn(40, 17), torch.randn(12, 30)
    params = [torch.nn.Parameter(w_tall.clone()), torch.nn.Parameter(w_wide.clone())]
    opt = vt.optim.Muon(params, lr=0.05)
    ref = [w_tall.double(), w_wide.double()]
    bufs = [torch.zeros_like(r) for r in ref]
    for step in range(3):
        grads = [torch.randn_like(p) for p in params]
        for p, g in zip(params, grads):
            p.grad = g.clone()
        opt.step()
        for r, g, b in zip(ref, grads, bufs):
            muon_reference_step(r, g.double(), b, 0.05)
        for p, r, b in zip(params, ref, bufs):
            assert rel(p.detach(), r) < 1e-5
            assert rel(opt.momentum_buffer(p), b) < 1e-6


def test_muon_refuses_vectors(ctx):
    p = torch.nn.Parameter(torch.randn(5))
    p.grad = torch.randn(5)
    with pytest.raises(ValueError, match="not a matrix"):
        vt.optim.Muon([p]).step()


def test_newton_schulz_hook_matches_dion_signature(ctx):
    g = torch.randn(3, 20, 52)
    out = vt.newton_schulz(g, epsilon=1e-7)
    assert out.shape == g.shape and out.dtype == g.dtype
    for i in range(3):
        ref = torch.zeros(20, 52, dtype=torch.float64)
        muon_reference_step(ref, g[i].double(), torch.zeros(20, 52, dtype=torch.float64), lr=-1.0, beta=0.0)
        assert rel(out[i], ref) < 1e-4
    half = vt.newton_schulz(g[0].bfloat16(), 1e-7)
    assert half.dtype == torch.bfloat16 and rel(half.float(), out[0]) < 2e-2


# ---- PEFT ---------------------------------------------------------------------------------------

def _peft_model(kind):
    peft = pytest.importorskip("peft", reason="PEFT is not installed: LoRALinear.from_peft untested against it")

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = torch.nn.Linear(40, 56)
            self.fc2 = torch.nn.Linear(56, 24)

        def forward(self, x):
            return self.fc2(torch.relu(self.fc1(x)))

    torch.manual_seed(5)
    if kind == "lora":
        cfg = peft.LoraConfig(r=6, lora_alpha=12, target_modules=["fc1", "fc2"], init_lora_weights=False)
    else:
        if not hasattr(peft, "RandLoraConfig"):
            pytest.skip(f"PEFT {peft.__version__} has no RandLoRA")
        cfg = peft.RandLoraConfig(r=4, randlora_alpha=20, target_modules=["fc1", "fc2"])
    try:
        model = peft.get_peft_model(Net(), cfg).eval()
    except TypeError as e:  # PEFT's RandLoRA initialisation needs torch >= 2 (kaiming_uniform_(generator=))
        print(f"SKIP: PEFT {peft.__version__} {kind} does not run on torch {torch.__version__}: {e}")
        pytest.skip(f"PEFT {peft.__version__} {kind} does not run on torch {torch.__version__}: {e}")
    if kind == "randlora":  # PEFT initialises gamma to ones: make the test see gamma's role
        with torch.no_grad():
            for name, prm in model.named_parameters():
                if "randlora_gamma" in name or "randlora_lambda" in name:
                    prm.normal_()
    return model


@pytest.mark.parametrize("kind", ["lora", "randlora"])
def test_lora_linear_from_peft_matches_peft(ctx, kind):
    model = _peft_model(kind)
    for name in ("fc1", "fc2"):
        layer = getattr(model.base_model.model, name)
        ours = vt.LoRALinear.from_peft(layer)
        x = torch.randn(9, layer.in_features)
        with torch.no_grad():
            want = layer(x)
        assert rel(ours(x), want) < 2e-5
        ours.merge()
        assert rel(ours(x), want) < 2e-5
        with torch.no_grad():
            layer.merge()
            merged = layer.get_base_layer().weight.detach().clone()
            layer.unmerge()
        assert rel(ours.merged_weight(), merged) < 2e-6
        ours.unmerge()
        assert rel(ours.merged_weight(), layer.get_base_layer().weight.detach()) < 1e-6


def test_multi_lora_serves_several_peft_adapters(ctx):
    peft = pytest.importorskip("peft", reason="PEFT is not installed")
    model = _peft_model("lora")
    torch.manual_seed(6)
    model.add_adapter("second", peft.LoraConfig(r=3, lora_alpha=5, target_modules=["fc1", "fc2"],
                                               init_lora_weights=False))
    layer = model.base_model.model.fc1
    ours = vt.MultiLoRALinear.from_peft(layer, ["default", "second"])
    x = torch.randn(8, 40)
    ids = ["default", "second", "second", "default", "second", "default", "default", "second"]
    y = ours(x, ids)
    with torch.no_grad():
        want = torch.cat([layer(x[i:i + 1], adapter_names=[ids[i]]) for i in range(8)])
    assert rel(y, want) < 2e-5
    base_rows = ours(x, [-1] * 8)
    with torch.no_grad():
        assert rel(base_rows, layer.get_base_layer()(x)) < 2e-6


def test_lora_linear_randlora_and_lora_adapters_together(ctx):
    """RandLoRA + LoRA on one layer (PEFT's attribute layout given directly), against the
    float64 oracle of REFERENCE.md's RandLoRA formula; merge/unmerge too."""
    import oracles

    torch.manual_seed(7)
    out_f, in_f, r, n = 30, 22, 4, 6
    w, bias = torch.randn(out_f, in_f), torch.randn(out_f)
    basis_a, basis_b = torch.randn(r, 1, 31), torch.randn(33, 7, r)
    lam, gamma = torch.randn(r, n), torch.randn(n, in_f)
    a, b = torch.randn(3, in_f), torch.randn(out_f, 3)
    layer = vt.LoRALinear(w, bias, [("randlora", basis_a, basis_b, lam, gamma, 0.6), ("lora", a, b, 2.0)])
    x = torch.randn(5, in_f)
    x64 = x.double().numpy()
    want = (x64 @ w.double().numpy().T + bias.double().numpy()
            + oracles.randlora_delta(x64, basis_a, basis_b, lam, gamma, 0.6, out_f)
            + 2.0 * (x64 @ a.double().numpy().T) @ b.double().numpy().T)
    assert rel(layer(x), torch.from_numpy(want)) < 5e-6
    layer.merge()
    assert rel(layer(x), torch.from_numpy(want)) < 5e-6
    layer.unmerge()
    assert rel(layer.merged_weight(), w) < 1e-6
