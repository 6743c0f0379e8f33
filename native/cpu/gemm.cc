// GEMM: C[m, n] = act(alpha·op(A)[m, k]·op(B)[k, n] + beta·C + bias[n]), "=" (beta = 1 for "+=").
//
// BLIS-style: for each nc-wide block of columns and kc-deep slice of k, B is packed into
// nr-wide panels [kc][nr]; for each mc-tall block of rows A is packed into mr-tall panels
// [kc][mr]; the per-ISA micro-kernel then computes mr × nr tiles from the two panels and
// applies the epilogue (beta·C on the first slice, bias and activation on the last). Packing
// makes transposes free: a transposed operand is packed with an in-register transpose.
// Threads share one packed copy of B and take (row block, k slice) tasks of C as they come free
// (gemm_dynamic_rows), so a core another process slows down does fewer of them instead of
// holding up the whole product. Smaller products, and shapes with too few rows, split C into a
// static grid of sub-matrices, each running the whole loop nest on its own packing buffers; the
// smallest run on the calling thread alone. Every way sums each C element over the same k
// slices in the same order, so the bits do not depend on the thread count.
#include <algorithm>
#include <atomic>
#include <climits>
#include <cmath>
#include <memory>
#include <vector>

#include "addon_args.h"
#include "threadpool.h"

