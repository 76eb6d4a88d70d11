// Tests of the worker pool the row splits run on (native/parallel.h), apart from
// the core tests so that they build without OpenBLAS: `npm run test:tsan` runs
// them under ThreadSanitizer. Prints one line "N passed, N failed" and exits
// non-zero on failure.
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

// The model's worker pool: every chunk runs exactly once per job, the chunks past
// the first on other threads, over many back-to-back jobs of varying width (a lost
// wake-up would hang here), after the workers have exited from idling, and a pool
// destroyed right after a job joins its threads.
int main() {
  const std::thread::id caller = std::this_thread::get_id();
  struct Job {
    std::vector<std::atomic<int>> runs;
    std::vector<std::thread::id> where;
    explicit Job(int n) : runs(n), where(n) {}
  };
  auto post = [](WorkerPool& pool, Job& job, int n) {
    for (auto& r : job.runs) r = 0;
    pool.run(
        n,
        [](void* p, int k) {
          Job& j = *static_cast<Job*>(p);
          j.runs[k]++;
          j.where[k] = std::this_thread::get_id();
        },
        &job);
  };
  auto once = [](const Job& job, int n) {
    for (int k = 0; k < (int)job.runs.size(); ++k)
      if (job.runs[k] != (k < n ? 1 : 0)) return false;
    return true;
  };
  {
    WorkerPool pool;
    Job job(4);
    bool ok = true, elsewhere = true;
    for (int i = 0; i < 20000 && ok; ++i) {
      const int n = 1 + i % 4;
      post(pool, job, n);
      ok = once(job, n);
      for (int k = 1; k < n; ++k) elsewhere = elsewhere && job.where[k] != caller;
      elsewhere = elsewhere && job.where[0] == caller;
    }
    check(ok, "worker pool: 20000 jobs of 1-4 chunks, each chunk exactly once");
    check(elsewhere, "worker pool: chunk 0 on the caller, the others on worker threads");
    std::this_thread::sleep_for(std::chrono::milliseconds(1300));  // the workers exit after 1 s idle
    post(pool, job, 3);
    check(once(job, 3) && job.where[1] != caller && job.where[2] != caller,
          "worker pool: a job after the workers exited from idling restarts them");
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
