#!/usr/bin/env bash
# Install toolkit and everything it needs into the active Python environment.
# CPU PyTorch goes first: installed after sentence-transformers, pip would pull
# the CUDA build and several GB of GPU libraries.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install --upgrade pip
python -m pip install torch==2.13.0
python -m pip install -e ".[test]"
