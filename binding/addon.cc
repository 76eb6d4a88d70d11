// The addon's entry point. No mutable globals: everything lives in NativeModel
// instances, so the addon loads in any number of worker threads.
#include <napi.h>

#include <chrono>
#include <cmath>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "args.h"
#include "blas.h"
#include "blas_core.h"
#include "cpu.h"
#include "limits.h"
#include "model_wrap.h"
#include "parallel.h"
#include "sampler_wrap.h"

namespace rnnkit {
namespace binding {
namespace {

// sgemmBench(n, reps): GFLOP/s of an n x n x n sgemm on this machine, off the event loop, split
// across rnnkit's threads as a model's products are (parallelGemm; OpenBLAS runs one thread a chunk).
class SgemmBench : public Napi::AsyncWorker {
 public:
  SgemmBench(Napi::Env env, int n, int reps)
      : Napi::AsyncWorker(env, "rnnkit.sgemmBench"), deferred_(Napi::Promise::Deferred::New(env)), n_(n), reps_(reps) {}
  Napi::Promise promise() const { return deferred_.Promise(); }
  void Execute() override {
    std::vector<float> a((size_t)n_ * n_, 0.5f), b((size_t)n_ * n_, 0.25f), c((size_t)n_ * n_);
    WorkerPool pool;
    auto product = [&] {
      parallelGemm<float>(&pool, false, true, n_, n_, n_, 1.f, a.data(), n_, b.data(), n_, 0.f, c.data(), n_);
    };
    product();  // warm up
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < reps_; ++i) product();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    gflops_ = 2.0 * n_ * n_ * (double)n_ * reps_ / s / 1e9;
  }
  void OnOK() override { deferred_.Resolve(Napi::Number::New(Env(), gflops_)); }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  int n_, reps_;
  double gflops_ = 0;
};

Napi::Value SgemmBenchJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber()) throwType(env, "two numbers", "n, reps");
  const int n = info[0].As<Napi::Number>().Int32Value(), reps = info[1].As<Napi::Number>().Int32Value();
  if (n < 1 || n > 8192 || reps < 1 || reps > 100000)
    throwRangeJs(env, "Expected n in [1, 8192] and reps in [1, 100000]");
  auto* w = new SgemmBench(env, n, reps);
  Napi::Promise p = w->promise();
  w->Queue();
  return p;
}

#ifndef RNNKIT_BUILD_TYPE
#define RNNKIT_BUILD_TYPE "unknown"
#endif
#ifndef RNNKIT_STATIC_BLAS
#define RNNKIT_STATIC_BLAS 0
#endif

// The CPU's vendor and the features native/cpu.h reads.
Napi::Object CpuInfo(Napi::Env env) {
  const CpuFeatures& f = cpuFeatures();
  Napi::Object o = Napi::Object::New(env);
  o.Set("vendor", f.vendor);
  const std::pair<const char*, bool> flags[] = {
      {"avx", f.avx},           {"avx2", f.avx2},         {"fma", f.fma},           {"avx512f", f.avx512f},
      {"avx512bw", f.avx512bw}, {"avx512dq", f.avx512dq}, {"avx512vl", f.avx512vl}, {"avx512bf16", f.avx512bf16}};
  for (const auto& [name, on] : flags) o.Set(name, Napi::Boolean::New(env, on));
  return o;
}

// info(): what this binary is and what it runs on (lib/runtime.ts types it as Info).
Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const BlasCoreState& core = blasCoreAtLoad();
  Napi::Object o = Napi::Object::New(env);
  o.Set("version", RNNKIT_VERSION);
  o.Set("cpu", CpuInfo(env));
  o.Set("isa", isaName(isa()));
  o.Set("blas", blasConfig());
  o.Set("blasCore", blasCoreName());
  o.Set("blasCoreDetected", core.detected);
  o.Set("blasCoreChosenBy", core.chosenBy);
  o.Set("blasCoreWanted", core.wanted.empty() ? env.Null() : Napi::String::New(env, core.wanted));
  o.Set("largeProducts", largeProductsOnOwnKernels() ? "rnnkit" : "openblas");
  o.Set("blasStatic", Napi::Boolean::New(env, RNNKIT_STATIC_BLAS != 0));
  o.Set("threads", threadCount());
  o.Set("maxThreads", blasMaxThreads());
  o.Set("buildType", RNNKIT_BUILD_TYPE);
  return o;
}

// setThreads(n): how many threads later calls split their work across (process-wide). The TypeScript layer checks n
// fully and refuses while one of its calls runs; this is the cheap second line for callers
// of the raw binding (it cannot see calls in flight: it keeps no global state).
Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) throwType(env, "an integer", "n");
  const double n = info[0].As<Napi::Number>().DoubleValue();
  const int max = blasMaxThreads();
  if (!(n >= 1 && n <= max && n == std::floor(n)))
    throwRangeJs(env, "Expected an integer in [1, " + std::to_string(max) + "] for n");
  setThreadCount((int)n);
  return env.Undefined();
}

// native/limits.h as an object with lib/limits.ts's keys (test/limits.test.ts compares them).
Napi::Object Limits(Napi::Env env) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("inputSize", (double)limits::kMaxInputSize);
  o.Set("units", (double)limits::kMaxUnits);
  o.Set("layers", (double)limits::kMaxLayers);
  o.Set("rows", (double)limits::kMaxRows);
  o.Set("steps", (double)limits::kMaxSteps);
  o.Set("positions", (double)limits::kMaxPositions);
  o.Set("params", (double)limits::kMaxParams);
  o.Set("samples", (double)limits::kMaxSamples);
  o.Set("generateLength", (double)limits::kMaxGenerateLength);
  o.Set("sampledTokens", limits::kMaxSampledTokens);
  o.Set("topK", (double)limits::kMaxTopK);
  o.Set("idList", (double)limits::kMaxIdList);
  o.Set("unitOpenMax", limits::kUnitOpenMax);
  o.Freeze();
  return o;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  // OpenBLAS's core by the CPU's features (native/blas_core.h), once per process and before any
  // product: a worker thread that loads the addon again finds it done.
  blasCoreAtLoad();
  threadCount();  // takes OpenBLAS's thread count as rnnkit's and makes OpenBLAS single-threaded, before any product
  exports.Set("NativeModel", ModelWrap::Init(env));
  exports.Set("NativeSampler", SamplerWrap::Init(env));
  exports.Set("limits", Limits(env));
  exports.Set("sgemmBench", Napi::Function::New(env, SgemmBenchJs, "sgemmBench"));
  exports.Set("info", Napi::Function::New(env, Info, "info"));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads, "setThreads"));
  return exports;
}

}  // namespace
}  // namespace binding
}  // namespace rnnkit

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return rnnkit::binding::Init(env, exports); }

NODE_API_MODULE(rnnkit, InitAddon)
