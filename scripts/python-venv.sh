#!/bin/sh
# Creates the project's Python environment: a venv on Debian's python3 that sees Debian's
# numpy, cffi, torch (CPU), scipy and pytest (installed by install-deps.sh), plus the peers
# the Python tests compare against (PEFT, GPyTorch's linear_operator) from PyPI. The peers
# go in with --no-deps, pinned to versions that run on Debian's torch 1.13, so pip never
# pulls PyPI's multi-GB torch. Without network the peers are left out and their tests are
# skipped with a printed reason. Idempotent: a second run does nothing.
set -eu
VENV=${1:-.venv}
PEERS="peft==0.16.0 transformers==4.44.2 accelerate==0.34.2 huggingface_hub==0.25.2 tokenizers==0.19.1
safetensors==0.4.5 regex tqdm filelock fsspec requests urllib3 idna certifi charset_normalizer packaging psutil pyyaml
linear_operator==0.5.2 jaxtyping==0.2.19 typeguard==2.13.3"

if [ ! -x "$VENV/bin/python" ]; then
    /usr/bin/python3 -m venv --system-site-packages "$VENV"
fi
stamp="$VENV/.vkstruct-peers"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$PEERS" ]; then
    echo "python-venv: $VENV is ready"
    exit 0
fi
# shellcheck disable=SC2086
if "$VENV/bin/pip" install -q --disable-pip-version-check --no-deps $PEERS; then
    printf '%s' "$PEERS" > "$stamp"
    echo "python-venv: peers installed in $VENV"
else
    echo "python-venv: could not install the peers (offline?); their tests will be skipped" >&2
fi
