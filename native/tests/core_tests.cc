// Tests of the C++ core without Node: the BLAS seam against the naive reference,
// and finite-difference gradient checks in double precision for every cell.
// Prints one line "N passed, N failed" and exits non-zero on failure.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <tuple>
#include <vector>

#include "blas.h"
#include "cpu.h"
#include "errors.h"
#include "model.h"
#include "parallel.h"
#include "rng.h"
#include "stepgemm.h"

using namespace rnnkit;

static int passed = 0, failed = 0;

static std::string sci(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2e", v);
  return buf;
}

static void check(bool ok, const std::string& name, const std::string& detail = "") {
  (ok ? passed : failed)++;
  std::printf("%s %s%s%s\n", ok ? "ok" : "FAIL", name.c_str(), detail.empty() ? "" : ": ", detail.c_str());
}

template <class T>
static void testGemm(const char* type, int M = 7, int N = 5, int K = 9) {
  Rng rng(7);
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb) {
      std::vector<T> A(M * K), B(K * N), C(M * N), R(M * N);
      for (auto& v : A) v = (T)(rng.uniform() - 0.5);
      for (auto& v : B) v = (T)(rng.uniform() - 0.5);
      for (size_t i = 0; i < C.size(); ++i) C[i] = R[i] = (T)(rng.uniform() - 0.5);
      const int lda = ta ? M : K, ldb = tb ? K : N;
      gemm<T>(ta, tb, M, N, K, T(0.7), A.data(), lda, B.data(), ldb, T(0.3), C.data(), N);
      gemmReference<T>(ta, tb, M, N, K, T(0.7), A.data(), lda, B.data(), ldb, T(0.3), R.data(), N);
      double worst = 0;
      for (size_t i = 0; i < C.size(); ++i) worst = std::max(worst, (double)std::fabs(C[i] - R[i]));
      check(worst < (sizeof(T) == 4 ? 1e-5 * std::sqrt((double)K) : 1e-12),
            std::string("gemm<") + type + "> transA=" + std::to_string(ta) + " transB=" + std::to_string(tb),
            "max diff " + sci(worst));
    }
}

// The small-row kernels (native/stepgemm.cc) against the reference: stepGemm
// (C = A B, B (K, N)) and, with nt, stepGemmNT (C = A W^T, W (N, K): PyTorch's
// weight layout). Odd sizes that leave partial row tiles, partial column vectors
// and partial blocks of W rows, K with a tail past the last full vector,
// overwrite and accumulate, leading dimensions wider than the matrices (the
// columns past N must stay untouched).
template <class T>
static void testStepGemm(const char* type, int M, int N, int K, bool nt = false) {
  Rng rng(nt ? 13 : 9);
  for (int acc = 0; acc < 2; ++acc) {
    const int lda = K + 3, ldb = nt ? K + 1 : N + 5, ldc = N + 2;
    std::vector<T> A((size_t)M * lda), B((size_t)(nt ? N : K) * ldb), C((size_t)M * ldc), R((size_t)M * ldc);
    for (auto& v : A) v = (T)(rng.uniform() - 0.5);
    for (auto& v : B) v = (T)(rng.uniform() - 0.5);
    for (size_t i = 0; i < C.size(); ++i) C[i] = R[i] = (T)(rng.uniform() - 0.5);
    if (nt) stepGemmNT<T>(M, N, K, A.data(), lda, B.data(), ldb, C.data(), ldc, acc);
    else stepGemm<T>(M, N, K, A.data(), lda, B.data(), ldb, C.data(), ldc, acc);
    gemmReference<T>(false, nt, M, N, K, T(1), A.data(), lda, B.data(), ldb, T(acc), R.data(), ldc);
    double worst = 0;
    for (size_t at = 0; at < C.size(); ++at) worst = std::max(worst, (double)std::fabs(C[at] - R[at]));
    check(worst < (sizeof(T) == 4 ? 1e-5 * std::sqrt((double)K) : 1e-12),
          std::string(nt ? "stepGemmNT<" : "stepGemm<") + type + "> " + std::to_string(M) + "x" + std::to_string(N) +
              "x" + std::to_string(K) + (acc ? " accumulate" : " overwrite"),
          "max diff " + sci(worst));
  }
}

// stepGemmTN (C = A^T B, A stored (K, M): weight gradients) against the reference, at the sizes
// testStepGemm uses: partial row tiles and column vectors, wide leading dimensions.
template <class T>
static void testStepGemmTN(const char* type, int M, int N, int K) {
  Rng rng(17);
  for (int acc = 0; acc < 2; ++acc) {
    const int lda = M + 3, ldb = N + 5, ldc = N + 2;
    std::vector<T> A((size_t)K * lda), B((size_t)K * ldb), C((size_t)M * ldc), R((size_t)M * ldc);
    for (auto& v : A) v = (T)(rng.uniform() - 0.5);
    for (auto& v : B) v = (T)(rng.uniform() - 0.5);
    for (size_t i = 0; i < C.size(); ++i) C[i] = R[i] = (T)(rng.uniform() - 0.5);
    stepGemmTN<T>(M, N, K, A.data(), lda, B.data(), ldb, C.data(), ldc, acc);
    gemmReference<T>(true, false, M, N, K, T(1), A.data(), lda, B.data(), ldb, T(acc), R.data(), ldc);
    double worst = 0;
    for (size_t at = 0; at < C.size(); ++at) worst = std::max(worst, (double)std::fabs(C[at] - R[at]));
    check(worst < (sizeof(T) == 4 ? 1e-5 * std::sqrt((double)K) : 1e-12),
          std::string("stepGemmTN<") + type + "> " + std::to_string(M) + "x" + std::to_string(N) + "x" +
              std::to_string(K) + (acc ? " accumulate" : " overwrite"),
          "max diff " + sci(worst));
  }
}

