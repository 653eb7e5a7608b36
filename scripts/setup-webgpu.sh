#!/usr/bin/env bash
# Prepares WebGPU for Node (dawn.node from npm `webgpu`) on a GPU-less Debian 12 machine and prints the
# environment that points Vulkan at a CPU driver. Usage:  eval "$(bash scripts/setup-webgpu.sh [DEST])"
#   1. libvulkan1 (the Vulkan loader dawn.node dlopens) is installed with apt-get when missing.
#   2. Mesa lavapipe 25 from bookworm-backports is unpacked privately into DEST (default
#      .cache/lavapipe, about 12 MB): Debian 12's own lavapipe (Mesa 22.3) is rejected by Dawn
#      ("shaderUniform*ArrayDynamicIndexing required"); the backport offers shader-f16 and subgroups.
# Nothing but the export line goes to stdout; progress goes to stderr, and step 1 says so before it
# runs apt-get as root (WAS_EDGE_NO_APT=1: fail instead). Idempotent.
set -euo pipefail
dest=$(realpath -m "${1:-.cache/lavapipe}")
icd=$dest/lvp_icd.json

if [[ ! -e /usr/lib/x86_64-linux-gnu/libvulkan.so.1 ]]; then
  sudo=(); [[ $(id -u) == 0 ]] || sudo=(sudo)
  if [[ ${WAS_EDGE_NO_APT:-} == 1 ]]; then
    echo "setup-webgpu.sh: libvulkan1 (the Vulkan loader) is missing and WAS_EDGE_NO_APT=1: install it yourself (apt-get install libvulkan1)" >&2
    exit 1
  fi
  # Said before it happens: this changes the system, as root.
  echo "setup-webgpu.sh: libvulkan1 (the Vulkan loader dawn.node needs) is missing; installing it now with" \
    "\`${sudo[*]:+${sudo[*]} }apt-get install libvulkan1\` as root (set WAS_EDGE_NO_APT=1 to stop here instead)" >&2
  "${sudo[@]}" apt-get update >&2
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y --no-install-recommends libvulkan1 >&2
fi

if [[ ! -f $icd ]]; then
  echo "setup-webgpu.sh: unpacking Mesa lavapipe 25 (a CPU Vulkan driver) into $dest, without root and without touching the system" >&2
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  # The machine's own Debian mirror, from deb822 sources (Debian 12) or the classic list.
  mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  [[ -n $mirror ]] || mirror=$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  [[ -n $mirror ]] || mirror=http://deb.debian.org/debian
  mkdir -p "$work/lists/partial" "$work/archives/partial" "$work/debs" "$dest"
  echo "deb $mirror bookworm-backports main" > "$work/sources.list"
  # A private apt state: the system's sources and package lists are left untouched.
  o=(-o Dir::Etc::SourceList="$work/sources.list" -o Dir::Etc::SourceParts=/nonexistent
     -o Dir::State::Lists="$work/lists" -o Dir::Cache::Archives="$work/archives" -o Debug::NoLocking=1)
  apt-get "${o[@]}" update >&2
  (cd "$work/debs" && apt-get "${o[@]}" download mesa-vulkan-drivers/bookworm-backports \
     libdrm2/bookworm-backports libdrm-amdgpu1/bookworm-backports >&2)
  for d in "$work"/debs/*.deb; do dpkg-deb -x "$d" "$dest"; done
  printf '{"file_format_version":"1.0.0","ICD":{"api_version":"1.4.305","library_path":"%s"}}\n' \
    "$dest/usr/lib/x86_64-linux-gnu/libvulkan_lvp.so" > "$icd"
fi

echo "export LD_LIBRARY_PATH=$dest/usr/lib/x86_64-linux-gnu\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH} VK_DRIVER_FILES=$icd XDG_RUNTIME_DIR=\${XDG_RUNTIME_DIR:-/tmp}"
