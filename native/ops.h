// Small element-wise helpers shared by the kernels.
//
// sigm / tanhT: float uses branch-free approximations that the compiler
// vectorises (a Cephes-style exp: Cody-Waite range reduction and a degree-6
// polynomial, ~1e-7 relative error), because libm's scalar expf / tanhf were
// a fifth of a training step. The selects in them vectorise only with
// -fno-trapping-math (CMakeLists.txt): GCC will not if-convert a float
// comparison that might trap, and we never rely on FP exceptions. double
// keeps libm's exact functions, so the float64 gradient checks measure the
// math, not an approximation.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>

// Forced inline: GCC does not inline a plain inline function into a
// caller compiled for another ISA (native/isa.h: cells_dispatch.cc, loss), and a call in
// the loop stops vectorisation ("statement clobbers memory").
#define RNNKIT_MATH inline __attribute__((always_inline))
#include <cstring>

namespace rnnkit {

// exp(x) for float, x clamped to [-87.3, 88] (the normal range), branch-free.
RNNKIT_MATH float fastExp(float x) {
  // Every step is a plain arithmetic op, min/max or an int conversion (no floor: SSE2 has
  // no vector floor and the call would stop the loop from vectorising).
  x = std::min(std::max(x, -87.3f), 88.0f);
  const float t = x * 1.44269504088896341f;
  const int32_t i = (int32_t)(t + (t >= 0.0f ? 0.5f : -0.5f));  // round to nearest
  const float n = (float)i;
  const float r = x - n * 0.693359375f + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t bits = (i + 127) << 23;  // 2^n
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

RNNKIT_MATH float fastSigmoid(float x) { return 1.0f / (1.0f + fastExp(-x)); }

// tanh(x) = sign(x) (1 - e) / (1 + e), e = exp(-2|x|); the odd Taylor series near 0,
// where 1 - e would cancel.
RNNKIT_MATH float fastTanh(float x) {
  const float a = std::fabs(x);
  const float e = fastExp(-2.0f * a);
  const float big = (1.0f - e) / (1.0f + e);
  const float as = std::min(a, 0.0625f);  // keeps `small` finite for any x
  const float x2 = as * as;
  const float small = as * (1.0f - x2 * (1.0f / 3.0f - x2 * (2.0f / 15.0f)));
  // Arithmetic blend rather than a select: in the AVX2 / AVX-512 clones GCC turned
  // the select (next to a division) into a branch and the loop stayed scalar.
  const float w = (float)(a < 0.0625f);
  const float t = big + w * (small - big);
  return std::copysign(t, x);
}

template <class T>
RNNKIT_MATH T sigm(T x) {
  return T(1) / (T(1) + std::exp(-x));
}
template <>
RNNKIT_MATH float sigm<float>(float x) {
  return fastSigmoid(x);
}

template <class T>
RNNKIT_MATH T expT(T x) {
  return std::exp(x);
}
template <>
RNNKIT_MATH float expT<float>(float x) {
  return fastExp(x);
}

template <class T>
RNNKIT_MATH T tanhT(T x) {
  return std::tanh(x);
}
template <>
RNNKIT_MATH float tanhT<float>(float x) {
  return fastTanh(x);
}

// acc (n) += column sums of m (rows, n)
template <class T>
inline void addColSums(const T* m, int rows, int n, T* acc) {
  for (int r = 0; r < rows; ++r) {
    const T* row = m + (size_t)r * n;
    for (int j = 0; j < n; ++j) acc[j] += row[j];
  }
}

}  // namespace rnnkit
