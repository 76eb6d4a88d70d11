// Model description shared by the core and the binding.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace rnnkit {

enum class LayerType { Rnn, Gru, Lstm, Dense, Dropout, Embedding, Attention };
enum class Activation { Linear, Softmax, Sigmoid, Tanh, Relu };
enum class Peephole { None, Diagonal, Full };
enum class LossType { CrossEntropy, BinaryCrossEntropy, Mse };
enum class Reduction { Mean, Sum };
enum class AttentionScore { Dot, General, Additive };

struct LayerSpec {
  LayerType type = LayerType::Dense;
  int units = 0;
  Activation activation = Activation::Linear;  // rnn: Tanh or Relu; dense: any
  bool bidirectional = false;
  bool returnSequences = true;
  bool gruMinimal = false;  // gru variant 'minimal' (update gate only)
  bool resetAfter = true;   // gru 'full': reset gate applied after the recurrent product (PyTorch)
  Peephole peephole = Peephole::None;
  double rate = 0;  // dropout
  // recurrent: variational dropout (Gal & Ghahramani 2016), one mask per sequence and
  // direction, the same at every step, training only: on the inputs (features) and on
  // h<t-1> where it enters the recurrent product
  double inputDropout = 0, recurrentDropout = 0;
  int paddingIdx = -1;        // embedding: the token whose row stays zero and gets no gradient; -1 = none
  bool frozen = false;        // embedding: no gradient and never updated (pretrained vectors kept as they are)
  bool sparse = false;        // embedding: a step updates only the rows its batch used (Adam as SparseAdam)
  bool tieEmbedding = false;  // dense: the weight is the first layer's embedding table (units = vocabulary)
  // attention (attention.h): the score, the additive score's width A, and the width E of
  // the memory (the encoder's outputs) it attends over; units = the output width U
  AttentionScore score = AttentionScore::General;
  int attentionUnits = 0;
  int memoryCols = 0;
};

struct ModelSpec {
  bool tokens = true;  // token ids (vocabulary of inputSize) or dense features (inputSize wide)
  int inputSize = 0;
  std::vector<LayerSpec> layers;
  LossType loss = LossType::CrossEntropy;
  Reduction reduction = Reduction::Mean;
  uint32_t seed = 0;
  // One-to-many: a conditioning vector of this width maps through a dense tanh layer
  // ("condition.weight" [R, k], "condition.bias" [R]) into the initial state of the
  // first recurrent layer (h0, and c0 for LSTM: R = dirs*H or 2*dirs*H). 0 = none.
  int conditionFeatures = 0;
};

// A named view into the contiguous parameter block.
struct ParamInfo {
  int layer;         // index in ModelSpec::layers; -1 for the condition layer
  std::string name;  // PyTorch-style local name
  std::vector<int> shape;
  size_t offset;
  size_t size;
};

struct StateInfo {
  int layer;
  int dirs;
  int units;
  bool hasCell;
};

struct OptimizerSpec {
  enum Type { Sgd, Adam, AdamW } type = Adam;
  double lr = 1e-3, momentum = 0, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weightDecay = 0;
  bool nesterov = false;
  double clipValue = 0, clipNorm = 0;  // 0 = off
};

// Checks a spec for consistency; throws Error(Range) naming the offending field.
size_t validateSpec(const ModelSpec& spec);  // returns the parameter count

}  // namespace rnnkit
