#!/usr/bin/env bash
# make bench: bloom's GEMM and training step against PyTorch in the same run.
# The peer is Debian's python3-torch; it should use OpenBLAS (apt-get install
# libopenblas0-pthread), else its GEMM is the reference BLAS and ~15x slower.
# Machines here drift 2-5x between runs: read the ratio column, not the rates.
set -euo pipefail
cd "$(dirname "$0")/.."
CTL=bin/bloomctl
PY=/usr/bin/python3
PEER=scripts/bench/torch_bloom.py
THREADS=${BENCH_THREADS:-"1 2"}
# BENCH_PARTS: which of gemm, train, generate and serve to run (all).
PARTS=${BENCH_PARTS:-"gemm train generate serve"}
for p in $PARTS; do
  case $p in gemm|train|generate|serve) ;; *) echo "BENCH_PARTS: unknown part '$p' (gemm, train, generate, serve)" >&2; exit 2 ;; esac
done
part() { [[ " $PARTS " == *" $1 "* ]]; }
have_torch=0
if [ -x $PY ] && $PY -c 'import torch' 2>/dev/null; then have_torch=1; else
  echo "python3-torch not installed: printing bloom's numbers only (apt-get install python3-torch libopenblas0-pthread)"; fi
# OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE may be set on these machines for old
# OpenBLAS builds; they slow a current one, so the peer runs without them.
peer() { env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $PY $PEER "$@"; }
# BENCH_ISA=avx2 runs both sides on their AVX2 kernels on a CPU with
# AVX-512 (bloom: BLOOM_MAX_CPU_ISA=avx2; PyTorch: OpenBLAS's Haswell
# kernels, OPENBLAS_CORETYPE, and its own and oneDNN's capped likewise,
# ATEN_CPU_CAPABILITY and ONEDNN_MAX_CPU_ISA): the nearest this machine
# comes to a CPU without AVX-512 (its cores, caches and clocks, which are
# not such a CPU's).
case "${BENCH_ISA:-}" in
  "") if [ -n "${BLOOM_MAX_CPU_ISA:-}" ]; then
        echo "BLOOM_MAX_CPU_ISA=$BLOOM_MAX_CPU_ISA caps bloom but not the peer: use BENCH_ISA=avx2 for both" >&2; exit 2
      fi ;;
  avx2) export BLOOM_MAX_CPU_ISA=avx2
        peer() { env -u OPENBLAS_L2_SIZE OPENBLAS_CORETYPE=Haswell ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 $PY $PEER "$@"; }
        echo "BENCH_ISA=avx2: bloom's and PyTorch's AVX2 kernels (BLOOM_MAX_CPU_ISA=avx2; OPENBLAS_CORETYPE=Haswell, ATEN_CPU_CAPABILITY=avx2, ONEDNN_MAX_CPU_ISA=AVX2)" ;;
  *) echo "BENCH_ISA must be avx2 or unset, got '$BENCH_ISA'" >&2; exit 2 ;;
esac
field() { $PY -c "import json,sys; print(json.loads(sys.stdin.readline())['$1'])"; }

info() { $CTL -o json bench gemm --m 64 --n 64 --k 64 --dtype "$1" | field "$2"; }
cpu=$(info fp32 cpu)
echo "cpu: ${cpu:-no vector extensions} | bloom gemm kernel: fp32 $(info fp32 gemm_kernel), bf16 $(info bf16 gemm_kernel), fp16 $(info fp16 gemm_kernel)"
printf '%-10s %-34s %3s %12s %12s %7s\n' kind shape thr bloom pytorch ratio
row() { # kind shape threads ours theirs unit [ratio, else ours/theirs]
  local r="-" p="$5"; [ "$5" != "-" ] && r=$(awk -v a="$4" -v b="$5" 'BEGIN{printf "%.2f", a/b}') && p=$(printf '%.1f' "$5")
  [ -n "${7:-}" ] && r=$7
  printf '%-10s %-34s %3s %12.1f %12s %7s  %s\n' "$1" "$2" "$3" "$4" "$p" "$r" "$6"
}

