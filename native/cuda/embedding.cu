// The embedding input layer on the CUDA backend (EmbeddingLayout in ts/backends/layouts.ts; the
// reference backend is the spec):
//   x [n, W]         row i: numeric columns and one index column per field (integers as f32)
//   table [Σ V·D]    field f's row r (D_f values) at tableOffset_f + r·D_f
//   out, dOut [n, O] numeric columns first (in column order), then each field's vector at outOffset_f
//   embedding_forward   one thread per out element: a numeric column's value, or the table value
//                       its field's index picks (=)
//   embedding_backward  one thread per (field, d) column of the tables: it OWNS column d of field
//                       f's table, scans the n rows in order and adds dOut[i, outOffset_f + d] at
//                       the row x[i, column_f] picks (+=)
//   embedding_sgd_step  the same ownership: at the row x[i, column_f] picks, table −= lr·dTable,
//                       then dTable = 0 (in place; a repeated row finds a zero gradient and is
//                       stepped once; p − lr·g as optim.cu's SGD writes it). Bad indices skipped.
// Backward and the SGD step are race-free and deterministic without atomics (no two threads ever write one table
// element) and adds in the reference's row order, so it matches it bit for bit. Its parallelism
// is Σ D_f threads of n steps each; float atomicAdd would spread wider but adds in an arbitrary
// order.
// An index that is not an integer in [0, V_f) (NaN included) claims the Status words (2, field,
// row, value bits): forward writes 0 for that lookup and backward skips it; the addon throws
// LabelError at the next read or sync.
// The layout travels by value in the launch parameters: at most kMaxEmbeddingFields fields
// (CUDA_CAPABILITIES in ts/backends/cuda.ts); a numeric out column j reads input column j plus
// the number of field columns at or before it (fields' columns sorted in the parameters).
#include <algorithm>
#include <cstdint>

#include "device_math.cuh"
#include "addon_device.h"

namespace hydranet::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kMaxEmbeddingFields = 128;

struct EmbeddingParams {
  int fields, input_width, numeric, out_width, n;
  int column[kMaxEmbeddingFields], vocab[kMaxEmbeddingFields], dim[kMaxEmbeddingFields], out_offset[kMaxEmbeddingFields];
  int table_offset[kMaxEmbeddingFields];
  int sorted_columns[kMaxEmbeddingFields];  // the fields' index columns, ascending
};

EmbeddingParams params_of(const int32_t* layout, int n) {
  EmbeddingParams p{};
  p.fields = layout[0];
  p.input_width = layout[1];
  p.numeric = layout[2];
  p.out_width = layout[3];
  p.n = n;
  for (int f = 0; f < p.fields; ++f) {
    const int32_t* q = layout + 5 + 5 * f;
    p.column[f] = q[0];
    p.vocab[f] = q[1];
    p.dim[f] = q[2];
    p.table_offset[f] = q[3];
    p.out_offset[f] = q[4];
    p.sorted_columns[f] = q[0];
  }
  std::sort(p.sorted_columns, p.sorted_columns + p.fields);
  return p;
}

__device__ __forceinline__ bool valid_index(float y, int vocab) {
  return y >= 0.0f && y < static_cast<float>(vocab) && y == floorf(y);
}

__device__ __forceinline__ void report_bad_index(Status status, int field, int row, float y) { report_status(status, 2u, field, row, y); }

// The field whose vector holds out column j ≥ numeric (fields' out offsets ascend).
__device__ __forceinline__ int field_of(const EmbeddingParams& p, int j) {
  int lo = 0, hi = p.fields - 1;
  while (lo < hi) {
    const int mid = (lo + hi + 1) >> 1;
    if (p.out_offset[mid] <= j) lo = mid; else hi = mid - 1;
  }
  return lo;
}

__global__ void embedding_forward_kernel(const __grid_constant__ EmbeddingParams p, const float* __restrict__ x,
                                         const float* __restrict__ table, float* __restrict__ out, Status status) {
  const int64_t total = static_cast<int64_t>(p.n) * p.out_width;
  for (int64_t e = global_index(); e < total; e += global_stride()) {
    const int64_t i = e / p.out_width;
    const int j = static_cast<int>(e - i * p.out_width);
    const float* xi = x + i * p.input_width;
    if (j < p.numeric) {
      int c = j;
      for (int k = 0; k < p.fields && p.sorted_columns[k] <= c; ++k) ++c;
      out[e] = xi[c];
      continue;
    }
    const int f = field_of(p, j);
    const float y = xi[p.column[f]];
    if (!valid_index(y, p.vocab[f])) {
      if (j == p.out_offset[f]) report_bad_index(status, f, static_cast<int>(i), y);
      out[e] = 0.0f;
      continue;
    }
    out[e] = table[p.table_offset[f] + static_cast<int64_t>(y) * p.dim[f] + (j - p.out_offset[f])];
  }
}

