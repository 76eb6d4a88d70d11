// SamplingBatch: sequences sampled together as one batch that advances a token at a
// time, which sequences join (after their prime) and leave (when they end or are
// cancelled) between steps. generate() runs its n rows through one; the batched
// sampler (binding/sampler_wrap.cc) keeps one alive across calls and feeds it the
// requests that arrive.
//
// Every product of its forwards is rowExact (Batch::rowExact), so a sequence's
// logits are the same bits whatever other sequences share the batch: a request
// draws the tokens it would draw alone with its seed.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "model.h"
#include "sampling.h"

namespace rnnkit {

template <class T>
class SamplingBatch {
 public:
  // m: the model whose forward runs here (a reader, or the model itself); checks that
  // it can be sampled (Model::checkSampling). It must outlive the batch.
  explicit SamplingBatch(Model<T>& m);

  // What one advance() reports of a sequence: the tokens it drew, and whether it ended
  // (a stop token, maxLength, or cancel()).
  struct Event {
    uint64_t id = 0;
    std::vector<int32_t> tokens;
    bool ended = false;
  };

  // A sequence to start at the next advance(): primed from zeros (or its condition row,
  // for a model with a condition) and drawn as row `row` of its spec's seed (Draw).
  // Checks the spec (checkGenerateSpec; RangeError). Sequences whose primes have the
  // same length are primed in one forward.
  // h0 / c0: per recurrent layer its initial state (H) or empty (zeros).
  void add(uint64_t id, std::shared_ptr<const GenerateSpec> g, uint64_t row, std::vector<T> condition = {},
           std::vector<std::vector<T>> h0 = {}, std::vector<std::vector<T>> c0 = {});
  // Ends the sequence at the next advance() (its tokens so far are not reported again).
  void cancel(uint64_t id);
  // Primes the added sequences, then steps every live one a token at a time until
  // none is left, `yield()` returns true (asked after each step) or maxSteps steps
  // ran; appends an Event for each sequence that drew tokens or ended. Sequences that
  // end leave the batch at once; the others go on.
  void advance(int maxSteps, const std::function<bool()>& yield, std::vector<Event>& events);
  // Sequences live or waiting for their prime.
  size_t size() const { return rows_.size() + added_.size(); }

 private:
  struct Row {
    uint64_t id;
    std::shared_ptr<const GenerateSpec> g;
    Draw draw;
  };
  struct Added {
    uint64_t id;
    std::shared_ptr<const GenerateSpec> g;
    uint64_t row;
    std::vector<T> condition;
    std::vector<std::vector<T>> h0, c0;
  };
  void prime(std::vector<Event>& events);
  void removeRows(const std::vector<char>& gone);
  Event& eventOf(std::vector<Event>& events, uint64_t id);

  Model<T>& m_;
  int V_, conditionFeatures_;
  std::vector<Row> rows_;  // live sequences, in the batch's row order
  std::vector<Added> added_;
  std::vector<uint64_t> cancelled_;
  std::vector<T> logits_;              // (rows, V): the next draw of each live row
  std::vector<std::vector<T>> h_, c_;  // per recurrent layer (rows, H)
};

}  // namespace rnnkit
