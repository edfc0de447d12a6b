"""Contexts, device arrays and errors: the Python face of include/vkstruct/vkstruct.h."""
import os
import threading
import weakref

import numpy as np

from ._ffi import ffi, lib

try:  # numpy has no bfloat16; ml_dtypes (jax's) gives it one when installed
    import ml_dtypes as _ml_dtypes

    _NP_BF16 = np.dtype(_ml_dtypes.bfloat16)
except Exception:  # pragma: no cover - absent, or built for another numpy
    _NP_BF16 = None

# ---- errors ---------------------------------------------------------------------------


class Error(RuntimeError):
    """A failed vkstruct call: .status (the vks_status value), .status_name and .message
    (vks_last_error's text, which names the function, the argument and what was expected)."""

    def __init__(self, status, message):
        self.status = int(status)
        self.status_name = ffi.string(lib.vks_status_string(status)).decode()
        self.message = message
        super().__init__(f"{message} [{self.status_name}]" if message else self.status_name)


def _error_class(name, *bases):
    return type(name, (Error,) + bases, {"__doc__": f"vkstruct.Error for {name}."})


InvalidArgumentError = _error_class("InvalidArgumentError", ValueError)
ShapeMismatchError = _error_class("ShapeMismatchError", ValueError)
DtypeMismatchError = _error_class("DtypeMismatchError", TypeError)
UnsupportedError = _error_class("UnsupportedError")
OutOfRangeError = _error_class("OutOfRangeError", ValueError)
OutOfMemoryError = _error_class("OutOfMemoryError", MemoryError)
NoDeviceError = _error_class("NoDeviceError")
VulkanError = _error_class("VulkanError")
DeviceLostError = _error_class("DeviceLostError")
NotPositiveDefiniteError = _error_class("NotPositiveDefiniteError", np.linalg.LinAlgError)
NonFiniteError = _error_class("NonFiniteError", ValueError)
NotConvergedError = _error_class("NotConvergedError")
IOErrorVks = _error_class("IOError", OSError)

# Status values come from the header's enum (cffi reads it), never from a copy here.
_STATUS = ffi.typeof("vks_status").relements
_ERROR_BY_STATUS = {
    _STATUS["VKS_ERROR_INVALID_ARGUMENT"]: InvalidArgumentError,
    _STATUS["VKS_ERROR_SHAPE_MISMATCH"]: ShapeMismatchError,
    _STATUS["VKS_ERROR_DTYPE_MISMATCH"]: DtypeMismatchError,
    _STATUS["VKS_ERROR_UNSUPPORTED"]: UnsupportedError,
    _STATUS["VKS_ERROR_OUT_OF_RANGE"]: OutOfRangeError,
    _STATUS["VKS_ERROR_OUT_OF_HOST_MEMORY"]: OutOfMemoryError,
    _STATUS["VKS_ERROR_OUT_OF_DEVICE_MEMORY"]: OutOfMemoryError,
    _STATUS["VKS_ERROR_NO_DEVICE"]: NoDeviceError,
    _STATUS["VKS_ERROR_VULKAN"]: VulkanError,
    _STATUS["VKS_ERROR_DEVICE_LOST"]: DeviceLostError,
    _STATUS["VKS_ERROR_NOT_POSITIVE_DEFINITE"]: NotPositiveDefiniteError,
    _STATUS["VKS_ERROR_NON_FINITE"]: NonFiniteError,
    _STATUS["VKS_ERROR_NOT_CONVERGED"]: NotConvergedError,
    _STATUS["VKS_ERROR_IO"]: IOErrorVks,
}


def check(status):
    """Raises the Error subclass of a failed status with this thread's vks_last_error."""
    if status != 0:
        message = ffi.string(lib.vks_last_error(ffi.NULL)).decode(errors="replace")
        raise _ERROR_BY_STATUS.get(status, Error)(status, message)


