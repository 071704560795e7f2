#include "driver.h"

#include <dlfcn.h>

namespace mojo::ttx {

namespace {

template <typename Fn>
bool resolve(void *lib, const char *name, Fn *&fn, std::string *missing) {
  fn = reinterpret_cast<Fn *>(dlsym(lib, name));
  if (fn == nullptr) *missing += std::string(missing->empty() ? "" : ", ") + name;
  return fn != nullptr;
}

}  // namespace

std::string Driver::load() {
  library = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (library == nullptr) {
    const char *err = dlerror();
    return std::string("no CUDA driver (libcuda.so.1: ") + (err ? err : "not found") + ")";
  }
  std::string missing;
  // The _v2 names are the ones the driver's own header maps the plain names to.
  resolve(library, "cuInit", cuInit, &missing);
  resolve(library, "cuDeviceGetCount", cuDeviceGetCount, &missing);
  resolve(library, "cuDeviceGet", cuDeviceGet, &missing);
  resolve(library, "cuDeviceGetAttribute", cuDeviceGetAttribute, &missing);
  resolve(library, "cuDeviceGetName", cuDeviceGetName, &missing);
  resolve(library, "cuDeviceTotalMem_v2", cuDeviceTotalMem, &missing);
  resolve(library, "cuDevicePrimaryCtxRetain", cuDevicePrimaryCtxRetain, &missing);
  resolve(library, "cuDevicePrimaryCtxRelease_v2", cuDevicePrimaryCtxRelease, &missing);
  resolve(library, "cuCtxGetCurrent", cuCtxGetCurrent, &missing);
  resolve(library, "cuCtxPushCurrent_v2", cuCtxPushCurrent, &missing);
  resolve(library, "cuCtxPopCurrent_v2", cuCtxPopCurrent, &missing);
  resolve(library, "cuModuleLoadData", cuModuleLoadData, &missing);
  resolve(library, "cuModuleUnload", cuModuleUnload, &missing);
  resolve(library, "cuModuleGetFunction", cuModuleGetFunction, &missing);
  resolve(library, "cuFuncSetAttribute", cuFuncSetAttribute, &missing);
  resolve(library, "cuLaunchKernel", cuLaunchKernel, &missing);
  resolve(library, "cuMemAlloc_v2", cuMemAlloc, &missing);
  resolve(library, "cuMemFree_v2", cuMemFree, &missing);
  resolve(library, "cuMemsetD32_v2", cuMemsetD32, &missing);
  resolve(library, "cuMemsetD32Async", cuMemsetD32Async, &missing);
  resolve(library, "cuMemcpyDtoHAsync_v2", cuMemcpyDtoHAsync, &missing);
  resolve(library, "cuStreamSynchronize", cuStreamSynchronize, &missing);
  resolve(library, "cuGetErrorName", cuGetErrorName, &missing);
  resolve(library, "cuGetErrorString", cuGetErrorString, &missing);
  if (missing.empty()) return "";
  unload();
  return "the CUDA driver lacks " + missing;
}

void Driver::unload() {
  if (library) dlclose(library);
  *this = Driver{};
}

std::string Driver::message(CUresult r, const char *what) const {
  if (r == kCudaSuccess) return "";
  const char *name = nullptr, *text = nullptr;
  if (cuGetErrorName) cuGetErrorName(r, &name);
  if (cuGetErrorString) cuGetErrorString(r, &text);
  return std::string("CUDA driver error ") + (name ? name : std::to_string(r)) + ": " + (text ? text : "unknown") +
         " (during " + what + ")";
}

ContextScope::ContextScope(const Driver &d, CUcontext ctx) : driver_(d) {
  CUcontext current = nullptr;
  CUresult r = d.cuCtxGetCurrent(&current);
  if (r == kCudaSuccess && current == ctx) return;
  r = d.cuCtxPushCurrent(ctx);
  pushed_ = r == kCudaSuccess;
  error_ = d.message(r, "cuCtxPushCurrent");
}

ContextScope::~ContextScope() {
  CUcontext popped = nullptr;
  if (pushed_) driver_.cuCtxPopCurrent(&popped);
}

}  // namespace mojo::ttx
