// Host tensors for the tools and tests: an owned buffer with a mojo_tensor view, fp32 fill/read helpers and
// guard bytes around the data so a kernel writing out of bounds is caught.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "mojo/mojo.h"
#include "mojo_common/dtype.h"  // MOJO_DT_* ids and conversions

namespace mojo::tools {

class HostTensor {
 public:
  static constexpr size_t kGuardBytes = 64;
  static constexpr uint8_t kGuardByte = 0xA5;

  HostTensor() = default;
  HostTensor(int dtype_id, std::vector<int64_t> shape);
  HostTensor(const HostTensor &other);
  HostTensor &operator=(const HostTensor &other);

  int dtype() const { return dtype_; }
  const std::vector<int64_t> &shape() const { return shape_; }
  int64_t numel() const;
  size_t bytes() const;
  void *data() { return storage_.data() + kGuardBytes; }
  const void *data() const { return storage_.data() + kGuardBytes; }
  // The view passed to the C API; valid while this object lives and is not moved.
  const mojo_tensor *view() const { return &view_; }
  mojo_tensor *mutable_view() { return &view_; }

  // Element i (row-major) as fp32/int64 and back (rounded to the dtype).
  float get(int64_t i) const;
  void set(int64_t i, float v);
  int64_t get_int(int64_t i) const;
  void set_int(int64_t i, int64_t v);

  std::vector<float> to_floats() const;
  void fill(float v);
  void fill_uniform(std::mt19937 &rng, float lo, float hi);
  void fill_normal(std::mt19937 &rng, float stddev);
  void fill_from(const std::vector<float> &values);
  void fill_ints(const std::vector<int64_t> &values);

  bool guards_intact() const;
  // Byte-identical contents (data only).
  bool same_bytes(const HostTensor &other) const;

 private:
  void rebuild_view();
  int dtype_ = -1;
  std::vector<int64_t> shape_;
  std::vector<uint8_t> storage_;
  mojo_tensor view_{};
};

std::string shape_str(const std::vector<int64_t> &shape);

}  // namespace mojo::tools
