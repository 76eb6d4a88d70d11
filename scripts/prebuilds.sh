#!/usr/bin/env bash
# `npm run prebuilds`: the prebuilt binaries that `npm pack` ships, in
# prebuilds/<platform>-<arch>/rnnkit.glibc.node: linux-x64, and linux-arm64 cross-compiled on
# an x86-64 host (cmake/linux-arm64.cmake; needs g++-aarch64-linux-gnu and libopenblas-dev:arm64,
# which .ci/run installs). RNNKIT_PREBUILD_ARCHS="x64" builds a subset.
#
# prebuildify drives node-gyp only; scripts/prebuild-cmake.sh stands in for it and runs
# cmake-js with OpenBLAS linked statically. Run with `--cwd build-prebuild/<arch>`, prebuildify
# takes the .node from build-prebuild/<arch>/build/Release, so build/ (the developer's dynamic
# build that the tests load) is untouched; `--out .` puts the result in ./prebuilds.
# `--tag-libc` names the file *.glibc.node, so node-gyp-build never offers it on musl.
#
# Then checks each binary (readelf, which reads any architecture's ELF):
#  - built for its architecture;
#  - no libopenblas and no libstdc++ among its needed libraries (both are inside);
#  - the glibc floor: no symbol needs a GLIBC_ version above 2.28 (Node 20's own floor), and
#    none a GLIBCXX_ / CXXABI_ version (binding/glibc_floor.cc explains how it is kept).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
GLIBC_FLOOR=2.28
read -r -a archs <<<"${RNNKIT_PREBUILD_ARCHS:-x64 arm64}"

fail() {
  echo "prebuilds: FAIL: $*" >&2
  exit 1
}

rm -rf prebuilds "$ROOT/build-prebuild"
for arch in "${archs[@]}"; do
  t0=$(date +%s%N)
  case $arch in
    x64) machine='X86-64' strip_bin=strip ;;
    arm64)
      machine='AArch64'
      strip_bin=strip
      if [ "$(uname -m)" != aarch64 ]; then
        strip_bin=aarch64-linux-gnu-strip
        command -v aarch64-linux-gnu-g++ >/dev/null ||
          fail "linux-arm64 needs the cross compiler: apt-get install -y g++-aarch64-linux-gnu libopenblas-dev:arm64 (after dpkg --add-architecture arm64 && apt-get update)"
      fi
      ;;
    *) fail "unknown arch '$arch' (x64 or arm64)" ;;
  esac
  stage=$ROOT/build-prebuild/$arch
  mkdir -p "$stage"
  PREBUILD_STAGE=$stage PREBUILD_STRIP_BIN=$strip_bin "$ROOT/node_modules/.bin/prebuildify" --napi --strip --tag-libc \
    --arch "$arch" --cwd "$stage" --out "$ROOT" --name rnnkit --node-gyp "$ROOT/scripts/prebuild-cmake.sh" ||
    fail "the linux-$arch build failed (output above)"

  shopt -s nullglob
  built=(prebuilds/linux-"$arch"/*.node)
  [ ${#built[@]} -eq 1 ] || fail "expected one .node under prebuilds/linux-$arch/, found ${#built[@]}: ${built[*]}"
  node=${built[0]}
  readelf -h "$node" | grep -q "Machine:.*$machine" || fail "$node is not an $machine binary: $(readelf -h "$node" | grep Machine)"
  needed=$(readelf -d "$node" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
  if grep -qiE 'openblas|libstdc\+\+' <<<"$needed"; then
    fail "$node needs $needed: OpenBLAS and libstdc++ must be linked in (RNNKIT_STATIC_BLAS, RNNKIT_GLIBC_FLOOR ignored?)"
  fi
  syms=$(readelf --dyn-syms -W "$node")
  glibc=$(grep -o '@GLIBC_[0-9.]*' <<<"$syms" | sed 's/@GLIBC_//' | sort -uV | tail -1)
  [ -n "$glibc" ] || fail "$node has no versioned glibc symbols (readelf output changed?)"
  if [ "$(printf '%s\n%s\n' "$glibc" "$GLIBC_FLOOR" | sort -V | tail -1)" != "$GLIBC_FLOOR" ]; then
    fail "$node needs glibc $glibc, above the $GLIBC_FLOOR floor: $(grep -E "@GLIBC_$glibc" <<<"$syms" | awk '{ print $NF }' | tr '\n' ' ')(wrap them in binding/glibc_floor.cc)"
  fi
  if grep -qE '@(GLIBCXX|CXXABI)_' <<<"$syms"; then
    fail "$node needs the system libstdc++: $(grep -oE '[^ ]*@(GLIBCXX|CXXABI)_[0-9.]*' <<<"$syms" | head -5 | tr '\n' ' ')"
  fi
  t1=$(date +%s%N)
  awk -v f="$node" -v b="$(stat -c %s "$node")" -v n="$needed" -v g="$glibc" -v ns=$((t1 - t0)) \
    'BEGIN { printf "prebuilds: %s, %d bytes (%.1f MB), needs %s(glibc >= %s); built in %.1f s\n", f, b, b / 1e6, n, g, ns / 1e9 }'
done
