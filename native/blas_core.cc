#include "blas_core.h"

#include <strings.h>

#include <cstdlib>
#include <mutex>
#include <optional>

#include "blas.h"

// OpenBLAS's DYNAMIC_ARCH internals (driver/others/dynamic.c), as weak references: a build against
// an OpenBLAS without them (a single-target build, another BLAS behind the same cblas.h) still links,
// the addresses read as null and switchBlasCore reports that it cannot switch.
// - gotoblas_<CORE>: each core's kernel table (its functions and blocking sizes);
// - gotoblas_dynamic_quit(): forgets the active table (gotoblas = NULL);
// - gotoblas_dynamic_init(): when none is active, picks one (by OPENBLAS_CORETYPE when set, else by
//   CPU model) and runs that table's init(), which sets its blocking sizes (P, Q, R) from the caches.
// - blas_memory_alloc() / blas_memory_free(): OpenBLAS's buffer pool. Its first call, under a lock, also
//   runs gotoblas_dynamic_init(); each OpenBLAS worker thread makes that first call when it starts.
// Setting the active table by hand would skip that init(), whose offset in the table differs between
// OpenBLAS versions and build options; so the switch goes through OpenBLAS's own init.
extern "C" {
struct rnnkit_gotoblas_table;  // opaque: only the addresses are used
// clang-format off
// (symbol suffix, OpenBLAS's name for the core, the instruction-set class of its kernels)
#define RNNKIT_GOTOBLAS_TABLES(X)                  \
  X(KATMAI, "Katmai", Sse)                         \
  X(COPPERMINE, "Coppermine", Sse)                 \
  X(NORTHWOOD, "Northwood", Sse)                   \
  X(PRESCOTT, "Prescott", Sse)                     \
  X(BANIAS, "Banias", Sse)                         \
  X(ATOM, "Atom", Sse)                             \
  X(CORE2, "Core2", Sse)                           \
  X(PENRYN, "Penryn", Sse)                         \
  X(DUNNINGTON, "Dunnington", Sse)                 \
  X(NEHALEM, "Nehalem", Sse)                       \
  X(ATHLON, "Athlon", Sse)                         \
  X(OPTERON, "Opteron", Sse)                       \
  X(OPTERON_SSE3, "Opteron_SSE3", Sse)             \
  X(BARCELONA, "Barcelona", Sse)                   \
  X(NANO, "Nano", Sse)                             \
  X(BOBCAT, "Bobcat", Sse)                         \
  X(SANDYBRIDGE, "Sandybridge", Avx)               \
  X(BULLDOZER, "Bulldozer", Avx)                   \
  X(PILEDRIVER, "Piledriver", Avx)                 \
  X(STEAMROLLER, "Steamroller", Avx)               \
  X(EXCAVATOR, "Excavator", Avx)                   \
  X(HASWELL, "Haswell", Avx2)                      \
  X(ZEN, "Zen", Avx2)                              \
  X(SKYLAKEX, "SkylakeX", Avx512)                  \
  X(COOPERLAKE, "Cooperlake", Avx512)              \
  X(SAPPHIRERAPIDS, "SapphireRapids", Avx512)
// clang-format on
#define RNNKIT_DECLARE_TABLE(SYM, NAME, CLASS) extern rnnkit_gotoblas_table gotoblas_##SYM __attribute__((weak));
RNNKIT_GOTOBLAS_TABLES(RNNKIT_DECLARE_TABLE)
#undef RNNKIT_DECLARE_TABLE
void gotoblas_dynamic_init(void) __attribute__((weak));
void gotoblas_dynamic_quit(void) __attribute__((weak));
void* blas_memory_alloc(int procpos) __attribute__((weak));
void blas_memory_free(void* area) __attribute__((weak));
}

