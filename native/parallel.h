// Splitting independent work across threads: the batch rows of the recurrence,
// the dense layer and the loss (forRows), and the large matrix products
// (parallelGemm).
//
// Each model owns a WorkerPool: threads started on first use that wait for the
// next job (a short spin, then a condition variable) and exit after idling for a
// second. A fresh std::thread per split was the first design, but Linux starts a
// new thread on its parent's CPU and moves it only when that CPU blocks: the
// forward loop's second row chunk started ~0.43 ms after the first (spawn ->
// first instruction 519 us while the parent is busy; a waiting worker wakes in
// ~7 us), so the "parallel" chunks mostly ran one after the other.
//
// A busy machine is the normal case on a server (issue 12): a worker may not be
// scheduled for milliseconds. So chunks are claimed, not assigned: the caller and
// the workers take the next unclaimed chunk until none is left, and the caller
// runs every chunk no worker has started. It then waits only for chunks a worker
// has started, sleeping (not spinning) after a short spin, so that the core it
// holds can run that worker. OpenBLAS's own threads, which waited for each other
// spinning, are not used: OpenBLAS runs on one thread per call, inside chunks.
//
// A worker that has claimed a chunk and then loses its core stalls the whole job
// until the OS runs it again (milliseconds, against tens of microseconds for a
// batch-1 sampling step). So the caller watches its own waits: when it waited for a
// started chunk longer than kStall and longer than it spent on its own chunks, the
// pool runs jobs on the caller alone for a while (20 ms, doubling up to 1 s while
// stalls keep coming soon after each probe, back to 20 ms after a clean stretch).
// It never triggers on a quiet machine; with busy neighbours on 2 cores it raised
// the H = 512 figures by 0-22% (docs/benchmarks.md, "The stall policy").
//
// The pool holds no global state: it belongs to its model, which runs one call at
// a time. The thread count is process-wide, like OpenBLAS's was (threadCount()).
#pragma once
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace rnnkit {

class WorkerPool {
 public:
  WorkerPool() = default;
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;
  ~WorkerPool();

  // Calls call(arg, k) exactly once for every k in [0, n), on the calling thread
  // and up to threads - 1 of the pool's workers (whichever claims k first), and
  // returns when all have finished. A call made from inside a running job (a nested
  // split) runs all of its chunks on the calling thread.
  void run(int n, void (*call)(void*, int), void* arg, int threads);

  // Chunks the caller ran of those it offered to workers, since the pool was made
  // (tests: a stalled worker's chunk is taken over; benchmarks).
  uint64_t takenOver() const { return takenOver_.load(std::memory_order_relaxed); }
  // Jobs run on the caller alone because a recent job stalled (tests, benchmarks).
  uint64_t soloJobs() const { return soloJobs_.load(std::memory_order_relaxed); }

 private:
  void work(int k, uint64_t seen);
  // Claims and runs chunks of job `gen` until none is left; returns how many it ran.
  int drain(uint64_t gen, int n, void (*call)(void*, int), void* arg);

  std::mutex m_;
  std::condition_variable cv_;        // workers wait here for a job
  std::condition_variable doneCv_;    // the caller waits here for started chunks
  std::vector<std::thread> threads_;  // worker k - 1
  std::vector<char> alive_;           // guarded by m_
  uint64_t gen_ = 0;                  // job counter, guarded by m_
  std::atomic<uint64_t> posted_{0};   // gen_, for workers spinning without the lock
  int n_ = 0;                         // the current job, guarded by m_
  int threads_n_ = 0;                 // the threads it may use (caller included), guarded by m_
  void (*call_)(void*, int) = nullptr;
  void* arg_ = nullptr;
  // (job generation << 32) | next unclaimed chunk: a claim is a compare-and-swap that
  // fails once the job is over, so a worker that wakes late never runs a chunk of a
  // job that has already returned (its arg is gone) or of the next one.
  std::atomic<uint64_t> claim_{0};
  std::atomic<int> finished_{0};  // chunks of the current job finished
  bool waiting_ = false;          // the caller sleeps on doneCv_, guarded by m_
  std::atomic<bool> busy_{false};
  std::atomic<uint64_t> takenOver_{0};
  std::atomic<uint64_t> soloJobs_{0};
  // The stall policy's state, touched only by the caller that holds busy_.
  int64_t soloUntilNs_ = 0;  // steady-clock time until which jobs run on the caller
  int64_t soloNs_ = 0;       // the length of the last solo stretch
  uint64_t sinceSolo_ = 0;   // split jobs run since the last solo stretch
  bool stop_ = false;
};

// The number of threads rnnkit splits work across, for the whole process:
// OPENBLAS_NUM_THREADS when set (as before rnnkit had its own threads), else the
// hardware threads; setThreadCount (rnnkit.setThreads) changes it. Read on first
// use, which also makes OpenBLAS single-threaded (parallel.h's header comment).
int threadCount();
void setThreadCount(int n);
int hardwareThreads();  // read once (glibc reads /sys on each hardware_concurrency call, ~20 us)

// The threads a split may use: threadCount(), never more than the machine's
// hardware threads (setThreads may ask for up to 64).
inline int splitThreads() { return std::min(threadCount(), hardwareThreads()); }

// Chunks per thread of a large product (parallelGemm): more chunks than threads,
// so that a thread the OS runs less (another process wants its core) takes fewer
// of them and the others more. With 2 busy processes beside it on 2 cores, LSTM-128
// training kept 38% of its quiet speed instead of 31%. Row splits keep one chunk
// per thread: each chunk streams W_hh once per step, and 8-row chunks made quiet
// LSTM-128 training 25% slower (bench:portability, docs/benchmarks.md).
constexpr int kChunksPerThread = 2;

// How many chunks a batch of B rows is split into: one per thread, at least 8 rows
// each (the step kernel's row tile), so small batches stay on one thread.
inline int rowChunks(int B) {
  const int n = std::min(splitThreads(), B / 8);
  return n < 1 ? 1 : n;
}

// Runs fn(b0, b1, k) for the k-th chunk of rows [b0, b1) on the pool (without a
// pool, all chunks on the caller, in order) and waits for all of them. Chunks are
// multiples of 8 rows (whole register tiles) except the last; chunk k always covers
// the same rows, whichever thread runs it, so sums kept per chunk add up in a fixed
// order.
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
  pool->run(n, call, &job, n);
}

