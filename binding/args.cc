#include "args.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>

#include "errors.h"
#include "limits.h"

namespace rnnkit {
namespace binding {

void throwType(Napi::Env env, const std::string& what, const std::string& name) {
  throw Napi::TypeError::New(env, "Expected " + what + " for " + name);
}
void throwRangeJs(Napi::Env env, const std::string& msg) { throw Napi::RangeError::New(env, msg); }
void throwRangeJs(Napi::Env env, const std::string& what, const std::string& name, const std::string& received) {
  throw Napi::RangeError::New(env, "Expected " + what + " for " + name + " but received " + received);
}

// A number as lib/errors.ts describe() renders it: `number 1`, `number 0.1` (the
// shortest decimal that reads back as the same double, like JavaScript's String()).
std::string describeNumber(double d) {
  char buf[40];
  for (int p = 1; p <= 17; ++p) {
    std::snprintf(buf, sizeof buf, "%.*g", p, d);
    if (std::strtod(buf, nullptr) == d) break;
  }
  return std::string("number ") + buf;
}

// The same bounds text as lib/validate.ts number(): `a finite number in [0, 1)`.
static std::string bounds(double lo, double hi, bool hiOpen) {
  auto fmt = [](double x) { return describeNumber(x).substr(7); };
  return "a finite number in [" + fmt(lo) + ", " + fmt(hi) + (hiOpen ? ")" : "]");
}

static Napi::Object asObject(const Napi::Value& v, const std::string& name) {
  if (!v.IsObject() || v.IsArray()) throwType(v.Env(), "an object", name);
  return v.As<Napi::Object>();
}

static std::string getString(const Napi::Object& o, const char* key, const std::string& ctx) {
  Napi::Value v = o.Get(key);
  if (!v.IsString()) throwType(o.Env(), "a string", ctx + "." + key);
  return v.As<Napi::String>().Utf8Value();
}

static double getNumber(const Napi::Object& o, const char* key, const std::string& ctx) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) throwType(o.Env(), "a number", ctx + "." + key);
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d)) throwRangeJs(o.Env(), "Expected a finite number for " + ctx + "." + key);
  return d;
}

static int getInt(const Napi::Object& o, const char* key, const std::string& ctx, double lo, double hi) {
  const double d = getNumber(o, key, ctx);
  if (d != std::floor(d) || d < lo || d > hi)
    throwRangeJs(o.Env(),
                 "an integer in [" + std::to_string((long long)lo) + ", " + std::to_string((long long)hi) + "]",
                 ctx + "." + key, describeNumber(d));
  return (int)d;
}

// A number in [0, 1): momentum, beta1, beta2, a dropout rate (limits::kUnitOpenMax).
static double getUnitOpen(const Napi::Object& o, const char* key, const std::string& ctx) {
  const double d = getNumber(o, key, ctx);
  if (!(d >= 0 && d < limits::kUnitOpenMax))
    throwRangeJs(o.Env(), bounds(0, limits::kUnitOpenMax, true), ctx + "." + key, describeNumber(d));
  return d;
}

static bool getBool(const Napi::Object& o, const char* key, const std::string& ctx) {
  Napi::Value v = o.Get(key);
  if (!v.IsBoolean()) throwType(o.Env(), "a boolean", ctx + "." + key);
  return v.As<Napi::Boolean>().Value();
}

template <class E>
static E getEnum(const Napi::Object& o, const char* key, const std::string& ctx,
                 std::initializer_list<std::pair<const char*, E>> options) {
  const std::string s = getString(o, key, ctx);
  std::string names;
  for (auto& p : options) {
    if (s == p.first) return p.second;
    names += (names.empty() ? "" : " | ") + std::string("'") + p.first + "'";
  }
  throwRangeJs(o.Env(), "Expected " + names + " for " + ctx + "." + key + " but received '" + s + "'");
}

