#!/usr/bin/env bash
# Copies what run_reference.py needs on the GPU machine into DEST (one folder, nothing fetched there):
# the two scripts, vendor/ (the authors' sources), export.ts's inputs, our thresholds and the model.
# The F16 GGUF is sent instead of the F32 one: it holds the same values (llama16m-debtext was saved
# from fp16 shards; gguf_to_hf.py reads both to identical f32 arrays) at half the bytes.
#
# Usage: bash bench/reference-impl/stage.sh MODEL.gguf WORK DEST
#   (WORK: the folder with inputs/ and ours_thresholds.json; see README.md)
set -euo pipefail
MODEL=$1 WORK=$2 DEST=$3
HERE=$(cd "$(dirname "$0")" && pwd)
[ -d "$HERE/vendor/WAS/was" ] && [ -d "$HERE/vendor/TEAL/teal" ] || { echo "populate $HERE/vendor first (README.md)" >&2; exit 2; }
rm -rf "$DEST"
mkdir -p "$DEST"
cp "$HERE/run_reference.py" "$HERE/gguf_to_hf.py" "$DEST/"
cp -r "$HERE/vendor" "$WORK/inputs" "$DEST/"
find "$DEST/vendor" -name '__pycache__' -prune -exec rm -rf {} +
cp "$WORK/ours_thresholds.json" "$DEST/" 2>/dev/null || echo "no ours_thresholds.json: their side only" >&2
cp "$MODEL" "$DEST/model.gguf"
du -sb "$DEST"
