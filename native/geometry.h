// The image ops' geometry as every native kernel takes it, CPU and CUDA alike: the packed
// Conv2dGeometry and Pool2dGeometry of ts/backends/layouts.ts, decoded (after native/layouts.h
// has checked them) into these structs once per call by each addon.
#pragma once

#include <cstdint>

namespace hydranet {

// Conv2dGeometry.packed in ts/backends/layouts.ts: [C, H, W, outC, kh, kw, stride, padding, outH, outW].
struct ConvShape {
  int c, h, w, out_c, kh, kw, stride, padding, out_h, out_w;
  int64_t patch() const { return int64_t{c} * kh * kw; }  // K: rows of the im2col matrix
  int64_t pixels() const { return int64_t{out_h} * out_w; }  // P: its columns
  int64_t in_size() const { return int64_t{c} * h * w; }   // one sample of x
  int64_t out_size() const { return out_c * pixels(); }     // one sample of y
};
inline ConvShape conv_shape(const int32_t* p) { return {p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], p[9]}; }

// Pool2dGeometry.packed: [C, H, W, size, stride, outH, outW].
struct PoolShape {
  int c, h, w, size, stride, out_h, out_w;
};
inline PoolShape pool_shape(const int32_t* p) { return {p[0], p[1], p[2], p[3], p[4], p[5], p[6]}; }

}  // namespace hydranet
