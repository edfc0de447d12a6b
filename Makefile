# The README's two commands, `make demo` and `make test`, set everything up themselves.
#   make deps    install missing Debian packages (scripts/install-deps.sh, idempotent) and
#                the Python venv .venv with the test peers (scripts/python-venv.sh)
#   make build   Release build into build/
#   make test    build, then run every test, the Python suite included (lavapipe unless
#                VKS_DEVICE says otherwise)
#   make demo    build, then vks-bench --quick on the best device
#   make asan    ASan + UBSan build in build-asan/, running the whole suite
#   make pip-check  pip install ./python into a scratch venv (a full build from source, as a
#                user gets it), then the core Python tests against the installed package
#   make bench   every benchmark and peer script; report in build/bench/
#   make clean
BUILD ?= build
ASAN_BUILD ?= build-asan
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
WERROR ?= OFF
CMAKE_FLAGS ?=
VENV ?= .venv

.PHONY: all deps build test demo asan bench clean pip-check
.NOTPARALLEL:

all: build

deps:
	@scripts/install-deps.sh
	@scripts/python-venv.sh $(VENV)

# deps runs first and alone: on a fresh machine cmake itself comes from it.
build: deps
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release -DVKS_WERROR=$(WERROR) \
	  -DVKS_PYTHON=ON -DPython_EXECUTABLE=$(abspath $(VENV))/bin/python $(CMAKE_FLAGS)
	cmake --build $(BUILD) -j $(JOBS)

test: build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

demo: build
	$(BUILD)/samples/vks-bench --quick

asan: deps
	cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVKS_SANITIZE=ON -DVKS_WERROR=$(WERROR) $(CMAKE_FLAGS)
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	ctest --test-dir $(ASAN_BUILD) --output-on-failure -j $(JOBS)

pip-check: deps
	rm -rf $(BUILD)/pip-venv
	/usr/bin/python3 -m venv --system-site-packages $(BUILD)/pip-venv
	$(BUILD)/pip-venv/bin/pip install -q --disable-pip-version-check ./python
	cd $(BUILD) && env -u PYTHONPATH -u VKSTRUCT_EXT_DIR pip-venv/bin/python -m pytest -q -p no:cacheprovider \
	  $(abspath python/tests/test_core.py)

bench: build
	scripts/bench.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
