// Channel-wise ops of the CUDA backend (NCHW viewed as [rows = N·C, plane]; the
// reference backend is the spec), all "=":
//   dropout2d_forward     mask[r] = keep(seed, r) ? scale : 0, y[r, k] = x[r, k]·mask[r]   (y may alias x)
//   scale_channels        out[r, k] = x[r, k]·s[r]                                   (out may alias x)
#include <cstdint>

#include "device_math.cuh"
#include "addon_device.h"

namespace hydranet::cuda {
namespace {

constexpr int kThreads = 256;

// Element i of [rows, plane] lies in row i / plane. The grid-stride loop tracks (row, k) by
// adding the stride's own quotient and remainder, so only the first step divides.
// dropout2d: mask[r] written by the threads r < rows; every element recomputes its row's hash
// (one launch, no ordering between the mask and y). scale_channels: s = the per-row factor.
template <bool Dropout>
__global__ void channels_kernel(const float* x, const float* s, float* out, float* __restrict__ mask, int64_t rows,
                                int64_t plane, uint32_t seed, uint32_t threshold, float scale) {
  const int64_t stride = global_stride();
  if constexpr (Dropout) {
    for (int64_t r = global_index(); r < rows; r += stride) {
      mask[r] = keep_scale(seed, static_cast<uint32_t>(r), threshold, scale);
    }
  }
  if (plane <= 0) return;
  const int64_t n = rows * plane;
  int64_t i = global_index();
  int64_t r = i / plane, k = i - r * plane;
  const int64_t step_r = stride / plane, step_k = stride - step_r * plane;
  for (; i < n; i += stride) {
    float f;
    if constexpr (Dropout) {
      f = keep_scale(seed, static_cast<uint32_t>(r), threshold, scale);
    } else {
      f = s[r];
    }
    out[i] = x[i] * f;
    r += step_r;
    k += step_k;  // < 2·plane
    if (k >= plane) {
      k -= plane;
      ++r;
    }
  }
}

}  // namespace

// mask [rows] from hash24(seed, row); y [rows, plane] = x ⊙ mask per row (y may alias x).
cudaError_t dropout2d_forward(const float* x, float* y, float* mask, int64_t rows, int64_t plane, uint32_t seed,
                              uint32_t threshold, float scale, cudaStream_t stream) {
  if (rows > 0) {
    const int64_t n = plane > 0 ? rows * plane : rows;
    channels_kernel<true><<<blocks_for(n, kThreads), kThreads, 0, stream>>>(x, nullptr, y, mask, rows, plane, seed,
                                                                             threshold, scale);
  }
  return cudaGetLastError();
}

// out [rows, plane] = x ⊙ s per row (out may alias x).
cudaError_t scale_channels(const float* x, const float* s, float* out, int64_t rows, int64_t plane,
                           cudaStream_t stream) {
  if (rows > 0 && plane > 0) {
    channels_kernel<false><<<blocks_for(rows * plane, kThreads), kThreads, 0, stream>>>(x, s, out, nullptr, rows,
                                                                                       plane, 0u, 0u, 0.0f);
  }
  return cudaGetLastError();
}

}  // namespace hydranet::cuda

// ---- N-API entries (native/cuda/addon_device.h) ----------------------------------------

namespace hydranet::cuda_addon {

// dropout2dForward(x, y, mask, rows, plane, seed, threshold, scale)
void dropout2d_forward(const Args& a) {
  const int64_t rows = a.dim(3, "rows"), plane = a.dim(4, "plane");
  const int64_t size = elements(a, "x", {rows, plane});
  const hydranet::DropoutParams d = a.dropout(5);
  check_cuda(hc::dropout2d_forward(a.dev(0, "x", size), a.dev(1, "y", size), a.dev(2, "mask", rows), rows, plane,
      d.seed, d.threshold, d.scale, state().stream), "dropout2dForward");
}
const Export<dropout2d_forward> export_dropout2d_forward("dropout2dForward", 8);

// scaleChannels(x, s, out, rows, plane)
void scale_channels(const Args& a) {
  const int64_t rows = a.dim(3, "rows"), plane = a.dim(4, "plane");
  const int64_t size = elements(a, "x", {rows, plane});
  check_cuda(hc::scale_channels(a.dev(0, "x", size), a.dev(1, "s", rows), a.dev(2, "out", size), rows, plane,
      state().stream), "scaleChannels");
}
const Export<scale_channels> export_scale_channels("scaleChannels", 5);

}  // namespace hydranet::cuda_addon
