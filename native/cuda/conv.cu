// Conv2d of the CUDA backend (NCHW, cross-correlation as in PyTorch): im2col + gemm(), with the
// structure of ts/backends/webgpu/conv.ts and shaders/conv.wgsl.
//
// Shapes: x, dx [N, C, H, W]; w, dw [outC, C, kh, kw] = [outC, Ck]; b, db [outC];
// y, dy [N, outC, outH, outW]; P = outH·outW, Ck = C·kh·kw. A chunk of nc images (from image i0
// on) is processed at once; its scratch lives in the Workspace:
//   col  [Ck, nc·P]    col[(c, ky, kx), j·P + p] = x[i0 + j, c, oy·s − pad + ky, ox·s − pad + kx]
//                      (0 in the padding), p = oy·outW + ox         (ws.data)
//   dyT  [outC, nc·P]  dyT[o, j·P + p] = dy[i0 + j, o, p]           (ws.data + Ck·nc·P, backward)
//   forward   y_j = act(W · col[:, j·P ..] + b)           ONE batched gemm (bias per row), per chunk
//   backward  db += Σ dy per channel (one block per channel, fixed-order reduction);
//             per chunk: im2col, transpose dy, dW += dyT · colᵀ (ONE gemm, k = nc·P: no two
//             blocks accumulate into one dW element), dcol = Wᵀ · dyT (into col), dx = col2im(dcol)
//             as a gather (each dx element sums its own windows: no atomics).
// A 1×1, stride-1, unpadded kernel reads x directly in forward (y_j = W · x_j) and writes
// dx_j = Wᵀ · dy_j straight into dx (batched gemm, no col2im); its dW still goes through
// im2col (a permuted copy) so that dW is one product with k = n·P.
// Chunks: conv2d_workspace_floats sizes the scratch for min(n, ⌊cap / ((Ck + outC)·P)⌋) images
// (at least one), cap = 32 Mi floats; backward always uses that chunk size (so its dW sums are
// the same for every workspace), forward as many images as the given workspace holds.
#include <climits>

#include "device_math.cuh"
#include "addon_device.h"

