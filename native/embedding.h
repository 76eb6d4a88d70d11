// An embedding: the first layer of a token-input model, a table of one row per
// token (PyTorch's nn.Embedding: weight [V, E]).
//
//   y[t, b] = W[token[t, b]]   (a row gather; zeros at padded positions)
//   dW[v]  += sum of dy[t, b] over the valid positions with token[t, b] == v
//
// The gradient touches only the rows of tokens in the batch (a scatter over
// T*B rows, never a sweep of [V, E]). `paddingIdx` >= 0 names a token whose row
// is zero at initialisation and gets no gradient (nn.Embedding(padding_idx)),
// so plain SGD never moves it; an optimizer with weight decay or moments (Adam)
// still updates every row it has a moment for, as PyTorch's dense optimizers do.
// A dense layer with tieEmbedding shares W as its weight (dense.h).
#pragma once
#include <vector>

#include "layer.h"

namespace rnnkit {

template <class T>
class EmbeddingLayer : public Layer<T> {
 public:
  EmbeddingLayer(const LayerSpec& spec, int vocab)
      : V_(vocab), E_(spec.units), pad_(spec.paddingIdx), frozen_(spec.frozen), sparse_(spec.sparse && !spec.frozen) {
    if (sparse_) used_.assign((size_t)vocab, 0);
  }
  // A row of E values per position, for every position of the input.
  int outCols(int) const override { return E_; }
  bool seqOut(bool seqIn) const override { return seqIn; }
  RNNKIT_LAYER_PARAMS
  RNNKIT_LAYER_PASSES
  size_t workspaceBytes() const override { return bytesOf(out_) + bytesOf(rows_) + bytesOf(used_); }
  // The table's offset in the parameter block (a tied dense layer's weight).
  size_t weightOffset() const { return wOff_; }
  // The parameter range of token v's row ([rowBegin(v), rowBegin(v + 1)); the table ends at rowBegin(vocab)).
  size_t rowBegin(int v) const { return wOff_ + (size_t)v * E_; }
  int vocab() const { return V_; }
  int dim() const { return E_; }
  // sparse: the rows the last backward wrote a gradient to, ascending (the others hold zero
  // gradient: Model zeroes only these before the next backward). markRows records rows written
  // otherwise (Model::applyGradients).
  bool sparse() const { return sparse_; }
  const std::vector<int>& rowsUsed() const { return rows_; }
  void clearRows();
  void markRows(const T* dParams);

 private:
  int V_, E_, pad_;
  bool frozen_;  // no gradient (Model::step also leaves the table as it was)
  bool sparse_;
  size_t wOff_ = 0;
  std::vector<int> rows_;      // sparse: rows with a gradient, ascending
  std::vector<uint8_t> used_;  // sparse: V flags, 1 for the rows in rows_
  std::vector<T> out_;         // (T*B, E)
};

}  // namespace rnnkit
