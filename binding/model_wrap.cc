#include "model_wrap.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <new>
#include <optional>
#include <type_traits>

#include "args.h"
#include "errors.h"
#include "task.h"

namespace rnnkit {
namespace binding {

namespace {

// info[i] as a boolean, `fallback` when absent or undefined.
bool optionalBool(const Napi::CallbackInfo& info, size_t i, const char* name, bool fallback) {
  if (info.Length() <= i || info[i].IsUndefined()) return fallback;
  if (!info[i].IsBoolean()) throwType(info.Env(), "a boolean", name);
  return info[i].As<Napi::Boolean>().Value();
}

template <class T>
Napi::Array statesToJs(Napi::Env env, const std::vector<std::vector<T>>& h, const std::vector<std::vector<T>>& c) {
  Napi::Array out = Napi::Array::New(env, h.size());
  for (size_t k = 0; k < h.size(); ++k) {
    Napi::Object s = Napi::Object::New(env);
    s.Set("h", toTypedArray<T>(env, h[k].data(), h[k].size()));
    if (k < c.size() && !c[k].empty()) s.Set("c", toTypedArray<T>(env, c[k].data(), c[k].size()));
    out.Set((uint32_t)k, s);
  }
  return out;
}

}  // namespace

static void throwIfDisposed(Napi::Env env, bool disposed);

// Marks objects made by this constructor, so a getter called on a foreign
// `this` (e.g. through Object.getOwnPropertyDescriptor) is told apart from a
// NativeModel before anything is unwrapped. A constant, not mutable state.
static const napi_type_tag kNativeModelTag = {0x726e6e6b69744e4dULL, 0x6f64656c54616731ULL};

ModelWrap* ModelWrap::fromValue(Napi::Env env, const Napi::Value& v) {
  bool tagged = false;
  if (!v.IsObject() || napi_check_object_type_tag(env, v, &kNativeModelTag, &tagged) != napi_ok || !tagged)
    return nullptr;
  return Unwrap(v.As<Napi::Object>());
}

ModelWrap* ModelWrap::checkedThis(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Value self = info.This();
  bool tagged = false;
  if (self.IsObject() && napi_check_object_type_tag(env, self, &kNativeModelTag, &tagged) != napi_ok) tagged = false;
  if (!tagged) throw Napi::TypeError::New(env, "Illegal invocation: expected a NativeModel for this");
  return Unwrap(self.As<Napi::Object>());
}

Napi::Value ModelWrap::GetNumParams(const Napi::CallbackInfo& info) { return checkedThis(info)->NumParams(info); }
Napi::Value ModelWrap::GetDtype(const Napi::CallbackInfo& info) { return checkedThis(info)->Dtype(info); }
Napi::Value ModelWrap::GetForwardPasses(const Napi::CallbackInfo& info) {
  ModelWrap* w = checkedThis(info);
  throwIfDisposed(info.Env(), w->disposed_);
  return Napi::Number::New(info.Env(), (double)w->withModel([](auto& m) { return m.forwardPasses(); }));
}

Napi::Function ModelWrap::Init(Napi::Env env) {
  // Getters are defined on the prototype by hand: node-addon-api's
  // InstanceAccessor unwraps `this` first and throws a plain Error for a
  // foreign receiver, where methods (V8 signatures) throw a TypeError.
  Napi::Function ctor = DefineClass(env, "NativeModel",
                                    {
                                        InstanceMethod<&ModelWrap::ParamTable>("paramTable"),
                                        InstanceMethod<&ModelWrap::StateTable>("stateTable"),
                                        InstanceMethod<&ModelWrap::GetParams>("getParams"),
                                        InstanceMethod<&ModelWrap::SetParams>("setParams"),
                                        InstanceMethod<&ModelWrap::Forward>("forward"),
                                        InstanceMethod<&ModelWrap::Gradients>("gradients"),
                                        InstanceMethod<&ModelWrap::TrainStep>("trainStep"),
                                        InstanceMethod<&ModelWrap::Dispose>("dispose"),
                                        InstanceMethod<&ModelWrap::Generate>("generate"),
                                        InstanceMethod<&ModelWrap::Evaluate>("evaluate"),
                                        InstanceMethod<&ModelWrap::BackwardFrom>("backwardFrom"),
                                        InstanceMethod<&ModelWrap::ApplyGradients>("applyGradients"),
                                        InstanceMethod<&ModelWrap::GetTrainingState>("getTrainingState"),
                                        InstanceMethod<&ModelWrap::SetTrainingState>("setTrainingState"),
                                        StaticMethod<&ModelWrap::StepTogether>("stepTogether"),
                                    });
  Napi::Object proto = ctor.Get("prototype").As<Napi::Object>();
  proto.DefineProperties({
      Napi::PropertyDescriptor::Accessor<&ModelWrap::GetNumParams>("numParams", napi_configurable),
      Napi::PropertyDescriptor::Accessor<&ModelWrap::GetDtype>("dtype", napi_configurable),
      Napi::PropertyDescriptor::Accessor<&ModelWrap::GetForwardPasses>("forwardPasses", napi_configurable),
  });
  return ctor;
}

ModelWrap::ModelWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ModelWrap>(info) {
  Napi::Env env = info.Env();
  if (!info.IsConstructCall()) throw Napi::TypeError::New(env, "NativeModel must be called with new");
  if (napi_type_tag_object(env, info.This(), &kNativeModelTag) != napi_ok)
    throw Napi::TypeError::New(env, "NativeModel: could not tag the new object");
  if (info.Length() < 1) throwType(env, "a model spec object", "spec");
  bool isDouble = false;
  ModelSpec spec = parseSpec(info[0], isDouble);
  isDouble_ = isDouble;
  guard(env, [&] {
    if (isDouble) f64_ = std::make_unique<Model<double>>(spec);
    else f32_ = std::make_unique<Model<float>>(spec);
    return 0;
  });
  adjustExternal(env);
}

ModelWrap::~ModelWrap() = default;

void ModelWrap::adjustExternal(Napi::Env env) {
  // Tell V8 about native memory so the garbage collector weighs it: at least
  // the parameters, gradients and optimizer moments (4 copies of the block, from
  // construction on), and everything the model holds once calls have grown its
  // buffers (activations for the largest (T, B) seen). Updated after every call,
  // so a dropped model that trained on big batches is collected as soon as V8
  // would collect that much JavaScript memory.
  const size_t block = f32_ ? f32_->numParams() * sizeof(float) : f64_ ? f64_->numParams() * sizeof(double) : 0;
  size_t held = f32_ ? f32_->memoryBytes() : f64_ ? f64_->memoryBytes() : 0;
  for (const auto& r : idle32_) held += r->memoryBytes();  // the readers' buffers
  for (const auto& r : idle64_) held += r->memoryBytes();
  const int64_t want = (int64_t)std::max(block * 4, held);
  if (want != external_) {
    Napi::MemoryManagement::AdjustExternalMemory(env, want - external_);
    external_ = want;
  }
}

void ModelWrap::freeModel() {
  idle32_.clear();  // readers point at the model's weights: freed first
  idle64_.clear();
  f32_.reset();
  f64_.reset();
  adjustExternal(Env());
}

template <>
std::vector<std::shared_ptr<Model<float>>>& ModelWrap::idleReaders<float>() {
  return idle32_;
}
template <>
std::vector<std::shared_ptr<Model<double>>>& ModelWrap::idleReaders<double>() {
  return idle64_;
}

template <class T>
Napi::Value ModelWrap::startReader(Napi::Env env, Model<T>& owner, std::function<void(Model<T>&)> work,
                                   std::function<Napi::Value(Napi::Env)> done) {
  auto& idle = idleReaders<T>();
  std::shared_ptr<Model<T>> reader;
  if (idle.empty()) {
    reader = Model<T>::readerOf(owner);
  } else {
    reader = std::move(idle.back());
    idle.pop_back();
  }
  auto* task = new Task(
      env, this, [reader, work] { work(*reader); }, std::move(done),
      [this, reader] {
        idleReaders<T>().push_back(reader);
        releaseReader();
      });
  ++readers_;  // until the task's OnOK / OnError calls releaseReader()
  task->Queue();
  return task->promise();
}

void ModelWrap::releaseReader() {
  --readers_;
  if (readers_ == 0 && pending_) {  // the waiting writer starts now
    Napi::AsyncWorker* task = pending_;
    pending_ = nullptr;
    task->Queue();
    return;
  }
  freeIfDone();
}

void ModelWrap::samplerClosed() {
  --samplers_;
  freeIfDone();
}

void ModelWrap::freeIfDone() {
  if (disposed_ && readers_ == 0 && samplers_ == 0 && !busy_) freeModel();
  else adjustExternal(Env());
}

void ModelWrap::release() {
  busy_ = false;
  freeIfDone();
}

Napi::Value ModelWrap::refuse(Napi::Env env, bool reader, bool wait) {
  const char* code = disposed_ ? "ERR_DISPOSED" : busy_ || (!reader && !wait && readers_ > 0) ? "ERR_BUSY" : nullptr;
  if (!code) return Napi::Value();
  const std::string msg = disposed_ ? "the model has been disposed"
                                    : "the model is busy with another call; await it before starting the next";
  auto d = Napi::Promise::Deferred::New(env);
  d.Reject(codedError(env, ErrorKind::Native, msg, code).Value());
  return d.Promise();
}

Napi::Value ModelWrap::start(Napi::Env env, std::function<void()> work, std::function<Napi::Value(Napi::Env)> done,
                             bool wait) {
  auto* task = new Task(env, this, std::move(work), std::move(done));
  busy_ = true;  // until the task's OnOK / OnError calls release(); new calls are refused meanwhile
  if (wait && readers_ > 0) pending_ = task;  // queued when the last reader ends (releaseReader)
  else task->Queue();
  return task->promise();
}

static void throwIfDisposed(Napi::Env env, bool disposed) {
  if (disposed) throw codedError(env, ErrorKind::Native, "the model has been disposed", "ERR_DISPOSED");
}

void ModelWrap::requireIdle(Napi::Env env) const {
  throwIfDisposed(env, disposed_);
  if (busy_ || readers_ > 0)
    throw codedError(env, ErrorKind::Native, "the model is busy with another call; await it first", "ERR_BUSY");
}

Napi::Value ModelWrap::NumParams(const Napi::CallbackInfo& info) {
  throwIfDisposed(info.Env(), disposed_);
  return Napi::Number::New(info.Env(), (double)withModel([](auto& m) { return m.numParams(); }));
}

Napi::Value ModelWrap::Dtype(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), isDouble_ ? "float64" : "float32");
}

