// Float gate kernels compiled for AVX-512, AVX2 and baseline x86-64, the one for
// isa() run at each call (native/isa.h; the rest of the core targets baseline x86-64 so the prebuilt
// binary runs anywhere; at baseline the kernels ran 4 floats per instruction).
// cells::fast::name(...) takes the clone for float and the plain template for
// double (gradient checks), with the signatures of cells.h.
#pragma once
#include "cells.h"

namespace rnnkit {
namespace cells {
namespace fast {

void rnnForward(int H, bool relu, const float* a, const float* q, const float* bhh, float* h);
template <class T>
inline void rnnForward(int H, bool relu, const T* a, const T* q, const T* bhh, T* h) {
  cells::rnnForward<T>(H, relu, a, q, bhh, h);
}
void rnnBackward(int H, bool relu, const float* h, const float* dh, float* g, float* dhPrev);
template <class T>
inline void rnnBackward(int H, bool relu, const T* h, const T* dh, T* g, T* dhPrev) {
  cells::rnnBackward<T>(H, relu, h, dh, g, dhPrev);
}
void lstmForward(int H, float* a, const float* q, const float* bhh, const float* cp, const float* peep,
                 const float* full, float* c, float* tc, float* h);
template <class T>
inline void lstmForward(int H, T* a, const T* q, const T* bhh, const T* cp, const T* peep, const T* full, T* c, T* tc,
                        T* h) {
  cells::lstmForward<T>(H, a, q, bhh, cp, peep, full, c, tc, h);
}
void lstmBackward(int H, const float* a, const float* cp, const float* c, const float* tc, const float* dh,
                  const float* dc, const float* peep, float* g, float* dcPrev, float* dhPrev, float* dPeep);
template <class T>
inline void lstmBackward(int H, const T* a, const T* cp, const T* c, const T* tc, const T* dh, const T* dc,
                         const T* peep, T* g, T* dcPrev, T* dhPrev, T* dPeep) {
  cells::lstmBackward<T>(H, a, cp, c, tc, dh, dc, peep, g, dcPrev, dhPrev, dPeep);
}
void gruMinimalForward(int H, float* a, const float* q, const float* bhh, const float* hp, float* h);
template <class T>
inline void gruMinimalForward(int H, T* a, const T* q, const T* bhh, const T* hp, T* h) {
  cells::gruMinimalForward<T>(H, a, q, bhh, hp, h);
}
void gruMinimalBackward(int H, const float* a, const float* hp, const float* dh, float* g, float* dhPrev);
template <class T>
inline void gruMinimalBackward(int H, const T* a, const T* hp, const T* dh, T* g, T* dhPrev) {
  cells::gruMinimalBackward<T>(H, a, hp, dh, g, dhPrev);
}
void gruAfterForward(int H, float* a, const float* q, const float* bhh, const float* hp, float* hn, float* h);
template <class T>
inline void gruAfterForward(int H, T* a, const T* q, const T* bhh, const T* hp, T* hn, T* h) {
  cells::gruAfterForward<T>(H, a, q, bhh, hp, hn, h);
}
void gruAfterBackward(int H, const float* a, const float* hn, const float* hp, const float* dh, float* g, float* gh,
                      float* dhPrev);
template <class T>
inline void gruAfterBackward(int H, const T* a, const T* hn, const T* hp, const T* dh, T* g, T* gh, T* dhPrev) {
  cells::gruAfterBackward<T>(H, a, hn, hp, dh, g, gh, dhPrev);
}
void gruBeforeGates(int H, float* a, const float* q, const float* bhh, const float* hp, float* rh);
template <class T>
inline void gruBeforeGates(int H, T* a, const T* q, const T* bhh, const T* hp, T* rh) {
  cells::gruBeforeGates<T>(H, a, q, bhh, hp, rh);
}
void gruBeforeOutput(int H, float* a, const float* qn, const float* bhn, const float* hp, float* h);
template <class T>
inline void gruBeforeOutput(int H, T* a, const T* qn, const T* bhn, const T* hp, T* h) {
  cells::gruBeforeOutput<T>(H, a, qn, bhn, hp, h);
}
void gruBeforeBackwardOutput(int H, const float* a, const float* hp, const float* dh, float* g, float* dhPrev);
template <class T>
inline void gruBeforeBackwardOutput(int H, const T* a, const T* hp, const T* dh, T* g, T* dhPrev) {
  cells::gruBeforeBackwardOutput<T>(H, a, hp, dh, g, dhPrev);
}
void gruBeforeBackwardGates(int H, const float* a, const float* hp, const float* drh, float* g, float* dhPrev);
template <class T>
inline void gruBeforeBackwardGates(int H, const T* a, const T* hp, const T* drh, T* g, T* dhPrev) {
  cells::gruBeforeBackwardGates<T>(H, a, hp, drh, g, dhPrev);
}

}  // namespace fast
}  // namespace cells
}  // namespace rnnkit
