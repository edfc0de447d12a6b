#!/bin/sh
# Run here (not on the GPU machine): downloads the Debian packages the GPU machine lacks
# into .gl/ and makes a Release build in build-gpu/ for scripts/gpu/run.sh. Both folders
# are git-ignored (.git/info/exclude) and go to the machine as `carry`.
set -eu
cd "$(dirname "$0")/../.."
mkdir -p .git/info
for p in /.gl/ /build-gpu/; do grep -qx "$p" .git/info/exclude 2>/dev/null || echo "$p" >> .git/info/exclude; done
if [ ! -f .gl/.done ]; then
    mkdir -p .gl /tmp/amd64/partial
    o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
    # shellcheck disable=SC2086
    apt-get $o update -qq
    # shellcheck disable=SC2086
    # NVIDIA's Vulkan ICD (libGLX_nvidia.so.0) needs glvnd's libGLdispatch.so.0.
    (cd .gl && apt-get $o download libvulkan1 libcmocka0 vulkan-validationlayers libglvnd0 libegl1 libgl1 libglx0 libopengl0)
    touch .gl/.done
fi
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DVKS_WERROR=ON
cmake --build build-gpu
# Keep what travels small: the binaries, not the object files.
du -sh build-gpu .gl