Napi::Value ModelWrap::ParamTable(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  throwIfDisposed(env, disposed_);
  const std::vector<ParamInfo>& table =
      withModel([](auto& m) -> const std::vector<ParamInfo>& { return m.paramTable(); });
  Napi::Array out = Napi::Array::New(env, table.size());
  for (size_t i = 0; i < table.size(); ++i) {
    const ParamInfo& p = table[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("layer", p.layer);
    o.Set("name", p.name);
    Napi::Array shape = Napi::Array::New(env, p.shape.size());
    for (size_t k = 0; k < p.shape.size(); ++k) shape.Set((uint32_t)k, p.shape[k]);
    o.Set("shape", shape);
    o.Set("offset", (double)p.offset);
    o.Set("size", (double)p.size);
    out.Set((uint32_t)i, o);
  }
  return out;
}

Napi::Value ModelWrap::StateTable(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  throwIfDisposed(env, disposed_);
  const std::vector<StateInfo> table = withModel([](auto& m) { return m.stateTable(); });
  Napi::Array out = Napi::Array::New(env, table.size());
  for (size_t i = 0; i < table.size(); ++i) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("layer", table[i].layer);
    o.Set("dirs", table[i].dirs);
    o.Set("units", table[i].units);
    o.Set("hasCell", table[i].hasCell);
    out.Set((uint32_t)i, o);
  }
  return out;
}

