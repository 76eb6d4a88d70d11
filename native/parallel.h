// Splitting independent batch rows across threads (the recurrence, the dense
// layer's products). Each chunk runs on its own thread for the whole of its
// work; no state outlives a call.
#pragma once
#include <algorithm>
#include <system_error>
#include <thread>
#include <vector>

#include "blas.h"

namespace rnnkit {

// How many row chunks a batch of B rows is split into: one per BLAS thread
// (rnnkit.setThreads / OPENBLAS_NUM_THREADS), at least 8 rows each (the step
// kernel's row tile), so small batches stay on one thread.
// Never more than the machine's hardware threads: setThreads may ask OpenBLAS
// for up to 64, which would otherwise start 64 row threads on 2 cores.
inline int rowChunks(int B) {
  const int hw = (int)std::thread::hardware_concurrency();
  const int n = std::min(std::min(blasThreads(), hw > 0 ? hw : 1), B / 8);
  return n < 1 ? 1 : n;
}

// Runs fn(b0, b1, k) for the k-th chunk of rows [b0, b1), chunk 0 on the calling
// thread and the others on threads of their own, and waits for all of them.
// Chunks are multiples of 8 rows (whole register tiles) except the last.
template <class F>
inline void forRows(int B, F&& fn) {
  const int n = rowChunks(B);
  if (n == 1) {
    fn(0, B, 0);
    return;
  }
  const int chunk = ((B + n - 1) / n + 7) / 8 * 8;
  std::vector<std::thread> pool;
  pool.reserve(n - 1);
  int k = 1;
  try {
    for (; k < n && k * chunk < B; ++k)
      pool.emplace_back([&fn, k, chunk, B] { fn(k * chunk, std::min(B, (k + 1) * chunk), k); });
  } catch (const std::system_error&) {
    // no thread to be had: the remaining chunks run here, after chunk 0
  }
  fn(0, std::min(B, chunk), 0);
  for (int j = k; j < n && j * chunk < B; ++j) fn(j * chunk, std::min(B, (j + 1) * chunk), j);
  for (auto& th : pool) th.join();
}

}  // namespace rnnkit