# The float32 GEMM goal (>= 1.0x the peer) is read from PAIRS runs of
# bloom and the peer in turn: the row's rates are the medians and its ratio
# the median of the pairs' ratios (each pair ran within seconds, so a drift
# of the machine between minutes moves both sides of it).
PAIRS=${BENCH_PAIRS:-3}
[[ "$PAIRS" =~ ^[1-9][0-9]*$ ]] || { echo "BENCH_PAIRS must be a positive number, got '$PAIRS'" >&2; exit 2; }
median() { tr ' ' '\n' | sort -g | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }
if part gemm; then
for t in $THREADS; do
  for mnk in "2048 1024 1024 0 1" "2048 1024 4096 0 0" "4096 1024 2048 1 0" "1024 16384 1024 0 1"; do
    set -- $mnk
    fl=(); [ "$4" = 1 ] && fl+=(--transa); [ "$5" = 1 ] && fl+=(--transb)
    gemm() { $CTL --threads "$t" -o json bench gemm --m "$1" --n "$2" --k "$3" "${fl[@]}" --dtype "$6" | field gflops; }
    os=(); ts=(); rs=()
    for _ in $(seq "$PAIRS"); do
      o=$(gemm "$@" fp32)
      os+=("$o")
      if [ $have_torch = 1 ]; then
        p=$(peer --mode gemm --threads "$t" --m "$1" --n "$2" --k "$3" --transa "$4" --transb "$5" --steps 5 | field gflops)
        ts+=("$p")
        rs+=("$(awk -v a="$o" -v b="$p" 'BEGIN{printf "%.2f", a/b}')")
      fi
    done
    ours=$(echo "${os[*]}" | median) theirs=- ratio=
    note="GFLOP/s, median of $PAIRS"
    if [ $have_torch = 1 ]; then
      theirs=$(echo "${ts[*]}" | median) ratio=$(printf '%.2f' "$(echo "${rs[*]}" | median)")
      note="GFLOP/s; ratio: median of $PAIRS same-run pairs (${rs[*]})"
    fi
    row gemm "m=$1 n=$2 k=$3 tA=$4 tB=$5" "$t" "$ours" "$theirs" "$note" "$ratio"
    # bf16 and fp16 (GemmHalf: half operands, float32 sums) against the
    # peer's float32 figure (the median above).
    for dt in bf16 fp16; do
      row gemm-$dt "m=$1 n=$2 k=$3 tA=$4 tB=$5" "$t" "$(gemm "$@" $dt)" "$theirs" "GFLOP/s (ratio to the peer's fp32)"
    done
  done
done
fi

if part train; then
for t in $THREADS; do
  for shape in "320 64 4 2 16 2" "4096 256 8 4 128 8" "16384 1024 16 4 256 4"; do
    set -- $shape
    f32=$($CTL --threads "$t" -o json bench train --vocab "$1" --hidden "$2" --heads "$3" --layers "$4" --seq "$5" --batch "$6")
    b16=$($CTL --threads "$t" -o json bench train --bf16 --vocab "$1" --hidden "$2" --heads "$3" --layers "$4" --seq "$5" --batch "$6")
    theirs=-; [ $have_torch = 1 ] && theirs=$(peer --mode step --threads "$t" --vocab "$1" --hidden "$2" --heads "$3" --layers "$4" --seq "$5" --batch "$6" --steps 5 | field tokens_per_s)
    row train "V=$1 C=$2 NH=$3 L=$4 T=$5 B=$6" "$t" "$(field tokens_per_s <<<"$f32")" "$theirs" "tokens/s, peak RSS $(printf %.0f "$(field peak_rss_mib <<<"$f32")") MiB"
    # The goal row: --bf16 against PyTorch's float32 step.
    row train-bf16 "V=$1 C=$2 NH=$3 L=$4 T=$5 B=$6" "$t" "$(field tokens_per_s <<<"$b16")" "$theirs" "tokens/s, peak RSS $(printf %.0f "$(field peak_rss_mib <<<"$b16")") MiB"
  done
done
fi

# Batch-1 decoding, the weights packed once as bloomctl generate packs them;
# with --fp16 they stay fp16 and the kernels widen them as they load them
# (half the bytes a step reads), against the peer's float32 figure.
if part generate; then
for t in $THREADS; do
  set -- 4096 256 8 4 32 1
  gen() { $CTL --threads "$t" -o json bench generate --vocab "$1" --hidden "$2" --heads "$3" --layers "$4" --seq "$5" --batch "$6" --new-tokens 64 "${@:7}" | field tokens_per_s; }
  ours=$(gen "$@")
  half=$(gen "$@" --fp16)
  theirs=-; [ $have_torch = 1 ] && theirs=$(peer --mode generate --threads "$t" --vocab "$1" --hidden "$2" --heads "$3" --layers "$4" --batch "$6" --prompt-len "$5" --new-tokens 64 --steps 3 | field tokens_per_s)
  row generate "V=$1 C=$2 NH=$3 L=$4 P=$5 B=$6 new=64" "$t" "$ours" "$theirs" tokens/s
  row gen-fp16 "V=$1 C=$2 NH=$3 L=$4 P=$5 B=$6 new=64" "$t" "$half" "$theirs" "tokens/s (ratio to the peer's fp32)"
done
fi

# Serving under load (issue 16's goals: 16 streams >= 6x one stream's
# tokens/s, p99 inter-token latency at 16 <= 3x one stream's p50): the
# server and its streaming clients in one process, on every core. Two
# workloads: prompts of 128 with 32 new tokens (prefill-heavy) and 32 with 128.
if part serve; then
for shape in "128 32" "32 128"; do
  set -- $shape
  echo "serve: prompt $1, $2 new tokens (V=4096 C=256 NH=8 L=4, max-batch 16)"
  $CTL bench serve --streams 1,4,16,64 --seq "$1" --max-tokens "$2"
done
# The same goals on a model beyond L3 (V=16384 C=1024 NH=16 L=8: 470 MB of
# float32 weights), where a decoding step streams its weights from memory
# as on an accelerator: keys and values in fp16, prompts prefilled 16
# tokens a step.
echo "serve: prompt 32, 128 new tokens (V=16384 C=1024 NH=16 L=8, max-batch 16, --kv-cache-dtype fp16 --prefill-chunk 16)"
$CTL bench serve --streams 1,16 --requests 1 --vocab 16384 --hidden 1024 --heads 16 --layers 8 --seq 32 --max-tokens 128 \
  --kv-cache-dtype fp16 --prefill-chunk 16
fi
