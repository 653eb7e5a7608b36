#!/usr/bin/env bash
# Builds llama.cpp's reference tools (llama-tokenize, llama-quantize) and refdump.cpp from a source
# tree of the public repository ggerganov/llama.cpp (snapshot c392e509): bash build.sh LLAMA_CPP_DIR.
# CPU only, no native tuning, so the results do not depend on the machine.
set -euo pipefail
src=${1:?usage: build.sh LLAMA_CPP_DIR}
here=$(cd "$(dirname "$0")" && pwd)
cmake -S "$src" -B "$src/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=OFF -DLLAMA_CURL=OFF -DBUILD_SHARED_LIBS=OFF >/dev/null
cmake --build "$src/build" -j"$(nproc)" --target llama-tokenize llama-quantize llama >/dev/null
g++ -O2 -std=c++17 "$here/refdump.cpp" -I"$src/include" -I"$src/ggml/include" \
  -L"$src/build/src" -L"$src/build/ggml/src" -lllama -lggml -lggml-cpu -lggml-base -lpthread -fopenmp \
  -o "$src/build/bin/refdump"
echo "$src/build/bin: llama-tokenize llama-quantize refdump"