Napi::Value ModelWrap::GetParams(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  requireIdle(env);  // a running trainStep may be half way through the update
  return withModel([&](auto& m) { return toTypedArray(env, m.params(), m.numParams()); });
}

Napi::Value ModelWrap::SetParams(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  requireIdle(env);
  if (info.Length() < 2 || !info[0].IsNumber()) throwType(env, "a number", "offset");
  const double off = info[0].As<Napi::Number>().DoubleValue();
  const size_t total = withModel([](auto& m) { return m.numParams(); });
  if (!(off >= 0) || off != (double)(size_t)off || off > (double)total)
    throwRangeJs(env, "an integer in [0, " + std::to_string(total) + "]", "offset", describeNumber(off));
  withModel([&](auto& m) {
    using T = std::remove_const_t<std::remove_reference_t<decltype(*m.params())>>;
    std::vector<T> data;
    readFloatArray<T>(info[1], "data", SIZE_MAX, data);
    if ((size_t)off + data.size() > total)
      throwRangeJs(env, "at most " + std::to_string(total - (size_t)off) + " elements", "data",
                   "length " + std::to_string(data.size()));
    for (size_t i = 0; i < data.size(); ++i)
      if (!std::isfinite(data[i]))
        throwRangeJs(env, "finite values", "data", std::to_string(data[i]) + " at data[" + std::to_string(i) + "]");
    std::copy(data.begin(), data.end(), m.mutableParams() + (size_t)off);
    return 0;
  });
  return env.Undefined();
}