def fail(cls, message):
    """A Python-side argument error in the library's style (no C call was made)."""
    status = {InvalidArgumentError: "VKS_ERROR_INVALID_ARGUMENT", ShapeMismatchError: "VKS_ERROR_SHAPE_MISMATCH",
              DtypeMismatchError: "VKS_ERROR_DTYPE_MISMATCH", UnsupportedError: "VKS_ERROR_UNSUPPORTED"}[cls]
    raise cls(_STATUS[status], message)


# ---- structs with the library's defaults ------------------------------------------------


def new_struct(name, **fields):
    """A `vks_<name>` filled with the library's defaults (vks_struct_init with the
    VKS_STRUCT_<NAME> the header defines), then the given fields."""
    ctype = "vks_" + name
    p = ffi.new(ctype + " *")
    check(lib.vks_struct_init(getattr(lib, "VKS_STRUCT_" + name.upper()), p, ffi.sizeof(ctype)))
    for k, v in fields.items():
        setattr(p, k, v)
    return p


def as_python(value, ctype):
    """A struct as a dict (recursively), arrays as lists, enums by name."""
    if ctype.kind == "struct":
        return {n: as_python(getattr(value, n), f.type) for n, f in ctype.fields if n != "struct_size"}
    if ctype.kind == "array":
        return [as_python(v, ctype.item) for v in value]
    if ctype.kind == "enum":
        return ctype.elements.get(value, value)
    return value


def set_fields(struct, values, where):
    """Sets struct fields from a dict (nested dicts for nested structs; enum values by name
    or number), refusing unknown names."""
    fields = dict(ffi.typeof(struct).fields if ffi.typeof(struct).kind == "struct"
                  else ffi.typeof(struct).item.fields)
    for k, v in dict(values).items():
        if k == "struct_size" or k not in fields:
            fail(InvalidArgumentError, f"{where}: no field {k!r} (fields: {', '.join(n for n in fields if n != 'struct_size')})")
        ftype = fields[k].type
        if ftype.kind == "struct" and isinstance(v, dict):
            set_fields(getattr(struct, k), v, f"{where}.{k}")
        elif ftype.kind == "enum" and isinstance(v, str):
            if v not in ftype.relements:
                fail(InvalidArgumentError, f"{where}: {k} {v!r} is not one of {', '.join(ftype.relements)}")
            setattr(struct, k, ftype.relements[v])
        else:
            setattr(struct, k, v)


# ---- dtypes -----------------------------------------------------------------------------

_VKS_DTYPE = {
    np.dtype(np.float32): lib.VKS_DTYPE_F32,
    np.dtype(np.float16): lib.VKS_DTYPE_F16,
    np.dtype(np.float64): lib.VKS_DTYPE_F64,
    np.dtype(np.int32): lib.VKS_DTYPE_I32,
    np.dtype(np.int64): lib.VKS_DTYPE_I64,
}
if _NP_BF16 is not None:
    _VKS_DTYPE[_NP_BF16] = lib.VKS_DTYPE_BF16


class _BFloat16:
    """vkstruct.bfloat16 when ml_dtypes is absent: arrays of it read back as uint16 bit
    patterns (the upper half of the float32's bits)."""

    name = "bfloat16"
    itemsize = 2

    def __repr__(self):
        return "vkstruct.bfloat16"


bfloat16 = _NP_BF16 if _NP_BF16 is not None else _BFloat16()
_NAMES = {"float32": np.float32, "float16": np.float16, "float64": np.float64, "int32": np.int32,
          "int64": np.int64, "f32": np.float32, "f16": np.float16, "f64": np.float64}


def _canonical_dtype(dtype):
    """numpy dtype, or the bfloat16 marker; TypeError naming what is supported otherwise."""
    if dtype is None:
        return None
    if dtype is bfloat16 or dtype in ("bfloat16", "bf16"):
        return bfloat16
    try:
        dt = np.dtype(_NAMES.get(dtype, dtype) if isinstance(dtype, str) else dtype)
    except TypeError:
        dt = None
    if dt is None or dt not in _VKS_DTYPE:
        fail(DtypeMismatchError, f"vkstruct: dtype {dtype} is not supported "
             "(expected float16, bfloat16, float32, float64, int32 or int64)")
    return dt


