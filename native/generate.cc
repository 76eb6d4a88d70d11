// Model<T>::generate: sampling from a language model entirely in C++.
//
// n sequences are sampled in parallel as one batch of n rows (SamplingBatch,
// sampler.h): the prime runs as one T = |prime| forward, then each step is a draw
// from each row's logits (Draw: a softmax with banned tokens removed, top-k / top-p)
// and a T = 1 forward from the carried state for the rows still going.
#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <numeric>
#include <string>

#include "dense.h"
#include "errors.h"
#include "limits.h"
#include "model.h"
#include "recurrent.h"
#include "rng.h"
#include "sampler.h"
#include "sampling.h"

namespace rnnkit {
namespace {

// Draws one token from logits z (V) under the spec; banned[v] != 0 excludes v.
template <class T>
int32_t sampleToken(const T* z, int V, const GenerateSpec& g, const std::vector<char>& banned, Rng& rng,
                    std::vector<double>& p, std::vector<int>& order) {
  if (g.temperature == 0) {  // greedy
    int best = -1;
    for (int v = 0; v < V; ++v)
      if (!banned[v] && (best < 0 || z[v] > z[best])) best = v;
    return best;
  }
  double m = -INFINITY;
  for (int v = 0; v < V; ++v)
    if (!banned[v]) m = std::max(m, (double)z[v] / g.temperature);
  for (int v = 0; v < V; ++v) p[v] = banned[v] ? 0.0 : std::exp((double)z[v] / g.temperature - m);
  int allowed = 0;
  for (int v = 0; v < V; ++v) allowed += !banned[v];
  if ((g.topK > 0 && g.topK < allowed) || g.topP < 1) {
    order.resize(V);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return p[a] > p[b]; });
    int keep = allowed;
    if (g.topK > 0) keep = std::min(keep, g.topK);
    if (g.topP < 1) {
      double total = 0, cum = 0;
      for (int i = 0; i < keep; ++i) total += p[order[i]];
      for (int i = 0; i < keep; ++i) {
        cum += p[order[i]];
        if (cum >= g.topP * total) {
          keep = i + 1;
          break;
        }
      }
    }
    for (int i = keep; i < V; ++i) p[order[i]] = 0;
  }
  double total = 0;
  for (int v = 0; v < V; ++v) total += p[v];
  double u = rng.uniform() * total;
  int last = -1;
  for (int v = 0; v < V; ++v) {
    if (p[v] <= 0) continue;
    last = v;
    if (u < p[v]) return v;
    u -= p[v];
  }
  return last;  // rounding at the end of the walk
}

}  // namespace

void checkGenerateSpec(const GenerateSpec& g, int inputs, int V) {
  if (g.maxLength < 1 || g.maxLength > limits::kMaxGenerateLength)
    throwRange("Expected maxLength in [1, " + std::to_string(limits::kMaxGenerateLength) + "] but received " +
               std::to_string(g.maxLength));
  if (!(g.temperature >= 0) || !std::isfinite(g.temperature)) throwRange("Expected a finite temperature >= 0");
  if (g.topK < 0) throwRange("Expected topK >= 0");
  if (!(g.topP > 0 && g.topP <= 1)) throwRange("Expected topP in (0, 1]");
  if (g.prime.empty()) throwRange("Expected at least one prime token (e.g. <bos>)");
  auto checkIds = [&](const std::vector<int32_t>& ids, const char* name, int limit) {
    for (int32_t id : ids)
      if (id < 0 || id >= limit)
        throwRange(std::string("Expected token ids in [0, ") + std::to_string(limit) + ") for " + name +
                   " but received " + std::to_string(id));
  };
  checkIds(g.prime, "prime", inputs);
  checkIds(g.stop, "stopTokens", V);
  checkIds(g.ban, "banTokens", V);
  std::vector<char> banned(V, 0);
  for (int32_t id : g.ban) banned[id] = 1;
  if (std::count(banned.begin(), banned.end(), 1) == V) throwRange("banTokens bans every token");
}

Draw::Draw(const GenerateSpec& g, int V, uint64_t row)
    : g_(&g),
      V_(V),
      banned_(V, 0),
      stops_(V, 0),
      rng_(splitmix64(g.seed * 0x9E3779B97F4A7C15ull + row)),
      p_(V),
      primeLast_(g.prime.back()) {
  for (int32_t id : g.ban) banned_[id] = 1;
  for (int32_t id : g.stop) stops_[id] = 1;
}

