#include "model.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "attention.h"
#include "blas.h"
#include "cell_steps.h"
#include "dense.h"
#include "embedding.h"
#include "errors.h"
#include "limits.h"
#include "ops.h"
#include "recurrent.h"
#include "rng.h"

namespace rnnkit {

static bool isRecurrent(LayerType t) { return t == LayerType::Rnn || t == LayerType::Gru || t == LayerType::Lstm; }

size_t validateSpec(const ModelSpec& spec) {
  auto fail = [](const std::string& what) { throwRange("Invalid model spec: " + what); };
  const std::string maxInput = std::to_string(limits::kMaxInputSize);
  if (spec.inputSize < 1 || spec.inputSize > limits::kMaxInputSize) fail("inputSize must be in [1, " + maxInput + "]");
  if (spec.layers.size() > (size_t)limits::kMaxLayers)
    fail("at most " + std::to_string(limits::kMaxLayers) + " layers are allowed");
  if (spec.layers.empty()) fail("layers must not be empty");
  bool seq = true, recurrentBelow = false;
  int attentions = 0;
  size_t params = 0;
  int cols = spec.inputSize;
  for (size_t i = 0; i < spec.layers.size(); ++i) {
    const LayerSpec& l = spec.layers[i];
    const std::string at = "layers[" + std::to_string(i) + "]";
    if (l.type == LayerType::Attention) {
      const std::string maxUnits = std::to_string(limits::kMaxUnits);
      if (!recurrentBelow || !seq) fail(at + ": attention needs a recurrent layer below it with returnSequences true");
      if (++attentions > 1) fail(at + ": a model takes at most one attention layer");
      if (l.units < 1 || l.units > limits::kMaxUnits) fail(at + ".units must be in [1, " + maxUnits + "]");
      if (l.memoryCols < 1 || l.memoryCols > limits::kMaxUnits)
        fail(at + ".memoryCols must be in [1, " + maxUnits + "]");
      if (l.score == AttentionScore::Dot && l.memoryCols != cols)
        fail(at + ": dot attention needs a memory as wide as its input (" + std::to_string(cols) + "), not " +
             std::to_string(l.memoryCols));
      if (l.score == AttentionScore::Additive && (l.attentionUnits < 1 || l.attentionUnits > limits::kMaxUnits))
        fail(at + ".attentionUnits must be in [1, " + maxUnits + "]");
      params += attentionParams(l, cols);
      cols = l.units;
      continue;
    }
    if (l.type == LayerType::Dropout) {
      if (!(l.rate >= 0 && l.rate < limits::kUnitOpenMax)) fail(at + ".rate must be in [0, 1)");
      if (i == 0 && spec.tokens) fail(at + ": dropout cannot be the first layer over token inputs");
      continue;
    }
    if (l.type == LayerType::Embedding) {
      if (i != 0 || !spec.tokens) fail(at + ": an embedding must be the first layer of a token-input model");
      if (l.units < 1 || l.units > limits::kMaxUnits)
        fail(at + ".units must be in [1, " + std::to_string(limits::kMaxUnits) + "]");
      if (l.paddingIdx < -1 || l.paddingIdx >= spec.inputSize)
        fail(at + ".paddingIdx must be -1 or a token id in [0, " + std::to_string(spec.inputSize - 1) + "]");
      params += (size_t)spec.inputSize * l.units;
      cols = l.units;
      continue;
    }
    if (l.units < 1 || l.units > limits::kMaxUnits)
      fail(at + ".units must be in [1, " + std::to_string(limits::kMaxUnits) + "]");
    if (isRecurrent(l.type)) {
      if (!seq) fail(at + ": a recurrent layer needs a sequence, but an earlier layer has returnSequences false");
      if (l.type == LayerType::Rnn && l.activation != Activation::Tanh && l.activation != Activation::Relu)
        fail(at + ".activation must be tanh or relu");
      if (!(l.inputDropout >= 0 && l.inputDropout < limits::kUnitOpenMax) ||
          !(l.recurrentDropout >= 0 && l.recurrentDropout < limits::kUnitOpenMax))
        fail(at + ".inputDropout and .recurrentDropout must be in [0, 1)");
      if (l.inputDropout > 0 && i == 0 && spec.tokens)
        fail(at + ".inputDropout needs feature inputs (an embedding or another layer first), not token ids");
      if (l.recurrentDropout > 0 && l.type == LayerType::Gru && !l.gruMinimal && !l.resetAfter)
        fail(at + ".recurrentDropout is not supported for a GRU with resetAfter false");
      params += recurrentParams(l, cols);  // exactly what RecurrentLayer::describe lays out
      seq = l.returnSequences;
      recurrentBelow = true;
      cols = (l.bidirectional ? 2 : 1) * l.units;
    } else {
      if (l.tieEmbedding) {
        if (spec.layers[0].type != LayerType::Embedding)
          fail(at + ".tieEmbedding needs an embedding as the first layer");
        if (spec.layers[0].sparse)
          fail(at +
               ".tieEmbedding needs a dense embedding: the tied output layer's gradient fills every row, "
               "so the table cannot be sparse");
        if (l.units != spec.inputSize || cols != spec.layers[0].units)
          fail(at + ".tieEmbedding needs units = the vocabulary (" + std::to_string(spec.inputSize) +
               ") and an input as wide as the embedding (" + std::to_string(spec.layers[0].units) + ")");
      }
      params += (size_t)l.units * (l.tieEmbedding ? 1 : (size_t)cols + 1);
      cols = l.units;
    }
  }
  if (spec.conditionFeatures < 0 || spec.conditionFeatures > limits::kMaxInputSize)
    fail("conditionFeatures must be in [0, " + maxInput + "]");
  if (spec.conditionFeatures > 0) {
    bool any = false;
    for (const LayerSpec& l : spec.layers) any = any || isRecurrent(l.type);
    if (!any) fail("a condition needs a recurrent layer whose initial state it sets");
    for (const LayerSpec& l : spec.layers) {  // the condition layer maps K features to the first h0 (and c0)
      if (!isRecurrent(l.type)) continue;
      const size_t rows = (l.bidirectional ? 2 : 1) * (size_t)l.units * (l.type == LayerType::Lstm ? 2 : 1);
      params += rows * ((size_t)spec.conditionFeatures + 1);
      break;
    }
  }
  if (params > limits::kMaxParams)
    fail("the model would hold more than " + std::to_string(limits::kMaxParams) + " parameters");
  const LayerSpec& last = spec.layers.back();
  if (spec.loss == LossType::CrossEntropy &&
      !(last.type == LayerType::Dense &&
        (last.activation == Activation::Softmax || last.activation == Activation::Linear)))
    fail("loss crossEntropy needs a final dense layer with activation softmax or linear (logits)");
  if (spec.loss == LossType::BinaryCrossEntropy &&
      !(last.type == LayerType::Dense &&
        (last.activation == Activation::Sigmoid || last.activation == Activation::Linear)))
    fail("loss binaryCrossEntropy needs a final dense layer with activation sigmoid or linear (logits)");
  return params;
}

// Physical memory in bytes (0 when unknown). Linux overcommits: a block larger
// than the machine would be "allocated" and the process killed when touched,
// so the size is checked against the machine before anything is allocated.
static size_t physicalMemory() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? (size_t)pages * (size_t)page : 0;
}

