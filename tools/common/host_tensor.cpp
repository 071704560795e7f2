#include "host_tensor.h"

#include <cstring>

#include "mojo_common/dtype.h"

namespace mojo::tools {

HostTensor::HostTensor(int dtype_id, std::vector<int64_t> shape) : dtype_(dtype_id), shape_(std::move(shape)) {
  storage_.assign(bytes() + 2 * kGuardBytes, 0);
  std::memset(storage_.data(), kGuardByte, kGuardBytes);
  std::memset(storage_.data() + kGuardBytes + bytes(), kGuardByte, kGuardBytes);
  rebuild_view();
}

HostTensor::HostTensor(const HostTensor &other)
    : dtype_(other.dtype_), shape_(other.shape_), storage_(other.storage_) {
  rebuild_view();
}

HostTensor &HostTensor::operator=(const HostTensor &other) {
  dtype_ = other.dtype_;
  shape_ = other.shape_;
  storage_ = other.storage_;
  rebuild_view();
  return *this;
}

void HostTensor::rebuild_view() {
  view_ = mojo_tensor{};
  view_.data = data();
  view_.device = {MOJO_DEVICE_CPU, 0};
  view_.ndim = int32_t(shape_.size());
  view_.dtype = common::dtype_of_id(dtype_);
  view_.shape = shape_.data();
  view_.strides = nullptr;
  view_.byte_offset = 0;
}

int64_t HostTensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape_) n *= d;
  return n;
}

size_t HostTensor::bytes() const { return size_t(numel()) * size_t(common::dtype_size(dtype_)); }

float HostTensor::get(int64_t i) const {
  if (dtype_ == MOJO_DT_INT32 || dtype_ == MOJO_DT_INT64) return float(get_int(i));
  return common::load_as_float(data(), dtype_, i);
}

void HostTensor::set(int64_t i, float v) {
  if (dtype_ == MOJO_DT_INT32 || dtype_ == MOJO_DT_INT64) return set_int(i, int64_t(v));
  common::store_from_float(data(), dtype_, i, v);
}

int64_t HostTensor::get_int(int64_t i) const {
  switch (dtype_) {
    case MOJO_DT_INT64: return static_cast<const int64_t *>(data())[i];
    case MOJO_DT_INT32: return static_cast<const int32_t *>(data())[i];
    case MOJO_DT_INT8: return static_cast<const int8_t *>(data())[i];
    case MOJO_DT_UINT8:
    case MOJO_DT_BOOL: return static_cast<const uint8_t *>(data())[i];
    default: return int64_t(common::load_as_float(data(), dtype_, i));
  }
}

void HostTensor::set_int(int64_t i, int64_t v) {
  switch (dtype_) {
    case MOJO_DT_INT64: static_cast<int64_t *>(data())[i] = v; break;
    case MOJO_DT_INT32: static_cast<int32_t *>(data())[i] = int32_t(v); break;
    case MOJO_DT_INT8: static_cast<int8_t *>(data())[i] = int8_t(v); break;
    case MOJO_DT_UINT8:
    case MOJO_DT_BOOL: static_cast<uint8_t *>(data())[i] = uint8_t(v); break;
    default: common::store_from_float(data(), dtype_, i, float(v));
  }
}

std::vector<float> HostTensor::to_floats() const {
  std::vector<float> out(static_cast<size_t>(numel()));
  for (int64_t i = 0; i < numel(); ++i) out[size_t(i)] = get(i);
  return out;
}

void HostTensor::fill(float v) {
  for (int64_t i = 0; i < numel(); ++i) set(i, v);
}

void HostTensor::fill_uniform(std::mt19937 &rng, float lo, float hi) {
  std::uniform_real_distribution<float> dist(lo, hi);
  for (int64_t i = 0; i < numel(); ++i) set(i, dist(rng));
}

void HostTensor::fill_normal(std::mt19937 &rng, float stddev) {
  std::normal_distribution<float> dist(0.0f, stddev);
  for (int64_t i = 0; i < numel(); ++i) set(i, dist(rng));
}

void HostTensor::fill_from(const std::vector<float> &values) {
  for (int64_t i = 0; i < numel() && size_t(i) < values.size(); ++i) set(i, values[size_t(i)]);
}

void HostTensor::fill_ints(const std::vector<int64_t> &values) {
  for (int64_t i = 0; i < numel() && size_t(i) < values.size(); ++i) set_int(i, values[size_t(i)]);
}

bool HostTensor::guards_intact() const {
  for (size_t i = 0; i < kGuardBytes; ++i)
    if (storage_[i] != kGuardByte || storage_[kGuardBytes + bytes() + i] != kGuardByte) return false;
  return true;
}

bool HostTensor::same_bytes(const HostTensor &other) const {
  return bytes() == other.bytes() && std::memcmp(data(), other.data(), bytes()) == 0;
}

std::string shape_str(const std::vector<int64_t> &shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace mojo::tools
