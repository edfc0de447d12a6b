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
#   make test-sync  the suite in build/ once more with the validation layer's
#                synchronization validation (VKS_VALIDATION_SYNC=1); any message fails
#   make fuzz    the API fuzz driver under ASan + UBSan for FUZZ_SECONDS (build-asan/)
#   make tsan    ThreadSanitizer build in build-tsan/, running the threading tests
#   make bench   every benchmark and peer script; report in build/bench/
#   make clean
BUILD ?= build
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
FUZZ_SECONDS ?= 90
FUZZ_SEED ?= 1
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
WERROR ?= OFF
CMAKE_FLAGS ?=
VENV ?= .venv

.PHONY: all deps build test test-sync demo asan asan-configure fuzz tsan bench clean pip-check
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

asan: asan-configure
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	ctest --test-dir $(ASAN_BUILD) --output-on-failure -j $(JOBS)

pip-check: deps
	rm -rf $(BUILD)/pip-venv
	/usr/bin/python3 -m venv --system-site-packages $(BUILD)/pip-venv
	$(BUILD)/pip-venv/bin/pip install -q --disable-pip-version-check ./python
	cd $(BUILD) && env -u PYTHONPATH -u VKSTRUCT_EXT_DIR pip-venv/bin/python -m pytest -q -p no:cacheprovider \
	  $(abspath python/tests/test_core.py)
# The same binaries as `make test`; only the layer's synchronization checks are added.
test-sync: build
	VKS_VALIDATION_SYNC=1 ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

asan-configure: deps
	cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVKS_SANITIZE=ON -DVKS_WERROR=$(WERROR) $(CMAKE_FLAGS)

# A crash, a sanitizer report, a hang or a validation message fails it (tests/faults/fuzz.c).
fuzz: asan-configure
	cmake --build $(ASAN_BUILD) -j $(JOBS) --target test_fuzz
	cd $(ASAN_BUILD) && VKS_FUZZ_SECONDS=$(FUZZ_SECONDS) VKS_FUZZ_SEED=$(FUZZ_SEED) VKS_CACHE_DIR=$(CURDIR)/$(ASAN_BUILD)/test-cache \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ./tests/test_fuzz

# The threading tests (test_runtime's *thread* cases) under ThreadSanitizer; races inside
# the Vulkan driver and layer (not instrumented) are suppressed in tests/tsan.supp.
tsan: deps
	cmake -S . -B $(TSAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVKS_TSAN=ON -DVKS_WERROR=$(WERROR) $(CMAKE_FLAGS)
	cmake --build $(TSAN_BUILD) -j $(JOBS) --target test_runtime
	cd $(TSAN_BUILD) && VKT_FILTER='*thread*' VKS_CACHE_DIR=$(CURDIR)/$(TSAN_BUILD)/test-cache \
	  TSAN_OPTIONS="suppressions=$(CURDIR)/tests/tsan.supp halt_on_error=1 exitcode=66" ./tests/test_runtime

bench: build
	scripts/bench.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD)