ModelSpec parseSpec(const Napi::Value& v, bool& isDouble) {
  Napi::Env env = v.Env();
  Napi::Object o = asObject(v, "spec");
  ModelSpec s;
  s.tokens = getEnum<bool>(o, "inputKind", "spec", {{"tokens", true}, {"features", false}});
  s.inputSize = getInt(o, "inputSize", "spec", 1, limits::kMaxInputSize);
  s.loss = getEnum<LossType>(o, "loss", "spec",
                             {{"crossEntropy", LossType::CrossEntropy},
                              {"binaryCrossEntropy", LossType::BinaryCrossEntropy},
                              {"mse", LossType::Mse}});
  s.reduction = getEnum<Reduction>(o, "reduction", "spec", {{"mean", Reduction::Mean}, {"sum", Reduction::Sum}});
  s.seed = (uint32_t)getInt(o, "seed", "spec", 0, 4294967295.0);
  isDouble = getEnum<bool>(o, "dtype", "spec", {{"float32", false}, {"float64", true}});
  if (!o.Get("conditionFeatures").IsUndefined())
    s.conditionFeatures = getInt(o, "conditionFeatures", "spec", 0, limits::kMaxInputSize);
  Napi::Value lv = o.Get("layers");
  if (!lv.IsArray()) throwType(env, "an array", "spec.layers");
  Napi::Array arr = lv.As<Napi::Array>();
  if (arr.Length() < 1 || arr.Length() > (uint32_t)limits::kMaxLayers)
    throwRangeJs(env, "1 to " + std::to_string(limits::kMaxLayers) + " layers", "spec.layers",
                 "array of length " + std::to_string(arr.Length()));
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    const std::string ctx = "spec.layers[" + std::to_string(i) + "]";
    Napi::Object l = asObject(arr.Get(i), ctx);
    LayerSpec ls;
    ls.type = getEnum<LayerType>(l, "type", ctx,
                                 {{"rnn", LayerType::Rnn},
                                  {"gru", LayerType::Gru},
                                  {"lstm", LayerType::Lstm},
                                  {"dense", LayerType::Dense},
                                  {"dropout", LayerType::Dropout},
                                  {"embedding", LayerType::Embedding},
                                  {"attention", LayerType::Attention}});
    if (ls.type == LayerType::Dropout) {
      ls.rate = getUnitOpen(l, "rate", ctx);
    } else {
      ls.units = getInt(l, "units", ctx, 1, limits::kMaxUnits);
    }
    if (ls.type == LayerType::Dense) {
      ls.activation = getEnum<Activation>(l, "activation", ctx,
                                          {{"linear", Activation::Linear},
                                           {"softmax", Activation::Softmax},
                                           {"sigmoid", Activation::Sigmoid},
                                           {"tanh", Activation::Tanh},
                                           {"relu", Activation::Relu}});
      ls.tieEmbedding = !l.Get("tieEmbedding").IsUndefined() && getBool(l, "tieEmbedding", ctx);  // optional, false
    }
    if (ls.type == LayerType::Attention) {
      ls.score = getEnum<AttentionScore>(
          l, "score", ctx,
          {{"dot", AttentionScore::Dot}, {"general", AttentionScore::General}, {"additive", AttentionScore::Additive}});
      ls.memoryCols = getInt(l, "memoryCols", ctx, 1, limits::kMaxUnits);
      if (ls.score == AttentionScore::Additive)
        ls.attentionUnits = getInt(l, "attentionUnits", ctx, 1, limits::kMaxUnits);
    }
    if (ls.type == LayerType::Embedding && !l.Get("paddingIdx").IsUndefined())  // optional, -1 (none)
      ls.paddingIdx = getInt(l, "paddingIdx", ctx, -1, limits::kMaxInputSize);
    if (ls.type == LayerType::Embedding && !l.Get("frozen").IsUndefined())  // optional, false
      ls.frozen = getBool(l, "frozen", ctx);
    if (ls.type == LayerType::Embedding && !l.Get("sparse").IsUndefined())  // optional, false
      ls.sparse = getBool(l, "sparse", ctx);
    if (ls.type == LayerType::Rnn || ls.type == LayerType::Gru || ls.type == LayerType::Lstm) {
      ls.bidirectional = getBool(l, "bidirectional", ctx);
      ls.returnSequences = getBool(l, "returnSequences", ctx);
      if (!l.Get("dropout").IsUndefined()) ls.inputDropout = getUnitOpen(l, "dropout", ctx);  // optional, 0
      if (!l.Get("recurrentDropout").IsUndefined()) ls.recurrentDropout = getUnitOpen(l, "recurrentDropout", ctx);
    }
    if (ls.type == LayerType::Rnn)
      ls.activation =
          getEnum<Activation>(l, "activation", ctx, {{"tanh", Activation::Tanh}, {"relu", Activation::Relu}});
    if (ls.type == LayerType::Gru) {
      ls.gruMinimal = getEnum<bool>(l, "variant", ctx, {{"full", false}, {"minimal", true}});
      ls.resetAfter = getBool(l, "resetAfter", ctx);
    }
    if (ls.type == LayerType::Lstm)
      ls.peephole = getEnum<Peephole>(
          l, "peephole", ctx, {{"none", Peephole::None}, {"diagonal", Peephole::Diagonal}, {"full", Peephole::Full}});
    s.layers.push_back(ls);
  }
  try {
    validateSpec(s);
  } catch (const Error& e) {
    throwRangeJs(env, e.what());
  }
  return s;
}

