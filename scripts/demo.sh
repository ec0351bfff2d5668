#!/usr/bin/env bash
# make demo: a 3-node bloom cluster on loopback (two CPU devices per node)
# trains a tiny BLOOM on the embedded corpus, converts its last checkpoint to
# a Hugging Face directory and samples from it, then stops cleanly.
#
#   scripts/demo.sh            (after `make build`; make demo does both)
#
# Environment: BIN (default bin), DEMO_DIR (default: a fresh temp dir),
# DEMO_STEPS (200), DEMO_TP/DEMO_PP/DEMO_DP (the layout, 1×2×3).
set -euo pipefail

BIN=${BIN:-bin}
STEPS=${DEMO_STEPS:-200}
# The layout: two pipeline stages (across nodes) × three data-parallel
# replicas fill the six devices; bloom-tiny's 4 heads also allow TP 2.
TP=${DEMO_TP:-1} PP=${DEMO_PP:-2} DP=${DEMO_DP:-3}
DIR=${DEMO_DIR:-$(mktemp -d -t bloom-demo.XXXXXX)}
mkdir -p "$DIR"
CTL=("$BIN/bloomctl" --secret-file "$DIR/cluster.secret")
pids=()

say() { printf '\n== %s\n' "$*"; }

stop_cluster() {
	[ ${#pids[@]} -eq 0 ] && return
	say "stopping the cluster (SIGTERM, then wait)"
	kill -TERM "${pids[@]}" 2>/dev/null || true
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	pids=()
	echo "stopped; logs and data in $DIR"
}
trap stop_cluster EXIT
trap 'exit 130' INT TERM

# wait_log FILE PATTERN SECONDS: until FILE has a line matching PATTERN.
wait_log() {
	local i
	for ((i = 0; i < $3 * 10; i++)); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "timed out waiting for '$2' in $1:" >&2
	tail -5 "$1" >&2
	return 1
}

field() { grep -o "$2=[^ ]*" "$1" | head -1 | cut -d= -f2; }

say "starting 3 bloomd on 127.0.0.1-3 (data in $DIR)"
"$BIN/bloomd" keygen --out "$DIR/cluster.secret" >/dev/null
peers=""
for i in 1 2 3; do
	args=(join --name "n$i" --data-dir "$DIR/n$i" --bind "127.0.0.$i:0" --api "127.0.0.$i:0"
		--secret-file "$DIR/cluster.secret" --bootstrap-expect 3 --devices cpu:2)
	[ -n "$peers" ] && args+=(--peers "$peers")
	"$BIN/bloomd" "${args[@]}" >"$DIR/n$i.log" 2>&1 &
	pids+=($!)
	wait_log "$DIR/n$i.log" 'bloomd started' 20
	if [ $i -eq 1 ]; then
		peers=$(field "$DIR/n1.log" gossip)
		API=$(field "$DIR/n1.log" api)
	fi
done
CTL+=(--addr "$API")
for ((i = 0; i < 300; i++)); do
	"${CTL[@]}" status 2>/dev/null | grep -q 'health:.*healthy (' && break
	sleep 0.1
done
"${CTL[@]}" members
"${CTL[@]}" status | grep -E 'leader|voters|health'

say "submitting a tiny BLOOM pretraining job (TP $TP × PP $PP × DP $DP) on the embedded corpus"
out=$("${CTL[@]}" submit pretrain --name demo --model-preset bloom-tiny \
	--tensor-model-parallel-size "$TP" --pipeline-model-parallel-size "$PP" --data-parallel-size "$DP" \
	--train-iters "$STEPS" --seq-length 64 --micro-batch-size 16 --global-batch-size $((16 * DP)) \
	--lr 5e-3 --min-lr 5e-4 --lr-warmup-samples 320 --save-interval 100 --save "$DIR/checkpoints" --log-interval 1)
echo "$out"
ID=$(echo "$out" | awk '/^submitted job/ {print $3}')

say "progress (bloomctl job --watch $ID)"
"${CTL[@]}" job --watch "$ID" | tee "$DIR/watch.log"

say "bloomctl job $ID"
"${CTL[@]}" job "$ID"
say "bloomctl jobs"
"${CTL[@]}" jobs
say "bloomctl logs $ID --rank 0 (first and last lines)"
"${CTL[@]}" logs "$ID" --rank 0 >"$DIR/rank0.log"
head -3 "$DIR/rank0.log"
echo "..."
tail -3 "$DIR/rank0.log"
say "bloomctl checkpoints $ID"
"${CTL[@]}" checkpoints "$ID"

first=$(grep -m1 -o 'loss [0-9.]*' "$DIR/rank0.log" | cut -d' ' -f2)
last=$(grep -o 'loss [0-9.]*' "$DIR/rank0.log" | tail -1 | cut -d' ' -f2)
ckpt=$("${CTL[@]}" -o json checkpoints "$ID" | grep -o '"dir":"[^"]*"' | tail -1 | cut -d'"' -f4)
say "loss $first -> $last; the last checkpoint is $ckpt"
ls "$ckpt"
if ! awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < a - 1.0) }'; then
	echo "the loss did not fall clearly" >&2
	exit 1
fi

# The job's checkpoints are the model: take the latest out of the cluster as
# a Hugging Face directory and continue a prompt with it. bloom-tiny's
# tokens are bytes + 4 (0-3 are the special tokens).
prompt="The garden "
say "bloomctl convert --model $DIR/checkpoints --out $DIR/demo-model; bloomctl generate \"$prompt\""
"${CTL[@]}" convert --model "$DIR/checkpoints" --out "$DIR/demo-model" --dtype BF16
ids=$(printf '%s' "$prompt" | od -An -tu1 -v | tr -s ' \n' '\n' | awk 'NF { printf "%s%d", s, $1 + 4; s = "," }')
new=$("${CTL[@]}" generate --model "$DIR/demo-model" --prompt-tokens "$ids" --max-new-tokens 80 --temperature 0.7 --top-k 20 --seed 1)
printf 'sample: %s' "$prompt"
for id in $(echo "$new" | tr -c '0-9\n' ' '); do
	[ "$id" -ge 4 ] && [ "$id" -lt 260 ] && printf "\\$(printf '%03o' $((id - 4)))"
done
echo
