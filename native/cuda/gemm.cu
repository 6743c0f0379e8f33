// GEMM of the CUDA backend: C = act(alpha·op(A)·op(B) + beta·C + bias) over a list of problems
// (and their batches) in one launch, as kernels.cuh specifies.
//
// Two paths, picked once per device:
//  - sm_80 and newer: TF32 tensor cores, mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32,
//    f32 accumulate. Operands are rounded to TF32 (cvt.rna: 10 explicit mantissa bits) as they
//    are staged in shared memory, so results match an f32 GEMM to about 1e-3 relative, not to
//    the last bit: tests against the reference need a TF32 tolerance (~1e-3 relative, scaled by
//    sqrt(k) for long sums), not the 1e-5 an f32 CPU GEMM meets.
//  - older devices: a plain SIMT kernel, one thread per element of C, f32 FMA over k in order
//    (obviously correct, slow). Note: this file is built for sm_80/sm_90 only; running on an
//    older device also needs its gencode in the build (the TF32 helpers trap below sm_80).
//
// Tensor-core kernel (template <BM, BN, WARPS_M, WARPS_N, TA, TB>):
//  - Block tile BM×BN of C, k-steps of BK = 16; configs 128×128 (8 warps as 2×4, each warp
//    64×32 = 4×4 mma tiles, 64 accumulators per thread) and 64×64 (4 warps as 2×2, each warp
//    32×32 = 2×4 mma tiles) for small problems.
//  - Shared memory mirrors the global layout of each operand so that global loads coalesce and
//    smem stores are (nearly) conflict-free:
//        A (op(A) = [m, k]):  !TA: As[m][BK + 4]        TA: As[k][BM + 8]
//        B (op(B) = [k, n]):  !TB: Bs[k][BN + 8]        TB: Bs[n][BK + 4]
//    Row pitches are 20 (≡ 20 mod 32) or BM/BN + 8 (≡ 8 mod 32) words, which makes every mma
//    fragment load conflict-free (lane = 4·g + t reads bank 20g + t or 8t + g: 32 distinct).
//  - Double buffering: the next k-tile is loaded from global memory into registers before the
//    mma work on the current tile, then stored (as TF32 bits) into the other smem buffer; one
//    __syncthreads per k-tile.
//  - Bounds: every global load is checked against (m or n, k) and zero-filled, so any m, n, k,
//    leading dimension and element offset works (scalar loads: no alignment assumptions).
//  - Epilogue fused per element: alpha, beta·C (C not read when beta == 0), bias per column or
//    per row, activation.
// Grid: x = tile index (tm·tilesN + tn, the largest problem's count; blocks past a smaller
// problem's tiles exit at once), z = problem + count·batch (≤ 65535: the launcher splits
// problem lists into groups of kMaxGemmProblems and batches into chunks).
#include <atomic>
#include <climits>

#include "device_math.cuh"
#include "addon_device.h"

namespace hydranet::cuda {
namespace {

struct GemmParams {
  GemmProblem p[kMaxGemmProblems];
  int count;      // problems in this launch
  int batch0;     // batch index of blockIdx.z / count == 0
  float alpha, beta;
  Activation act;
  int bias_rows;  // 1: bias per row of C
  int64_t batch_a, batch_b, batch_c, batch_bias;
};

constexpr int kBK = 16;

// ---- TF32 helpers ------------------------------------------------------------------------------
__device__ __forceinline__ uint32_t to_tf32(float x) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  uint32_t r;
  asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(x));
  return r;
#else
  return __float_as_uint(x);
#endif
}

