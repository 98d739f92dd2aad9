#!/usr/bin/env bash
# The GPU path, proven on a lent machine: bash bench/device_check.sh  (under 8 minutes)
#
# On a fresh GPU machine: installs what it needs (a venv in .venv-gpu, the package with the
# gpu extra: onnxruntime-gpu instead of onnxruntime), then runs every task whose model ships
# through the CUDA and the CPU execution providers on the bundled examples, compares the
# outputs (tolerance: max |CUDA - CPU| <= 1e-3 of full scale for audio; pitch: f0 within
# 10 cents wherever both are voiced, voicing equal on 99 % of the 10 ms frames) and prints the
# real-time factor of each offline, then batch throughput (audio h/h) with --device cuda and
# --device cpu. Without a GPU (no nvidia-smi, or no CUDA provider in onnxruntime) it says so in
# one line and runs the CPU half only.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)

PY=${PYTHON:-}
if [ -z "$PY" ]; then
  if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
    [ -x .venv-gpu/bin/python ] || python3 -m venv .venv-gpu
    .venv-gpu/bin/python -m pip install -q --upgrade pip
    .venv-gpu/bin/python -m pip install -q -e '.[gpu]'
    .venv-gpu/bin/python -m pip uninstall -q -y onnxruntime 2>/dev/null || true  # the CPU build shadows the GPU one
    .venv-gpu/bin/python -m pip install -q --force-reinstall --no-deps 'onnxruntime-gpu>=1.18'
    PY=.venv-gpu/bin/python
  elif [ -x .venv/bin/python ]; then
    PY=.venv/bin/python
  else
    PY=python3
  fi
fi

"$PY" -m bench.device_check
echo "device_check: $(( $(date +%s) - start )) s"