template <class T>
Model<T>::Model(const ModelSpec& spec) : spec_(spec) {
  const size_t params = validateSpec(spec_);
  // parameters, gradients and two Adam moments: four copies of the block
  const double need = 4.0 * (double)params * sizeof(T), have = (double)physicalMemory();
  if (have > 0 && need > have)
    throwRange("Invalid model spec: the model would need " + std::to_string((int)std::ceil(need / 1e9)) +
               " GB for its parameters, gradients and optimizer moments, more than this machine's " +
               std::to_string((int)(have / 1e9)) + " GB of memory");
  int cols = spec_.inputSize;
  bool seq = true;
  size_t offset = 0;
  for (size_t i = 0; i < spec_.layers.size(); ++i) {
    const LayerSpec& l = spec_.layers[i];
    Layer<T>* layer;
    if (isRecurrent(l.type)) {
      auto* r = new RecurrentLayer<T>(l, cols);
      recurrent_.push_back(r);
      recurrentAt_.push_back(i);
      layer = r;
    } else if (l.type == LayerType::Dense) {
      auto* d = new DenseLayer<T>(l, cols);
      if (l.tieEmbedding) d->tieTo(static_cast<EmbeddingLayer<T>*>(layers_[0].get())->weightOffset());
      layer = d;
    } else if (l.type == LayerType::Attention) {
      attention_ = new AttentionLayer<T>(l, cols);
      attentionAt_ = i;
      layer = attention_;
    } else if (l.type == LayerType::Embedding) {
      auto* e = new EmbeddingLayer<T>(l, cols);
      if (l.frozen) frozen_.push_back({offset, offset + (size_t)cols * l.units});
      if (e->sparse()) sparseTable_ = e;
      layer = e;
    } else {
      layer = new DropoutLayer<T>(l);
    }
    layers_.emplace_back(layer);
    layer->describe((int)i, offset, table_);
    cols = layer->outCols(cols);
    seq = layer->seqOut(seq);
  }
  outCols_ = cols;
  outSeq_ = seq;
  const int K = spec_.conditionFeatures;
  if (K > 0) {
    const RecurrentLayer<T>* r = recurrent_[0];
    condR_ = r->dirs() * r->units() * (r->hasCell() ? 2 : 1);
    condW_ = offset;
    table_.push_back({-1, "weight", {condR_, K}, offset, (size_t)condR_ * K});
    offset += (size_t)condR_ * K;
    condB_ = offset;
    table_.push_back({-1, "bias", {condR_}, offset, (size_t)condR_});
    offset += condR_;
  }
  if (offset != params) throwRange("internal: parameter count mismatch");  // validateSpec must match the layout
  params_.assign(offset, T(0));
  for (size_t i = 0; i < layers_.size(); ++i)
    layers_[i]->init(params_.data(), splitmix64(((uint64_t)spec_.seed << 20) ^ (uint64_t)i));
  if (K > 0) {  // like nn.Linear: U(-1/sqrt(k), 1/sqrt(k))
    Rng rng(splitmix64(((uint64_t)spec_.seed << 20) ^ 0xC0D1u));
    const double bound = 1.0 / std::sqrt((double)K);
    for (size_t i = condW_; i < condB_ + condR_; ++i) params_[i] = (T)((2 * rng.uniform() - 1) * bound);
  }
  acts_.resize(layers_.size() + 1);
  io_.resize(layers_.size());
  dActs_.resize(layers_.size() + 1);
}

