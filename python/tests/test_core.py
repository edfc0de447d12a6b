import threading

import numpy as np
import pytest

import vkstruct
from conftest import rel_err


def test_devices_lists_lavapipe_usable():
    devs = vkstruct.devices()
    assert devs and any(d.usable for d in devs)
    assert all(isinstance(d.name, str) and d.name for d in devs)


def test_context_device_and_stats(ctx):
    assert "llvmpipe" in ctx.device["name"] or ctx.device["usable"]
    assert ctx.stats()["live_buffers"] >= 0


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.float64, np.int32, np.int64])
def test_roundtrip_dtypes(ctx, rng, dtype):
    x = (rng.standard_normal((3, 5, 7)) * 100).astype(dtype)
    a = vkstruct.asarray(x)
    assert a.dtype == np.dtype(dtype) and a.shape == x.shape and a.strides == x.strides
    assert np.array_equal(np.asarray(a), x)
    assert np.array_equal(a.numpy(), x)


def test_bfloat16_round_to_nearest_even(ctx):
    x = np.array([1.0, -2.5, 3.14159, 1e-3, 65504.0, np.inf, np.nan], dtype=np.float32)
    a = vkstruct.asarray(x, dtype="bfloat16")
    back = a.numpy()
    got = back.astype(np.float32) if back.dtype != np.uint16 else vkstruct.bfloat16_to_float32(back)
    bits = x.view(np.uint32)
    want = (((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16) << 16).astype(np.uint32).view(np.float32)
    assert np.array_equal(got[:-1], want[:-1]) and np.isnan(got[-1])


def test_views_and_copy(ctx, rng):
    x = rng.standard_normal((6, 9)).astype(np.float32)
    a = vkstruct.asarray(x)
    assert np.array_equal(a.T.numpy(), x.T)
    assert np.array_equal(a[1:5:2, 3:].numpy(), x[1:5:2, 3:])
    assert np.array_equal(a[2].numpy(), x[2])
    assert np.array_equal(a.reshape(3, -1).numpy(), x.reshape(3, -1))
    assert np.array_equal(a.T.copy().numpy(), x.T)
    with pytest.raises(vkstruct.InvalidArgumentError, match="not contiguous"):
        a.T.reshape(-1)


def test_unsupported_dtype_is_refused_not_converted(ctx):
    with pytest.raises(vkstruct.DtypeMismatchError, match="int8 is not supported"):
        vkstruct.asarray(np.zeros(3, dtype=np.int8))
    with pytest.raises(TypeError, match="complex128"):
        vkstruct.asarray(np.zeros(3, dtype=np.complex128))


def test_error_carries_status_and_library_message(ctx):
    a = np.ones((4, 3), np.float32)
    with pytest.raises(vkstruct.ShapeMismatchError) as e:
        vkstruct.gemm(a, a)
    assert e.value.status == -2 and e.value.message.startswith("vks_gemm")
    assert "inner dimensions" in e.value.message
    with pytest.raises(vkstruct.DtypeMismatchError, match=r"vks_gemm(_ex)?: a, b, c have dtypes f32, f64"):
        vkstruct.gemm(a, a.T.astype(np.float64))
    with pytest.raises(ValueError):  # the subclasses are also the matching Python errors
        vkstruct.gemm(a, a)


def test_dlpack_legacy_and_versioned(ctx, rng):
    torch = pytest.importorskip("torch")
    t = torch.randn(4, 6)
    assert np.array_equal(vkstruct.from_dlpack(t).numpy(), t.numpy())
    assert np.array_equal(vkstruct.asarray(t.t()).numpy(), t.t().numpy())  # strided
    back = torch.from_dlpack(vkstruct.asarray(t.numpy()))
    assert torch.equal(back, t)
    x = rng.standard_normal((3, 2))
    assert np.array_equal(np.from_dlpack(vkstruct.asarray(x)), x)
    if np.lib.NumpyVersion(np.__version__) >= "2.0.0":
        capsule = x.__dlpack__(max_version=(1, 0))
        assert np.array_equal(vkstruct.from_dlpack(capsule).numpy(), x)
    else:
        print("numpy < 2: versioned capsules checked with a hand-made one below")


def test_dlpack_versioned_capsule(ctx):
    """A DLPack 1.0 capsule ("dltensor_versioned") built here with ctypes, as numpy >= 2 makes them."""
    import ctypes

    class Device(ctypes.Structure):
        _fields_ = [("device_type", ctypes.c_int), ("device_id", ctypes.c_int)]

    class DType(ctypes.Structure):
        _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]

    class Tensor(ctypes.Structure):
        _fields_ = [("data", ctypes.c_void_p), ("device", Device), ("ndim", ctypes.c_int), ("dtype", DType),
                    ("shape", ctypes.POINTER(ctypes.c_int64)), ("strides", ctypes.POINTER(ctypes.c_int64)),
                    ("byte_offset", ctypes.c_uint64)]

    deleted = []
    Deleter = ctypes.CFUNCTYPE(None, ctypes.c_void_p)

    class Versioned(ctypes.Structure):
        _fields_ = [("major", ctypes.c_uint32), ("minor", ctypes.c_uint32), ("manager_ctx", ctypes.c_void_p),
                    ("deleter", Deleter), ("flags", ctypes.c_uint64), ("dl_tensor", Tensor)]

    data = np.arange(12, dtype=np.float64).reshape(3, 4)
    shape = (ctypes.c_int64 * 2)(3, 4)
    strides = (ctypes.c_int64 * 2)(1, 3)  # read as the transpose's layout: column-major
    deleter = Deleter(lambda p: deleted.append(p))
    m = Versioned(1, 0, None, deleter, 0, Tensor(data.ctypes.data, Device(1, 0), 2, DType(2, 64, 1), shape, strides, 0))
    make = ctypes.pythonapi.PyCapsule_New
    make.restype, make.argtypes = ctypes.py_object, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
    capsule = make(ctypes.addressof(m), b"dltensor_versioned", None)
    a = vkstruct.from_dlpack(capsule)
    want = np.lib.stride_tricks.as_strided(data.reshape(-1), (3, 4), (8, 24))
    assert np.array_equal(a.numpy(), want)
    assert deleted, "the consumer calls the deleter once it has copied the tensor"