namespace hydranet::cuda {
namespace {

constexpr int64_t kScratchCap = int64_t{32} << 20;  // floats of scratch before the batch is split

struct Geo {
  int c, h, w, oc, kh, kw, stride, pad, oh, ow;
  int64_t P, Ck, in_size, out_size;
  bool direct;
};

Geo read_geometry(const ConvShape& s) {
  Geo o{s.c, s.h, s.w, s.out_c, s.kh, s.kw, s.stride, s.padding, s.out_h, s.out_w, 0, 0, 0, 0, false};
  o.P = int64_t{o.oh} * o.ow;
  o.Ck = int64_t{o.c} * o.kh * o.kw;
  o.in_size = int64_t{o.c} * o.h * o.w;
  o.out_size = int64_t{o.oc} * o.P;
  o.direct = o.kh == 1 && o.kw == 1 && o.stride == 1 && o.pad == 0;
  return o;
}

// Images per backward chunk: the scratch of (Ck + outC)·P floats per image within the cap.
int backward_chunk(const Geo& g, int n) {
  const int64_t per = (g.Ck + g.oc) * g.P;
  int64_t images = kScratchCap / per;
  if (images > n) images = n;
  if (images < 1) images = 1;
  return static_cast<int>(images);
}

// ---- kernels (grid-stride loops, 64-bit element indices) --------------------------------------

// One thread per (c, j, oy, ox): total = C·images·P; writes its kh·kw entries of col (consecutive
// threads write consecutive columns). x points at the chunk's first image.
__global__ void im2col_kernel(const float* __restrict__ x, float* __restrict__ col, Geo g, int images) {
  const int64_t cols = int64_t{images} * g.P;
  const int64_t total = int64_t{g.c} * cols;
  const int kk = g.kh * g.kw;
  for (int64_t id = global_index(); id < total; id += global_stride()) {
    const int c = static_cast<int>(id / cols);
    const int64_t q = id - c * cols;
    const int64_t j = q / g.P;
    const int at = static_cast<int>(q - j * g.P);
    const int oy = at / g.ow, ox = at - (at / g.ow) * g.ow;
    const int y0 = oy * g.stride - g.pad, x0 = ox * g.stride - g.pad;
    const float* plane = x + (j * g.c + c) * int64_t{g.h} * g.w;
    float* out = col + int64_t{c} * kk * cols + q;
    for (int ky = 0; ky < g.kh; ++ky) {
      const int iy = y0 + ky;
      const bool row_ok = iy >= 0 && iy < g.h;
      for (int kx = 0; kx < g.kw; ++kx) {
        const int ix = x0 + kx;
        *out = (row_ok && ix >= 0 && ix < g.w) ? plane[int64_t{iy} * g.w + ix] : 0.0f;
        out += cols;
      }
    }
  }
}

// dyT[o, j·P + p] = dy[j, o, p]: one thread per element of dyT; dy points at the chunk's first image.
__global__ void transpose_dy_kernel(const float* __restrict__ dy, float* __restrict__ dyt, Geo g, int images) {
  const int64_t cols = int64_t{images} * g.P;
  const int64_t total = int64_t{g.oc} * cols;
  for (int64_t id = global_index(); id < total; id += global_stride()) {
    const int64_t o = id / cols;
    const int64_t q = id - o * cols;
    const int64_t j = q / g.P;
    const int64_t p = q - j * g.P;
    dyt[id] = dy[(j * g.oc + o) * g.P + p];
  }
}

// The windows o ∈ [lo, hi) along one axis that cover padded coordinate tp:
// 0 ≤ tp − o·stride < k  ⇔  (tp − k)/stride < o ≤ tp/stride, within [0, count).
__device__ __forceinline__ void covering(int tp, int k, int stride, int count, int& lo, int& hi) {
  lo = tp >= k ? (tp - k) / stride + 1 : 0;
  hi = tp / stride + 1;
  if (hi > count) hi = count;
}

// dx[j, c, y, x] = Σ over the windows (oy, ox) covering (y, x), ky = y + pad − oy·s,
// kx = x + pad − ox·s, of dcol[(c, ky, kx), j·P + oy·outW + ox]. One thread per element of the
// chunk's dx (images·C·H·W); dx points at the chunk's first image.
__global__ void col2im_kernel(const float* __restrict__ dcol, float* __restrict__ dx, Geo g, int images) {
  const int64_t cols = int64_t{images} * g.P;
  const int64_t in_plane = int64_t{g.h} * g.w;
  const int64_t total = int64_t{images} * g.in_size;
  for (int64_t id = global_index(); id < total; id += global_stride()) {
    const int64_t jc = id / in_plane;  // j·C + c
    const int at = static_cast<int>(id - jc * in_plane);
    const int64_t j = jc / g.c;
    const int c = static_cast<int>(jc - j * g.c);
    const int ty = at / g.w + g.pad;
    const int tx = at - (at / g.w) * g.w + g.pad;
    int oy_lo, oy_hi, ox_lo, ox_hi;
    covering(ty, g.kh, g.stride, g.oh, oy_lo, oy_hi);
    covering(tx, g.kw, g.stride, g.ow, ox_lo, ox_hi);
    const float* first = dcol + int64_t{c} * g.kh * g.kw * cols + j * g.P;
    float s = 0.0f;
    for (int oy = oy_lo; oy < oy_hi; ++oy) {
      const int ky = ty - oy * g.stride;
      const float* row = first + int64_t{ky} * g.kw * cols + int64_t{oy} * g.ow;
      for (int ox = ox_lo; ox < ox_hi; ++ox) {
        const int kx = tx - ox * g.stride;
        s += row[int64_t{kx} * cols + ox];
      }
    }
    dx[id] = s;
  }
}

// db[o] += Σ_{i, p} dy[i, o, p] over all n images: one block per channel o (blockIdx.x), each
// thread sums a strided share in order, then a fixed warp-shuffle + shared-memory tree
// (deterministic).
constexpr int kBiasThreads = 256;

__global__ void __launch_bounds__(kBiasThreads)
    conv_bias_grad_kernel(const float* __restrict__ dy, float* __restrict__ db, Geo g, int n) {
  const int o = blockIdx.x;
  const int64_t count = int64_t{n} * g.P;
  float s = 0.0f;
  for (int64_t e = threadIdx.x; e < count; e += kBiasThreads) {
    const int64_t i = e / g.P;
    s += dy[(i * g.oc + o) * g.P + (e - i * g.P)];
  }
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) s += __shfl_down_sync(0xffffffffu, s, off);
  __shared__ float partial[kBiasThreads / 32];
  if ((threadIdx.x & 31) == 0) partial[threadIdx.x >> 5] = s;
  __syncthreads();
  if (threadIdx.x == 0) {
    float total = 0.0f;
    for (int w = 0; w < kBiasThreads / 32; ++w) total += partial[w];
    db[o] += total;
  }
}

}  // namespace