def _vks_dtype(dtype):
    return lib.VKS_DTYPE_BF16 if dtype is bfloat16 else _VKS_DTYPE[dtype]


def _host_dtype(dtype):
    """The numpy dtype that holds the bytes on the host (uint16 bits for bfloat16 without ml_dtypes)."""
    return np.dtype(np.uint16) if dtype is bfloat16 and _NP_BF16 is None else dtype


def _to_bfloat16_bits(a):
    """float -> bfloat16 bit patterns, round to nearest even (NaN kept NaN)."""
    f = np.ascontiguousarray(a, dtype=np.float32)
    bits = f.view(np.uint32)
    rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)
    return np.where(np.isnan(f), np.uint16(0x7FC0), rounded)


def bfloat16_to_float32(bits):
    """uint16 bfloat16 bit patterns (as read back without ml_dtypes) -> float32."""
    return (np.asarray(bits, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)


# ---- devices and contexts ---------------------------------------------------------------


class DeviceInfo(dict):
    """One Vulkan device as vks_enumerate_devices reports it (a dict with attribute access)."""

    __getattr__ = dict.__getitem__

    def __repr__(self):
        return f"<vkstruct device {self['index']}: {self['name']} ({self['type']})>"


def _info_dict(info):
    d = {}
    for name, _ in ffi.typeof("vks_device_info").fields:
        v = getattr(info, name)
        if name in ("name", "driver_name", "driver_info", "unusable_reason"):
            v = ffi.string(v).decode(errors="replace")
        elif name == "pipeline_cache_uuid":
            v = bytes(v).hex()
        elif isinstance(v, ffi.CData):
            v = list(v)
        d[name] = v
    kinds = {lib.VKS_DEVICE_DISCRETE_GPU: "discrete", lib.VKS_DEVICE_INTEGRATED_GPU: "integrated",
             lib.VKS_DEVICE_VIRTUAL_GPU: "virtual", lib.VKS_DEVICE_CPU: "cpu"}
    d["type"] = kinds.get(d["type"], "other")
    d["features"] = {n[12:].lower() for n, v in ffi.typeof("vks_feature").relements.items() if d["features"] & v}
    d["usable"] = bool(d["usable"])
    return DeviceInfo(d)


def devices():
    """Every Vulkan device vkstruct sees (usable or not), as DeviceInfo dicts."""
    count = ffi.new("uint32_t *")
    check(lib.vks_enumerate_devices(ffi.NULL, 0, count))
    infos = ffi.new("vks_device_info[]", max(count[0], 1))
    for i in range(count[0]):
        infos[i].struct_size = ffi.sizeof("vks_device_info")
    check(lib.vks_enumerate_devices(infos, count[0], count))
    return [_info_dict(infos[i]) for i in range(count[0])]


_contexts_by_handle = weakref.WeakValueDictionary()


@ffi.def_extern()
def vkspy_on_message(user, source, severity, message):
    ctx = _contexts_by_handle.get(int(ffi.cast("uintptr_t", user)))
    if ctx is not None:
        ctx.messages.append((int(source), int(severity), ffi.string(message).decode(errors="replace")))


class Context:
    """One device and its command stream (vks_context).

    Context(device=None, tuning=None, validation=False, profiling=False, cache_dir=None)
      device: an index into vkstruct.devices(), a name substring ("llvmpipe", "NVIDIA"), or
              None ($VKS_DEVICE, else the best device);
      tuning: a dict of vks_tuning fields (per-context kernel choices) where the library
              has per-context tuning;
      validation: enable VK_LAYER_KHRONOS_validation; its messages collect in .messages.
    Arrays keep their context alive; close() (or leaving a `with` block) frees the device
    memory of every array still on it, after which using them raises vkstruct.Error.
    """

    def __init__(self, device=None, tuning=None, validation=False, profiling=False, cache_dir=None):
        self.messages = []
        self._lock = threading.Lock()
        self._buffers = weakref.WeakSet()
        keep = []
        flags = (lib.VKS_CONTEXT_VALIDATION if validation else 0) | (lib.VKS_CONTEXT_PROFILING if profiling else 0)
        opts = new_struct("context_options", flags=flags)
        if isinstance(device, int) and not isinstance(device, bool):
            opts.device_index = device
        elif isinstance(device, str):
            keep.append(ffi.new("char[]", device.encode()))
            opts.device_name = keep[-1]
        elif device is not None:
            fail(InvalidArgumentError, f"vkstruct.Context: device {device!r} is not an index, a name or None")
        if cache_dir is not None:
            keep.append(ffi.new("char[]", os.fsencode(cache_dir)))
            opts.cache_dir = keep[-1]
        self._handle_id = id(self)
        opts.message_callback = lib.vkspy_on_message
        opts.message_user = ffi.cast("void *", self._handle_id)
        _contexts_by_handle[self._handle_id] = self
        if tuning is not None:
            if not hasattr(lib, "vks_context_get_tuning"):
                fail(UnsupportedError, "vkstruct.Context: this build of the library has no per-context tuning")
            t = new_struct("tuning")
            set_fields(t, tuning, "vkstruct.Context: tuning")
            keep.append(t)
            opts.tuning = t
        out = ffi.new("vks_context **")
        check(lib.vks_context_create(opts, out))
        self._ptr = out[0]

    @property
    def ptr(self):
        if self._ptr is None:
            fail(InvalidArgumentError, "vkstruct.Context: the context is closed")
        return self._ptr

    @property
    def device(self):
        """The DeviceInfo of this context's device."""
        info = ffi.new("vks_device_info *")
        info.struct_size = ffi.sizeof("vks_device_info")
        check(lib.vks_context_get_device_info(self.ptr, info))
        return _info_dict(info)

    @property
    def tuning(self):
        """The context's tuning as a dict (where the library has per-context tuning)."""
        if not hasattr(lib, "vks_context_get_tuning"):
            return None
        t = ffi.new("vks_tuning *")
        t.struct_size = ffi.sizeof("vks_tuning")
        check(lib.vks_context_get_tuning(self.ptr, t))
        return as_python(t[0], ffi.typeof("vks_tuning"))

    def stats(self):
        s = ffi.new("vks_context_stats *")
        s.struct_size = ffi.sizeof("vks_context_stats")
        check(lib.vks_context_get_stats(self.ptr, s))
        return as_python(s[0], ffi.typeof("vks_context_stats"))

    def synchronize(self):
        """Runs everything recorded on this context and waits for it (GIL released)."""
        check(lib.vks_synchronize(self.ptr))

    def close(self):
        """Destroys the context and the device memory of every array still on it."""
        if self._ptr is not None:
            for b in list(self._buffers):
                b.ptr = None  # the context frees them all below
            ptr, self._ptr = self._ptr, None
            check(lib.vks_context_destroy(ptr))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # pragma: no cover - interpreter shutdown
            pass

    def __repr__(self):
        return f"<vkstruct.Context {self.device['name'] if self._ptr is not None else 'closed'}>"


_default = None
_default_lock = threading.Lock()


def default_context():
    """The context ops use when no input array names one (created on first use)."""
    global _default
    with _default_lock:
        if _default is None or _default._ptr is None:
            _default = Context()
        return _default


def set_default_context(ctx):
    global _default
    with _default_lock:
        _default = ctx


# ---- device arrays ----------------------------------------------------------------------


class _Buffer:
    """A vks_buffer owned by Python; freed with the last array that uses it."""

    def __init__(self, ctx, nbytes):
        self.ctx, self.ptr = ctx, None
        out = ffi.new("vks_buffer **")
        check(lib.vks_buffer_create(ctx.ptr, max(int(nbytes), 4), out))
        self.ptr = out[0]
        ctx._buffers.add(self)

    def __del__(self):
        try:
            if self.ptr is not None and self.ctx._ptr is not None:
                lib.vks_buffer_destroy(self.ptr)
                self.ptr = None
        except Exception:  # pragma: no cover - interpreter shutdown
            pass


class Array:
    """A device-resident n-d array (rank <= 4) on one Context.

    .dtype (numpy dtype, or vkstruct.bfloat16), .shape, .strides (in bytes, as numpy),
    .ndim, .size, .nbytes, .ctx; .T and .reshape() give views. Reading it (numpy(),
    np.asarray(arr), __dlpack__) runs the ops recorded on its context, then copies back.
    """

    __array_priority__ = 100

    def __init__(self, buffer, dtype, shape, strides=None, offset=0):
        self._buffer = buffer
        self.dtype = dtype
        self.shape = tuple(int(s) for s in shape)
        if strides is None:
            strides, step = [], 1
            for s in reversed(self.shape):
                strides.insert(0, step)
                step *= max(s, 1)
        self._estrides = tuple(int(s) for s in strides)  # in elements
        self._offset = int(offset)  # in elements

    ctx = property(lambda self: self._buffer.ctx)
    ndim = property(lambda self: len(self.shape))
    size = property(lambda self: int(np.prod(self.shape, dtype=np.int64)))
    itemsize = property(lambda self: self.dtype.itemsize)
    nbytes = property(lambda self: self.size * self.itemsize)
    strides = property(lambda self: tuple(s * self.itemsize for s in self._estrides))

    def _ptr(self):
        if self._buffer.ptr is None:
            fail(InvalidArgumentError, "vkstruct.Array: its context was closed; the array's memory is gone")
        return self._buffer.ptr

    def tensor(self):
        """The vks_tensor describing this array (for calls into the C API)."""
        t = ffi.new("vks_tensor *")
        if self.ndim > len(t.shape):
            fail(InvalidArgumentError, f"vkstruct.Array: rank {self.ndim} > {len(t.shape)} (VKS_MAX_DIMS)")
        t.buffer = self._ptr()
        t.byte_offset = self._offset * self.itemsize
        t.dtype = _vks_dtype(self.dtype)
        t.ndim = self.ndim
        for i, (n, s) in enumerate(zip(self.shape, self._estrides)):
            t.shape[i] = n
            t.strides[i] = s
        return t

    @property
    def is_contiguous(self):
        step = 1
        for n, s in zip(reversed(self.shape), reversed(self._estrides)):
            if n != 1 and s != step:
                return False
            step *= n
        return True

    @property
    def T(self):
        """The transpose (a view: reversed shape and strides)."""
        return Array(self._buffer, self.dtype, self.shape[::-1], self._estrides[::-1], self._offset)

    def reshape(self, *shape):
        """A view with another shape (contiguous arrays only; one dimension may be -1)."""
        shape = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        shape = tuple(int(s) for s in np.empty(self.size, dtype=np.int8).reshape(shape).shape)
        if not self.is_contiguous:
            fail(InvalidArgumentError, f"vkstruct.Array.reshape: strides {self.strides} are not contiguous")
        return Array(self._buffer, self.dtype, shape, None, self._offset)

    def __getitem__(self, index):
        """Basic slicing (ints and slices with positive steps) as a view."""
        if not isinstance(index, tuple):
            index = (index,)
        if len(index) > self.ndim:
            raise IndexError(f"too many indices for an array of rank {self.ndim}")
        offset, shape, strides = self._offset, [], []
        for dim, (n, s) in enumerate(zip(self.shape, self._estrides)):
            ix = index[dim] if dim < len(index) else slice(None)
            if isinstance(ix, slice):
                start, stop, step = ix.indices(n)
                if step <= 0:
                    raise IndexError("vkstruct.Array: only positive slice steps")
                offset += start * s
                shape.append(max(0, (stop - start + step - 1) // step))
                strides.append(s * step)
            else:
                i = int(ix) + (n if int(ix) < 0 else 0)
                if not 0 <= i < n:
                    raise IndexError(f"index {ix} is out of bounds for axis {dim} with size {n}")
                offset += i * s
        return Array(self._buffer, self.dtype, shape, strides, offset)

    def numpy(self):
        """A host copy (runs the recorded work first). bfloat16 arrays come back as
        ml_dtypes.bfloat16, or as uint16 bit patterns without ml_dtypes."""
        host = _host_dtype(self.dtype)
        if self.size == 0:
            return np.empty(self.shape, dtype=host)
        lo = self._offset + sum((n - 1) * s for n, s in zip(self.shape, self._estrides) if s < 0)
        hi = self._offset + sum((n - 1) * s for n, s in zip(self.shape, self._estrides) if s > 0)
        raw = np.empty(hi - lo + 1, dtype=host)
        check(lib.vks_buffer_read(self._ptr(), lo * self.itemsize, ffi.from_buffer(raw), raw.nbytes))
        view = np.lib.stride_tricks.as_strided(raw[self._offset - lo:], self.shape, self.strides)
        return np.array(view, copy=True)

    def __array__(self, dtype=None, copy=None):
        a = self.numpy()
        return a if dtype is None else a.astype(dtype)

    def __dlpack__(self, stream=None, max_version=None, dl_device=None, copy=None):
        """A DLPack capsule of a host copy (kDLCPU): np.from_dlpack / torch.from_dlpack."""
        a = self.numpy()
        return a.__dlpack__() if max_version is None else a.__dlpack__(max_version=max_version) \
            if _numpy_takes_max_version() else a.__dlpack__()

    def __dlpack_device__(self):
        return (1, 0)  # kDLCPU: the exchange copies to the host

    def __len__(self):
        return self.shape[0]

    def __repr__(self):
        try:
            body = repr(self.numpy())
        except Error as e:
            body = f"<unreadable: {e}>"
        return f"vkstruct.Array({body}, dtype={self.dtype})"

    def copy(self):
        """A compact device copy (a device-to-device copy when contiguous)."""
        out = empty(self.shape, self.dtype, self.ctx)
        if self.is_contiguous:
            check(lib.vks_buffer_copy(self._ptr(), self._offset * self.itemsize, out._ptr(), 0, self.nbytes))
        else:
            out.write(self.numpy())
        return out

    def write(self, host):
        """Copies a host array of the same shape and dtype into this (compact) array."""
        host = np.ascontiguousarray(host)
        if tuple(host.shape) != self.shape or host.dtype != _host_dtype(self.dtype) or not self.is_contiguous:
            fail(ShapeMismatchError, f"vkstruct.Array.write: src {host.shape} {host.dtype} does not match "
                 f"the compact array {self.shape} {self.dtype}")
        if host.nbytes:
            check(lib.vks_buffer_write(self._ptr(), self._offset * self.itemsize, ffi.from_buffer(host), host.nbytes))
        return self


def _numpy_takes_max_version():
    return np.lib.NumpyVersion(np.__version__) >= "2.0.0"


def empty(shape, dtype=np.float32, ctx=None):
    """An uninitialised compact device array."""
    ctx = ctx or default_context()
    dtype = _canonical_dtype(dtype)
    shape = (int(shape),) if np.isscalar(shape) else tuple(int(s) for s in shape)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    return Array(_Buffer(ctx, nbytes), dtype, shape)


def zeros(shape, dtype=np.float32, ctx=None):
    """A device array of zeros (a recorded fill)."""
    a = empty(shape, dtype, ctx)
    if a.nbytes:
        check(lib.vks_buffer_fill(a._ptr(), 0, (a.nbytes + 3) // 4 * 4, 0))
    return a


def full(shape, value, dtype=np.float32, ctx=None):
    """A device array filled with value."""
    return asarray(np.full(shape, value, dtype=np.float32 if dtype is bfloat16 else dtype), dtype=dtype, ctx=ctx)


def asarray(obj, dtype=None, ctx=None):
    """A device Array from a numpy array, a DLPack producer (torch tensor, numpy >= 2's
    versioned capsules), anything np.asarray takes, or an Array (returned as is when dtype
    and context agree). dtype converts explicitly (for bfloat16 from floats: round to
    nearest even); without it the input's dtype is kept, and unsupported dtypes raise
    DtypeMismatchError (no silent conversion)."""
    dtype = _canonical_dtype(dtype)
    if isinstance(obj, Array):
        if (ctx is None or ctx is obj.ctx) and (dtype is None or dtype == obj.dtype):
            return obj
        obj = obj.numpy() if dtype is not bfloat16 or obj.dtype is bfloat16 else obj.numpy().astype(np.float32)
    elif not isinstance(obj, np.ndarray) and hasattr(obj, "__dlpack__") and dtype is None:
        return from_dlpack(obj, ctx=ctx)
    host = np.asarray(obj)
    if dtype is bfloat16 and (host.dtype == np.uint16 or _NP_BF16 is None):
        # uint16 with dtype bfloat16 is taken as bit patterns (how bfloat16 travels without ml_dtypes)
        host = host if host.dtype == np.uint16 else _to_bfloat16_bits(host)
    elif dtype is not None:
        host = host.astype(dtype, copy=False)
    elif host.dtype not in _VKS_DTYPE:
        fail(DtypeMismatchError, f"vkstruct.asarray: dtype {host.dtype} is not supported (expected float16, "
             "bfloat16, float32, float64, int32 or int64; pass dtype= to convert)")
    out = empty(host.shape, dtype if dtype is not None else host.dtype, ctx)
    return out.write(host if host.dtype != np.uint16 else host.view(_host_dtype(out.dtype)))


# DLPack capsules are read with the CPython capsule API through ctypes.
def _capsule_api():
    import ctypes

    api = ctypes.pythonapi
    api.PyCapsule_GetPointer.restype = ctypes.c_void_p
    api.PyCapsule_GetPointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
    api.PyCapsule_IsValid.restype = ctypes.c_int
    api.PyCapsule_IsValid.argtypes = [ctypes.py_object, ctypes.c_char_p]
    api.PyCapsule_SetName.restype = ctypes.c_int
    api.PyCapsule_SetName.argtypes = [ctypes.py_object, ctypes.c_char_p]
    return api


def from_dlpack(obj, ctx=None):
    """A device Array holding a copy of a DLPack producer's CPU tensor (or a capsule).
    Takes DLPack 1.x versioned capsules ("dltensor_versioned") and legacy ones."""
    ctx = ctx or default_context()
    capsule = obj
    if hasattr(obj, "__dlpack__"):
        try:
            capsule = obj.__dlpack__(max_version=(1, 0))
        except TypeError:
            capsule = obj.__dlpack__()
    api = _capsule_api()
    if api.PyCapsule_IsValid(capsule, b"dltensor_versioned"):
        managed = ffi.cast("vkspy_managed_versioned *", api.PyCapsule_GetPointer(capsule, b"dltensor_versioned"))
        if managed.version.major != 1:
            fail(UnsupportedError, f"vkstruct.from_dlpack: DLPack major version {managed.version.major} (expected 1)")
        dl, used = ffi.addressof(managed, "dl_tensor"), b"used_dltensor_versioned"
        deleter = managed.deleter
    elif api.PyCapsule_IsValid(capsule, b"dltensor"):
        managed = ffi.cast("DLManagedTensor *", api.PyCapsule_GetPointer(capsule, b"dltensor"))
        dl, used, deleter = ffi.addressof(managed, "dl_tensor"), b"used_dltensor", managed.deleter
    else:
        fail(InvalidArgumentError, "vkstruct.from_dlpack: obj is neither a DLPack producer nor an unused capsule")
    t = ffi.new("vks_tensor *")
    owned = ffi.new("vks_buffer **")
    try:
        check(lib.vks_tensor_from_dlpack(ctx.ptr, dl, t, owned))
    finally:
        # The consumer owns the capsule's tensor once it has read it: rename, then release it.
        api.PyCapsule_SetName(capsule, used)
        if deleter != ffi.NULL:
            deleter(managed)
    buf = _Buffer.__new__(_Buffer)
    buf.ctx, buf.ptr = ctx, owned[0]
    ctx._buffers.add(buf)
    dtypes = {lib.VKS_DTYPE_BF16: bfloat16}
    dtypes.update({v: k for k, v in _VKS_DTYPE.items()})
    itemsize = dtypes[t.dtype].itemsize
    return Array(buf, dtypes[t.dtype], list(t.shape)[:t.ndim], list(t.strides)[:t.ndim], t.byte_offset // itemsize)
