// What the CPU can run, read once, and the instruction-set level rnnkit's own
// kernels use (the step GEMM, the small-row products, the gate kernels, the
// optimizer and the loss rows).
//
// Kernels are compiled for three levels: AVX-512 (F, BW, DQ, VL), AVX2 + FMA,
// and baseline x86-64 (SSE2). The level is chosen from the CPU's features, as
// the OS reports them usable (GCC's __builtin_cpu_supports reads CPUID and
// XGETBV), never from the CPU model: OpenBLAS 0.3.21 picks its kernels by model
// and falls back to SSE3 kernels on CPUs it does not know (issue 12).
//
// RNNKIT_ISA=avx512|avx2|baseline, read once at load, lowers the level (never
// above what the CPU supports): the core tests run once per level so that every
// clone a kernel adds is tested, and a user can rule out a suspect clone.
#pragma once
#include <string>

namespace rnnkit {

struct CpuFeatures {
  bool avx = false, avx2 = false, fma = false;
  bool avx512f = false, avx512bw = false, avx512dq = false, avx512vl = false;
  bool avx512bf16 = false;  // Cooper Lake / Zen 4 and later (OpenBLAS's Cooperlake kernels)
  std::string vendor;       // "GenuineIntel", "AuthenticAMD", ... ("" off x86)
};

enum class Isa { Baseline = 0, Avx2 = 1, Avx512 = 2 };

// The features of the CPU this process runs on (read on first use, then constant).
const CpuFeatures& cpuFeatures();

// The best level the features allow.
Isa isaSupported(const CpuFeatures& f);

// The level the kernels run at: isaSupported(cpuFeatures()), lowered by RNNKIT_ISA.
// Read once; constant for the life of the process.
Isa isa();

const char* isaName(Isa level);  // "avx512", "avx2", "baseline"

// Parses an RNNKIT_ISA value; returns false for anything else.
bool parseIsa(const std::string& name, Isa& out);

}  // namespace rnnkit
