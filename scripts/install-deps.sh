#!/bin/sh
# Installs what vkstruct needs to build, test and benchmark on Debian 12, and nothing
# that is already there. Idempotent: a second run does no apt work at all.
set -eu

# Build: compiler, CMake, the Vulkan loader headers, volk, the shader toolchain.
# Test: cmocka, lavapipe (Mesa's CPU Vulkan driver) and the validation layers.
# Python package (python/): headers and venv, cffi, pytest, scipy (KroneckerGP.fit) and
# Debian's CPU torch 1.13 (the torch front ends; never PyPI's multi-GB CUDA build).
# Bench report: gnuplot draws the plots; numpy is the always-available CPU peer, on
# OpenBLAS (without it Debian's numpy falls back to the reference BLAS, ~30x slower).
# MPI: Open MPI builds vkstruct_mpi and runs its tests under mpirun (the core needs none);
# mpi4py runs vkstruct.dist's tests under mpirun (python/tests/test_dist.py).
# Run time: liblapack.so.3 (vks_eigh's tridiagonal stage loads it with dlopen; OpenBLAS's
# provides it through Debian's alternatives, liblapack3 is the reference one).
PACKAGES="build-essential cmake ninja-build pkg-config
libvulkan-dev libvulkan-volk-dev glslc spirv-tools
libcmocka-dev libdlpack-dev mesa-vulkan-drivers vulkan-validationlayers
gnuplot-nox python3-numpy libopenblas0-pthread liblapack3
libopenmpi-dev openmpi-bin
python3-dev python3-venv python3-pip python3-cffi python3-pytest python3-scipy python3-torch
python3-mpi4py"

missing=""
for p in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing="$missing $p"
    fi
done

if [ -z "$missing" ]; then
    echo "install-deps: everything is installed"
    exit 0
fi

echo "install-deps: missing:$missing"
SUDO=""
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        echo "install-deps: not root and no password-less sudo." >&2
        echo "  run as root:  apt-get install -y$missing" >&2
        exit 1
    fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-deps: apt-get not found; this script targets Debian 12 (bookworm)." >&2
    echo "  install the equivalents of:$missing" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
echo "install-deps: done"