def test_arrays_outlive_their_context(rng):
    x = rng.standard_normal((5, 5)).astype(np.float32)
    c = vkstruct.Context()
    a = vkstruct.asarray(x, ctx=c)
    y = vkstruct.gemm(a, a)
    del c  # the arrays keep it alive
    assert rel_err(y.numpy(), x.astype(np.float64) @ x) < 1e-5
    c2 = y.ctx
    c2.close()  # explicit close frees them: reading then raises, never crashes
    with pytest.raises(vkstruct.Error, match="context was closed"):
        y.numpy()
    with pytest.raises(vkstruct.Error, match="closed"):
        vkstruct.gemm(a, a)
    del a, y


def test_inputs_on_two_contexts_are_refused(ctx):
    other = vkstruct.Context()
    a = vkstruct.asarray(np.ones((2, 2), np.float32), ctx=other)
    with pytest.raises(vkstruct.InvalidArgumentError, match="b lives on another context"):
        vkstruct.gemm(a, vkstruct.asarray(np.ones((2, 2), np.float32)))
    other.close()


def test_threads_share_one_context(ctx):
    results, errors = {}, []

    def work(i):
        try:
            r = np.random.default_rng(i)
            a = r.standard_normal((33, 17)).astype(np.float32)
            b = r.standard_normal((17, 29)).astype(np.float32)
            for _ in range(5):
                c = vkstruct.gemm(a, b)
            results[i] = rel_err(c.numpy(), a.astype(np.float64) @ b)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 6 and max(results.values()) < 1e-5


def test_threads_with_their_own_contexts():
    errors = []

    def work(i):
        try:
            with vkstruct.Context() as c:
                x = np.random.default_rng(i).standard_normal((20, 20))
                w, _ = vkstruct.orth.eigh(vkstruct.asarray(x @ x.T, ctx=c))
                assert np.allclose(w.numpy(), np.linalg.eigvalsh(x @ x.T), atol=1e-9)
        except Exception as e:  # pragma: no cover
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def test_synchronize_and_default_context(ctx):
    assert vkstruct.default_context() is ctx
    y = vkstruct.gemm(np.eye(3, dtype=np.float32), np.eye(3, dtype=np.float32))
    vkstruct.synchronize()
    assert np.array_equal(y.numpy(), np.eye(3))


def test_zeros_full(ctx):
    assert np.array_equal(vkstruct.zeros((3, 5)).numpy(), np.zeros((3, 5)))
    assert np.array_equal(vkstruct.full((2, 3), 7.5, np.float64).numpy(), np.full((2, 3), 7.5))


def test_context_tuning(rng):
    from vkstruct._ffi import lib

    if not hasattr(lib, "vks_context_get_tuning"):
        print("this library has no per-context tuning: Context(tuning=) must refuse")
        with pytest.raises(vkstruct.UnsupportedError, match="per-context tuning"):
            vkstruct.Context(tuning={"kernels": "VKS_KERNELS_GPU"})
        return
    with pytest.raises(vkstruct.InvalidArgumentError, match="no field 'bogus'"):
        vkstruct.Context(tuning={"bogus": 1})
    with pytest.raises(vkstruct.InvalidArgumentError, match="kernels 'VKS_KERNELS_NOPE' is not one of"):
        vkstruct.Context(tuning={"kernels": "VKS_KERNELS_NOPE"})
    with vkstruct.Context(tuning={"kernels": "VKS_KERNELS_GPU"}) as c:
        assert c.tuning["kernels"] == "VKS_KERNELS_GPU"
        a, b = rng.standard_normal((19, 45)).astype(np.float32), rng.standard_normal((45, 23)).astype(np.float32)
        assert rel_err(vkstruct.gemm(vkstruct.asarray(a, ctx=c), b).numpy(), a.astype(np.float64) @ b) < 2e-6


def test_stats_as_dict(ctx):
    s = ctx.stats()
    assert isinstance(s, dict) and s["live_buffers"] >= 0 and "struct_size" not in s
