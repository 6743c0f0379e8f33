// The embedding input layer (EmbeddingLayout in ts/backends/layouts.ts; the reference backend is
// the spec):
//   x [n, W]        row i: numeric columns and one index column per field (integers as f32)
//   table [Σ V·D]   field f's row r (D_f values) at tableOffset_f + r·D_f
//   out, dOut [n, O] numeric columns first (in column order), then each field's vector at outOffset_f
//   embedding_forward   out[i, j] = x[i, numeric_j];  out[i, outOffset_f + d] = table[row_f(i) + d]   (=)
//   embedding_backward  dTable[row_f(i) + d] += dOut[i, outOffset_f + d], rows i in order           (+=)
//   embedding_sgd_step  table[row_f(i) + d] −= lr·dTable[row_f(i) + d]; dTable[row_f(i) + d] = 0     (in place)
// An index that is not an integer in [0, V_f) (NaN included) is reported before anything is
// written: forward and backward return field·n + row of the first one (fields in order, rows in
// order: the reference's order), else -1. The SGD step skips it (the forward reported it).
//
// Backward and the SGD step are race-free and deterministic without atomics: each parallel task
// OWNS a range of one field's table rows, scans the n indices of that field and visits the rows
// it owns, in row order (for_owned_lookups). Every table element is written by one thread, in
// the same order as the reference (each add rounded to f32), so the result is bit-identical to
// it whatever the thread count. The cost is one scan of n indices per task (one task per field,
// more only when fields < threads), small beside the adds. The SGD step visits a repeated row
// again and finds its gradient zero: the row is stepped once, by the dense sgdStep's own ISA
// kernel (isa_kernels().sgd_step over the row, momentum 0: whether it fuses p − lr·g into one
// FMA depends on the ISA), so a used row gets exactly the bits the dense step would give it.
#include <algorithm>
#include <cstring>
#include <vector>

#include "addon_args.h"
#include "threadpool.h"

namespace hydranet {
namespace {

// Whether y (an f32 index) picks a row of a table of `vocab` rows; false for NaN.
inline bool valid_index(float y, int32_t vocab) { return y >= 0.0f && y < static_cast<float>(vocab) && y == static_cast<float>(static_cast<int64_t>(y)); }

// field·n + row of the first bad index (fields in order, rows in order), or -1.
int64_t first_bad_index(const int32_t* layout, const float* x, int n) {
  const int fields = layout[0], W = layout[1];
  for (int f = 0; f < fields; ++f) {
    const int32_t* q = layout + 5 + 5 * f;
    for (int i = 0; i < n; ++i) {
      if (!valid_index(x[static_cast<int64_t>(i) * W + q[0]], q[1])) return static_cast<int64_t>(f) * n + i;
    }
  }
  return -1;
}

// Table elements a backward task owns at least (fewer tasks for small fields).
constexpr int64_t kOwnedGrain = 1 << 12;

// Rows ahead whose table rows forward and backward prefetch (their indices were checked by the pre-pass).
constexpr int64_t kAhead = 4;
// The SGD step's prefetch distance: a visit is a few instructions on two rows that both miss.
constexpr int64_t kAheadStep = 8;

// Calls visit(q, i, r) for every lookup (sample i, field with words q, table row r) of the n rows
// of x whose index is valid, from parallel tasks that each own a range of one field's rows (so
// no two tasks visit one row), each task in row order i. Prefetches the owned row of the lookup
// `distance` samples on in `ahead` and, unless null, `ahead2` (the tables the visit writes).
template <class Visit>
void for_owned_lookups(const int32_t* layout, const float* x, int n, int threads, int64_t distance, const float* ahead,
                       const float* ahead2, Visit visit) {
  const int fields = layout[0], W = layout[1];
  // Tasks: (field, first row, end row), each owning those rows of the field's table.
  struct Owned {
    int field;
    int64_t r0, r1;
  };
  std::vector<Owned> tasks;
  for (int f = 0; f < fields; ++f) {
    const int32_t* q = layout + 5 + 5 * f;
    const int64_t vocab = q[1], size = vocab * q[2];
    // Split a field only when there are fewer fields than threads: each part rescans the batch.
    const int64_t wanted = (threads + fields - 1) / fields;
    const int64_t parts = std::max<int64_t>(1, std::min<int64_t>({wanted, vocab, size / kOwnedGrain}));
    for (int64_t p = 0; p < parts; ++p) tasks.push_back({f, vocab * p / parts, vocab * (p + 1) / parts});
  }
  parallel_range(static_cast<int64_t>(tasks.size()), threads, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const Owned& o = tasks[static_cast<size_t>(t)];
      const int32_t* q = layout + 5 + 5 * o.field;
      const int col = q[0], vocab = q[1], dim = q[2];
      for (int64_t i = 0; i < n; ++i) {
        if (i + distance < n) {
          const float ya = x[(i + distance) * W + col];
          if (valid_index(ya, vocab)) {
            const int64_t ra = static_cast<int64_t>(ya);
            if (ra >= o.r0 && ra < o.r1) {
              __builtin_prefetch(ahead + q[3] + ra * dim, 1);
              if (ahead2 != nullptr) __builtin_prefetch(ahead2 + q[3] + ra * dim, 1);
            }
          }
        }
        const float y = x[i * W + col];
        if (!valid_index(y, vocab)) continue;
        const int64_t r = static_cast<int64_t>(y);
        if (r < o.r0 || r >= o.r1) continue;
        visit(q, i, r);
      }
    }
  });
}

}  // namespace