// Products of 16 rows or more: OpenBLAS's, or rnnkit's stepGemm / stepGemmTN when its kernels outrank OpenBLAS's
// core (blas.h ownLargeGemm; test/native-core.test.ts runs this under OpenBLAS's Prescott too, so
// both paths run on any x86-64 CPU with AVX2). Through gemm and through parallelGemm on a pool
// (one transpose of W for all chunks; row and column splits), C = op(A) op(B) for the four
// transpositions, overwrite and accumulate, K past one block of 128 (blas.cc), leading dimensions wider than the
// matrices (the columns past N must stay untouched).
static void testLargeGemm(int M, int N, int K) {
  Rng rng(11);
  WorkerPool pool;
  setThreadCount(2);
  const std::string path = ownLargeGemm(M, 1.f, 0.f) ? "rnnkit's kernels" : "OpenBLAS";
  for (int split = 0; split < 2; ++split)
    for (int ta = 0; ta < 2; ++ta)
      for (int nt = 0; nt < 2; ++nt)
        for (int acc = 0; acc < 2; ++acc) {
          const int lda = ta ? M + 3 : K + 3, ldb = nt ? K + 1 : N + 5, ldc = N + 2;
          std::vector<float> A((size_t)(ta ? K : M) * lda), B((size_t)(nt ? N : K) * ldb), C((size_t)M * ldc),
              R((size_t)M * ldc);
          for (auto& v : A) v = (float)(rng.uniform() - 0.5);
          for (auto& v : B) v = (float)(rng.uniform() - 0.5);
          for (size_t i = 0; i < C.size(); ++i) C[i] = R[i] = (float)(rng.uniform() - 0.5);
          const float beta = acc ? 1.f : 0.f;
          if (split)
            parallelGemm<float>(&pool, ta, nt, M, N, K, 1.f, A.data(), lda, B.data(), ldb, beta, C.data(), ldc);
          else gemm<float>(ta, nt, M, N, K, 1.f, A.data(), lda, B.data(), ldb, beta, C.data(), ldc);
          gemmReference<float>(ta, nt, M, N, K, 1.f, A.data(), lda, B.data(), ldb, beta, R.data(), ldc);
          double worst = 0;
          for (size_t at = 0; at < C.size(); ++at) worst = std::max(worst, (double)std::fabs(C[at] - R[at]));
          check(worst < 1e-5 * std::sqrt((double)K),
                std::string(split ? "parallelGemm" : "gemm") + "<float> on " + path + " " + std::to_string(M) + "x" +
                    std::to_string(N) + "x" + std::to_string(K) + (ta ? " A^T" : " A") + (nt ? " W^T" : " B") +
                    (acc ? " accumulate" : " overwrite"),
                "max diff " + sci(worst));
        }
}

// Central differences over every parameter of a small model; relative to the largest gradient.
// A batch of token rows over the given (T, B) time-major ids and per-row lengths.
template <class T>
static Batch<T> tokenBatch(int B, int Tn, const std::vector<int32_t>& tokens, const std::vector<int32_t>& lengths) {
  Batch<T> batch;
  batch.B = B;
  batch.Tn = Tn;
  batch.tokens = tokens.data();
  batch.lengths = lengths.data();
  return batch;
}

// Float64 gradient checks: the largest |g| of an analytic gradient, and the worst
// error of g (n values) against central differences of f over the n values x(i)
// (each moved by +-1e-6, then restored), relative to `scale`. x(i) returns a
// reference, so a model's parameters go through mutableParams() at each change
// (which marks the caches derived from them stale).
static double maxAbs(const std::vector<double>& g) {
  double m = 0;
  for (double v : g) m = std::max(m, std::fabs(v));
  return m;
}
template <class X, class F>
static double worstCentral(X&& x, const double* g, size_t n, double scale, F&& f) {
  const double eps = 1e-6;
  double worst = 0;
  for (size_t i = 0; i < n; ++i) {
    const double o = x(i);
    x(i) = o + eps;
    const double fp = f();
    x(i) = o - eps;
    const double fm = f();
    x(i) = o;
    worst = std::max(worst, std::fabs((fp - fm) / (2 * eps) - g[i]) / scale);
  }
  return worst;
}

// labelSmoothing: crossEntropy against (1 - e) onehot + e / K.
static void gradcheck(const std::string& name, ModelSpec spec, int B = 3, double labelSmoothing = 0) {
  spec.seed = 11;
  Model<double> m(spec);
  const int Tn = 4;
  std::vector<int32_t> lengths = {4, 2, 3}, tokens(B * Tn);
  lengths.resize(B);
  for (int b = 3; b < B; ++b) lengths[b] = 1 + (b * 5) % Tn;  // mixed lengths in every row chunk
  std::vector<double> features;
  for (int i = 0; i < B * Tn; ++i) tokens[i] = (i * 7 + 3) % spec.inputSize;
  Batch<double> batch = tokenBatch<double>(B, Tn, tokens, lengths);
  if (!spec.tokens) {
    batch.tokens = nullptr;
    features.resize((size_t)B * Tn * spec.inputSize);
    for (size_t i = 0; i < features.size(); ++i) features[i] = std::sin(1.3 * i);
    batch.features = features.data();
  }
  const int K = m.outputCols();
  const size_t positions = m.outputIsSequence() ? (size_t)B * Tn : B;
  std::vector<int32_t> classes(positions);
  std::vector<double> values(positions * K);
  for (size_t i = 0; i < positions; ++i) classes[i] = (int32_t)(i % K);
  for (size_t i = 0; i < values.size(); ++i) values[i] = spec.loss == LossType::Mse ? std::cos(i) : (i % 3 == 0);
  Targets<double> tg;
  if (spec.loss == LossType::CrossEntropy) tg.classes = classes.data();
  else tg.values = values.data();
  tg.labelSmoothing = labelSmoothing;

  GradientResult<double> g;
  m.gradients(batch, tg, true, g);
  const double maxg = maxAbs(g.grads);
  auto params = [&](size_t i) -> double& { return m.mutableParams()[i]; };
  const double worst = worstCentral(params, g.grads.data(), m.numParams(), maxg, [&] {
    GradientResult<double> r;
    m.gradients(batch, tg, true, r);
    return r.loss;
  });
  check(maxg > 1e-3 && worst < 1e-6, "gradcheck " + name, "worst " + sci(worst) + " of max |grad| " + sci(maxg));
}

