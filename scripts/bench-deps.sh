#!/usr/bin/env bash
# Installs the peers `make bench` measures attnc against into .deps/bench-venv: PyTorch (eager and
# torch.compile), ONNX Runtime (with the ONNX exporter's packages) and TensorFlow with Keras. Pinned
# versions from PyPI, kept apart from the build's own venv. Idempotent.
set -euo pipefail

TORCH_VERSION=2.15.0
ORT_VERSION=1.32.0
ONNX_VERSION=1.23.2
ONNXSCRIPT_VERSION=0.7.2
TF_VERSION=2.21.0
KERAS_VERSION=3.15.1
NUMPY_VERSION=2.4.6

root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.deps/bench-venv"
stamp="$venv/.stamp-torch-$TORCH_VERSION-ort-$ORT_VERSION-tf-$TF_VERSION-keras-$KERAS_VERSION"
if [ ! -f "$stamp" ]; then
  echo "bench-deps: installing torch, onnxruntime, tensorflow-cpu and keras into $venv (several GB, once)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "numpy==$NUMPY_VERSION" "torch==$TORCH_VERSION" \
    "onnxruntime==$ORT_VERSION" "onnx==$ONNX_VERSION" "onnxscript==$ONNXSCRIPT_VERSION" \
    "tensorflow-cpu==$TF_VERSION" "keras==$KERAS_VERSION"
  touch "$stamp"
fi