// One thread per embedded out column j = (field f, d), which owns column d of field f's table:
// calls visit(j, i, e) for every sample i in order whose index is valid, e the table element
// (tableOffset_f + row·D_f + d); a bad index is reported (status null: skipped silently).
template <class Visit>
__device__ void for_owned_column(const EmbeddingParams& p, const float* __restrict__ x, Status status, Visit visit) {
  const int columns = p.out_width - p.numeric;
  for (int64_t c = global_index(); c < columns; c += global_stride()) {
    const int j = p.numeric + static_cast<int>(c);
    const int f = field_of(p, j);
    const int d = j - p.out_offset[f], dim = p.dim[f], vocab = p.vocab[f], col = p.column[f];
    const int64_t base = p.table_offset[f] + d;
    for (int i = 0; i < p.n; ++i) {
      const float y = x[static_cast<int64_t>(i) * p.input_width + col];
      if (!valid_index(y, vocab)) {
        if (d == 0) report_bad_index(status, f, i, y);
        continue;
      }
      visit(j, i, base + static_cast<int64_t>(y) * dim);
    }
  }
}

__global__ void embedding_backward_kernel(const __grid_constant__ EmbeddingParams p, const float* __restrict__ x,
                                          const float* __restrict__ dout, float* __restrict__ dtable, Status status) {
  for_owned_column(p, x, status, [&](int j, int i, int64_t e) { dtable[e] += dout[static_cast<int64_t>(i) * p.out_width + j]; });
}

__global__ void embedding_sgd_step_kernel(const __grid_constant__ EmbeddingParams p, const float* __restrict__ x,
                                          float* __restrict__ table, float* __restrict__ dtable, float lr) {
  for_owned_column(p, x, Status{}, [&](int, int, int64_t e) {
    table[e] = table[e] - lr * dtable[e];
    dtable[e] = 0.0f;
  });
}

}  // namespace

// The embedding forward over a packed EmbeddingLayout (HOST memory, checked by native/layouts.h).
cudaError_t embedding_forward(const int32_t* layout, const float* x, const float* table, float* out, int n, Status status,
                              cudaStream_t stream) {
  const EmbeddingParams p = params_of(layout, n);
  embedding_forward_kernel<<<blocks_for(static_cast<int64_t>(n) * p.out_width, kThreads), kThreads, 0, stream>>>(
      p, x, table, out, status);
  return cudaGetLastError();
}

// dTable += the field segments of dOut at the rows x's indices pick (per-(field, d) ownership).
cudaError_t embedding_backward(const int32_t* layout, const float* x, const float* dout, float* dtable, int n,
                               Status status, cudaStream_t stream) {
  const EmbeddingParams p = params_of(layout, n);
  const int columns = p.out_width - p.numeric;
  embedding_backward_kernel<<<blocks_for(columns, 64), 64, 0, stream>>>(p, x, dout, dtable, status);
  return cudaGetLastError();
}

// Row-sparse SGD (momentum 0, weight decay 0) at the rows x picks, their gradient zeroed.
cudaError_t embedding_sgd_step(const int32_t* layout, const float* x, float* table, float* dtable, int n, float lr,
                               cudaStream_t stream) {
  const EmbeddingParams p = params_of(layout, n);
  const int columns = p.out_width - p.numeric;
  embedding_sgd_step_kernel<<<blocks_for(columns, 64), 64, 0, stream>>>(p, x, table, dtable, lr);
  return cudaGetLastError();
}

}  // namespace hydranet::cuda

// ---- N-API entries (native/cuda/addon_device.h) ----------------------------------------

namespace hydranet::cuda_addon {

namespace {
// The layout, checked, within the kernels' field limit (the op table checks it first).
layouts::Embedding embedding_layout(const Args& a) {
  const layouts::Embedding L = layouts::embedding(a, 0, 4);
  if (L.fields > 128) a.range_error("the cuda embedding kernels take at most 128 fields");
  return L;
}
}  // namespace

// embeddingForward(layout, x, table, out, n) -> -1 (a bad index is flagged on the device and
// thrown by read/sync).
Napi::Value embedding_forward(const Args& a) {
  const layouts::Embedding L = embedding_layout(a);
  check_cuda(hc::embedding_forward(L.packed, a.dev(1, "x", L.x), a.dev(2, "table", L.table), a.dev(3, "out", L.out), L.n,
      state().status, state().stream), "embeddingForward");
  return Napi::Number::New(a.env(), -1);
}
const Export<embedding_forward> export_embedding_forward("embeddingForward", 5);

// embeddingBackward(layout, x, dOut, dTable, n) -> -1 (as embeddingForward).
Napi::Value embedding_backward(const Args& a) {
  const layouts::Embedding L = embedding_layout(a);
  check_cuda(hc::embedding_backward(L.packed, a.dev(1, "x", L.x), a.dev(2, "dOut", L.out), a.dev(3, "dTable", L.table),
      L.n, state().status, state().stream), "embeddingBackward");
  return Napi::Number::New(a.env(), -1);
}
const Export<embedding_backward> export_embedding_backward("embeddingBackward", 5);

// embeddingSgdStep(layout, x, table, dTable, n, lr): table −= lr·dTable, dTable = 0 at the rows x picks (bad indices skipped).
void embedding_sgd_step(const Args& a) {
  const layouts::Embedding L = embedding_layout(a);
  check_cuda(hc::embedding_sgd_step(L.packed, a.dev(1, "x", L.x), a.dev(2, "table", L.table), a.dev(3, "dTable", L.table), L.n,
      static_cast<float>(a.number(5, "lr")), state().stream), "embeddingSgdStep");
}
const Export<embedding_sgd_step> export_embedding_sgd_step("embeddingSgdStep", 6);

}  // namespace hydranet::cuda_addon