// d += a·b for one 16×8×8 tile. Fragments (g = lane / 4, t = lane % 4):
//   a0 (g, t)  a1 (g + 8, t)  a2 (g, t + 4)  a3 (g + 8, t + 4)          rows m, cols k
//   b0 (t, g)  b1 (t + 4, g)                                            rows k, cols n
//   d0 (g, 2t)  d1 (g, 2t + 1)  d2 (g + 8, 2t)  d3 (g + 8, 2t + 1)      rows m, cols n
__device__ __forceinline__ void mma_tf32(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile(
      "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#elif defined(__CUDA_ARCH__)
  (void)d, (void)a, (void)b;
  __trap();  // the launcher never selects this kernel below sm_80
#else
  (void)d, (void)a, (void)b;
#endif
}

// The fused epilogue for C element (r, j) of a problem: v = alpha·acc (+ beta·C) (+ bias), act.
__device__ __forceinline__ void store_c(const GemmParams& P, float* c, const float* bias, int64_t ldc, int r, int j,
                                        float acc) {
  float* at = c + int64_t{r} * ldc + j;
  float v = P.alpha * acc;
  if (P.beta != 0.0f) v += P.beta * *at;
  if (bias) v += bias[P.bias_rows ? r : j];
  *at = activate(P.act, v);
}

// One operand tile in global memory: ROWS × COLS with COLS contiguous (row pitch ld). Each of
// the NT threads holds PER = ROWS·COLS/NT elements: column c = tid % COLS, rows
// r0 + i·(NT/COLS). Consecutive threads read consecutive addresses (coalesced).
template <int ROWS, int COLS, int NT>
struct TileLoader {
  static_assert(NT % COLS == 0, "a row of the tile must be covered by whole threads");
  static constexpr int kRowStep = NT / COLS;
  static_assert(ROWS % kRowStep == 0, "the tile rows must split evenly");
  static constexpr int kPer = ROWS / kRowStep;
  static constexpr int kPitch = COLS + (COLS == kBK ? 4 : 8);  // smem row pitch, see the header
  static constexpr int kSmem = ROWS * kPitch;

  int c, r0;
  float v[kPer];

  __device__ __forceinline__ explicit TileLoader(int tid) : c(tid % COLS), r0(tid / COLS) {}

  // Tile rows [row0, row0 + ROWS) × cols [col0, col0 + COLS) of a matrix with `rows` × `cols`
  // valid elements starting at base (zero outside).
  __device__ __forceinline__ void load(const float* base, int64_t ld, int row0, int col0, int rows, int cols) {
    const int col = col0 + c;
    const bool col_ok = col < cols;
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
      const int row = row0 + r0 + i * kRowStep;
      v[i] = (col_ok && row < rows) ? __ldg(base + int64_t{row} * ld + col) : 0.0f;
    }
  }

  __device__ __forceinline__ void store(uint32_t* smem) const {
#pragma unroll
    for (int i = 0; i < kPer; ++i) smem[(r0 + i * kRowStep) * kPitch + c] = to_tf32(v[i]);
  }
};

