#!/usr/bin/env bash
# Installs everything attnc needs on a Debian 12 machine: LLVM/MLIR 22 and the test tools from Debian, and
# Halide (pinned PyPI wheel) plus a recent CMake into the project-local directory .deps/. Idempotent: when all
# is present it only checks and returns.
set -euo pipefail

HALIDE_VERSION=21.0.0      # newest wheel that installs on this Python (22.x needs CPython >= 3.12)
CMAKE_VERSION=3.31.10      # Halide 21's CMake package needs CMake >= 3.28; Debian 12 ships 3.25

root="$(cd "$(dirname "$0")/.." && pwd)"
deps="$root/.deps"
# clang-22 compiles the model table of a program for another architecture (attnc --target=arm-64-linux
# --emit=object). Open MPI builds the data-parallel runtime (attnc --distributed=mpi) and runs its tests.
# PoCL runs the OpenCL kernels of GPU-targeted programs (attnc --target=host-opencl) on this CPU in tests.
debs=(llvm-22-dev libmlir-22-dev mlir-22-tools llvm-22-tools clang-22 libfmt-dev googletest ninja-build ccache
      g++ make python3 python3-venv zlib1g-dev libzstd-dev libedit-dev libcurl4-openssl-dev libxml2-dev
      libopenmpi-dev openmpi-bin pocl-opencl-icd ocl-icd-opencl-dev)
# `--sanitize`: also clang's sanitizer and libFuzzer runtimes, for `make check-sanitize` and `make fuzz`.
if [ "${1:-}" = "--sanitize" ]; then
  debs+=(libclang-rt-22-dev)
fi

missing=()
for p in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "bootstrap: installing Debian packages: ${missing[*]}"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

stamp="$deps/.stamp-halide-$HALIDE_VERSION-cmake-$CMAKE_VERSION"
if [ ! -f "$stamp" ]; then
  echo "bootstrap: installing halide==$HALIDE_VERSION and cmake==$CMAKE_VERSION into $deps/venv"
  python3 -m venv "$deps/venv"
  "$deps/venv/bin/pip" install -q --disable-pip-version-check --no-deps \
    "halide==$HALIDE_VERSION" "cmake==$CMAKE_VERSION"
  touch "$stamp"
fi