// The geometry as a ConvShape (native/geometry.h, decoded by the addon), as the CPU kernels take it.
// im2col + gemm(); `ws` must hold conv2d_workspace_floats(s, n) floats.
size_t conv2d_workspace_floats(const ConvShape& geometry, int n) {
  if (n <= 0) return 0;
  const Geo g = read_geometry(geometry);
  return static_cast<size_t>(backward_chunk(g, n) * (g.Ck + g.oc) * g.P);
}

cudaError_t conv2d_forward(const ConvShape& geometry, const float* x, const float* w, const float* b, float* y, int n,
                           Activation act, Workspace ws, cudaStream_t stream) {
  if (n <= 0) return cudaGetLastError();
  const Geo g = read_geometry(geometry);
  GemmLaunch gl;
  gl.act = act;
  gl.bias_rows = true;
  gl.batch_c = g.out_size;
  if (g.direct) {
    // y_j [outC, P] = act(W [outC, C] · x_j [C, P] + b), every image in one call.
    gl.batches = n;
    gl.batch_b = g.in_size;
    const GemmProblem p = gemm_problem(g.oc, static_cast<int>(g.P), static_cast<int>(g.Ck), 0, 0, 0, 0, g.Ck, g.P, g.P);
    return gemm(&p, 1, gl, w, x, b, y, stream);
  }
  // As many images per chunk as the workspace holds (each image's result is independent of it).
  const int64_t per_image = g.Ck * g.P;
  int64_t fit = static_cast<int64_t>(ws.floats) / per_image;
  if (fit > INT_MAX / g.P) fit = INT_MAX / g.P;  // nc·P is a GEMM dimension (int)
  if (fit < 1 || ws.data == nullptr) return cudaErrorInvalidValue;
  const int per = fit < n ? static_cast<int>(fit) : n;
  for (int i0 = 0; i0 < n; i0 += per) {
    const int nc = n - i0 < per ? n - i0 : per;
    im2col_kernel<<<blocks_for(g.c * int64_t{nc} * g.P), 256, 0, stream>>>(x + i0 * g.in_size, ws.data, g, nc);
    // y_j = act(W [outC, Ck] · col[:, j·P .. (j + 1)·P] + b)
    gl.batches = nc;
    gl.batch_b = g.P;
    const GemmProblem p = gemm_problem(g.oc, static_cast<int>(g.P), static_cast<int>(g.Ck), 0, 0, i0 * g.out_size, 0, g.Ck, nc * g.P, g.P);
    const cudaError_t e = gemm(&p, 1, gl, w, ws.data, b, y, stream);
    if (e != cudaSuccess) return e;
  }
  return cudaGetLastError();
}

