"""Generates the cffi (API mode) source of vkstruct._vkstruct from the real C headers.

The cdef is not written by hand: the headers are run through the C preprocessor, only the
declarations of vkstruct's own headers and dlpack.h are kept, and what cffi cannot parse
(attributes, static inline helpers) is dropped. The C compiler then checks every declaration
against the same headers when the module is compiled, so no struct layout is copied into
Python; defaults come from the library at run time (vks_struct_init).

usage: gen_ffi.py --cc CC --out FILE.c -I DIR [-I DIR ...]
"""
import argparse
import re
import subprocess

import cffi

# DLPack 1.x versioned capsules (numpy >= 2, torch >= 2.4) carry DLManagedTensorVersioned,
# which Debian's dlpack.h (0.6) predates. Its layout is fixed by the DLPack 1.0 standard.
DLPACK_VERSIONED = """
typedef struct { uint32_t major; uint32_t minor; } vkspy_dlpack_version;
typedef struct vkspy_managed_versioned {
    vkspy_dlpack_version version;
    void *manager_ctx;
    void (*deleter)(struct vkspy_managed_versioned *self);
    uint64_t flags;
    DLTensor dl_tensor;
} vkspy_managed_versioned;
"""


def strip_inline_functions(text):
    """Drops `static inline` definitions: cffi declares functions, it does not compile bodies."""
    out, pos = [], 0
    for m in re.finditer(r"static\s+inline\b", text):
        if m.start() < pos:
            continue
        out.append(text[pos:m.start()])
        brace = text.index("{", m.end())
        depth, i = 0, brace
        while True:
            if text[i] == "{":
                depth += 1
            elif text[i] == "}":
                depth -= 1
                if depth == 0:
                    break
            i += 1
        pos = i + 1
    out.append(text[pos:])
    return "".join(out)


def strip_attributes(text):
    out, pos = [], 0
    for m in re.finditer(r"__attribute__\s*\(", text):
        if m.start() < pos:
            continue
        out.append(text[pos:m.start()])
        depth, i = 0, m.end() - 1
        while True:
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            if depth == 0:
                break
            i += 1
        pos = i + 1
    out.append(text[pos:])
    return "".join(out)


def preprocessed_declarations(cc, includes):
    """The declarations of vkstruct's headers and dlpack.h, macros expanded."""
    args = [cc, "-E", "-std=c11", "-x", "c", "-"] + [f"-I{d}" for d in includes]
    src = "#include <vkstruct/vkstruct.h>\n#include <vkstruct/mpi_plan.h>\n"
    text = subprocess.run(args, input=src, capture_output=True, text=True, check=True).stdout
    keep, lines = False, []
    for line in text.splitlines():
        if line.startswith("# "):
            path = line.split('"')[1] if '"' in line else ""
            keep = "/vkstruct/" in path or path.endswith("dlpack.h")
            continue
        if keep and not line.startswith("#"):
            lines.append(line)
    return strip_attributes(strip_inline_functions("\n".join(lines)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cc", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("-I", dest="includes", action="append", default=[])
    opts = ap.parse_args()

    decls = preprocessed_declarations(opts.cc, opts.includes)
    ffi = cffi.FFI()
    ffi.cdef(decls)
    ffi.cdef(DLPACK_VERSIONED)
    # Validation-layer and library messages reach Python through this callback.
    ffi.cdef('extern "Python" void vkspy_on_message(void *, vks_message_source, vks_message_severity, const char *);')
    # mpi_plan.h is the MPI-free half of vkstruct_mpi (its partition, compiled into the module
    # from mpi/plan.c): vkstruct.dist plans with the same code the C ranks run.
    ffi.set_source("vkstruct._vkstruct", "#include <vkstruct/vkstruct.h>\n#include <vkstruct/mpi_plan.h>\n"
                   + DLPACK_VERSIONED)
    ffi.emit_c_code(opts.out)


if __name__ == "__main__":
    main()
