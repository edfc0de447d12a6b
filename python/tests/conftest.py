"""Tests run on lavapipe unless VKS_DEVICE names another device, with the validation layer
on: any validation message fails the test that caused it (as in the C suite)."""
import os

import numpy as np
import pytest

os.environ.setdefault("VKS_DEVICE", "llvmpipe")

import vkstruct  # noqa: E402


@pytest.fixture(scope="session")
def ctx():
    c = vkstruct.Context(validation=True)
    vkstruct.set_default_context(c)
    yield c
    c.close()


@pytest.fixture(autouse=True)
def no_validation_messages(ctx):
    before = len(ctx.messages)
    yield
    errors = [m for m in ctx.messages[before:] if m[0] == 0 and m[1] >= 1]
    assert not errors, f"validation messages: {errors}"


@pytest.fixture
def rng(request):
    return np.random.default_rng(abs(hash(request.node.name)) % 2**32)


def rel_err(got, want):
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, (got.shape, want.shape)
    assert np.all(np.isfinite(got)), "non-finite output"
    return np.linalg.norm(got - want) / max(np.linalg.norm(want), 1e-300)


TOL = {np.float32: 2e-5, np.float64: 1e-12, np.float16: 3e-3}
