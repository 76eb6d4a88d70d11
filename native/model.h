// A sequential stack of layers over one contiguous parameter block, with its loss,
// backpropagation through time and optimizer state.
//
// Data at this boundary is batch-first (what users hold); inside it is time-major.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "layer.h"
#include "loss.h"
#include "optim.h"
#include "parallel.h"
#include "spec.h"

namespace rnnkit {

template <class T>
class EmbeddingLayer;

template <class T>
class RecurrentLayer;
template <class T>
class AttentionLayer;

template <class T>
struct Batch {
  int B = 0, Tn = 0;                 // batch rows, time steps
  const int32_t* tokens = nullptr;   // (B, T) batch-first, or
  const T* features = nullptr;       // (B, T, D) batch-first
  const int32_t* lengths = nullptr;  // (B), each in [1, T]
  // Per recurrent layer: (dirs, B, H) initial h / c, nullptr = zeros. May be shorter than
  // the number of recurrent layers.
  std::vector<const T*> h0, c0;
  const T* condition = nullptr;  // (B, conditionFeatures) when the model has a condition
  // Inference whose rows are each the same bits as that row alone (any B, any rows
  // beside it): every forward product on rowExactGemmNT (parallel.h). generate()
  // sets it, so that a request sampled in a batch (the batched sampler) gets the
  // sequence model.generate gives it alone.
  bool rowExact = false;
  // The memory an attention layer attends over (a Seq2Seq decoder: the encoder's outputs),
  // batch-first (memoryB, memoryT, E), with each memory row's length; memoryIndex (B):
  // the memory row each batch row reads (nullptr: row b, memoryB = B). Required exactly
  // when the model has an attention layer.
  const T* memory = nullptr;
  const int32_t* memoryLengths = nullptr;
  const int32_t* memoryIndex = nullptr;
  int memoryB = 0, memoryT = 0;
};

template <class T>
struct ForwardResult {
  bool wantOutput = true;  // false: output stays empty (a caller that needs only the final states)
  std::vector<T> output;   // batch-first (B, T, K) or (B, K)
  std::vector<int> shape;
  std::vector<std::vector<T>> finalH, finalC;  // per recurrent layer, (dirs, B, H); finalC empty if no cell
  bool wantAttention = false;                  // a model with attention: return its weights
  std::vector<T> attention;                    // (B, T, memoryT) batch-first, when wantAttention
};

template <class T>
struct GradientResult {
  bool wantGrads = true;  // false: grads stays empty (the gradient stays in the model for step())
  double loss = 0;
  std::vector<T> grads;                  // same layout as the parameter block
  std::vector<std::vector<T>> dh0, dc0;  // per recurrent layer, (dirs, B, H)
  std::vector<T> dCondition;             // (B, conditionFeatures) when the model has a condition
  std::vector<T> dMemory;                // (memoryB, memoryT, E) when the model has attention
};

// Sampling from a language model: the loop (step, softmax, sample, feed back) runs
// here, n rows in parallel as one batch, in one call.
struct GenerateSpec {
  int n = 1;               // sequences to sample
  int maxLength = 100;     // tokens per sequence at most (stop tokens excluded)
  double temperature = 1;  // 0 = greedy
  int topK = 0;            // keep the k most likely tokens; 0 = all
  double topP = 1;         // nucleus: the smallest set with probability >= topP
  uint64_t seed = 0;
  std::vector<int32_t> prime;  // fed first (e.g. <bos> and a prefix); at least one token
  std::vector<int32_t> stop;   // ends a sequence; not included in the output
  std::vector<int32_t> ban;    // never produced, however likely
};

template <class T>
class Model {
 public:
  using Scalar = T;
  explicit Model(const ModelSpec& spec);
  ~Model();
  // A reader of `owner`: its own per-call buffers and threads over the owner's
  // weights, for inference (forward, evaluate, generate) at the same time as other
  // readers. It holds no parameters, gradients or optimizer state of its own; the owner
  // must outlive it and must not change its weights while a reader runs (the binding
  // refuses writers while readers run).
  static std::unique_ptr<Model> readerOf(const Model& owner);

