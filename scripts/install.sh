#!/usr/bin/env bash
# Install toolkit into the active Python environment, editable, with the test tools.
#   bash scripts/install.sh          full development install: CPU torch, then .[test,transformer,parquet,report,dask]
#   bash scripts/install.sh --base   no torch: the default and fast models and the tests (README)
# CPU PyTorch goes first in the full install: installed after sentence-transformers, pip would
# pull the CUDA build and several GB of GPU libraries.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install --upgrade pip
if [ "${1:-}" = "--base" ]; then
  python -m pip install -e ".[test]"
  exit 0
fi
python -m pip install torch==2.13.0
python -m pip install -e ".[test,transformer,parquet,report,dask]" "dask[dataframe]"