template <class T>
Model<T>::~Model() = default;

template <class T>
std::unique_ptr<Model<T>> Model<T>::readerOf(const Model& owner) {
  auto r = std::make_unique<Model<T>>(owner.spec_);
  r->owner_ = &owner;
  r->params_ = std::vector<T>();  // the owner's weights are used; none of its own
  return r;
}

template <class T>
size_t Model<T>::memoryBytes() const {
  size_t n = bytesOf(params_) + bytesOf(grads_) + bytesOf(opt_.m) + bytesOf(opt_.v) + bytesOf(stageParams_) +
             bytesOf(stageOpt_.m) + bytesOf(stageOpt_.v) + bytesOf(last_.condition) + bytesOf(condS_) +
             bytesOf(condH0_) + bytesOf(condC0_) + bytesOf(condDS_) + bytesOf(dCond_) + bytesOf(lengths_) +
             bytesOf(tokens_) + bytesOf(x_) + bytesOf(frozenKeep_) + bytesOf(dMemory_);
  for (const auto& d : dActs_) n += bytesOf(d);
  for (const auto& l : layers_) n += l->workspaceBytes();
  return n;
}

template <class T>
std::vector<StateInfo> Model<T>::stateTable() const {
  std::vector<StateInfo> out;
  for (size_t i = 0, k = 0; i < spec_.layers.size(); ++i) {
    if (!isRecurrent(spec_.layers[i].type)) continue;
    const RecurrentLayer<T>* r = recurrent_[k++];
    out.push_back({(int)i, r->dirs(), r->units(), r->hasCell()});
  }
  return out;
}

template <class T>
void Model<T>::checkBatch(const Batch<T>& b) const {
  if (b.B < 1) throwRange("Expected a batch of at least 1 row for inputs but received 0");
  if (b.Tn < 1) throwRange("Expected sequences of at least 1 step for inputs but received 0");
  if ((size_t)b.B * b.Tn > limits::kMaxPositions)
    throwRange("Expected at most " + std::to_string(limits::kMaxPositions) + " positions (B*T) for inputs");
  if (!b.lengths) throwRange("Expected lengths");
  for (int i = 0; i < b.B; ++i)
    if (b.lengths[i] < 1 || b.lengths[i] > b.Tn)
      throwRange("Expected lengths in [1, " + std::to_string(b.Tn) + "] for lengths[" + std::to_string(i) +
                 "] but received " + std::to_string(b.lengths[i]));
  if (spec_.tokens) {
    if (!b.tokens) throwRange("Expected token ids for inputs (the model takes tokens)");
    for (int i = 0; i < b.B; ++i)
      for (int t = 0; t < b.lengths[i]; ++t) {
        const int32_t id = b.tokens[(size_t)i * b.Tn + t];
        if (id < 0 || id >= spec_.inputSize)
          throwRange("Expected token ids in [0, " + std::to_string(spec_.inputSize) + ") for inputs[" +
                     std::to_string(i) + "][" + std::to_string(t) + "] but received " + std::to_string(id));
      }
  } else if (!b.features) {
    throwRange("Expected features for inputs (the model takes features)");
  }
  // A condition sets the first recurrent layer's initial state, unless that state is
  // given explicitly (carrying it on from an earlier call).
  const bool firstState = !b.h0.empty() && b.h0[0];
  if (spec_.conditionFeatures > 0) {
    if (!b.condition && !firstState)
      throwRange(
          "Expected a condition (the model was built with one) or an initial state for its first recurrent layer");
    if (b.condition && firstState)
      throwRange("Expected either a condition or an initial state for the first recurrent layer, not both");
  } else if (b.condition) {
    throwRange("Expected no condition (the model was built without one)");
  }
  if (!attention_) {
    if (b.memory) throwRange("Expected no memory (the model has no attention layer)");
    return;
  }
  if (!b.memory || !b.memoryLengths)
    throwRange("Expected a memory to attend over (the model has an attention layer: a Seq2Seq decoder)");
  if (b.memoryB < 1 || b.memoryT < 1 || (size_t)b.memoryB * b.memoryT > limits::kMaxPositions)
    throwRange("Expected a memory of at least 1 row and 1 step, at most " + std::to_string(limits::kMaxPositions) +
               " positions");
  if (!b.memoryIndex && b.memoryB != b.B)
    throwRange("Expected a memory of " + std::to_string(b.B) + " rows (one per batch row) but received " +
               std::to_string(b.memoryB));
  for (int i = 0; i < b.memoryB; ++i)
    if (b.memoryLengths[i] < 1 || b.memoryLengths[i] > b.memoryT)
      throwRange("Expected memory lengths in [1, " + std::to_string(b.memoryT) + "] for memoryLengths[" +
                 std::to_string(i) + "] but received " + std::to_string(b.memoryLengths[i]));
  if (b.memoryIndex)
    for (int i = 0; i < b.B; ++i)
      if (b.memoryIndex[i] < 0 || b.memoryIndex[i] >= b.memoryB)
        throwRange("Expected memory rows in [0, " + std::to_string(b.memoryB) + ") for memoryIndex[" +
                   std::to_string(i) + "] but received " + std::to_string(b.memoryIndex[i]));
}

