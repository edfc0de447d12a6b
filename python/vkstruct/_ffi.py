"""The compiled cffi module (see gen_ffi.py): `ffi` for types, `lib` for the C API."""
from ._vkstruct import ffi, lib  # noqa: F401
