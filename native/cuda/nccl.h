// NCCL, loaded at run time: the few types and functions of nccl.h that data-parallel training
// on the cuda backend calls (native/cuda/nccl.cc), declared here because no NCCL headers need
// be installed to build hydranet. The values and layouts are NCCL's public ABI (nccl.h of
// NCCL 2.x, stable since 2.0; ncclAvg since 2.10). libnccl.so.2 is dlopen'ed on first use, so
// the cuda addon builds and loads where NCCL is absent, and says so only when asked to use it.
#pragma once

#include <cuda_runtime.h>

#include <string>

namespace hydranet::nccl {

// NCCL's communicator: an opaque handle.
typedef struct ncclComm* ncclComm_t;

// The identifier rank 0 makes and every rank passes to ncclCommInitRank (NCCL_UNIQUE_ID_BYTES).
constexpr int kUniqueIdBytes = 128;
typedef struct {
  char internal[kUniqueIdBytes];
} ncclUniqueId;

typedef enum {
  ncclSuccess = 0,
  ncclUnhandledCudaError = 1,
  ncclSystemError = 2,
  ncclInternalError = 3,
  ncclInvalidArgument = 4,
  ncclInvalidUsage = 5,
  ncclRemoteError = 6,
  ncclInProgress = 7,
} ncclResult_t;

typedef enum { ncclFloat32 = 7 } ncclDataType_t;
typedef enum { ncclSum = 0, ncclAvg = 4 } ncclRedOp_t;

// The functions, as loaded from libnccl.so.2.
struct Api {
  ncclResult_t (*getUniqueId)(ncclUniqueId* id) = nullptr;
  ncclResult_t (*commInitRank)(ncclComm_t* comm, int nranks, ncclUniqueId id, int rank) = nullptr;
  ncclResult_t (*allReduce)(const void* send, void* recv, size_t count, ncclDataType_t type, ncclRedOp_t op, ncclComm_t comm,
                            cudaStream_t stream) = nullptr;
  ncclResult_t (*broadcast)(const void* send, void* recv, size_t count, ncclDataType_t type, int root, ncclComm_t comm,
                            cudaStream_t stream) = nullptr;
  ncclResult_t (*commDestroy)(ncclComm_t comm) = nullptr;
  const char* (*getErrorString)(ncclResult_t result) = nullptr;
  ncclResult_t (*getVersion)(int* version) = nullptr;
};

// ncclAvg needs NCCL 2.10 (ncclGetVersion's code: major·10000 + minor·100 + patch).
constexpr int kMinVersion = 21000;

// libnccl.so.2's functions, loaded once; nullptr when it cannot be loaded, with the reason in
// `why` (dlerror's message, or the missing symbol).
const Api* api(std::string* why);

}  // namespace hydranet::nccl
