// 2-D convolution (NCHW, cross-correlation as in PyTorch) by im2col + the GEMM of gemm.cc.
// Per sample i, with K = C·kh·kw rows and P = outH·outW columns:
//   col_i [K, P]      col_i[(c·kh + ky)·kw + kx, oy·outW + ox] = x_i[c, oy·s − p + ky, ox·s − p + kx] (0 off the image)
//   forward:  y_i [outC, P] = act(W [outC, K] · col_i + b)                                      "="
//   backward: dW += dy_i · col_iᵀ,  db += Σ_P dy_i,  dx_i = col2im(Wᵀ · dy_i)                    "+=", "+=", "="
// y_i and dy_i are already NCHW ([outC, P] per sample), so no transposes are needed anywhere.
//
// Bias: it is per output channel, i.e. per ROW of y_i, which the GEMM epilogue's bias (per
// column) does not cover. Each row of y_i is therefore pre-filled with b[o] and the GEMM runs
// with beta = 1 and the activation in its epilogue: y_i = act(W·col_i + 1·b), still one pass
// over y_i and no separate bias/activation sweep. Without a bias, beta = 0.
//
// A 1×1 kernel with stride 1 and no padding needs no im2col: col_i is x_i itself, and the dx
// GEMM writes dx_i directly.
//
// Threads: tasks are samples (forward) or fixed chunks of samples (backward), each running
// serial GEMMs on its own thread's workspace [GEMM packing | col | dcol], grow-only and reserved
// by the thread pool on the calling thread, so no allocation happens per call in steady state.
// With fewer samples than threads the forward runs its samples one by one on the threaded GEMM
// instead (the same bits: gemm splits only C, never k). Backward chunks depend only on
// the shapes, never on the thread count: each chunk accumulates its own dW (and db in double),
// and the chunks are summed in chunk order, so results are identical for any thread count.
#include <algorithm>
#include <cstring>
#include <vector>

#include "addon_args.h"
#include "threadpool.h"

