// The process-wide thread count and the products split across a model's pool.
#include <cstdlib>
#include <mutex>

#include "blas.h"
#include "parallel.h"

namespace rnnkit {
namespace {

std::atomic<int>& count() {
  static std::atomic<int> n{[] {
    // OpenBLAS read OPENBLAS_NUM_THREADS (capped at the core count) when it loaded:
    // that is the user's choice, and becomes rnnkit's. OpenBLAS itself then runs on
    // one thread per call: rnnkit splits products across its own threads, whose
    // waits give the core away (parallel.h), where OpenBLAS's spun.
    const int n = blasThreads();
    setBlasThreads(1);
    return n < 1 ? 1 : n;
  }()};
  return n;
}

// Products of fewer FLOPs stay on one thread. Batch-1 sampling, tokens/s by threshold
// (2 cores, quiet): LSTM-256 54k at 2e6, 75k at 2e5; GRU-512 21k at 2e6, 32k at 2e5;
// LSTM-128 (W_hh 131k FLOPs) 180k at 2e5, 147k at 1e5 (the hand-off costs more).
constexpr double kSplitFlops = 2e5;

}  // namespace

int threadCount() { return count().load(std::memory_order_relaxed); }

void setThreadCount(int n) { count().store(n < 1 ? 1 : n, std::memory_order_relaxed); }

int hardwareThreads() {
  static const int hw = std::max(1, (int)std::thread::hardware_concurrency());
  return hw;
}

template <class T>
void parallelGemm(WorkerPool* pool, bool transA, bool transB, int M, int N, int K, T alpha, const T* A, int lda,
                  const T* B, int ldb, T beta, T* C, int ldc) {
  const double flops = 2.0 * M * N * K;
  const int threads = splitThreads();
  // Split the longer side of C, in multiples of 16 (whole GEMM register tiles),
  // kChunksPerThread chunks per thread.
  const bool rows = M >= N;
  const int len = rows ? M : N;
  int n = pool && threads > 1 && flops >= kSplitFlops ? std::min(kChunksPerThread * threads, len / 16) : 1;
  if (n <= 1) return gemm<T>(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  const int chunk = ((len + n - 1) / n + 15) / 16 * 16;
  n = (len + chunk - 1) / chunk;
  struct Job {
    bool transA, transB, rows;
    int M, N, K, chunk;
    T alpha, beta;
    const T *A, *B;
    T* C;
    int lda, ldb, ldc;
  } job{transA, transB, rows, M, N, K, chunk, alpha, beta, A, B, C, lda, ldb, ldc};
  pool->run(
      n,
      [](void* p, int k) {
        const Job& j = *static_cast<const Job*>(p);
        const int i0 = k * j.chunk, len = std::min(j.chunk, (j.rows ? j.M : j.N) - i0);
        if (len <= 0) return;
        if (j.rows)  // rows i0.. of op(A) and C
          gemm<T>(j.transA, j.transB, len, j.N, j.K, j.alpha, j.transA ? j.A + i0 : j.A + (size_t)i0 * j.lda, j.lda,
                  j.B, j.ldb, j.beta, j.C + (size_t)i0 * j.ldc, j.ldc);
        else  // columns i0.. of op(B) and C
          gemm<T>(j.transA, j.transB, j.M, len, j.K, j.alpha, j.A, j.lda,
                  j.transB ? j.B + (size_t)i0 * j.ldb : j.B + i0, j.ldb, j.beta, j.C + i0, j.ldc);
      },
      &job, threads);
}

template void parallelGemm<float>(WorkerPool*, bool, bool, int, int, int, float, const float*, int, const float*, int,
                                  float, float*, int);
template void parallelGemm<double>(WorkerPool*, bool, bool, int, int, int, double, const double*, int, const double*,
                                   int, double, double*, int);

}  // namespace rnnkit