OptimizerSpec parseOptimizer(const Napi::Value& v) {
  Napi::Env env = v.Env();
  Napi::Object o = asObject(v, "optimizer");
  OptimizerSpec s;
  s.type = getEnum<OptimizerSpec::Type>(
      o, "type", "optimizer",
      {{"sgd", OptimizerSpec::Sgd}, {"adam", OptimizerSpec::Adam}, {"adamw", OptimizerSpec::AdamW}});
  s.lr = getNumber(o, "lr", "optimizer");
  s.momentum = getUnitOpen(o, "momentum", "optimizer");
  s.nesterov = getBool(o, "nesterov", "optimizer");
  s.beta1 = getUnitOpen(o, "beta1", "optimizer");
  s.beta2 = getUnitOpen(o, "beta2", "optimizer");
  s.eps = getNumber(o, "eps", "optimizer");
  s.weightDecay = getNumber(o, "weightDecay", "optimizer");
  s.clipValue = getNumber(o, "clipValue", "optimizer");
  s.clipNorm = getNumber(o, "clipNorm", "optimizer");
  // Non-positive values would not corrupt memory, but make no sense to the optimizer: refused
  // with the TypeScript layer's message (lib/optimizer.ts owns these rules).
  auto atLeast = [&](double v, const char* name, bool open) {
    if (open ? !(v > 0) : !(v >= 0))
      throwRangeJs(env, std::string("a finite number ") + (open ? "> 0" : ">= 0"), std::string("optimizer.") + name,
                   describeNumber(v));
  };
  atLeast(s.lr, "lr", true);
  atLeast(s.eps, "eps", true);
  atLeast(s.weightDecay, "weightDecay", false);
  atLeast(s.clipValue, "clipValue", false);  // 0 = off
  atLeast(s.clipNorm, "clipNorm", false);
  return s;
}

// Typed arrays must view an ordinary, attached ArrayBuffer: a SharedArrayBuffer
// could be written by another thread while it is copied, and a detached buffer
// reads as empty (which would otherwise be reported as a length mismatch).
static void checkBacking(const Napi::TypedArray& a, const std::string& name) {
  Napi::ArrayBuffer buf = a.ArrayBuffer();
  if (!buf.IsArrayBuffer())
    throwRangeJs(a.Env(), "Expected a typed array on an ordinary ArrayBuffer for " + name +
                              " but received one on a SharedArrayBuffer");
  if (buf.IsDetached())
    throwRangeJs(a.Env(), "Expected a typed array on an attached ArrayBuffer for " + name +
                              " but received one on a detached ArrayBuffer");
}