template <int BM, int BN, int WARPS_M, int WARPS_N, bool TA, bool TB>
__global__ void __launch_bounds__(32 * WARPS_M * WARPS_N)
    gemm_tf32_kernel(const __grid_constant__ GemmParams P, const float* __restrict__ a, const float* __restrict__ b,
                     const float* __restrict__ bias, float* c) {
  constexpr int NT = 32 * WARPS_M * WARPS_N;
  constexpr int WTM = BM / WARPS_M, WTN = BN / WARPS_N;  // warp tile
  constexpr int MI = WTM / 16, NI = WTN / 8;             // mma tiles per warp
  static_assert(WTM % 16 == 0 && WTN % 8 == 0, "warp tile must be whole mma tiles");
  // Global tile shapes as stored: A [BM rows (m), BK cols (k)] or, transposed, [BK (k), BM (m)].
  using LoadA = TileLoader<TA ? kBK : BM, TA ? BM : kBK, NT>;
  using LoadB = TileLoader<TB ? BN : kBK, TB ? kBK : BN, NT>;
  __shared__ uint32_t As[2][LoadA::kSmem];
  __shared__ uint32_t Bs[2][LoadB::kSmem];

  const int z = blockIdx.z;
  const GemmProblem& pr = P.p[z % P.count];
  const int64_t batch = P.batch0 + z / P.count;
  const int m = pr.m, n = pr.n, k = pr.k;
  const int tiles_n = (n + BN - 1) / BN;
  const int tiles = ((m + BM - 1) / BM) * tiles_n;  // ≤ gridDim.x (checked on the host)
  if (static_cast<int>(blockIdx.x) >= tiles) return;  // uniform across the block
  const int row0 = (blockIdx.x / tiles_n) * BM;
  const int col0 = (blockIdx.x % tiles_n) * BN;

  const float* A = a + pr.off_a + batch * P.batch_a;
  const float* B = b + pr.off_b + batch * P.batch_b;

  const int tid = threadIdx.x;
  const int lane = tid & 31, warp = tid >> 5;
  const int g = lane >> 2, t = lane & 3;
  const int wm = (warp / WARPS_N) * WTM, wn = (warp % WARPS_N) * WTN;

  LoadA la(tid);
  LoadB lb(tid);
  // k-tile kt: A rows row0.. (m) × cols kt·BK.. (k), or transposed rows kt·BK.. × cols row0..;
  // B rows kt·BK.. (k) × cols col0.. (n), or transposed rows col0.. (n) × cols kt·BK.. (k).
  auto load_tiles = [&](int kt) {
    const int k0 = kt * kBK;
    if (TA) la.load(A, pr.lda, k0, row0, k, m);
    else la.load(A, pr.lda, row0, k0, m, k);
    if (TB) lb.load(B, pr.ldb, col0, k0, n, k);
    else lb.load(B, pr.ldb, k0, col0, k, n);
  };
  // Shared-memory word of op(A)(mm, kk) and op(B)(kk, nn) inside a tile.
  auto a_at = [](int mm, int kk) { return TA ? kk * LoadA::kPitch + mm : mm * LoadA::kPitch + kk; };
  auto b_at = [](int kk, int nn) { return TB ? nn * LoadB::kPitch + kk : kk * LoadB::kPitch + nn; };

  float acc[MI][NI][4];
#pragma unroll
  for (int i = 0; i < MI; ++i)
#pragma unroll
    for (int j = 0; j < NI; ++j)
#pragma unroll
      for (int q = 0; q < 4; ++q) acc[i][j][q] = 0.0f;

  const int ktiles = (k + kBK - 1) / kBK;
  if (ktiles > 0) {
    load_tiles(0);
    la.store(As[0]);
    lb.store(Bs[0]);
  }
  __syncthreads();
  for (int kt = 0; kt < ktiles; ++kt) {
    const int cur = kt & 1;
    const bool more = kt + 1 < ktiles;
    if (more) load_tiles(kt + 1);  // in flight during the mma work below
    const uint32_t* as = As[cur];
    const uint32_t* bs = Bs[cur];
#pragma unroll
    for (int ks = 0; ks < kBK; ks += 8) {
      uint32_t af[MI][4], bf[NI][2];
#pragma unroll
      for (int i = 0; i < MI; ++i) {
        const int r = wm + i * 16 + g;
        af[i][0] = as[a_at(r, ks + t)];
        af[i][1] = as[a_at(r + 8, ks + t)];
        af[i][2] = as[a_at(r, ks + t + 4)];
        af[i][3] = as[a_at(r + 8, ks + t + 4)];
      }
#pragma unroll
      for (int j = 0; j < NI; ++j) {
        const int cc = wn + j * 8 + g;
        bf[j][0] = bs[b_at(ks + t, cc)];
        bf[j][1] = bs[b_at(ks + t + 4, cc)];
      }
#pragma unroll
      for (int i = 0; i < MI; ++i)
#pragma unroll
        for (int j = 0; j < NI; ++j) mma_tf32(acc[i][j], af[i], bf[j]);
    }
    if (more) {
      // The other buffer was last read in iteration kt − 1, before its closing barrier.
      la.store(As[cur ^ 1]);
      lb.store(Bs[cur ^ 1]);
    }
    __syncthreads();
  }

  float* C = c + pr.off_c + batch * P.batch_c;
  const float* bias_p = bias ? bias + pr.off_bias + batch * P.batch_bias : nullptr;
#pragma unroll
  for (int i = 0; i < MI; ++i)
#pragma unroll
    for (int j = 0; j < NI; ++j)
#pragma unroll
      for (int q = 0; q < 4; ++q) {
        const int r = row0 + wm + i * 16 + g + (q >> 1) * 8;
        const int cc = col0 + wn + j * 8 + t * 2 + (q & 1);
        if (r < m && cc < n) store_c(P, C, bias_p, pr.ldc, r, cc, acc[i][j][q]);
      }
}

// The SIMT fallback: a 16×16 block per 16×16 tile of C, one thread per element, f32 FMA.
constexpr int kSimtTile = 16;

