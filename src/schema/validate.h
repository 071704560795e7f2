// Validation of an op call (create-time signature or run-time tensors) against its schema. Runs in the core
// before any plugin sees the call; every failure is a message naming the op, the argument and what was
// expected, and nothing is written.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "mojo/mojo.h"
#include "schema/schema.h"

namespace mojo::core {

// Attributes in schema order with defaults filled; owns the strings and arrays it points to.
// A null optional attribute has count == 0.
struct NormalizedAttrs {
  std::vector<mojo_attr> values;
  std::deque<std::string> strings;
  std::deque<std::vector<int64_t>> int_arrays;
  std::deque<std::vector<double>> float_arrays;

  NormalizedAttrs() = default;
  NormalizedAttrs(const NormalizedAttrs &) = delete;
  NormalizedAttrs &operator=(const NormalizedAttrs &) = delete;
};

// Checks names, kinds and choices of caller attributes and fills `out`. Returns "" or an error message.
std::string normalize_attrs(const OpSchema &schema, const mojo_attr *attrs, size_t n_attrs, NormalizedAttrs &out);

// One call being validated: tensors padded to schema length (nullptr = absent optional).
struct OpCall {
  const OpSchema *schema = nullptr;
  std::vector<const mojo_tensor *> inputs;
  std::vector<const mojo_tensor *> outputs;
  const NormalizedAttrs *attrs = nullptr;
  std::map<std::string, int64_t> dims;  // shape symbols bound during validation (for rules)

  const mojo_tensor *tensor(const std::string &name) const;  // input or output by name, nullptr if absent
  const mojo_attr *attr(const std::string &name) const;
  int64_t attr_int(const std::string &name) const;
  double attr_float(const std::string &name) const;
  bool attr_bool(const std::string &name) const;
  std::string attr_string(const std::string &name) const;
  bool attr_is_null(const std::string &name) const;
};

// Fills call.inputs/outputs from caller arrays (checking counts and required presence).
std::string bind_tensors(OpCall &call, const mojo_tensor *const *inputs, size_t n_inputs,
                         const mojo_tensor *const *outputs, size_t n_outputs);

// Full check: descriptors, dtypes, shapes, one device, custom rules; with need_data also data pointers and
// output/input overlap. Returns "" or the message (already prefixed with the op name).
// structure_known: the descriptors (dtypes, shapes, strides, devices) equal ones that passed before, so only
// the data checks run (the per-run fast path of an op handle).
std::string validate_call(OpCall &call, bool need_data, bool structure_known = false);

// A key of everything validate_call's structural checks read (per slot: dtype, device, shape, strides), so
// an op handle can skip them when a run repeats the previous run's layout.
std::vector<int64_t> structure_key(const OpCall &call);

// The device every tensor of a validated call lives on.
mojo_device call_device(const OpCall &call);

// Small helpers shared with the dispatcher and the report.
std::string device_name(mojo_device d);
std::string shape_string(const mojo_tensor &t);
int dtype_mask_of_spec(const OpSchema &schema, const TensorSpec &spec);  // static mask ignoring references

}  // namespace mojo::core
