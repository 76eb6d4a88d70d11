// Errors thrown by the core. The core never aborts the process: it throws one
// of these, and the binding maps the kind to a JS TypeError / RangeError / Error
// with a stable `code` (NonFinite -> ERR_NONFINITE, Native -> ERR_NATIVE).
#pragma once
#include <stdexcept>
#include <string>

namespace rnnkit {

// NonFinite: a loss, gradient or update that is not finite; the weights were left unchanged.
enum class ErrorKind { Type, Range, Native, NonFinite };

struct Error : std::runtime_error {
  ErrorKind kind;
  Error(ErrorKind k, const std::string& msg) : std::runtime_error(msg), kind(k) {}
};

[[noreturn]] inline void throwRange(const std::string& msg) { throw Error(ErrorKind::Range, msg); }
[[noreturn]] inline void throwNative(const std::string& msg) { throw Error(ErrorKind::Native, msg); }
[[noreturn]] inline void throwNonFinite(const std::string& msg) { throw Error(ErrorKind::NonFinite, msg); }

}  // namespace rnnkit
