// The CUDA backend's addon (hydranet_cuda.node): the module's init. Each kernel's N-API entry
// lives beside its launcher in native/cuda/<family>.cu, the device entries (info, init, alloc,
// release, write, read, sync, fill, copy) in addon_device.cc; all register themselves
// (native/napi_registry.h) and share addon_device.h.
// Device memory lives in allocations the addon owns, named by integer ids; JavaScript passes each tensor as
// [id, offset, count] (elements), and every range is checked against its allocation and
// against the dimensions of the call before any kernel is enqueued. Kernels run on one stream;
// reads and syncs wait for it and then check the device status words (a class index out of
// range found by the loss kernel). Packed layouts are decoded and checked by native/layouts.h
// (shared with the CPU addon), every size an overflow-checked product. Errors become JS
// TypeError / RangeError (arguments) or Error (CUDA: the call and cudaGetErrorString); no C++
// exception crosses into JavaScript.
// Loading the addon needs no GPU (the CUDA runtime is linked statically and finds the driver
// on first use): `info()` reports what is there.
#include "addon_device.h"

constexpr auto module_init = &hydranet::napi::init<hydranet::cuda_addon::kAddon>;
NODE_API_MODULE(hydranet_cuda, module_init)
