// Tests of OpenBLAS's core choice (native/blas_core.h), without Node:
// - the pure decision on recorded cases (CPU features, OpenBLAS's pick, the user's OPENBLAS_CORETYPE);
// - the switch itself on the linked OpenBLAS: the core named afterwards, products still equal to the
//   naive reference, the environment left as it was, a core this OpenBLAS lacks refused.
// Prints one line "N passed, N failed" and exits non-zero on failure.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "blas.h"
#include "blas_core.h"
#include "rng.h"

using namespace rnnkit;

static int passed = 0, failed = 0;

static void check(bool ok, const std::string& name, const std::string& detail = "") {
  (ok ? passed : failed)++;
  std::printf("%s %s%s%s\n", ok ? "ok" : "FAIL", name.c_str(), detail.empty() ? "" : ": ", detail.c_str());
}

// Recorded CPUs (the flags __builtin_cpu_supports reports on each).
static CpuFeatures sseOnly() {  // an old Xeon, or a VM that hides AVX
  CpuFeatures f;
  f.vendor = "GenuineIntel";
  return f;
}
static CpuFeatures avxOnly() {  // Sandy Bridge / Ivy Bridge
  CpuFeatures f = sseOnly();
  f.avx = true;
  return f;
}
static CpuFeatures avx2Intel() {  // Haswell .. Comet Lake, Alder Lake (no AVX-512)
  CpuFeatures f = avxOnly();
  f.avx2 = f.fma = true;
  return f;
}
static CpuFeatures avx512Intel() {  // Skylake-SP .. Ice Lake-SP
  CpuFeatures f = avx2Intel();
  f.avx512f = f.avx512bw = f.avx512dq = f.avx512vl = true;
  return f;
}
static CpuFeatures avx512bf16Intel() {  // Cooper Lake, Sapphire Rapids and later
  CpuFeatures f = avx512Intel();
  f.avx512bf16 = true;
  return f;
}
static CpuFeatures zen4() {  // AMD EPYC 9004 / Ryzen 7000: AVX-512 with BF16
  CpuFeatures f = avx512bf16Intel();
  f.vendor = "AuthenticAMD";
  return f;
}
static CpuFeatures zen3() {  // AMD EPYC 7003: AVX2 + FMA, no AVX-512
  CpuFeatures f = avx2Intel();
  f.vendor = "AuthenticAMD";
  return f;
}
static CpuFeatures knightsLanding() {  // AVX-512 F without BW/DQ/VL: rnnkit's AVX-512 level needs all four
  CpuFeatures f = avx2Intel();
  f.avx512f = true;
  return f;
}

static void expectDecision(const std::string& name, const CpuFeatures& f, const std::string& detected, const char* user,
                           const std::string& core, const std::string& by) {
  const BlasCoreDecision d = decideBlasCore(f, detected, user);
  check(d.core == core && d.chosenBy == by, "decision: " + name,
        "got " + d.core + " by " + d.chosenBy + ", want " + core + " by " + by);
}

