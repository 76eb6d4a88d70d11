#include "cpu.h"

#include <cstdlib>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace rnnkit {
namespace {

CpuFeatures readFeatures() {
  CpuFeatures f;
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  // __builtin_cpu_supports also checks XCR0: a feature whose registers the OS does not save
  // (AVX-512 state disabled in a VM) reads as absent, which is what a kernel needs to know.
  f.avx = __builtin_cpu_supports("avx");
  f.avx2 = __builtin_cpu_supports("avx2");
  f.fma = __builtin_cpu_supports("fma");
  f.avx512f = __builtin_cpu_supports("avx512f");
  f.avx512bw = __builtin_cpu_supports("avx512bw");
  f.avx512dq = __builtin_cpu_supports("avx512dq");
  f.avx512vl = __builtin_cpu_supports("avx512vl");
  f.avx512bf16 = __builtin_cpu_supports("avx512bf16");
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (__get_cpuid(0, &a, &b, &c, &d)) {
    char v[13];
    std::memcpy(v, &b, 4);
    std::memcpy(v + 4, &d, 4);
    std::memcpy(v + 8, &c, 4);
    v[12] = 0;
    f.vendor = v;
  }
#endif
  return f;
}

}  // namespace

const CpuFeatures& cpuFeatures() {
  static const CpuFeatures f = readFeatures();
  return f;
}

Isa isaSupported(const CpuFeatures& f) {
  if (f.avx512f && f.avx512bw && f.avx512dq && f.avx512vl) return Isa::Avx512;
  if (f.avx2 && f.fma) return Isa::Avx2;
  return Isa::Baseline;
}

bool parseIsa(const std::string& name, Isa& out) {
  if (name == "avx512") out = Isa::Avx512;
  else if (name == "avx2") out = Isa::Avx2;
  else if (name == "baseline") out = Isa::Baseline;
  else return false;
  return true;
}

Isa isa() {
  static const Isa level = [] {
    Isa best = isaSupported(cpuFeatures()), asked;
    const char* env = std::getenv("RNNKIT_ISA");
    if (env && *env && parseIsa(env, asked) && asked < best) return asked;
    return best;
  }();
  return level;
}

const char* isaName(Isa level) {
  switch (level) {
    case Isa::Avx512: return "avx512";
    case Isa::Avx2: return "avx2";
    default: return "baseline";
  }
}

}  // namespace rnnkit
