// Argument parsing for the binding: JS values -> owned C++ copies.
//
// The TypeScript layer validates fully; these checks are the cheap second line for
// callers that require the .node file directly: types, typed-array kinds and
// lengths. A wrong type throws a TypeError, a wrong value or length a RangeError.
#pragma once
#include <napi.h>

#include <cstdint>
#include <vector>

#include "model.h"

namespace rnnkit {
namespace binding {

ModelSpec parseSpec(const Napi::Value& v, bool& isDouble);
OptimizerSpec parseOptimizer(const Napi::Value& v);
GenerateSpec parseGenerate(const Napi::Value& v);

// Per-recurrent-layer states (initial states, or final-state gradients), each (dirs, B, H);
// an empty vector stands for zeros.
template <class T>
struct OwnedStates {
  std::vector<std::vector<T>> h, c;
  std::vector<const T*> hViews() const { return views(h); }
  std::vector<const T*> cViews() const { return views(c); }

 private:
  static std::vector<const T*> views(const std::vector<std::vector<T>>& s) {
    std::vector<const T*> out;
    for (const auto& x : s) out.push_back(x.empty() ? nullptr : x.data());
    return out;
  }
};

template <class T>
struct OwnedBatch {
  int B = 0, T_ = 0;
  std::vector<int32_t> tokens, lengths;
  std::vector<T> features;
  OwnedStates<T> states;     // initial states
  std::vector<T> condition;  // (B, conditionFeatures) or empty
  bool rowExact = false;     // batch.rowExact: an inference forward on the row-exact kernels (Batch::rowExact)
  // batch.memory {data, B, T, lengths, index?}: what an attention layer attends over (Batch::memory)
  std::vector<T> memory;
  std::vector<int32_t> memoryLengths, memoryIndex;
  int memoryB = 0, memoryT = 0;
  Batch<T> view() const;
};

template <class T>
struct OwnedTargets {
  std::vector<int32_t> classes;
  std::vector<T> values;
  double labelSmoothing = 0;
  Targets<T> view() const;
};

template <class T>
OwnedBatch<T> parseBatch(const Napi::Value& v, const Model<T>& model);

// Per-recurrent-layer states ({h, c?} or null each) for B rows.
template <class T>
OwnedStates<T> parseStates(const Napi::Value& v, const Model<T>& model, int B);

template <class T>
OwnedTargets<T> parseTargets(const Napi::Value& v, const Model<T>& model, const OwnedBatch<T>& batch);

// Copies a vector into a fresh Float32Array / Float64Array.
template <class T>
Napi::Value toTypedArray(Napi::Env env, const T* data, size_t n);

// Reads a Float32Array (T = float) or Float64Array (T = double) of exactly n elements
// (n = SIZE_MAX: any length) into out.
template <class T>
void readFloatArray(const Napi::Value& v, const char* name, size_t n, std::vector<T>& out);

[[noreturn]] void throwType(Napi::Env env, const std::string& what, const std::string& name);
[[noreturn]] void throwRangeJs(Napi::Env env, const std::string& msg);
// "Expected <what> for <name> but received <received>", lib/errors.ts's template.
[[noreturn]] void throwRangeJs(Napi::Env env, const std::string& what, const std::string& name,
                               const std::string& received);
// `number 1.5`, as lib/errors.ts describe() renders a number.
std::string describeNumber(double d);

}  // namespace binding
}  // namespace rnnkit
