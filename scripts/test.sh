#!/usr/bin/env bash
# The whole test suite: build (Wasm + bundles), type-check, then vitest with a CPU WebGPU driver.
# GPU and browser tests need libvulkan1/lavapipe and chromium; .ci/run installs them. Without
# them those tests skip with a reason, unless WAS_EDGE_REQUIRE_GPU=1 makes that a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
npm run build --silent
npx tsc --noEmit
if env_lines=$(bash scripts/setup-webgpu.sh); then
  eval "$env_lines"
else
  echo "scripts/test.sh: WebGPU set-up failed; GPU tests will skip (or fail under WAS_EDGE_REQUIRE_GPU=1)" >&2
fi
exec npx vitest run "$@"