// The gradient parts beside the weights': the initial states', the condition's, the memory's.
template <class T>
static void setInputGrads(Napi::Env env, Napi::Object o, const GradientResult<T>& res) {
  o.Set("stateGrads", statesToJs<T>(env, res.dh0, res.dc0));
  if (!res.dCondition.empty()) o.Set("dCondition", toTypedArray<T>(env, res.dCondition.data(), res.dCondition.size()));
  if (!res.dMemory.empty()) o.Set("dMemory", toTypedArray<T>(env, res.dMemory.data(), res.dMemory.size()));
}

template <class T>
Napi::Value ModelWrap::forwardT(const Napi::CallbackInfo& info, Model<T>& m) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[1].IsBoolean()) throwType(env, "a boolean", "training");
  auto batch = std::make_shared<OwnedBatch<T>>(parseBatch<T>(info[0], m));
  const bool training = info[1].As<Napi::Boolean>().Value();
  auto res = std::make_shared<ForwardResult<T>>();
  res->wantOutput = optionalBool(info, 2, "wantOutput", true);
  res->wantAttention = res->wantOutput;
  Model<T>* mp = &m;
  auto done = [=](Napi::Env e) -> Napi::Value {
    Napi::Object o = Napi::Object::New(e);
    o.Set("output", toTypedArray<T>(e, res->output.data(), res->output.size()));
    Napi::Array shape = Napi::Array::New(e, res->shape.size());
    for (size_t k = 0; k < res->shape.size(); ++k) shape.Set((uint32_t)k, res->shape[k]);
    o.Set("outputShape", shape);
    o.Set("finalStates", statesToJs<T>(e, res->finalH, res->finalC));
    if (!res->attention.empty()) o.Set("attention", toTypedArray<T>(e, res->attention.data(), res->attention.size()));
    return o;
  };
  // inference on a reader; a training forward stays on the model (backwardFrom reuses its activations)
  if (!training)
    return startReader<T>(
        env, m, [=](Model<T>& r) { r.forward(batch->view(), false, *res); }, done);
  return start(
      env, [=] { mp->forward(batch->view(), training, *res); }, done);
}

