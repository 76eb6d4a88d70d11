#!/usr/bin/env bash
# `npm run prebuilds`: the prebuilt binary that `npm pack` ships, for this machine's
# platform and arch (linux-x64 here), in prebuilds/<platform>-<arch>/rnnkit.glibc.node.
#
# prebuildify drives node-gyp only; scripts/prebuild-cmake.sh stands in for it and runs
# cmake-js with OpenBLAS linked statically. Run with `--cwd build-prebuild`, prebuildify
# takes the .node from build-prebuild/build/Release, so build/ (the developer's dynamic
# build that the tests load) is untouched; `--out .` puts the result in ./prebuilds.
# `--tag-libc` names the file *.glibc.node, so node-gyp-build never offers it on musl.
#
# Then checks what was built: N-API loadable, no libopenblas among its needed libraries.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
STAGE=$ROOT/build-prebuild
t0=$(date +%s%N)

rm -rf prebuilds "$STAGE"
mkdir -p "$STAGE"
PREBUILD_STAGE=$STAGE "$ROOT/node_modules/.bin/prebuildify" --napi --strip --tag-libc \
  --cwd "$STAGE" --out "$ROOT" --name rnnkit --node-gyp "$ROOT/scripts/prebuild-cmake.sh"

shopt -s nullglob
built=(prebuilds/*/*.node)
[ ${#built[@]} -eq 1 ] || { echo "prebuilds: expected one .node under prebuilds/, found ${#built[@]}: ${built[*]}" >&2; exit 1; }
node=${built[0]}
if ldd "$node" | grep -i 'openblas'; then
  echo "prebuilds: $node links a shared OpenBLAS (is RNNKIT_STATIC_BLAS ignored?)" >&2
  exit 1
fi
needed=$(readelf -d "$node" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
glibc=$(objdump -T "$node" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1)
glibcxx=$(objdump -T "$node" | grep -o 'GLIBCXX_[0-9.]*' | sort -uV | tail -1)
t1=$(date +%s%N)
awk -v f="$node" -v b="$(stat -c %s "$node")" -v n="$needed" -v g="$glibc" -v x="$glibcxx" -v ns=$((t1 - t0)) \
  'BEGIN { printf "prebuilds: %s, %d bytes (%.1f MB), needs %s(%s, %s); built in %.1f s\n", f, b, b / 1e6, n, g, x, ns / 1e9 }'
