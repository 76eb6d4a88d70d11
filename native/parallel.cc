#include "parallel.h"

#include <chrono>
#include <system_error>

namespace rnnkit {
namespace {

using Clock = std::chrono::steady_clock;
// A worker spins this long for the next job before sleeping: several splits of a
// training step follow each other within microseconds (the forward loop, the dense
// layer, the loss). A 1 ms spin that also bridged the OpenBLAS products in between
// measured slower overall (docs/benchmarks.md, "tried and not kept").
constexpr auto kSpin = std::chrono::microseconds(50);
// The caller spins this long for chunks a worker has started, then sleeps: a worker
// that lost its core to another process must get it back, and a spinning caller
// would hold the core it needs.
constexpr auto kWaitSpin = std::chrono::microseconds(50);
// The stall policy (parallel.h): a wait for started chunks longer than kStall (and
// than the caller's own share) is a worker that lost its core, not a slow chunk; a
// descheduled thread waits at least a scheduler slice (0.75 ms or more). Solo
// stretches start at kSoloMin and double while a stall comes within kQuickStall
// split jobs of the last stretch, up to kSoloMax.
constexpr auto kStall = std::chrono::microseconds(250);
constexpr int64_t kSoloMin = 20'000'000, kSoloMax = 1'000'000'000;  // ns
constexpr uint64_t kQuickStall = 2000;
// A worker idle this long exits (restarted on the next job), so idle models hold no threads.
constexpr auto kIdle = std::chrono::seconds(1);

inline int64_t ns(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

inline void relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

}  // namespace

WorkerPool::~WorkerPool() {
  {
    std::lock_guard<std::mutex> lock(m_);
    stop_ = true;
  }
  cv_.notify_all();
  for (std::thread& t : threads_)
    if (t.joinable()) t.join();
}

int WorkerPool::drain(uint64_t gen, int n, void (*call)(void*, int), void* arg) {
  int ran = 0;
  uint64_t c = claim_.load(std::memory_order_acquire);
  for (;;) {
    if ((c >> 32) != (gen & 0xffffffffu) || (int)(c & 0xffffffffu) >= n) return ran;
    if (!claim_.compare_exchange_weak(c, c + 1, std::memory_order_acq_rel, std::memory_order_acquire)) continue;
    call(arg, (int)(c & 0xffffffffu));
    ++ran;
    if (finished_.fetch_add(1, std::memory_order_acq_rel) + 1 == n) {
      std::lock_guard<std::mutex> lock(m_);  // the last chunk: wake a sleeping caller
      if (waiting_) doneCv_.notify_one();
    }
    c = claim_.load(std::memory_order_acquire);
  }
}

void WorkerPool::work(int k, uint64_t seen) {
  for (;;) {
    const Clock::time_point until = Clock::now() + kSpin;
    while (posted_.load(std::memory_order_acquire) == seen && Clock::now() < until) relax();
    uint64_t gen;
    int n, threads;
    void (*call)(void*, int);
    void* arg;
    {
      std::unique_lock<std::mutex> lock(m_);
      if (!cv_.wait_for(lock, kIdle, [&] { return gen_ != seen || stop_; })) {
        alive_[k - 1] = 0;  // no job posted while idle: exit (run() restarts this worker)
        return;
      }
      if (stop_) return;
      seen = gen = gen_;
      n = n_;
      threads = threads_n_;
      call = call_;
      arg = arg_;
    }
    if (k < threads) drain(gen, n, call, arg);  // workers past the job's thread count sit it out
  }
}

void WorkerPool::run(int n, void (*call)(void*, int), void* arg, int threads) {
  threads = std::min(threads, n);
  if (threads <= 1 || busy_.exchange(true, std::memory_order_acquire)) {  // one thread, or nested in a running job
    for (int k = 0; k < n; ++k) call(arg, k);
    return;
  }
  const Clock::time_point start = Clock::now();
  if (ns(start) < soloUntilNs_) {  // a recent job stalled: run alone (parallel.h)
    for (int k = 0; k < n; ++k) call(arg, k);
    soloJobs_.fetch_add(1, std::memory_order_relaxed);
    busy_.store(false, std::memory_order_release);
    return;
  }
  uint64_t gen;
  {
    std::lock_guard<std::mutex> lock(m_);
    if ((int)threads_.size() < threads - 1) {
      threads_.resize(threads - 1);
      alive_.resize(threads - 1, 0);
    }
    for (int k = 1; k < threads; ++k) {
      if (alive_[k - 1]) continue;
      if (threads_[k - 1].joinable()) threads_[k - 1].join();  // it exited after idling
      try {
        threads_[k - 1] = std::thread(&WorkerPool::work, this, k, gen_);
        alive_[k - 1] = 1;
      } catch (const std::system_error&) {
        // no thread: the caller claims its chunks
      }
    }
    gen = ++gen_;
    n_ = n;
    threads_n_ = threads;
    call_ = call;
    arg_ = arg;
    finished_.store(0, std::memory_order_relaxed);
    claim_.store((gen & 0xffffffffu) << 32, std::memory_order_release);
    posted_.store(gen, std::memory_order_release);
  }
  cv_.notify_all();
  const int ran = drain(gen, n, call, arg);
  if (ran > 1) takenOver_.fetch_add((uint64_t)(ran - 1), std::memory_order_relaxed);
  // Every chunk is claimed; wait for those a worker is still running.
  const Clock::time_point drained = Clock::now(), until = drained + kWaitSpin;
  while (finished_.load(std::memory_order_acquire) != n && Clock::now() < until) relax();
  if (finished_.load(std::memory_order_acquire) != n) {
    std::unique_lock<std::mutex> lock(m_);
    waiting_ = true;
    doneCv_.wait(lock, [&] { return finished_.load(std::memory_order_acquire) == n; });
    waiting_ = false;
    const Clock::time_point end = Clock::now();
    if (end - drained > kStall && end - drained > drained - start) {
      soloNs_ = sinceSolo_ < kQuickStall && soloNs_ > 0 ? std::min(2 * soloNs_, kSoloMax) : kSoloMin;
      soloUntilNs_ = ns(end) + soloNs_;
      sinceSolo_ = 0;
    }
  }
  ++sinceSolo_;
  // The job is over: no claim can succeed once the next job changes the generation,
  // and none is left in this one.
  busy_.store(false, std::memory_order_release);
}

}  // namespace rnnkit