template <class T>
Napi::Value ModelWrap::gradientsT(const Napi::CallbackInfo& info, Model<T>& m) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[2].IsBoolean()) throwType(env, "a boolean", "training");
  auto batch = std::make_shared<OwnedBatch<T>>(parseBatch<T>(info[0], m));
  auto targets = std::make_shared<OwnedTargets<T>>(parseTargets<T>(info[1], m, *batch));
  const bool training = info[2].As<Napi::Boolean>().Value();
  auto res = std::make_shared<GradientResult<T>>();
  res->wantGrads = optionalBool(info, 3, "wantGrads", true);
  Model<T>* mp = &m;
  return start(
      env, [=] { mp->gradients(batch->view(), targets->view(), training, *res); },
      [=](Napi::Env e) -> Napi::Value {
        Napi::Object o = Napi::Object::New(e);
        o.Set("loss", res->loss);
        o.Set("grads", toTypedArray<T>(e, res->grads.data(), res->grads.size()));
        setInputGrads<T>(e, o, *res);
        return o;
      });
}

template <class T>
Napi::Value ModelWrap::trainStepT(const Napi::CallbackInfo& info, Model<T>& m) {
  Napi::Env env = info.Env();
  if (info.Length() < 3) throwType(env, "an object", "optimizer");
  auto batch = std::make_shared<OwnedBatch<T>>(parseBatch<T>(info[0], m));
  auto targets = std::make_shared<OwnedTargets<T>>(parseTargets<T>(info[1], m, *batch));
  const OptimizerSpec opt = parseOptimizer(info[2]);
  if (info.Length() > 3 && !info[3].IsBoolean() && !info[3].IsUndefined()) throwType(env, "a boolean", "returnState");
  const bool returnState = info.Length() > 3 && info[3].IsBoolean() && info[3].As<Napi::Boolean>().Value();
  const bool wait = optionalBool(info, 4, "wait", false);
  auto out = std::make_shared<std::pair<double, double>>();
  auto states = std::make_shared<ForwardResult<T>>();
  Model<T>* mp = &m;
  return start(
      env,
      [=] {
        out->first =
            mp->trainStep(batch->view(), targets->view(), opt, out->second, returnState ? states.get() : nullptr);
      },
      [=](Napi::Env e) -> Napi::Value {
        Napi::Object o = Napi::Object::New(e);
        o.Set("loss", out->first);
        o.Set("gradNorm", out->second);
        if (returnState) o.Set("finalStates", statesToJs<T>(e, states->finalH, states->finalC));
        return o;
      },
      wait);
}

Napi::Value ModelWrap::Forward(const Napi::CallbackInfo& info) {
  const bool inference = info.Length() > 1 && info[1].IsBoolean() && !info[1].As<Napi::Boolean>().Value();
  return async(
      info, [&](auto& m) { return forwardT(info, m); }, inference);
}

Napi::Value ModelWrap::Gradients(const Napi::CallbackInfo& info) {
  return async(info, [&](auto& m) { return gradientsT(info, m); });
}

Napi::Value ModelWrap::TrainStep(const Napi::CallbackInfo& info) {
  // wait (argument 4): started once the readers running now have ended, instead of ERR_BUSY
  const bool wait = info.Length() > 4 && info[4].IsBoolean() && info[4].As<Napi::Boolean>().Value();
  return async(
      info, [&](auto& m) { return trainStepT(info, m); }, false, wait);
}

