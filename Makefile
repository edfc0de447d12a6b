# The README's two commands, `make demo` and `make test`, set everything up themselves.
#   make deps    install missing Debian packages (scripts/install-deps.sh, idempotent)
#   make build   Release build into build/
#   make test    build, then run every test (lavapipe unless VKS_DEVICE says otherwise)
#   make demo    build, then vks-bench --quick on the best device
#   make asan    ASan + UBSan build in build-asan/, running the whole suite
#   make bench   every benchmark and peer script; report in build/bench/
#   make clean
BUILD ?= build
ASAN_BUILD ?= build-asan
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
WERROR ?= OFF
CMAKE_FLAGS ?=

.PHONY: all deps build test demo asan bench clean
.NOTPARALLEL:

all: build

deps:
	@scripts/install-deps.sh

# deps runs first and alone: on a fresh machine cmake itself comes from it.
build: deps
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release -DVKS_WERROR=$(WERROR) $(CMAKE_FLAGS)
	cmake --build $(BUILD) -j $(JOBS)

test: build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

demo: build
	$(BUILD)/samples/vks-bench --quick

asan: deps
	cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVKS_SANITIZE=ON -DVKS_WERROR=$(WERROR) $(CMAKE_FLAGS)
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	ctest --test-dir $(ASAN_BUILD) --output-on-failure -j $(JOBS)

bench: build
	scripts/bench.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