__global__ void __launch_bounds__(kSimtTile* kSimtTile)
    gemm_simt_kernel(const __grid_constant__ GemmParams P, bool ta, bool tb, const float* __restrict__ a,
                     const float* __restrict__ b, const float* __restrict__ bias, float* c) {
  const int z = blockIdx.z;
  const GemmProblem& pr = P.p[z % P.count];
  const int64_t batch = P.batch0 + z / P.count;
  const int tiles_n = (pr.n + kSimtTile - 1) / kSimtTile;
  const int tiles = ((pr.m + kSimtTile - 1) / kSimtTile) * tiles_n;
  if (static_cast<int>(blockIdx.x) >= tiles) return;
  const int r = (blockIdx.x / tiles_n) * kSimtTile + threadIdx.y;
  const int j = (blockIdx.x % tiles_n) * kSimtTile + threadIdx.x;
  if (r >= pr.m || j >= pr.n) return;
  const float* A = a + pr.off_a + batch * P.batch_a;
  const float* B = b + pr.off_b + batch * P.batch_b;
  // op(A)(r, p) = A[r, p] or A[p, r];  op(B)(p, j) = B[p, j] or B[j, p].
  const int64_t a_row = ta ? 1 : pr.lda, a_k = ta ? pr.lda : 1;
  const int64_t b_k = tb ? 1 : pr.ldb, b_col = tb ? pr.ldb : 1;
  const float* ap = A + r * a_row;
  const float* bp = B + j * b_col;
  float s = 0.0f;
  for (int p = 0; p < pr.k; ++p) s = fmaf(ap[p * a_k], bp[p * b_k], s);
  float* C = c + pr.off_c + batch * P.batch_c;
  const float* bias_p = bias ? bias + pr.off_bias + batch * P.batch_bias : nullptr;
  store_c(P, C, bias_p, pr.ldc, r, j, s);
}

// ---- host side ---------------------------------------------------------------------------------

struct DeviceInfo {
  int major = 0;
  int sms = 0;
};

// Compute capability and SM count of the current device, queried once per device.
cudaError_t device_info(DeviceInfo& out) {
  constexpr int kDevices = 64;
  static std::atomic<int> majors[kDevices];  // 0: not queried yet
  static std::atomic<int> sms[kDevices];
  int dev = 0;
  cudaError_t e = cudaGetDevice(&dev);
  if (e != cudaSuccess) return e;
  if (dev >= 0 && dev < kDevices && majors[dev].load(std::memory_order_acquire) > 0) {
    out.major = majors[dev].load(std::memory_order_relaxed);
    out.sms = sms[dev].load(std::memory_order_relaxed);
    return cudaSuccess;
  }
  int major = 0, count = 0;
  if ((e = cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev)) != cudaSuccess) return e;
  if ((e = cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, dev)) != cudaSuccess) return e;
  if (dev >= 0 && dev < kDevices) {
    sms[dev].store(count, std::memory_order_relaxed);
    majors[dev].store(major, std::memory_order_release);
  }
  out.major = major;
  out.sms = count;
  return cudaSuccess;
}

int64_t tiles_of(const GemmProblem& p, int bm, int bn) {
  if (p.m <= 0 || p.n <= 0) return 0;
  return ((int64_t{p.m} + bm - 1) / bm) * ((int64_t{p.n} + bn - 1) / bn);
}

template <int BM, int BN, int WM, int WN>
void launch_tf32(const GemmParams& P, bool ta, bool tb, unsigned int gx, unsigned int gz, const float* a,
                 const float* b, const float* bias, float* c, cudaStream_t stream) {
  const dim3 grid(gx, 1, gz), block(32 * WM * WN);
  if (ta) {
    if (tb) gemm_tf32_kernel<BM, BN, WM, WN, true, true><<<grid, block, 0, stream>>>(P, a, b, bias, c);
    else gemm_tf32_kernel<BM, BN, WM, WN, true, false><<<grid, block, 0, stream>>>(P, a, b, bias, c);
  } else {
    if (tb) gemm_tf32_kernel<BM, BN, WM, WN, false, true><<<grid, block, 0, stream>>>(P, a, b, bias, c);
    else gemm_tf32_kernel<BM, BN, WM, WN, false, false><<<grid, block, 0, stream>>>(P, a, b, bias, c);
  }
}

