#include "stepgemm.h"

#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "isa.h"

// GCC warns that passing 32- and 64-byte vectors by value changes the ABI of functions
// compiled without AVX; every such function here is always_inline, so no call crosses it.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace rnnkit {
namespace {

// One vector of VB bytes, loaded from any element address (GCC vector extensions:
// the same code is VB / 16 SSE registers at baseline, VB / 32 AVX registers, ...),
// and the integer vector of its lane indices (for __builtin_shuffle).
template <class T, int VB>
struct Vec {
  typedef T type __attribute__((vector_size(VB), aligned(sizeof(T)), may_alias));
  typedef std::conditional_t<sizeof(T) == 4, int32_t, int64_t> lane;
  typedef lane mask __attribute__((vector_size(VB)));
};

// ---- stepGemm: C (M, N) = A (M, K) B (K, N) ----

// A tile of MR rows x NR columns of C: acc[i][j] = sum_k A[i][k] B[k][j].
// `nr` <= NR columns are live (the right edge of C); the j loops vectorise.
// Element (i, k) of op(A): A (M, K) row-major, or with TA A^T, A stored (K, M) (stepGemmTN).
template <bool TA, class T>
inline __attribute__((always_inline)) T aAt(const T* A, int lda, int i, int k) {
  return TA ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
}
template <bool TA, class T>
inline __attribute__((always_inline)) const T* aRow(const T* A, int lda, int i) {
  return TA ? A + i : A + (size_t)i * lda;
}

template <class T, int MR, int NR, bool TA = false>
inline __attribute__((always_inline)) void tile(int K, const T* A, int lda, const T* B, int ldb, T* C, int ldc, int nr,
                                                bool accumulate) {
  T acc[MR][NR];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) acc[i][j] = T(0);
  if (nr == NR) {
    for (int k = 0; k < K; ++k) {
      const T* b = B + (size_t)k * ldb;
      for (int i = 0; i < MR; ++i) {
        const T a = aAt<TA>(A, lda, i, k);
        for (int j = 0; j < NR; ++j) acc[i][j] += a * b[j];
      }
    }
  } else {
    for (int k = 0; k < K; ++k) {
      const T* b = B + (size_t)k * ldb;
      for (int i = 0; i < MR; ++i) {
        const T a = aAt<TA>(A, lda, i, k);
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

// A full tile in vector registers: MR rows x NV vectors of C, each k one row of B
// (NV loads) and MR broadcasts of A. The scalar-array tile above, at 4 rows x 16
// floats under target("avx2,fma"), kept its sums on the stack: 5 GFLOP/s against
// 99 at AVX-512 on one core, and LSTM-128 training at 33k tokens/s instead of 249k
// with RNNKIT_ISA=avx2. Written with vector types, every level keeps its tile in
// registers (16 x 512 x 128 on one core: AVX-512 112, AVX2 70, baseline 29 GFLOP/s).
template <class T, int MR, int NV, int VB, bool TA = false>
inline __attribute__((always_inline)) void tileV(int K, const T* __restrict A, int lda, const T* __restrict B, int ldb,
                                                 T* C, int ldc, bool accumulate) {
  using V = typename Vec<T, VB>::type;
  constexpr int L = VB / (int)sizeof(T);
  V acc[MR][NV];
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
    for (int j = 0; j < NV; ++j) acc[i][j] = V{};
  for (int k = 0; k < K; ++k) {
    V b[NV];
#pragma GCC unroll 8
    for (int j = 0; j < NV; ++j) b[j] = *(const V*)(B + (size_t)k * ldb + j * L);
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      const T a = aAt<TA>(A, lda, i, k);
#pragma GCC unroll 8
      for (int j = 0; j < NV; ++j) acc[i][j] += a * b[j];
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
    for (int j = 0; j < NV; ++j) {
      V* c = (V*)(C + (size_t)i * ldc + j * L);
      *c = accumulate ? *c + acc[i][j] : acc[i][j];
    }
}

// VB = the vector width in bytes of the level: the tile is MR rows x 2 vectors.
// Rows left over (all of them when M < MR, e.g. batch-1 sampling) go one at a time,
// 8 vectors of C per tile, so that 8 independent sums hide the FMA latency. Every
// element of C is one sum in k order (acc += a * b) in every tile shape, so a row is
// the same bits here as in an MR-row tile: a row of C does not depend on M
// (rowExactPanelGemm relies on it).
// TA: A^T instead of A (stepGemmTN, weight gradients); the same tiles and sums.
template <class T, int MR, int VB, bool TA = false>
inline __attribute__((always_inline)) void kernelNN(int M, int N, int K, const T* A, int lda, const T* B, int ldb, T* C,
                                                    int ldc, bool accumulate) {
  constexpr int L = VB / (int)sizeof(T), NR = 2 * L, WIDE = 8 * L;
  const int full = M / MR * MR;
  for (int j = 0; j < N; j += NR) {
    const int nr = N - j < NR ? N - j : NR;
    for (int i = 0; i < full; i += MR) {
      const T* a = aRow<TA>(A, lda, i);
      if (nr == NR) tileV<T, MR, 2, VB, TA>(K, a, lda, B + j, ldb, C + (size_t)i * ldc + j, ldc, accumulate);
      else  // the right edge of C
        tile<T, MR, NR, TA>(K, a, lda, B + j, ldb, C + (size_t)i * ldc + j, ldc, nr, accumulate);
    }
  }
  for (int i = full; i < M; ++i) {
    const T* a = aRow<TA>(A, lda, i);
    T* c = C + (size_t)i * ldc;
    int j = 0;
    for (; j + WIDE <= N; j += WIDE) tileV<T, 1, 8, VB, TA>(K, a, lda, B + j, ldb, c + j, ldc, accumulate);
    for (; j + NR <= N; j += NR) tileV<T, 1, 2, VB, TA>(K, a, lda, B + j, ldb, c + j, ldc, accumulate);
    if (j < N) tile<T, 1, NR, TA>(K, a, lda, B + j, ldb, c + j, ldc, N - j, accumulate);
  }
}
template <class T, int MR, int VB>
inline __attribute__((always_inline)) void kernelTN(int M, int N, int K, const T* A, int lda, const T* B, int ldb, T* C,
                                                    int ldc, bool accumulate) {
  kernelNN<T, MR, VB, true>(M, N, K, A, lda, B, ldb, C, ldc, accumulate);
}

// ---- stepGemmNT: C (M, N) = A (M, K) W (N, K)^T ----

// Reducing NR vectors of L lanes to NR sums. Adding the lanes of each vector one by
// one cost more than the dot products themselves at K = 128 (8 vector FMAs, then 15
// scalar adds and lane extracts per output). Instead, pairs of vectors fold: with
// lanes in groups of G per output, fold(a, b) adds the two halves of every group of
// a and of b and packs the results (a's groups, then b's) into one vector of groups
// of G / 2: log2(NR) levels of two shuffles and one add per pair, then a few lanes
// per output are left to add.
constexpr int foldLane(int L, int G, int off, int p) {
  const int half = G / 2, g = p / half, w = p % half, groups = L / G;
  return g < groups ? g * G + w + off : L + (g - groups) * G + w + off;
}

template <class M, int L, int G, int Off, int... P>
inline __attribute__((always_inline)) M foldMask(std::integer_sequence<int, P...>) {
  return M{foldLane(L, G, Off, P)...};
}

template <class T, int VB, int G>
inline __attribute__((always_inline)) typename Vec<T, VB>::type fold(typename Vec<T, VB>::type a,
                                                                     typename Vec<T, VB>::type b) {
  using M = typename Vec<T, VB>::mask;
  constexpr int L = VB / (int)sizeof(T);
  const auto lanes = std::make_integer_sequence<int, L>{};
  return __builtin_shuffle(a, b, foldMask<M, L, G, 0>(lanes)) +
         __builtin_shuffle(a, b, foldMask<M, L, G, G / 2>(lanes));
}

// out[r] = sum of the lanes of v[r], r < N (a power of two). Level by level: N vectors
// with groups of G lanes; vector j's group q holds output map[j][q]. Every sum is the
// same halving tree (lane l + lane l + L/2, then l + L/4, ...) whatever N is: the
// folds take its first levels, the scalar adds the rest. So a row's dot products do
// not depend on how many rows or W rows a tile takes (MR x 2 or 1 x 8), and a row of
// C is the same bits whatever M is: batched sampling relies on it (rowGemmNT).
template <class T, int VB, int N, int G>
inline __attribute__((always_inline)) void reduceLanes(typename Vec<T, VB>::type (&v)[N],
                                                       const int (&map)[N][VB / sizeof(T)], T* out) {
  constexpr int L = VB / (int)sizeof(T), groups = L / G;
  if constexpr (N > 1 && G > 1) {
    typename Vec<T, VB>::type u[N / 2];
    int next[N / 2][L] = {};
#pragma GCC unroll 8
    for (int j = 0; j < N / 2; ++j) {
      u[j] = fold<T, VB, G>(v[j], v[j + N / 2]);
      for (int q = 0; q < groups; ++q) {
        next[j][q] = map[j][q];
        next[j][groups + q] = map[j + N / 2][q];
      }
    }
    reduceLanes<T, VB, N / 2, G / 2>(u, next, out);
  } else {
#pragma GCC unroll 8
    for (int j = 0; j < N; ++j)
#pragma GCC unroll 16
      for (int q = 0; q < groups; ++q) {
        T s[G];
        for (int l = 0; l < G; ++l) s[l] = v[j][q * G + l];
        for (int w = G / 2; w >= 1; w /= 2)  // the halving tree the folds began
          for (int l = 0; l < w; ++l) s[l] += s[l + w];
        out[map[j][q]] = s[0];
      }
  }
}

// MR rows of A against NR rows of W: MR x NR dot products, each summed in one
// vector of lanes and reduced once at the end. `nr` <= NR rows of W are live; the
// others re-read the last live row (results dropped), so that every loop has a
// constant trip count and the sums stay in registers (auto-vectorised loops over
// scalar lanes kept them on the stack: 1.6x slower than OpenBLAS's sgemv).
template <class T, int MR, int NR, int VB>
inline __attribute__((always_inline)) void tileNT(int K, const T* __restrict A, int lda, const T* __restrict W, int ldw,
                                                  T* C, int ldc, int nr, bool accumulate) {
  using V = typename Vec<T, VB>::type;
  constexpr int L = VB / (int)sizeof(T);
  const T* w[NR];
#pragma GCC unroll 8
  for (int r = 0; r < NR; ++r) w[r] = W + (size_t)(r < nr ? r : nr - 1) * ldw;
  V acc[MR][NR];
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
    for (int r = 0; r < NR; ++r) acc[i][r] = V{};
  const int K0 = K / L * L;
  for (int k = 0; k < K0; k += L) {
    V wv[NR];
#pragma GCC unroll 8
    for (int r = 0; r < NR; ++r) wv[r] = *(const V*)(w[r] + k);
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      const V av = *(const V*)(A + (size_t)i * lda + k);
#pragma GCC unroll 8
      for (int r = 0; r < NR; ++r) acc[i][r] += av * wv[r];
    }
  }
  int map[NR][L] = {};
  for (int r = 0; r < NR; ++r) map[r][0] = r;
  for (int i = 0; i < MR; ++i) {
    T s[NR];
    reduceLanes<T, VB, NR, L>(acc[i], map, s);
    for (int r = 0; r < nr; ++r) {
      for (int k = K0; k < K; ++k) s[r] += A[(size_t)i * lda + k] * w[r][k];
      T& c = C[(size_t)i * ldc + r];
      c = accumulate ? c + s[r] : s[r];
    }
  }
}

// Row blocks of MR, W blocks of NR = 2 (2 * MR accumulators: 16 vector registers
// at MR = 4 hold them with the loads); one row of A alone (batch-1) takes 8 W rows
// at a time, so that 8 independent sums hide the add latency.
template <class T, int MR, int VB>
inline __attribute__((always_inline)) void kernelNT(int M, int N, int K, const T* A, int lda, const T* W, int ldw, T* C,
                                                    int ldc, bool accumulate) {
  int i = 0;
  for (; i + MR <= M; i += MR)
    for (int n = 0; n < N; n += 2)
      tileNT<T, MR, 2, VB>(K, A + (size_t)i * lda, lda, W + (size_t)n * ldw, ldw, C + (size_t)i * ldc + n, ldc,
                           N - n < 2 ? N - n : 2, accumulate);
  for (; i < M; ++i)
    for (int n = 0; n < N; n += 8)
      tileNT<T, 1, 8, VB>(K, A + (size_t)i * lda, lda, W + (size_t)n * ldw, ldw, C + (size_t)i * ldc + n, ldc,
                          N - n < 8 ? N - n : 8, accumulate);
}

// The levels: AVX-512 8 rows x 64-byte vectors; AVX2 4 x 32; baseline (SSE2) 4 x 16.
#define RNNKIT_STEP_LEVELS(name, T, kernel)                                                                            \
  RNNKIT_TARGET_AVX512 void name##Avx512(int M, int N, int K, const T* A, int lda, const T* B, int ldb, T* C, int ldc, \
                                         bool acc) {                                                                   \
    kernel<T, 8, 64>(M, N, K, A, lda, B, ldb, C, ldc, acc);                                                            \
  }                                                                                                                    \
  RNNKIT_TARGET_AVX2 void name##Avx2(int M, int N, int K, const T* A, int lda, const T* B, int ldb, T* C, int ldc,     \
                                     bool acc) {                                                                       \
    kernel<T, 4, 32>(M, N, K, A, lda, B, ldb, C, ldc, acc);                                                            \
  }                                                                                                                    \
  void name##Baseline(int M, int N, int K, const T* A, int lda, const T* B, int ldb, T* C, int ldc, bool acc) {        \
    kernel<T, 4, 16>(M, N, K, A, lda, B, ldb, C, ldc, acc);                                                            \
  }                                                                                                                    \
  void name(int M, int N, int K, const T* A, int lda, const T* B, int ldb, T* C, int ldc, bool acc) {                  \
    if (M <= 0 || N <= 0) return;                                                                                      \
    switch (isa()) {                                                                                                   \
      case Isa::Avx512: return name##Avx512(M, N, K, A, lda, B, ldb, C, ldc, acc);                                     \
      case Isa::Avx2: return name##Avx2(M, N, K, A, lda, B, ldb, C, ldc, acc);                                         \
      default: return name##Baseline(M, N, K, A, lda, B, ldb, C, ldc, acc);                                            \
    }                                                                                                                  \
  }

RNNKIT_STEP_LEVELS(nnF32, float, kernelNN)
RNNKIT_STEP_LEVELS(nnF64, double, kernelNN)
RNNKIT_STEP_LEVELS(tnF32, float, kernelTN)
RNNKIT_STEP_LEVELS(tnF64, double, kernelTN)
RNNKIT_STEP_LEVELS(ntF32, float, kernelNT)
RNNKIT_STEP_LEVELS(ntF64, double, kernelNT)

}  // namespace