// One-to-many: a condition through a dense tanh layer into the first recurrent layer's
// initial state; checks every parameter (the condition layer's too) and dCondition.
static void gradcheckCondition(const std::string& name, ModelSpec spec) {
  spec.seed = 5;
  spec.conditionFeatures = 3;
  Model<double> m(spec);
  const int B = 2, Tn = 3;
  std::vector<int32_t> lengths = {3, 2}, tokens = {1, 2, 3, 4, 0, 0}, classes(B * Tn);
  for (int i = 0; i < B * Tn; ++i) classes[i] = i % m.outputCols();
  std::vector<double> cond = {0.3, -0.7, 1.1, -0.2, 0.5, 0.9};
  Batch<double> batch = tokenBatch<double>(B, Tn, tokens, lengths);
  batch.condition = cond.data();
  Targets<double> tg;
  tg.classes = classes.data();
  GradientResult<double> g;
  m.gradients(batch, tg, false, g);
  auto loss = [&] {
    GradientResult<double> r;
    m.gradients(batch, tg, false, r);
    return r.loss;
  };
  const double maxg = maxAbs(g.grads);
  auto params = [&](size_t i) -> double& { return m.mutableParams()[i]; };
  const double worst = worstCentral(params, g.grads.data(), m.numParams(), maxg, loss);
  const double worstC = g.dCondition.size() == cond.size() ? worstCentral([&](size_t i) -> double& { return cond[i]; },
                                                                          g.dCondition.data(), cond.size(), maxg, loss)
                                                           : INFINITY;
  check(maxg > 1e-3 && worst < 1e-6 && worstC < 1e-6 && g.dCondition.size() == cond.size(),
        "gradcheck condition " + name, "worst " + sci(worst) + ", dCondition " + sci(worstC));
}

// backwardFrom is the vector-Jacobian product of (output, final states): compare with
// central differences of f = <wOut, output> + sum_k <wH_k, h_k> + <wC_k, c_k>.
static void checkBackwardFrom(const std::string& name, ModelSpec spec) {
  spec.seed = 8;
  Model<double> m(spec);
  const int B = 3, Tn = 4;
  std::vector<int32_t> lengths = {4, 1, 3}, tokens(B * Tn);
  for (int i = 0; i < B * Tn; ++i) tokens[i] = (i * 3 + 1) % spec.inputSize;
  Batch<double> batch = tokenBatch<double>(B, Tn, tokens, lengths);
  ForwardResult<double> fr;
  m.forward(batch, false, fr);
  Rng rng(3);
  std::vector<double> wOut(fr.output.size());
  for (auto& v : wOut) v = rng.uniform() - 0.5;
  std::vector<std::vector<double>> wH(fr.finalH.size()), wC(fr.finalC.size());
  std::vector<const double*> ph, pc;
  for (size_t k = 0; k < fr.finalH.size(); ++k) {
    wH[k].resize(fr.finalH[k].size());
    for (auto& v : wH[k]) v = rng.uniform() - 0.5;
    wC[k].resize(fr.finalC[k].size());
    for (auto& v : wC[k]) v = rng.uniform() - 0.5;
    ph.push_back(wH[k].data());
    pc.push_back(wC[k].empty() ? nullptr : wC[k].data());
  }
  auto f = [&] {
    ForwardResult<double> r;
    m.forward(batch, false, r);
    double s = 0;
    for (size_t i = 0; i < r.output.size(); ++i) s += wOut[i] * r.output[i];
    for (size_t k = 0; k < r.finalH.size(); ++k) {
      for (size_t i = 0; i < r.finalH[k].size(); ++i) s += wH[k][i] * r.finalH[k][i];
      for (size_t i = 0; i < r.finalC[k].size(); ++i) s += wC[k][i] * r.finalC[k][i];
    }
    return s;
  };
  GradientResult<double> g;
  m.backwardFrom(batch, false, wOut.data(), ph, pc, g);
  const double maxg = maxAbs(g.grads);
  auto params = [&](size_t i) -> double& { return m.mutableParams()[i]; };
  const double worst = worstCentral(params, g.grads.data(), m.numParams(), maxg, f);
  check(maxg > 1e-3 && worst < 1e-6, "backwardFrom " + name, "worst " + sci(worst) + " of max |grad| " + sci(maxg));
}

// The float path against the double path on the same weights: one training step
// (forward, loss, backward, clip, Adam) of a float model and of a double model,
// then the outputs, the gradients and the updated weights compared. Gradient checks
// run in double, which never reaches the float SIMD kernels (gate kernels, step
// products, the loss row, the optimizer); this does, at the ISA level the binary
// runs at (RNNKIT_ISA forces each level: test/native-core.test.ts).
// max |a - b| over the first n elements, relative to max |b|.
template <class A, class B>
static double relDiff(const A& a, const B& b, size_t n) {
  double worst = 0, scale = 1e-30;
  for (size_t i = 0; i < n; ++i) scale = std::max(scale, (double)std::fabs(b[i]));
  for (size_t i = 0; i < n; ++i) worst = std::max(worst, std::fabs((double)a[i] - (double)b[i]) / scale);
  return worst;
}

// The forward (attention too, when asked) and the gradients (class targets) of a double
// model and its float copy, each on its own batch.
struct BothRuns {
  ForwardResult<double> od;
  ForwardResult<float> of;
  GradientResult<double> gd;
  GradientResult<float> gf;
};
static BothRuns runBoth(Model<double>& md, Model<float>& mf, const Batch<double>& bd, const Batch<float>& bf,
                        const int32_t* classes, bool attention = false) {
  BothRuns r;
  Targets<double> td;
  Targets<float> tf;
  td.classes = tf.classes = classes;
  r.od.wantAttention = r.of.wantAttention = attention;
  md.forward(bd, false, r.od);
  mf.forward(bf, false, r.of);
  md.gradients(bd, td, false, r.gd);
  mf.gradients(bf, tf, false, r.gf);
  return r;
}

