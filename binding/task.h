// What the binding's classes share: errors with codes, and Task, the AsyncWorker every
// async call runs on (binding/model_wrap.cc, binding/sampler_wrap.cc).
#pragma once
#include <napi.h>

#include <functional>
#include <new>
#include <string>
#include <vector>

#include "errors.h"
#include "model_wrap.h"

namespace rnnkit {
namespace binding {

inline Napi::Error codedError(Napi::Env env, ErrorKind kind, const std::string& msg, const char* code) {
  Napi::Error e = kind == ErrorKind::Type    ? Napi::TypeError::New(env, msg)
                  : kind == ErrorKind::Range ? Napi::RangeError::New(env, msg)
                                             : Napi::Error::New(env, msg);
  if (code) e.Set("code", Napi::String::New(env, code));
  return e;
}

// The stable code of a core error kind; TypeError / RangeError carry none.
inline const char* codeOf(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::NonFinite: return "ERR_NONFINITE";
    case ErrorKind::Native: return "ERR_NATIVE";
    default: return nullptr;
  }
}

// Runs `work` on the libuv pool, then `done` on the main thread to build the result.
// The models it works on (one, or several for stepTogether) stay alive and busy until then.
class Task : public Napi::AsyncWorker {
 public:
  Task(Napi::Env env, std::vector<ModelWrap*> owners, std::function<void()> work,
       std::function<Napi::Value(Napi::Env)> done)
      : Napi::AsyncWorker(env, "rnnkit"),
        deferred_(Napi::Promise::Deferred::New(env)),
        owners_(std::move(owners)),
        work_(std::move(work)),
        done_(std::move(done)) {
    for (ModelWrap* o : owners_) ownerRefs_.push_back(Napi::Persistent(o->Value()));  // keep the models alive
  }
  Task(Napi::Env env, ModelWrap* owner, std::function<void()> work, std::function<Napi::Value(Napi::Env)> done)
      : Task(env, std::vector<ModelWrap*>{owner}, std::move(work), std::move(done)) {}
  // A reader's task: `release` (on the main thread) instead of the owners' release().
  Task(Napi::Env env, ModelWrap* owner, std::function<void()> work, std::function<Napi::Value(Napi::Env)> done,
       std::function<void()> release)
      : Task(env, owner, std::move(work), std::move(done)) {
    release_ = std::move(release);
  }
  Napi::Promise promise() const { return deferred_.Promise(); }

  void Execute() override {
    try {
      work_();
    } catch (const Error& e) {
      kind_ = e.kind;
      SetError(e.what());
    } catch (const std::bad_alloc&) {
      kind_ = ErrorKind::Native;
      SetError("out of memory while running the model");
    } catch (const std::exception& e) {
      kind_ = ErrorKind::Native;
      SetError(e.what());
    }
  }
  void OnOK() override {
    releaseAll();
    Napi::Env env = Env();
    try {
      deferred_.Resolve(done_(env));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  }
  void OnError(const Napi::Error& e) override {
    releaseAll();
    deferred_.Reject(codedError(Env(), kind_, e.Message(), codeOf(kind_)).Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::vector<ModelWrap*> owners_;
  std::vector<Napi::ObjectReference> ownerRefs_;
  std::function<void()> work_;
  std::function<Napi::Value(Napi::Env)> done_;
  std::function<void()> release_;
  ErrorKind kind_ = ErrorKind::Native;

  void releaseAll() {
    if (release_) return release_();
    for (ModelWrap* o : owners_) o->release();
  }
};

// Runs a spec-level error from the core as a JS RangeError on the main thread.
template <class F>
inline auto guard(Napi::Env env, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const Error& e) {
    throw codedError(env, e.kind, e.what(), codeOf(e.kind));
  } catch (const std::bad_alloc&) {
    throw codedError(env, ErrorKind::Range, "out of memory: the model is too large to allocate", "ERR_NATIVE");
  }
}

}  // namespace binding
}  // namespace rnnkit