namespace hydranet {
namespace {

bool is_direct(const ConvShape& s) { return s.kh == 1 && s.kw == 1 && s.stride == 1 && s.padding == 0; }

// The output columns [lo, hi) whose input coordinate o·stride − padding + k lies in [0, extent).
void valid_range(int out, int extent, int stride, int padding, int k, int& lo, int& hi) {
  const int a = padding - k;
  lo = a <= 0 ? 0 : (a + stride - 1) / stride;
  const int b = extent - 1 + padding - k;
  hi = b < 0 ? 0 : std::min(out, b / stride + 1);
  if (lo > hi) lo = hi;
}

// dst[0, n) = src[0, n) for the short runs of im2col (a LeNet row is 8 to 24 floats): fixed-size
// copies the compiler inlines, instead of a call to memcpy per run.
inline void copy_run(float* dst, const float* src, int n) {
  int i = 0;
  for (; i + 8 <= n; i += 8) std::memcpy(dst + i, src + i, 8 * sizeof(float));
  for (; i < n; ++i) dst[i] = src[i];
}

// Σ r[0, n) in double, in eight interleaved partial sums (one running sum is a chain of
// dependent additions, four cycles each), added in a fixed order: the same bits on every run.
inline double sum_run(const float* r, int64_t n) {
  double part[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t p = 0;
  for (; p + 8 <= n; p += 8)
    for (int l = 0; l < 8; ++l) part[l] += r[p + l];
  for (int l = 0; p < n; ++p, ++l) part[l] += r[p];
  return ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
}

void im2col(const ConvShape& s, const float* x, float* col) {
  const int64_t P = s.pixels();
  float* row = col;
  if (s.stride == 1 && s.padding == 0) {
    // Every window lies inside the image (LeNet's convolutions): each col row is out_h runs
    // of out_w pixels, no bounds and no zeros.
    for (int c = 0; c < s.c; ++c) {
      const float* plane = x + int64_t{c} * s.h * s.w;
      for (int ky = 0; ky < s.kh; ++ky) {
        for (int kx = 0; kx < s.kw; ++kx, row += P) {
          const float* src = plane + int64_t{ky} * s.w + kx;
          for (int oy = 0; oy < s.out_h; ++oy) copy_run(row + int64_t{oy} * s.out_w, src + int64_t{oy} * s.w, s.out_w);
        }
      }
    }
    return;
  }
  for (int c = 0; c < s.c; ++c) {
    const float* plane = x + int64_t{c} * s.h * s.w;
    for (int ky = 0; ky < s.kh; ++ky) {
      for (int kx = 0; kx < s.kw; ++kx, row += P) {
        int lo, hi;
        valid_range(s.out_w, s.w, s.stride, s.padding, kx, lo, hi);
        for (int oy = 0; oy < s.out_h; ++oy) {
          float* dst = row + int64_t{oy} * s.out_w;
          const int iy = oy * s.stride - s.padding + ky;
          if (iy < 0 || iy >= s.h || lo >= hi) {
            std::fill(dst, dst + s.out_w, 0.0f);
            continue;
          }
          std::fill(dst, dst + lo, 0.0f);
          const float* src = plane + int64_t{iy} * s.w + (lo * s.stride - s.padding + kx);
          if (s.stride == 1) {
            copy_run(dst + lo, src, hi - lo);
          } else {
            for (int ox = lo; ox < hi; ++ox) dst[ox] = src[int64_t{ox - lo} * s.stride];
          }
          std::fill(dst + hi, dst + s.out_w, 0.0f);
        }
      }
    }
  }
}

// dx = col2im(dcol): every column entry added back to the input pixel it was read from (=).
void col2im(const ConvShape& s, const float* dcol, float* dx) {
  std::fill(dx, dx + s.in_size(), 0.0f);
  const int64_t P = s.pixels();
  const float* row = dcol;
  for (int c = 0; c < s.c; ++c) {
    float* plane = dx + int64_t{c} * s.h * s.w;
    for (int ky = 0; ky < s.kh; ++ky) {
      for (int kx = 0; kx < s.kw; ++kx, row += P) {
        int lo, hi;
        valid_range(s.out_w, s.w, s.stride, s.padding, kx, lo, hi);
        if (lo >= hi) continue;
        for (int oy = 0; oy < s.out_h; ++oy) {
          const int iy = oy * s.stride - s.padding + ky;
          if (iy < 0 || iy >= s.h) continue;
          const float* src = row + int64_t{oy} * s.out_w;
          float* dst = plane + int64_t{iy} * s.w + (lo * s.stride - s.padding + kx);
          if (s.stride == 1) {
            for (int ox = lo; ox < hi; ++ox) dst[ox - lo] += src[ox];
          } else {
            for (int ox = lo; ox < hi; ++ox) dst[int64_t{ox - lo} * s.stride] += src[ox];
          }
        }
      }
    }
  }
}

// One sample's forward: y_i = act(W·col_i + b), with col_i built in `col` (unless direct).
void forward_sample(const ConvShape& s, const float* x, const float* w, const float* b, float* y, Activation act,
                    float* col, float* gemm_ws, int threads) {
  const int64_t K = s.patch(), P = s.pixels();
  const float* cols = x;
  if (!is_direct(s)) {
    im2col(s, x, col);
    cols = col;
  }
  if (b) {
    for (int o = 0; o < s.out_c; ++o) std::fill(y + o * P, y + (o + 1) * P, b[o]);
  }
  GemmArgs g = product(s.out_c, static_cast<int>(P), static_cast<int>(K), w, K, false, cols, P, false, y, P,
                       b ? 1.0f : 0.0f);
  g.act = act;
  if (gemm_ws) {
    gemm_serial(g, gemm_ws);
  } else {
    gemm(g, threads);
  }
}

// Fixed chunks of samples for the backward pass: a function of the shapes only. Each chunk keeps
// a private dW, so their count is capped by a memory budget.
constexpr int kMaxChunks = 32;
constexpr int64_t kPartialBudget = int64_t{1} << 22;  // floats of private dW in all

int backward_chunks(const ConvShape& s, int n) {
  const int64_t wsize = s.out_c * s.patch();
  const int64_t by_memory = std::max<int64_t>(1, kPartialBudget / wsize);
  return static_cast<int>(std::min<int64_t>({int64_t{n}, kMaxChunks, by_memory}));
}

// Scratch of the calling thread: the forward's col when it runs on the threaded GEMM, and the
// backward's per-chunk partial sums. Grow-only.
thread_local Workspace caller_scratch;
thread_local std::vector<double> caller_doubles;

}  // namespace

// y [n, outC, outH, outW] = act(conv2d(x [n, C, H, W], w [outC, C, kh, kw]) + b [outC] or 0).
void conv2d_forward(const ConvShape& s, const float* x, const float* w, const float* b, float* y, int n,
                    Activation act, int threads) {
  const int64_t col_floats = is_direct(s) ? 0 : s.patch() * s.pixels();
  if (n < threads) {
    // Too few samples to share out: one sample at a time, the GEMM threaded.
    caller_scratch.reserve(static_cast<size_t>(std::max<int64_t>(col_floats, 1)));
    for (int i = 0; i < n; ++i) {
      forward_sample(s, x + i * s.in_size(), w, b, y + i * s.out_size(), act, caller_scratch.data(), nullptr,
                     threads);
    }
    return;
  }
  const size_t gemm_ws = gemm_workspace_floats();
  auto task = [&](int i, float* ws) {
    forward_sample(s, x + i * s.in_size(), w, b, y + i * s.out_size(), act, ws + gemm_ws, ws, 1);
  };
  ThreadPool::instance().parallel_for(n, threads, gemm_ws + static_cast<size_t>(col_floats), task);
}

// dw += ∂L/∂w, db (may be null) += Σ dy per channel, dx (may be null) = ∂L/∂x, from dy.
void conv2d_backward(const ConvShape& s, const float* x, const float* w, const float* dy, float* dx, float* dw,
                     float* db, int n, int threads) {
  const int64_t K = s.patch(), P = s.pixels(), wsize = s.out_c * K;
  const bool direct = is_direct(s);
  const int chunks = backward_chunks(s, n);
  // One chunk accumulates straight into dw; more keep private sums, added in order below.
  if (chunks > 1) caller_scratch.reserve(static_cast<size_t>(chunks * wsize));
  float* partial_dw = caller_scratch.data();
  if (caller_doubles.size() < static_cast<size_t>(chunks) * s.out_c) caller_doubles.resize(size_t(chunks) * s.out_c);
  double* partial_db = caller_doubles.data();

  const size_t gemm_ws = gemm_workspace_floats();
  const size_t col_floats = direct ? 0 : static_cast<size_t>(K * P);
  const size_t dcol_floats = direct || !dx ? 0 : static_cast<size_t>(K * P);
  auto task = [&](int c, float* ws) {
    const int i0 = static_cast<int>(int64_t{n} * c / chunks), i1 = static_cast<int>(int64_t{n} * (c + 1) / chunks);
    float* col = ws + gemm_ws;
    float* dcol = col + col_floats;
    float* pdw = chunks > 1 ? partial_dw + c * wsize : dw;
    double* pdb = partial_db + int64_t{c} * s.out_c;
    std::fill(pdb, pdb + s.out_c, 0.0);
    for (int i = i0; i < i1; ++i) {
      const float* xi = x + i * s.in_size();
      const float* dyi = dy + i * s.out_size();
      const float* cols = xi;
      if (!direct) {
        im2col(s, xi, col);
        cols = col;
      }
      // dW [outC, K] (+)= dy_i [outC, P] · col_iᵀ (col_i stored [K, P]).
      const float beta = chunks == 1 || i > i0 ? 1.0f : 0.0f;
      gemm_serial(product(s.out_c, static_cast<int>(K), static_cast<int>(P), dyi, P, false, cols, P, true, pdw, K,
                          beta),
                  ws);
      if (db) {
        for (int o = 0; o < s.out_c; ++o) {
          pdb[o] += sum_run(dyi + o * P, P);
        }
      }
      if (dx) {
        // dcol [K, P] = Wᵀ [K, outC] · dy_i [outC, P] (W stored [outC, K]); direct: into dx_i.
        float* dxi = dx + i * s.in_size();
        gemm_serial(product(static_cast<int>(K), static_cast<int>(P), s.out_c, w, K, true, dyi, P, false,
                            direct ? dxi : dcol, P, 0.0f),
                    ws);
        if (!direct) col2im(s, dcol, dxi);
      }
    }
  };
  ThreadPool::instance().parallel_for(chunks, threads, gemm_ws + col_floats + dcol_floats, task);

  if (chunks > 1) {
    parallel_range(wsize, threads, int64_t{1} << 14, [&](int64_t j0, int64_t j1) {
      for (int64_t j = j0; j < j1; ++j) {
        double sum = 0;
        for (int c = 0; c < chunks; ++c) sum += partial_dw[c * wsize + j];
        dw[j] = static_cast<float>(dw[j] + sum);
      }
    });
  }
  if (db) {
    for (int o = 0; o < s.out_c; ++o) {
      double sum = 0;
      for (int c = 0; c < chunks; ++c) sum += partial_db[int64_t{c} * s.out_c + o];
      db[o] = static_cast<float>(db[o] + sum);
    }
  }
}

}  // namespace hydranet

// ---- N-API entries (native/cpu/addon_args.h) ----------------------------------------

namespace hydranet::cpu_addon {

// conv2dForward(geometry, x, w, b|null, y, n, activation, threads)
void conv2d_forward(const Args& a) {
  const layouts::Conv G = layouts::conv(a, 0, 5);
  hydranet::conv2d_forward(G.shape, a.f32(1, "x", G.x), a.f32(2, "w", G.w),
                           a.f32_or_null(3, "b", G.out_c), a.f32(4, "y", G.y), G.n, a.activation(6), a.threads(7));
}
const Export<conv2d_forward> export_conv2d_forward("conv2dForward", 8);

// conv2dBackward(geometry, x, w, dy, dx|null, dw, db|null, n, threads)
void conv2d_backward(const Args& a) {
  const layouts::Conv G = layouts::conv(a, 0, 7);
  hydranet::conv2d_backward(G.shape, a.f32(1, "x", G.x), a.f32(2, "w", G.w),
                            a.f32(3, "dy", G.y), a.f32_or_null(4, "dx", G.x), a.f32(5, "dw", G.w),
                            a.f32_or_null(6, "db", G.out_c), G.n, a.threads(8));
}
const Export<conv2d_backward> export_conv2d_backward("conv2dBackward", 9);

}  // namespace hydranet::cpu_addon