static void floatMatchesDouble(const std::string& name, ModelSpec spec, int B, double labelSmoothing = 0) {
  spec.seed = 5;
  Model<double> md(spec);
  Model<float> mf(spec);
  for (size_t i = 0; i < md.numParams(); ++i) mf.mutableParams()[i] = (float)md.params()[i];
  const int Tn = 5;
  std::vector<int32_t> lengths(B), tokens((size_t)B * Tn);
  for (int b = 0; b < B; ++b) lengths[b] = 1 + (b * 3 + 4) % Tn;
  for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = (int32_t)((i * 7 + 3) % spec.inputSize);
  Batch<double> bd;
  Batch<float> bf;
  bd.B = bf.B = B;
  bd.Tn = bf.Tn = Tn;
  bd.lengths = bf.lengths = lengths.data();
  bd.tokens = bf.tokens = tokens.data();
  std::vector<int32_t> classes((size_t)B * Tn);
  for (size_t i = 0; i < classes.size(); ++i) classes[i] = (int32_t)(i % md.outputCols());
  Targets<double> td;
  Targets<float> tf;
  td.classes = tf.classes = classes.data();
  td.labelSmoothing = tf.labelSmoothing = labelSmoothing;  // the step's loss (runBoth's gradients: one-hot)
  auto [od, of, gd, gf] = runBoth(md, mf, bd, bf, classes.data());
  OptimizerSpec opt;  // Adam, clipped: a broken clone moves weights by ~lr (1e-2), rounding by ~1e-5 of them
  opt.lr = 1e-2;
  opt.clipNorm = 0.5;
  double nd = 0, nf = 0;
  md.trainStep(bd, td, opt, nd, nullptr);
  mf.trainStep(bf, tf, opt, nf, nullptr);
  const double eo = relDiff(of.output, od.output, od.output.size()), eg = relDiff(gf.grads, gd.grads, gd.grads.size()),
               ep = relDiff(mf.params(), md.params(), md.numParams());
  check(of.output.size() == od.output.size() && eo < 1e-5 && eg < 1e-4 && ep < 1e-4 && std::fabs(nf - nd) < 1e-4 * nd &&
            std::fabs(gf.loss - gd.loss) < 1e-5 * std::fabs(gd.loss),
        std::string("float == double (isa ") + isaName(isa()) + ") " + name + " B=" + std::to_string(B),
        "outputs " + sci(eo) + ", gradients " + sci(eg) + ", weights after a step " + sci(ep));
}

static LayerSpec rec(LayerType t, std::function<void(LayerSpec&)> f = nullptr) {
  LayerSpec l;
  l.type = t;
  l.units = 3;
  l.activation = Activation::Tanh;
  if (f) f(l);
  return l;
}

static LayerSpec dense(int units, Activation a) {
  LayerSpec l;
  l.type = LayerType::Dense;
  l.units = units;
  l.activation = a;
  return l;
}

static LayerSpec embedding(int dim, int paddingIdx = -1) {
  LayerSpec l;
  l.type = LayerType::Embedding;
  l.units = dim;
  l.paddingIdx = paddingIdx;
  return l;
}

// An embedding's padding row: zero at initialisation, no gradient although the
// batch uses it (nn.Embedding(padding_idx)), the other rows' gradients as without it.
// Attention (native/attention.h) on an LSTM over 9 rows (two row chunks) with ragged
// sources: the float model (its additive kernels at this isa's clone) against the
// double one, outputs, attention, every gradient and the memory's; and the double
// memory gradient against central differences.
static void checkAttention(AttentionScore score) {
  const int B = 9, Tn = 4, Tm = 6, H = 19, E = score == AttentionScore::Dot ? H : 21;
  ModelSpec spec;
  spec.inputSize = 7;
  spec.seed = 3;
  LayerSpec att;
  att.type = LayerType::Attention;
  att.score = score;
  att.units = H;
  att.memoryCols = E;
  att.attentionUnits = 37;  // partial vectors in the additive kernels
  spec.layers = {rec(LayerType::Lstm, [](LayerSpec& l) { l.units = 19; }), att, dense(7, Activation::Linear)};
  Model<double> md(spec);
  Model<float> mf(spec);
  for (size_t i = 0; i < md.numParams(); ++i) mf.mutableParams()[i] = (float)md.params()[i];
  std::vector<int32_t> lengths(B), tokens((size_t)B * Tn), memLengths(B), classes((size_t)B * Tn);
  std::vector<double> memD((size_t)B * Tm * E);
  for (int b = 0; b < B; ++b) lengths[b] = 1 + (b * 3 + 2) % Tn, memLengths[b] = 1 + (b * 5) % Tm;
  for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = (int32_t)((i * 7 + 3) % spec.inputSize);
  for (size_t i = 0; i < classes.size(); ++i) classes[i] = (int32_t)(i % 7);
  for (size_t i = 0; i < memD.size(); ++i) memD[i] = std::sin(0.7 * (double)i);
  std::vector<float> memF(memD.begin(), memD.end());
  Batch<double> bd = tokenBatch<double>(B, Tn, tokens, lengths);
  Batch<float> bf = tokenBatch<float>(B, Tn, tokens, lengths);
  bd.memory = memD.data();
  bf.memory = memF.data();
  bd.memoryLengths = bf.memoryLengths = memLengths.data();
  bd.memoryB = bf.memoryB = B;
  bd.memoryT = bf.memoryT = Tm;
  auto [od, of, gd, gf] = runBoth(md, mf, bd, bf, classes.data(), true);
  Targets<double> td;
  td.classes = classes.data();
  auto rel = [](const auto& a, const auto& b) { return a.size() == b.size() ? relDiff(a, b, b.size()) : 1.0; };
  const double eo = rel(of.output, od.output), ea = rel(of.attention, od.attention), eg = rel(gf.grads, gd.grads),
               em = rel(gf.dMemory, gd.dMemory);
  const char* names[] = {"dot", "general", "additive"};
  check(od.attention.size() == (size_t)B * Tn * Tm && eo < 1e-5 && ea < 1e-5 && eg < 1e-4 && em < 1e-4,
        std::string("attention ") + names[(int)score] + ": float == double (isa " + isaName(isa()) + ")",
        "outputs " + sci(eo) + ", attention " + sci(ea) + ", gradients " + sci(eg) + ", memory gradient " + sci(em));
  auto at = [&](size_t i) -> double& { return memD[i]; };
  const double worst = worstCentral(at, gd.dMemory.data(), memD.size(), maxAbs(gd.dMemory), [&] {
    GradientResult<double> r;
    md.gradients(bd, td, false, r);
    return r.loss;
  });
  check(maxAbs(gd.dMemory) > 1e-3 && worst < 1e-6, std::string("attention ") + names[(int)score] + ": memory gradcheck",
        "worst " + sci(worst));
}

