#!/usr/bin/env bash
# Stand-in for node-gyp, called by prebuildify (`--node-gyp scripts/prebuild-cmake.sh`):
# prebuildify only knows node-gyp and passes it node-gyp's arguments (rebuild --target=...
# --devdir=... --arch=... --release). Only --arch means something here: arm64 on an x86-64
# host cross-compiles with cmake/linux-arm64.cmake; the rest are ignored.
#
# Builds the addon with OpenBLAS linked statically (RNNKIT_STATIC_BLAS), the C++ runtime inside
# and glibc symbols no newer than 2.28 (RNNKIT_GLIBC_FLOOR), without the C++ core tests, into
# $PREBUILD_STAGE/build (default build-prebuild/build), which is where prebuildify looks for the
# .node when run with `--cwd <stage>` (scripts/prebuilds.sh). The developer's build/
# (dynamically linked, used by the tests) is left alone.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
STAGE=${PREBUILD_STAGE:-$ROOT/build-prebuild}
arch=
for a in "$@"; do
  case $a in --arch=*) arch=${a#--arch=} ;; esac
done
cross=()
case "$arch:$(uname -m)" in
  arm64:x86_64) cross=(--CDCMAKE_TOOLCHAIN_FILE="$ROOT/cmake/linux-arm64.cmake") ;;
  x64:x86_64 | arm64:aarch64 | :*) ;;
  *) echo "prebuild-cmake: no cross toolchain for --arch=$arch on $(uname -m)" >&2; exit 1 ;;
esac
cd "$ROOT"
exec "$ROOT/node_modules/.bin/cmake-js" rebuild --log-level warn --out "$STAGE/build" \
  --CDRNNKIT_STATIC_BLAS=ON --CDRNNKIT_GLIBC_FLOOR=ON --CDRNNKIT_BUILD_TESTS=OFF "${cross[@]}"
