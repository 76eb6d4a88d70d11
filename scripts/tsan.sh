#!/usr/bin/env bash
# Builds the worker-pool tests (native/tests/pool_tests.cc + native/parallel.cc; no OpenBLAS)
# with ThreadSanitizer into build-tsan/ and runs them. The pool is the only code in rnnkit
# where threads share state (a job handed to waiting workers); the rest of the threaded code
# splits rows that no two threads touch, and runs under ASan/UBSan (scripts/sanitize.sh).
# The whole addon is not built with TSan: the uninstrumented OpenBLAS crashes under it.
#
# Usage: scripts/tsan.sh      (npm run test:tsan)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=build-tsan
mkdir -p "$OUT"
CXX=${CXX:-g++}
"$CXX" -std=c++17 -O1 -g -fsanitize=thread -Wall -Wextra -Inative \
  native/tests/pool_tests.cc native/parallel.cc -pthread -o "$OUT/pool_tests"
set +e
TSAN_OPTIONS="halt_on_error=1 exitcode=66 ${TSAN_OPTIONS:-}" "$OUT/pool_tests" 2>"$OUT/tsan.log"
rc=$?
set -e
reports=$(grep -c '^WARNING: ThreadSanitizer' "$OUT/tsan.log" || true)
echo "== tsan: pool tests exit $rc; ThreadSanitizer reports: $reports (log: $OUT/tsan.log)"
[ "$rc" -eq 0 ] && [ "$reports" -eq 0 ]
