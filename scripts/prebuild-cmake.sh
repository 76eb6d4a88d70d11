#!/usr/bin/env bash
# Stand-in for node-gyp, called by prebuildify (`--node-gyp scripts/prebuild-cmake.sh`):
# prebuildify only knows node-gyp and passes it node-gyp's arguments (rebuild --target=...
# --devdir=... --arch=... --release), which mean nothing to cmake-js, so they are ignored.
#
# Builds the addon with OpenBLAS linked statically (RNNKIT_STATIC_BLAS) and without the
# C++ core tests, into $PREBUILD_STAGE/build (default build-prebuild/build), which is where
# prebuildify looks for the .node when run with `--cwd build-prebuild` (scripts/prebuilds.sh).
# The developer's build/ (dynamically linked, used by the tests) is left alone.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
STAGE=${PREBUILD_STAGE:-$ROOT/build-prebuild}
cd "$ROOT"
exec "$ROOT/node_modules/.bin/cmake-js" rebuild --log-level warn --out "$STAGE/build" \
  --CDRNNKIT_STATIC_BLAS=ON --CDRNNKIT_BUILD_TESTS=OFF