static void checkPaddingRow() {
  ModelSpec spec;
  spec.tokens = true;
  spec.inputSize = 5;
  spec.seed = 3;
  spec.layers = {embedding(4, 2), rec(LayerType::Gru), dense(5, Activation::Softmax)};
  Model<double> m(spec);
  const int B = 2, Tn = 3;
  std::vector<int32_t> lengths = {3, 2}, tokens = {2, 1, 2, 4, 2, 0}, classes = {1, 2, 3, 0, 4, 0};
  Batch<double> batch = tokenBatch<double>(B, Tn, tokens, lengths);
  Targets<double> tg;
  tg.classes = classes.data();
  GradientResult<double> g;
  m.gradients(batch, tg, true, g);
  bool zeroRow = true, zeroGrad = true, others = false;
  for (int j = 0; j < 4; ++j) {
    zeroRow = zeroRow && m.params()[2 * 4 + j] == 0;
    zeroGrad = zeroGrad && g.grads[2 * 4 + j] == 0;
    others = others || g.grads[1 * 4 + j] != 0;
  }
  check(zeroRow && zeroGrad && others, "embedding: the padding row is zero and gets no gradient; used rows do");
}

// A frozen embedding: no gradient, and its table unchanged by AdamW steps (whose
// weight decay would move every other weight), while the other layers train.
static void checkFrozenEmbedding() {
  ModelSpec spec;
  spec.tokens = true;
  spec.inputSize = 5;
  spec.seed = 4;
  spec.layers = {embedding(3), rec(LayerType::Lstm), dense(5, Activation::Linear)};
  spec.layers[0].frozen = true;
  Model<float> m(spec);
  const std::vector<float> before(m.params(), m.params() + m.numParams());
  const int B = 2, Tn = 3;
  std::vector<int32_t> lengths = {3, 2}, tokens = {1, 2, 3, 4, 0, 0}, classes = {2, 3, 1, 1, 3, 0};
  Batch<float> batch = tokenBatch<float>(B, Tn, tokens, lengths);
  Targets<float> tg;
  tg.classes = classes.data();
  OptimizerSpec opt;
  opt.type = OptimizerSpec::AdamW;
  opt.lr = 0.05;
  opt.weightDecay = 0.1;
  double norm = 0;
  for (int i = 0; i < 3; ++i) m.trainStep(batch, tg, opt, norm);
  const size_t table = 5 * 3;
  const bool kept = std::equal(before.begin(), before.begin() + table, m.params());
  const bool trained = !std::equal(before.begin() + table, before.end(), m.params() + table);
  GradientResult<float> g;
  m.gradients(batch, tg, true, g);
  const bool noGrad = std::all_of(g.grads.begin(), g.grads.begin() + table, [](float v) { return v == 0; });
  check(kept && trained && noGrad, "embedding: a frozen table gets no gradient and AdamW steps leave it as it was");
}

static ModelSpec lm(std::vector<LayerSpec> layers) {
  ModelSpec s;
  s.tokens = true;
  s.inputSize = 5;
  s.layers = std::move(layers);
  s.layers.push_back(dense(5, Activation::Softmax));
  return s;
}

// Variational dropout is off outside training (the outputs equal those of the same
// model without it) and on in training (they differ).
static void checkDropoutOff() {
  ModelSpec plain = lm({embedding(4), rec(LayerType::Lstm)});
  ModelSpec dropped = plain;
  dropped.layers[1].inputDropout = 0.5;
  dropped.layers[1].recurrentDropout = 0.5;
  Model<double> a(plain), b(dropped);
  const int B = 2, Tn = 3;
  std::vector<int32_t> lengths = {3, 2}, tokens = {1, 2, 3, 4, 0, 0};
  Batch<double> batch = tokenBatch<double>(B, Tn, tokens, lengths);
  ForwardResult<double> ra, rb, rt;
  a.forward(batch, false, ra);
  b.forward(batch, false, rb);
  b.forward(batch, true, rt);
  check(ra.output == rb.output && rt.output != rb.output, "recurrent dropout: off at inference, on in training");
}

// Model::step over two models: a non-finite loss, and an update that only the second
// model refuses, are ErrorKind::NonFinite and leave both parameter blocks as they were.
static void checkJointStep(ModelSpec spec) {
  Model<float> a(spec), b(spec);
  const int B = 2, Tn = 3;
  std::vector<int32_t> lengths = {3, 2}, tokens = {1, 2, 3, 3, 2, 0}, classes = {2, 3, 1, 1, 3, 0};
  Batch<float> batch = tokenBatch<float>(B, Tn, tokens, lengths);
  Targets<float> targets;
  targets.classes = classes.data();
  // b's dense bias for class 0 (no valid target): huge, so Adam's L2 term overflows its moment
  b.mutableParams()[b.paramTable().back().offset] = 3.3e38f;
  const std::vector<float> a0(a.params(), a.params() + a.numParams()), b0(b.params(), b.params() + b.numParams());
  OptimizerSpec opt;
  opt.type = OptimizerSpec::Adam;
  opt.weightDecay = 1;
  auto kindOf = [&](double loss) {
    GradientResult<float> ga, gb;
    a.gradients(batch, targets, true, ga);
    b.gradients(batch, targets, true, gb);
    try {
      Model<float>::step({&a, &b}, opt, loss);
    } catch (const Error& e) {
      return e.kind;
    }
    return ErrorKind::Range;  // not refused
  };
  auto unchanged = [&] {
    return std::equal(a0.begin(), a0.end(), a.params()) && std::equal(b0.begin(), b0.end(), b.params());
  };
  check(kindOf(std::nan("")) == ErrorKind::NonFinite && unchanged(),
        "joint step: a NaN loss is NonFinite, nothing written");
  check(kindOf(1.0) == ErrorKind::NonFinite && unchanged(),
        "joint step: the second model's refused update writes neither model");
}