namespace hydranet {
namespace {

// Below this many flops a second thread costs more than it saves.
constexpr double kParallelFlops = 1 << 21;
// Packing one element costs about this many multiply-adds of the micro-kernel.
constexpr double kPackCost = 16.0;

// Packs B's columns [j0, j0 + cols) (cols ≤ nr) of the k slice [pc, pc + kc) into one
// nr-wide panel [kc][nr] at dst.
void pack_b_panel(const GemmArgs& g, const IsaKernels& K, int j0, int cols, int pc, int kc, float* dst) {
  if (g.trans_b) {
    K.pack_transpose(g.b + j0 * g.ldb + pc, g.ldb, cols, K.nr, kc, dst);
  } else {
    K.pack_copy(g.b + pc * g.ldb + j0, g.ldb, cols, K.nr, kc, dst);
  }
}

// Packs the mc × kc block (ic, pc) of A into mr-tall panels, panel i at pack_a + i·mr·kc.
void pack_a_block(const GemmArgs& g, const IsaKernels& K, int ic, int mc, int pc, int kc, float* pack_a) {
  for (int i = 0; i < mc; i += K.mr) {
    const int valid = std::min(K.mr, mc - i);
    if (g.trans_a) {
      K.pack_copy(g.a + pc * g.lda + ic + i, g.lda, valid, K.mr, kc, pack_a + i * kc);
    } else {
      K.pack_transpose(g.a + (ic + i) * g.lda + pc, g.lda, valid, K.mr, kc, pack_a + i * kc);
    }
  }
}

// The epilogue of the k slice [pc, pc + kc): beta·C on the first slice, bias (set per panel)
// and activation on the last.
TileEpilogue slice_epilogue(const GemmArgs& g, int pc, int kc) {
  const bool first = pc == 0;
  const bool last = pc + kc >= g.k;
  return TileEpilogue{g.alpha, first ? g.beta : 1.0f, !first || g.beta != 0.0f, nullptr,
                      last ? g.act : Activation::none};
}

// The tiles of C's rows [ic, ic + mc) and columns [j0, j0 + cols) (cols ≤ nr) of the k slice
// [pc, pc + kc) from the packed block of A (mc × kc) and one packed panel of B (kc × nr).
void multiply_panel(const GemmArgs& g, const IsaKernels& K, int ic, int mc, int j0, int cols, int pc, int kc,
                    const float* pack_a, const float* panel, TileEpilogue ep) {
  ep.bias = pc + kc >= g.k && g.bias ? g.bias + j0 : nullptr;
  for (int i = 0; i < mc; i += K.mr) {
    K.micro_kernel(kc, pack_a + i * kc, panel, g.c + (ic + i) * g.ldc + j0, g.ldc, std::min(K.mr, mc - i), cols, ep);
  }
}

// Every tile of C's rows [ic, ic + mc) and columns [jc, jc + nc) of the k slice [pc, pc + kc)
// from the packed blocks of A (mc × kc) and B (kc × nc).
void multiply_block(const GemmArgs& g, const IsaKernels& K, int ic, int mc, int jc, int nc, int pc, int kc,
                    const float* pack_a, const float* pack_b) {
  const TileEpilogue ep = slice_epilogue(g, pc, kc);
  for (int j = 0; j < nc; j += K.nr) {
    multiply_panel(g, K, ic, mc, jc + j, std::min(K.nr, nc - j), pc, kc, pack_a, pack_b + j * kc, ep);
  }
}

void gemm_serial(const GemmArgs& g, const IsaKernels& K, float* workspace) {
  float* pack_b = workspace;                                     // [nc / nr][kc][nr]
  float* pack_a = workspace + static_cast<size_t>(K.kc) * K.nc;  // [mc / mr][kc][mr]
  for (int jc = 0; jc < g.n; jc += K.nc) {
    const int nc = std::min(K.nc, g.n - jc);
    for (int pc = 0; pc < g.k; pc += K.kc) {
      const int kc = std::min(K.kc, g.k - pc);
      for (int j = 0; j < nc; j += K.nr) pack_b_panel(g, K, jc + j, std::min(K.nr, nc - j), pc, kc, pack_b + j * kc);
      for (int ic = 0; ic < g.m; ic += K.mc) {
        const int mc = std::min(K.mc, g.m - ic);
        pack_a_block(g, K, ic, mc, pc, kc, pack_a);
        multiply_block(g, K, ic, mc, jc, nc, pc, kc, pack_a, pack_b);
      }
    }
  }
}

// The sub-problem of rows [i0, i1) and columns [j0, j1) of C.
GemmArgs sub_problem(const GemmArgs& g, int i0, int i1, int j0, int j1) {
  GemmArgs s = g;
  s.m = i1 - i0;
  s.n = j1 - j0;
  s.a += g.trans_a ? i0 : i0 * g.lda;
  s.b += g.trans_b ? j0 * g.ldb : j0;
  s.c += i0 * g.ldc + j0;
  if (s.bias) s.bias += j0;
  return s;
}

// A tiny output over a long k (a Gram matrix G·Gᵀ of per-task gradients: T×T over k = the
// shared parameter count) with both operands' k runs contiguous (A not transposed, B
// transposed): micro-tiles would be almost all padding, so take plain dot products instead.
constexpr int kSmallOutput = 64;
constexpr int kSmallChunk = 4096;
constexpr int kSmallParts = 8;

// act(x) for one value, as the reference backend defines it (GELU: the tanh approximation).
float activate_scalar(Activation kind, float x) {
  switch (kind) {
    case Activation::relu: return x < 0 ? 0.0f : x;  // NaN stays NaN
    case Activation::tanh: return std::tanh(x);
    case Activation::sigmoid: return 1.0f / (1.0f + std::exp(-x));
    case Activation::gelu: return 0.5f * x * (1.0f + std::tanh(0.7978845608f * (x + 0.044715f * x * x * x)));
    case Activation::none: break;
  }
  return x;
}

bool small_output(const GemmArgs& g) {
  return g.m * g.n <= kSmallOutput && g.k >= 8 * g.m * g.n && !g.trans_a && g.trans_b;
}

// Σ a[i]·b[i] over [0, n): f32 lanes the compiler vectorises, each chunk summed into a double.
double dot(const float* a, const float* b, int64_t n) {
  double total = 0;
  for (int64_t c = 0; c < n; c += kSmallChunk) {
    const int64_t e = std::min<int64_t>(n, c + kSmallChunk);
    float lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = c;
    for (; i + 8 <= e; i += 8)
      for (int l = 0; l < 8; ++l) lanes[l] += a[i + l] * b[i + l];
    float tail = 0;
    for (; i < e; ++i) tail += a[i] * b[i];
    total += double(tail) + lanes[0] + lanes[1] + lanes[2] + lanes[3] + lanes[4] + lanes[5] + lanes[6] + lanes[7];
  }
  return total;
}

void gemm_small_output(const GemmArgs& g, int threads) {
  // The k range is cut into parts by k alone, each part summed by one task, and the caller adds
  // the parts in a fixed order, so the result depends neither on scheduling nor on the thread
  // count (a 1-thread and a 2-thread run give the same bits).
  const int parts = std::max(1, std::min(kSmallParts, static_cast<int>(g.k / kSmallChunk)));
  double partial[kSmallParts][kSmallOutput] = {};
  auto task = [&](int t, float*) {
    const int64_t k0 = int64_t(g.k) * t / parts, k1 = int64_t(g.k) * (t + 1) / parts;
    for (int i = 0; i < g.m; ++i)
      for (int j = 0; j < g.n; ++j)
        partial[t][i * g.n + j] = dot(g.a + i * g.lda + k0, g.b + j * g.ldb + k0, k1 - k0);
  };
  ThreadPool::instance().parallel_for(parts, std::min(threads, parts), 0, task);
  for (int i = 0; i < g.m; ++i) {
    for (int j = 0; j < g.n; ++j) {
      double acc = 0;
      for (int t = 0; t < parts; ++t) acc += partial[t][i * g.n + j];
      float x = g.alpha * static_cast<float>(acc);
      float* c = g.c + i * g.ldc + j;
      if (g.beta != 0.0f) x += g.beta * *c;
      if (g.bias) x += g.bias[j];
      *c = activate_scalar(g.act, x);
    }
  }
}

// Dynamic rows: B packed once into a buffer all threads share, C's rows cut into more blocks
// than threads, and no thread ever waiting for another before the end.
//   The work is one queue of tasks (ThreadPool::parallel_for hands them out from an atomic
// counter): for each phase p, one block (jc, pc) of B in gemm_serial's order (column block jc,
// then k slice pc), one task per row block r. Task (p, r) packs the row block's A (at most mc
// rows) into its thread's workspace and multiplies it by the phase's block of B, panel by
// panel, as gemm_serial does; a phase's B is used by all its tasks right after it is packed,
// while it is still in the shared L3 cache.
//   Nobody waits:
// - B's panels are packed by the tasks that need them: the first to find a panel unclaimed
//   claims it, packs it into the shared buffer and marks it ready; a task that finds a panel
//   being packed by another thread does its other panels first, and if the panel is still not
//   ready then (its packer was descheduled), packs a private copy of it (the same values).
// - A row block's phases must run in order (C accumulates slice by slice). The thread that
//   claims task (p, r) runs it only if no thread is running the row block; otherwise it just
//   counts it as pending (pending[r]) and moves on, and the thread running the row block runs
//   the pending phases after its own, in order.
// So a thread the OS deschedules (another tenant on its core) holds up the product by one row
// block at most (the task it holds, and that block's later slices), where a static split waits
// for its whole half: the other threads take the tasks it does not.
//   The row blocks shrink along C (guided scheduling: each takes a 1 / (2·threads) share of the
// tiles left, at least kMinBlockTiles tiles, at most mc rows): the first ones are big and read
// each B panel for many tiles, the last ones small.
//   Each C element sees the k slices, tiles and epilogues of gemm_serial, so the bits depend on
// neither the schedule nor the thread count; B is packed once, not once per thread.
constexpr int kMinBlockTiles = 3;
// Products below this many flops (about 0.6 ms on 2 threads) keep the grid: on W1's GEMMs
// (67–205 MFLOP) with half of one core taken by another process, the dynamic schedule's median
// call measured slower than the grid's (256×512×784: 240 against 348 GFLOP/s), so it is kept for
// the products where it gained (W2's and E1's: 0.5–8.6 GFLOP).
constexpr double kDynamicFlops = double(1 << 28);
// The largest shared B taken (floats; 64 MiB): beyond it a grid of private packings is used.
constexpr size_t kMaxSharedB = size_t{1} << 24;
// The most nr-panels in one column block (nc / nr: 64 on AVX-512, 512 on the scalar path).
constexpr int kMaxPanels = 512;

// The caller's scratch for dynamic rows, grow-only (a worker naming these thread_locals would
// get its own thread's copies): the shared B, the row blocks' bounds, the counters.
thread_local Workspace shared_b;
thread_local std::vector<int> row_bounds;
thread_local std::unique_ptr<std::atomic<int>[]> counters;
thread_local int counters_size = 0;

// Cuts C's rows into guided blocks for `threads` (block r is rows [row_bounds[r],
// row_bounds[r + 1]), read by gemm_dynamic_rows, its only caller); false where the grid is used
// instead: under kDynamicFlops, fewer than two blocks of kMinBlockTiles per thread, a shared B
// over kMaxSharedB floats, or more tasks than an int counts.
bool cut_rows(const GemmArgs& g, const IsaKernels& K, int threads) {
  const int tiles = (g.m + K.mr - 1) / K.mr;
  if (2.0 * g.m * g.n * g.k < kDynamicFlops) return false;
  if (tiles < 2 * threads * kMinBlockTiles || K.nc / K.nr > kMaxPanels) return false;
  const size_t width = (static_cast<size_t>(g.n) + K.nr - 1) / K.nr * K.nr;
  if (width * static_cast<size_t>(g.k) > kMaxSharedB) return false;
  row_bounds.clear();
  for (int done = 0; done < tiles;) {
    row_bounds.push_back(done * K.mr);
    const int share = std::max(kMinBlockTiles, (tiles - done) / (2 * threads));
    done += std::min({tiles - done, K.mc / K.mr, share});
  }
  row_bounds.push_back(g.m);
  // The task count (phases × blocks) and the tasks' indices are ints.
  const double phases = std::ceil(double(g.n) / K.nc) * std::ceil(double(g.k) / K.kc);
  return phases * double(row_bounds.size() - 1) <= double(INT_MAX);
}

// A packed panel's state in the shared buffer.
enum PanelState : int { kUnclaimed = 0, kPacking = 1, kReady = 2 };

// Runs the product as dynamic row blocks and returns true, or returns false (nothing done) where
// cut_rows says the grid is to be used.
bool gemm_dynamic_rows(const GemmArgs& g, const IsaKernels& K, int threads) {
  if (!cut_rows(g, K, threads)) return false;
  const int width = (g.n + K.nr - 1) / K.nr * K.nr;  // B's columns, padded to whole panels
  const int slices = (g.k + K.kc - 1) / K.kc;
  const int phases = (g.n + K.nc - 1) / K.nc * slices;
  const int panels = std::min(K.nc, width) / K.nr;  // per phase (the last column block's may be fewer)
  const int blocks = static_cast<int>(row_bounds.size()) - 1;
  const int count = 2 * blocks + phases * panels;
  shared_b.reserve(static_cast<size_t>(width) * g.k);
  if (counters_size < count) {
    counters.reset(new std::atomic<int>[count]);
    counters_size = count;
  }
  std::atomic<int>* const pending = counters.get();      // per row block: phases claimed, not yet run
  std::atomic<int>* const done = pending + blocks;       // per row block: phases run
  std::atomic<int>* const state = done + blocks;         // per phase and panel: a PanelState
  for (int i = 0; i < count; ++i) counters[i].store(0, std::memory_order_relaxed);  // all three
  const int* const bounds = row_bounds.data();
  float* const packed_b = shared_b.data();
  const size_t a_floats = static_cast<size_t>(K.mc) * K.kc;

  // Phase p of row block r.
  auto run = [&](int p, int r, float* workspace) {
    const int jc = p / slices * K.nc, pc = p % slices * K.kc;
    const int nc = std::min(K.nc, g.n - jc), kc = std::min(K.kc, g.k - pc);
    const int i0 = bounds[r], mc = bounds[r + 1] - i0;
    // Block (jc, pc) of B, panel q at q·nr·kc: the column blocks before it hold jc·k floats, its
    // column block's slices before it pc·(its padded width).
    float* const pack_b = packed_b + static_cast<size_t>(jc) * g.k + static_cast<size_t>(pc) * std::min(K.nc, width - jc);
    std::atomic<int>* const ready = state + p * panels;
    float* const pack_a = workspace;
    pack_a_block(g, K, i0, mc, pc, kc, pack_a);
    const TileEpilogue ep = slice_epilogue(g, pc, kc);
    int deferred[kMaxPanels];
    int deferrals = 0;
    for (int q = 0, j = 0; j < nc; ++q, j += K.nr) {
      const int cols = std::min(K.nr, nc - j);
      int s = ready[q].load(std::memory_order_acquire);
      if (s == kUnclaimed && ready[q].compare_exchange_strong(s, kPacking, std::memory_order_acq_rel)) {
        pack_b_panel(g, K, jc + j, cols, pc, kc, pack_b + j * kc);
        ready[q].store(kReady, std::memory_order_release);
        s = kReady;
      }
      if (s == kReady) {
        multiply_panel(g, K, i0, mc, jc + j, cols, pc, kc, pack_a, pack_b + j * kc, ep);
      } else {
        deferred[deferrals++] = q;
      }
    }
    for (int d = 0; d < deferrals; ++d) {
      const int q = deferred[d], j = q * K.nr, cols = std::min(K.nr, nc - j);
      const float* panel = pack_b + j * kc;
      if (ready[q].load(std::memory_order_acquire) != kReady) {
        float* own = workspace + a_floats;  // its packer is slow: a private copy
        pack_b_panel(g, K, jc + j, cols, pc, kc, own);
        panel = own;
      }
      multiply_panel(g, K, i0, mc, jc + j, cols, pc, kc, pack_a, panel, ep);
    }
  };
  auto task = [&](int t, float* workspace) {
    const int r = t % blocks;
    if (pending[r].fetch_add(1, std::memory_order_acq_rel) > 0) return;  // its runner will run it
    do {
      const int p = done[r].load(std::memory_order_relaxed);
      run(p, r, workspace);
      done[r].store(p + 1, std::memory_order_relaxed);
    } while (pending[r].fetch_sub(1, std::memory_order_acq_rel) > 1);
  };
  ThreadPool::instance().parallel_for(phases * blocks, threads, a_floats + static_cast<size_t>(K.kc) * K.nr, task);
  return true;
}

}  // namespace

size_t gemm_workspace_floats() {
  const IsaKernels& K = isa_kernels();
  return static_cast<size_t>(K.kc) * K.nc + static_cast<size_t>(K.mc) * K.kc;
}

void gemm_serial(const GemmArgs& g, float* workspace) {
  if (g.m <= 0 || g.n <= 0) return;
  gemm_serial(g, isa_kernels(), workspace);
}

void gemm(const GemmArgs& g, int threads) {
  if (g.m <= 0 || g.n <= 0) return;
  if (small_output(g)) return gemm_small_output(g, threads);
  const IsaKernels& K = isa_kernels();
  const int mp = (g.m + K.mr - 1) / K.mr;  // row panels
  const int np = (g.n + K.nr - 1) / K.nr;  // column panels
  if (2.0 * g.m * g.n * g.k < kParallelFlops) threads = 1;
  if (threads > 1 && gemm_dynamic_rows(g, K, threads)) return;
  // The grid tm × tn of threads with the least work on the busiest thread.
  int tm = 1, tn = 1;
  double best = INFINITY;
  for (int r = 1; r <= threads; ++r) {
    if (threads % r != 0) continue;
    const int c = threads / r;
    if (r > mp || c > np) continue;
    const double tiles = std::ceil(double(mp) / r) * std::ceil(double(np) / c) * K.mr * K.nr;
    const double cost = (tiles + kPackCost * (double(g.m) / r + double(g.n) / c)) * g.k;
    if (cost < best) best = cost, tm = r, tn = c;
  }
  const size_t workspace = gemm_workspace_floats();
  auto task = [&](int t, float* ws) {
    const int ti = t / tn, tj = t % tn;
    const int i0 = std::min(g.m, mp * ti / tm * K.mr), i1 = std::min(g.m, mp * (ti + 1) / tm * K.mr);
    const int j0 = std::min(g.n, np * tj / tn * K.nr), j1 = std::min(g.n, np * (tj + 1) / tn * K.nr);
    if (i0 < i1 && j0 < j1) gemm_serial(sub_problem(g, i0, i1, j0, j1), K, ws);
  };
  ThreadPool::instance().parallel_for(tm * tn, tm * tn, workspace, task);
}

}  // namespace hydranet