// The embedding forward over a packed EmbeddingLayout (checked by native/layouts.h).
int64_t embedding_forward(const int32_t* layout, const float* x, const float* table, float* out, int n, int threads) {
  const int64_t bad = first_bad_index(layout, x, n);
  if (bad >= 0) return bad;
  const int fields = layout[0], W = layout[1], numeric = layout[2], O = layout[3];
  const int32_t* cols = layout + 5 + 5 * fields;
  parallel_range(n, threads, std::max<int64_t>(1, (1 << 14) / O), [&](int64_t r0, int64_t r1) {
    for (int64_t i = r0; i < r1; ++i) {
      const float* xi = x + i * W;
      float* oi = out + i * O;
      // Large tables miss the caches on every lookup: ask for row i + kAhead's rows now.
      if (i + kAhead < r1) {
        const float* xa = xi + kAhead * W;
        for (int f = 0; f < fields; ++f) {
          const int32_t* q = layout + 5 + 5 * f;
          __builtin_prefetch(table + q[3] + static_cast<int64_t>(xa[q[0]]) * q[2]);
        }
      }
      for (int j = 0; j < numeric; ++j) oi[j] = xi[cols[j]];
      for (int f = 0; f < fields; ++f) {
        const int32_t* q = layout + 5 + 5 * f;
        const int64_t row = q[3] + static_cast<int64_t>(xi[q[0]]) * q[2];
        std::memcpy(oi + q[4], table + row, sizeof(float) * static_cast<size_t>(q[2]));
      }
    }
  });
  return -1;
}

int64_t embedding_backward(const int32_t* layout, const float* x, const float* dout, float* dtable, int n, int threads) {
  const int64_t bad = first_bad_index(layout, x, n);
  if (bad >= 0) return bad;
  const int O = layout[3];
  for_owned_lookups(layout, x, n, threads, kAhead, dtable, nullptr, [&](const int32_t* q, int64_t i, int64_t r) {
    const int dim = q[2];
    float* dst = dtable + q[3] + r * dim;
    const float* src = dout + i * O + q[4];
    for (int d = 0; d < dim; ++d) dst[d] += src[d];
  });
  return -1;
}

// Row-sparse SGD (momentum 0, weight decay 0) at the rows x picks; the gradient of those rows zeroed.
void embedding_sgd_step(const int32_t* layout, const float* x, float* table, float* dtable, int n, float lr, int threads) {
  const IsaKernels& K = isa_kernels();
  const SgdParams h{lr, 0.0f, 0.0f, false};
  constexpr int kChunk = 256;
  for_owned_lookups(layout, x, n, threads, kAheadStep, table, dtable, [&](const int32_t* q, int64_t, int64_t r) {
    const int dim = q[2];
    float* p = table + q[3] + r * dim;
    float* g = dtable + q[3] + r * dim;
    // sgd_step's momentum (it writes m = g), zeroed for each chunk: a NaN gradient of one row
    // cannot reach the next through 0·m. The step is elementwise, so chunks change nothing.
    float m[kChunk];
    for (int c0 = 0; c0 < dim; c0 += kChunk) {
      const int c = std::min(kChunk, dim - c0);
      std::fill(m, m + c, 0.0f);
      K.sgd_step(p + c0, g + c0, m, c, h);
    }
    std::fill(g, g + dim, 0.0f);
  });
}

}  // namespace hydranet

// ---- N-API entries (native/cpu/addon_args.h) ----------------------------------------

namespace hydranet::cpu_addon {

// embeddingForward(layout, x, table, out, n, threads) → -1, or field·n + row of the first bad index.
Napi::Value embedding_forward(const Args& a) {
  const layouts::Embedding L = layouts::embedding(a, 0, 4);
  const int64_t bad = hydranet::embedding_forward(L.packed, a.f32(1, "x", L.x), a.f32(2, "table", L.table),
                                                  a.f32(3, "out", L.out), L.n, a.threads(5));
  return Napi::Number::New(a.env(), static_cast<double>(bad));
}
const Export<embedding_forward> export_embedding_forward("embeddingForward", 6);

// embeddingBackward(layout, x, dOut, dTable, n, threads) → -1, or field·n + row of the first bad index.
Napi::Value embedding_backward(const Args& a) {
  const layouts::Embedding L = layouts::embedding(a, 0, 4);
  const int64_t bad = hydranet::embedding_backward(L.packed, a.f32(1, "x", L.x), a.f32(2, "dOut", L.out),
                                                   a.f32(3, "dTable", L.table), L.n, a.threads(5));
  return Napi::Number::New(a.env(), static_cast<double>(bad));
}
const Export<embedding_backward> export_embedding_backward("embeddingBackward", 6);

// embeddingSgdStep(layout, x, table, dTable, n, lr, threads): table −= lr·dTable, dTable = 0 at the rows x picks.
void embedding_sgd_step(const Args& a) {
  const layouts::Embedding L = layouts::embedding(a, 0, 4);
  hydranet::embedding_sgd_step(L.packed, a.f32(1, "x", L.x), a.f32(2, "table", L.table), a.f32(3, "dTable", L.table), L.n,
                               static_cast<float>(a.number(5, "lr")), a.threads(6));
}
const Export<embedding_sgd_step> export_embedding_sgd_step("embeddingSgdStep", 7);

}  // namespace hydranet::cpu_addon
