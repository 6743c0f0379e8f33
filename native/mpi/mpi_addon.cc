// The MPI addon (hydranet_mpi.node): the collectives data-parallel training needs, called on
// host memory in place (a Float32Array / Float64Array, which for the cpu backend is the tensor's
// own memory: no copy). Built by CMakeLists.txt when find_package(MPI) finds an MPI (option
// HYDRANET_MPI), loaded by ts/distributed/mpi.ts.
//
//   init() -> {rank, size, threadLevel, library}       MPI_Init_thread (FUNNELED), once
//   finalize(), rank(), size()
//   allreduceSum(array, timeoutMs)                     in place, element type from the array
//   broadcast(array, root, timeoutMs)                  in place (a Uint8Array too)
//   allgather(send: Float64Array, recv: Float64Array, timeoutMs)   recv.length = size·send.length
//   barrier(timeoutMs)
//   iallreduceStart(array) -> handle; wait(handle, timeoutMs)
//   test(handle) -> done                               one MPI_Test: lets Open MPI progress the
//                                                      all-reduce between backward layers; a done
//                                                      handle stays valid until wait() (which then
//                                                      returns at once)
//   abort(code)                                        MPI_Abort: ends every rank of the job
//
// Every blocking collective is its non-blocking form polled with MPI_Test until it completes or
// timeoutMs passes (0: no limit), so a peer that died or hangs gives a JS Error here instead of a
// hang (MPI cannot cancel a collective: after a timeout the job must abort). MPI_COMM_WORLD has
// MPI_ERRORS_RETURN, so MPI failures come back as JS Errors with MPI's own message; no C++
// exception crosses the boundary (napi_args.h's guarded), every length is checked.
#include <dlfcn.h>
#include <mpi.h>
#include <napi.h>

#include <chrono>
#include <climits>
#include <cstdint>
#include <map>
#include <string>
#include <thread>

#include "napi_args.h"

namespace hydranet::mpi_addon {
namespace {

constexpr char kAddon[] = "hydranet_mpi";
using hydranet::napi::ArgsBase;
using hydranet::napi::guarded;

class Args : public ArgsBase {
 public:
  Args(const Napi::CallbackInfo& info, const char* fn, size_t count) : ArgsBase(info, kAddon, fn, count) {}

  // A Float32Array or Float64Array: its memory, element count and MPI type.
  struct Buffer {
    void* data;
    int count;
    MPI_Datatype type;
    Napi::TypedArray array;
  };

  // A Uint8Array too (MPI_BYTE) when `bytes_ok` (broadcast only: bytes have no sum).
  Buffer buffer(size_t i, const char* name, bool bytes_ok = false) const {
    const Napi::Value v = info_[i];
    const std::string expected = std::string("expected a Float32Array") + (bytes_ok ? ", Float64Array or Uint8Array" : " or Float64Array") + " for " + name;
    if (!v.IsTypedArray()) type_error(expected);
    Napi::TypedArray a = v.As<Napi::TypedArray>();
    MPI_Datatype type;
    size_t bytes;
    switch (a.TypedArrayType()) {
      case napi_float32_array: type = MPI_FLOAT; bytes = 4; break;
      case napi_float64_array: type = MPI_DOUBLE; bytes = 8; break;
      case napi_uint8_array:
        if (!bytes_ok) type_error(expected);
        type = MPI_BYTE; bytes = 1; break;
      default: type_error(expected);
    }
    const size_t n = a.ElementLength();
    if (n > static_cast<size_t>(INT_MAX)) {
      range_error(std::string(name) + " has " + std::to_string(n) + " elements; one MPI call moves at most " + std::to_string(INT_MAX));
    }
    if (a.ByteOffset() + n * bytes > a.ArrayBuffer().ByteLength()) range_error(std::string(name) + " lies outside its ArrayBuffer");
    void* data = static_cast<uint8_t*>(a.ArrayBuffer().Data()) + a.ByteOffset();
    return {data, static_cast<int>(n), type, a};
  }