static std::vector<int32_t> readIds(const Napi::Object& o, const char* key, const std::string& ctx) {
  Napi::Value v = o.Get(key);
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
    throwType(o.Env(), "an Int32Array", ctx + "." + key);
  auto a = v.As<Napi::Int32Array>();
  checkBacking(a, ctx + "." + key);
  if (a.ElementLength() > limits::kMaxIdList)
    throwRangeJs(o.Env(), "at most " + std::to_string(limits::kMaxIdList) + " token ids", ctx + "." + key,
                 std::to_string(a.ElementLength()) + " ids");
  if (!a.Data() && a.ElementLength() > 0) throwRangeJs(o.Env(), "Expected an attached buffer for " + ctx + "." + key);
  return std::vector<int32_t>(a.Data(), a.Data() + a.ElementLength());
}

GenerateSpec parseGenerate(const Napi::Value& v) {
  Napi::Object o = asObject(v, "options");
  GenerateSpec g;
  g.n = getInt(o, "n", "options", 1, limits::kMaxSamples);
  g.maxLength = getInt(o, "maxLength", "options", 1, limits::kMaxGenerateLength);
  g.temperature = getNumber(o, "temperature", "options");
  if (g.temperature < 0)
    throwRangeJs(o.Env(), "a finite number >= 0", "options.temperature", describeNumber(g.temperature));
  g.topK = getInt(o, "topK", "options", 0, limits::kMaxTopK);
  g.topP = getNumber(o, "topP", "options");
  if (!(g.topP > 0 && g.topP <= 1))
    throwRangeJs(o.Env(), "a finite number in (0, 1]", "options.topP", describeNumber(g.topP));
  const double seed = getNumber(o, "seed", "options");
  if (seed < 0 || seed != std::floor(seed) || seed > 9007199254740991.0)
    throwRangeJs(o.Env(), "an integer in [0, 9007199254740991]", "options.seed", describeNumber(seed));
  g.seed = (uint64_t)seed;
  g.prime = readIds(o, "prime", "options");
  g.stop = readIds(o, "stopTokens", "options");
  g.ban = readIds(o, "banTokens", "options");
  return g;
}

template <class T>
struct FloatKind;
template <>
struct FloatKind<float> {
  static constexpr napi_typedarray_type type = napi_float32_array;
  static constexpr const char* name = "a Float32Array";
};
template <>
struct FloatKind<double> {
  static constexpr napi_typedarray_type type = napi_float64_array;
  static constexpr const char* name = "a Float64Array";
};

template <class T>
void readFloatArray(const Napi::Value& v, const char* name, size_t n, std::vector<T>& out) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != FloatKind<T>::type)
    throwType(v.Env(), FloatKind<T>::name, name);
  auto a = v.As<Napi::TypedArrayOf<T>>();
  checkBacking(a, name);
  if (n != std::numeric_limits<size_t>::max() && a.ElementLength() != n)
    throwRangeJs(v.Env(), "Expected " + std::to_string(n) + " elements for " + name + " but received " +
                              std::to_string(a.ElementLength()));
  const T* p = a.Data();
  if (!p && a.ElementLength() > 0) throwRangeJs(v.Env(), std::string("Expected an attached buffer for ") + name);
  out.assign(p, p + a.ElementLength());
}

static void readInt32Array(const Napi::Value& v, const char* name, size_t n, std::vector<int32_t>& out) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
    throwType(v.Env(), "an Int32Array", name);
  auto a = v.As<Napi::Int32Array>();
  checkBacking(a, name);
  if (a.ElementLength() != n)
    throwRangeJs(v.Env(), "Expected " + std::to_string(n) + " elements for " + name + " but received " +
                              std::to_string(a.ElementLength()));
  const int32_t* p = a.Data();
  if (!p && n > 0) throwRangeJs(v.Env(), std::string("Expected an attached buffer for ") + name);
  out.assign(p, p + n);
}

