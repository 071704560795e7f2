#include "device_memory.h"

#include <dlfcn.h>

#include <cstdlib>
#include <cstring>

namespace mojo::tools {
namespace {

class HostMemory final : public DeviceMemory {
 public:
  mojo_device device() const override { return {MOJO_DEVICE_CPU, 0}; }
  void *alloc(size_t bytes) override {
    void *p = std::malloc(bytes ? bytes : 1);
    if (!p) error_ = "host allocation of " + std::to_string(bytes) + " bytes failed";
    return p;
  }
  void free(void *p) override { std::free(p); }
  bool to_device(void *dst, const void *src, size_t bytes) override {
    if (bytes) std::memcpy(dst, src, bytes);
    return true;
  }
  bool to_host(void *dst, const void *src, size_t bytes) override {
    if (bytes) std::memcpy(dst, src, bytes);
    return true;
  }
  bool synchronize() override { return true; }
};

// The handful of cudart entry points used, looked up with dlsym (cudaError_t is an int enum).
class CudaMemory final : public DeviceMemory {
 public:
  using MallocFn = int (*)(void **, size_t);
  using FreeFn = int (*)(void *);
  using MemcpyFn = int (*)(void *, const void *, size_t, int);
  using SyncFn = int (*)();
  using SetDeviceFn = int (*)(int);
  using ErrorStringFn = const char *(*)(int);
  using StreamCreateFn = int (*)(void **, unsigned);
  using HandleFn = int (*)(void *);
  using BeginCaptureFn = int (*)(void *, int);
  using EndCaptureFn = int (*)(void *, void **);
  using InstantiateFn = int (*)(void **, void *, unsigned long long);
  using GraphLaunchFn = int (*)(void *, void *);

  bool open(int device_id, std::string *why) {
    device_id_ = device_id;
    for (const char *name : {"libcudart.so", "libcudart.so.13", "libcudart.so.12", "libcudart.so.11.0"}) {
      lib_ = dlopen(name, RTLD_NOW | RTLD_LOCAL);
      if (lib_) break;
    }
    if (!lib_) {
      *why = std::string("cannot open libcudart.so: ") + dlerror();
      return false;
    }
    malloc_ = reinterpret_cast<MallocFn>(dlsym(lib_, "cudaMalloc"));
    free_ = reinterpret_cast<FreeFn>(dlsym(lib_, "cudaFree"));
    memcpy_ = reinterpret_cast<MemcpyFn>(dlsym(lib_, "cudaMemcpy"));
    sync_ = reinterpret_cast<SyncFn>(dlsym(lib_, "cudaDeviceSynchronize"));
    set_device_ = reinterpret_cast<SetDeviceFn>(dlsym(lib_, "cudaSetDevice"));
    error_string_ = reinterpret_cast<ErrorStringFn>(dlsym(lib_, "cudaGetErrorString"));
    stream_create_ = reinterpret_cast<StreamCreateFn>(dlsym(lib_, "cudaStreamCreateWithFlags"));
    stream_destroy_ = reinterpret_cast<HandleFn>(dlsym(lib_, "cudaStreamDestroy"));
    stream_sync_ = reinterpret_cast<HandleFn>(dlsym(lib_, "cudaStreamSynchronize"));
    begin_capture_ = reinterpret_cast<BeginCaptureFn>(dlsym(lib_, "cudaStreamBeginCapture"));
    end_capture_ = reinterpret_cast<EndCaptureFn>(dlsym(lib_, "cudaStreamEndCapture"));
    instantiate_ = reinterpret_cast<InstantiateFn>(dlsym(lib_, "cudaGraphInstantiateWithFlags"));
    graph_launch_ = reinterpret_cast<GraphLaunchFn>(dlsym(lib_, "cudaGraphLaunch"));
    graph_destroy_ = reinterpret_cast<HandleFn>(dlsym(lib_, "cudaGraphDestroy"));
    exec_destroy_ = reinterpret_cast<HandleFn>(dlsym(lib_, "cudaGraphExecDestroy"));
    if (!malloc_ || !free_ || !memcpy_ || !sync_ || !set_device_) {
      *why = "libcudart.so lacks cudaMalloc/cudaFree/cudaMemcpy/cudaDeviceSynchronize/cudaSetDevice";
      return false;
    }
    if (int e = set_device_(device_id)) {
      *why = "cudaSetDevice(" + std::to_string(device_id) + "): " + describe(e);
      return false;
    }
    return true;
  }
  ~CudaMemory() override {
    // The library stays loaded: the CUDA runtime does not support being unloaded while contexts live.
  }
  mojo_device device() const override { return {MOJO_DEVICE_CUDA, device_id_}; }
  void *alloc(size_t bytes) override {
    void *p = nullptr;
    if (int e = malloc_(&p, bytes ? bytes : 1)) {
      error_ = "cudaMalloc(" + std::to_string(bytes) + "): " + describe(e);
      return nullptr;
    }
    return p;
  }
  void free(void *p) override {
    if (p) free_(p);
  }
  bool to_device(void *dst, const void *src, size_t bytes) override { return copy(dst, src, bytes, 1); }
  bool to_host(void *dst, const void *src, size_t bytes) override { return copy(dst, src, bytes, 2); }
  bool synchronize() override {
    if (int e = sync_()) {
      error_ = "cudaDeviceSynchronize: " + describe(e);
      return false;
    }
    return true;
  }

