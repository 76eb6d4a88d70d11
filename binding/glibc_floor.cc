// The prebuilt binary's glibc floor (RNNKIT_GLIBC_FLOOR; issue 16): it must load on glibc 2.28,
// Node 20's own floor, although it is built on Debian 12 (glibc 2.36).
//
// A program built against a newer glibc binds some functions to the newest version of their
// symbol: pthread_* moved from libpthread into libc in 2.34 and got a GLIBC_2.34 version there,
// exp/log/pow got GLIBC_2.29 versions (no SVID error handling), libstdc++ reads
// __libc_single_threaded (2.32), waits with pthread_cond_clockwait (2.30) and may draw from
// arc4random (2.36). An older glibc lacks those versions, and the loader refuses the whole .node.
//
// The link (CMakeLists.txt) passes --wrap=<symbol> for each of them, so every reference in
// rnnkit, the static libstdc++ and the static OpenBLAS goes to __wrap_<symbol> below. Each wrapper
// calls the symbol's oldest version (bound with .symver), which every glibc since 2.17 (arm64) or
// 2.2.5 (x86-64) still exports, or does without the symbol where no old version exists.
// scripts/prebuilds.sh fails when the built .node still needs a version above 2.28 (objdump -T).
//
// libgcc stays a shared library (libgcc_s.so.1 ships with every glibc system): the static
// libgcc_eh of GCC 12 finds unwind tables with _dl_find_object (2.35) and has no fallback.
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/random.h>
#include <time.h>

#if defined(__x86_64__)
#define RNNKIT_GLIBC_BASE "GLIBC_2.2.5"
#define RNNKIT_GLIBC_AFFINITY "GLIBC_2.3.4"
#elif defined(__aarch64__)
#define RNNKIT_GLIBC_BASE "GLIBC_2.17"
#define RNNKIT_GLIBC_AFFINITY "GLIBC_2.17"
#else
#error "RNNKIT_GLIBC_FLOOR knows the old glibc symbol versions of x86-64 and arm64 only"
#endif

// old_<name>: a reference to <name>@<version>, the version every supported glibc exports.
#define RNNKIT_OLD(name, version) __asm__(".symver old_" #name "," #name "@" version)