template <class T>
Batch<T> OwnedBatch<T>::view() const {
  Batch<T> b;
  b.B = B;
  b.Tn = T_;
  b.tokens = tokens.empty() ? nullptr : tokens.data();
  b.features = features.empty() ? nullptr : features.data();
  b.lengths = lengths.data();
  b.h0 = states.hViews();
  b.c0 = states.cViews();
  b.condition = condition.empty() ? nullptr : condition.data();
  b.rowExact = rowExact;
  if (!memory.empty()) {
    b.memory = memory.data();
    b.memoryLengths = memoryLengths.data();
    b.memoryIndex = memoryIndex.empty() ? nullptr : memoryIndex.data();
    b.memoryB = memoryB;
    b.memoryT = memoryT;
  }
  return b;
}

template <class T>
Targets<T> OwnedTargets<T>::view() const {
  Targets<T> t;
  t.classes = classes.empty() ? nullptr : classes.data();
  t.values = values.empty() ? nullptr : values.data();
  t.labelSmoothing = labelSmoothing;
  return t;
}

template <class T>
OwnedBatch<T> parseBatch(const Napi::Value& v, const Model<T>& model) {
  Napi::Env env = v.Env();
  Napi::Object o = asObject(v, "batch");
  OwnedBatch<T> b;
  b.B = getInt(o, "B", "batch", 1, limits::kMaxRows);
  b.T_ = getInt(o, "T", "batch", 1, limits::kMaxSteps);
  const size_t BT = (size_t)b.B * b.T_;
  if (BT > limits::kMaxPositions)
    throwRangeJs(env, "at most " + std::to_string(limits::kMaxPositions) + " positions (B*T)", "batch",
                 std::to_string(b.B) + " x " + std::to_string(b.T_));
  readInt32Array(o.Get("lengths"), "batch.lengths", b.B, b.lengths);
  const ModelSpec& spec = model.spec();
  if (spec.tokens) readInt32Array(o.Get("tokens"), "batch.tokens", BT, b.tokens);
  else readFloatArray(o.Get("features"), "batch.features", BT * spec.inputSize, b.features);
  Napi::Value cv = o.Get("condition");
  if (!cv.IsUndefined() && !cv.IsNull())
    readFloatArray(cv, "batch.condition", (size_t)b.B * std::max(spec.conditionFeatures, 1), b.condition);
  Napi::Value sv = o.Get("initialStates");
  if (!sv.IsUndefined() && !sv.IsNull()) {
    b.states = parseStates<T>(sv, model, b.B);
  }
  Napi::Value ev = o.Get("rowExact");
  if (!ev.IsUndefined()) {
    if (!ev.IsBoolean()) throwType(env, "a boolean", "batch.rowExact");
    b.rowExact = ev.As<Napi::Boolean>().Value();
  }
  Napi::Value mv = o.Get("memory");
  if (!mv.IsUndefined() && !mv.IsNull()) {
    Napi::Object mo = asObject(mv, "batch.memory");
    int E = 0;
    for (const LayerSpec& l : spec.layers)
      if (l.type == LayerType::Attention) E = l.memoryCols;
    if (E == 0) throwRangeJs(env, "Expected no batch.memory (the model has no attention layer)");
    b.memoryB = getInt(mo, "B", "batch.memory", 1, limits::kMaxRows);
    b.memoryT = getInt(mo, "T", "batch.memory", 1, limits::kMaxSteps);
    if ((size_t)b.memoryB * b.memoryT > limits::kMaxPositions)
      throwRangeJs(env, "at most " + std::to_string(limits::kMaxPositions) + " positions (B*T)", "batch.memory",
                   std::to_string(b.memoryB) + " x " + std::to_string(b.memoryT));
    readFloatArray(mo.Get("data"), "batch.memory.data", (size_t)b.memoryB * b.memoryT * E, b.memory);
    readInt32Array(mo.Get("lengths"), "batch.memory.lengths", b.memoryB, b.memoryLengths);
    Napi::Value iv = mo.Get("index");
    if (!iv.IsUndefined() && !iv.IsNull()) readInt32Array(iv, "batch.memory.index", b.B, b.memoryIndex);
  }
  return b;
}

