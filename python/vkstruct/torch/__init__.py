"""torch front ends of vkstruct, on CPU tensors (copied to and from the Vulkan device): for
machines whose GPU torch does not support (AMD, Intel, Apple through MoltenVK) and for
checking against the peers' own modules. Importing it needs torch; the rest of vkstruct
does not.

    vkstruct.torch.MonarchLinear / BlockdiagLinear   fly / m2 layers (their state dicts)
    vkstruct.torch.LoRALinear.from_peft(layer)       PEFT LoRA / RandLoRA, merge/unmerge
    vkstruct.torch.MultiLoRALinear                   several adapters per batch
    vkstruct.torch.optim.Muon                        Muon with NS and momentum on the device
    vkstruct.torch.newton_schulz(input, epsilon)     Dion's newton_schulz_func hook
    vkstruct.torch.monarch / blockdiag               differentiable ops (custom ops on torch >= 2.4)
"""
from ._bridge import to_device, to_torch  # noqa: F401
from ._ops import CUSTOM_OPS, blockdiag, monarch, newton_schulz  # noqa: F401
from ._monarch import BlockdiagLinear, MonarchLinear  # noqa: F401
from ._lora import LoRALinear, MultiLoRALinear  # noqa: F401
from . import optim  # noqa: F401