  const ModelSpec& spec() const { return spec_; }
  size_t numParams() const { return owner_ ? owner_->params_.size() : params_.size(); }
  // Bytes the model holds natively: parameters, gradients, optimizer moments and
  // every per-call buffer (activations grow with the largest (T, B) seen).
  size_t memoryBytes() const;
  const std::vector<ParamInfo>& paramTable() const { return table_; }
  std::vector<StateInfo> stateTable() const;
  const T* params() const { return weights(); }
  // Write access to the parameter block; invalidates caches derived from it.
  T* mutableParams() {
    ++version_;
    return params_.data();
  }
  // The count of training steps taken (drives dropout masks); saved in checkpoints.
  uint64_t step() const { return step_; }
  void setStep(uint64_t s) { step_ = s; }
  // The width K and whether the output is a sequence.
  int outputCols() const { return outCols_; }
  bool outputIsSequence() const { return outSeq_; }

  void forward(const Batch<T>& batch, bool training, ForwardResult<T>& result);
  void gradients(const Batch<T>& batch, const Targets<T>& targets, bool training, GradientResult<T>& result);
  // Returns the loss; gradNorm receives the global gradient norm before clipping. When
  // states is given it receives each recurrent layer's final state (truncated BPTT
  // carries it into the next window).
  double trainStep(const Batch<T>& batch, const Targets<T>& targets, const OptimizerSpec& opt, double& gradNorm,
                   ForwardResult<T>* states = nullptr);
  // Loss summed over valid positions (no gradients, no dropout), the count of valid
  // positions (elements, for binaryCrossEntropy and mse) and how many were predicted right
  // (argmax for crossEntropy, p > 0.5 for binaryCrossEntropy; 0 for mse).
  struct Evaluation {
    double lossSum = 0;
    size_t count = 0, correct = 0;
    std::vector<std::vector<T>> finalH, finalC;  // to carry state into the next window
  };
  Evaluation evaluate(const Batch<T>& batch, const Targets<T>& targets);
  // Backpropagation from given upstream gradients instead of a loss (a vector-Jacobian
  // product): dOutput batch-first like forward()'s output (nullptr = zeros) and, per
  // recurrent layer, the gradient at its final state (entries may be nullptr). Used to
  // chain models, e.g. an encoder under a decoder. result.loss is 0. When the last call
  // was forward() on the same batch, training flag, weights and step, its activations
  // are reused instead of running the forward pass again (the result is the same).
  // The gradient stays in the model for step().
  void backwardFrom(const Batch<T>& batch, bool training, const T* dOutput, const std::vector<const T*>& dhFinal,
                    const std::vector<const T*>& dcFinal, GradientResult<T>& result);
  // One optimizer step with a given gradient (same layout as the parameter block):
  // clipping, update, counters. Returns the gradient norm before clipping.
  double applyGradients(const T* grads, const OptimizerSpec& opt);
  // One optimizer step over several models as if their parameter blocks were one (an
  // encoder and its decoder), from the gradient each holds since its last gradients()
  // or backwardFrom(): the loss and the global norm (over every block) are checked,
  // each block is clipped by value and by that global norm, and every update is checked
  // before any is written, so a refused step (ErrorKind::NonFinite) changes no model.
  // Returns the global gradient norm before clipping.
  static double step(const std::vector<Model<T>*>& models, const OptimizerSpec& opt, double loss);
  // True once gradients() or backwardFrom() left a gradient that no step has used.
  bool holdsGradient() const { return gradsReady_; }
  // Forward passes run so far (every call that computes activations; a backwardFrom that
  // reuses forward()'s does not count). Tests read it to prove the reuse.
  uint64_t forwardPasses() const { return forwardPasses_; }
  // Samples spec.n sequences. h0 / c0: per recurrent layer (dirs, n, H) or nullptr.
  // condition: (n, conditionFeatures) for a model with a condition, else nullptr.
  void generate(const GenerateSpec& spec, const std::vector<const T*>& h0, const std::vector<const T*>& c0,
                const T* condition, std::vector<std::vector<int32_t>>& out);
  // Throws RangeError unless the model can be sampled: token inputs, sequence outputs,
  // a final dense layer (softmax or linear), no bidirectional layer.
  void checkSampling() const;
  // The forward sampling runs (generate, SamplingBatch): a rowExact inference forward of
  // batch (every row batch.Tn long); logits receives the last step's pre-activations
  // of the final dense layer (B, V), h / c each recurrent layer's final state (B, H).
  void samplingForward(Batch<T> batch, std::vector<T>& logits, std::vector<std::vector<T>>& h,
                       std::vector<std::vector<T>>& c);

  // Optimizer moments and step counts, for checkpoints.
  const OptimizerState<T>& optimizerState() const { return opt_; }
  void setOptimizerState(OptimizerState<T> s) { opt_ = std::move(s); }