// ---- N-API entries (native/cpu/addon_args.h) ----------------------------------------

namespace hydranet::cpu_addon {

// gemm(a, b, c, bias|null, m, n, k, transA, transB, alpha, beta, activation, threads)
void gemm(const Args& a) {
  hydranet::GemmArgs g;
  g.m = a.dim(4, "m"), g.n = a.dim(5, "n"), g.k = a.dim(6, "k");
  g.trans_a = a.boolean(7, "transA"), g.trans_b = a.boolean(8, "transB");
  g.a = a.f32(0, "a", elements(a, "a", {g.m, g.k}));
  g.b = a.f32(1, "b", elements(a, "b", {g.k, g.n}));
  g.c = a.f32(2, "c", elements(a, "c", {g.m, g.n}));
  g.bias = a.f32_or_null(3, "bias", g.n);
  g.lda = g.trans_a ? g.m : g.k;
  g.ldb = g.trans_b ? g.k : g.n;
  g.ldc = g.n;
  g.alpha = static_cast<float>(a.number(9, "alpha"));
  g.beta = static_cast<float>(a.number(10, "beta"));
  g.act = a.activation(11);
  hydranet::gemm(g, a.threads(12));
}
const Export<gemm> export_gemm("gemm", 13);

}  // namespace hydranet::cpu_addon
