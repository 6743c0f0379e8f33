// Max-pooling of the CUDA backend (NCHW, no padding; Pool2dGeometry.packed = [C, H, W, size,
// stride, outH, outW]), as shaders/pool.wgsl and the reference.
//   forward   y = max over each size×size window (every `stride`), argmax = the winner's flat
//             index h·W + w within its plane, as f32. The reference's rule, in window order: a
//             value wins if it is greater than the best so far, or if it is NaN and the best is
//             not (so the first NaN wins, and on ties the first maximum); a window of −∞ keeps
//             its first element (best starts at −∞, argmax at the window's first element).
//             NaN is recognised from its bits, so the rule holds under any float-math flags.
//   backward  dx = 0 except dx[argmax] += dy (=): a gather, one thread per element of dx,
//             adding the dy of every window that covers it and names it, in output order (the
//             reference's order, so the sums are the same bits). No atomics, deterministic.
#include "device_math.cuh"
#include "addon_device.h"

namespace hydranet::cuda {
namespace {

struct PoolGeo {
  int c, h, w, size, stride, oh, ow;
};

PoolGeo read_geometry(const PoolShape& s) { return {s.c, s.h, s.w, s.size, s.stride, s.out_h, s.out_w}; }

__device__ __forceinline__ bool is_nan_bits(float v) { return (__float_as_uint(v) & 0x7fffffffu) > 0x7f800000u; }

// One thread per output element: total = planes·outH·outW.
__global__ void max_pool_forward_kernel(const float* __restrict__ x, float* __restrict__ y,
                                        float* __restrict__ argmax, PoolGeo g, int64_t total) {
  const int64_t out_plane = int64_t{g.oh} * g.ow;
  const int64_t in_plane = int64_t{g.h} * g.w;
  for (int64_t id = global_index(); id < total; id += global_stride()) {
    const int64_t plane = id / out_plane;
    const int at = static_cast<int>(id - plane * out_plane);
    const int oy = at / g.ow, ox = at - (at / g.ow) * g.ow;
    const float* src = x + plane * in_plane;
    float best = -INFINITY;
    bool best_nan = false;
    int arg = oy * g.stride * g.w + ox * g.stride;  // the window's first element, if all are −∞
    for (int ky = 0; ky < g.size; ++ky) {
      const int row = (oy * g.stride + ky) * g.w + ox * g.stride;
      for (int kx = 0; kx < g.size; ++kx) {
        const int idx = row + kx;
        const float v = src[idx];
        if (best_nan) continue;  // the first NaN has won
        if (is_nan_bits(v)) {
          best = v;
          best_nan = true;
          arg = idx;
        } else if (v > best) {  // strict: the first maximum stays on ties
          best = v;
          arg = idx;
        }
      }
    }
    y[id] = best;
    argmax[id] = static_cast<float>(arg);
  }
}

// One thread per element of dx: total = planes·H·W. The windows covering (yy, xx) are
// oy·stride ≤ yy < oy·stride + size, i.e. oy ∈ [yy ≥ size ? (yy − size)/stride + 1 : 0,
// min(yy/stride + 1, outH)) (xx likewise).
__global__ void max_pool_backward_kernel(const float* __restrict__ dy, const float* __restrict__ argmax,
                                         float* __restrict__ dx, PoolGeo g, int64_t total) {
  const int64_t out_plane = int64_t{g.oh} * g.ow;
  const int64_t in_plane = int64_t{g.h} * g.w;
  for (int64_t id = global_index(); id < total; id += global_stride()) {
    const int64_t plane = id / in_plane;
    const int at = static_cast<int>(id - plane * in_plane);
    const int yy = at / g.w, xx = at - (at / g.w) * g.w;
    const float want = static_cast<float>(at);
    const int oy_lo = yy >= g.size ? (yy - g.size) / g.stride + 1 : 0;
    const int oy_hi = min(yy / g.stride + 1, g.oh);
    const int ox_lo = xx >= g.size ? (xx - g.size) / g.stride + 1 : 0;
    const int ox_hi = min(xx / g.stride + 1, g.ow);
    const int64_t base = plane * out_plane;
    float s = 0.0f;
    for (int oy = oy_lo; oy < oy_hi; ++oy) {
      for (int ox = ox_lo; ox < ox_hi; ++ox) {
        const int64_t k = base + int64_t{oy} * g.ow + ox;
        if (argmax[k] == want) s += dy[k];
      }
    }
    dx[id] = s;
  }
}

}  // namespace

// The geometry as a PoolShape (native/geometry.h). argmax as the float
// flat index h·W + w in the plane, first on ties, NaN wins, an all −∞ window gives its first.
cudaError_t max_pool2d_forward(const PoolShape& geometry, const float* x, float* y, float* argmax, int n,
                               cudaStream_t stream) {
  const PoolGeo g = read_geometry(geometry);
  const int64_t total = int64_t{n} * g.c * g.oh * g.ow;
  if (total > 0) max_pool_forward_kernel<<<blocks_for(total), 256, 0, stream>>>(x, y, argmax, g, total);
  return cudaGetLastError();
}

// dx = 0 except dx[argmax] += dy (a gather per dx element: no atomics, deterministic).
cudaError_t max_pool2d_backward(const PoolShape& geometry, const float* dy, const float* argmax, float* dx, int n,
                                cudaStream_t stream) {
  const PoolGeo g = read_geometry(geometry);
  const int64_t total = int64_t{n} * g.c * g.h * g.w;
  if (total > 0) max_pool_backward_kernel<<<blocks_for(total), 256, 0, stream>>>(dy, argmax, dx, g, total);
  return cudaGetLastError();
}

}  // namespace hydranet::cuda

// ---- N-API entries (native/cuda/addon_device.h) ----------------------------------------

namespace hydranet::cuda_addon {

// maxPool2dForward(geometry, x, y, argmax, n)
void max_pool2d_forward(const Args& a) {
  const layouts::Pool G = layouts::pool(a, 0, 4);
  check_cuda(hc::max_pool2d_forward(G.shape, a.dev(1, "x", G.x), a.dev(2, "y", G.y), a.dev(3, "argmax", G.y), G.n,
      state().stream), "maxPool2dForward");
}
const Export<max_pool2d_forward> export_max_pool2d_forward("maxPool2dForward", 5);

// maxPool2dBackward(geometry, dy, argmax, dx, n)
void max_pool2d_backward(const Args& a) {
  const layouts::Pool G = layouts::pool(a, 0, 4);
  check_cuda(hc::max_pool2d_backward(G.shape, a.dev(1, "dy", G.y), a.dev(2, "argmax", G.y), a.dev(3, "dx", G.x), G.n,
      state().stream), "maxPool2dBackward");
}
const Export<max_pool2d_backward> export_max_pool2d_backward("maxPool2dBackward", 5);

}  // namespace hydranet::cuda_addon
