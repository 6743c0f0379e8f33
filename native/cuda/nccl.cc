// NCCL collectives of the cuda backend for data-parallel training (ts/distributed/nccl.ts):
// libnccl.so.2 is dlopen'ed on first use (nccl.h declares what is called), so the addon builds
// without NCCL and fails only when asked to use it, saying what is missing. One communicator per
// process; every collective is enqueued on the addon's stream, in order with the kernels that
// wrote the tensor and those that read it next: nothing waits on the host.
//
//   ncclVersion() -> number                    ncclGetVersion (major·10000 + minor·100 + patch);
//                                              throws when libnccl.so.2 cannot be loaded
//   ncclUniqueId() -> Uint8Array(128)          rank 0's identifier (ncclGetUniqueId), which the
//                                              ranks exchange over MPI
//   ncclInit(id: Uint8Array(128), rank, size)  ncclCommInitRank on device 0 (init() first)
//   ncclAllReduce(x, average)                  x summed (average false) or averaged (true:
//                                              ncclAvg) over the ranks, in place, on the stream
//   ncclBroadcast(x, root)                     rank root's x into every rank's, in place
//   ncclDestroy()                              ncclCommDestroy (after a sync)
#include <dlfcn.h>

#include <cstring>
#include <string>

#include "addon_device.h"
#include "nccl.h"

namespace hydranet::nccl {

const Api* api(std::string* why) {
  static Api loaded;
  static bool tried = false;
  static std::string failure;
  if (!tried) {
    tried = true;
    void* lib = dlopen("libnccl.so.2", RTLD_NOW | RTLD_LOCAL);
    if (lib == nullptr) {
      const char* e = dlerror();
      failure = std::string("libnccl.so.2 could not be loaded (") + (e ? e : "dlopen failed") + ")";
    } else {
      struct Symbol {
        const char* name;
        void** into;
      };
      const Symbol symbols[] = {
          {"ncclGetUniqueId", reinterpret_cast<void**>(&loaded.getUniqueId)},
          {"ncclCommInitRank", reinterpret_cast<void**>(&loaded.commInitRank)},
          {"ncclAllReduce", reinterpret_cast<void**>(&loaded.allReduce)},
          {"ncclBroadcast", reinterpret_cast<void**>(&loaded.broadcast)},
          {"ncclCommDestroy", reinterpret_cast<void**>(&loaded.commDestroy)},
          {"ncclGetErrorString", reinterpret_cast<void**>(&loaded.getErrorString)},
          {"ncclGetVersion", reinterpret_cast<void**>(&loaded.getVersion)},
      };
      for (const Symbol& s : symbols) {
        *s.into = dlsym(lib, s.name);
        if (*s.into == nullptr) {
          failure = std::string("libnccl.so.2 has no ") + s.name + " (NCCL 2.x is needed)";
          break;
        }
      }
    }
  }
  if (!failure.empty()) {
    if (why) *why = failure;
    return nullptr;
  }
  return &loaded;
}

}  // namespace hydranet::nccl