template <class T>
Napi::Value ModelWrap::backwardFromT(const Napi::CallbackInfo& info, Model<T>& m) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !info[1].IsBoolean())
    throwType(env, "(batch, training, outputGrad, finalStateGrads)", "arguments");
  auto batch = std::make_shared<OwnedBatch<T>>(parseBatch<T>(info[0], m));
  const bool training = info[1].As<Napi::Boolean>().Value();
  auto dOut = std::make_shared<std::vector<T>>();
  if (!info[2].IsNull() && !info[2].IsUndefined()) {
    const size_t positions = m.outputIsSequence() ? (size_t)batch->B * batch->T_ : (size_t)batch->B;
    readFloatArray<T>(info[2], "outputGrad", positions * m.outputCols(), *dOut);
  }
  // Final-state gradients: same shapes as initial states.
  auto finals = std::make_shared<OwnedStates<T>>();
  if (!info[3].IsNull() && !info[3].IsUndefined()) *finals = parseStates<T>(info[3], m, batch->B);
  auto res = std::make_shared<GradientResult<T>>();
  res->wantGrads = optionalBool(info, 4, "wantGrads", true);
  Model<T>* mp = &m;
  return start(
      env,
      [=] {
        mp->backwardFrom(batch->view(), training, dOut->empty() ? nullptr : dOut->data(), finals->hViews(),
                         finals->cViews(), *res);
      },
      [=](Napi::Env e) -> Napi::Value {
        Napi::Object o = Napi::Object::New(e);
        o.Set("grads", toTypedArray<T>(e, res->grads.data(), res->grads.size()));
        setInputGrads<T>(e, o, *res);
        return o;
      });
}

Napi::Value ModelWrap::BackwardFrom(const Napi::CallbackInfo& info) {
  return async(info, [&](auto& m) { return backwardFromT(info, m); });
}

template <class T>
Napi::Value ModelWrap::applyGradientsT(const Napi::CallbackInfo& info, Model<T>& m) {
  Napi::Env env = info.Env();
  if (info.Length() < 2) throwType(env, "(grads, optimizer)", "arguments");
  auto grads = std::make_shared<std::vector<T>>();
  readFloatArray<T>(info[0], "grads", m.numParams(), *grads);
  const OptimizerSpec opt = parseOptimizer(info[1]);
  auto norm = std::make_shared<double>(0);
  Model<T>* mp = &m;
  return start(
      env, [=] { *norm = mp->applyGradients(grads->data(), opt); },
      [=](Napi::Env e) -> Napi::Value {
        Napi::Object o = Napi::Object::New(e);
        o.Set("gradNorm", *norm);
        return o;
      });
}

Napi::Value ModelWrap::ApplyGradients(const Napi::CallbackInfo& info) {
  return async(info, [&](auto& m) { return applyGradientsT(info, m); });
}

template <class T>
Napi::Value ModelWrap::evaluateT(const Napi::CallbackInfo& info, Model<T>& m) {
  Napi::Env env = info.Env();
  if (info.Length() < 2) throwType(env, "an object", "targets");
  auto batch = std::make_shared<OwnedBatch<T>>(parseBatch<T>(info[0], m));
  auto targets = std::make_shared<OwnedTargets<T>>(parseTargets<T>(info[1], m, *batch));
  auto res = std::make_shared<typename Model<T>::Evaluation>();
  return startReader<T>(
      env, m, [=](Model<T>& r) { *res = r.evaluate(batch->view(), targets->view()); },
      [=](Napi::Env e) -> Napi::Value {
        Napi::Object o = Napi::Object::New(e);
        o.Set("lossSum", res->lossSum);
        o.Set("count", (double)res->count);
        o.Set("correct", (double)res->correct);
        o.Set("finalStates", statesToJs<T>(e, res->finalH, res->finalC));
        return o;
      });
}

Napi::Value ModelWrap::Evaluate(const Napi::CallbackInfo& info) {
  return async(
      info, [&](auto& m) { return evaluateT(info, m); }, true);
}

