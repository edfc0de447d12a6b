"""What every op wrapper does: inputs to device Arrays on one context, outputs allocated."""
from ._core import Array, InvalidArgumentError, asarray, check, default_context, empty, fail, new_struct  # noqa: F401
from ._ffi import ffi, lib  # noqa: F401


def on_device(*objs, ctx=None, names=None):
    """(ctx, arrays): numpy inputs uploaded as they are (same dtype), Arrays kept; None stays
    None. Every Array must live on one context."""
    for i, o in enumerate(objs):
        if isinstance(o, Array):
            if ctx is None:
                ctx = o.ctx
            elif o.ctx is not ctx:
                name = names[i] if names else f"argument {i}"
                fail(InvalidArgumentError, f"vkstruct: {name} lives on another context than the other inputs")
    ctx = ctx or default_context()
    return ctx, [None if o is None else asarray(o, ctx=ctx) for o in objs]


def tensor(a):
    """The vks_tensor of an Array, or NULL for None."""
    return ffi.NULL if a is None else a.tensor()


ACTIVATIONS = {None: lib.VKS_ACT_NONE, "none": lib.VKS_ACT_NONE, "relu": lib.VKS_ACT_RELU,
               "gelu_tanh": lib.VKS_ACT_GELU_TANH, "gelu": lib.VKS_ACT_GELU_ERF, "gelu_erf": lib.VKS_ACT_GELU_ERF}


def activation(name, fn):
    if name not in ACTIVATIONS:
        fail(InvalidArgumentError, f"{fn}: activation {name!r} is not one of {sorted(k for k in ACTIVATIONS if k)}")
    return ACTIVATIONS[name]


def choice(value, table, fn, arg):
    if value not in table:
        fail(InvalidArgumentError, f"{fn}: {arg} {value!r} is not one of {sorted(map(str, table))}")
    return table[value]