namespace hydranet::cuda_addon {
namespace {

namespace nc = hydranet::nccl;

nc::ncclComm_t& communicator() {
  static nc::ncclComm_t comm = nullptr;
  return comm;
}

const nc::Api& need_api(const Args& a) {
  std::string why;
  const nc::Api* api = nc::api(&why);
  if (api == nullptr) {
    a.failure(why + ": data-parallel training on the cuda backend all-reduces with NCCL; install it (Debian/Ubuntu: libnccl2 " +
              "from NVIDIA's CUDA repository) or reduce through host memory with MPI (DataParallel option nccl: false)");
  }
  return *api;
}

void check_nccl(const Args& a, const nc::Api& api, nc::ncclResult_t r, const char* call) {
  if (r != nc::ncclSuccess) a.failure(std::string(call) + " failed: " + api.getErrorString(r));
}

nc::ncclComm_t need_comm(const Args& a) {
  if (communicator() == nullptr) a.failure("no NCCL communicator in this process (ncclInit first)");
  return communicator();
}

Napi::Value nccl_version(const Napi::CallbackInfo& info) {
  const Args a(info, "ncclVersion", 0);
  const nc::Api& api = need_api(a);
  int version = 0;
  check_nccl(a, api, api.getVersion(&version), "ncclGetVersion");
  return Napi::Number::New(info.Env(), version);
}

Napi::Value nccl_unique_id(const Napi::CallbackInfo& info) {
  const Args a(info, "ncclUniqueId", 0);
  const nc::Api& api = need_api(a);
  nc::ncclUniqueId id{};
  check_nccl(a, api, api.getUniqueId(&id), "ncclGetUniqueId");
  Napi::Uint8Array out = Napi::Uint8Array::New(info.Env(), nc::kUniqueIdBytes);
  std::memcpy(out.Data(), id.internal, nc::kUniqueIdBytes);
  return out;
}

Napi::Value nccl_init(const Napi::CallbackInfo& info) {
  const Args a(info, "ncclInit", 3);
  const Napi::Value v = info[0];
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array ||
      v.As<Napi::Uint8Array>().ElementLength() != static_cast<size_t>(nc::kUniqueIdBytes)) {
    a.type_error("expected the 128-byte NCCL unique id (a Uint8Array) for id");
  }
  const int size = static_cast<int>(a.integer(2, "size", 1, 1 << 20));
  const int rank = static_cast<int>(a.integer(1, "rank", 0, size - 1));
  const nc::Api& api = need_api(a);
  if (communicator() != nullptr) a.failure("this process already has an NCCL communicator (ncclDestroy first)");
  nc::ncclUniqueId id{};
  std::memcpy(id.internal, v.As<Napi::Uint8Array>().Data(), nc::kUniqueIdBytes);
  check_cuda(cudaSetDevice(0), "ncclInit (cudaSetDevice)");
  nc::ncclComm_t comm = nullptr;
  check_nccl(a, api, api.commInitRank(&comm, size, id, rank), "ncclCommInitRank");
  communicator() = comm;
  return info.Env().Undefined();
}

Napi::Value nccl_all_reduce(const Napi::CallbackInfo& info) {
  const Args a(info, "ncclAllReduce", 2);
  float* x = a.dev(0, "x", -1);
  const int64_t n = a.last_count();
  const Napi::Value avg = info[1];
  if (!avg.IsBoolean()) a.type_error("expected true (average) or false (sum) for average");
  const nc::Api& api = need_api(a);
  const nc::ncclRedOp_t op = avg.As<Napi::Boolean>().Value() ? nc::ncclAvg : nc::ncclSum;
  check_nccl(a, api, api.allReduce(x, x, static_cast<size_t>(n), nc::ncclFloat32, op, need_comm(a), state().stream), "ncclAllReduce");
  return info.Env().Undefined();
}

void nccl_broadcast(const Args& a) {
  float* x = a.dev(0, "x", -1);
  const int64_t n = a.last_count();
  const int root = static_cast<int>(a.integer(1, "root", 0, 1 << 20));
  const nc::Api& api = need_api(a);
  check_nccl(a, api, api.broadcast(x, x, static_cast<size_t>(n), nc::ncclFloat32, root, need_comm(a), state().stream), "ncclBroadcast");
}

void nccl_destroy(const Args& a) {
  if (communicator() == nullptr) return;
  const nc::Api& api = need_api(a);
  check_cuda(cudaStreamSynchronize(state().stream), "ncclDestroy (sync)");
  nc::ncclComm_t comm = communicator();
  communicator() = nullptr;
  check_nccl(a, api, api.commDestroy(comm), "ncclCommDestroy");
}

const Export<nccl_version> export_nccl_version("ncclVersion");
const Export<nccl_unique_id> export_nccl_unique_id("ncclUniqueId");
const Export<nccl_init> export_nccl_init("ncclInit");
const Export<nccl_all_reduce> export_nccl_all_reduce("ncclAllReduce");
const Export<nccl_broadcast> export_nccl_broadcast("ncclBroadcast", 2);
const Export<nccl_destroy> export_nccl_destroy("ncclDestroy", 0);

}  // namespace
}  // namespace hydranet::cuda_addon
