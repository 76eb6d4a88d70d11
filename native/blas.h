// The single BLAS seam: every matrix product in rnnkit goes through gemm<T>.
// Row-major C = alpha * op(A) * op(B) + beta * C, op = transpose when the flag is set.
// Dimensions: op(A) is [M, K], op(B) is [K, N], C is [M, N].
#pragma once
#include <cstddef>
#include <string>
#include <vector>

namespace rnnkit {

template <class T>
void gemm(bool transA, bool transB, int M, int N, int K, T alpha, const T* A, int lda, const T* B, int ldb, T beta,
          T* C, int ldc);

// True when gemm<float> runs a product of M >= 16 rows on rnnkit's own kernels (native/stepgemm.h:
// stepGemm, or stepGemmTN for op(A) = A^T) rather than OpenBLAS: alpha 1, beta 0 or 1, and
// largeProductsOnOwnKernels(). op(B) = B^T is then transposed into a scratch first (parallelGemm does
// it once for all its chunks), as dot products per row (stepGemmNT) run at a third of the speed.
// Products of fewer rows always run on rnnkit's kernels when A is not transposed (blas.cc).
bool ownLargeGemm(int M, float alpha, float beta);
// ownKernelsOutrank(isa(), the core OpenBLAS runs now) (native/blas_core.h): whether rnnkit's
// kernels are in a stronger instruction-set class than OpenBLAS's. info().largeProducts reports it.
bool largeProductsOnOwnKernels();

// dst (cols, rows; leading dimension ldd) = src (rows, cols; leading dimension lds) transposed, in
// 16 x 16 tiles. The one transpose of the core: the seam's (below) and the recurrent layers' cached W^T.
template <class T>
void transposeInto(int rows, int cols, const T* src, int lds, T* dst, int ldd);
// src transposed into scratch (cols, rows), resized to fit; returns scratch's data.
const float* transposed(int rows, int cols, const float* src, int ld, std::vector<float>& scratch);

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
