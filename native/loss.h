// Losses over the model's final activation, masked to valid positions.
//
//   crossEntropy        L = -log softmax(z)[y]         (z: logits of a softmax or linear dense)
//                       with label smoothing e (torch's label_smoothing): the target is
//                       (1 - e) onehot(y) + e/K, L = -(1 - e) log p[y] - (e/K) sum_k log p[k]
//   binaryCrossEntropy  L = -y log s(z) - (1-y) log(1 - s(z))   per element (sigmoid or linear dense)
//   mse                 L = (y^ - y)^2                 per element
// reduction 'sum' is the course's J = sum_t L<t>; 'mean' divides by the number of valid
// positions (crossEntropy) or valid elements (the others), like PyTorch on packed data.
#pragma once
#include <cstdint>

#include "layer.h"

namespace rnnkit {

template <class T>
struct Targets {
  const int32_t* classes = nullptr;  // batch-first (B, T) or (B)
  const T* values = nullptr;         // batch-first (B, T, K) or (B, K)
  double labelSmoothing = 0;         // crossEntropy: in [0, 1), 0 = the one-hot target
};

// Computes the loss of `out` (time-major rows x K) and writes its gradient into dOut
// (rows x K, zero at padded rows). `logits` are the pre-activations when the last layer
// is dense (nullptr otherwise). Sets gradIsPre when dOut is w.r.t. the pre-activation.
template <class T>
double computeLoss(LossType loss, Reduction reduction, Activation lastAct, const Ctx& ctx, const Act<T>& out,
                   const T* logits, const Targets<T>& targets, T* dOut, bool& gradIsPre);

}  // namespace rnnkit
