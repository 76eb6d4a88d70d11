// Optimizers and clipping over the one contiguous parameter block.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "spec.h"

namespace rnnkit {

template <class T>
struct OptimizerState {
  std::optional<OptimizerSpec::Type> type;  // the optimizer whose moments are held; none before the first step
  int64_t steps = 0;                        // Adam's t
  std::vector<T> m, v;                      // first moment / momentum buffer, second moment
  void reset() {
    type.reset();
    steps = 0;
    m.clear();
    v.clear();
  }
};

// A range [a, b) of the parameter block that a step reads and updates. sparse: rows of an
// embedding with sparse gradients (layers.embedding({ sparse: true })): Adam updates them as
// torch.optim.SparseAdam. A model with such a table steps over the spans of the rows its batch
// used and the rest of the block, so the untouched rows (weights and moments) stay as they are.
struct Span {
  size_t a, b;
  bool sparse;
};

// Global L2 norm of g (accumulated in double); over spans: of their union.
template <class T>
double l2norm(const T* g, size_t n);
template <class T>
double l2norm(const T* g, const std::vector<Span>& spans);

// Element-wise clip to [-clipValue, clipValue], then global-norm clip (torch's
// clip_grad_norm_: scale by clipNorm / (norm + 1e-6) when that is < 1). 0 = off.
// `norm` is l2norm(g, n) when the caller has it already (measured again after a
// value clip), or < 0.
template <class T>
void clipGradients(T* g, size_t n, double clipValue, double clipNorm, double norm = -1);
template <class T>
void clipGradients(T* g, const std::vector<Span>& spans, double clipValue, double clipNorm, double norm = -1);

// One update with torch.optim.SGD / Adam / AdamW semantics. Returns false, writing
// nothing, when the update would make a weight or a moment non-finite.
template <class T>
bool optimizerStep(T* p, const T* g, size_t n, const OptimizerSpec& opt, OptimizerState<T>& state);
// The same over `spans` of the n-long block (every span checked before any is written).
template <class T>
bool optimizerStep(T* p, const T* g, size_t n, const std::vector<Span>& spans, const OptimizerSpec& opt,
                   OptimizerState<T>& state);

}  // namespace rnnkit
