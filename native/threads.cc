// The process-wide thread count and the products split across a model's pool.
#include <cstdlib>
#include <mutex>
#include <type_traits>
#include <vector>

#include "blas.h"
#include "parallel.h"
#include "stepgemm.h"

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

namespace {

// Runs product(rows, i0, len) over chunks of C (M, N) from the product's FLOPs:
// rows [i0, i0 + len) when rows, else columns. The longer side of C is split, in
// multiples of 16 (whole GEMM register tiles), kChunksPerThread chunks per thread;
// one call on the caller when the product is small or there is no pool.
template <class F>
void splitProduct(WorkerPool* pool, int M, int N, int K, F&& product) {
  const double flops = 2.0 * M * N * K;
  const int threads = splitThreads();
  const bool rows = M >= N;
  const int len = rows ? M : N;
  int n = pool && threads > 1 && flops >= kSplitFlops ? std::min(kChunksPerThread * threads, len / 16) : 1;
  if (n <= 1) return product(true, 0, M);
  const int chunk = ((len + n - 1) / n + 15) / 16 * 16;
  n = (len + chunk - 1) / chunk;
  struct Job {
    F& product;
    bool rows;
    int len, chunk;
  } job{product, rows, len, chunk};
  pool->run(
      n,
      [](void* p, int k) {
        Job& j = *static_cast<Job*>(p);
        const int i0 = k * j.chunk, len = std::min(j.chunk, j.len - i0);
        if (len > 0) j.product(j.rows, i0, len);
      },
      &job, threads);
}

}  // namespace

template <class T>
void parallelGemm(WorkerPool* pool, bool transA, bool transB, int M, int N, int K, T alpha, const T* A, int lda,
                  const T* B, int ldb, T beta, T* C, int ldc) {
  std::vector<float> scratch;
  if constexpr (std::is_same_v<T, float>)
    if (transB && ownLargeGemm(M, alpha, beta))  // one transpose for every chunk (blas.h)
      B = transposed(N, K, B, ldb, scratch), ldb = N, transB = false;
  splitProduct(pool, M, N, K, [&](bool rows, int i0, int len) {
    if (rows)  // rows i0.. of op(A) and C
      gemm<T>(transA, transB, len, N, K, alpha, transA ? A + i0 : A + (size_t)i0 * lda, lda, B, ldb, beta,
              C + (size_t)i0 * ldc, ldc);
    else  // columns i0.. of op(B) and C
      gemm<T>(transA, transB, M, len, K, alpha, A, lda, transB ? B + (size_t)i0 * ldb : B + i0, ldb, beta, C + i0, ldc);
  });
}

template <class T>
void rowExactGemmNT(WorkerPool* pool, int M, int N, int K, const T* A, int lda, const T* W, int ldw, T* C, int ldc,
                    bool accumulate) {
  splitProduct(pool, M, N, K, [&](bool rows, int i0, int len) {
    if (rows) stepGemmNT<T>(len, N, K, A + (size_t)i0 * lda, lda, W, ldw, C + (size_t)i0 * ldc, ldc, accumulate);
    else stepGemmNT<T>(M, len, K, A, lda, W + (size_t)i0 * ldw, ldw, C + i0, ldc, accumulate);
  });
}

template <class T>
void rowExactPanelGemm(WorkerPool* pool, int M, int K, const T* A, int lda, const T* packed, const Panel* panels, int n,
                       int col0, T* C, int ldc) {
  auto one = [&](int k) {
    const Panel& p = panels[k];
    stepGemm<T>(M, p.width, K, A, lda, packed + p.offset, p.width, C + (p.col - col0), ldc, false);
  };
  int cols = 0;
  for (int k = 0; k < n; ++k) cols += panels[k].width;
  const int threads = splitThreads();
  if (!pool || threads <= 1 || n < 2 || 2.0 * M * cols * K < kSplitFlops) {
    for (int k = 0; k < n; ++k) one(k);
    return;
  }
  pool->run(
      n, [](void* f, int k) { (*static_cast<decltype(one)*>(f))(k); }, &one, threads);
}

template void rowExactPanelGemm<float>(WorkerPool*, int, int, const float*, int, const float*, const Panel*, int, int,
                                       float*, int);
template void rowExactPanelGemm<double>(WorkerPool*, int, int, const double*, int, const double*, const Panel*, int,
                                        int, double*, int);
template void rowExactGemmNT<float>(WorkerPool*, int, int, int, const float*, int, const float*, int, float*, int,
                                    bool);
template void rowExactGemmNT<double>(WorkerPool*, int, int, int, const double*, int, const double*, int, double*, int,
                                     bool);
template void parallelGemm<float>(WorkerPool*, bool, bool, int, int, int, float, const float*, int, const float*, int,
                                  float, float*, int);
template void parallelGemm<double>(WorkerPool*, bool, bool, int, int, int, double, const double*, int, const double*,
                                   int, double, double*, int);

}  // namespace rnnkit
