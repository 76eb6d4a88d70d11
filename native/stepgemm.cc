#include "stepgemm.h"

#include <cstddef>

namespace rnnkit {
namespace {

// A tile of MR rows x NR columns of C: acc[i][j] = sum_k A[i][k] B[k][j].
// `nr` <= NR columns are live (the right edge of C); the j loops vectorise.
template <class T, int MR, int NR>
inline __attribute__((always_inline)) void tile(int K, const T* A, int lda, const T* B, int ldb, T* C, int ldc, int nr,
                                                bool accumulate) {
  T acc[MR][NR];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) acc[i][j] = T(0);
  if (nr == NR) {
    for (int k = 0; k < K; ++k) {
      const T* b = B + (size_t)k * ldb;
      for (int i = 0; i < MR; ++i) {
        const T a = A[(size_t)i * lda + k];
        for (int j = 0; j < NR; ++j) acc[i][j] += a * b[j];
      }
    }
  } else {
    for (int k = 0; k < K; ++k) {
      const T* b = B + (size_t)k * ldb;
      for (int i = 0; i < MR; ++i) {
        const T a = A[(size_t)i * lda + k];
        for (int j = 0; j < nr; ++j) acc[i][j] += a * b[j];
      }
    }
  }
  for (int i = 0; i < MR; ++i) {
    T* c = C + (size_t)i * ldc;
    if (accumulate)
      for (int j = 0; j < nr; ++j) c[j] += acc[i][j];
    else
      for (int j = 0; j < nr; ++j) c[j] = acc[i][j];
  }
}

template <class T>
inline __attribute__((always_inline)) void kernel(int M, int N, int K, const T* A, int lda, const T* B, int ldb, T* C,
                                                  int ldc, bool accumulate) {
  constexpr int NR = 128 / sizeof(T);  // two 512-bit vectors
  constexpr int MR = 8;
  for (int j = 0; j < N; j += NR) {
    const int nr = N - j < NR ? N - j : NR;
    int i = 0;
    for (; i + MR <= M; i += MR)
      tile<T, MR, NR>(K, A + (size_t)i * lda, lda, B + j, ldb, C + (size_t)i * ldc + j, ldc, nr, accumulate);
    for (; i < M; ++i)
      tile<T, 1, NR>(K, A + (size_t)i * lda, lda, B + j, ldb, C + (size_t)i * ldc + j, ldc, nr, accumulate);
  }
}

__attribute__((target_clones("avx512f", "arch=haswell", "default"))) void stepGemmF32(int M, int N, int K,
                                                                                      const float* A, int lda,
                                                                                      const float* B, int ldb, float* C,
                                                                                      int ldc, bool acc) {
  kernel<float>(M, N, K, A, lda, B, ldb, C, ldc, acc);
}

__attribute__((target_clones("avx512f", "arch=haswell", "default"))) void stepGemmF64(int M, int N, int K,
                                                                                      const double* A, int lda,
                                                                                      const double* B, int ldb,
                                                                                      double* C, int ldc, bool acc) {
  kernel<double>(M, N, K, A, lda, B, ldb, C, ldc, acc);
}

}  // namespace

template <>
void stepGemm<float>(int M, int N, int K, const float* A, int lda, const float* B, int ldb, float* C, int ldc,
                     bool accumulate) {
  if (M > 0 && N > 0) stepGemmF32(M, N, K, A, lda, B, ldb, C, ldc, accumulate);
}

template <>
void stepGemm<double>(int M, int N, int K, const double* A, int lda, const double* B, int ldb, double* C, int ldc,
                      bool accumulate) {
  if (M > 0 && N > 0) stepGemmF64(M, N, K, A, lda, B, ldb, C, ldc, accumulate);
}

}  // namespace rnnkit