namespace rnnkit {
namespace {

// The instruction-set class of a core's kernels, weakest first.
enum class CoreClass { Sse = 0, Avx = 1, Avx2 = 2, Avx512 = 3 };

struct CoreEntry {
  const char* name;  // as openblas_get_corename() and OPENBLAS_CORETYPE spell it (case-insensitive)
  CoreClass cls;
  const void* table;  // null when this OpenBLAS lacks the core
};

const CoreEntry kCores[] = {
#define RNNKIT_CORE_ENTRY(SYM, NAME, CLASS) {NAME, CoreClass::CLASS, &gotoblas_##SYM},
    RNNKIT_GOTOBLAS_TABLES(RNNKIT_CORE_ENTRY)
#undef RNNKIT_CORE_ENTRY
};

bool sameName(const std::string& a, const char* b) { return strcasecmp(a.c_str(), b) == 0; }

// The entry of a core name; null for a name rnnkit does not know (another architecture, a newer core).
const CoreEntry* findCore(const std::string& name) {
  for (const CoreEntry& e : kCores)
    if (sameName(name, e.name)) return &e;
  return nullptr;
}

// Re-runs OpenBLAS's core selection with OPENBLAS_CORETYPE=name, then puts the variable back as it
// was (child processes inherit the environment; the user's setting, or its absence, must survive).
// setenv is not synchronised with a getenv on another thread; this runs once per process, at the first
// load of the addon, before rnnkit has started any thread of its own.
// A worker thread that OpenBLAS started at load but the OS has not run yet makes the pool's first call
// later, and would run gotoblas_dynamic_init() itself if it found the table forgotten mid-switch (seen:
// 2 of 130 loads ended on the wrong core). So the pool is initialised here first, under its lock;
// after that no thread runs gotoblas_dynamic_init() but this one.
void reinitOpenBlas(const char* name) {
  blas_memory_free(blas_memory_alloc(0));
  const char* was = std::getenv("OPENBLAS_CORETYPE");
  const std::optional<std::string> saved = was ? std::optional<std::string>(was) : std::nullopt;
  setenv("OPENBLAS_CORETYPE", name, 1);
  gotoblas_dynamic_quit();
  gotoblas_dynamic_init();
  if (saved) setenv("OPENBLAS_CORETYPE", saved->c_str(), 1);
  else unsetenv("OPENBLAS_CORETYPE");
}

}  // namespace

BlasCoreDecision decideBlasCore(const CpuFeatures& f, const std::string& detected, const char* userCoreType) {
  if (userCoreType && *userCoreType) return {detected, "user"};
  const Isa level = isaSupported(f);
  const CoreEntry* now = findCore(detected);
  // A core rnnkit does not know may be newer than its table: never replace it.
  if (level == Isa::Baseline || !now) return {detected, "openblas"};
  const CoreClass want = level == Isa::Avx512 ? CoreClass::Avx512 : CoreClass::Avx2;
  if (now->cls >= want) return {detected, "openblas"};
  // OpenBLAS 0.3.21's OPENBLAS_CORETYPE does not list Cooperlake: asked for it, it warns (at
  // OPENBLAS_VERBOSE >= 1) and picks by features, which on an AVX512-BF16 CPU is Cooperlake.
  if (want == CoreClass::Avx512) return {f.avx512bf16 ? "Cooperlake" : "SkylakeX", "rnnkit"};
  return {"Haswell", "rnnkit"};
}

bool ownKernelsOutrank(Isa level, const std::string& core) {
  const CoreEntry* e = findCore(core);
  if (!e) return false;
  const CoreClass own = level == Isa::Avx512 ? CoreClass::Avx512
                        : level == Isa::Avx2 ? CoreClass::Avx2
                                             : CoreClass::Sse;
  return own > e->cls;
}

bool switchBlasCore(const std::string& core) {
  const CoreEntry* e = findCore(core);
  if (!e || !e->table || !gotoblas_dynamic_init || !gotoblas_dynamic_quit || !blas_memory_alloc || !blas_memory_free)
    return false;
  const std::string before = blasCoreName();
  if (sameName(before, e->name)) return true;
  reinitOpenBlas(e->name);
  if (sameName(blasCoreName(), e->name)) return true;
  reinitOpenBlas(before.c_str());  // OpenBLAS fell back to another core: restore the one that ran
  return false;
}

BlasCoreState applyBlasCore(const CpuFeatures& f, const char* userCoreType, const char* simulatedDetected,
                            BlasCoreSwitch switchTo) {
  const bool userSet = userCoreType && *userCoreType;
  if (!userSet && simulatedDetected && *simulatedDetected) switchTo(simulatedDetected);
  BlasCoreState s;
  s.detected = blasCoreName();
  const BlasCoreDecision d = decideBlasCore(f, s.detected, userCoreType);
  s.chosenBy = d.chosenBy;
  if (d.chosenBy == "rnnkit" && !switchTo(d.core)) {
    s.chosenBy = "openblas";
    s.wanted = d.core;
  }
  s.core = blasCoreName();
  return s;
}

const BlasCoreState& blasCoreAtLoad() {
  static std::once_flag once;
  static BlasCoreState state;
  std::call_once(once, [] {
    // copies: the switch rewrites the environment, which may move the strings getenv points at
    const char* user = std::getenv("OPENBLAS_CORETYPE");
    const char* simulated = std::getenv("RNNKIT_TEST_BLAS_DETECTED");
    const std::optional<std::string> u = user ? std::optional<std::string>(user) : std::nullopt;
    const std::optional<std::string> sim = simulated ? std::optional<std::string>(simulated) : std::nullopt;
    state = applyBlasCore(cpuFeatures(), u ? u->c_str() : nullptr, sim ? sim->c_str() : nullptr);
  });
  return state;
}

}  // namespace rnnkit
