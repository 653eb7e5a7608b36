#!/usr/bin/env bash
# Our side of the comparison with the authors' code: `was-edge calibrate` on the calibration text,
# then `was-edge eval` for every mode × level on the same chunks that run_reference.py scores
# (llama.cpp chunking, ctx 256, the first $CHUNKS chunks; prefill 'sparse' = the first 1 % of each
# chunk dense, as the authors' SparsifyFn; f32). Appends one JSON line per run to $WORK/ours_eval.jsonl.
#
# Usage (from the repository root, after npm run build):
#   bash bench/reference-impl/run_ours.sh MODEL.gguf CALIB.txt DEV.txt WIKI.txt WORK
# Env: CHUNKS (20), LEVELS ("0.4 0.5 0.6 0.7"), MODES ("was was-greedy teal"), PROCS (2),
#      CALIBRATION (default $WORK/ours.calib.json, made if absent), BACKEND (cpu).
set -euo pipefail
MODEL=$1 CALIB_TEXT=$2 DEV=$3 WIKI=$4 WORK=$5
CHUNKS=${CHUNKS:-20} LEVELS=${LEVELS:-"0.4 0.5 0.6 0.7"} MODES=${MODES:-"was was-greedy teal"}
PROCS=${PROCS:-2} BACKEND=${BACKEND:-cpu}
CAL=${CALIBRATION:-$WORK/ours.calib.json}
mkdir -p "$WORK"
if [ ! -f "$CAL" ]; then
  node bin/was-edge.mjs calibrate --model "$MODEL" --text "$CALIB_TEXT" --tokens 16384 --ctx 256 --out "$CAL"
fi

# One line per run: "text path mode level" (mode 'dense' has no level).
jobs() {
  for t in "dev $DEV" "wiki $WIKI"; do
    echo "$t dense 0"
    for s in $LEVELS; do for m in $MODES; do echo "$t $m $s"; done; done
  done
}
run_one() {
  local name=$1 path=$2 mode=$3 level=$4 args=()
  [ "$mode" != dense ] && args=(--mode "$mode" --sparsity "$level" --calibration "$CAL" --prefill sparse)
  local r
  r=$(node bin/was-edge.mjs eval --model "$MODEL" --text "$path" --ctx 256 --max-chunks "$CHUNKS" \
      --backend "$BACKEND" --threads 1 "${args[@]}" --json 2>/dev/null)
  echo "{\"text\":\"$name\",\"mode\":\"$mode\",\"level\":$level,\"calibration\":\"$(basename "$CAL")\",\"result\":$r}"
}
export -f run_one
export MODEL CHUNKS BACKEND CAL
jobs | xargs -P "$PROCS" -L 1 bash -c 'run_one "$@"' _ >> "$WORK/ours_eval.jsonl"
