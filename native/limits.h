// The limits that more than one layer enforces: the core and the binding read them
// here, the TypeScript layer from lib/limits.ts. The binding exports this table as
// `limits` and test/limits.test.ts proves the two tables identical, so a limit is
// changed in both places or the test fails.
#pragma once
#include <cstddef>

namespace rnnkit {
namespace limits {

constexpr int kMaxInputSize = 1 << 24;             // vocabulary size, feature count, condition features
constexpr int kMaxUnits = 1 << 16;                 // units of a recurrent or dense layer
constexpr int kMaxLayers = 1024;                   // layers of one model
constexpr int kMaxRows = 1 << 24;                  // B of one batch
constexpr int kMaxSteps = 1 << 24;                 // T of one batch
constexpr size_t kMaxPositions = (size_t)1 << 28;  // B * T of one batch
constexpr size_t kMaxParams = (size_t)1 << 31;     // parameters of one model
constexpr int kMaxSamples = 100000;                // generate: sequences per call (n)
constexpr int kMaxGenerateLength = 1000000;        // generate: tokens per sequence (maxLength)
constexpr double kMaxSampledTokens = 1e8;          // generate: n x maxLength (one call cannot be cancelled)
constexpr int kMaxTopK = 1 << 24;                  // generate: topK
constexpr size_t kMaxIdList = (size_t)1 << 20;     // generate: prime, stopTokens, banTokens
// momentum, beta1, beta2 and a dropout rate lie in [0, kUnitOpenMax): at 1 a momentum
// buffer or an Adam moment never forgets (it grows without bound), a dropout drops all.
constexpr double kUnitOpenMax = 1;

}  // namespace limits
}  // namespace rnnkit
