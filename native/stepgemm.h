// Small single-threaded products for the per-step recurrence.
//
//   C (M, N) = A (M, K) B (K, N)        accumulate: C += A B
//
// all row-major with leading dimensions. The recurrent layers split the batch
// rows of a step across threads (each thread runs the whole time loop for its
// rows: the step GEMM and the gate kernels), so every product here is small
// (M = a few rows, K = H, N = G*H or H) and runs on one core, where OpenBLAS
// would hand each step to its thread pool and back: for B = 32, H = 128 a
// step's product took ~60 us through 2-thread sgemm and ~20 us per half batch
// here, on each core at once (bench: /tmp microbenchmark, see docs/benchmarks.md).
//
// The kernel keeps an 8-row x 2-vector tile of C in registers and streams one
// column block of B (K x 2 vectors, L1-resident) past all row tiles. It is
// compiled for AVX-512, AVX2 and baseline x86-64, picked at load time.
#pragma once

namespace rnnkit {

template <class T>
void stepGemm(int M, int N, int K, const T* A, int lda, const T* B, int ldb, T* C, int ldc, bool accumulate);

}  // namespace rnnkit
