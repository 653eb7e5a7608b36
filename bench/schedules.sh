#!/usr/bin/env bash
# Schedule quality: the uniform was-greedy level against the searched was-bo level of a schedule at
# each target, on dev text: perplexity, mean KL(dense‖sparse) and the measured skipped fraction.
# Usage: bash bench/schedules.sh MODEL.gguf SCHEDULE TEXT CTX MAX_CHUNKS [BACKEND]   (after npm run build)
#   SCHEDULE is a name (schedules/NAME.json) or a file; LEVELS="0.4 0.5" limits the targets.
set -euo pipefail
model=$1 schedule=$2 text=$3 ctx=$4 chunks=$5 backend=${6:-reference}
run() {
  node "$(dirname "$0")/../bin/was-edge.mjs" eval --backend "$backend" --threads 1 --model "$model" --text "$text" --ctx "$ctx" \
    --max-chunks "$chunks" --schedule "$schedule" --json "$@" 2>/dev/null
}
echo "| target | method | perplexity | mean KL | skipped (measured) | ppl was-bo ÷ was-greedy | tokens scored |"
echo "|---|---|---|---|---|---|---|"
for t in ${LEVELS:-0.4 0.5 0.6 0.7 0.8}; do
  greedy=$(run --level "$t" --method was-greedy)
  bo=$(run --level "$t" --method was-bo)
  node -e '
    const [g, b] = process.argv.slice(1, 3).map((s) => JSON.parse(s));
    const row = (r, ratio) => `| ${r.schedule.level} | ${r.schedule.method} | ${r.ppl.toFixed(4)} | ${r.mean_kl.toFixed(4)} | ${(100 * r.skipped_weight_fraction).toFixed(2)} % | ${ratio} | ${r.tokens_scored} |`;
    console.log(row(g, ""));
    console.log(row(b, (b.ppl / g.ppl).toFixed(4)));' "$greedy" "$bo"
done
