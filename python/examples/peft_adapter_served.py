"""A PEFT LoRA model served with vkstruct: each adapted layer becomes a fused LoRA layer
(one pass over W), two adapters share one batch, and merge() folds them into W.

    python peft_adapter_served.py
"""
import torch

import vkstruct.torch as vt


def main():
    import peft

    torch.manual_seed(0)
    base = torch.nn.Sequential(torch.nn.Linear(128, 256), torch.nn.GELU(), torch.nn.Linear(256, 64))
    model = peft.get_peft_model(base, peft.LoraConfig(r=8, lora_alpha=16, target_modules=["0", "2"],
                                                      init_lora_weights=False)).eval()
    model.add_adapter("support", peft.LoraConfig(r=4, lora_alpha=4, target_modules=["0", "2"],
                                                 init_lora_weights=False))
    net = model.base_model.model
    served = torch.nn.Sequential(vt.LoRALinear.from_peft(net[0], ["default"]), torch.nn.GELU(),
                                 vt.LoRALinear.from_peft(net[2], ["default"]))
    x = torch.randn(32, 128)
    with torch.no_grad():
        want = model(x)
    err = ((served(x) - want).norm() / want.norm()).item()
    print(f"fused LoRA vs PEFT: relative difference {err:.2e}")

    multi = vt.MultiLoRALinear.from_peft(net[0], ["default", "support"])
    ids = [i % 2 for i in range(32)]
    with torch.no_grad():
        want0 = torch.cat([net[0](x[i:i + 1], adapter_names=[["default", "support"][ids[i]]]) for i in range(32)])
    err_multi = ((multi(x, ids) - want0).norm() / want0.norm()).item()
    print(f"two adapters in one batch vs PEFT: relative difference {err_multi:.2e}")
    served[0].merge()
    served[2].merge()
    err_merged = ((served(x) - want).norm() / want.norm()).item()
    print(f"merged: relative difference {err_merged:.2e}")
    return max(err, err_multi, err_merged)


if __name__ == "__main__":
    assert main() < 1e-4
