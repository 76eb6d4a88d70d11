// Sampling one sequence from a language model's logits: what generate() does for
// each of its n rows and the batched sampler (sampler.h) for each request, written
// once so that both draw the same tokens from the same logits and seed.
#pragma once
#include <cstdint>
#include <vector>

#include "rng.h"

namespace rnnkit {

struct GenerateSpec;

// Checks the options that do not depend on n (maxLength, temperature, topK, topP, the
// prime and the token sets) against a model with `inputs` input ids and `V` outputs.
// Throws RangeError (errors.h) naming the option.
void checkGenerateSpec(const GenerateSpec& g, int inputs, int V);

// One sequence being sampled: its options, banned and stop sets, random stream and
// the tokens so far. Row `row` of a generate() call with seed s draws from
// splitmix64(s * 0x9E3779B97F4A7C15 + row): a request alone is row 0.
class Draw {
 public:
  Draw(const GenerateSpec& g, int V, uint64_t row);
  // Samples the next token from logits z (V). Returns true and sets tok when it
  // extends the sequence; false when the sequence ends here (a stop token), and from
  // then on. The sequence also ends after maxLength tokens (done() is then true).
  template <class T>
  bool next(const T* z, int32_t& tok);
  bool done() const { return done_; }
  const std::vector<int32_t>& tokens() const { return out_; }
  // The last token fed to the model (the prime's last before the first draw).
  int32_t last() const { return out_.empty() ? primeLast_ : out_.back(); }

 private:
  const GenerateSpec* g_;
  int V_;
  std::vector<char> banned_, stops_;
  Rng rng_;
  std::vector<int32_t> out_;
  std::vector<double> p_;
  std::vector<int> order_;
  int32_t primeLast_;
  bool done_ = false;
};

}  // namespace rnnkit
