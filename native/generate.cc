// Model<T>::generate: sampling from a language model entirely in C++.
//
// n sequences are sampled in parallel as one batch of n rows: the prime runs as
// one T = |prime| forward, then each step is a T = 1 forward from the carried
// state, a softmax over the logits with banned tokens removed, and a draw.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "dense.h"
#include "errors.h"
#include "limits.h"
#include "model.h"
#include "rng.h"

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

template <class T>
void Model<T>::generate(const GenerateSpec& g, const std::vector<const T*>& h0, const std::vector<const T*>& c0,
                        const T* condition, std::vector<std::vector<int32_t>>& out) {
  auto* lastDense = dynamic_cast<DenseLayer<T>*>(layers_.back().get());
  if (!spec_.tokens || !outSeq_ || !lastDense ||
      (lastDense->activation() != Activation::Softmax && lastDense->activation() != Activation::Linear))
    throwRange(
        "generate needs a language model: token inputs, sequence outputs and a final dense layer with "
        "activation softmax or linear");
  for (const LayerSpec& l : spec_.layers)
    if (l.bidirectional) throwRange("generate cannot sample from a bidirectional layer (it reads the future)");
  const int V = outCols_, n = g.n;
  if (n < 1 || n > limits::kMaxSamples)
    throwRange("Expected n in [1, " + std::to_string(limits::kMaxSamples) + "] but received " + std::to_string(n));
  if (g.maxLength < 1 || g.maxLength > limits::kMaxGenerateLength)
    throwRange("Expected maxLength in [1, " + std::to_string(limits::kMaxGenerateLength) + "] but received " +
               std::to_string(g.maxLength));
  if ((double)n * g.maxLength > limits::kMaxSampledTokens)
    throwRange("Expected n x maxLength at most 1e8 tokens per call but received " + std::to_string(n) + " x " +
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
  checkIds(g.prime, "prime", spec_.inputSize);
  checkIds(g.stop, "stopTokens", V);
  checkIds(g.ban, "banTokens", V);
  std::vector<char> banned(V, 0), stops(V, 0);
  for (int32_t id : g.ban) banned[id] = 1;
  for (int32_t id : g.stop) stops[id] = 1;
  if (std::count(banned.begin(), banned.end(), 1) == V) throwRange("banTokens bans every token");

  // The prime, as one forward over T = |prime| for all n rows.
  const int P = (int)g.prime.size();
  std::vector<int32_t> tokens((size_t)n * P), lengths(n, P);
  for (int b = 0; b < n; ++b) std::copy(g.prime.begin(), g.prime.end(), tokens.begin() + (size_t)b * P);
  Batch<T> batch;
  batch.B = n;
  batch.Tn = P;
  batch.tokens = tokens.data();
  batch.lengths = lengths.data();
  batch.h0 = h0;
  batch.c0 = c0;
  batch.condition = condition;
  runForward(batch, false);
  batch.condition = nullptr;  // from here on the carried state continues
  std::vector<T> logits((size_t)n * V);
  std::copy(lastDense->pre() + (size_t)(P - 1) * n * V, lastDense->pre() + (size_t)P * n * V, logits.begin());
  std::vector<std::vector<T>> h, c;
  collectFinalStates(n, h, c);

  std::vector<Rng> rngs;
  for (int b = 0; b < n; ++b) rngs.emplace_back(splitmix64(g.seed * 0x9E3779B97F4A7C15ull + (uint64_t)b));
  out.assign(n, {});
  std::vector<char> done(n, 0);
  std::vector<double> p(V);
  std::vector<int> order;
  std::vector<int32_t> next(n), ones(n, 1);
  int live = n;
  for (int step = 0; live > 0; ++step) {
    for (int b = 0; b < n; ++b) {
      next[b] = g.prime.back();  // any valid id for finished rows
      if (done[b]) continue;
      const int32_t tok = sampleToken(logits.data() + (size_t)b * V, V, g, banned, rngs[b], p, order);
      if (stops[tok]) {
        done[b] = 1;
        --live;
        continue;
      }
      out[b].push_back(tok);
      next[b] = tok;
      if ((int)out[b].size() >= g.maxLength) {
        done[b] = 1;
        --live;
      }
    }
    if (live == 0) break;
    // Feed the sampled tokens back: one step from the carried state.
    batch.Tn = 1;
    batch.tokens = next.data();
    batch.lengths = ones.data();
    batch.h0.assign(h.size(), nullptr);
    batch.c0.assign(c.size(), nullptr);
    for (size_t k = 0; k < h.size(); ++k) {
      batch.h0[k] = h[k].data();
      batch.c0[k] = c[k].empty() ? nullptr : c[k].data();
    }
    runForward(batch, false);  // copies h0 / c0 before it writes anything
    std::copy(lastDense->pre(), lastDense->pre() + (size_t)n * V, logits.begin());
    collectFinalStates(n, h, c);
  }
}

template void Model<float>::generate(const GenerateSpec&, const std::vector<const float*>&,
                                     const std::vector<const float*>&, const float*,
                                     std::vector<std::vector<int32_t>>&);
template void Model<double>::generate(const GenerateSpec&, const std::vector<const double*>&,
                                      const std::vector<const double*>&, const double*,
                                      std::vector<std::vector<int32_t>>&);

}  // namespace rnnkit