// stepGemmNT gives each element of C the same bits whatever M, N and the element's
// place in its tile are: the whole product against each row alone and against
// column blocks of W (the splits rowExactGemmNT makes).
template <class T>
static void stepGemmNTRowExact(const char* type, int M, int N, int K) {
  Rng rng(21);
  std::vector<T> A((size_t)M * K), W((size_t)N * K), C((size_t)M * N), R(N);
  for (auto& v : A) v = (T)(rng.uniform() - 0.5);
  for (auto& v : W) v = (T)(rng.uniform() - 0.5);
  stepGemmNT<T>(M, N, K, A.data(), K, W.data(), K, C.data(), N, false);
  int differ = 0;
  for (int i = 0; i < M; ++i) {
    stepGemmNT<T>(1, N, K, A.data() + (size_t)i * K, K, W.data(), K, R.data(), N, false);
    differ += std::memcmp(R.data(), C.data() + (size_t)i * N, sizeof(T) * N) != 0;
    for (int j0 = 0; j0 < N; j0 += 3) {  // 3 W rows at a time: every offset in a tile
      const int n = std::min(3, N - j0);
      stepGemmNT<T>(1, n, K, A.data() + (size_t)i * K, K, W.data() + (size_t)j0 * K, K, R.data(), n, false);
      differ += std::memcmp(R.data(), C.data() + (size_t)i * N + j0, sizeof(T) * n) != 0;
    }
  }
  check(differ == 0,
        std::string("stepGemmNT<") + type + "> " + std::to_string(M) + "x" + std::to_string(N) + "x" +
            std::to_string(K) + ": each row alone and each block of W rows give the same bits",
        std::to_string(differ) + " blocks differ");
}

// A rowExact forward (what generate runs): every row of a 40-row batch, with a
// different row count per thread chunk, gives the bits of the same row alone, outputs
// and final states (what the batched sampler relies on for per-request seeds).
static void rowExactForwardT(const std::string& name, ModelSpec spec, bool condition, int Tn) {
  spec.seed = 3;
  if (condition) spec.conditionFeatures = 4;
  Model<float> m(spec);
  const int B = 40;
  std::vector<int32_t> tokens((size_t)B * Tn), lengths(B, Tn);
  for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = (int32_t)((i * 7 + i / 5) % spec.inputSize);
  std::vector<float> cond((size_t)B * 4);
  for (size_t i = 0; i < cond.size(); ++i) cond[i] = (float)std::sin(0.7 * i);
  Batch<float> batch = tokenBatch<float>(B, Tn, tokens, lengths);
  batch.rowExact = true;
  if (condition) batch.condition = cond.data();
  ForwardResult<float> all, plain;
  m.forward(batch, false, all);
  const size_t out = all.output.size() / B;
  // the same values as an ordinary forward (OpenBLAS and the split step kernels), to rounding
  batch.rowExact = false;
  m.forward(batch, false, plain);
  double worst = 0;
  for (size_t i = 0; i < all.output.size(); ++i)
    worst =
        std::max(worst, std::abs((double)all.output[i] - plain.output[i]) / (1 + std::abs((double)plain.output[i])));
  check(worst < 1e-5,
        "rowExact forward " + name + ", T = " + std::to_string(Tn) + ": the values of an ordinary forward",
        "relative error " + std::to_string(worst));
  int differ = 0;
  for (int b = 0; b < B; b += 3) {
    Batch<float> one = tokenBatch<float>(1, Tn, tokens, lengths);
    one.tokens = tokens.data() + (size_t)b * Tn;
    one.rowExact = true;
    if (condition) one.condition = cond.data() + (size_t)b * 4;
    ForwardResult<float> r;
    m.forward(one, false, r);
    differ += std::memcmp(r.output.data(), all.output.data() + b * out, sizeof(float) * out) != 0;
    for (size_t k = 0; k < r.finalH.size(); ++k) {
      const size_t H = r.finalH[k].size();  // one direction (the LM layers are forward-only)
      differ += std::memcmp(r.finalH[k].data(), all.finalH[k].data() + b * H, sizeof(float) * H) != 0;
      if (!r.finalC[k].empty())
        differ += std::memcmp(r.finalC[k].data(), all.finalC[k].data() + b * H, sizeof(float) * H) != 0;
    }
  }
  check(differ == 0,
        "rowExact forward " + name + ", T = " + std::to_string(Tn) + ": rows of a 40-row batch equal the rows alone",
        std::to_string(differ) + " blocks differ");
}

// Both ways a rowExact forward runs: T = 1 (a sampling step: the product split by panels)
// and T = 3 (a prime: the rows split across threads).
static void rowExactForward(const std::string& name, ModelSpec spec, bool condition = false) {
  for (int Tn : {1, 3}) rowExactForwardT(name, spec, condition, Tn);
}