// gemm (blas.h) with C's rows, or its columns when it has few rows, split in
// chunks across the pool; each chunk one single-threaded product. Products under
// 0.2 MFLOP stay whole (a hand-off costs more than it saves; threads.cc).
template <class T>
void parallelGemm(WorkerPool* pool, bool transA, bool transB, int M, int N, int K, T alpha, const T* A, int lda,
                  const T* B, int ldb, T beta, T* C, int ldc);

// C (M, N) (+)= A (M, K) W (N, K)^T, split like parallelGemm, on rnnkit's own
// stepGemmNT whatever the size: each element of C is then the same bits whichever
// rows and columns share its product (stepgemm.cc: one reduction tree per dot
// product), so a row computed in a batch equals the row computed alone. The forward
// products of a rowExact call (Batch::rowExact: generation, the batched sampler) go
// here instead of OpenBLAS, whose kernels round differently by size.
template <class T>
void rowExactGemmNT(WorkerPool* pool, int M, int N, int K, const T* A, int lda, const T* W, int ldw, T* C, int ldc,
                    bool accumulate);
// One column panel of a packed B (K, N): columns [col, col + width), stored at `offset`
// as (K, width) row-major, contiguous.
struct Panel {
  size_t offset;
  int col, width;
};

// W (rows, K)^T packed in column panels (Panel) of 512 bytes, for the
// recurrence of a rowExact call (rowExactPanelGemm). `bounds` are the column offsets
// where a product may start (0, ..., rows): a GRU's n-gate product starts at 2H, so
// panels never straddle one. Repacked when the weights' version changes.
template <class T>
struct PackedWeights {
  std::vector<T> data;
  std::vector<Panel> panels;
  uint64_t version = ~0ull;

  void pack(const T* W, int rows, int K, const std::vector<int>& bounds, uint64_t v) {
    if (v == version && data.size() == (size_t)rows * K) return;
    constexpr int P = 512 / (int)sizeof(T);
    data.resize((size_t)rows * K);
    panels.clear();
    size_t at = 0;
    for (size_t s = 0; s + 1 < bounds.size(); ++s)
      for (int c = bounds[s]; c < bounds[s + 1]; c += P) {
        const int w = std::min(P, bounds[s + 1] - c);
        for (int k = 0; k < K; ++k)
          for (int j = 0; j < w; ++j) data[at + (size_t)k * w + j] = W[(size_t)(c + j) * K + k];
        panels.push_back(Panel{at, c, w});
        at += (size_t)K * w;
      }
    version = v;
  }
  // The panels of columns [col0, col0 + N): col0 and col0 + N are among the bounds.
  std::pair<const Panel*, int> span(int col0, int N) const {
    size_t a = 0;
    while (a < panels.size() && panels[a].col < col0) ++a;
    size_t b = a;
    while (b < panels.size() && panels[b].col < col0 + N) ++b;
    return {panels.data() + a, (int)(b - a)};
  }
};

// C (M, the panels' columns) = A (M, K) B for B packed in column panels, panel by panel
// on stepGemm (C's columns from col0: panel p lands at p.col - col0), split across the
// pool by panels. stepGemm computes every element of C as one sum in k order whatever
// its tile, M or ld, so this too is row-exact: the recurrence of a rowExact call runs
// here, on the recurrent weights packed once per weight version (PackedWeights). A
// panel is read front to back; the same product on the plain transpose walked k with a
// stride of a whole row (4 KB at LSTM-256), a new page every step, and batch-1
// sampling ran at 0.7-0.8x the NT kernel's speed.
template <class T>
void rowExactPanelGemm(WorkerPool* pool, int M, int K, const T* A, int lda, const T* packed, const Panel* panels, int n,
                       int col0, T* C, int ldc);

}  // namespace rnnkit
