// NativeSampler: a batched sampler over one NativeModel (lib/sampler.ts drives it).
//
// It owns a reader of the model (Model::readerOf: its own buffers over the shared
// weights) and a SamplingBatch (native/sampler.h) that lives across calls. The
// JavaScript side adds requests and cancels them between runs; run() advances the
// batch on the libuv pool and resolves with the tokens drawn: when no sequence is left,
// soon after a sequence ends (kJoinMs; at once when requests wait for its slot) or after
// wake() (a request arrived or was cancelled), and, while a stream is live, about every
// kFlushMs so that it sees its tokens. Without streams a run does not return on a timer:
// every return is a hand-off between threads, which on a loaded machine can wait a
// scheduler slice (batch-1 requests beside 2 busy processes ran at 0.75x the serialized
// speed with a 4 ms flush for all). add / cancel / run while a run is in flight are
// refused: the batch is touched by one thread at a time.
//
// The model's readers / writer rule: the sampler takes a reader slot when a run starts
// with live sequences and keeps it until the batch is empty, so a writer (trainStep,
// fit) waits for, or is refused by, the sequences in flight as it is by any reader.
// Each run reports whether a writer waits; the JavaScript side then admits no new
// requests until the batch drains and the writer has run.
#include "sampler_wrap.h"

#include <atomic>
#include <chrono>
#include <cmath>
#include <memory>

#include "args.h"
#include "limits.h"
#include "sampler.h"
#include "task.h"

namespace rnnkit {
namespace binding {

namespace {

// How long a run advances before it returns the tokens drawn so far (streams flush).
constexpr double kFlushMs = 4.0;
// After wake() (requests arrived or were cancelled) or a sequence's end, how long the run
// goes on before it returns: arrivals within it join together, and a stream of arrivals
// or ends costs at most one return a millisecond.
constexpr double kJoinMs = 1.0;

}  // namespace

template <class T>
struct SamplerWrap::State {
  using Scalar = T;
  std::unique_ptr<Model<T>> reader;
  std::unique_ptr<SamplingBatch<T>> batch;
};

Napi::Function SamplerWrap::Init(Napi::Env env) {
  return DefineClass(env, "NativeSampler",
                     {
                         InstanceMethod<&SamplerWrap::Add>("add"),
                         InstanceMethod<&SamplerWrap::Cancel>("cancel"),
                         InstanceMethod<&SamplerWrap::Run>("run"),
                         InstanceMethod<&SamplerWrap::Wake>("wake"),
                         InstanceMethod<&SamplerWrap::Close>("close"),
                     });
}

SamplerWrap::SamplerWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<SamplerWrap>(info) {
  Napi::Env env = info.Env();
  if (!info.IsConstructCall()) throw Napi::TypeError::New(env, "NativeSampler must be called with new");
  owner_ = info.Length() > 0 ? ModelWrap::fromValue(env, info[0]) : nullptr;
  if (!owner_) throwType(env, "a NativeModel", "model");
  if (owner_->disposed_) throw codedError(env, ErrorKind::Native, "the model has been disposed", "ERR_DISPOSED");
  guard(env, [&] {
    owner_->withModel([&](auto& m) {
      using T = typename std::remove_reference_t<decltype(m)>::Scalar;
      auto s = std::make_unique<State<T>>();
      s->reader = Model<T>::readerOf(m);
      s->batch = std::make_unique<SamplingBatch<T>>(*s->reader);  // checks it is a language model
      setState(std::move(s));
    });
    return 0;
  });
  ownerRef_ = Napi::Persistent(info[0].As<Napi::Object>());  // the model outlives its sampler
  ++owner_->samplers_;
}

// A sampler dropped without close(): its own memory goes; the model it counted as a sampler
// of is not touched (it may be finalized first at teardown), so a disposed model's memory
// then waits for the model's own finalizer.
SamplerWrap::~SamplerWrap() = default;

void SamplerWrap::setState(std::unique_ptr<State<float>> s) { f32_ = std::move(s); }
void SamplerWrap::setState(std::unique_ptr<State<double>> s) { f64_ = std::move(s); }

void SamplerWrap::requireOpen(Napi::Env env, const char* what) const {
  if (closed_) throw codedError(env, ErrorKind::Native, "the sampler has been closed", "ERR_CLOSED");
  if (running_)
    throw codedError(env, ErrorKind::Native, std::string("the sampler is running; ") + what + " between runs",
                     "ERR_BUSY");
}

static uint64_t requestId(const Napi::Value& v) {
  if (!v.IsNumber()) throwType(v.Env(), "a number", "id");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= 9007199254740991.0 && d == std::floor(d)))
    throwRangeJs(v.Env(), "an integer in [0, 9007199254740991]", "id", describeNumber(d));
  return (uint64_t)d;
}

// add(id, options, condition | null, initialStates | null): a sequence that joins the
// batch at the next run, drawn as model.generate({ ...options, n: 1 }) draws it alone.
Napi::Value SamplerWrap::Add(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  requireOpen(env, "add requests");
  const uint64_t id = requestId(info[0]);
  auto g = std::make_shared<GenerateSpec>(parseGenerate(info[1]));
  if (g->n != 1) throwRangeJs(env, "1 (a request is one sequence)", "options.n", describeNumber(g->n));
  const bool hasCondition = info.Length() > 2 && !info[2].IsUndefined() && !info[2].IsNull();
  withState([&](auto& s) {
    using T = typename std::remove_reference_t<decltype(s)>::Scalar;
    std::vector<T> condition;
    if (hasCondition)
      readFloatArray<T>(info[2], "condition", (size_t)std::max(s.reader->spec().conditionFeatures, 1), condition);
    // initial states for the one row (the batched translator: the decoder's start)
    std::vector<std::vector<T>> h0, c0;
    if (info.Length() > 3 && !info[3].IsUndefined() && !info[3].IsNull()) {
      OwnedStates<T> st = parseStates<T>(info[3], *s.reader, 1);  // per layer (1, H) or empty: zeros
      h0 = std::move(st.h);
      c0 = std::move(st.c);
    }
    guard(env, [&] {
      s.batch->add(id, g, 0, std::move(condition), std::move(h0), std::move(c0));
      return 0;
    });
  });
  return env.Undefined();
}