int main(int argc, char** argv) {
  std::printf("# kernels at isa %s\n", isaName(isa()));
  if (argc > 1 && std::string(argv[1]) == "--isa") return 0;  // the level alone (test/native-core.test.ts)
  testLargeGemm(16, 33, 21);
  testLargeGemm(200, 37, 300);  // a split by rows: chunks of 16-row multiples, a short last one; 3 K blocks
  testLargeGemm(17, 700, 64);   // a split by columns
  if (argc > 1 && std::string(argv[1]) == "--gemm") {  // the products alone (test/native-core.test.ts)
    std::printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
  }
  testGemm<float>("float");  // 7 rows: rnnkit's small-row kernels
  testGemm<float>("float, one row", 1);
  testGemm<float>("float, one row of a large matrix", 1, 600, 500);
  testGemm<float>("float, OpenBLAS (16 rows)", 16, 33, 21);
  testGemm<double>("double");
  testGemm<double>("double, OpenBLAS (20 rows)", 20, 9, 17);
  testStepGemm<float>("float", 13, 37, 19);
  testStepGemm<float>("float", 16, 64, 128);
  testStepGemm<float>("float", 1, 5, 3);
  testStepGemm<double>("double", 13, 37, 19);
  testStepGemm<double>("double", 8, 16, 7);
  for (int M : {1, 2, 3, 4, 5, 8, 9, 15})
    for (int K : {1, 7, 16, 37, 128}) testStepGemm<float>("float", M, 19, K, true);
  testStepGemm<float>("float", 1, 2048, 512, true);
  testStepGemm<double>("double", 1, 17, 9, true);
  testStepGemm<double>("double", 11, 6, 21, true);
  for (int M : {1, 5, 8, 13, 40}) testStepGemmTN<float>("float", M, 37, 19);
  testStepGemmTN<float>("float", 24, 64, 128);
  testStepGemmTN<double>("double", 13, 37, 19);
  for (int K : {7, 37, 256}) stepGemmNTRowExact<float>("float", 21, 45, K);
  stepGemmNTRowExact<double>("double", 13, 19, 33);
  {
    auto cell = [](LayerType t, std::function<void(LayerSpec&)> f = nullptr) {
      return rec(t, [f](LayerSpec& l) {
        l.units = 19;  // partial vectors in every gate block
        if (f) f(l);
      });
    };
    const std::vector<std::pair<std::string, LayerSpec>> cells = {
        {"rnn tanh", cell(LayerType::Rnn)},
        {"rnn relu", cell(LayerType::Rnn, [](LayerSpec& l) { l.activation = Activation::Relu; })},
        {"gru resetAfter", cell(LayerType::Gru)},
        {"gru reset before", cell(LayerType::Gru, [](LayerSpec& l) { l.resetAfter = false; })},
        {"gru minimal", cell(LayerType::Gru, [](LayerSpec& l) { l.gruMinimal = true; })},
        {"lstm", cell(LayerType::Lstm)},
        {"lstm diagonal peephole", cell(LayerType::Lstm, [](LayerSpec& l) { l.peephole = Peephole::Diagonal; })},
        {"lstm full peephole", cell(LayerType::Lstm, [](LayerSpec& l) { l.peephole = Peephole::Full; })},
        {"bidirectional lstm", cell(LayerType::Lstm, [](LayerSpec& l) { l.bidirectional = true; })},
    };
    setThreadCount(2);
    for (const auto& c : cells) {
      ModelSpec s = lm({c.second});
      s.inputSize = 23;
      s.layers.back().units = 23;
      floatMatchesDouble(c.first, s, 3);   // one thread, small-row products
      floatMatchesDouble(c.first, s, 21);  // row chunks of 16 + 5 on the step kernel
      if (!c.second.bidirectional) rowExactForward(c.first, s);
    }
    ModelSpec deep = lm({cell(LayerType::Lstm), cell(LayerType::Gru), dense(29, Activation::Tanh)});
    deep.inputSize = 23;
    deep.layers.back().units = 23;
    rowExactForward("lstm + gru + dense tanh", deep);
    rowExactForward("lstm + gru + dense tanh, with a condition", deep, true);
    ModelSpec emb = lm({embedding(21), cell(LayerType::Lstm)});
    emb.inputSize = 23;
    emb.layers.back().units = 23;
    rowExactForward("embedding + lstm", emb);
    // products big enough to split across the pool, over several packed panels, the
    // GRU's n-gate panels starting at 2H
    for (const auto& [name, t, f] : std::vector<std::tuple<std::string, LayerType, std::function<void(LayerSpec&)>>>{
             {"lstm 200", LayerType::Lstm, nullptr},
             {"gru reset before 150", LayerType::Gru, [](LayerSpec& l) { l.resetAfter = false; }},
             {"lstm full peephole 90", LayerType::Lstm, [](LayerSpec& l) { l.peephole = Peephole::Full; }}}) {
      const int units = name == "lstm 200" ? 200 : name == "gru reset before 150" ? 150 : 90;
      ModelSpec big = lm({rec(t, [&](LayerSpec& l) {
        l.units = units;
        if (f) f(l);
      })});
      big.inputSize = 23;
      big.layers.back().units = 23;
      rowExactForward(name, big);
    }
  }
  gradcheck("rnn tanh", lm({rec(LayerType::Rnn)}));
  gradcheck("rnn relu", lm({rec(LayerType::Rnn, [](LayerSpec& l) { l.activation = Activation::Relu; })}));
  gradcheck("gru resetAfter", lm({rec(LayerType::Gru)}));
  gradcheck("gru reset before", lm({rec(LayerType::Gru, [](LayerSpec& l) { l.resetAfter = false; })}));
  gradcheck("gru minimal", lm({rec(LayerType::Gru, [](LayerSpec& l) { l.gruMinimal = true; })}));
  gradcheck("lstm", lm({rec(LayerType::Lstm)}));
  gradcheck("lstm diagonal peephole",
            lm({rec(LayerType::Lstm, [](LayerSpec& l) { l.peephole = Peephole::Diagonal; })}));
  gradcheck("lstm full peephole", lm({rec(LayerType::Lstm, [](LayerSpec& l) { l.peephole = Peephole::Full; })}));
  gradcheck("bidirectional lstm + gru stack", lm({rec(LayerType::Lstm, [](LayerSpec& l) { l.bidirectional = true; }),
                                                  rec(LayerType::Gru, [](LayerSpec& l) { l.bidirectional = true; })}));
  gradcheck("embedding + lstm", lm({embedding(4), rec(LayerType::Lstm)}));
  gradcheck("embedding + bidirectional gru, 21 rows (split)",
            lm({embedding(4), rec(LayerType::Gru, [](LayerSpec& l) { l.bidirectional = true; })}), 21);
  {
    ModelSpec tied = lm({embedding(3), rec(LayerType::Lstm)});
    tied.layers.back().tieEmbedding = true;  // dense (5, 3) is the embedding table
    gradcheck("embedding + lstm + tied dense", tied);
    tied.layers.back().activation = Activation::Linear;
    gradcheck("embedding + lstm + tied dense, 21 rows (split)", tied, 21);
    tied.inputSize = 23;
    tied.layers = {embedding(19), rec(LayerType::Lstm, [](LayerSpec& l) { l.units = 19; }),
                   dense(23, Activation::Linear)};
    tied.layers.back().tieEmbedding = true;
    floatMatchesDouble("embedding + lstm + tied dense", tied, 3);
    floatMatchesDouble("embedding + lstm + tied dense", tied, 21);
  }
  {
    // a sparse table (layers.embedding({ sparse: true })): the same gradient; its float step
    // (SparseAdam on the used rows, Adam on the rest) at this ISA level against the double one
    ModelSpec sp = lm({embedding(4), rec(LayerType::Lstm)});
    sp.layers[0].sparse = true;
    gradcheck("sparse embedding + lstm", sp);
    sp.inputSize = 23;
    sp.layers = {embedding(19), rec(LayerType::Lstm, [](LayerSpec& l) { l.units = 19; }),
                 dense(23, Activation::Linear)};
    sp.layers[0].sparse = true;
    floatMatchesDouble("sparse embedding + lstm", sp, 3);
    floatMatchesDouble("sparse embedding + lstm", sp, 21);
    // label smoothing: its loss row (the float clone at this level) through a step
    floatMatchesDouble("sparse embedding + lstm, label smoothing 0.1", sp, 21, 0.1);
  }
  gradcheck("lstm, crossEntropy with label smoothing 0.2", lm({rec(LayerType::Lstm)}), 3, 0.2);
  gradcheck("embedding + gru, label smoothing 0.1, 21 rows (split)", lm({embedding(4), rec(LayerType::Gru)}), 21, 0.1);
  checkPaddingRow();
  checkFrozenEmbedding();
  {
    // variational dropout: fixed masks within one gradients() call (the step counter does not move)
    auto drop = [](LayerType t, double inRate, double recRate, std::function<void(LayerSpec&)> f = nullptr) {
      return rec(t, [=](LayerSpec& l) {
        l.inputDropout = inRate;
        l.recurrentDropout = recRate;
        if (f) f(l);
      });
    };
    gradcheck("lstm, recurrent dropout 0.3", lm({drop(LayerType::Lstm, 0, 0.3)}));
    gradcheck("gru resetAfter, recurrent dropout 0.3", lm({drop(LayerType::Gru, 0, 0.3)}));
    gradcheck("gru minimal, recurrent dropout 0.4",
              lm({drop(LayerType::Gru, 0, 0.4, [](LayerSpec& l) { l.gruMinimal = true; })}));
    gradcheck("embedding + rnn, input and recurrent dropout", lm({embedding(4), drop(LayerType::Rnn, 0.4, 0.3)}));
    gradcheck("lstm + bidirectional gru with input and recurrent dropout, 21 rows (split)",
              lm({drop(LayerType::Lstm, 0, 0.25, [](LayerSpec& l) { l.peephole = Peephole::Full; }),
                  drop(LayerType::Gru, 0.3, 0.3, [](LayerSpec& l) { l.bidirectional = true; })}),
              21);
    ModelSpec s = lm({embedding(19), drop(LayerType::Lstm, 0.3, 0.3, [](LayerSpec& l) { l.units = 19; })});
    s.inputSize = 23;
    s.layers.back().units = 23;
    setThreadCount(2);
    floatMatchesDouble("embedding + lstm, input and recurrent dropout", s, 3);
    floatMatchesDouble("embedding + lstm, input and recurrent dropout", s, 21);
    checkDropoutOff();
    for (AttentionScore a : {AttentionScore::Dot, AttentionScore::General, AttentionScore::Additive}) checkAttention(a);
  }
  gradcheckCondition("lstm", lm({rec(LayerType::Lstm)}));
  gradcheckCondition("bidirectional gru + rnn",
                     lm({rec(LayerType::Gru, [](LayerSpec& l) { l.bidirectional = true; }), rec(LayerType::Rnn)}));
  {
    // encoder-like stacks: the gradient enters at the final states (and the output)
    ModelSpec s;
    s.tokens = true;
    s.inputSize = 6;
    s.loss = LossType::Mse;
    s.layers = {rec(LayerType::Lstm, [](LayerSpec& l) { l.bidirectional = true; }), rec(LayerType::Gru)};
    checkBackwardFrom("bidirectional lstm + gru, sequence output", s);
    s.layers = {rec(LayerType::Gru), rec(LayerType::Lstm, [](LayerSpec& l) {
                  l.returnSequences = false;
                  l.peephole = Peephole::Diagonal;
                })};
    checkBackwardFrom("gru + peephole lstm, last-step output", s);
  }
  {
    // V > T*B: the token gather and its scatter take the strided path (no transposed table).
    ModelSpec s = lm({rec(LayerType::Gru), rec(LayerType::Lstm)});
    s.inputSize = 29;
    gradcheck("large vocabulary (strided gather) gru + lstm", s);
    s.layers = {dense(4, Activation::Tanh), dense(5, Activation::Softmax)};
    gradcheck("large vocabulary into a dense layer", s);
  }
  {
    ModelSpec s;
    s.tokens = false;
    s.inputSize = 2;
    s.loss = LossType::BinaryCrossEntropy;
    s.layers = {rec(LayerType::Gru,
                    [](LayerSpec& l) {
                      l.bidirectional = true;
                      l.returnSequences = false;
                    }),
                dense(2, Activation::Sigmoid)};
    gradcheck("many-to-one bidirectional gru + binary cross-entropy", s);
    s.loss = LossType::Mse;
    s.reduction = Reduction::Sum;
    s.layers.back() = dense(2, Activation::Tanh);
    gradcheck("many-to-one mse sum", s);
  }
  // Batches of 21 rows split into row chunks of 16 + 5 across two threads (the
  // step kernel's 8-row tiles plus single rows), every cell, 9 units so the gate
  // widths leave partial vectors; both directions.
  setThreadCount(2);
  auto wide = [](LayerType t, std::function<void(LayerSpec&)> f = nullptr) {
    return rec(t, [f](LayerSpec& l) {
      l.units = 9;
      l.bidirectional = true;
      if (f) f(l);
    });
  };
  gradcheck("row-split rnn relu", lm({wide(LayerType::Rnn, [](LayerSpec& l) { l.activation = Activation::Relu; })}),
            21);
  gradcheck("row-split gru resetAfter", lm({wide(LayerType::Gru)}), 21);
  gradcheck("row-split gru reset before", lm({wide(LayerType::Gru, [](LayerSpec& l) { l.resetAfter = false; })}), 21);
  gradcheck("row-split gru minimal", lm({wide(LayerType::Gru, [](LayerSpec& l) { l.gruMinimal = true; })}), 21);
  gradcheck("row-split lstm", lm({wide(LayerType::Lstm)}), 21);
  gradcheck("row-split lstm diagonal peephole",
            lm({wide(LayerType::Lstm, [](LayerSpec& l) { l.peephole = Peephole::Diagonal; })}), 21);
  gradcheck("row-split lstm full peephole",
            lm({wide(LayerType::Lstm, [](LayerSpec& l) { l.peephole = Peephole::Full; })}), 21);
  checkJointStep(lm({rec(LayerType::Gru)}));
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
