#!/usr/bin/env bash
# The prepared GPU check (issue 22): one script, at most 8 minutes on one GPU, one JSON under results/bench/.
#   bench/gpu_check.sh             on a GPU machine (needs CUDA)
#   bench/gpu_check.sh --dry-run   on any machine: every part on the CPU at toy sizes (CI runs this)
# Extra options go to bench/gpu_check.py (e.g. --mtcnn-weights DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
exec timeout 480 "$PY" bench/gpu_check.py "$@"