// cancel(id): the sequence leaves at the next run, which reports it ended.
Napi::Value SamplerWrap::Cancel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  requireOpen(env, "cancel requests");
  const uint64_t id = requestId(info[0]);
  withState([&](auto& s) { s.batch->cancel(id); });
  return env.Undefined();
}

Napi::Value SamplerWrap::Wake(const Napi::CallbackInfo& info) {
  wake_.store(true);
  return info.Env().Undefined();
}

// run(waiting, streaming): advances the batch on the pool (waiting: requests wait for a
// free slot, so the run returns as soon as a sequence ends; streaming: a stream is live,
// so it returns every kFlushMs). Resolves { events: [{ id, tokens, ended }],
// writerWaiting }. Rejects ERR_BUSY while a writer runs or waits and the sampler holds no
// reader slot (retry later), ERR_DISPOSED once the model is disposed and the batch had
// drained, ERR_CLOSED after close().
Napi::Value SamplerWrap::Run(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto reject = [&](const std::string& msg, const char* code) {
    auto d = Napi::Promise::Deferred::New(env);
    d.Reject(codedError(env, ErrorKind::Native, msg, code).Value());
    return d.Promise();
  };
  if (closed_) return reject("the sampler has been closed", "ERR_CLOSED");
  if (running_) return reject("the sampler is already running; await its run first", "ERR_BUSY");
  if (!holding_) {
    if (Napi::Value r = owner_->refuse(env, true); !r.IsEmpty()) return r;
    ++owner_->readers_;  // until the batch drains (releaseHold)
    holding_ = true;
  }
  running_ = true;
  wake_.store(false);
  Ref();  // this sampler stays alive while its run is in flight
  return withState([&](auto& s) -> Napi::Value {
    using T = typename std::remove_reference_t<decltype(s)>::Scalar;
    using Events = std::vector<typename SamplingBatch<T>::Event>;
    auto events = std::make_shared<Events>();
    SamplingBatch<T>* batch = s.batch.get();
    std::atomic<bool>* wake = &wake_;
    const bool waiting = info.Length() > 0 && info[0].ToBoolean().Value();
    const bool streaming = info.Length() > 1 && info[1].ToBoolean().Value();
    auto* task = new Task(
        env, owner_,
        [batch, events, wake, waiting, streaming] {
          const auto t0 = std::chrono::steady_clock::now();
          const size_t live = batch->size();
          auto yield = [&] {
            const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
            const bool ended = batch->size() < live;
            return (streaming && ms >= kFlushMs) || (waiting && ended) ||
                   (ms >= kJoinMs && (ended || wake->load(std::memory_order_relaxed)));
          };
          batch->advance(limits::kMaxGenerateLength, yield, *events);
        },
        [this, events](Napi::Env e) -> Napi::Value {
          Napi::Array arr = Napi::Array::New(e, events->size());
          for (size_t i = 0; i < events->size(); ++i) {
            const auto& ev = (*events)[i];
            Napi::Object o = Napi::Object::New(e);
            o.Set("id", (double)ev.id);
            auto tokens = Napi::Int32Array::New(e, ev.tokens.size());
            std::copy(ev.tokens.begin(), ev.tokens.end(), tokens.Data());
            o.Set("tokens", tokens);
            o.Set("ended", ev.ended);
            arr.Set((uint32_t)i, o);
          }
          Napi::Object out = Napi::Object::New(e);
          out.Set("events", arr);
          out.Set("writerWaiting", writerWaiting_);
          return out;
        },
        [this] { runEnded(); });
    task->Queue();
    return task->promise();
  });
}

size_t SamplerWrap::size() {
  if (!f32_ && !f64_) return 0;
  return withState([](auto& s) { return s.batch ? s.batch->size() : 0; });
}

// On the main thread when a run's work is done, before its promise settles.
void SamplerWrap::runEnded() {
  running_ = false;
  writerWaiting_ = owner_->pending_ != nullptr;
  if (closed_) finish();
  else if (size() == 0) releaseHold();
  Unref();
}

void SamplerWrap::releaseHold() {
  if (!holding_) return;
  holding_ = false;
  owner_->releaseReader();  // a waiting writer may start now
}

// Frees the reader and the batch, then gives back the reader slot and the sampler count,
// in that order: the model may be freed by the last of them.
void SamplerWrap::finish() {
  f32_.reset();
  f64_.reset();
  releaseHold();
  owner_->samplerClosed();
  ownerRef_.Reset();
}

// close(): ends every sequence. With a run in flight the run stops at its next step and
// the sampler is freed when it ends; the JavaScript side settles the requests.
Napi::Value SamplerWrap::Close(const Napi::CallbackInfo& info) {
  if (!closed_) {
    closed_ = true;
    if (running_) wake_.store(true);
    else finish();
  }
  return info.Env().Undefined();
}

}  // namespace binding
}  // namespace rnnkit
