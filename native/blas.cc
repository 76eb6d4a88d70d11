#include "blas.h"

#include <cblas.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "blas_core.h"
#include "cpu.h"
#include "stepgemm.h"

namespace rnnkit {

static CBLAS_TRANSPOSE tr(bool t) { return t ? CblasTrans : CblasNoTrans; }

namespace {

// Products with fewer rows than this run on rnnkit's own single-threaded kernels
// (stepgemm.h): batch-1 sampling, small batches, beam search. Their speed then
// depends on the CPU's features, not on which kernels OpenBLAS picked for the CPU
// model, and no step waits for an OpenBLAS worker that a busy machine has not
// scheduled. 16 rows: below it the recurrence does not split rows across threads
// either (parallel.h rowChunks: at least 8 rows a chunk).
constexpr int kSmallRows = 16;

template <class T>
inline void scaleRows(int M, int N, T beta, T* C, int ldc) {
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < N; ++j) C[(size_t)i * ldc + j] = beta == T(0) ? T(0) : beta * C[(size_t)i * ldc + j];
}

// The own-kernel path when it applies (alpha = 1, beta 0 or 1, A not transposed).
template <class T>
inline bool smallGemm(bool transA, bool transB, int M, int N, int K, T alpha, const T* A, int lda, const T* B, int ldb,
                      T beta, T* C, int ldc) {
  if (transA || M >= kSmallRows || alpha != T(1) || (beta != T(0) && beta != T(1))) return false;
  if (transB) stepGemmNT<T>(M, N, K, A, lda, B, ldb, C, ldc, beta == T(1));
  else stepGemm<T>(M, N, K, A, lda, B, ldb, C, ldc, beta == T(1));
  return true;
}

}  // namespace

bool largeProductsOnOwnKernels() { return ownKernelsOutrank(isa(), blasCoreName()); }

bool ownLargeGemm(int M, float alpha, float beta) {
  return M >= kSmallRows && alpha == 1.0f && (beta == 0.0f || beta == 1.0f) && largeProductsOnOwnKernels();
}

namespace {

// K in blocks, so that the slice of B a register tile streams (kBlockK x 2 vectors: 16 KB at AVX-512)
// stays in L1 while the next row tiles read it: unblocked, a weight gradient's K = T * B = 1280 left
// stepGemmTN at 72 GFLOP/s on [1024, 256], against 127 blocked and 96 for OpenBLAS's Haswell kernels
// (one thread, the 2-vCPU AVX-512 EPYC of docs/benchmarks.md, a one-off timing program).
constexpr int kBlockK = 128;

void ownLargeProduct(bool transA, int M, int N, int K, const float* A, int lda, const float* B, int ldb, float* C,
                     int ldc, bool accumulate) {
  for (int k0 = 0; k0 < K; k0 += kBlockK) {
    const int kc = std::min(kBlockK, K - k0);
    const bool acc = accumulate || k0 > 0;
    const float* b = B + (size_t)k0 * ldb;
    if (transA) stepGemmTN<float>(M, N, kc, A + (size_t)k0 * lda, lda, b, ldb, C, ldc, acc);
    else stepGemm<float>(M, N, kc, A + k0, lda, b, ldb, C, ldc, acc);
  }
}

}  // namespace

template <class T>
void transposeInto(int rows, int cols, const T* src, int lds, T* dst, int ldd) {
  constexpr int kTile = 16;  // tiles of 16 x 16: both sides stay in cache lines already read
  for (int r0 = 0; r0 < rows; r0 += kTile)
    for (int c0 = 0; c0 < cols; c0 += kTile) {
      const int r1 = std::min(rows, r0 + kTile), c1 = std::min(cols, c0 + kTile);
      for (int r = r0; r < r1; ++r)
        for (int c = c0; c < c1; ++c) dst[(size_t)c * ldd + r] = src[(size_t)r * lds + c];
    }
}
template void transposeInto<float>(int, int, const float*, int, float*, int);
template void transposeInto<double>(int, int, const double*, int, double*, int);

const float* transposed(int rows, int cols, const float* src, int ld, std::vector<float>& scratch) {
  scratch.resize((size_t)rows * cols);
  transposeInto(rows, cols, src, ld, scratch.data(), rows);
  return scratch.data();
}

template <>
void gemm<float>(bool transA, bool transB, int M, int N, int K, float alpha, const float* A, int lda, const float* B,
                 int ldb, float beta, float* C, int ldc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) return scaleRows(M, N, beta, C, ldc);  // C = beta * C (BLAS would do this too, but checks K = 0)
  if (smallGemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)) return;
  if (ownLargeGemm(M, alpha, beta)) {
    std::vector<float> scratch;
    if (transB) B = transposed(N, K, B, ldb, scratch), ldb = N;
    return ownLargeProduct(transA, M, N, K, A, lda, B, ldb, C, ldc, beta == 1.0f);
  }
  cblas_sgemm(CblasRowMajor, tr(transA), tr(transB), M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

template <>
void gemm<double>(bool transA, bool transB, int M, int N, int K, double alpha, const double* A, int lda,
                  const double* B, int ldb, double beta, double* C, int ldc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) return scaleRows(M, N, beta, C, ldc);
  if (smallGemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)) return;
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
