#include "cells_dispatch.h"

#include "isa.h"

namespace rnnkit {
namespace cells {
namespace fast {

RNNKIT_ISA_DISPATCH(void, rnnForward, (int H, bool relu, const float* a, const float* q, const float* bhh, float* h),
                    (H, relu, a, q, bhh, h), cells::rnnForward<float>)
RNNKIT_ISA_DISPATCH(void, rnnBackward, (int H, bool relu, const float* h, const float* dh, float* g, float* dhPrev),
                    (H, relu, h, dh, g, dhPrev), cells::rnnBackward<float>)
RNNKIT_ISA_DISPATCH(void, lstmForward,
                    (int H, float* a, const float* q, const float* bhh, const float* cp, const float* peep,
                     const float* full, float* c, float* tc, float* h),
                    (H, a, q, bhh, cp, peep, full, c, tc, h), cells::lstmForward<float>)
RNNKIT_ISA_DISPATCH(void, lstmBackward,
                    (int H, const float* a, const float* cp, const float* c, const float* tc, const float* dh,
                     const float* dc, const float* peep, float* g, float* dcPrev, float* dhPrev, float* dPeep),
                    (H, a, cp, c, tc, dh, dc, peep, g, dcPrev, dhPrev, dPeep), cells::lstmBackward<float>)
RNNKIT_ISA_DISPATCH(void, gruMinimalForward,
                    (int H, float* a, const float* q, const float* bhh, const float* hp, float* h),
                    (H, a, q, bhh, hp, h), cells::gruMinimalForward<float>)
RNNKIT_ISA_DISPATCH(void, gruMinimalBackward,
                    (int H, const float* a, const float* hp, const float* dh, float* g, float* dhPrev),
                    (H, a, hp, dh, g, dhPrev), cells::gruMinimalBackward<float>)
RNNKIT_ISA_DISPATCH(void, gruAfterForward,
                    (int H, float* a, const float* q, const float* bhh, const float* hp, float* hn, float* h),
                    (H, a, q, bhh, hp, hn, h), cells::gruAfterForward<float>)
RNNKIT_ISA_DISPATCH(void, gruAfterBackward,
                    (int H, const float* a, const float* hn, const float* hp, const float* dh, float* g, float* gh,
                     float* dhPrev),
                    (H, a, hn, hp, dh, g, gh, dhPrev), cells::gruAfterBackward<float>)
RNNKIT_ISA_DISPATCH(void, gruBeforeGates,
                    (int H, float* a, const float* q, const float* bhh, const float* hp, float* rh),
                    (H, a, q, bhh, hp, rh), cells::gruBeforeGates<float>)
RNNKIT_ISA_DISPATCH(void, gruBeforeOutput,
                    (int H, float* a, const float* qn, const float* bhn, const float* hp, float* h),
                    (H, a, qn, bhn, hp, h), cells::gruBeforeOutput<float>)
RNNKIT_ISA_DISPATCH(void, gruBeforeBackwardOutput,
                    (int H, const float* a, const float* hp, const float* dh, float* g, float* dhPrev),
                    (H, a, hp, dh, g, dhPrev), cells::gruBeforeBackwardOutput<float>)
RNNKIT_ISA_DISPATCH(void, gruBeforeBackwardGates,
                    (int H, const float* a, const float* hp, const float* drh, float* g, float* dhPrev),
                    (H, a, hp, drh, g, dhPrev), cells::gruBeforeBackwardGates<float>)

}  // namespace fast
}  // namespace cells
}  // namespace rnnkit
