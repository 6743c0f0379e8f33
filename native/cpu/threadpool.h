// A persistent pool of worker threads for the CPU kernels. Workers spin briefly after each job
// (back-to-back kernels of a training step then start without a wake-up) and then sleep. A
// caller never waits for a worker that has not started: once its own share is done it takes
// back the invitations no worker has claimed, so an oversubscribed machine degrades to serial
// work instead of stalling. Workers are detached and the pool is never destroyed, so they
// neither keep Node alive nor race with static destructors at exit. Every allocation happens
// on the calling thread, where the N-API layer catches its exceptions; workers never allocate.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

namespace hydranet {

// A grow-only, 64-byte aligned float buffer: scratch for one thread (GEMM packing).
class Workspace {
 public:
  float* data() const { return data_.get(); }
  // Makes room for `floats` values; throws std::bad_alloc.
  void reserve(size_t floats);

 private:
  struct Free {
    void operator()(float* p) const;
  };
  std::unique_ptr<float[], Free> data_;
  size_t size_ = 0;
};

// What the pool has done since its counters were last reset (ThreadPool::stats): each hand-off
// (a parallel_for that invited workers) and what it cost the caller. Counted only while
// enabled (set_stats), so a plain run reads no clock.
struct PoolStats {
  bool enabled = false;
  uint64_t handoffs = 0;   // parallel_for calls that invited workers
  uint64_t serial = 0;     // calls run by the caller alone (one task or thread, or the pool busy)
  uint64_t wakes = 0;      // hand-offs that found a worker asleep and woke it (not spinning)
  uint64_t withdrawn = 0;  // invitations taken back unclaimed (the caller did the worker's share)
  uint64_t claim_ns = 0;   // Σ over claimed invitations: invitation → the worker starting it
  uint64_t join_ns = 0;    // Σ over hand-offs: the caller's wait for workers after its own share
  uint64_t total_ns = 0;   // Σ over hand-offs: the whole parallel_for, on the caller
};

// A non-owning reference to a callable body(task, workspace).
class TaskBody {
 public:
  template <class F>
  TaskBody(F& f)  // NOLINT: implicit by design, like std::function_ref
      : obj_(&f), call_([](void* o, int task, float* ws) { (*static_cast<F*>(o))(task, ws); }) {}
  void operator()(int task, float* ws) const { call_(obj_, task, ws); }

 private:
  void* obj_;
  void (*call_)(void*, int, float*);
};

class ThreadPool {
 public:
  static ThreadPool& instance();

  // Runs body(task, workspace) for every task in [0, tasks) on up to `threads` threads (the
  // caller is one of them) and returns when all have run. Each running thread has its own
  // workspace of at least `workspace_floats` values. A caller that finds the pool busy (another
  // JS thread is using it) runs its tasks alone.
  void parallel_for(int tasks, int threads, size_t workspace_floats, TaskBody body);

  // The counters (see PoolStats); set_stats(on) resets them and turns counting on or off. Both
  // wait for a hand-off in progress (another JS thread's) to finish.
  PoolStats stats();
  void set_stats(bool on);

 private:
  enum State : int { kIdle, kInvited, kRunning };
  struct Worker {
    std::atomic<int> state{kIdle};  // kInvited by the caller, kRunning once the worker claims it
    Workspace workspace;
  };

  ThreadPool() = default;
  void ensure_workers(int count);
  void worker_main(Worker* w);
  void run_tasks(float* workspace);

  std::mutex dispatch_;  // one job at a time
  std::vector<std::unique_ptr<Worker>> workers_;

  // The current job; written by the caller before it raises the participants' `go`.
  TaskBody* body_ = nullptr;
  int tasks_ = 0;
  std::atomic<int> next_{0};

  // Counters (PoolStats): written by the caller under dispatch_, claim_ns_ by workers.
  std::atomic<bool> stats_on_{false};
  int64_t invited_at_ns_ = 0;  // the current hand-off's invitation time, when counting
  uint64_t handoffs_ = 0, wakes_ = 0, withdrawn_ = 0, join_ns_ = 0, total_ns_ = 0;
  std::atomic<uint64_t> serial_{0}, claim_ns_{0};

  std::mutex sleep_mutex_;
  std::condition_variable wake_;
  std::atomic<int> sleepers_{0};
};

// How many chunks parallel_chunks (and parallel_range) cut [0, n) into: at most `threads`, each
// of at least `grain` elements, at least 1. A kernel that needs scratch per chunk makes it for
// this many on the calling thread (workers never allocate).
inline int range_chunks(int64_t n, int threads, int64_t grain) {
  int64_t chunks = grain > 0 ? n / grain : n;
  if (chunks > threads) chunks = threads;
  return chunks < 1 ? 1 : static_cast<int>(chunks);
}

// Splits [0, n) into range_chunks(n, threads, grain) chunks and runs body(chunk, begin, end) for
// each, in parallel when there is more than one.
template <class F>
void parallel_chunks(int64_t n, int threads, int64_t grain, F body) {
  const int chunks = range_chunks(n, threads, grain);
  if (chunks == 1) {
    if (n > 0) body(0, int64_t{0}, n);
    return;
  }
  auto task = [&](int t, float*) { body(t, n * t / chunks, n * (t + 1) / chunks); };
  ThreadPool::instance().parallel_for(chunks, chunks, 0, task);
}

// parallel_chunks without the chunk's index: body(begin, end).
template <class F>
void parallel_range(int64_t n, int threads, int64_t grain, F body) {
  parallel_chunks(n, threads, grain, [&](int, int64_t begin, int64_t end) { body(begin, end); });
}

}  // namespace hydranet
