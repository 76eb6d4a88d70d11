#!/usr/bin/env bash
# `npm run test:pack`: does the packed tarball work on a machine with nothing installed?
#
#  1. `npm pack` (its prepack builds dist/ and the static-OpenBLAS prebuilds); the tarball
#     must hold dist/index.js, prebuilds/linux-x64/*.node and prebuilds/linux-arm64/*.node,
#     and stay under 15 MB.
#  2. Installs the tarball into an empty temporary project (runtime dependencies from the
#     npm registry or cache); the installed .node must not link libopenblas (ldd).
#  3. In a private mount namespace (unshare --mount; needs root), hides every system copy
#     of OpenBLAS (an empty read-only tmpfs over its directory, /dev/null over a stray file)
#     and makes the compilers and build tools fail, checks that both took effect (a
#     dynamically linked build/Release/rnnkit.node, when present, must now fail to load),
#     then runs scripts/pack-smoke.mjs with PREBUILDS_ONLY=1: import 'rnnkit' by name,
#     train a char-level LSTM (loss must go down), sample, print info(); then runs the
#     package's scripts/setup.mjs there, which must not build (no toolchain) and name the prebuild.
#     The same smoke program then runs under qemu-aarch64 with the arm64 Node, where it must
#     load the installed linux-arm64 prebuild.
#  4. scripts/arm64-test.sh against the installed package's prebuilds/: the C++ core tests and
#     the parity fixtures, gradient checks and model contracts under qemu-aarch64.
#
# Any failure prints "pack-test: FAIL: <why>" and exits 1. There is no skip: without
# unshare or root the test fails loudly. Set PACK_TEST_KEEP=1 to keep the temp folder.
set -euo pipefail

fail() {
  echo "pack-test: FAIL: $*" >&2
  exit 1
}
now() { date +%s%N; }
secs() { awk -v ns=$(($(now) - $1)) 'BEGIN { printf "%.1f s", ns / 1e9 }'; }

# ---------------------------------------------------------------------------------------
# inside the mount namespace: scripts/pack-test.sh __hidden <work dir> <repo root>
if [ "${1:-}" = __hidden ]; then
  WORK=$2
  ROOT=$3
  NODE_ARM64=$4
  # Every real file behind the loader's and the linker's view of OpenBLAS (Debian: the
  # alternatives point libopenblas.so.0 / libblas.so.3 into .../openblas-pthread/).
  mapfile -t libs < <(
    {
      ldconfig -p | awk '/lib(open)?blas[^ ]*\.so/ { print $NF }'
      find /usr/lib /usr/local/lib /opt -xdev \( -name 'libopenblas*' -o -name 'libblas.so*' \) 2>/dev/null || true
    } | xargs -r readlink -e | sort -u
  )
  [ ${#libs[@]} -gt 0 ] || echo "pack-test: no system OpenBLAS found (nothing to hide)"
  hidden=()
  for f in "${libs[@]}"; do
    d=$(dirname "$f")
    case $(basename "$d") in
      *blas*) # OpenBLAS's own directory (Debian: openblas-pthread, openblas-openmp, blas): hide all of it
        if ! printf '%s\n' "${hidden[@]}" | grep -qxF "$d/"; then
          mount -t tmpfs -o ro,size=4k tmpfs "$d" || fail "cannot mount a tmpfs over $d"
          hidden+=("$d/")
        fi ;;
      *) # a file among others (e.g. in /usr/lib/x86_64-linux-gnu): hide only it
        mount --bind /dev/null "$f" || fail "cannot bind /dev/null over $f"
        hidden+=("$f") ;;
    esac
  done
  for f in $(ldconfig -p | awk '/lib(open)?blas[^ ]*\.so/ { print $NF }'); do
    if [ -e "$f" ] && [ -s "$(readlink -f "$f")" ]; then fail "OpenBLAS still reachable inside the namespace: $f"; fi
  done

  # Compilers and build tools: bind a script that fails over each real binary.
  printf '#!/bin/sh\necho "pack-test: $0 is hidden (no toolchain on this machine)" >&2\nexit 127\n' >"$WORK/no-toolchain"
  chmod +x "$WORK/no-toolchain"
  tools=()
  for t in cc c++ gcc g++ clang clang++ cpp ld make gmake cmake ninja node-gyp; do
    p=$(command -v "$t" 2>/dev/null) || continue
    tools+=("$(readlink -e "$p")")
  done
  mapfile -t tools < <(printf '%s\n' "${tools[@]}" | sort -u)
  for p in "${tools[@]}"; do
    mount --bind "$WORK/no-toolchain" "$p" || fail "cannot hide $p"
  done
  for t in cc g++ cmake make; do
    if command -v "$t" >/dev/null 2>&1 && "$t" --version >/dev/null 2>&1; then fail "$t still works inside the namespace"; fi
  done
  echo "pack-test: hidden: ${hidden[*]:-nothing}; ${#tools[@]} tools: $(printf '%s ' "${tools[@]}")"

  # Negative control: the developer's dynamic build must no longer load.
  control=$ROOT/build/Release/rnnkit.node
  if [ -f "$control" ] && ldd "$control" 2>/dev/null | grep -q libopenblas; then
    if out=$(node -e 'process.dlopen({ exports: {} }, process.argv[1])' "$control" 2>&1); then
      fail "the dynamically linked $control still loads: the system OpenBLAS is not hidden"
    fi
    echo "pack-test: control: build/Release/rnnkit.node (links libopenblas) now fails to load: $(grep -m1 -o 'libopenblas.*' <<<"$out")"
  else
    echo "pack-test: control skipped: no dynamically linked build/Release/rnnkit.node"
  fi

  cd "$WORK/app"
  PREBUILDS_ONLY=1 node smoke.mjs || fail "the smoke program failed (see above)"
  out=$(PREBUILDS_ONLY=1 qemu-aarch64-static -L / "$NODE_ARM64" smoke.mjs) || { echo "$out"; fail "the smoke program failed under qemu-aarch64 (see above)"; }
  sed 's/^/arm64: /' <<<"$out"
  grep -q 'prebuilds/linux-arm64/rnnkit.glibc.node' <<<"$out" || fail "under qemu-aarch64 the smoke program did not load the linux-arm64 prebuild"

  # The setup step (npm run setup in a clone) in the installed package, with its C++ sources
  # made newer than everything and no toolchain: it must not build, only name what loads.
  touch node_modules/rnnkit/native/model.cc
  out=$(node node_modules/rnnkit/scripts/setup.mjs) || fail "scripts/setup.mjs failed in the installed package (see above)"
  echo "pack-test: $out"
  grep -q 'nothing to build: loads prebuilds/linux-x64/' <<<"$out" || fail "scripts/setup.mjs did not report the prebuild: $out"
  [ ! -e node_modules/rnnkit/build ] || fail "scripts/setup.mjs created build/ in the installed package"
  exit 0