template <class T>
Napi::Value ModelWrap::generateT(const Napi::CallbackInfo& info, Model<T>& m) {
  Napi::Env env = info.Env();
  GenerateSpec g = parseGenerate(info[0]);
  // Optional initial states (the same parser as a batch's, for n rows) and conditions.
  auto states = std::make_shared<OwnedStates<T>>();
  if (info.Length() > 1 && !info[1].IsUndefined() && !info[1].IsNull()) *states = parseStates<T>(info[1], m, g.n);
  auto condition = std::make_shared<std::vector<T>>();
  if (info.Length() > 2 && !info[2].IsUndefined() && !info[2].IsNull())
    readFloatArray<T>(info[2], "condition", (size_t)g.n * std::max(m.spec().conditionFeatures, 1), *condition);
  auto out = std::make_shared<std::vector<std::vector<int32_t>>>();
  return startReader<T>(
      env, m,
      [=](Model<T>& r) {
        r.generate(g, states->hViews(), states->cViews(), condition->empty() ? nullptr : condition->data(), *out);
      },
      [=](Napi::Env e) -> Napi::Value {
        Napi::Array arr = Napi::Array::New(e, out->size());
        for (size_t i = 0; i < out->size(); ++i) {
          auto a = Napi::Int32Array::New(e, (*out)[i].size());
          std::copy((*out)[i].begin(), (*out)[i].end(), a.Data());
          arr.Set((uint32_t)i, a);
        }
        return arr;
      });
}

Napi::Value ModelWrap::Generate(const Napi::CallbackInfo& info) {
  return async(
      info, [&](auto& m) { return generateT(info, m); }, true);
}

// OptimizerSpec::Type by name, in enum order (getTrainingState writes, setTrainingState reads them).
static const char* const kOptimizerNames[] = {"sgd", "adam", "adamw"};

static std::optional<OptimizerSpec::Type> optimizerType(const std::string& name) {
  for (int t = OptimizerSpec::Sgd; t <= OptimizerSpec::AdamW; ++t)
    if (name == kOptimizerNames[t]) return (OptimizerSpec::Type)t;
  return std::nullopt;
}

template <class T>
Napi::Value ModelWrap::getTrainingStateT(Napi::Env env, Model<T>& m) {
  const OptimizerState<T>& s = m.optimizerState();
  Napi::Object o = Napi::Object::New(env);
  o.Set("step", (double)m.step());
  Napi::Object opt = Napi::Object::New(env);
  opt.Set("type", s.type ? Napi::String::New(env, kOptimizerNames[*s.type]) : env.Null());
  opt.Set("steps", (double)s.steps);
  opt.Set("m", toTypedArray<T>(env, s.m.data(), s.m.size()));
  opt.Set("v", toTypedArray<T>(env, s.v.data(), s.v.size()));
  o.Set("optimizer", opt);
  return o;
}

template <class T>
void ModelWrap::setTrainingStateT(const Napi::Value& v, Model<T>& m) {
  Napi::Env env = v.Env();
  if (!v.IsObject()) throwType(env, "an object", "state");
  Napi::Object o = v.As<Napi::Object>();
  Napi::Value stepV = o.Get("step");
  if (!stepV.IsNumber()) throwType(env, "a number", "state.step");
  const double step = stepV.As<Napi::Number>().DoubleValue();
  if (!(step >= 0) || step != std::floor(step) || step > 9007199254740991.0)
    throwRangeJs(env, "Expected a non-negative integer for state.step");
  Napi::Value ov = o.Get("optimizer");
  if (!ov.IsObject()) throwType(env, "an object", "state.optimizer");
  Napi::Object opt = ov.As<Napi::Object>();
  OptimizerState<T> s;
  Napi::Value type = opt.Get("type");
  if (!type.IsNull()) {
    if (!type.IsString()) throwType(env, "a string or null", "state.optimizer.type");
    const std::string name = type.As<Napi::String>().Utf8Value();
    const std::optional<OptimizerSpec::Type> t = optimizerType(name);
    if (!t) throwRangeJs(env, "'sgd' | 'adam' | 'adamw' | null", "state.optimizer.type", "string '" + name + "'");
    s.type = *t;
    Napi::Value steps = opt.Get("steps");
    if (!steps.IsNumber()) throwType(env, "a number", "state.optimizer.steps");
    const double st = steps.As<Napi::Number>().DoubleValue();
    if (!(st >= 0) || st != std::floor(st) || st > 9007199254740991.0)
      throwRangeJs(env, "Expected a non-negative integer below 2^53 for state.optimizer.steps");
    s.steps = (int64_t)st;
    readFloatArray<T>(opt.Get("m"), "state.optimizer.m", m.numParams(), s.m);
    readFloatArray<T>(opt.Get("v"), "state.optimizer.v", *t == OptimizerSpec::Sgd ? 0 : m.numParams(), s.v);
  }
  m.setOptimizerState(std::move(s));
  m.setStep((uint64_t)step);
}

