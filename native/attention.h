// Attention over an encoder's outputs (Luong et al. 2015, "global attention"), a layer of
// a Seq2Seq decoder placed on its top recurrent layer.
//
// For each decoder row r = (t, b) with state s (the layer's input, width Hd) and the
// memory m_1..m_L of its source (the encoder's outputs, width E; L = that source's
// length):
//   score_j = s . m_j                      (dot; Hd = E)
//           = s . (W_a m_j)                (general; W_a [Hd, E])
//           = v . tanh(W_s s + W_h m_j)    (additive, Bahdanau; W_s [A, Hd], W_h [A, E], v [A])
//   alpha   = softmax over j < L (positions at or past L get exactly 0: ragged sources
//             never attend to padding)
//   c       = sum_j alpha_j m_j
//   out     = tanh(W_c [c; s] + b_c)       (the attentional hidden state; W_c [U, E + Hd])
// The output feeds the decoder's next layers (its output layer). The attention of
// every row is kept for the caller (translateWithScores returns it).
//
// The memory arrives per call through LayerIO (Batch::memory), batch-first
// (memB, memT, E), with each memory row's length, and optionally which memory row each
// batch row reads (beam search: hypotheses of one source share its memory).
//
// Every product of one batch row reads only that row's data with shapes set by it
// alone (its own L), on rnnkit's step kernels, so a rowExact call gives each row the
// same bits whatever rows share the batch (the batched translator relies on it).
#pragma once
#include <vector>

#include "layer.h"

namespace rnnkit {

// The parameter count of an attention layer over inputs `cols` wide (validateSpec's,
// exactly what describe lays out).
inline size_t attentionParams(const LayerSpec& l, int cols) {
  const size_t E = (size_t)l.memoryCols, Hd = (size_t)cols, A = (size_t)l.attentionUnits, U = (size_t)l.units;
  size_t n = U * (E + Hd) + U;
  if (l.score == AttentionScore::General) n += Hd * E;
  if (l.score == AttentionScore::Additive) n += A * Hd + A * E + A;
  return n;
}

template <class T>
class AttentionLayer : public Layer<T> {
 public:
  AttentionLayer(const LayerSpec& spec, int inCols);
  RNNKIT_LAYER_PARAMS
  bool seqOut(bool seqIn) const override { return seqIn; }
  int outCols(int) const override { return U_; }
  RNNKIT_LAYER_PASSES
  size_t workspaceBytes() const override;
  // The last forward's attention, (T*B, memT) time-major; zero past each row's length.
  const T* alphas() const { return alpha_.data(); }
  int memoryCols() const { return E_; }

 private:
  AttentionScore score_;
  int Hd_, E_, U_, A_;
  size_t wc_ = 0, bc_ = 0, wa_ = 0, ws_ = 0, wh_ = 0, v_ = 0;
  int memT_ = 0;
  std::vector<T> keys_;   // general: (memB*memT, Hd) W_a m; additive: (memB*memT, A) W_h m
  std::vector<T> query_;  // additive: (T*B, A) W_s s
  std::vector<T> th_;     // additive: per row chunk, A: tanh(W_s s + W_h m_j) of one j
  std::vector<T> alpha_;  // (T*B, memT)
  std::vector<T> z_;      // (T*B, E + Hd) [c; s]
  std::vector<T> out_;    // (T*B, U)
  std::vector<T> dz_, dAlpha_, dKeys_, dQuery_, dvParts_;
  std::vector<T> transposed_;  // backward: per chunk, (memT, T) transposes of alpha and d score
};

}  // namespace rnnkit