fi

# ---------------------------------------------------------------------------------------
# outside: pack, install, check, then re-run this script inside a mount namespace
cd "$(dirname "$0")/.."
ROOT=$PWD
T0=$(now)
[ "$(uname -s)-$(uname -m)" = Linux-x86_64 ] || fail "only linux-x64 has a prebuild (this is $(uname -s)-$(uname -m))"
[ "$(id -u)" -eq 0 ] || fail "needs root for unshare --mount and mount (run as root, e.g. in CI)"
command -v unshare >/dev/null || fail "unshare not found (util-linux)"
unshare --mount true 2>/dev/null || fail "unshare --mount does not work here (a container without CAP_SYS_ADMIN?)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/rnnkit-pack.XXXXXX")
if [ -z "${PACK_TEST_KEEP:-}" ]; then trap 'rm -rf "$WORK"' EXIT; else echo "pack-test: keeping $WORK"; fi
LOG=$WORK/pack.log

version=$(node -p "require('./package.json').version")
tarball=$WORK/rnnkit-$version.tgz
t=$(now)
npm pack --pack-destination "$WORK" >"$LOG" 2>&1 || { tail -30 "$LOG"; fail "npm pack failed (log above)"; }
[ -f "$tarball" ] || { tail -30 "$LOG"; fail "npm pack did not write $tarball"; }
contents=$(tar -tzf "$tarball")
node_file=$(grep -E '^package/prebuilds/linux-x64/[^/]+\.node$' <<<"$contents" || true)
[ -n "$node_file" ] || fail "the tarball has no prebuild (package/prebuilds/linux-x64/*.node); contents: $(grep -c . <<<"$contents") files"
grep -qE '^package/prebuilds/linux-arm64/[^/]+\.node$' <<<"$contents" || fail "the tarball has no linux-arm64 prebuild"
size=$(stat -c %s "$tarball")
[ "$size" -le 15000000 ] || fail "the tarball is $size bytes, above 15 MB"
grep -qx 'package/dist/index.js' <<<"$contents" || fail "the tarball has no dist/index.js"
grep -qx 'package/scripts/setup.mjs' <<<"$contents" || fail "the tarball has no scripts/setup.mjs"
if grep -qE '^package/build/' <<<"$contents"; then fail "the tarball ships build/ (it must ship prebuilds/ only)"; fi
grep -E '^prebuilds: ' "$LOG" | sed 's/^/pack-test: /' || true
echo "pack-test: npm pack (prepack: dist + prebuild) in $(secs "$t"): $(basename "$tarball"), $(stat -c %s "$tarball") bytes, $(grep -c . <<<"$contents") files, ${node_file#package/}"

t=$(now)
mkdir -p "$WORK/app"
cp scripts/pack-smoke.mjs "$WORK/app/smoke.mjs"
cd "$WORK/app"
printf '{ "name": "pack-test-app", "private": true, "type": "module" }\n' >package.json
npm install --no-audit --no-fund --loglevel=error "$tarball" >"$LOG" 2>&1 || { tail -30 "$LOG"; fail "npm install of the tarball failed (log above)"; }
installed=$WORK/app/node_modules/rnnkit/${node_file#package/}
[ -f "$installed" ] || fail "the installed package has no $installed"
[ ! -e "$WORK/app/node_modules/rnnkit/build" ] || fail "the installed package has a build/ folder"
if ldd "$installed" | grep -i openblas; then fail "the shipped $installed links a shared OpenBLAS (ldd above)"; fi
echo "pack-test: installed into an empty project in $(secs "$t"): $(ls node_modules | tr '\n' ' ')"
cd "$ROOT"

# the arm64 Node that scripts/arm64-test.sh fetches and caches (it first checks that it runs)
NODE_ARM64=$(scripts/arm64-test.sh --node-only) || fail "no arm64 Node to run under qemu (see above)"

t=$(now)
unshare --mount -- "$ROOT/scripts/pack-test.sh" __hidden "$WORK" "$ROOT" "$NODE_ARM64" || fail "the run without OpenBLAS and compilers failed (see above)"
echo "pack-test: run without OpenBLAS and compilers in $(secs "$t")"

t=$(now)
PREBUILDS_DIR=$WORK/app/node_modules/rnnkit/prebuilds scripts/arm64-test.sh || fail "the installed linux-arm64 prebuild failed its tests under qemu (see above)"
echo "pack-test: linux-arm64 tests under qemu in $(secs "$t")"
echo "pack-test: ok in $(secs "$T0")"
