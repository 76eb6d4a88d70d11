#include "sampler.h"

#include <algorithm>
#include <cstring>
#include <map>

#include "errors.h"

namespace rnnkit {

template <class T>
SamplingBatch<T>::SamplingBatch(Model<T>& m) : m_(m) {
  m.checkSampling();
  V_ = m.outputCols();
  conditionFeatures_ = m.spec().conditionFeatures;
  h_.resize(m.stateTable().size());
  c_.resize(h_.size());
}

template <class T>
void SamplingBatch<T>::add(uint64_t id, std::shared_ptr<const GenerateSpec> g, uint64_t row, std::vector<T> condition,
                           std::vector<std::vector<T>> h0, std::vector<std::vector<T>> c0) {
  checkGenerateSpec(*g, m_.spec().inputSize, V_);
  if (conditionFeatures_ > 0 && h0.empty() && condition.size() != (size_t)conditionFeatures_)
    throwRange("Expected a condition of " + std::to_string(conditionFeatures_) + " values for sequence " +
               std::to_string(id));
  added_.push_back(Added{id, std::move(g), row, std::move(condition), std::move(h0), std::move(c0)});
}

template <class T>
void SamplingBatch<T>::cancel(uint64_t id) {
  cancelled_.push_back(id);
}

template <class T>
typename SamplingBatch<T>::Event& SamplingBatch<T>::eventOf(std::vector<Event>& events, uint64_t id) {
  for (Event& e : events)
    if (e.id == id) return e;
  events.push_back(Event{id, {}, false});
  return events.back();
}

template <class T>
void SamplingBatch<T>::removeRows(const std::vector<char>& gone) {
  size_t keep = 0;
  const size_t n = rows_.size();
  for (size_t r = 0; r < n; ++r) {
    if (gone[r]) continue;
    if (keep != r) {
      rows_[keep] = std::move(rows_[r]);
      std::memmove(logits_.data() + keep * V_, logits_.data() + r * V_, sizeof(T) * V_);
      for (size_t k = 0; k < h_.size(); ++k) {
        const size_t H = h_[k].size() / n;
        std::memmove(h_[k].data() + keep * H, h_[k].data() + r * H, sizeof(T) * H);
        if (!c_[k].empty()) std::memmove(c_[k].data() + keep * H, c_[k].data() + r * H, sizeof(T) * H);
      }
    }
    ++keep;
  }
  for (size_t k = 0; k < h_.size(); ++k) {
    h_[k].resize(h_[k].size() / (n ? n : 1) * keep);
    if (!c_[k].empty()) c_[k].resize(c_[k].size() / n * keep);
  }
  rows_.erase(rows_.begin() + keep, rows_.end());
  logits_.resize(keep * V_);
}

// The added sequences, grouped by prime length: one forward per group, then their
// rows appended to the live ones.
template <class T>
void SamplingBatch<T>::prime(std::vector<Event>& events) {
  std::map<size_t, std::vector<Added*>> groups;
  for (Added& a : added_) {
    if (std::find(cancelled_.begin(), cancelled_.end(), a.id) != cancelled_.end()) {
      eventOf(events, a.id).ended = true;
      continue;
    }
    groups[a.g->prime.size()].push_back(&a);
  }
  const std::vector<StateInfo> states = m_.stateTable();
  for (auto& [P, group] : groups) {
    const int B = (int)group.size();
    std::vector<int32_t> tokens((size_t)B * P), lengths(B, (int32_t)P);
    std::vector<T> cond;
    std::vector<std::vector<T>> h0(states.size()), c0(states.size());
    Batch<T> batch;
    for (int b = 0; b < B; ++b) {
      const Added& a = *group[b];
      std::copy(a.g->prime.begin(), a.g->prime.end(), tokens.begin() + (size_t)b * P);
      cond.insert(cond.end(), a.condition.begin(), a.condition.end());
      for (size_t k = 0; k < states.size(); ++k) {
        const size_t H = states[k].units;
        auto fill = [&](std::vector<T>& dst, const std::vector<std::vector<T>>& src) {
          if (k >= src.size() || src[k].empty()) return;
          dst.resize((size_t)B * H, T(0));
          std::copy(src[k].begin(), src[k].end(), dst.begin() + (size_t)b * H);
        };
        fill(h0[k], a.h0);
        fill(c0[k], a.c0);
      }
    }
    batch.B = B;
    batch.Tn = (int)P;
    batch.tokens = tokens.data();
    batch.lengths = lengths.data();
    for (size_t k = 0; k < states.size(); ++k) {
      batch.h0.push_back(h0[k].empty() ? nullptr : h0[k].data());
      batch.c0.push_back(c0[k].empty() ? nullptr : c0[k].data());
    }
    // a condition sets the first layer's initial state (rows without one: a given h0)
    batch.condition = conditionFeatures_ > 0 && cond.size() == (size_t)B * conditionFeatures_ ? cond.data() : nullptr;
    std::vector<T> logits;
    std::vector<std::vector<T>> h, c;
    m_.samplingForward(batch, logits, h, c);
    logits_.insert(logits_.end(), logits.begin(), logits.end());
    for (size_t k = 0; k < h_.size(); ++k) {
      h_[k].insert(h_[k].end(), h[k].begin(), h[k].end());
      c_[k].insert(c_[k].end(), c[k].begin(), c[k].end());
    }
    for (Added* a : group) rows_.push_back(Row{a->id, a->g, Draw(*a->g, V_, a->row)});
  }
  added_.clear();
}

template <class T>
void SamplingBatch<T>::advance(int maxSteps, const std::function<bool()>& yield, std::vector<Event>& events) {
  if (!cancelled_.empty()) {
    std::vector<char> gone(rows_.size(), 0);
    for (size_t r = 0; r < rows_.size(); ++r)
      if (std::find(cancelled_.begin(), cancelled_.end(), rows_[r].id) != cancelled_.end()) {
        gone[r] = 1;
        eventOf(events, rows_[r].id).ended = true;
      }
    removeRows(gone);
  }
  prime(events);
  cancelled_.clear();
  std::vector<int32_t> next, ones;
  std::vector<char> gone;
  for (int step = 0; step < maxSteps && !rows_.empty(); ++step) {
    // Draw from each row's logits; rows that end leave before the next forward.
    const size_t n = rows_.size();
    next.assign(n, 0);
    gone.assign(n, 0);
    bool ended = false;  // some row ends at this draw
    for (size_t r = 0; r < n; ++r) {
      Row& row = rows_[r];
      int32_t tok = 0;
      const bool drew = row.draw.next(logits_.data() + r * V_, tok);
      if (drew) eventOf(events, row.id).tokens.push_back(tok);
      if (row.draw.done()) {
        eventOf(events, row.id).ended = true;
        gone[r] = 1;
        ended = true;
      }
      next[r] = row.draw.last();
    }
    if (ended) {
      std::vector<int32_t> kept;
      for (size_t r = 0; r < n; ++r)
        if (!gone[r]) kept.push_back(next[r]);
      next.swap(kept);
      removeRows(gone);
    }
    if (rows_.empty()) break;
    // Feed the drawn tokens back: one step from the carried states.
    const int B = (int)rows_.size();
    ones.assign(B, 1);
    Batch<T> batch;
    batch.B = B;
    batch.Tn = 1;
    batch.tokens = next.data();
    batch.lengths = ones.data();
    for (size_t k = 0; k < h_.size(); ++k) {
      batch.h0.push_back(h_[k].data());
      batch.c0.push_back(c_[k].empty() ? nullptr : c_[k].data());
    }
    m_.samplingForward(batch, logits_, h_, c_);  // reads h0 / c0 before it writes h / c
    if (yield()) break;
  }
}

template class SamplingBatch<float>;
template class SamplingBatch<double>;

}  // namespace rnnkit