// S = tanh(C W^T + b), (B, R); its columns are h0 of the first recurrent layer, in
// (dirs, H) order, then c0 for an LSTM.
template <class T>
void Model<T>::conditionForward(const Batch<T>& batch) {
  const int B = batch.B, K = spec_.conditionFeatures, R = condR_;
  RecurrentLayer<T>* r = recurrent_[0];
  const int dirs = r->dirs(), H = r->units();
  T* S = ensure(condS_, (size_t)B * R);
  for (int b = 0; b < B; ++b) std::memcpy(S + (size_t)b * R, weights() + condB_, sizeof(T) * R);
  if (batch.rowExact) rowExactGemmNT<T>(&pool_, B, R, K, batch.condition, K, weights() + condW_, K, S, R, true);
  else parallelGemm<T>(&pool_, false, true, B, R, K, T(1), batch.condition, K, weights() + condW_, K, T(1), S, R);
  for (size_t i = 0; i < (size_t)B * R; ++i) S[i] = tanhT(S[i]);
  T* h0 = ensure(condH0_, (size_t)dirs * B * H);
  T* c0 = r->hasCell() ? ensure(condC0_, (size_t)dirs * B * H) : nullptr;
  for (int d = 0; d < dirs; ++d)
    for (int b = 0; b < B; ++b)
      for (int j = 0; j < H; ++j) {
        h0[((size_t)d * B + b) * H + j] = S[(size_t)b * R + d * H + j];
        if (c0) c0[((size_t)d * B + b) * H + j] = S[(size_t)b * R + (dirs + d) * H + j];
      }
  io_[recurrentAt_[0]].h0 = h0;
  io_[recurrentAt_[0]].c0 = c0;
}

template <class T>
void Model<T>::conditionBackward(const Batch<T>& batch) {
  const int B = batch.B, K = spec_.conditionFeatures, R = condR_;
  const RecurrentLayer<T>* r = recurrent_[0];
  const int dirs = r->dirs(), H = r->units();
  const T* S = condS_.data();
  T* dpre = ensure(condDS_, (size_t)B * R);
  for (int d = 0; d < dirs; ++d)
    for (int b = 0; b < B; ++b)
      for (int j = 0; j < H; ++j) {
        const size_t k = ((size_t)d * B + b) * H + j;
        dpre[(size_t)b * R + d * H + j] = r->dh0()[k];
        if (r->hasCell()) dpre[(size_t)b * R + (dirs + d) * H + j] = r->dc0()[k];
      }
  for (size_t i = 0; i < (size_t)B * R; ++i) dpre[i] *= T(1) - S[i] * S[i];
  addColSums(dpre, B, R, grads_.data() + condB_);
  parallelGemm<T>(&pool_, true, false, R, K, B, T(1), dpre, R, batch.condition, K, T(1), grads_.data() + condW_, K);
  T* dC = ensure(dCond_, (size_t)B * K);
  parallelGemm<T>(&pool_, false, false, B, K, R, T(1), dpre, R, params_.data() + condW_, K, T(0), dC, K);
}

template <class T>
void Model<T>::bindStates(const Batch<T>& batch) {
  for (LayerIO<T>& io : io_) io = LayerIO<T>();
  for (size_t k = 0; k < recurrent_.size(); ++k) {
    io_[recurrentAt_[k]].h0 = k < batch.h0.size() ? batch.h0[k] : nullptr;
    io_[recurrentAt_[k]].c0 = k < batch.c0.size() ? batch.c0[k] : nullptr;
  }
  if (attention_) {
    LayerIO<T>& io = io_[attentionAt_];
    io.memory = batch.memory;
    io.memoryLengths = batch.memoryLengths;
    io.memoryIndex = batch.memoryIndex;
    io.memoryB = batch.memoryB;
    io.memoryT = batch.memoryT;
  }
  if (batch.condition) conditionForward(batch);
}

