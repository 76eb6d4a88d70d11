// Dense (time-distributed when its input is a sequence) and dropout layers.
#pragma once
#include <vector>

#include "layer.h"

namespace rnnkit {

// y = act(x W^T + b), weight (K, D), bias (K); applied to every row of its input.
// Tied (spec.tieEmbedding, Press & Wolf 2017): W is the embedding table [V, D] of the
// model's first layer, so the layer owns only its bias, and both layers' gradients
// add into the one table.
template <class T>
class DenseLayer : public Layer<T> {
 public:
  DenseLayer(const LayerSpec& spec, int inCols) : spec_(spec), D_(inCols), K_(spec.units) {}
  RNNKIT_LAYER_PARAMS
  bool seqOut(bool seqIn) const override { return seqIn; }
  int outCols(int) const override { return K_; }
  RNNKIT_LAYER_PASSES

  // Ties the weight to the parameters at `offset` (an embedding table of K x D); before describe.
  void tieTo(size_t offset) {
    tied_ = true;
    wOff_ = offset;
  }
  Activation activation() const { return spec_.activation; }
  // Pre-activation (logits) of the last forward: losses use them for stable log-softmax / log-sigmoid.
  const T* pre() const { return spec_.activation == Activation::Linear ? out_.data() : pre_.data(); }
  size_t workspaceBytes() const override {
    return bytesOf(out_) + bytesOf(pre_) + bytesOf(wt_) + bytesOf(dwt_) + bytesOf(wT_);
  }

 private:
  LayerSpec spec_;
  int D_, K_;
  size_t wOff_ = 0, bOff_ = 0;
  bool tied_ = false;
  bool smallWeights(int rows) const;
  std::vector<T> out_, pre_, wt_, dwt_;
  std::vector<T> wT_;  // (D, K) W^T for the split forward product
  uint64_t wtVersion_ = ~0ull;
};

// Inverted dropout: in training, each element is kept with probability 1 - rate and
// scaled by 1 / (1 - rate); at inference it is the identity. The mask is a pure
// function of (seed, step, layer, element).
template <class T>
class DropoutLayer : public Layer<T> {
 public:
  explicit DropoutLayer(const LayerSpec& spec) : rate_(spec.rate) {}
  void describe(int, size_t&, std::vector<ParamInfo>&) override {}
  void init(T*, uint64_t) override {}
  bool seqOut(bool seqIn) const override { return seqIn; }
  int outCols(int inCols) const override { return inCols; }
  RNNKIT_LAYER_PASSES
  size_t workspaceBytes() const override { return bytesOf(out_) + bytesOf(mask_); }

 private:
  double rate_;
  bool applied_ = false;
  std::vector<T> out_, mask_;
};

}  // namespace rnnkit