template <class T>
bool Draw::next(const T* z, int32_t& tok) {
  if (done_) return false;
  tok = sampleToken(z, V_, *g_, banned_, rng_, p_, order_);
  if (stops_[tok]) {
    done_ = true;
    return false;
  }
  out_.push_back(tok);
  if ((int)out_.size() >= g_->maxLength) done_ = true;
  return true;
}

template bool Draw::next<float>(const float*, int32_t&);
template bool Draw::next<double>(const double*, int32_t&);

template <class T>
void Model<T>::checkSampling() const {
  auto* lastDense = dynamic_cast<const DenseLayer<T>*>(layers_.back().get());
  if (!spec_.tokens || !outSeq_ || !lastDense ||
      (lastDense->activation() != Activation::Softmax && lastDense->activation() != Activation::Linear))
    throwRange(
        "generate needs a language model: token inputs, sequence outputs and a final dense layer with "
        "activation softmax or linear");
  for (const LayerSpec& l : spec_.layers)
    if (l.bidirectional) throwRange("generate cannot sample from a bidirectional layer (it reads the future)");
  if (attention_) throwRange("generate cannot sample from a model with attention (its Seq2Seq decodes it)");
}

template <class T>
void Model<T>::samplingForward(Batch<T> batch, std::vector<T>& logits, std::vector<std::vector<T>>& h,
                               std::vector<std::vector<T>>& c) {
  batch.rowExact = true;
  runForward(batch, false);  // copies h0 / c0 before it writes anything
  const size_t BV = (size_t)batch.B * outCols_;
  const T* last = static_cast<DenseLayer<T>*>(layers_.back().get())->pre() + (size_t)(batch.Tn - 1) * BV;
  logits.assign(last, last + BV);
  collectFinalStates(batch.B, h, c);
}

// n rows through one SamplingBatch: row b is sequence b, drawn as row b of the seed.
template <class T>
void Model<T>::generate(const GenerateSpec& g, const std::vector<const T*>& h0, const std::vector<const T*>& c0,
                        const T* condition, std::vector<std::vector<int32_t>>& out) {
  checkSampling();
  const int n = g.n;
  if (n < 1 || n > limits::kMaxSamples)
    throwRange("Expected n in [1, " + std::to_string(limits::kMaxSamples) + "] but received " + std::to_string(n));
  if ((double)n * g.maxLength > limits::kMaxSampledTokens)
    throwRange("Expected n x maxLength at most 1e8 tokens per call but received " + std::to_string(n) + " x " +
               std::to_string(g.maxLength));
  SamplingBatch<T> batch(*this);
  const std::shared_ptr<const GenerateSpec> spec(&g, [](const GenerateSpec*) {});  // outlives the batch
  const int K = spec_.conditionFeatures;
  for (int b = 0; b < n; ++b) {
    std::vector<std::vector<T>> h, c;
    for (size_t k = 0; k < recurrent_.size(); ++k) {
      const size_t H = recurrent_[k]->units();
      auto row = [&](const std::vector<const T*>& s) {
        return k < s.size() && s[k] ? std::vector<T>(s[k] + b * H, s[k] + (b + 1) * H) : std::vector<T>();
      };
      h.push_back(row(h0));
      c.push_back(row(c0));
    }
    std::vector<T> cond =
        condition ? std::vector<T>(condition + (size_t)b * K, condition + (size_t)(b + 1) * K) : std::vector<T>();
    batch.add((uint64_t)b, spec, (uint64_t)b, std::move(cond), std::move(h), std::move(c));
  }
  out.assign(n, {});
  std::vector<typename SamplingBatch<T>::Event> events;
  while (batch.size() > 0) {
    events.clear();
    batch.advance(
        std::numeric_limits<int>::max(), [] { return false; }, events);
    for (auto& e : events) out[e.id].insert(out[e.id].end(), e.tokens.begin(), e.tokens.end());
  }
}

template void Model<float>::checkSampling() const;
template void Model<double>::checkSampling() const;
template void Model<float>::samplingForward(Batch<float>, std::vector<float>&, std::vector<std::vector<float>>&,
                                            std::vector<std::vector<float>>&);
template void Model<double>::samplingForward(Batch<double>, std::vector<double>&, std::vector<std::vector<double>>&,
                                             std::vector<std::vector<double>>&);
template void Model<float>::generate(const GenerateSpec&, const std::vector<const float*>&,
                                     const std::vector<const float*>&, const float*,
                                     std::vector<std::vector<int32_t>>&);
template void Model<double>::generate(const GenerateSpec&, const std::vector<const double*>&,
                                      const std::vector<const double*>&, const double*,
                                      std::vector<std::vector<int32_t>>&);

}  // namespace rnnkit
