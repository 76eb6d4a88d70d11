// The single BLAS seam: every matrix product in rnnkit goes through gemm<T>.
// Row-major C = alpha * op(A) * op(B) + beta * C, op = transpose when the flag is set.
// Dimensions: op(A) is [M, K], op(B) is [K, N], C is [M, N].
#pragma once
#include <cstddef>
#include <string>

namespace rnnkit {

template <class T>
void gemm(bool transA, bool transB, int M, int N, int K, T alpha, const T* A, int lda, const T* B, int ldb, T beta,
          T* C, int ldc);

// Naive triple loop with the same contract, used by tests as the reference.
template <class T>
void gemmReference(bool transA, bool transB, int M, int N, int K, T alpha, const T* A, int lda, const T* B, int ldb,
                   T beta, T* C, int ldc);

// Thread control and build facts of the linked OpenBLAS. The thread count is process-wide
// (one OpenBLAS per process, or per .node when linked statically): change it only while
// no product is running (the TypeScript layer enforces this for its own calls).
int blasThreads();
void setBlasThreads(int n);
// The most threads this OpenBLAS was built for (MAX_THREADS in its config string; more are
// silently clamped to it by openblas_set_num_threads).
int blasMaxThreads();
std::string blasConfig();
// The CPU kernel set chosen at run time (DYNAMIC_ARCH builds), e.g. "Haswell".
std::string blasCoreName();

}  // namespace rnnkit