static void testDecisions() {
  // the cases
  expectDecision("Intel CPU with AVX-512 reported as Prescott", avx512Intel(), "Prescott", nullptr, "SkylakeX",
                 "rnnkit");
  expectDecision("AMD Zen 4 with OPENBLAS_CORETYPE=Haswell set by the user", zen4(), "Haswell", "Haswell", "Haswell",
                 "user");
  expectDecision("AVX2-only CPU reported as Prescott", avx2Intel(), "Prescott", nullptr, "Haswell", "rnnkit");
  expectDecision("SSE-only CPU keeps OpenBLAS's pick", sseOnly(), "Prescott", nullptr, "Prescott", "openblas");
  expectDecision("AVX-512 CPU reported as SkylakeX is left alone", avx512Intel(), "SkylakeX", nullptr, "SkylakeX",
                 "openblas");
  // weaker classes on capable CPUs
  expectDecision("AVX-512 + BF16 CPU reported as Prescott gets Cooperlake", avx512bf16Intel(), "Prescott", nullptr,
                 "Cooperlake", "rnnkit");
  expectDecision("AVX-512 CPU reported as Nehalem", avx512Intel(), "Nehalem", nullptr, "SkylakeX", "rnnkit");
  expectDecision("AVX-512 CPU reported as Sandybridge", avx512Intel(), "Sandybridge", nullptr, "SkylakeX", "rnnkit");
  expectDecision("AVX-512 CPU reported as Haswell (AVX2 class)", avx512Intel(), "Haswell", nullptr, "SkylakeX",
                 "rnnkit");
  expectDecision("AMD Zen 4 reported as Zen (AVX2 class)", zen4(), "Zen", nullptr, "Cooperlake", "rnnkit");
  expectDecision("AVX2 CPU reported as Sandybridge", avx2Intel(), "Sandybridge", nullptr, "Haswell", "rnnkit");
  expectDecision("AMD Zen 3 reported as Barcelona", zen3(), "Barcelona", nullptr, "Haswell", "rnnkit");
  expectDecision("AVX-512 F without BW/DQ/VL reported as Prescott gets the AVX2 class", knightsLanding(), "Prescott",
                 nullptr, "Haswell", "rnnkit");
  // picks already in the right class (or better than the features, or unknown) are left alone
  expectDecision("AMD Zen 4 reported as Cooperlake", zen4(), "Cooperlake", nullptr, "Cooperlake", "openblas");
  expectDecision("AVX-512 + BF16 CPU reported as SkylakeX (same class)", avx512bf16Intel(), "SkylakeX", nullptr,
                 "SkylakeX", "openblas");
  expectDecision("AVX-512 CPU reported as SapphireRapids", avx512bf16Intel(), "SapphireRapids", nullptr,
                 "SapphireRapids", "openblas");
  expectDecision("AMD Zen 3 reported as Zen", zen3(), "Zen", nullptr, "Zen", "openblas");
  expectDecision("AVX2 CPU reported as Haswell", avx2Intel(), "Haswell", nullptr, "Haswell", "openblas");
  expectDecision("AVX-only CPU reported as Sandybridge", avxOnly(), "Sandybridge", nullptr, "Sandybridge", "openblas");
  expectDecision("AVX-only CPU reported as Prescott (no AVX2 class to reach)", avxOnly(), "Prescott", nullptr,
                 "Prescott", "openblas");
  expectDecision("a core rnnkit does not know is never replaced", avx512Intel(), "NeoverseN1", nullptr, "NeoverseN1",
                 "openblas");
  // the user's variable
  expectDecision("user's Prescott on an AVX-512 CPU is respected", avx512Intel(), "Prescott", "Prescott", "Prescott",
                 "user");
  expectDecision("user's variable in another case is respected", zen4(), "Haswell", "haswell", "Haswell", "user");
  expectDecision("an empty OPENBLAS_CORETYPE counts as unset", avx512Intel(), "Prescott", "", "SkylakeX", "rnnkit");
  expectDecision("core names compare case-insensitively", avx512Intel(), "skylakex", nullptr, "skylakex", "openblas");
}

// sgemm through the seam against the naive reference, at a size OpenBLAS blocks (not its small-matrix path).
// beta = 0.5: a product the seam always gives OpenBLAS (blas.h ownLargeGemm), whatever the core.
static double gemmError() {
  const int M = 67, N = 129, K = 300;
  Rng rng(3);
  std::vector<float> A((size_t)M * K), B((size_t)N * K), C((size_t)M * N), R((size_t)M * N);
  for (auto& v : A) v = (float)(rng.uniform() - 0.5);
  for (auto& v : B) v = (float)(rng.uniform() - 0.5);
  for (size_t i = 0; i < C.size(); ++i) C[i] = R[i] = (float)(rng.uniform() - 0.5);
  gemm<float>(false, true, M, N, K, 1.f, A.data(), K, B.data(), K, 0.5f, C.data(), N);
  gemmReference<float>(false, true, M, N, K, 1.f, A.data(), K, B.data(), K, 0.5f, R.data(), N);
  double worst = 0;
  for (size_t i = 0; i < C.size(); ++i) worst = std::max(worst, (double)std::fabs(C[i] - R[i]));
  return worst;
}

static std::string envOr(const char* name, const char* unset) {
  const char* v = std::getenv(name);
  return v ? v : unset;
}