template <>
void stepGemm<float>(int M, int N, int K, const float* A, int lda, const float* B, int ldb, float* C, int ldc,
                     bool accumulate) {
  nnF32(M, N, K, A, lda, B, ldb, C, ldc, accumulate);
}

template <>
void stepGemm<double>(int M, int N, int K, const double* A, int lda, const double* B, int ldb, double* C, int ldc,
                      bool accumulate) {
  nnF64(M, N, K, A, lda, B, ldb, C, ldc, accumulate);
}

template <>
void stepGemmTN<float>(int M, int N, int K, const float* A, int lda, const float* B, int ldb, float* C, int ldc,
                       bool accumulate) {
  tnF32(M, N, K, A, lda, B, ldb, C, ldc, accumulate);
}

template <>
void stepGemmTN<double>(int M, int N, int K, const double* A, int lda, const double* B, int ldb, double* C, int ldc,
                        bool accumulate) {
  tnF64(M, N, K, A, lda, B, ldb, C, ldc, accumulate);
}

template <>
void stepGemmNT<float>(int M, int N, int K, const float* A, int lda, const float* W, int ldw, float* C, int ldc,
                       bool accumulate) {
  ntF32(M, N, K, A, lda, W, ldw, C, ldc, accumulate);
}

template <>
void stepGemmNT<double>(int M, int N, int K, const double* A, int lda, const double* W, int ldw, double* C, int ldc,
                        bool accumulate) {
  ntF64(M, N, K, A, lda, W, ldw, C, ldc, accumulate);
}

}  // namespace rnnkit
