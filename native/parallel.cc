#include "parallel.h"

#include <chrono>
#include <system_error>

namespace rnnkit {
namespace {

using Clock = std::chrono::steady_clock;
// A worker spins this long for the next job before sleeping: several row splits
// of a training step follow each other within microseconds (the forward loop,
// the dense layer, the loss). A 1 ms spin that also bridged the OpenBLAS products
// in between measured slower overall (it competes with OpenBLAS's own threads;
// docs/benchmarks.md, "tried and not kept").
constexpr auto kSpin = std::chrono::microseconds(50);
// A worker idle this long exits (restarted on the next job), so idle models hold no threads.
constexpr auto kIdle = std::chrono::seconds(1);

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

void WorkerPool::work(int k, uint64_t seen) {
  for (;;) {
    const Clock::time_point until = Clock::now() + kSpin;
    while (posted_.load(std::memory_order_acquire) == seen && Clock::now() < until) relax();
    int n;
    void (*call)(void*, int);
    void* arg;
    {
      std::unique_lock<std::mutex> lock(m_);
      if (!cv_.wait_for(lock, kIdle, [&] { return gen_ != seen || stop_; })) {
        alive_[k - 1] = 0;  // no job posted while idle: exit (run() restarts this worker)
        return;
      }
      if (stop_) return;
      seen = gen_;
      n = n_;
      call = call_;
      arg = arg_;
    }
    if (k < n) call(arg, k);
    pending_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

void WorkerPool::run(int n, void (*call)(void*, int), void* arg) {
  if (n <= 1) {
    call(arg, 0);
    return;
  }
  std::vector<int> orphans;  // chunks whose worker could not be started
  {
    std::lock_guard<std::mutex> lock(m_);
    if ((int)threads_.size() < n - 1) {
      threads_.resize(n - 1);
      alive_.resize(n - 1, 0);
    }
    int live = 0;
    for (int k = 1; k <= (int)threads_.size(); ++k) {
      if (!alive_[k - 1] && k < n) {
        if (threads_[k - 1].joinable()) threads_[k - 1].join();  // it exited after idling
        try {
          threads_[k - 1] = std::thread(&WorkerPool::work, this, k, gen_);
          alive_[k - 1] = 1;
        } catch (const std::system_error&) {
          orphans.push_back(k);
        }
      }
      live += alive_[k - 1];
    }
    pending_.store(live, std::memory_order_relaxed);
    n_ = n;
    call_ = call;
    arg_ = arg;
    posted_.store(++gen_, std::memory_order_release);
  }
  cv_.notify_all();
  call(arg, 0);
  for (int k : orphans) call(arg, k);
  for (int spins = 0; pending_.load(std::memory_order_acquire) != 0; ++spins) {
    if (spins < 4096) relax();
    else std::this_thread::yield();
  }
}

}  // namespace rnnkit
