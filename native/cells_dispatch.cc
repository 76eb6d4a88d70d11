#include "cells_dispatch.h"

namespace rnnkit {
namespace cells {
namespace fast {

#define RNNKIT_CLONES __attribute__((target_clones("avx512f", "arch=haswell", "default")))

RNNKIT_CLONES void rnnForward(int H, bool relu, const float* a, const float* q, const float* bhh, float* h) {
  cells::rnnForward<float>(H, relu, a, q, bhh, h);
}
RNNKIT_CLONES void rnnBackward(int H, bool relu, const float* h, const float* dh, float* g, float* dhPrev) {
  cells::rnnBackward<float>(H, relu, h, dh, g, dhPrev);
}
RNNKIT_CLONES void lstmForward(int H, float* a, const float* q, const float* bhh, const float* cp, const float* peep,
                               const float* full, float* c, float* tc, float* h) {
  cells::lstmForward<float>(H, a, q, bhh, cp, peep, full, c, tc, h);
}
RNNKIT_CLONES void lstmBackward(int H, const float* a, const float* cp, const float* c, const float* tc,
                                const float* dh, const float* dc, const float* peep, float* g, float* dcPrev,
                                float* dhPrev, float* dPeep) {
  cells::lstmBackward<float>(H, a, cp, c, tc, dh, dc, peep, g, dcPrev, dhPrev, dPeep);
}
RNNKIT_CLONES void gruMinimalForward(int H, float* a, const float* q, const float* bhh, const float* hp, float* h) {
  cells::gruMinimalForward<float>(H, a, q, bhh, hp, h);
}
RNNKIT_CLONES void gruMinimalBackward(int H, const float* a, const float* hp, const float* dh, float* g,
                                      float* dhPrev) {
  cells::gruMinimalBackward<float>(H, a, hp, dh, g, dhPrev);
}
RNNKIT_CLONES void gruAfterForward(int H, float* a, const float* q, const float* bhh, const float* hp, float* hn,
                                   float* h) {
  cells::gruAfterForward<float>(H, a, q, bhh, hp, hn, h);
}
RNNKIT_CLONES void gruAfterBackward(int H, const float* a, const float* hn, const float* hp, const float* dh, float* g,
                                    float* gh, float* dhPrev) {
  cells::gruAfterBackward<float>(H, a, hn, hp, dh, g, gh, dhPrev);
}
RNNKIT_CLONES void gruBeforeGates(int H, float* a, const float* q, const float* bhh, const float* hp, float* rh) {
  cells::gruBeforeGates<float>(H, a, q, bhh, hp, rh);
}
RNNKIT_CLONES void gruBeforeOutput(int H, float* a, const float* qn, const float* bhn, const float* hp, float* h) {
  cells::gruBeforeOutput<float>(H, a, qn, bhn, hp, h);
}
RNNKIT_CLONES void gruBeforeBackwardOutput(int H, const float* a, const float* hp, const float* dh, float* g,
                                           float* dhPrev) {
  cells::gruBeforeBackwardOutput<float>(H, a, hp, dh, g, dhPrev);
}
RNNKIT_CLONES void gruBeforeBackwardGates(int H, const float* a, const float* hp, const float* drh, float* g,
                                          float* dhPrev) {
  cells::gruBeforeBackwardGates<float>(H, a, hp, drh, g, dhPrev);
}

}  // namespace fast
}  // namespace cells
}  // namespace rnnkit