// dw += ∂L/∂w, db (may be null) += Σ dy per channel, dx (may be null) = ∂L/∂x.
cudaError_t conv2d_backward(const ConvShape& geometry, const float* x, const float* w, const float* dy, float* dx,
                            float* dw, float* db, int n, Workspace ws, cudaStream_t stream) {
  if (n <= 0) return cudaGetLastError();
  const Geo g = read_geometry(geometry);
  cudaError_t e;
  if (db) conv_bias_grad_kernel<<<g.oc, kBiasThreads, 0, stream>>>(dy, db, g, n);
  if (dx && g.direct) {
    // dx_j [C, P] = Wᵀ [C, outC] · dy_j [outC, P], every image in one call (no col2im).
    GemmLaunch gl;
    gl.trans_a = true;
    gl.batches = n;
    gl.batch_b = g.out_size;
    gl.batch_c = g.in_size;
    const GemmProblem p = gemm_problem(static_cast<int>(g.Ck), static_cast<int>(g.P), g.oc, 0, 0, 0, 0, g.Ck, g.P, g.P);
    if ((e = gemm(&p, 1, gl, w, dy, nullptr, dx, stream)) != cudaSuccess) return e;
  }
  const int per = backward_chunk(g, n);
  if (ws.data == nullptr || static_cast<int64_t>(ws.floats) < per * (g.Ck + g.oc) * g.P) return cudaErrorInvalidValue;
  for (int i0 = 0; i0 < n; i0 += per) {
    const int nc = n - i0 < per ? n - i0 : per;
    const int64_t cols = nc * g.P;
    float* col = ws.data;
    float* dyt = ws.data + g.Ck * cols;
    im2col_kernel<<<blocks_for(g.c * cols), 256, 0, stream>>>(x + i0 * g.in_size, col, g, nc);
    transpose_dy_kernel<<<blocks_for(g.oc * cols), 256, 0, stream>>>(dy + i0 * g.out_size, dyt, g, nc);
    // dW [outC, Ck] += dyT [outC, cols] · colᵀ (col stored [Ck, cols]): k = every image of the chunk.
    GemmLaunch gw;
    gw.trans_b = true;
    gw.beta = 1.0f;
    const GemmProblem pw = gemm_problem(g.oc, static_cast<int>(g.Ck), static_cast<int>(cols), 0, 0, 0, 0, cols, cols, g.Ck);
    if ((e = gemm(&pw, 1, gw, dyt, col, nullptr, dw, stream)) != cudaSuccess) return e;
    if (!dx || g.direct) continue;
    // dcol [Ck, cols] = Wᵀ [Ck, outC] · dyT [outC, cols], into col (read by the dW product above,
    // which precedes it on the stream).
    GemmLaunch gd;
    gd.trans_a = true;
    const GemmProblem pd = gemm_problem(static_cast<int>(g.Ck), static_cast<int>(cols), g.oc, 0, 0, 0, 0, g.Ck, cols, cols);
    if ((e = gemm(&pd, 1, gd, w, dyt, nullptr, col, stream)) != cudaSuccess) return e;
    col2im_kernel<<<blocks_for(nc * g.in_size), 256, 0, stream>>>(col, dx + i0 * g.in_size, g, nc);
  }
  return cudaGetLastError();
}

}  // namespace hydranet::cuda

// ---- N-API entries (native/cuda/addon_device.h) ----------------------------------------

namespace hydranet::cuda_addon {

// The workspace, grown to hold conv2d_workspace_floats for G (grows only; cudaFree waits for the
// device).
hc::Workspace workspace(const layouts::Conv& G) {
  const size_t floats = hc::conv2d_workspace_floats(G.shape, G.n);
  hc::Workspace& w = state().workspace;
  if (w.floats >= floats) return w;
  if (w.data) check_cuda(cudaFree(w.data), "workspace");
  w.data = nullptr, w.floats = 0;
  check_cuda(cudaMalloc(reinterpret_cast<void**>(&w.data), floats * sizeof(float)), "workspace");
  w.floats = floats;
  return w;
}

// conv2dForward(geometry, x, w, b|null, y, n, activation)
void conv2d_forward(const Args& a) {
  const layouts::Conv G = layouts::conv(a, 0, 5);
  const float *x = a.dev(1, "x", G.x), *w = a.dev(2, "w", G.w), *b = a.dev_or_null(3, "b", G.out_c);
  float* y = a.dev(4, "y", G.y);
  const hc::Activation act = a.activation(6);
  check_cuda(hc::conv2d_forward(G.shape, x, w, b, y, G.n, act, workspace(G), state().stream), "conv2dForward");
}
const Export<conv2d_forward> export_conv2d_forward("conv2dForward", 7);

// conv2dBackward(geometry, x, w, dy, dx|null, dw, db|null, n)
void conv2d_backward(const Args& a) {
  const layouts::Conv G = layouts::conv(a, 0, 7);
  const float *x = a.dev(1, "x", G.x), *w = a.dev(2, "w", G.w), *dy = a.dev(3, "dy", G.y);
  float *dx = a.dev_or_null(4, "dx", G.x), *dw = a.dev(5, "dw", G.w), *db = a.dev_or_null(6, "db", G.out_c);
  check_cuda(hc::conv2d_backward(G.shape, x, w, dy, dx, dw, db, G.n, workspace(G), state().stream),
             "conv2dBackward");
}
const Export<conv2d_backward> export_conv2d_backward("conv2dBackward", 8);

}  // namespace hydranet::cuda_addon
