// Where mojo-test-ops and mojo-demo put tensor data for the backend under test: host memory, or CUDA device
// memory through libcudart.so opened at run time (no link-time CUDA dependency; a machine without CUDA simply
// has no CUDA memory).
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "mojo/mojo.h"

namespace mojo::tools {

class DeviceMemory {
 public:
  virtual ~DeviceMemory() = default;
  virtual mojo_device device() const = 0;
  // nullptr on failure (error() says why).
  virtual void *alloc(size_t bytes) = 0;
  virtual void free(void *p) = 0;
  virtual bool to_device(void *dst, const void *src, size_t bytes) = 0;
  virtual bool to_host(void *dst, const void *src, size_t bytes) = 0;
  virtual bool synchronize() = 0;
  // CUDA graphs (mojo-test-ops --graph): a non-blocking stream, capture of what is enqueued on it, replays.
  // Host memory has none (graphs_supported() false; the others then fail with error() set).
  virtual bool graphs_supported() const { return false; }
  virtual void *create_stream() { return unsupported_handle(); }
  virtual void destroy_stream(void *) {}
  virtual bool begin_capture(void *) { return unsupported_handle() != nullptr; }
  // Ends the capture and instantiates it; nullptr on failure (the capture is ended either way).
  virtual void *end_capture(void *) { return unsupported_handle(); }
  virtual bool launch_graph(void *, void *) { return unsupported_handle() != nullptr; }
  virtual void destroy_graph(void *) {}
  virtual bool synchronize_stream(void *) { return unsupported_handle() != nullptr; }
  const std::string &error() const { return error_; }

 protected:
  void *unsupported_handle() {
    error_ = "this memory has no streams or graphs";
    return nullptr;
  }
  std::string error_;
};

// Plain host memory (cpu and CUDA_HOST-style backends).
std::unique_ptr<DeviceMemory> make_host_memory();
// CUDA device memory on device_id; nullptr with *why set when libcudart cannot be opened or the device set.
std::unique_ptr<DeviceMemory> make_cuda_memory(int device_id, std::string *why);
// The memory for a device: host for CPU, CUDA for CUDA; nullptr with *why for anything else.
std::unique_ptr<DeviceMemory> make_memory_for(mojo_device dev, std::string *why);

}  // namespace mojo::tools
