// The packed layouts of ts/backends/layouts.ts (HeadLayout, LossLayout, MixtureLayout,
// Conv2dGeometry, Pool2dGeometry, EmbeddingLayout) as the native addons (hydranet_cpu, hydranet_cuda) receive
// them: ONE decode-and-check per layout, shared by both addons and run before any kernel. A
// layout reaching native code was built and frozen by its TypeScript constructor, but the addons
// trust nothing: every entry is checked (counts, offsets, consistency with the call's batch n),
// nothing outside the Int32Array is ever read, and every size product is overflow-checked
// (elements()), so a crafted layout gives a RangeError, never a wrapped length that a short
// array could pass. The sizes returned are what each tensor argument's length must equal.
//
// Bounds beyond consistency, for the kernels' 32-bit index arithmetic: head widths and Σout,
// conv K = C·kh·kw, P = outH·outW, H + 2·padding + stride (and W's) at most 2^31 − 1; a pool
// plane at most 2^24 elements (argmax indices travel as f32, every one exact).
//
// heads, mixture, conv and pool take the indices of the layout argument and of the call's batch
// n, read n first (a positive int32), then the layout, and return n with the sizes.
#pragma once
#include <napi.h>

#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <string>
#include <vector>

#include "geometry.h"
#include "napi_args.h"