 private:
  const Act<T>& runForward(const Batch<T>& batch, bool training);
  // Loss and its gradient into dActs_.back(), then backpropagate().
  double runBackward(const Batch<T>& batch, const Targets<T>& targets);
  // From dActs_.back() (and the recurrent layers' dhFinal / dcFinal) to grads_.
  void backpropagate(const Batch<T>& batch);
  void conditionForward(const Batch<T>& batch);
  void conditionBackward(const Batch<T>& batch);
  void collectGradients(const Batch<T>& batch, GradientResult<T>& r) const;
  // Points the recurrent layers at the batch's initial states (or the condition's).
  void bindStates(const Batch<T>& batch);
  // forward() remembers what it ran on; backwardFrom() reuses its activations when it matches.
  void rememberForward(const Batch<T>& batch, bool training);
  bool sameForward(const Batch<T>& batch, bool training) const;
  void checkBatch(const Batch<T>& batch) const;
  void collectFinalStates(int B, std::vector<std::vector<T>>& h, std::vector<std::vector<T>>& c) const;
  // The weights every call computes with, and their version: the owner's for a reader.
  const T* weights() const { return owner_ ? owner_->params_.data() : params_.data(); }
  uint64_t weightsVersion() const { return owner_ ? owner_->version_ : version_; }

  const Model* owner_ = nullptr;  // set for a reader (readerOf)
  // Parameter ranges [begin, end) of frozen layers (an embedding with frozen): step()
  // zeroes their gradient and restores their values after the update, so neither the
  // gradient nor weight decay moves them.
  std::vector<std::pair<size_t, size_t>> frozen_;
  std::vector<T> frozenKeep_;  // their values during step()
  // A sparse embedding (layers.embedding({ sparse: true })), or null: its gradient holds zero
  // outside the rows the last backward used, and step() reads and updates only those rows of it.
  EmbeddingLayer<T>* sparseTable_ = nullptr;
  // The ranges of the block that step() reads and updates under opt: all of it, or with a
  // sparse table and an optimizer that has a lazy form, the rest of the block and the used rows.
  std::vector<Span> stepSpans(const OptimizerSpec& opt) const;

  ModelSpec spec_;
  std::vector<std::unique_ptr<Layer<T>>> layers_;
  std::vector<RecurrentLayer<T>*> recurrent_;  // recurrent layers in order (not owned)
  std::vector<size_t> recurrentAt_;            // the index in layers_ of each of them
  std::vector<LayerIO<T>> io_;                 // per layer: this call's states and gradient kind
  AttentionLayer<T>* attention_ = nullptr;     // the attention layer, if any (not owned)
  size_t attentionAt_ = 0;                     // its index in layers_
  std::vector<T> dMemory_;                     // (memoryB, memoryT, E) its memory's gradient
  std::vector<ParamInfo> table_;
  std::vector<T> params_, grads_;
  OptimizerState<T> opt_;
  uint64_t step_ = 0;
  uint64_t version_ = 1;
  int outCols_ = 0;
  bool outSeq_ = true;
  // The condition layer: offsets into the block and per-call buffers.
  size_t condW_ = 0, condB_ = 0;
  int condR_ = 0;                           // output width: dirs*H (+ dirs*H for the LSTM cell)
  std::vector<T> condS_, condH0_, condC0_;  // (B, R) tanh outputs; (dirs, B, H) states
  std::vector<T> condDS_, dCond_;           // (B, R) gradient of S; (B, k)

  bool gradsReady_ = false;  // grads_ holds an unused gradient (see step())
  uint64_t forwardPasses_ = 0;
  // The last forward() (see rememberForward): valid until any other call.
  struct LastForward {
    bool valid = false, training = false;
    uint64_t version = 0, step = 0;
    std::vector<std::vector<T>> h0, c0;  // copies; empty = zeros
    std::vector<T> condition;
  } last_;
  std::vector<T> stageParams_;  // step(): a block's update computed before it is written
  OptimizerState<T> stageOpt_;

  WorkerPool pool_;  // the threads its row splits run on (idle between calls, joined on destruction)
  // Per-call workspace, grown to the largest (T, B) seen.
  Ctx ctx_;
  std::vector<int32_t> lengths_, tokens_;  // tokens time-major (T*B)
  std::vector<T> x_;                       // features time-major (T*B, D)
  std::vector<Act<T>> acts_;               // acts_[0] the input, acts_[i+1] layer i's output
  std::vector<std::vector<T>> dActs_;      // gradient buffers, one per activation
};

}  // namespace rnnkit