template <class T>
OwnedStates<T> parseStates(const Napi::Value& sv, const Model<T>& model, int B) {
  Napi::Env env = sv.Env();
  OwnedStates<T> b;
  if (!sv.IsArray()) throwType(env, "an array", "initialStates");
  Napi::Array arr = sv.As<Napi::Array>();
  const std::vector<StateInfo> info = model.stateTable();
  if (arr.Length() > info.size())
    throwRangeJs(env, "Expected at most " + std::to_string(info.size()) + " entries for initialStates");
  b.h.resize(arr.Length());
  b.c.resize(arr.Length());
  for (uint32_t k = 0; k < arr.Length(); ++k) {
    Napi::Value e = arr.Get(k);
    if (e.IsUndefined() || e.IsNull()) continue;
    const std::string name = "initialStates[" + std::to_string(k) + "]";
    Napi::Object so = asObject(e, name);
    const size_t n = (size_t)info[k].dirs * B * info[k].units;
    readFloatArray(so.Get("h"), (name + ".h").c_str(), n, b.h[k]);
    Napi::Value c = so.Get("c");
    if (!c.IsUndefined() && !c.IsNull()) {
      if (!info[k].hasCell) throwRangeJs(env, "Expected no c for " + name + " (not an LSTM layer)");
      readFloatArray(c, (name + ".c").c_str(), n, b.c[k]);
    }
  }
  return b;
}

template <class T>
OwnedTargets<T> parseTargets(const Napi::Value& v, const Model<T>& model, const OwnedBatch<T>& batch) {
  Napi::Object o = asObject(v, "targets");
  OwnedTargets<T> t;
  const size_t positions = model.outputIsSequence() ? (size_t)batch.B * batch.T_ : (size_t)batch.B;
  if (model.spec().loss == LossType::CrossEntropy)
    readInt32Array(o.Get("classes"), "targets.classes", positions, t.classes);
  else readFloatArray(o.Get("values"), "targets.values", positions * model.outputCols(), t.values);
  if (!o.Get("labelSmoothing").IsUndefined()) {  // optional, crossEntropy only
    t.labelSmoothing = getUnitOpen(o, "labelSmoothing", "targets");
    if (model.spec().loss != LossType::CrossEntropy)
      throwRangeJs(o.Env(), "Expected the crossEntropy loss for targets.labelSmoothing");
  }
  return t;
}

template <class T>
Napi::Value toTypedArray(Napi::Env env, const T* data, size_t n) {
  auto a = Napi::TypedArrayOf<T>::New(env, n);
  if (n) std::memcpy(a.Data(), data, n * sizeof(T));
  return a;
}

template void readFloatArray<float>(const Napi::Value&, const char*, size_t, std::vector<float>&);
template void readFloatArray<double>(const Napi::Value&, const char*, size_t, std::vector<double>&);
template struct OwnedBatch<float>;
template struct OwnedBatch<double>;
template struct OwnedTargets<float>;
template struct OwnedTargets<double>;
template OwnedBatch<float> parseBatch<float>(const Napi::Value&, const Model<float>&);
template OwnedBatch<double> parseBatch<double>(const Napi::Value&, const Model<double>&);
template OwnedStates<float> parseStates<float>(const Napi::Value&, const Model<float>&, int);
template OwnedStates<double> parseStates<double>(const Napi::Value&, const Model<double>&, int);
template OwnedTargets<float> parseTargets<float>(const Napi::Value&, const Model<float>&, const OwnedBatch<float>&);
template OwnedTargets<double> parseTargets<double>(const Napi::Value&, const Model<double>&, const OwnedBatch<double>&);
template Napi::Value toTypedArray<float>(Napi::Env, const float*, size_t);
template Napi::Value toTypedArray<double>(Napi::Env, const double*, size_t);

}  // namespace binding
}  // namespace rnnkit
