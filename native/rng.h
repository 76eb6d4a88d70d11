// Seeded randomness. Weight initialisation uses a sequential SplitMix64 stream;
// dropout masks use a counter-based hash of (seed, step, layer, element), so a mask
// is a pure function of its coordinates: reproducible, order-free, resumable.
#pragma once
#include <cstdint>

namespace rnnkit {

inline uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Uniform in [0, 1) with 53 random bits.
inline double toUnit(uint64_t x) { return (double)(x >> 11) * (1.0 / 9007199254740992.0); }

struct Rng {
  uint64_t state;
  explicit Rng(uint64_t seed) : state(seed) {}
  uint64_t next() {
    state += 0x9E3779B97F4A7C15ull;
    return splitmix64(state);
  }
  double uniform() { return toUnit(next()); }
};

// Counter-based uniform in [0, 1).
inline double hashUniform(uint64_t seed, uint64_t step, uint64_t layer, uint64_t index) {
  uint64_t h = splitmix64(seed ^ 0x5851F42D4C957F2Dull);
  h = splitmix64(h ^ step);
  h = splitmix64(h ^ (layer << 40) ^ index);
  return toUnit(h);
}

}  // namespace rnnkit