template <class T>
void Model<T>::rememberForward(const Batch<T>& batch, bool training) {
  last_.training = training;
  last_.version = weightsVersion();
  last_.step = step_;
  last_.h0.resize(recurrent_.size());
  last_.c0.resize(recurrent_.size());
  for (size_t k = 0; k < recurrent_.size(); ++k) {
    const size_t n = (size_t)recurrent_[k]->dirs() * batch.B * recurrent_[k]->units();
    const T* h = k < batch.h0.size() ? batch.h0[k] : nullptr;
    const T* c = k < batch.c0.size() ? batch.c0[k] : nullptr;
    last_.h0[k].assign(h, h ? h + n : h);
    last_.c0[k].assign(c, c ? c + n : c);
  }
  const size_t nc = batch.condition ? (size_t)batch.B * spec_.conditionFeatures : 0;
  last_.condition.assign(batch.condition, batch.condition + nc);
  last_.valid = true;
}

// Whether the activations held are those of forward(batch, training): the same rows,
// lengths, inputs, initial states, condition, weights and dropout step. Compared by
// value (bitwise): the binding copies every call's arguments afresh.
template <class T>
bool Model<T>::sameForward(const Batch<T>& batch, bool training) const {
  if (!last_.valid || training != last_.training || weightsVersion() != last_.version || step_ != last_.step)
    return false;
  if (batch.memory) return false;  // the memory is not kept: a model with attention runs its forward again
  const int B = batch.B, Tn = batch.Tn;
  if (B != ctx_.B || Tn != ctx_.T || !batch.lengths) return false;
  if (std::memcmp(batch.lengths, lengths_.data(), sizeof(int32_t) * B) != 0) return false;
  const int D = spec_.inputSize;
  for (int b = 0; b < B; ++b)
    for (int t = 0; t < Tn; ++t) {
      const size_t tm = (size_t)t * B + b, bf = (size_t)b * Tn + t;
      if (spec_.tokens ? tokens_[tm] != batch.tokens[bf]
                       : std::memcmp(x_.data() + tm * D, batch.features + bf * D, sizeof(T) * D) != 0)
        return false;
    }
  auto same = [](const T* given, const std::vector<T>& kept) {
    return given ? !kept.empty() && std::memcmp(given, kept.data(), sizeof(T) * kept.size()) == 0 : kept.empty();
  };
  for (size_t k = 0; k < recurrent_.size(); ++k) {
    if (!same(k < batch.h0.size() ? batch.h0[k] : nullptr, last_.h0[k])) return false;
    if (!same(k < batch.c0.size() ? batch.c0[k] : nullptr, last_.c0[k])) return false;
  }
  return same(batch.condition, last_.condition);
}

template <class T>
const Act<T>& Model<T>::runForward(const Batch<T>& batch, bool training) {
  checkBatch(batch);
  last_.valid = false;  // the activations about to be written are no longer forward()'s
  gradsReady_ = false;
  ++forwardPasses_;
  const int B = batch.B, Tn = batch.Tn;
  const size_t TB = (size_t)Tn * B;
  ctx_.T = Tn;
  ctx_.B = B;
  lengths_.assign(batch.lengths, batch.lengths + B);
  ctx_.lengths = lengths_.data();
  ctx_.training = training;
  ctx_.seed = spec_.seed;
  ctx_.step = step_;
  ctx_.version = weightsVersion();
  ctx_.pool = &pool_;
  ctx_.rowExact = batch.rowExact && !training;

  // Batch-first in, time-major inside: row t*B + b.
  Act<T>& in = acts_[0];
  in = Act<T>();
  in.rows = (int)TB;
  in.cols = spec_.inputSize;
  in.seq = true;
  if (spec_.tokens) {
    int32_t* tk = ensure(tokens_, TB);
    for (int b = 0; b < B; ++b)
      for (int t = 0; t < Tn; ++t) tk[(size_t)t * B + b] = batch.tokens[(size_t)b * Tn + t];
    in.tokens = tk;
  } else {
    const int D = spec_.inputSize;
    T* x = ensure(x_, TB * D);
    for (int b = 0; b < B; ++b)
      for (int t = 0; t < Tn; ++t)
        std::memcpy(x + ((size_t)t * B + b) * D, batch.features + ((size_t)b * Tn + t) * D, sizeof(T) * D);
    in.data = x;
  }
  bindStates(batch);
  for (size_t i = 0; i < layers_.size(); ++i)
    acts_[i + 1] = layers_[i]->forward(ctx_, weights(), acts_[i], io_[i], (int)i);
  return acts_.back();
}

template <class T>
double Model<T>::runBackward(const Batch<T>& batch, const Targets<T>& targets) {
  const Act<T>& out = acts_.back();
  T* dOut = ensure(dActs_.back(), (size_t)out.rows * out.cols);
  auto* lastDense = dynamic_cast<DenseLayer<T>*>(layers_.back().get());
  const Activation lastAct = lastDense ? lastDense->activation() : Activation::Linear;
  bool gradIsPre = false;
  const double loss = computeLoss(spec_.loss, spec_.reduction, lastAct, ctx_, out,
                                  lastDense ? lastDense->pre() : nullptr, targets, dOut, gradIsPre);
  for (LayerIO<T>& io : io_) io.gradIsPre = false;
  io_.back().gradIsPre = lastDense && gradIsPre;
  backpropagate(batch);
  return loss;
}