  bool graphs_supported() const override {
    return stream_create_ && stream_destroy_ && stream_sync_ && begin_capture_ && end_capture_ && instantiate_ &&
           graph_launch_ && graph_destroy_ && exec_destroy_;
  }
  void *create_stream() override {
    void *s = nullptr;
    if (!check(graphs_supported() ? stream_create_(&s, 1 /* cudaStreamNonBlocking */) : -1, "cudaStreamCreate"))
      return nullptr;
    return s;
  }
  void destroy_stream(void *s) override {
    if (s) stream_destroy_(s);
  }
  bool begin_capture(void *s) override {
    return check(begin_capture_(s, 0 /* cudaStreamCaptureModeGlobal */), "cudaStreamBeginCapture");
  }
  void *end_capture(void *s) override {
    void *graph = nullptr, *exec = nullptr;
    if (!check(end_capture_(s, &graph), "cudaStreamEndCapture")) return nullptr;
    const bool ok = check(instantiate_(&exec, graph, 0), "cudaGraphInstantiateWithFlags");
    graph_destroy_(graph);
    return ok ? exec : nullptr;
  }
  bool launch_graph(void *exec, void *s) override { return check(graph_launch_(exec, s), "cudaGraphLaunch"); }
  void destroy_graph(void *exec) override {
    if (exec) exec_destroy_(exec);
  }
  bool synchronize_stream(void *s) override { return check(stream_sync_(s), "cudaStreamSynchronize"); }

 private:
  bool check(int e, const char *what) {
    if (e == 0) return true;
    error_ = std::string(what) + ": " + (e < 0 ? std::string("libcudart.so lacks the graph API") : describe(e));
    return false;
  }
  bool copy(void *dst, const void *src, size_t bytes, int kind) {
    if (!bytes) return true;
    if (int e = memcpy_(dst, src, bytes, kind)) {
      error_ = std::string("cudaMemcpy: ") + describe(e);
      return false;
    }
    return true;
  }
  std::string describe(int e) const {
    return error_string_ ? std::string(error_string_(e)) : "cuda error " + std::to_string(e);
  }
  void *lib_ = nullptr;
  int device_id_ = 0;
  MallocFn malloc_ = nullptr;
  FreeFn free_ = nullptr;
  MemcpyFn memcpy_ = nullptr;
  SyncFn sync_ = nullptr;
  SetDeviceFn set_device_ = nullptr;
  ErrorStringFn error_string_ = nullptr;
  StreamCreateFn stream_create_ = nullptr;
  HandleFn stream_destroy_ = nullptr, stream_sync_ = nullptr, graph_destroy_ = nullptr, exec_destroy_ = nullptr;
  BeginCaptureFn begin_capture_ = nullptr;
  EndCaptureFn end_capture_ = nullptr;
  InstantiateFn instantiate_ = nullptr;
  GraphLaunchFn graph_launch_ = nullptr;
};

}  // namespace

std::unique_ptr<DeviceMemory> make_host_memory() { return std::make_unique<HostMemory>(); }

std::unique_ptr<DeviceMemory> make_cuda_memory(int device_id, std::string *why) {
  auto m = std::make_unique<CudaMemory>();
  if (!m->open(device_id, why)) return nullptr;
  return m;
}

std::unique_ptr<DeviceMemory> make_memory_for(mojo_device dev, std::string *why) {
  if (dev.device_type == MOJO_DEVICE_CPU || dev.device_type == MOJO_DEVICE_CUDA_HOST) return make_host_memory();
  if (dev.device_type == MOJO_DEVICE_CUDA) return make_cuda_memory(dev.device_id, why);
  *why = "no memory implementation for device type " + std::to_string(dev.device_type);
  return nullptr;
}

}  // namespace mojo::tools
