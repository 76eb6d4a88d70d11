#include "blas.h"

#include <cblas.h>

#include <cstdlib>
#include <cstring>
#include <thread>

namespace rnnkit {

static CBLAS_TRANSPOSE tr(bool t) { return t ? CblasTrans : CblasNoTrans; }

template <>
void gemm<float>(bool transA, bool transB, int M, int N, int K, float alpha, const float* A, int lda, const float* B,
                 int ldb, float beta, float* C, int ldc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {  // C = beta * C (BLAS would do this too, but avoid its argument checks on K = 0)
    for (int i = 0; i < M; ++i)
      for (int j = 0; j < N; ++j) C[(size_t)i * ldc + j] = beta == 0.f ? 0.f : beta * C[(size_t)i * ldc + j];
    return;
  }
  if (M == 1 && (size_t)N * K >= ((size_t)1 << 17)) {
    // One row of a large matrix (batch-1 sampling): sgemv, not sgemm. On an LSTM H=512
    // sampling one token at a time, OpenBLAS's sgemm with M = 1 ran 3x slower than its
    // sgemv. At 64k elements (LSTM-128, RNN-256) the two were as fast; at 196k (GRU-256's
    // W_hh, 768 x 256) sgemv sampled 1.2-1.75x faster, hence 128k (/tmp/gen2.mjs, the
    // threshold swept 16k / 64k / 128k / 256k / never).
    // c = op(B)^T a, where a is row 0 of op(A): contiguous, or strided by lda.
    const int incA = transA ? lda : 1;
    if (transB)  // op(B) = B^T, B is (N, K): c = B a
      cblas_sgemv(CblasRowMajor, CblasNoTrans, N, K, alpha, B, ldb, A, incA, beta, C, 1);
    else  // B is (K, N): c = B^T a
      cblas_sgemv(CblasRowMajor, CblasTrans, K, N, alpha, B, ldb, A, incA, beta, C, 1);
    return;
  }
  cblas_sgemm(CblasRowMajor, tr(transA), tr(transB), M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

template <>
void gemm<double>(bool transA, bool transB, int M, int N, int K, double alpha, const double* A, int lda,
                  const double* B, int ldb, double beta, double* C, int ldc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    for (int i = 0; i < M; ++i)
      for (int j = 0; j < N; ++j) C[(size_t)i * ldc + j] = beta == 0. ? 0. : beta * C[(size_t)i * ldc + j];
    return;
  }
  cblas_dgemm(CblasRowMajor, tr(transA), tr(transB), M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

template <class T>
void gemmReference(bool transA, bool transB, int M, int N, int K, T alpha, const T* A, int lda, const T* B, int ldb,
                   T beta, T* C, int ldc) {
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < N; ++j) {
      T acc = 0;
      for (int k = 0; k < K; ++k) {
        T a = transA ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
        T b = transB ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
        acc += a * b;
      }
      T& c = C[(size_t)i * ldc + j];
      c = alpha * acc + (beta == T(0) ? T(0) : beta * c);
    }
}

template void gemmReference<float>(bool, bool, int, int, int, float, const float*, int, const float*, int, float,
                                   float*, int);
template void gemmReference<double>(bool, bool, int, int, int, double, const double*, int, const double*, int, double,
                                    double*, int);

int blasThreads() { return openblas_get_num_threads(); }
void setBlasThreads(int n) { openblas_set_num_threads(n); }
std::string blasConfig() { return openblas_get_config(); }
std::string blasCoreName() { return openblas_get_corename(); }

int blasMaxThreads() {
  // openblas_get_config() ends with " MAX_THREADS=<n>" since 0.3.x; no other API reports it.
  const char* config = openblas_get_config();
  const char* at = config ? std::strstr(config, "MAX_THREADS=") : nullptr;
  const long n = at ? std::strtol(at + std::strlen("MAX_THREADS="), nullptr, 10) : 0;
  if (n >= 1 && n <= 65536) return (int)n;
  const unsigned cores = std::thread::hardware_concurrency();  // an OpenBLAS that does not say
  return cores > 0 ? (int)cores : 1;
}

}  // namespace rnnkit
