// Splitting independent batch rows across threads (the recurrence, the dense
// layer's products).
//
// Each model owns a WorkerPool: threads started on first use that wait for the
// next job (a short spin, then a condition variable) and exit after idling
// for a second. A fresh std::thread per split was the first design, but Linux
// starts a new thread on its parent's CPU and moves it only when that CPU
// blocks: the forward loop's second row chunk started ~0.43 ms after the first
// (measured: /tmp wake benchmark, spawn -> first instruction 519 us while the
// parent is busy; a waiting worker wakes in ~7 us), so the "parallel" chunks
// mostly ran one after the other. The pool holds no global state: it belongs
// to its model, which runs one call at a time.
#pragma once
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "blas.h"

namespace rnnkit {

class WorkerPool {
 public:
  WorkerPool() = default;
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;
  ~WorkerPool();

  // Calls call(arg, k) for every k in [0, n): k = 0 on the calling thread, the
  // others on the pool's workers (or on the caller when no thread can be
  // started), and returns when all have finished. One job at a time.
  void run(int n, void (*call)(void*, int), void* arg);

 private:
  void work(int k, uint64_t seen);

  std::mutex m_;
  std::condition_variable cv_;
  std::vector<std::thread> threads_;  // worker k runs chunk k; threads_[k - 1]
  std::vector<char> alive_;           // guarded by m_
  uint64_t gen_ = 0;                  // job counter, guarded by m_
  std::atomic<uint64_t> posted_{0};   // gen_, for workers spinning without the lock
  int n_ = 0;                         // the current job, guarded by m_
  void (*call_)(void*, int) = nullptr;
  void* arg_ = nullptr;
  std::atomic<int> pending_{0};  // workers still on the current job
  bool stop_ = false;
};

// How many row chunks a batch of B rows is split into: one per BLAS thread
// (rnnkit.setThreads / OPENBLAS_NUM_THREADS), at least 8 rows each (the step
// kernel's row tile), so small batches stay on one thread.
// Never more than the machine's hardware threads: setThreads may ask OpenBLAS
// for up to 64, which would otherwise start 64 row threads on 2 cores.
// The hardware thread count is read once (a constant, not state): glibc reads
// /sys on every hardware_concurrency() call, ~20 us, which made batch-1 sampling
// (a few row-split decisions per token) 5-10x slower.
inline int rowChunks(int B) {
  static const int hw = std::max(1, (int)std::thread::hardware_concurrency());
  const int n = std::min(std::min(blasThreads(), hw), B / 8);
  return n < 1 ? 1 : n;
}

// Runs fn(b0, b1, k) for the k-th chunk of rows [b0, b1), chunk 0 on the calling
// thread and the others on the pool's workers, and waits for all of them
// (without a pool, all chunks run on the caller, in order).
// Chunks are multiples of 8 rows (whole register tiles) except the last.
template <class F>
inline void forRows(WorkerPool* pool, int B, F&& fn) {
  const int n = rowChunks(B);
  const int chunk = ((B + n - 1) / n + 7) / 8 * 8;
  struct Job {
    F& fn;
    int B, chunk;
  } job{fn, B, chunk};
  auto call = [](void* p, int k) {
    Job& j = *static_cast<Job*>(p);
    const int b0 = k * j.chunk;
    if (b0 < j.B) j.fn(b0, std::min(j.B, b0 + j.chunk), k);
  };
  if (n == 1 || !pool) {
    for (int k = 0; k < n; ++k) call(&job, k);
    return;
  }
  pool->run(n, call, &job);
}

}  // namespace rnnkit