template <class T>
void Model<T>::backpropagate(const Batch<T>& batch) {
  if (sparseTable_ && grads_.size() == params_.size()) {
    // zero all but the sparse table, and of the table only the rows the last backward wrote
    const EmbeddingLayer<T>& e = *sparseTable_;
    std::fill(grads_.begin(), grads_.begin() + e.rowBegin(0), T(0));
    std::fill(grads_.begin() + e.rowBegin(e.vocab()), grads_.end(), T(0));
    for (int v : e.rowsUsed()) std::fill(grads_.begin() + e.rowBegin(v), grads_.begin() + e.rowBegin(v + 1), T(0));
    sparseTable_->clearRows();
  } else {
    grads_.assign(params_.size(), T(0));
    if (sparseTable_) sparseTable_->clearRows();
  }
  if (attention_) {
    dMemory_.assign((size_t)batch.memoryB * batch.memoryT * attention_->memoryCols(), T(0));
    io_[attentionAt_].dMemory = dMemory_.data();
  }
  for (size_t i = layers_.size(); i-- > 0;) {
    const Act<T>& in = acts_[i];
    T* dIn = nullptr;
    if (i > 0) dIn = ensure(dActs_[i], (size_t)in.rows * in.cols);
    layers_[i]->backward(ctx_, params_.data(), grads_.data(), in, dActs_[i + 1].data(), dIn, io_[i], (int)i);
  }
  if (batch.condition) conditionBackward(batch);
  gradsReady_ = true;
}

template <class T>
void Model<T>::collectGradients(const Batch<T>& batch, GradientResult<T>& r) const {
  if (r.wantGrads) r.grads = grads_;
  else r.grads.clear();
  r.dh0.resize(recurrent_.size());
  r.dc0.resize(recurrent_.size());
  for (size_t k = 0; k < recurrent_.size(); ++k) {
    const size_t n = (size_t)recurrent_[k]->dirs() * batch.B * recurrent_[k]->units();
    r.dh0[k].assign(recurrent_[k]->dh0().begin(), recurrent_[k]->dh0().begin() + n);
    if (recurrent_[k]->hasCell()) r.dc0[k].assign(recurrent_[k]->dc0().begin(), recurrent_[k]->dc0().begin() + n);
    else r.dc0[k].clear();
  }
  if (batch.condition) r.dCondition.assign(dCond_.begin(), dCond_.begin() + (size_t)batch.B * spec_.conditionFeatures);
  else r.dCondition.clear();
  if (attention_) r.dMemory = dMemory_;
  else r.dMemory.clear();
}

template <class T>
void Model<T>::backwardFrom(const Batch<T>& batch, bool training, const T* dOutput,
                            const std::vector<const T*>& dhFinal, const std::vector<const T*>& dcFinal,
                            GradientResult<T>& r) {
  // An encoder under a decoder runs forward, then (after the decoder) backwardFrom on the
  // same batch: its activations are still here, so the forward pass runs once per step.
  checkBatch(batch);
  const bool reuse = sameForward(batch, training);
  last_.valid = false;
  const Act<T>& out = reuse ? acts_.back() : runForward(batch, training);
  const int B = batch.B, Tn = batch.Tn, K = out.cols;
  T* dOut = ensure(dActs_.back(), (size_t)out.rows * K);
  if (!dOutput) {
    std::fill(dOut, dOut + (size_t)out.rows * K, T(0));
  } else if (out.seq) {  // batch-first in, time-major inside; padded positions get nothing
    for (int t = 0; t < Tn; ++t)
      for (int b = 0; b < B; ++b) {
        T* dst = dOut + ((size_t)t * B + b) * K;
        if (ctx_.active(t, b)) std::memcpy(dst, dOutput + ((size_t)b * Tn + t) * K, sizeof(T) * K);
        else std::fill(dst, dst + K, T(0));
      }
  } else {
    std::memcpy(dOut, dOutput, sizeof(T) * (size_t)B * K);
  }
  for (LayerIO<T>& io : io_) io.gradIsPre = false;  // dOutput is the gradient of the output itself
  for (size_t k = 0; k < recurrent_.size(); ++k) {
    io_[recurrentAt_[k]].dhFinal = k < dhFinal.size() ? dhFinal[k] : nullptr;
    io_[recurrentAt_[k]].dcFinal = k < dcFinal.size() && recurrent_[k]->hasCell() ? dcFinal[k] : nullptr;
  }
  backpropagate(batch);
  for (LayerIO<T>& io : io_) io.dhFinal = io.dcFinal = nullptr;  // the caller's buffers: not kept
  r.loss = 0;
  collectGradients(batch, r);
}