extern "C" {

int old_pthread_create(pthread_t*, const pthread_attr_t*, void* (*)(void*), void*);
int old_pthread_join(pthread_t, void**);
int old_pthread_detach(pthread_t);
int old_pthread_once(pthread_once_t*, void (*)(void));
int old_pthread_key_create(pthread_key_t*, void (*)(void*));
int old_pthread_key_delete(pthread_key_t);
void* old_pthread_getspecific(pthread_key_t);
int old_pthread_setspecific(pthread_key_t, const void*);
int old_pthread_setaffinity_np(pthread_t, size_t, const cpu_set_t*);
int old_pthread_getaffinity_np(pthread_t, size_t, cpu_set_t*);
double old_exp(double);
double old_log(double);
double old_pow(double, double);

RNNKIT_OLD(pthread_create, RNNKIT_GLIBC_BASE);
RNNKIT_OLD(pthread_join, RNNKIT_GLIBC_BASE);
RNNKIT_OLD(pthread_detach, RNNKIT_GLIBC_BASE);
RNNKIT_OLD(pthread_once, RNNKIT_GLIBC_BASE);
RNNKIT_OLD(pthread_key_create, RNNKIT_GLIBC_BASE);
RNNKIT_OLD(pthread_key_delete, RNNKIT_GLIBC_BASE);
RNNKIT_OLD(pthread_getspecific, RNNKIT_GLIBC_BASE);
RNNKIT_OLD(pthread_setspecific, RNNKIT_GLIBC_BASE);
RNNKIT_OLD(pthread_setaffinity_np, RNNKIT_GLIBC_AFFINITY);
RNNKIT_OLD(pthread_getaffinity_np, RNNKIT_GLIBC_AFFINITY);
RNNKIT_OLD(exp, RNNKIT_GLIBC_BASE);
RNNKIT_OLD(log, RNNKIT_GLIBC_BASE);
RNNKIT_OLD(pow, RNNKIT_GLIBC_BASE);

int __wrap_pthread_create(pthread_t* t, const pthread_attr_t* a, void* (*f)(void*), void* arg) {
  return old_pthread_create(t, a, f, arg);
}
int __wrap_pthread_join(pthread_t t, void** r) { return old_pthread_join(t, r); }
int __wrap_pthread_detach(pthread_t t) { return old_pthread_detach(t); }
int __wrap_pthread_once(pthread_once_t* o, void (*f)(void)) { return old_pthread_once(o, f); }
int __wrap_pthread_key_create(pthread_key_t* k, void (*d)(void*)) { return old_pthread_key_create(k, d); }
// libstdc++'s __gthread_active_p() asks whether threads are linked in by this weak symbol's address
int __wrap___pthread_key_create(pthread_key_t* k, void (*d)(void*)) { return old_pthread_key_create(k, d); }
int __wrap_pthread_key_delete(pthread_key_t k) { return old_pthread_key_delete(k); }
void* __wrap_pthread_getspecific(pthread_key_t k) { return old_pthread_getspecific(k); }
int __wrap_pthread_setspecific(pthread_key_t k, const void* v) { return old_pthread_setspecific(k, v); }
int __wrap_pthread_setaffinity_np(pthread_t t, size_t n, const cpu_set_t* s) {
  return old_pthread_setaffinity_np(t, n, s);
}
int __wrap_pthread_getaffinity_np(pthread_t t, size_t n, cpu_set_t* s) { return old_pthread_getaffinity_np(t, n, s); }
double __wrap_exp(double x) { return old_exp(x); }
double __wrap_log(double x) { return old_log(x); }
double __wrap_pow(double x, double y) { return old_pow(x, y); }

// libstdc++ skips atomic reference counts when this says the process has one thread. Always 0
// ("maybe several"): the atomic path is correct everywhere, and rnnkit runs threads anyway.
char __wrap___libc_single_threaded = 0;

// std::condition_variable::wait_for / wait_until on steady_clock (the worker pool's idle wait,
// native/parallel.cc). Without pthread_cond_clockwait: the same remaining time as a
// CLOCK_REALTIME deadline (what libstdc++ itself does on a glibc without clockwait). A jump of
// the wall clock during the wait can end it early or late; callers re-check their predicate.
int __wrap_pthread_cond_clockwait(pthread_cond_t* c, pthread_mutex_t* m, clockid_t clock, const struct timespec* at) {
  if (clock == CLOCK_REALTIME) return pthread_cond_timedwait(c, m, at);
  if (clock != CLOCK_MONOTONIC) return EINVAL;
  struct timespec now_mono, now_real;
  clock_gettime(CLOCK_MONOTONIC, &now_mono);
  clock_gettime(CLOCK_REALTIME, &now_real);
  int64_t left_ns = (int64_t(at->tv_sec) - now_mono.tv_sec) * 1000000000 + (at->tv_nsec - now_mono.tv_nsec);
  if (left_ns < 0) left_ns = 0;
  int64_t deadline_ns = int64_t(now_real.tv_sec) * 1000000000 + now_real.tv_nsec + left_ns;
  struct timespec deadline;
  deadline.tv_sec = time_t(deadline_ns / 1000000000);
  deadline.tv_nsec = long(deadline_ns % 1000000000);
  return pthread_cond_timedwait(c, m, &deadline);
}

// std::random_device's default source in libstdc++ 12 (rnnkit seeds its own generators and does
// not use it). getrandom (2.25) reads the kernel's same pool; like arc4random, it aborts without one.
uint32_t __wrap_arc4random(void) {
  uint32_t v = 0;
  for (;;) {
    ssize_t n = getrandom(&v, sizeof v, 0);
    if (n == ssize_t(sizeof v)) return v;
    if (n < 0 && errno != EINTR) abort();
  }
}

}  // extern "C"
