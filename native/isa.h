// Kernels compiled once per instruction-set level and chosen by isa() (native/cpu.h)
// at each call: a switch on a constant, where GCC's target_clones would pick by the
// CPU alone. Choosing by isa() lets the core tests force every level
// (RNNKIT_ISA=avx2 / baseline) on one machine, so each clone a kernel adds is tested.
//
// The body is an always_inline template or function: GCC inlines a baseline
// function into a caller with more target features, and vectorises it there for
// that caller's level (native/ops.h explains why the math helpers are always_inline).
#pragma once
#include "cpu.h"

#if defined(__x86_64__) || defined(__i386__)
#define RNNKIT_TARGET_AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")))
#define RNNKIT_TARGET_AVX2 __attribute__((target("avx2,fma")))
#else
#define RNNKIT_TARGET_AVX512
#define RNNKIT_TARGET_AVX2
#endif

// Defines `ret name params` that runs `impl args` compiled for AVX-512, AVX2 + FMA
// and baseline, the one for isa(). `args` names the parameters in order.
// Example: RNNKIT_ISA_DISPATCH(void, scale, (int n, float* x), (n, x), scaleImpl<float>)
#define RNNKIT_ISA_DISPATCH(ret, name, params, args, impl)                  \
  RNNKIT_TARGET_AVX512 static ret name##Avx512 params { return impl args; } \
  RNNKIT_TARGET_AVX2 static ret name##Avx2 params { return impl args; }     \
  static ret name##Baseline params { return impl args; }                    \
  ret name params {                                                         \
    switch (::rnnkit::isa()) {                                              \
      case ::rnnkit::Isa::Avx512: return name##Avx512 args;                 \
      case ::rnnkit::Isa::Avx2: return name##Avx2 args;                     \
      default: return name##Baseline args;                                  \
    }                                                                       \
  }
