// The persistent worker pool (see threadpool.h).
#include "threadpool.h"

#include <chrono>
#include <cstdlib>
#include <new>
#include <thread>

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
    run_tasks(w->workspace.data());
    w->state.store(kIdle, std::memory_order_release);
  }
}

void ThreadPool::parallel_for(int tasks, int threads, size_t workspace_floats, TaskBody body) {
  if (tasks <= 0) return;
  if (threads > tasks) threads = tasks;
  caller_workspace.reserve(workspace_floats);
  std::unique_lock<std::mutex> lock(dispatch_, std::defer_lock);
  if (threads <= 1 || !lock.try_lock()) {
    for (int t = 0; t < tasks; ++t) body(t, caller_workspace.data());
    return;
  }
  const int helpers = threads - 1;
  ensure_workers(helpers);
  for (int i = 0; i < helpers; ++i) workers_[i]->workspace.reserve(workspace_floats);

  body_ = &body;
  tasks_ = tasks;
  next_.store(0, std::memory_order_relaxed);
  for (int i = 0; i < helpers; ++i) workers_[i]->state.store(kInvited, std::memory_order_seq_cst);
  if (sleepers_.load(std::memory_order_seq_cst) > 0) {
    { std::lock_guard<std::mutex> guard(sleep_mutex_); }
    wake_.notify_all();
  }
  run_tasks(caller_workspace.data());
  for (int i = 0; i < helpers; ++i) {
    int invited = kInvited;
    if (workers_[i]->state.compare_exchange_strong(invited, kIdle, std::memory_order_acq_rel)) continue;
    for (int spins = 0; workers_[i]->state.load(std::memory_order_acquire) == kRunning; ++spins) {
      if (spins < 4096) {
        HYDRANET_PAUSE();
      } else {
        std::this_thread::yield();
      }
    }
  }
}

}  // namespace hydranet