static void testSwitch() {
#if defined(__x86_64__)
  const std::string start = blasCoreName();
  const std::string env0 = envOr("OPENBLAS_CORETYPE", "(unset)");
  // Prescott (SSE3) runs on every x86-64 CPU; the decision's pick runs on this one by construction.
  const bool toPrescott = switchBlasCore("Prescott");
  check(toPrescott && blasCoreName() == "Prescott", "switch to Prescott", "now " + blasCoreName());
  check(gemmError() < 1e-4, "sgemm under Prescott equals the reference");
  check(envOr("OPENBLAS_CORETYPE", "(unset)") == env0, "the switch leaves OPENBLAS_CORETYPE as it was",
        envOr("OPENBLAS_CORETYPE", "(unset)"));

  const bool unknown = switchBlasCore("NoSuchCore");
  check(!unknown && blasCoreName() == "Prescott", "an unknown core is refused, core unchanged",
        "now " + blasCoreName());

  const BlasCoreState s = applyBlasCore(cpuFeatures(), nullptr, "Prescott");
  const BlasCoreDecision want = decideBlasCore(cpuFeatures(), "Prescott", nullptr);
  check(s.detected == "Prescott" && s.core == want.core && s.chosenBy == want.chosenBy && s.wanted.empty(),
        "load step, OpenBLAS picked Prescott by itself (simulated): switched per the decision",
        "detected " + s.detected + ", core " + s.core + " by " + s.chosenBy + ", want " + want.core);
  check(gemmError() < 1e-4, "sgemm under " + blasCoreName() + " equals the reference");

  // an OpenBLAS that cannot switch: OpenBLAS's pick stays, and the state names the core wanted
  switchBlasCore("Prescott");
  const BlasCoreState stuck = applyBlasCore(cpuFeatures(), nullptr, nullptr, [](const std::string&) { return false; });
  const bool wants = want.chosenBy == "rnnkit";
  check(stuck.detected == "Prescott" && stuck.core == "Prescott" && stuck.chosenBy == "openblas" &&
            stuck.wanted == (wants ? want.core : ""),
        "load step where the switch fails: OpenBLAS's pick stays, the wanted core is reported",
        "core " + stuck.core + " by " + stuck.chosenBy + ", wanted '" + stuck.wanted + "'");
  switchBlasCore(s.core);

  setenv("OPENBLAS_CORETYPE", "Prescott", 1);
  const BlasCoreState u = applyBlasCore(cpuFeatures(), "Prescott", "Haswell");
  check(u.chosenBy == "user" && u.core == s.core && u.detected == s.core,
        "load step with the user's variable: nothing switched, the simulation ignored",
        "core " + u.core + " by " + u.chosenBy);
  check(envOr("OPENBLAS_CORETYPE", "(unset)") == "Prescott", "the user's OPENBLAS_CORETYPE is left as it was");
  check(switchBlasCore("Prescott") && envOr("OPENBLAS_CORETYPE", "(unset)") == "Prescott",
        "a switch puts back the user's value too");
  if (env0 == "(unset)") unsetenv("OPENBLAS_CORETYPE");
  else setenv("OPENBLAS_CORETYPE", env0.c_str(), 1);

  const bool back = switchBlasCore(start);
  check(back && blasCoreName() == start, "switch back to " + start, "now " + blasCoreName());
#else
  check(!switchBlasCore("Prescott"), "no x86 core tables off x86-64: the switch is refused");
#endif
}

static void expectOwn(Isa level, const std::string& core, bool own) {
  check(ownKernelsOutrank(level, core) == own, std::string("large products at ") + isaName(level) +
                                                   " with OpenBLAS's " + core + ": " +
                                                   (own ? "rnnkit's kernels" : "OpenBLAS"));
}

// Which kernels run the large products (blas.h ownLargeGemm): rnnkit's only in a stronger class.
static void testOwnKernels() {
  expectOwn(Isa::Avx512, "Haswell", true);  // the user's Haswell on an AVX-512 CPU
  expectOwn(Isa::Avx512, "Zen", true);
  expectOwn(Isa::Avx512, "Prescott", true);
  expectOwn(Isa::Avx512, "SkylakeX", false);
  expectOwn(Isa::Avx512, "cooperlake", false);
  expectOwn(Isa::Avx2, "Haswell", false);  // OpenBLAS's Haswell kernels beat rnnkit's AVX2 clone
  expectOwn(Isa::Avx2, "Sandybridge", true);
  expectOwn(Isa::Avx2, "Prescott", true);
  expectOwn(Isa::Baseline, "Prescott", false);
  expectOwn(Isa::Avx512, "NeoverseN1", false);  // a core rnnkit does not know
}

int main() {
  testDecisions();
  testOwnKernels();
  testSwitch();
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
