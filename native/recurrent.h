// A recurrent layer (RNN, GRU, LSTM; one or two directions) unrolled over T.
//
// Per direction the weights are PyTorch's: weight_ih [G*H, D], weight_hh [G*H, H],
// bias_ih [G*H], bias_hh [G*H], gate blocks stacked along the rows:
//   rnn G=1; lstm G=4 (i, f, g, o); gru G=3 (r, z, n); minimal gru G=2 (u, c~).
// LSTM peepholes: weight_peephole [3H] (diagonal: i, f see c<t-1>, o sees c<t>) or
// [3H, H] (full, the course form: i, f, o all see c<t-1>).
//
// Speed by construction: the input projection of all T steps is one GEMM
// ([T*B, D] x [D, G*H]) or, for token inputs, a row gather from W_ih^T; each step
// does only the recurrent GEMM ([B, H] x [H, G*H]) and one fused gate kernel;
// backward accumulates weight gradients with one GEMM over all T*B rows after the
// loop. Buffers are sized once per (T, B) and reused.
//
// Padding: row b is active at time t when t < lengths[b]. An inactive step carries
// the state unchanged (so the final state is the state at the row's last valid
// step), writes a zero output, and passes gradients through untouched. The
// backward direction therefore starts each row at its own last valid step.
#pragma once
#include <vector>

#include "layer.h"
#include "parallel.h"

namespace rnnkit {

template <class T>
class RecurrentLayer : public Layer<T> {
 public:
  RecurrentLayer(const LayerSpec& spec, int inCols);

  RNNKIT_LAYER_PARAMS
  bool seqOut(bool) const override { return spec_.returnSequences; }
  int outCols(int) const override { return dirs_ * H_; }
  RNNKIT_LAYER_PASSES

  int dirs() const { return dirs_; }
  int units() const { return H_; }
  bool hasCell() const { return spec_.type == LayerType::Lstm; }

  // After forward: the final state (dirs, B, H) into the given buffers.
  void finalState(const Ctx& ctx, T* h, T* c) const;
  // After backward: gradient of the initial state, (dirs, B, H).
  const std::vector<T>& dh0() const { return dh0_; }
  const std::vector<T>& dc0() const { return dc0_; }

 private:
  struct Offsets {
    size_t wih, whh, bih, bhh, peep;
  };
  struct Dir {
    Offsets off;
    std::vector<T> xp;   // (T, B, G*H) input projection + bias_ih; overwritten in place by the
                         // post-activation gates (lstm, gru) that backward reads
    std::vector<T> h;    // (T+1, B, H) states: fwd h0 at 0, state after t at t+1; rev h0 at T, after t at t
    std::vector<T> c;    // (T+1, B, H) lstm cell states, same indexing
    std::vector<T> tc;   // (T, B, H) lstm tanh(c<t>), by time
    std::vector<T> aux;  // (T, B, H) gru: W_hn h + b_hn (resetAfter) or r * h (reset before)
    std::vector<T> dxp;  // (T, B, G*H) gradient of the gate pre-activations (input side)
    std::vector<T> dhp;  // (T, B, G*H) gradient of the recurrent-side pre-activations (gru resetAfter)
    std::vector<T> wt;   // (V, G*H) W_ih^T for token gathers (cached per parameter version)
    std::vector<T> dwt;  // (V, G*H) its gradient (scatter target)
    uint64_t wtVersion = ~0ull;
    std::vector<T> whhT;   // (H, G*H) W_hh^T for the forward step GEMM (cached per parameter version)
    std::vector<T> peepT;  // (H, 3H) full peephole P^T, likewise
    uint64_t tVersion = ~0ull;
    PackedWeights<T> whhP, peepP;  // rowExact forwards: W_hh and P packed in column panels
    // Variational dropout of the last training forward (spec.inputDropout / recurrentDropout)
    std::vector<T> inMask;   // (B, D) scaled keep / 0, the same at every step
    std::vector<T> recMask;  // (B, H)
    std::vector<T> xm;       // (T*B, D) the masked inputs
  };
  // Draws the direction's masks for this training step (a pure function of seed, step, layer, direction).
  void drawMasks(const Ctx& ctx, Dir& r, int d);

  void forwardDir(const Ctx& ctx, const T* params, const Act<T>& in, const LayerIO<T>& io, int d, T* out, int outLd);
  void backwardDir(const Ctx& ctx, const T* params, T* dParams, const Act<T>& in, const LayerIO<T>& io, int d,
                   const T* dOut, int ld, T* dIn);
  int prevIdx(int d, int t) const { return d == 0 ? t : t + 1; }

 public:
  size_t workspaceBytes() const override {
    size_t n = bytesOf(out_) + bytesOf(tmp_) + bytesOf(tmp2_) + bytesOf(dh_) + bytesOf(dhn_) + bytesOf(dc_) +
               bytesOf(dcn_) + bytesOf(dh0_) + bytesOf(dc0_) + bytesOf(dPpart_) + bytesOf(rowParts_) + bytesOf(rbuf_) +
               bytesOf(hprevM_) + bytesOf(dxIn_);
    for (const Dir& r : dir_)
      n += bytesOf(r.xp) + bytesOf(r.h) + bytesOf(r.c) + bytesOf(r.tc) + bytesOf(r.aux) + bytesOf(r.dxp) +
           bytesOf(r.dhp) + bytesOf(r.wt) + bytesOf(r.dwt) + bytesOf(r.whhT) + bytesOf(r.peepT) + bytesOf(r.whhP.data) +
           bytesOf(r.peepP.data) + bytesOf(r.inMask) + bytesOf(r.recMask) + bytesOf(r.xm);
    return n;
  }

 private:
  int curIdx(int d, int t) const { return d == 0 ? t + 1 : t; }

  LayerSpec spec_;
  int D_, H_, G_, dirs_;
  int layer_ = 0;         // the layer's index (seeds its dropout masks)
  bool dropout_ = false;  // the last forward was a training one with variational dropout
  Dir dir_[2];
  std::vector<T> out_;                   // (T, B, dirs*H) or (B, dirs*H)
  std::vector<T> tmp_, tmp2_;            // (B, G*H), (B, 3H)
  std::vector<T> dh_, dhn_, dc_, dcn_;   // (B, H)
  std::vector<T> dh0_, dc0_;             // (dirs, B, H)
  std::vector<T> dPpart_;                // (threads, 3H) per-thread diagonal peephole gradients
  std::vector<T> rowParts_;              // (threads, ...) per-thread bias / token gradient sums
  std::vector<T> rbuf_, hprevM_, dxIn_;  // dropout: (B, H) scratch, (T*B, H) masked h<t-1>, (T*B, D) dIn scratch
};

}  // namespace rnnkit