namespace hydranet::layouts {

using napi::ArgsBase;

constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();

// x·y into *out; false when the product overflows int64.
inline bool checked_mul(int64_t x, int64_t y, int64_t* out) { return !__builtin_mul_overflow(x, y, out); }

// The product of non-negative sizes, or a RangeError naming `what` when it overflows int64.
inline int64_t elements(const ArgsBase& a, const char* what, std::initializer_list<int64_t> sizes) {
  int64_t n = 1;
  for (const int64_t s : sizes) {
    if (!checked_mul(n, s, &n)) a.range_error(std::string("the element count of ") + what + " overflows 64 bits");
  }
  return n;
}

// x + y for sizes that are each below 2^62 (sums of int32 values and checked products).
inline int64_t checked_add(const ArgsBase& a, const char* what, int64_t x, int64_t y) {
  int64_t s;
  if (__builtin_add_overflow(x, y, &s)) a.range_error(std::string("the element count of ") + what + " overflows 64 bits");
  return s;
}

inline std::string str(int64_t v) { return std::to_string(v); }

// The call's batch n (argument n_arg, read first) and the packed Int32Array `name` (argument
// arg): a layout of at least `size` entries, or a geometry (exact) of `size`; else a RangeError
// that starts with `bad`.
struct Packed {
  int n;
  const int32_t* p;
  size_t len;
};
inline Packed packed(const ArgsBase& a, size_t arg, size_t n_arg, const char* name, const std::string& bad,
                     size_t size, bool exact = false) {
  const int n = a.dim(n_arg, "n");
  const Napi::Int32Array array = a.i32(arg, name);
  const size_t len = array.ElementLength();
  if (exact && len != size) a.range_error(bad + " (" + str(size) + " entries)");
  if (len < size) a.range_error(bad + ": " + str(len) + " entries, at least " + str(size) + " expected");
  return {n, array.Data(), len};
}

// ---- HeadLayout: [mode (0 segmented, 1 shared, 2 stacked), T, stride, then per task:
// inSize, outSize, inOffset, outOffset, weightOffset] -------------------------------------------
struct Heads {
  const int32_t* packed;
  int mode, tasks;
  int64_t width;      // elements of one row of x: D (shared, stacked) or Σ inSize (segmented)
  int64_t total_out;  // Σ outSize: columns of y
  int64_t weights;    // Σ inSize·outSize
  int64_t x, y, per_task;  // elements of x (= dx), y (= dy) and perTaskDx for the call's n rows
  int n;
};

inline Heads heads(const ArgsBase& a, size_t layout_arg, size_t n_arg) {
  const std::string bad = "layout is not a packed HeadLayout";
  const auto [n, p, len] = packed(a, layout_arg, n_arg, "layout", bad, 3);
  const int64_t mode = p[0], tasks = p[1], stride = p[2];
  if (mode < 0 || mode > 2) a.range_error(bad + ": mode " + str(mode) + " is not 0, 1 or 2");
  if (tasks < 1 || static_cast<int64_t>(len) != 3 + 5 * tasks) {
    a.range_error(bad + ": " + str(len) + " entries for " + str(tasks) + " tasks");
  }
  if (mode == 2 ? stride < 1 : stride != 0) a.range_error(bad + ": stride " + str(stride) + " for mode " + str(mode));
  Heads h{p, static_cast<int>(mode), static_cast<int>(tasks), 0, 0, 0, 0, 0, 0, n};
  int64_t total_in = 0;
  for (int64_t t = 0; t < tasks; ++t) {
    const int32_t* q = p + 3 + 5 * t;
    const int64_t in = q[0], out = q[1], in_off = q[2], out_off = q[3], w_off = q[4];
    const int64_t want_in_off = mode == 1 ? 0 : mode == 2 ? t * stride : total_in;
    const bool ok = in >= 1 && out >= 1 && in_off == want_in_off && out_off == h.total_out && w_off == h.weights &&
                    (mode == 0 || t == 0 || in == h.width);
    if (!ok) a.range_error(bad + " (task " + str(t) + ")");
    if (mode == 2 && elements(a, "a stacked head block", {n, in}) > stride) {
      a.range_error(bad + ": " + str(n) + " rows of " + str(in) + " overrun the stride " + str(stride));
    }
    h.width = in;
    total_in += in;  // each term < 2^31, at most 2^31 of them: no overflow
    h.total_out += out;
    h.weights = checked_add(a, "w", h.weights, elements(a, "w", {in, out}));
  }
  if (mode == 0) h.width = total_in;
  if (h.width > kInt32Max || h.total_out > kInt32Max) a.range_error(bad + ": heads wider than 2^31 − 1");
  h.x = mode == 2 ? elements(a, "x", {tasks, stride}) : elements(a, "x", {n, h.width});
  h.y = elements(a, "y", {n, h.total_out});
  h.per_task = elements(a, "perTaskDx", {tasks, n, h.width});
  return h;
}

// ---- LossLayout: per task [kind (0 softmax-ce, 1 bce, 2 mse, 3 l1, 4 smooth-l1, 5 gce, 6 sce,
// 7 bootstrap-soft, 8 bootstrap-hard, 9 label-smoothing, 10 distill), outOffset, outWidth, tgtOffset,
// tgtWidth] (5·T words), then per task two f32 parameters as their bits (2·T words; the kind's
// parameters in LOSS_PARAMETERS order, unused slots 0) --------------------------------------
constexpr int kLossKinds = 11;

// The class kinds (softmax-ce and the noise-robust 5 .. 9): one class index per row, a softmax
// over at least 2 logits.
inline bool is_class_loss(int64_t kind) { return kind == 0 || (kind >= 5 && kind <= 9); }

// The soft-target kind (10 distill): a probability per logit as the target, a softmax over at
// least 2 logits, a per-row loss (no mean over the width).
inline bool is_soft_target_loss(int64_t kind) { return kind == 10; }

// Task t's parameter `slot` (0 or 1) of a checked layout of `tasks` tasks.
inline float loss_param(const int32_t* packed, int tasks, int t, int slot) {
  float v;
  std::memcpy(&v, packed + 5 * static_cast<int64_t>(tasks) + 2 * t + slot, sizeof v);
  return v;
}

// Whether the two parameter words fit the kind (LOSS_PARAMETERS in ts/backends/layouts.ts): gce
// 0 < q ≤ 1; sce 0 ≤ α, β ≤ 1000; bootstrap β and label-smoothing ε in [0, 1]; distill
// 0 < T ≤ 1000; every unused
// slot exactly 0 (NaN fails every comparison).
inline bool loss_params_ok(int64_t kind, const int32_t* words) {
  float v[2];
  std::memcpy(v, words, sizeof v);
  const bool unused1 = words[1] == 0;
  switch (kind) {
    case 5: return v[0] > 0.0f && v[0] <= 1.0f && unused1;
    case 6: return v[0] >= 0.0f && v[0] <= 1000.0f && v[1] >= 0.0f && v[1] <= 1000.0f;
    case 7: case 8: case 9: return v[0] >= 0.0f && v[0] <= 1.0f && unused1;
    case 10: return v[0] > 0.0f && v[0] <= 1000.0f && unused1;
    default: return words[0] == 0 && unused1;
  }
}

struct Loss {
  const int32_t* packed;
  int tasks;
  int64_t logits, targets, mask;  // elements of logits (= dlogits), targets, mask (= perSampleLosses out) for n rows
};

inline Loss loss(const ArgsBase& a, const Napi::Int32Array& layout, int64_t n, int64_t total_out, int64_t total_tgt) {
  const size_t len = layout.ElementLength();
  const int32_t* p = layout.Data();
  if (len == 0 || len % 7 != 0) a.range_error("layout is not a packed LossLayout: " + str(len) + " entries");
  const int64_t tasks = static_cast<int64_t>(len / 7);
  for (int64_t t = 0; t < tasks; ++t) {
    const int32_t* q = p + 5 * t;
    const int64_t kind = q[0], off = q[1], width = q[2], toff = q[3], twidth = q[4];
    const bool cls = is_class_loss(kind);
    const bool ok = kind >= 0 && kind < kLossKinds && off >= 0 && width >= (cls || is_soft_target_loss(kind) ? 2 : 1) && off + width <= total_out &&
                    toff >= 0 && twidth == (cls ? 1 : width) && toff + twidth <= total_tgt &&
                    loss_params_ok(kind, p + 5 * tasks + 2 * t);
    if (!ok) a.range_error("layout is not a packed LossLayout for " + str(total_out) + " logit and " + str(total_tgt) +
                           " target columns (task " + str(t) + ")");
  }
  return {p, static_cast<int>(tasks), elements(a, "logits", {n, total_out}), elements(a, "targets", {n, total_tgt}),
          elements(a, "mask", {n, tasks})};
}

// ---- MixtureLayout: [T, E, width, expertStride, outStride, gateWidth, then per task: k_t,
// gateOffset_t, then every task's expert indices in order] ------------------------------------
struct Mixture {
  const int32_t* packed;
  int length;
  int64_t x, z, out;  // elements of x (= dx), z (= g, dz) for n rows, out (= dOut)
  int n;
};

inline Mixture mixture(const ArgsBase& a, size_t layout_arg, size_t n_arg) {
  const std::string bad = "layout is not a packed MixtureLayout";
  const auto [n, p, len] = packed(a, layout_arg, n_arg, "layout", bad, 6);
  const int64_t tasks = p[0], experts = p[1], width = p[2], sx = p[3], so = p[4], zw = p[5];
  if (tasks < 1 || experts < 1 || width < 1 || zw < 1 || static_cast<int64_t>(len) != 6 + 2 * tasks + zw) {
    a.range_error(bad + ": " + str(len) + " entries for " + str(tasks) + " tasks and gate width " + str(zw));
  }
  const int64_t rows = elements(a, "an expert block", {n, width});
  if (rows > sx || rows > so) {
    a.range_error(bad + ": " + str(n) + " rows of " + str(width) + " overrun the strides " + str(sx) + " / " + str(so));
  }
  const int32_t* expert_of = p + 6 + 2 * tasks;  // gate column → expert, zw entries
  int64_t z = 0;
  for (int64_t t = 0; t < tasks; ++t) {
    const int64_t k = p[6 + 2 * t], off = p[7 + 2 * t];
    // The block must lie inside the gate width BEFORE its experts are read.
    if (k < 1 || off != z || k > zw - z) {
      a.range_error(bad + ": task " + str(t) + "'s gate block [" + str(off) + ", " + str(off) + " + " + str(k) +
                    ") does not follow at column " + str(z) + " within the gate width " + str(zw));
    }
    for (int64_t j = 0; j < k; ++j) {
      const int64_t e = expert_of[off + j];
      if (e < 0 || e >= experts) a.range_error(bad + ": task " + str(t) + " names expert " + str(e) + " of " + str(experts));
    }
    z += k;
  }
  if (z != zw) a.range_error(bad + ": the tasks' gate blocks cover " + str(z) + " of " + str(zw) + " columns");
  return {p, static_cast<int>(len), elements(a, "x", {experts, sx}), elements(a, "z", {n, zw}),
          elements(a, "out", {tasks, so}), n};
}

// ---- Conv2dGeometry: [C, H, W, outC, kh, kw, stride, padding, outH, outW] ----------------------
struct Conv {
  ConvShape shape;  // what the kernels take
  int out_c;
  int64_t patch, pixels;  // K = C·kh·kw (rows of im2col), P = outH·outW (its columns)
  int64_t w, x, y;        // elements of w (= dw), and of x (= dx), y (= dy) for n images
  int n;
};

inline Conv conv(const ArgsBase& a, size_t geometry_arg, size_t n_arg) {
  const auto [n, g, len] =
      packed(a, geometry_arg, n_arg, "geometry", "geometry is not a packed Conv2dGeometry", 10, true);
  const int64_t c = g[0], h = g[1], w = g[2], oc = g[3], kh = g[4], kw = g[5], stride = g[6], pad = g[7], oh = g[8],
                ow = g[9];
  const int64_t span_h = h + 2 * pad - kh, span_w = w + 2 * pad - kw;
  const bool ok = c >= 1 && h >= 1 && w >= 1 && oc >= 1 && kh >= 1 && kw >= 1 && stride >= 1 && pad >= 0 &&
                  span_h >= 0 && span_w >= 0 && oh == span_h / stride + 1 && ow == span_w / stride + 1;
  if (!ok) a.range_error("geometry is not a consistent packed Conv2dGeometry");
  Conv s{conv_shape(g), static_cast<int>(oc), elements(a, "a conv patch", {c, kh, kw}), elements(a, "a conv output plane", {oh, ow}),
         0, 0, 0, n};
  if (h + 2 * pad + stride > kInt32Max || w + 2 * pad + stride > kInt32Max || s.patch > kInt32Max ||
      s.pixels > kInt32Max || elements(a, "w", {oc, s.patch}) > kInt32Max * 64 ||
      elements(a, "im2col", {s.patch, s.pixels}) > (int64_t{1} << 40)) {
    a.range_error("conv2d geometry is too large");
  }
  s.w = elements(a, "w", {oc, s.patch});
  s.x = elements(a, "x", {n, c, h, w});
  s.y = elements(a, "y", {n, oc, s.pixels});
  return s;
}

// ---- Pool2dGeometry: [C, H, W, size, stride, outH, outW] --------------------------------------
struct Pool {
  PoolShape shape;  // what the kernels take
  int64_t x, y;  // elements of x (= dx) and of y (= dy, argmax) for n images
  int n;
};

inline Pool pool(const ArgsBase& a, size_t geometry_arg, size_t n_arg) {
  const auto [n, g, len] =
      packed(a, geometry_arg, n_arg, "geometry", "geometry is not a packed Pool2dGeometry", 7, true);
  const int64_t c = g[0], h = g[1], w = g[2], size = g[3], stride = g[4], oh = g[5], ow = g[6];
  const bool ok = c >= 1 && h >= 1 && w >= 1 && size >= 1 && stride >= 1 && size <= h && size <= w &&
                  oh == (h - size) / stride + 1 && ow == (w - size) / stride + 1;
  if (!ok) a.range_error("geometry is not a consistent packed Pool2dGeometry");
  if (h * w > (int64_t{1} << 24)) a.range_error("max-pool planes are limited to 2^24 elements");
  return {pool_shape(g), elements(a, "x", {n, c, h, w}), elements(a, "y", {n, c, oh, ow}), n};
}

// ---- EmbeddingLayout: [F, inputWidth, numericWidth, outWidth, tableSize, then per field: column,
// vocab, dim, tableOffset, outOffset (5·F words), then the numeric columns in order] ----------
// Every input column is either one field's index column or a numeric column (exactly once);
// fields' tables follow one another in the arena and their vectors one another in out, after
// the numeric columns; vocab ≤ 2^24 (indices travel as f32, every one exact).
constexpr int64_t kMaxEmbeddingVocab = int64_t{1} << 24;

struct Embedding {
  const int32_t* packed;
  int fields, input_width, numeric, out_width;
  int64_t table;   // elements of the table arena (= dTable)
  int64_t x, out;  // elements of x and of out (= dOut) for the call's n rows
  int n;
  // Field f's words: column, vocab, dim, tableOffset, outOffset.
  const int32_t* field(int f) const { return packed + 5 + 5 * static_cast<int64_t>(f); }
  const int32_t* numeric_columns() const { return packed + 5 + 5 * static_cast<int64_t>(fields); }
};

inline Embedding embedding(const ArgsBase& a, size_t layout_arg, size_t n_arg) {
  const std::string bad = "layout is not a packed EmbeddingLayout";
  const auto [n, p, len] = packed(a, layout_arg, n_arg, "layout", bad, 5);
  const int64_t F = p[0], W = p[1], numeric = p[2], out_width = p[3], table = p[4];
  if (F < 1 || W < 1 || numeric < 0 || numeric + F != W || static_cast<int64_t>(len) != 5 + 5 * F + numeric) {
    a.range_error(bad + ": " + str(len) + " entries for " + str(F) + " fields, " + str(numeric) + " numeric of " + str(W) + " columns");
  }
  std::vector<char> seen(static_cast<size_t>(W), 0);
  const int32_t* cols = p + 5 + 5 * F;
  for (int64_t j = 0; j < numeric; ++j) {
    const int64_t c = cols[j];
    if (c < 0 || c >= W || (j > 0 && c <= cols[j - 1])) a.range_error(bad + ": numeric column " + str(j) + " is " + str(c));
    seen[static_cast<size_t>(c)] = 1;
  }
  int64_t t = 0, o = numeric;
  for (int64_t f = 0; f < F; ++f) {
    const int32_t* q = p + 5 + 5 * f;
    const int64_t c = q[0], vocab = q[1], dim = q[2];
    const bool ok = c >= 0 && c < W && !seen[static_cast<size_t>(c)] && vocab >= 1 && vocab <= kMaxEmbeddingVocab && dim >= 1 &&
                    q[3] == t && q[4] == o;
    if (!ok) a.range_error(bad + " (field " + str(f) + ")");
    seen[static_cast<size_t>(c)] = 1;
    t = checked_add(a, "the embedding table", t, elements(a, "a field's table", {vocab, dim}));
    o += dim;  // each term < 2^31, at most 2^31 of them: no overflow
    if (t > kInt32Max || o > kInt32Max) a.range_error(bad + ": the table or the output rows exceed 2^31 − 1 elements");
  }
  if (t != table || o != out_width) a.range_error(bad + ": tableSize " + str(table) + " / outWidth " + str(out_width) + " do not match the fields");
  return {p, static_cast<int>(F), static_cast<int>(W), static_cast<int>(numeric), static_cast<int>(out_width), table,
          elements(a, "x", {n, W}), elements(a, "out", {n, out_width}), n};
}

}  // namespace hydranet::layouts
