// The single BLAS seam: every matrix product in rnnkit goes through gemm<T>.
// Row-major C = alpha * op(A) * op(B) + beta * C, op = transpose when the flag is set.
// Dimensions: op(A) is [M, K], op(B) is [K, N], C is [M, N].
#pragma once
#include <cstddef>
#include <string>

namespace rnnkit {

template <class T>
void gemm(bool transA, bool transB, int M, int N, int K, T alpha, const T* A, int lda, const T* B, int ldb,
          T beta, T* C, int ldc);

// Naive triple loop with the same contract, used by tests as the reference.
template <class T>
void gemmReference(bool transA, bool transB, int M, int N, int K, T alpha, const T* A, int lda, const T* B,
                   int ldb, T beta, T* C, int ldc);

int blasThreads();
void setBlasThreads(int n);
std::string blasConfig();

}  // namespace rnnkit