  double timeout(size_t i) const { return number_in(i, "timeoutMs", 0, 1e12); }
};

// MPI's message for an error code.
std::string mpi_message(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(code, text, &len) != MPI_SUCCESS) return "MPI error " + std::to_string(code);
  return std::string(text, static_cast<size_t>(len));
}

void check(const Args& a, int code, const char* call) {
  if (code != MPI_SUCCESS) a.failure(std::string(call) + " failed: " + mpi_message(code));
}

bool started() {
  int init = 0, fin = 0;
  MPI_Initialized(&init);
  MPI_Finalized(&fin);
  return init && !fin;
}

void need_started(const Args& a) {
  if (!started()) a.failure("MPI is not initialised (call init() first) or was finalised");
}

// This process's rank and the world's size (MPI started).
int world_rank(const Args& a) {
  need_started(a);
  int r = 0;
  check(a, MPI_Comm_rank(MPI_COMM_WORLD, &r), "MPI_Comm_rank");
  return r;
}
int world_size(const Args& a) {
  need_started(a);
  int s = 0;
  check(a, MPI_Comm_size(MPI_COMM_WORLD, &s), "MPI_Comm_size");
  return s;
}

// Polls `req` until it completes or timeout_ms passes (0: no limit).
void wait_for(const Args& a, MPI_Request* req, double timeout_ms, const std::string& what) {
  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  for (unsigned spins = 0;; ++spins) {
    int done = 0;
    check(a, MPI_Test(req, &done, MPI_STATUS_IGNORE), "MPI_Test");
    if (done) return;
    if (timeout_ms > 0 && (spins & 255) == 0) {
      const double ms = std::chrono::duration<double, std::milli>(clock::now() - start).count();
      if (ms > timeout_ms) {
        int rank = -1;
        MPI_Comm_rank(MPI_COMM_WORLD, &rank);
        a.failure(what + " on rank " + std::to_string(rank) + " got no answer from every rank within " +
                  std::to_string(static_cast<long long>(timeout_ms)) +
                  " ms: a rank died, hangs, or is far behind. The collective cannot be cancelled: the job must abort.");
      }
    }
    // Leave the core to the other ranks (they may share it: mpirun --oversubscribe); a sleep
    // here would add its latency to every progress round of a large all-reduce.
    if (spins > 64) std::this_thread::yield();
  }
}

// Promotes libmpi's symbols to global scope: Open MPI's plugins (dlopen'ed by MPI_Init) resolve
// against them, and Node loads an addon and its libraries RTLD_LOCAL.
void promote_libmpi() {
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(&MPI_Init_thread), &info) && info.dli_fname) {
    dlopen(info.dli_fname, RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD);
  }
}

