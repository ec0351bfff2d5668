#!/bin/sh
# Runs the PyTorch peer (scripts/bench/torch_bloom.py, mode step) over the
# benchmark shapes at 1 and 2 threads; one JSON line per run on stdout.
# Usage (from anywhere): sh scripts/bench/torch_peer_matrix.sh [python]
# OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE from the environment are left as they are.
set -e
PY=${1:-/usr/bin/python3}
HERE=$(dirname "$0")
for threads in 1 2; do
  # vocab hidden heads layers seq batch steps warmup
  while read -r V H NH L T B S W; do
    "$PY" "$HERE/torch_bloom.py" --mode step --vocab "$V" --hidden "$H" --heads "$NH" --layers "$L" \
      --seq "$T" --batch "$B" --threads "$threads" --steps "$S" --warmup "$W"
  done <<SHAPES
320 64 4 2 16 2 50 5
4096 256 8 4 128 8 5 1
16384 1024 16 4 256 4 2 1
SHAPES
done