template <class T>
double Model<T>::step(const std::vector<Model<T>*>& models, const OptimizerSpec& opt, double loss) {
  for (size_t i = 0; i < models.size(); ++i) {
    if (!models[i]->gradsReady_)
      throwNative("internal: step() without a gradient (call gradients or backwardFrom first)");
    for (size_t j = 0; j < i; ++j)
      if (models[j] == models[i]) throwNative("internal: step() given the same model twice");
  }
  for (Model<T>* m : models) {
    m->gradsReady_ = false;  // used now, whatever follows
    for (auto [a, b] : m->frozen_) std::fill(m->grads_.begin() + a, m->grads_.begin() + b, T(0));
  }
  if (!std::isfinite(loss))
    throwNonFinite("non-finite loss (" + std::to_string(loss) + "); the weights were left unchanged");
  // What each model's step reads and updates: its whole block, or without a sparse table's unused rows.
  std::vector<std::vector<Span>> spans;
  for (Model<T>* m : models) spans.push_back(m->stepSpans(opt));
  // The global L2 norm over every block (one model: its own norm, unchanged to the bit).
  auto globalNorm = [&] {
    double sq = 0, one = 0;
    for (size_t i = 0; i < models.size(); ++i) {
      one = l2norm(models[i]->grads_.data(), spans[i]);
      sq += one * one;
    }
    return models.size() == 1 ? one : std::sqrt(sq);
  };
  const double norm = globalNorm();
  if (!std::isfinite(norm))
    throwNonFinite("non-finite gradient (norm " + std::to_string(norm) + "); the weights were left unchanged");
  double clipped = norm;
  if (opt.clipValue > 0) {
    for (size_t i = 0; i < models.size(); ++i) clipGradients(models[i]->grads_.data(), spans[i], opt.clipValue, 0.0);
    clipped = globalNorm();
  }
  if (opt.clipNorm > 0)
    for (size_t i = 0; i < models.size(); ++i)
      clipGradients(models[i]->grads_.data(), spans[i], 0.0, opt.clipNorm, clipped);
  // Every update is computed and checked before any is written: all but the last into a
  // staging copy, the last in place (optimizerStep writes nothing when it refuses).
  auto refuse = [&] {
    throwNonFinite("non-finite weights after the update (gradient norm " + std::to_string(norm) +
                   "; is the learning rate too large?); the weights were left unchanged");
  };
  const size_t last = models.size() - 1;
  auto keepFrozen = [](Model<T>* x) {  // the frozen ranges' values, put back after the update
    x->frozenKeep_.clear();
    for (auto [a, b] : x->frozen_)
      x->frozenKeep_.insert(x->frozenKeep_.end(), x->params_.begin() + a, x->params_.begin() + b);
  };
  auto restoreFrozen = [](Model<T>* x, std::vector<T>& p) {
    size_t at = 0;
    for (auto [a, b] : x->frozen_) {
      std::copy(x->frozenKeep_.begin() + at, x->frozenKeep_.begin() + at + (b - a), p.begin() + a);
      at += b - a;
    }
  };
  for (size_t i = 0; i < last; ++i) {
    Model<T>* m = models[i];
    keepFrozen(m);
    m->stageParams_ = m->params_;
    m->stageOpt_ = m->opt_;
    if (!optimizerStep(m->stageParams_.data(), m->grads_.data(), m->params_.size(), spans[i], opt, m->stageOpt_))
      refuse();
    restoreFrozen(m, m->stageParams_);
  }
  Model<T>* m = models[last];
  keepFrozen(m);
  if (!optimizerStep(m->params_.data(), m->grads_.data(), m->params_.size(), spans[last], opt, m->opt_)) refuse();
  restoreFrozen(m, m->params_);
  for (size_t i = 0; i < last; ++i) {
    std::swap(models[i]->params_, models[i]->stageParams_);
    std::swap(models[i]->opt_, models[i]->stageOpt_);
  }
  for (Model<T>* x : models) {
    ++x->version_;
    ++x->step_;
  }
  return norm;
}

template <class T>
std::vector<Span> Model<T>::stepSpans(const OptimizerSpec& opt) const {
  const size_t n = params_.size();
  // Adam runs as SparseAdam on the used rows. Plain SGD without weight decay leaves a row with no
  // gradient as it was, so skipping it changes nothing. Momentum and decoupled decay move every
  // row (torch's SGD does that with sparse gradients too; AdamW has no sparse form): a full sweep.
  const bool lazy = opt.type == OptimizerSpec::Adam ||
                    (opt.type == OptimizerSpec::Sgd && !(opt.momentum > 0) && !(opt.weightDecay > 0));
  if (!sparseTable_ || !lazy) return {{0, n, false}};
  const EmbeddingLayer<T>& e = *sparseTable_;
  const size_t a = e.rowBegin(0), b = e.rowBegin(e.vocab());
  std::vector<Span> s;
  if (a > 0) s.push_back({0, a, false});
  for (int v : e.rowsUsed()) s.push_back({e.rowBegin(v), e.rowBegin(v + 1), true});
  if (b < n) s.push_back({b, n, false});
  return s;
}

