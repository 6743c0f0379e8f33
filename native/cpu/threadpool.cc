// The persistent worker pool (see threadpool.h).
#include "threadpool.h"

#include <chrono>
#include <cstdlib>
#include <new>
#include <thread>

#include "addon_args.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define HYDRANET_PAUSE() _mm_pause()
#else
#define HYDRANET_PAUSE() std::this_thread::yield()
#endif

namespace hydranet {
namespace {

// How long an idle worker spins before it sleeps, and the caller's scratch.
constexpr auto kSpin = std::chrono::microseconds(200);
thread_local Workspace caller_workspace;

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

void Workspace::Free::operator()(float* p) const { std::free(p); }

void Workspace::reserve(size_t floats) {
  if (floats <= size_) return;
  const size_t bytes = (floats * sizeof(float) + 63) / 64 * 64;
  auto* p = static_cast<float*>(std::aligned_alloc(64, bytes));
  if (p == nullptr) throw std::bad_alloc();
  data_.reset(p);
  size_ = floats;
}

ThreadPool& ThreadPool::instance() {
  static ThreadPool* pool = new ThreadPool();  // never destroyed: workers may outlive main()
  return *pool;
}

void ThreadPool::ensure_workers(int count) {
  while (static_cast<int>(workers_.size()) < count) {
    workers_.push_back(std::make_unique<Worker>());
    Worker* w = workers_.back().get();
    std::thread([this, w] { worker_main(w); }).detach();
  }
}

void ThreadPool::run_tasks(float* workspace) {
  for (int t = next_.fetch_add(1, std::memory_order_relaxed); t < tasks_;
       t = next_.fetch_add(1, std::memory_order_relaxed)) {
    (*body_)(t, workspace);
  }
}

void ThreadPool::worker_main(Worker* w) {
  for (;;) {
    const auto until = std::chrono::steady_clock::now() + kSpin;
    int spins = 0;
    while (w->state.load(std::memory_order_acquire) != kInvited) {
      HYDRANET_PAUSE();
      if (++spins % 256 == 0 && std::chrono::steady_clock::now() > until) {
        std::unique_lock<std::mutex> lock(sleep_mutex_);
        sleepers_.fetch_add(1);
        wake_.wait(lock, [&] { return w->state.load() == kInvited; });
        sleepers_.fetch_sub(1);
      }
    }
    int invited = kInvited;
    if (!w->state.compare_exchange_strong(invited, kRunning, std::memory_order_acq_rel)) continue;  // withdrawn
    if (stats_on_.load(std::memory_order_relaxed)) {
      claim_ns_.fetch_add(static_cast<uint64_t>(now_ns() - invited_at_ns_), std::memory_order_relaxed);
    }
    run_tasks(w->workspace.data());
    w->state.store(kIdle, std::memory_order_release);
  }
}

void ThreadPool::parallel_for(int tasks, int threads, size_t workspace_floats, TaskBody body) {
  if (tasks <= 0) return;
  if (threads > tasks) threads = tasks;
  caller_workspace.reserve(workspace_floats);
  std::unique_lock<std::mutex> lock(dispatch_, std::defer_lock);
  const bool counting = stats_on_.load(std::memory_order_relaxed);
  if (threads <= 1 || !lock.try_lock()) {
    if (counting) serial_.fetch_add(1, std::memory_order_relaxed);
    for (int t = 0; t < tasks; ++t) body(t, caller_workspace.data());
    return;
  }
  const int helpers = threads - 1;
  ensure_workers(helpers);
  for (int i = 0; i < helpers; ++i) workers_[i]->workspace.reserve(workspace_floats);

  body_ = &body;
  tasks_ = tasks;
  next_.store(0, std::memory_order_relaxed);
  const int64_t t0 = counting ? now_ns() : 0;
  invited_at_ns_ = t0;
  for (int i = 0; i < helpers; ++i) workers_[i]->state.store(kInvited, std::memory_order_seq_cst);
  if (sleepers_.load(std::memory_order_seq_cst) > 0) {
    { std::lock_guard<std::mutex> guard(sleep_mutex_); }
    wake_.notify_all();
    wakes_ += counting;
  }
  run_tasks(caller_workspace.data());
  const int64_t t1 = counting ? now_ns() : 0;
  for (int i = 0; i < helpers; ++i) {
    int invited = kInvited;
    if (workers_[i]->state.compare_exchange_strong(invited, kIdle, std::memory_order_acq_rel)) {
      withdrawn_ += counting;
      continue;
    }
    for (int spins = 0; workers_[i]->state.load(std::memory_order_acquire) == kRunning; ++spins) {
      if (spins < 4096) {
        HYDRANET_PAUSE();
      } else {
        std::this_thread::yield();
      }
    }
  }
  if (counting) {
    const int64_t t2 = now_ns();
    handoffs_ += 1;
    join_ns_ += static_cast<uint64_t>(t2 - t1);
    total_ns_ += static_cast<uint64_t>(t2 - t0);
  }
}

PoolStats ThreadPool::stats() {
  std::lock_guard<std::mutex> lock(dispatch_);  // no hand-off is half counted
  PoolStats s;
  s.enabled = stats_on_.load();
  s.handoffs = handoffs_;
  s.serial = serial_.load();
  s.wakes = wakes_;
  s.withdrawn = withdrawn_;
  s.claim_ns = claim_ns_.load();
  s.join_ns = join_ns_;
  s.total_ns = total_ns_;
  return s;
}

void ThreadPool::set_stats(bool on) {
  std::lock_guard<std::mutex> lock(dispatch_);
  handoffs_ = wakes_ = withdrawn_ = join_ns_ = total_ns_ = 0;
  serial_.store(0);
  claim_ns_.store(0);
  stats_on_.store(on);
}

}  // namespace hydranet

// ---- N-API entries (native/cpu/addon_args.h) ----------------------------------------

namespace hydranet::cpu_addon {

// threadPoolStats(mode): the pool's counters (PoolStats) since the last reset, as
// {enabled, handoffs, serial, wakes, withdrawn, claimMs, joinMs, totalMs}; then mode 1 resets
// them and turns counting on, mode 2 resets them and turns it off, mode 0 leaves them.
Napi::Value thread_pool_stats(const Args& a) {
  const int mode = static_cast<int>(a.integer(0, "mode", 0, 2));
  ThreadPool& pool = ThreadPool::instance();
  const PoolStats s = pool.stats();
  if (mode != 0) pool.set_stats(mode == 1);
  Napi::Object o = Napi::Object::New(a.env());
  o.Set("enabled", s.enabled);
  o.Set("handoffs", static_cast<double>(s.handoffs));
  o.Set("serial", static_cast<double>(s.serial));
  o.Set("wakes", static_cast<double>(s.wakes));
  o.Set("withdrawn", static_cast<double>(s.withdrawn));
  o.Set("claimMs", s.claim_ns / 1e6);
  o.Set("joinMs", s.join_ns / 1e6);
  o.Set("totalMs", s.total_ns / 1e6);
  return o;
}
const Export<thread_pool_stats> export_thread_pool_stats("threadPoolStats", 1);

}  // namespace hydranet::cpu_addon