Napi::Value ModelWrap::GetTrainingState(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  requireIdle(env);
  return withModel([&](auto& m) { return getTrainingStateT(env, m); });
}

Napi::Value ModelWrap::SetTrainingState(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  requireIdle(env);
  if (info.Length() < 1) throwType(env, "an object", "state");
  withModel([&](auto& m) {
    setTrainingStateT(info[0], m);
    return 0;
  });
  return env.Undefined();
}

template <class T>
Model<T>* ModelWrap::model() {
  if constexpr (std::is_same_v<T, float>) return f32_.get();
  else return f64_.get();
}

template <class T>
Napi::Value ModelWrap::stepTogetherT(Napi::Env env, const std::vector<ModelWrap*>& wraps, const OptimizerSpec& opt,
                                     double loss) {
  std::vector<Model<T>*> models;
  for (ModelWrap* w : wraps) {
    if (!w->model<T>()->holdsGradient())
      throwRangeJs(env, "models that hold a gradient (from gradients or backwardFrom)", "models",
                   "one without a fresh gradient");
    models.push_back(w->model<T>());
  }
  auto norm = std::make_shared<double>(0);
  auto* task = new Task(
      env, wraps, [=] { *norm = Model<T>::step(models, opt, loss); },
      [=](Napi::Env e) -> Napi::Value {
        Napi::Object o = Napi::Object::New(e);
        o.Set("gradNorm", *norm);
        return o;
      });
  for (ModelWrap* w : wraps) w->busy_ = true;  // until the task's OnOK / OnError releases each
  task->Queue();
  return task->promise();
}

Napi::Value ModelWrap::StepTogether(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsArray()) throwType(env, "(models, optimizer, loss)", "arguments");
  Napi::Array arr = info[0].As<Napi::Array>();
  if (arr.Length() < 1) throwRangeJs(env, "at least one model", "models", "array of length 0");
  std::vector<ModelWrap*> wraps;
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    ModelWrap* w = fromValue(env, arr.Get(i));
    if (!w) throwType(env, "a NativeModel", "models[" + std::to_string(i) + "]");
    for (ModelWrap* o : wraps)
      if (o == w) throwRangeJs(env, "distinct models", "models", "the same model twice");
    if (!wraps.empty() && w->isDouble_ != wraps[0]->isDouble_)
      throwRangeJs(env, "models of one dtype", "models", "float32 and float64 models");
    if (Napi::Value r = w->refuse(env); !r.IsEmpty()) return r;
    wraps.push_back(w);
  }
  const OptimizerSpec opt = parseOptimizer(info[1]);
  if (!info[2].IsNumber()) throwType(env, "a number", "loss");
  const double loss = info[2].As<Napi::Number>().DoubleValue();
  return wraps[0]->isDouble_ ? stepTogetherT<double>(env, wraps, opt, loss)
                             : stepTogetherT<float>(env, wraps, opt, loss);
}

Napi::Value ModelWrap::Dispose(const Napi::CallbackInfo& info) {
  disposed_ = true;
  freeIfDone();
  return info.Env().Undefined();
}

}  // namespace binding
}  // namespace rnnkit