Napi::Value init(const Napi::CallbackInfo& info) {
  const Args a(info, "init", 0);
  int fin = 0;
  MPI_Finalized(&fin);
  if (fin) a.failure("MPI was finalised in this process and cannot be initialised again");
  int init = 0, provided = MPI_THREAD_SINGLE;
  MPI_Initialized(&init);
  if (!init) {
    promote_libmpi();
    check(a, MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
    check(a, MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
  } else {
    MPI_Query_thread(&provided);
  }
  int rank = 0, size = 1;
  check(a, MPI_Comm_rank(MPI_COMM_WORLD, &rank), "MPI_Comm_rank");
  check(a, MPI_Comm_size(MPI_COMM_WORLD, &size), "MPI_Comm_size");
  char version[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  MPI_Get_library_version(version, &len);
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("rank", rank);
  o.Set("size", size);
  o.Set("threadLevel", provided);
  o.Set("library", std::string(version, static_cast<size_t>(len)));
  return o;
}

Napi::Value finalize(const Napi::CallbackInfo& info) {
  const Args a(info, "finalize", 0);
  if (started()) check(a, MPI_Finalize(), "MPI_Finalize");
  return info.Env().Undefined();
}

Napi::Value rank(const Napi::CallbackInfo& info) {
  const Args a(info, "rank", 0);
  return Napi::Number::New(info.Env(), world_rank(a));
}

Napi::Value size(const Napi::CallbackInfo& info) {
  const Args a(info, "size", 0);
  return Napi::Number::New(info.Env(), world_size(a));
}

Napi::Value allreduce_sum(const Napi::CallbackInfo& info) {
  const Args a(info, "allreduceSum", 2);
  const Args::Buffer b = a.buffer(0, "array");
  const double timeout = a.timeout(1);
  need_started(a);
  MPI_Request req;
  check(a, MPI_Iallreduce(MPI_IN_PLACE, b.data, b.count, b.type, MPI_SUM, MPI_COMM_WORLD, &req), "MPI_Iallreduce");
  wait_for(a, &req, timeout, "allreduceSum of " + std::to_string(b.count) + " values");
  return info.Env().Undefined();
}

Napi::Value broadcast(const Napi::CallbackInfo& info) {
  const Args a(info, "broadcast", 3);
  const Args::Buffer b = a.buffer(0, "array", true);
  const int world = world_size(a);
  const int root = static_cast<int>(a.integer(1, "root", 0, world - 1));
  const double timeout = a.timeout(2);
  MPI_Request req;
  check(a, MPI_Ibcast(b.data, b.count, b.type, root, MPI_COMM_WORLD, &req), "MPI_Ibcast");
  wait_for(a, &req, timeout, "broadcast from rank " + std::to_string(root));
  return info.Env().Undefined();
}

Napi::Value allgather(const Napi::CallbackInfo& info) {
  const Args a(info, "allgather", 3);
  const Args::Buffer send = a.buffer(0, "send");
  const Args::Buffer recv = a.buffer(1, "recv");
  const double timeout = a.timeout(2);
  if (send.type != recv.type) a.type_error("send and recv must be arrays of the same element type");
  const int world = world_size(a);
  if (static_cast<int64_t>(recv.count) != static_cast<int64_t>(send.count) * world) {
    a.range_error("recv has " + std::to_string(recv.count) + " elements, expected size·send.length = " + std::to_string(world) +
                  "·" + std::to_string(send.count));
  }
  MPI_Request req;
  check(a, MPI_Iallgather(send.data, send.count, send.type, recv.data, send.count, recv.type, MPI_COMM_WORLD, &req), "MPI_Iallgather");
  wait_for(a, &req, timeout, "allgather");
  return info.Env().Undefined();
}

Napi::Value barrier(const Napi::CallbackInfo& info) {
  const Args a(info, "barrier", 1);
  const double timeout = a.timeout(0);
  need_started(a);
  MPI_Request req;
  check(a, MPI_Ibarrier(MPI_COMM_WORLD, &req), "MPI_Ibarrier");
  wait_for(a, &req, timeout, "barrier");
  return info.Env().Undefined();
}

// Non-blocking all-reduces in flight: the request and a reference that keeps the array alive.
struct Pending {
  MPI_Request request;
  Napi::Reference<Napi::TypedArray> array;
  int count;
};
std::map<int64_t, Pending>& pending() {
  static std::map<int64_t, Pending> table;
  return table;
}
int64_t next_handle = 1;

Napi::Value iallreduce_start(const Napi::CallbackInfo& info) {
  const Args a(info, "iallreduceStart", 1);
  const Args::Buffer b = a.buffer(0, "array");
  need_started(a);
  MPI_Request req;
  check(a, MPI_Iallreduce(MPI_IN_PLACE, b.data, b.count, b.type, MPI_SUM, MPI_COMM_WORLD, &req), "MPI_Iallreduce");
  const int64_t h = next_handle++;
  pending().emplace(h, Pending{req, Napi::Persistent(b.array), b.count});
  return Napi::Number::New(info.Env(), static_cast<double>(h));
}

Pending& find_pending(const Args& a, int64_t h) {
  auto it = pending().find(h);
  if (it == pending().end()) a.range_error("no all-reduce in flight has handle " + std::to_string(h) + " (already waited for?)");
  return it->second;
}

Napi::Value wait(const Napi::CallbackInfo& info) {
  const Args a(info, "wait", 2);
  const int64_t h = a.integer(0, "handle", 1, INT64_C(1) << 52);
  const double timeout = a.timeout(1);
  Pending& p = find_pending(a, h);
  wait_for(a, &p.request, timeout, "all-reduce of " + std::to_string(p.count) + " values (handle " + std::to_string(h) + ")");
  pending().erase(h);
  return info.Env().Undefined();
}

Napi::Value test(const Napi::CallbackInfo& info) {
  const Args a(info, "test", 1);
  const int64_t h = a.integer(0, "handle", 1, INT64_C(1) << 52);
  Pending& p = find_pending(a, h);
  int done = 0;
  // A completed request becomes MPI_REQUEST_NULL, which MPI_Test (and so wait()) reports done.
  check(a, MPI_Test(&p.request, &done, MPI_STATUS_IGNORE), "MPI_Test");
  return Napi::Boolean::New(info.Env(), done != 0);
}

Napi::Value abort_job(const Napi::CallbackInfo& info) {
  const Args a(info, "abort", 1);
  const int code = static_cast<int>(a.integer(0, "code", 1, 255));
  need_started(a);
  MPI_Abort(MPI_COMM_WORLD, code);  // ends every rank; returns only if MPI could not
  a.failure("MPI_Abort returned");
}

template <Napi::Value (*F)(const Napi::CallbackInfo&)>
void set(Napi::Env env, Napi::Object exports, const char* name) {
  exports.Set(name, Napi::Function::New(env, &guarded<kAddon, F>, name));
}

Napi::Object module_init(Napi::Env env, Napi::Object exports) {
  set<init>(env, exports, "init");
  set<finalize>(env, exports, "finalize");
  set<rank>(env, exports, "rank");
  set<size>(env, exports, "size");
  set<allreduce_sum>(env, exports, "allreduceSum");
  set<broadcast>(env, exports, "broadcast");
  set<allgather>(env, exports, "allgather");
  set<barrier>(env, exports, "barrier");
  set<iallreduce_start>(env, exports, "iallreduceStart");
  set<wait>(env, exports, "wait");
  set<test>(env, exports, "test");
  set<abort_job>(env, exports, "abort");
  return exports;
}

}  // namespace
}  // namespace hydranet::mpi_addon

constexpr auto mpi_module_init = &hydranet::mpi_addon::module_init;
NODE_API_MODULE(hydranet_mpi, mpi_module_init)
