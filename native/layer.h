// The layer interface used by the model's stack.
//
// Dimension legend: B batch, T time, D input width, H hidden units, G gates,
// V vocabulary, K output width. Activations are time-major: a sequence
// activation holds T*B rows (row = t*B + b), a collapsed one B rows.
#pragma once
#include <cstdint>
#include <vector>

#include "spec.h"

namespace rnnkit {

class WorkerPool;

// What every layer sees of the current call.
struct Ctx {
  int T = 0, B = 0;
  const int32_t* lengths = nullptr;  // (B) valid steps per row, each in [1, T]
  bool training = false;
  uint32_t seed = 0;
  uint64_t step = 0;           // dropout mask counter (advanced by each training step)
  uint64_t version = 0;        // bumped whenever the parameters change: keys caches derived from them
  WorkerPool* pool = nullptr;  // the model's threads for row splits (parallel.h)
  bool rowExact = false;       // Batch::rowExact: forward products on rowExactGemmNT
  bool active(int t, int b) const { return t < lengths[b]; }
};

// An activation flowing between layers: rows x cols, or token ids for the first layer.
template <class T>
struct Act {
  const T* data = nullptr;          // (rows, cols) row-major
  const int32_t* tokens = nullptr;  // (rows) token ids when the input is tokens (cols = vocabulary)
  int rows = 0, cols = 0;
  bool seq = true;  // rows are T*B time-major (true) or B (false)
};

// The Act of a layer's own output buffer: rows x cols, time-major sequence rows or not.
template <class T>
inline Act<T> outputAct(const T* data, int rows, int cols, bool seq) {
  Act<T> a;
  a.data = data;
  a.rows = rows;
  a.cols = cols;
  a.seq = seq;
  return a;
}

// Per-call state of one layer, passed by the model to forward / backward (never set
// from outside through public fields): a recurrent layer's initial states and the
// gradients arriving at its final states, and whether a dense layer's dOut is already
// the gradient of its pre-activation (a loss fused with softmax / sigmoid writes that).
template <class T>
struct LayerIO {
  const T* h0 = nullptr;       // (dirs, B, H) initial state; nullptr = zeros
  const T* c0 = nullptr;       // (dirs, B, H), LSTM; nullptr = zeros
  const T* dhFinal = nullptr;  // (dirs, B, H) gradient at the final state from outside the stack; nullptr = zeros
  const T* dcFinal = nullptr;  // (dirs, B, H), LSTM; nullptr = zeros
  bool gradIsPre = false;      // dense: dOut is d(loss)/d(pre-activation)
  // attention: the memory it attends over (Batch::memory) and where its gradient goes
  const T* memory = nullptr;               // (memoryB, memoryT, E) batch-first
  const int32_t* memoryLengths = nullptr;  // (memoryB), each in [1, memoryT]
  const int32_t* memoryIndex = nullptr;    // (B) the memory row of each batch row; nullptr = row b
  int memoryB = 0, memoryT = 0;
  T* dMemory = nullptr;  // backward: (memoryB, memoryT, E), accumulated into (+=)
};

template <class T>
class Layer {
 public:
  virtual ~Layer() = default;
  // Registers the layer's parameters: appends their named views to `table`, starting at
  // `offset`, and advances `offset` past them.
  virtual void describe(int index, size_t& offset, std::vector<ParamInfo>& table) = 0;
  virtual void init(T* params, uint64_t seed) = 0;
  virtual bool seqOut(bool seqIn) const = 0;
  virtual int outCols(int inCols) const = 0;
  // Forward: reads `in` (and io's initial states), writes the layer's own output buffer
  // (returned as an Act).
  virtual Act<T> forward(const Ctx& ctx, const T* params, const Act<T>& in, const LayerIO<T>& io, int layerIndex) = 0;
  // Backward: dOut (same shape as the output) -> accumulates into dParams (+=), and
  // writes dIn (rows x in.cols) when dIn != nullptr. dOut may be modified in place.
  virtual void backward(const Ctx& ctx, const T* params, T* dParams, const Act<T>& in, T* dOut, T* dIn,
                        const LayerIO<T>& io, int layerIndex) = 0;
  // Bytes held by the layer's buffers (activations, caches, scratch).
  virtual size_t workspaceBytes() const = 0;
};

// The overrides each layer declares alike (defined in its .cc): its parameters
// (describe, init) and its two passes (forward, backward), with Layer's signatures.
#define RNNKIT_LAYER_PARAMS                                                         \
  void describe(int index, size_t& offset, std::vector<ParamInfo>& table) override; \
  void init(T* params, uint64_t seed) override;
#define RNNKIT_LAYER_PASSES                                                                                           \
  Act<T> forward(const Ctx& ctx, const T* params, const Act<T>& in, const LayerIO<T>& io, int layerIndex) override;   \
  void backward(const Ctx& ctx, const T* params, T* dParams, const Act<T>& in, T* dOut, T* dIn, const LayerIO<T>& io, \
                int layerIndex) override;

// Bytes a buffer holds (its capacity).
template <class V>
inline size_t bytesOf(const V& v) {
  return v.capacity() * sizeof(typename V::value_type);
}

// Grows a buffer to at least n elements; never shrinks (no allocation per step or per call
// once the largest (T, B) has been seen).
template <class T>
inline T* ensure(std::vector<T>& v, size_t n) {
  if (v.size() < n) v.resize(n);
  return v.data();
}

}  // namespace rnnkit
