#!/usr/bin/env bash
# WAS quality table: perplexity, mean KL(dense‖sparse) and the measured skipped fraction of block
# weights for every mode at sparsity 0.4–0.8, on the reference backend.
# Usage: bash bench/quality.sh MODEL.gguf TEXT CTX [MAX_CHUNKS] [CALIBRATION]   (after npm run build)
#   LEVELS="0.4 0.5" limits the sparsity levels; HEADER=0 omits the header and the dense row.
set -euo pipefail
model=$1 text=$2 ctx=$3 chunks=${4:-0} cal=${5:-}
extra=(); [[ $chunks != 0 ]] && extra+=(--max-chunks "$chunks"); [[ -n $cal ]] && extra+=(--calibration "$cal")
run() { node "$(dirname "$0")/../bin/was-edge.mjs" eval --backend reference --model "$model" --text "$text" --ctx "$ctx" --json "${extra[@]}" "$@" 2>/dev/null; }
row() { node -e 'const r = JSON.parse(process.argv[1]); console.log(`| ${process.argv[2]} | ${process.argv[3]} | ${r.ppl.toFixed(4)} | ${r.mean_kl.toFixed(4)} | ${(100 * r.skipped_weight_fraction).toFixed(1)} % | ${r.tokens_scored} |`)' "$1" "$2" "$3"; }
if [[ ${HEADER:-1} == 1 ]]; then
  echo "| mode | sparsity | perplexity | mean KL | skipped (measured) | tokens scored |"
  echo "|---|---|---|---|---|---|"
  row "$(run --mode dense)" dense 0
fi
for s in ${LEVELS:-0.4 0.5 0.6 0.7 0.8}; do
  for m in teal was was-greedy; do row "$(run --mode $m --sparsity $s)" $m $s; done
done
