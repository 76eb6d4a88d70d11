// Small single-threaded products: the per-step recurrence of a row chunk, and
// every product with few rows (batch-1 sampling, small batches, beam search).
//
//   stepGemm:   C (M, N) = A (M, K) B (K, N)        B row-major (K, N)
//   stepGemmNT: C (M, N) = A (M, K) W (N, K)^T      W row-major (N, K): PyTorch's weight layout
//   stepGemmTN: C (M, N) = A (K, M)^T B (K, N)      weight gradients, dW = dY^T X
//
// all row-major with leading dimensions; `accumulate` adds to C instead of
// overwriting it. The recurrent layers split the batch rows of a step across
// threads (each runs the whole time loop for its rows), so the products there
// are small (M = a few rows, K = H, N = G*H or H) and run on one core, where
// OpenBLAS would hand each step to its thread pool and back (for B = 32, H = 128
// a step's product took ~60 us through 2-thread sgemm and ~20 us per half batch
// here, on each core at once; docs/benchmarks.md).
//
// Products with few rows (the gemm seam sends M < kSmallRows here, blas.cc) ran
// at the speed of whichever kernels OpenBLAS picked for the CPU model: LSTM-128
// batch-1 sampling was 4x slower with its Haswell or Prescott kernels than with
// its SkylakeX small-matrix path (issue 12). These kernels are rnnkit's own,
// chosen by CPU features (native/isa.h), one thread, no hand-off to wait for.
//
// stepGemm keeps an MR-row x 2-vector tile of C in registers and streams one
// column block of B (K x 2 vectors, L1-resident) past all row tiles. stepGemmNT
// keeps an MR x NR block of dot products in vector lanes and streams MR rows of
// A against NR rows of W, each W row read once per MR rows of A. Both are
// compiled for AVX-512 (MR = 8), AVX2 and baseline x86-64 (MR = 4: 16 vector
// registers), the one for isa() at each call.
#pragma once

namespace rnnkit {

template <class T>
void stepGemm(int M, int N, int K, const T* A, int lda, const T* B, int ldb, T* C, int ldc, bool accumulate);

template <class T>
void stepGemmTN(int M, int N, int K, const T* A, int lda, const T* B, int ldb, T* C, int ldc, bool accumulate);
template <class T>
void stepGemmNT(int M, int N, int K, const T* A, int lda, const T* W, int ldw, T* C, int ldc, bool accumulate);

}  // namespace rnnkit
