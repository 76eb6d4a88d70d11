// Which of OpenBLAS's kernel sets ("cores": Prescott, Haswell, SkylakeX, ...) runs the products
// that go through the BLAS seam (native/blas.h), chosen by the CPU's features.
//
// OpenBLAS 0.3.21 (DYNAMIC_ARCH) picks its core by CPU model at load. On CPUs it does not know it
// can end on kernels far below what the CPU runs: a 16-core AVX-512 Xeon in a VM reported Prescott
// (SSE3), and Prescott kernels trained an LSTM-512 2.3x slower than SkylakeX kernels on one AVX-512
// machine (issue 12). So at addon load rnnkit compares OpenBLAS's pick with the CPU's features
// (native/cpu.h) and, when the pick is in a weaker class, makes OpenBLAS switch to the matching core.
// A user's OPENBLAS_CORETYPE is always respected: OpenBLAS has applied it already, rnnkit keeps it.
//
// Classes, weakest first: SSE (Prescott, Nehalem, Core2, Barcelona, ...), AVX (Sandybridge and the
// Bulldozer family), AVX2 (Haswell, Zen), AVX-512 (SkylakeX, Cooperlake, SapphireRapids).
#pragma once
#include <string>

#include "cpu.h"

namespace rnnkit {

// Who chose the core in use.
//   "user":     OPENBLAS_CORETYPE is set (non-empty); OpenBLAS applied it and rnnkit keeps it.
//   "openblas": OpenBLAS's own pick is already in the class the CPU's features allow (or rnnkit
//               wanted a better core but this OpenBLAS could not switch: see BlasCoreState::wanted).
//   "rnnkit":   OpenBLAS's pick was weaker than the features allow; rnnkit switched it.
struct BlasCoreDecision {
  std::string core;      // the core to run, as OpenBLAS names it ("SkylakeX", "Haswell", ...)
  std::string chosenBy;  // "user" | "openblas" | "rnnkit"
};

// The pure decision. detected: the core OpenBLAS runs now (openblas_get_corename()); userCoreType:
// the OPENBLAS_CORETYPE value, nullptr when unset (empty counts as unset: OpenBLAS then detects by
// itself too). An AVX-512 F/BW/DQ/VL CPU gets Cooperlake when it has AVX512-BF16, else SkylakeX; an
// AVX2 + FMA CPU gets Haswell; any other CPU keeps OpenBLAS's pick.
BlasCoreDecision decideBlasCore(const CpuFeatures& f, const std::string& detected, const char* userCoreType);

// Whether rnnkit's own kernels (native/stepgemm.h at `level`, isa()) should run the large products
// too, the ones the seam otherwise hands to OpenBLAS (native/blas.cc): when they are in a stronger
// instruction-set class than the OpenBLAS core `core` runs. That happens when a user's
// OPENBLAS_CORETYPE asks for weaker kernels than the CPU has (Haswell set on an AVX-512 machine, to
// avoid an OpenBLAS bug or to get one behaviour across a fleet), or when this OpenBLAS cannot switch
// to the core rnnkit wanted. A user's variable then still decides OpenBLAS's kernels; it no longer
// decides rnnkit's speed. Measured one thread, [640, 256] x [256, 256] products on an AVX-512 AMD EPYC
// (a one-off timing program; the end-to-end figures are in docs/install.md): stepGemm at avx512 200 GFLOP/s, OpenBLAS
// 205 with SkylakeX kernels and 109 with Haswell; at avx2 81 against Haswell's 100 and Prescott's 30; at baseline 37
// against Prescott's 30. So only a strictly stronger class takes over. A core rnnkit does not know keeps OpenBLAS.
bool ownKernelsOutrank(Isa level, const std::string& core);

// What happened at load, constant for the life of the process (info() reports it).
struct BlasCoreState {
  std::string detected;  // the core OpenBLAS picked by itself (or under the user's OPENBLAS_CORETYPE)
  std::string core;      // the core in use after the decision was applied
  std::string chosenBy;  // as BlasCoreDecision::chosenBy, after applying it
  std::string wanted;    // the core rnnkit chose but could not switch this OpenBLAS to; "" when none
};

// Makes the linked OpenBLAS run `core` from its next product on (it re-runs OpenBLAS's own
// initialisation of that core's kernel table and blocking sizes). Returns false, leaving the core
// unchanged, when this OpenBLAS cannot: built without DYNAMIC_ARCH (the symbols are looked up as weak
// references, so such a build still links), or without that core's kernels, or an unknown name.
// Not thread-safe with running products: call it only where none can run (addon load).
bool switchBlasCore(const std::string& core);

// The load-time step for a given environment: reads the core OpenBLAS runs, decides, switches when
// the decision says "rnnkit". simulatedDetected (tests only; the RNNKIT_TEST_BLAS_DETECTED variable)
// first switches OpenBLAS to that core, as if it had picked it by itself; ignored when the user set
// OPENBLAS_CORETYPE. The process environment is left as it was. switchTo is switchBlasCore except in
// tests (one that fails stands in for an OpenBLAS that cannot switch).
using BlasCoreSwitch = bool (*)(const std::string& core);
BlasCoreState applyBlasCore(const CpuFeatures& f, const char* userCoreType, const char* simulatedDetected,
                            BlasCoreSwitch switchTo = switchBlasCore);

// applyBlasCore for this process (cpuFeatures(), OPENBLAS_CORETYPE, RNNKIT_TEST_BLAS_DETECTED), run
// once per process under std::call_once (worker threads that load the addon again get the same
// state), before any product. Call it at addon load.
const BlasCoreState& blasCoreAtLoad();

}  // namespace rnnkit
