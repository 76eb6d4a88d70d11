#!/usr/bin/env bash
# Builds the addon and the C++ core tests with AddressSanitizer + UndefinedBehaviorSanitizer
# (CMake option RNNKIT_SANITIZE) into build-sanitize/ (build/ is left alone), runs the core
# tests binary, then runs a subset of the ava tests against the sanitized addon.
#
# How the tests load the sanitized addon without any change to lib/: node-gyp-build (the
# loader lib/native.ts uses) honours <PACKAGE_NAME>_PREBUILD, so RNNKIT_PREBUILD=build-sanitize
# makes it load build-sanitize/build/Release/rnnkit.node instead of build/Release/rnnkit.node.
# A Node addon built with -fsanitize=address needs the ASan runtime loaded first (LD_PRELOAD);
# leak detection is off because node itself "leaks" at exit by design.
#
# Usage: scripts/sanitize.sh [ava test files...]   (default: a subset that exercises every
# native entry point; set SANITIZE_TESTS="test/a.test.ts test/b.test.ts" to choose)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=build-sanitize
LOG=$OUT/sanitize.log
mkdir -p "$OUT"

t0=$(date +%s)
echo "== building with -DRNNKIT_SANITIZE=ON into $OUT/build"
# always from scratch: an incremental build over objects compiled before a header changed
# once gave a binary with two layouts of one class (a false crash in the core tests)
rm -rf "$OUT/build"
npx cmake-js compile --out "$OUT/build" --CDRNNKIT_SANITIZE=ON --CDRNNKIT_BUILD_TESTS=ON >"$OUT/build.log" 2>&1 ||
  { tail -40 "$OUT/build.log"; echo "sanitize: build failed (full log: $OUT/build.log)"; exit 1; }
ADDON=$OUT/build/Release/rnnkit.node
CORE=$(find "$OUT/build" -type f -name rnnkit_core_tests -perm -u+x | head -1)
BLASCORE=$(find "$OUT/build" -type f -name rnnkit_blas_core_tests -perm -u+x | head -1)
[ -f "$ADDON" ] || { echo "sanitize: $ADDON was not built"; exit 1; }
[ -n "$CORE" ] || { echo "sanitize: rnnkit_core_tests was not built"; exit 1; }
[ -n "$BLASCORE" ] || { echo "sanitize: rnnkit_blas_core_tests was not built"; exit 1; }
nm -D "$ADDON" | grep -q __asan_init || ldd "$ADDON" | grep -q libasan || { echo "sanitize: $ADDON is not instrumented"; exit 1; }
t1=$(date +%s)

# halt_on_error: the first ASan/UBSan report fails the run (UBSan otherwise only prints).
UBSAN="print_stacktrace=1:halt_on_error=1"
echo "== core tests under ASan/UBSan ($CORE)"
ASAN_OPTIONS="detect_leaks=1:abort_on_error=1" UBSAN_OPTIONS="$UBSAN" "$CORE" 2>&1 | tail -5
echo "== OpenBLAS core choice tests under ASan/UBSan ($BLASCORE)"
ASAN_OPTIONS="detect_leaks=1:abort_on_error=1" UBSAN_OPTIONS="$UBSAN" "$BLASCORE" 2>&1 | tail -2
t2=$(date +%s)

LIBASAN=$(gcc -print-file-name=libasan.so)
LIBUBSAN=$(gcc -print-file-name=libubsan.so)
TESTS=${SANITIZE_TESTS:-"test/native-core.test.ts test/api.test.ts test/errors.test.ts test/shapes.test.ts test/gradcheck.test.ts test/persist.test.ts test/seq2seq.test.ts test/fuzz.test.ts test/concurrency.test.ts test/numerics.test.ts"}
if [ "$#" -gt 0 ]; then TESTS="$*"; fi
# the loader must pick the sanitized binary, or the run proves nothing
picked=$(RNNKIT_PREBUILD="$ROOT/$OUT" node -e "console.log(require('node-gyp-build').path('.'))")
[ "$picked" = "$ROOT/$ADDON" ] || { echo "sanitize: node-gyp-build picked $picked, not $ROOT/$ADDON"; exit 1; }
echo "== ava against the sanitized addon ($picked): $TESTS"
set +e
RNNKIT_PREBUILD="$ROOT/$OUT" \
  LD_PRELOAD="$LIBASAN $LIBUBSAN" \
  ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:allow_user_segv_handler=1" \
  UBSAN_OPTIONS="$UBSAN" \
  RNNKIT_SANITIZED=1 \
  npx ava --timeout=10m $TESTS 2>&1 | tee "$LOG" | tail -25
rc=${PIPESTATUS[0]}
set -e
t3=$(date +%s)
reports=$(grep -cE "ERROR: AddressSanitizer|runtime error:" "$LOG" || true)
echo "== sanitize: build $((t1 - t0)) s, core tests $((t2 - t1)) s, ava $((t3 - t2)) s; ava exit $rc; sanitizer reports: $reports"
[ "$rc" -eq 0 ] && [ "$reports" -eq 0 ]