constexpr unsigned int kMaxGridZ = 65535;

}  // namespace

cudaError_t gemm(const GemmProblem* problems, int count, const GemmLaunch& g, const float* a, const float* b,
                 const float* bias, float* c, cudaStream_t stream) {
  if (count <= 0 || g.batches <= 0) return cudaGetLastError();
  DeviceInfo dev;
  const cudaError_t e = device_info(dev);
  if (e != cudaSuccess) return e;
  const bool tensor_cores = dev.major >= 8;
  // Big tiles when they alone give every SM work; 64×64 tiles for small products (task heads).
  int64_t big_tiles = 0;
  for (int i = 0; i < count; ++i) big_tiles += tiles_of(problems[i], 128, 128);
  const bool big = big_tiles * g.batches >= dev.sms;
  const int bm = !tensor_cores ? kSimtTile : big ? 128 : 64;
  const int bn = bm;

  GemmParams P{};
  P.alpha = g.alpha;
  P.beta = g.beta;
  P.act = g.act;
  P.bias_rows = g.bias_rows ? 1 : 0;
  P.batch_a = g.batch_a;
  P.batch_b = g.batch_b;
  P.batch_c = g.batch_c;
  P.batch_bias = g.batch_bias;
  for (int first = 0; first < count; first += kMaxGemmProblems) {
    const int group = count - first < kMaxGemmProblems ? count - first : kMaxGemmProblems;
    int64_t max_tiles = 0;
    for (int i = 0; i < group; ++i) {
      P.p[i] = problems[first + i];
      const int64_t tl = tiles_of(P.p[i], bm, bn);
      if (tl > max_tiles) max_tiles = tl;
    }
    if (max_tiles == 0) continue;
    if (max_tiles > INT_MAX) return cudaErrorInvalidValue;
    P.count = group;
    const int per_launch = static_cast<int>(kMaxGridZ / static_cast<unsigned int>(group));  // ≥ 4096 batches
    for (int b0 = 0; b0 < g.batches; b0 += per_launch) {
      const int nb = g.batches - b0 < per_launch ? g.batches - b0 : per_launch;
      P.batch0 = b0;
      const unsigned int gx = static_cast<unsigned int>(max_tiles);
      const unsigned int gz = static_cast<unsigned int>(nb * group);
      if (!tensor_cores) {
        gemm_simt_kernel<<<dim3(gx, 1, gz), dim3(kSimtTile, kSimtTile), 0, stream>>>(P, g.trans_a, g.trans_b, a, b,
                                                                                      bias, c);
      } else if (big) {
        launch_tf32<128, 128, 2, 4>(P, g.trans_a, g.trans_b, gx, gz, a, b, bias, c, stream);
      } else {
        launch_tf32<64, 64, 2, 2>(P, g.trans_a, g.trans_b, gx, gz, a, b, bias, c, stream);
      }
    }
  }
  return cudaGetLastError();
}

}  // namespace hydranet::cuda

// ---- N-API entries (native/cuda/addon_device.h) ----------------------------------------

namespace hydranet::cuda_addon {

// gemm(a, b, c, bias|null, m, n, k, transA, transB, alpha, beta, activation)
void gemm(const Args& a) {
  const int m = a.dim(4, "m"), n = a.dim(5, "n"), k = a.dim(6, "k");
  hc::GemmLaunch g;
  g.trans_a = a.boolean(7, "transA");
  g.trans_b = a.boolean(8, "transB");
  g.alpha = static_cast<float>(a.number(9, "alpha"));
  g.beta = static_cast<float>(a.number(10, "beta"));
  g.act = a.activation(11);
  const hc::GemmProblem p{m, n, k, 0, 0, 0, 0, g.trans_a ? m : k, g.trans_b ? k : n, n};
  const float* A = a.dev(0, "a", elements(a, "a", {m, k}));
  const float* B = a.dev(1, "b", elements(a, "b", {k, n}));
  float* C = a.dev(2, "c", elements(a, "c", {m, n}));
  const float* bias = a.dev_or_null(3, "bias", n);
  check_cuda(hc::gemm(&p, 1, g, A, B, bias, C, state().stream), "gemm");
}
const Export<gemm> export_gemm("gemm", 12);

}  // namespace hydranet::cuda_addon