template <class T>
double Model<T>::applyGradients(const T* grads, const OptimizerSpec& opt) {
  last_.valid = false;
  grads_.assign(grads, grads + params_.size());
  if (sparseTable_) sparseTable_->markRows(grads_.data());  // the rows given a gradient
  gradsReady_ = true;
  return step({this}, opt, 0.0);
}

template <class T>
void Model<T>::forward(const Batch<T>& batch, bool training, ForwardResult<T>& r) {
  const Act<T>& out = runForward(batch, training);
  rememberForward(batch, training);
  const int B = batch.B, Tn = batch.Tn, K = out.cols;
  if (!r.wantOutput) {
    r.shape = out.seq ? std::vector<int>{B, Tn, K} : std::vector<int>{B, K};
    r.output.clear();
  } else if (out.seq) {
    r.shape = {B, Tn, K};
    r.output.resize((size_t)B * Tn * K);
    for (int b = 0; b < B; ++b)
      for (int t = 0; t < Tn; ++t)
        std::memcpy(r.output.data() + ((size_t)b * Tn + t) * K, out.data + ((size_t)t * B + b) * K, sizeof(T) * K);
  } else {
    r.shape = {B, K};
    r.output.assign(out.data, out.data + (size_t)B * K);
  }
  collectFinalStates(B, r.finalH, r.finalC);
  r.attention.clear();
  if (r.wantAttention && attention_) {  // time-major (T*B, memoryT) -> (B, T, memoryT)
    const int Tm = batch.memoryT;
    r.attention.resize((size_t)B * Tn * Tm);
    for (int b = 0; b < B; ++b)
      for (int t = 0; t < Tn; ++t)
        std::memcpy(r.attention.data() + ((size_t)b * Tn + t) * Tm, attention_->alphas() + ((size_t)t * B + b) * Tm,
                    sizeof(T) * Tm);
  }
}

template <class T>
void Model<T>::collectFinalStates(int B, std::vector<std::vector<T>>& h, std::vector<std::vector<T>>& c) const {
  h.resize(recurrent_.size());
  c.resize(recurrent_.size());
  for (size_t k = 0; k < recurrent_.size(); ++k) {
    const RecurrentLayer<T>* l = recurrent_[k];
    const size_t n = (size_t)l->dirs() * B * l->units();
    h[k].resize(n);
    c[k].resize(l->hasCell() ? n : 0);
    l->finalState(ctx_, h[k].data(), l->hasCell() ? c[k].data() : nullptr);
  }
}

template <class T>
void Model<T>::gradients(const Batch<T>& batch, const Targets<T>& targets, bool training, GradientResult<T>& r) {
  runForward(batch, training);
  r.loss = runBackward(batch, targets);
  collectGradients(batch, r);
}

template <class T>
double Model<T>::trainStep(const Batch<T>& batch, const Targets<T>& targets, const OptimizerSpec& opt, double& gradNorm,
                           ForwardResult<T>* states) {
  runForward(batch, true);
  if (states) collectFinalStates(batch.B, states->finalH, states->finalC);
  const double loss = runBackward(batch, targets);
  gradNorm = step({this}, opt, loss);
  return loss;
}

template <class T>
typename Model<T>::Evaluation Model<T>::evaluate(const Batch<T>& batch, const Targets<T>& targets) {
  const Act<T>& out = runForward(batch, false);
  T* scratch = ensure(dActs_.back(), (size_t)out.rows * out.cols);
  auto* lastDense = dynamic_cast<DenseLayer<T>*>(layers_.back().get());
  const Activation lastAct = lastDense ? lastDense->activation() : Activation::Linear;
  bool gradIsPre = false;
  Evaluation e;
  e.lossSum = computeLoss(spec_.loss, Reduction::Sum, lastAct, ctx_, out, lastDense ? lastDense->pre() : nullptr,
                          targets, scratch, gradIsPre);
  const int K = out.cols, B = batch.B, Tn = batch.Tn;
  collectFinalStates(B, e.finalH, e.finalC);
  for (int r = 0; r < out.rows; ++r) {
    const int t = out.seq ? r / B : 0, b = out.seq ? r % B : r;
    if (out.seq && !ctx_.active(t, b)) continue;
    const size_t bf = out.seq ? (size_t)b * Tn + t : (size_t)b;
    const T* y = out.data + (size_t)r * K;
    if (spec_.loss == LossType::CrossEntropy) {
      e.count += 1;
      e.correct += (std::max_element(y, y + K) - y) == targets.classes[bf];
    } else {
      e.count += K;
      if (spec_.loss == LossType::BinaryCrossEntropy) {
        const T* z = lastDense->pre() + (size_t)r * K;  // logits: z > 0 <=> p > 0.5
        for (int k = 0; k < K; ++k) e.correct += (z[k] > T(0)) == (targets.values[bf * K + k] > T(0.5));
      }
    }
  }
  return e;
}

template class Model<float>;
template class Model<double>;

}  // namespace rnnkit
