// Small element-wise helpers shared by the kernels.
#pragma once
#include <cmath>
#include <cstddef>

namespace rnnkit {

template <class T>
inline T sigm(T x) {
  return T(1) / (T(1) + std::exp(-x));
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
