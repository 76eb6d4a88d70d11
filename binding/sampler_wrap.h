// NativeSampler: the batched sampler's native half (see sampler_wrap.cc).
#pragma once
#include <napi.h>

#include <atomic>
#include <memory>

#include "model_wrap.h"

namespace rnnkit {
namespace binding {

// new NativeSampler(nativeModel): TypeError for anything else, ERR_DISPOSED for a disposed
// model, RangeError for a model that is not a language model.
class SamplerWrap : public Napi::ObjectWrap<SamplerWrap> {
 public:
  explicit SamplerWrap(const Napi::CallbackInfo& info);
  ~SamplerWrap() override;
  // The NativeSampler class (binding/addon.cc exports it).
  static Napi::Function Init(Napi::Env env);

 private:
  template <class T>
  struct State;  // the reader and its SamplingBatch

  Napi::Value Add(const Napi::CallbackInfo& info);
  Napi::Value Cancel(const Napi::CallbackInfo& info);
  Napi::Value Run(const Napi::CallbackInfo& info);
  Napi::Value Wake(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  // ERR_CLOSED after close(), ERR_BUSY while a run is in flight.
  void requireOpen(Napi::Env env, const char* what) const;
  void setState(std::unique_ptr<State<float>> s);
  void setState(std::unique_ptr<State<double>> s);
  template <class F>
  auto withState(F&& fn) {
    return f32_ ? fn(*f32_) : fn(*f64_);
  }
  size_t size();
  void runEnded();
  void releaseHold();
  void finish();

  ModelWrap* owner_ = nullptr;
  Napi::ObjectReference ownerRef_;
  std::unique_ptr<State<float>> f32_;
  std::unique_ptr<State<double>> f64_;
  bool running_ = false;  // a run is in flight (the batch is the pool thread's)
  bool holding_ = false;  // the sampler holds one of the model's reader slots
  bool closed_ = false;
  bool writerWaiting_ = false;  // at the end of the last run
  std::atomic<bool> wake_{false};
};

}  // namespace binding
}  // namespace rnnkit
