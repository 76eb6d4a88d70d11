// Tests of the worker pool the splits run on (native/parallel.h), apart from
// the core tests so that they build without OpenBLAS: `npm run test:tsan` runs
// them under ThreadSanitizer. Prints one line "N passed, N failed" and exits
// non-zero on failure.
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "parallel.h"

using namespace rnnkit;

static int passed = 0, failed = 0;

static void check(bool ok, const std::string& name) {
  (ok ? passed : failed)++;
  std::printf("%s %s\n", ok ? "ok" : "FAIL", name.c_str());
}

// The model's worker pool: every chunk runs exactly once per job, over many
// back-to-back jobs of varying width (a lost wake-up would hang here); workers
// take chunks when they can; the caller takes over chunks no worker has started
// (a busy machine: here every thread shares one CPU); workers restart after
// exiting from idling; a job stalled by a worker makes the next ones run on the
// caller for a while; a pool destroyed right after a job joins its threads.
static void spinFor(std::chrono::microseconds d) {
  const auto until = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < until) {
  }
}

int main() {
  const std::thread::id caller = std::this_thread::get_id();
  struct Job {
    std::vector<std::atomic<int>> runs;
    std::vector<std::thread::id> where;
    std::chrono::microseconds work{0};
    explicit Job(int n) : runs(n), where(n) {}
  };
  auto post = [](WorkerPool& pool, Job& job, int n, int threads = 0) {
    for (auto& r : job.runs) r = 0;
    pool.run(
        n,
        [](void* p, int k) {
          Job& j = *static_cast<Job*>(p);
          j.runs[k]++;
          j.where[k] = std::this_thread::get_id();
          if (j.work.count()) spinFor(j.work);
        },
        &job, threads ? threads : n);
  };
  auto once = [](const Job& job, int n) {
    for (int k = 0; k < (int)job.runs.size(); ++k)
      if (job.runs[k] != (k < n ? 1 : 0)) return false;
    return true;
  };
  auto offCaller = [&](const Job& job, int n) {
    for (int k = 0; k < n; ++k)
      if (job.where[k] != caller) return true;
    return false;
  };
  {
    WorkerPool pool;
    Job job(4);
    bool ok = true;
    for (int i = 0; i < 5000 && ok; ++i) {
      const int n = 1 + i % 4;
      post(pool, job, n);
      ok = once(job, n);
    }
    check(ok, "worker pool: 5000 jobs of 1-4 chunks, each chunk exactly once");
    job.work = std::chrono::microseconds(2000);  // chunks long enough for a worker to wake and claim one
    bool elsewhere = false;
    for (int i = 0; i < 50 && !elsewhere; ++i) {
      post(pool, job, 4);
      elsewhere = offCaller(job, 4);
    }
    check(elsewhere && once(job, 4), "worker pool: workers run chunks the caller has not claimed");
    {
      // More chunks than threads: 8 chunks on 2 threads, each once, on at most 2 threads.
      Job many(8);
      many.work = std::chrono::microseconds(500);
      bool ok8 = true;
      for (int i = 0; i < 20 && ok8; ++i) {
        post(pool, many, 8, 2);
        std::vector<std::thread::id> ids(many.where.begin(), many.where.end());
        std::sort(ids.begin(), ids.end());
        ok8 = once(many, 8) && std::unique(ids.begin(), ids.end()) - ids.begin() <= 2;
      }
      check(ok8, "worker pool: 8 chunks on 2 threads, each chunk once, on at most 2 threads");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1300));  // the workers exit after 1 s idle
    job.work = std::chrono::microseconds(20000);
    post(pool, job, 3);
    check(once(job, 3) && offCaller(job, 3), "worker pool: a job after the workers exited from idling restarts them");
  }
  {
    // One CPU for every thread of the process: a worker runs only when the caller
    // blocks or is preempted, so the caller must claim the chunks nobody started.
    cpu_set_t one, all;
    CPU_ZERO(&one);
    CPU_SET(sched_getcpu(), &one);
    sched_getaffinity(0, sizeof all, &all);
    sched_setaffinity(0, sizeof one, &one);
    WorkerPool pool;  // its workers start on the one CPU too
    Job job(4);
    bool ok = true;
    for (int i = 0; i < 2000 && ok; ++i) {
      post(pool, job, 4);
      ok = once(job, 4);
    }
    check(ok && pool.takenOver() > 0, "worker pool: the caller runs the chunks of workers that were not scheduled (" +
                                          std::to_string(pool.takenOver()) + " of 6000 taken over on one CPU)");
    sched_setaffinity(0, sizeof all, &all);
  }
  {
    // The stall policy: a worker that holds a started chunk far longer than the
    // caller's own share (here it sleeps, as a descheduled thread would) makes the
    // next jobs run on the caller alone; after the solo stretch (20 ms) they split again.
    WorkerPool pool;
    struct Stall {
      std::thread::id caller;
      std::vector<std::thread::id> where = std::vector<std::thread::id>(2);
    } s{caller};
    auto job = [](void* p, int k) {
      Stall& st = *static_cast<Stall*>(p);
      st.where[k] = std::this_thread::get_id();
      if (k == 0) spinFor(std::chrono::microseconds(1000));  // the caller's share: a worker claims chunk 1
      if (st.where[k] != st.caller) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    };
    // Retried: on a loaded machine the caller itself may lose its core for longer
    // than the stretch between the stalled job and the next.
    bool stalled = false, solo = false;
    for (int attempt = 0; attempt < 10 && !solo; ++attempt) {
      stalled = false;
      for (int i = 0; i < 50 && !stalled; ++i) {
        pool.run(2, job, &s, 2);
        stalled = s.where[1] != caller || s.where[0] != caller;
      }
      const uint64_t before = pool.soloJobs();
      pool.run(2, job, &s, 2);
      solo = pool.soloJobs() == before + 1 && s.where[0] == caller && s.where[1] == caller;
      if (!solo) std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // past any solo stretch
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(60));  // past the first solo stretch
    bool split = false;
    for (int i = 0; i < 50 && !split; ++i) {
      const uint64_t n = pool.soloJobs();
      pool.run(2, job, &s, 2);
      split = pool.soloJobs() == n && (s.where[0] != caller || s.where[1] != caller);
      if (!split) std::this_thread::sleep_for(std::chrono::milliseconds(60));
    }
    check(stalled && solo && split,
          "worker pool: after a worker stalls a job, the next job runs on the caller alone, and jobs split again "
          "after the solo stretch (stalled " +
              std::to_string(stalled) + ", solo " + std::to_string(solo) + ", split " + std::to_string(split) + ")");
  }
  {
    // A split inside a running job (nested) runs on the calling thread, not deadlocked on the pool.
    WorkerPool pool;
    struct Outer {
      WorkerPool* pool;
      std::atomic<int> inner{0};
    } outer{&pool};
    pool.run(
        2,
        [](void* p, int) {
          Outer& o = *static_cast<Outer*>(p);
          o.pool->run(
              3, [](void* q, int) { static_cast<Outer*>(q)->inner++; }, &o, 3);
        },
        &outer, 2);
    check(outer.inner == 6, "worker pool: a nested job runs inline (6 inner chunks, no deadlock)");
  }
  {
    Job job(2);
    for (int i = 0; i < 200; ++i) {
      WorkerPool pool;
      post(pool, job, 2);
    }
    check(once(job, 2), "worker pool: 200 pools destroyed right after a job join their threads");
  }
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
