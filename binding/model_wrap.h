// NativeModel: the JS class wrapping a Model<float> or Model<double>.
//
// Heavy calls (forward, gradients, trainStep) copy their arguments on the main
// thread and run on the libuv pool through an AsyncWorker, returning a Promise.
// One call at a time per model: a second call while one runs rejects with
// ERR_BUSY instead of racing on the shared workspace; dispose() while busy frees
// the model when the running call ends.
#pragma once
#include <napi.h>

#include <functional>
#include <memory>
#include <vector>

#include "model.h"

namespace rnnkit {
namespace binding {

class ModelWrap : public Napi::ObjectWrap<ModelWrap> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit ModelWrap(const Napi::CallbackInfo& info);
  ~ModelWrap() override;

  // Called by a finishing task on the main thread.
  void release();
  // The NativeModel `v` wraps, or null when it is not one (checked by its type tag).
  static ModelWrap* fromValue(Napi::Env env, const Napi::Value& v);

  // The batched sampler (binding/sampler_wrap.cc) is a reader of the model: it holds a
  // reader slot (readers_) while it has live sequences, and the model's memory stays
  // until every sampler made on it has closed (samplers_).
  friend class SamplerWrap;

 private:
  // Getters on the prototype: check that `this` is a NativeModel (TypeError if not).
  static ModelWrap* checkedThis(const Napi::CallbackInfo& info);
  static Napi::Value GetNumParams(const Napi::CallbackInfo& info);
  static Napi::Value GetDtype(const Napi::CallbackInfo& info);
  static Napi::Value GetForwardPasses(const Napi::CallbackInfo& info);
  Napi::Value NumParams(const Napi::CallbackInfo& info);
  Napi::Value Dtype(const Napi::CallbackInfo& info);
  Napi::Value ParamTable(const Napi::CallbackInfo& info);
  Napi::Value StateTable(const Napi::CallbackInfo& info);
  Napi::Value GetParams(const Napi::CallbackInfo& info);
  Napi::Value SetParams(const Napi::CallbackInfo& info);
  Napi::Value Forward(const Napi::CallbackInfo& info);
  Napi::Value Gradients(const Napi::CallbackInfo& info);
  Napi::Value TrainStep(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value Generate(const Napi::CallbackInfo& info);
  Napi::Value Evaluate(const Napi::CallbackInfo& info);
  Napi::Value BackwardFrom(const Napi::CallbackInfo& info);
  Napi::Value ApplyGradients(const Napi::CallbackInfo& info);
  Napi::Value GetTrainingState(const Napi::CallbackInfo& info);
  Napi::Value SetTrainingState(const Napi::CallbackInfo& info);
  // NativeModel.stepTogether(models, optimizer, loss): one optimizer step over several
  // models' held gradients as one block (Model::step); every model is busy while it runs.
  static Napi::Value StepTogether(const Napi::CallbackInfo& info);
  template <class T>
  static Napi::Value stepTogetherT(Napi::Env env, const std::vector<ModelWrap*>& wraps, const OptimizerSpec& opt,
                                   double loss);
  // The float32 or float64 model (whichever this wraps; null once freed).
  template <class T>
  Model<T>* model();

  template <class T>
  Napi::Value forwardT(const Napi::CallbackInfo& info, Model<T>& m);
  template <class T>
  Napi::Value gradientsT(const Napi::CallbackInfo& info, Model<T>& m);
  template <class T>
  Napi::Value trainStepT(const Napi::CallbackInfo& info, Model<T>& m);
  template <class T>
  Napi::Value backwardFromT(const Napi::CallbackInfo& info, Model<T>& m);
  template <class T>
  Napi::Value applyGradientsT(const Napi::CallbackInfo& info, Model<T>& m);
  template <class T>
  Napi::Value evaluateT(const Napi::CallbackInfo& info, Model<T>& m);
  template <class T>
  Napi::Value generateT(const Napi::CallbackInfo& info, Model<T>& m);
  template <class T>
  Napi::Value getTrainingStateT(Napi::Env env, Model<T>& m);
  template <class T>
  void setTrainingStateT(const Napi::Value& v, Model<T>& m);

  // Rejects with ERR_DISPOSED / ERR_BUSY, or returns an empty value when a call may start
  // (a reader while no writer runs or waits; a writer while nothing runs, or with `wait`
  // while only readers run: it then waits for them).
  Napi::Value refuse(Napi::Env env, bool reader = false, bool wait = false);
  // Throws ERR_DISPOSED / ERR_BUSY: synchronous reads and writes of the weights wait for no call.
  void requireIdle(Napi::Env env) const;
  // fn(model) on the float32 or float64 model, whichever this wraps (the one dispatch on dtype).
  template <class F>
  auto withModel(F&& fn) {
    return f32_ ? fn(*f32_) : fn(*f64_);
  }
  // An async method: refused (a rejected promise) while busy or disposed, else fn(model).
  template <class F>
  Napi::Value async(const Napi::CallbackInfo& info, F&& fn, bool reader = false, bool wait = false) {
    if (Napi::Value r = refuse(info.Env(), reader, wait); !r.IsEmpty()) return r;
    return withModel(fn);
  }
  // Inference (forward in inference mode, evaluate, generate) runs on a reader of the
  // model (Model::readerOf: its own buffers and threads over these weights), so such
  // calls run at the same time; a reader is taken from the idle ones or made, and
  // returned when the call ends. Readers and a writer (any other call) exclude each
  // other: either is refused with ERR_BUSY while the other runs.
  template <class T>
  Napi::Value startReader(Napi::Env env, Model<T>& owner, std::function<void(Model<T>&)> work,
                          std::function<Napi::Value(Napi::Env)> done);
  template <class T>
  std::vector<std::shared_ptr<Model<T>>>& idleReaders();
  void releaseReader();
  void samplerClosed();
  // dispose() was called and nothing reads or writes the model any more: free it.
  void freeIfDone();
  // Marks the model busy, queues the task and returns its promise.
  // Queues `work` on the libuv pool (the model busy until it ends); `done` builds the
  // promise's value on the main thread.
  // With `wait` and readers running, the task waits (pending_) until the last of them ends.
  Napi::Value start(Napi::Env env, std::function<void()> work, std::function<Napi::Value(Napi::Env)> done,
                    bool wait = false);
  void freeModel();
  void adjustExternal(Napi::Env env);

  std::unique_ptr<Model<float>> f32_;
  std::unique_ptr<Model<double>> f64_;
  bool isDouble_ = false;                 // kept after dispose, so dtype stays true
  bool busy_ = false;                     // a writer runs
  int readers_ = 0;                       // readers running (a batched sampler with live sequences counts as one)
  int samplers_ = 0;                      // open batched samplers: they read the weights, so dispose waits for them
  Napi::AsyncWorker* pending_ = nullptr;  // a writer waiting for the readers (busy_ is set for it)
  std::vector<std::shared_ptr<Model<float>>> idle32_;
  std::vector<std::shared_ptr<Model<double>>> idle64_;
  bool disposed_ = false;
  int64_t external_ = 0;  // bytes reported to V8
};

}  // namespace binding
}  // namespace rnnkit
