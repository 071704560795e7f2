#include "schema/validate.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "mojo_common/dtype.h"
#include "schema/shape_pattern.h"

namespace mojo::core {
namespace {

using common::dtype_id;
using common::dtype_name;

std::string join_split_check(const std::string &choices, const std::string &value) {
  size_t start = 0;
  while (true) {
    size_t bar = choices.find('|', start);
    if (choices.substr(start, bar == std::string::npos ? std::string::npos : bar - start) == value) return "";
    if (bar == std::string::npos) break;
    start = bar + 1;
  }
  return "one of " + choices;
}

int named_set_mask(const std::string &name) {
  auto bit = [](int id) { return 1 << id; };
  if (name == "float") return bit(MOJO_DT_BF16) | bit(MOJO_DT_FP16) | bit(MOJO_DT_FP32);
  if (name == "index") return bit(MOJO_DT_INT32) | bit(MOJO_DT_INT64);
  if (name == "quant") return bit(MOJO_DT_INT8) | bit(MOJO_DT_FP8_E4M3FN);
  if (name == "any") return (1 << MOJO_DT_COUNT) - 1;
  int id = common::dtype_id_from_name(name.c_str());
  if (id < 0) throw std::invalid_argument("unknown dtype set '" + name + "'");
  return bit(id);
}

std::string mask_text(int mask) {
  std::string out;
  for (int id = 0; id < MOJO_DT_COUNT; ++id)
    if (mask & (1 << id)) out += (out.empty() ? "" : "|") + std::string(dtype_name(id));
  return out;
}

const TensorSpec *spec_by_name(const OpSchema &s, const std::string &name, bool *is_input = nullptr) {
  for (const auto &t : s.inputs)
    if (t.name == name) { if (is_input) *is_input = true; return &t; }
  for (const auto &t : s.outputs)
    if (t.name == name) { if (is_input) *is_input = false; return &t; }
  return nullptr;
}

std::string arg_label(const TensorSpec &spec, bool input) {
  return std::string(input ? "input '" : "output '") + spec.name + "'";
}

std::vector<std::string> split_bars(const std::string &text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t bar = text.find('|', start);
    out.push_back(text.substr(start, bar == std::string::npos ? std::string::npos : bar - start));
    if (bar == std::string::npos) return out;
    start = bar + 1;
  }
}

// Allowed dtype mask of one tensor in this call; tokens are named sets, "=x" (dtype of x) or "@attr".
int allowed_mask(const OpCall &call, const TensorSpec &spec, std::string &rule_text, int depth = 0) {
  int mask = 0;
  rule_text.clear();
  for (const std::string &token : split_bars(spec.dtypes)) {
    std::string text;
    int m = 0;
    if (!token.empty() && token[0] == '=') {
      std::string ref = token.substr(1);
      text = "the dtype of '" + ref + "'";
      const mojo_tensor *t = call.tensor(ref);
      const TensorSpec *rs = spec_by_name(*call.schema, ref);
      std::string ignored;
      if (t) {
        m = 1 << dtype_id(t->dtype);
        text += " (" + std::string(dtype_name(dtype_id(t->dtype))) + ")";
      } else if (rs && depth < 4) m = allowed_mask(call, *rs, ignored, depth + 1);
    } else if (!token.empty() && token[0] == '@') {
      std::string attr = token.substr(1);
      std::string value = call.attr_string(attr);
      text = "the dtype named by attribute '" + attr + "' (" + value + ")";
      int id = common::dtype_id_from_name(value.c_str());
      m = id < 0 ? 0 : 1 << id;
    } else {
      m = named_set_mask(token);
      text = mask_text(m);
    }
    mask |= m;
    rule_text += (rule_text.empty() ? "" : " or ") + text;
  }
  return mask;
}

bool condition_holds(const OpCall &call, const ShapePattern &p) {
  if (p.cond_attr.empty()) return true;
  const mojo_attr *a = call.attr(p.cond_attr);
  std::string value;
  if (a) {
    if (a->type == MOJO_ATTR_STRING || a->type == MOJO_ATTR_DTYPE) value = a->s ? a->s : "";
    else if (a->type == MOJO_ATTR_BOOL) value = a->i ? "true" : "false";
    else value = std::to_string(a->i);
  }
  return (value == p.cond_value) != p.cond_negate;
}

std::string check_descriptor(const mojo_tensor &t) {
  if (t.ndim < 0 || t.ndim > 8) return "ndim " + std::to_string(t.ndim) + ", expected 0..8";
  if (t.ndim > 0 && t.shape == nullptr) return "shape pointer is null";
  for (int32_t d = 0; d < t.ndim; ++d)
    if (t.shape[d] < 0) return "dim " + std::to_string(d) + " is negative (" + std::to_string(t.shape[d]) + ")";
  if (dtype_id(t.dtype) < 0)
    return "unknown dtype {code " + std::to_string(t.dtype.code) + ", bits " + std::to_string(t.dtype.bits) +
           ", lanes " + std::to_string(t.dtype.lanes) + "}";
  if (t.strides != nullptr && t.ndim > 0 && t.shape[t.ndim - 1] > 1 && t.strides[t.ndim - 1] != 1)
    return "last dim has stride " + std::to_string(t.strides[t.ndim - 1]) + ", expected 1";
  if (t.strides != nullptr)
    for (int32_t d = 0; d < t.ndim; ++d)
      if (t.strides[d] < 0) return "negative stride on dim " + std::to_string(d);
  return "";
}

// Byte range [lo, hi) a tensor may touch.
std::pair<uintptr_t, uintptr_t> byte_extent(const mojo_tensor &t) {
  uintptr_t base = reinterpret_cast<uintptr_t>(t.data) + t.byte_offset;
  int64_t last = 0, expected = 1;
  for (int32_t d = t.ndim - 1; d >= 0; --d) {
    if (t.shape[d] == 0) return {base, base};
    int64_t stride = t.strides ? t.strides[d] : expected;
    last += (t.shape[d] - 1) * stride;
    expected *= t.shape[d];
  }
  int64_t esize = common::dtype_size(dtype_id(t.dtype));
  return {base, base + uintptr_t((last + 1) * esize)};
}

int64_t element_count(const mojo_tensor &t) {
  int64_t n = 1;
  for (int32_t d = 0; d < t.ndim; ++d) n *= t.shape[d];
  return n;
}

bool overlaps(const mojo_tensor &a, const mojo_tensor &b) {
  auto ea = byte_extent(a), eb = byte_extent(b);
  if (ea.first == ea.second || eb.first == eb.second) return false;
  if (a.device.device_type != b.device.device_type || a.device.device_id != b.device.device_id) return false;
  return ea.first < eb.second && eb.first < ea.second;
}

}  // namespace

// ---- OpCall accessors ------------------------------------------------------------------------------

const mojo_tensor *OpCall::tensor(const std::string &name) const {
  for (size_t i = 0; i < schema->inputs.size(); ++i)
    if (schema->inputs[i].name == name) return i < inputs.size() ? inputs[i] : nullptr;
  for (size_t i = 0; i < schema->outputs.size(); ++i)
    if (schema->outputs[i].name == name) return i < outputs.size() ? outputs[i] : nullptr;
  return nullptr;
}

const mojo_attr *OpCall::attr(const std::string &name) const {
  if (!attrs) return nullptr;
  for (const auto &a : attrs->values)
    if (name == a.name) return &a;
  return nullptr;
}
int64_t OpCall::attr_int(const std::string &name) const { auto a = attr(name); return a && a->count ? a->i : 0; }
double OpCall::attr_float(const std::string &name) const { auto a = attr(name); return a && a->count ? a->f : 0.0; }
bool OpCall::attr_bool(const std::string &name) const { auto a = attr(name); return a && a->count && a->i; }
std::string OpCall::attr_string(const std::string &name) const {
  auto a = attr(name);
  return a && a->count && a->s ? a->s : "";
}
bool OpCall::attr_is_null(const std::string &name) const { auto a = attr(name); return !a || a->count == 0; }

// ---- attributes ---------------------------------------------------------------------------------------

std::string normalize_attrs(const OpSchema &schema, const mojo_attr *attrs, size_t n_attrs, NormalizedAttrs &out) {
  const std::string op = schema.name;
  if (n_attrs > 0 && attrs == nullptr) return op + ": attrs is null but n_attrs is " + std::to_string(n_attrs);
  for (size_t i = 0; i < n_attrs; ++i) {
    if (attrs[i].name == nullptr) return op + ": attribute #" + std::to_string(i) + " has a null name";
    bool known = std::any_of(schema.attrs.begin(), schema.attrs.end(),
                             [&](const AttrSpec &s) { return s.name == attrs[i].name; });
    if (!known) {
      std::string names;
      for (const auto &s : schema.attrs) names += (names.empty() ? "" : ", ") + s.name;
      return op + ": unknown attribute '" + attrs[i].name + "' (expected one of: " +
             (names.empty() ? "none" : names) + ")";
    }
    for (size_t j = 0; j < i; ++j)
      if (std::strcmp(attrs[j].name, attrs[i].name) == 0)
        return op + ": attribute '" + attrs[i].name + "' given twice";
  }
  out.values.clear();
  for (const auto &spec : schema.attrs) {
    const mojo_attr *given = nullptr;
    for (size_t i = 0; i < n_attrs; ++i)
      if (spec.name == attrs[i].name) given = &attrs[i];
    out.strings.push_back(spec.name);
    mojo_attr v{};
    v.name = out.strings.back().c_str();
    v.count = 1;
    std::string label = op + ": attribute '" + spec.name + "'";
    const char *kind = attr_kind_name(spec.kind);
    auto want_type = [&](mojo_attr_type t1, mojo_attr_type t2 = -1) -> std::string {
      if (given->type == t1 || given->type == t2) return "";
      return label + ": expected " + kind + ", got type " + std::to_string(given->type);
    };
    switch (spec.kind) {
      case AttrKind::Int: v.type = MOJO_ATTR_INT; break;
      case AttrKind::Float: v.type = MOJO_ATTR_FLOAT; break;
      case AttrKind::Bool: v.type = MOJO_ATTR_BOOL; break;
      case AttrKind::String: v.type = MOJO_ATTR_STRING; break;
      case AttrKind::DType: v.type = MOJO_ATTR_DTYPE; break;
      case AttrKind::IntArray: v.type = MOJO_ATTR_INT_ARRAY; break;
      case AttrKind::FloatArray: v.type = MOJO_ATTR_FLOAT_ARRAY; break;
    }
    if (given == nullptr) {
      if (spec.default_value.empty()) return label + " is required (" + kind + ": " + spec.doc + ")";
      if (spec.default_value == "null") {
        v.count = 0;
      } else {
        switch (spec.kind) {
          case AttrKind::Int: v.i = std::stoll(spec.default_value); break;
          case AttrKind::Float: v.f = std::stod(spec.default_value); break;
          case AttrKind::Bool: v.i = spec.default_value == "true"; break;
          case AttrKind::String:
          case AttrKind::DType:
            out.strings.push_back(spec.default_value);
            v.s = out.strings.back().c_str();
            break;
          case AttrKind::IntArray:
          case AttrKind::FloatArray: v.count = 0; break;
        }
      }
      out.values.push_back(v);
      continue;
    }
    std::string err;
    switch (spec.kind) {
      case AttrKind::Int:
        err = want_type(MOJO_ATTR_INT, MOJO_ATTR_BOOL);
        v.i = given->i;
        break;
      case AttrKind::Float:
        if (given->type == MOJO_ATTR_INT) v.f = double(given->i);
        else if (!(err = want_type(MOJO_ATTR_FLOAT)).empty()) break;
        else v.f = given->f;
        if (!std::isfinite(v.f)) err = label + ": expected a finite float, got " + std::to_string(v.f);
        break;
      case AttrKind::Bool:
        err = want_type(MOJO_ATTR_BOOL, MOJO_ATTR_INT);
        if (err.empty() && given->i != 0 && given->i != 1)
          err = label + ": expected bool (0 or 1), got " + std::to_string(given->i);
        v.i = given->i;
        break;
      case AttrKind::String:
      case AttrKind::DType: {
        err = want_type(spec.kind == AttrKind::String ? MOJO_ATTR_STRING : MOJO_ATTR_DTYPE, MOJO_ATTR_STRING);
        if (!err.empty()) break;
        if (given->s == nullptr) { err = label + ": string is null"; break; }
        std::string value = given->s;
        std::string why = spec.choices.empty() ? "" : join_split_check(spec.choices, value);
        if (spec.kind == AttrKind::DType && spec.choices.empty() && common::dtype_id_from_name(value.c_str()) < 0)
          why = "a dtype name";
        if (!why.empty()) { err = label + ": expected " + why + ", got '" + value + "'"; break; }
        out.strings.push_back(value);
        v.s = out.strings.back().c_str();
        break;
      }
      case AttrKind::IntArray:
        err = want_type(MOJO_ATTR_INT_ARRAY);
        if (err.empty() && given->count > 0 && given->ints == nullptr) err = label + ": ints is null";
        if (err.empty() && given->count < 0) err = label + ": negative count";
        if (err.empty()) {
          out.int_arrays.emplace_back(given->ints, given->ints + given->count);
          v.ints = out.int_arrays.back().data();
          v.count = given->count;
        }
        break;
      case AttrKind::FloatArray:
        err = want_type(MOJO_ATTR_FLOAT_ARRAY);
        if (err.empty() && given->count > 0 && given->floats == nullptr) err = label + ": floats is null";
        if (err.empty() && given->count < 0) err = label + ": negative count";
        if (err.empty()) {
          out.float_arrays.emplace_back(given->floats, given->floats + given->count);
          v.floats = out.float_arrays.back().data();
          v.count = given->count;
        }
        break;
    }
    if (!err.empty()) return err;
    out.values.push_back(v);
  }
  return "";
}

// ---- tensors ------------------------------------------------------------------------------------------

std::string bind_tensors(OpCall &call, const mojo_tensor *const *inputs, size_t n_inputs,
                         const mojo_tensor *const *outputs, size_t n_outputs) {
  const OpSchema &s = *call.schema;
  auto bind = [&](const std::vector<TensorSpec> &specs, const mojo_tensor *const *given, size_t n, bool input,
                  std::vector<const mojo_tensor *> &dst) -> std::string {
    const char *what = input ? "inputs" : "outputs";
    if (n > 0 && given == nullptr) return s.name + ": " + what + " array is null but its count is " + std::to_string(n);
    if (n > specs.size())
      return s.name + ": " + std::to_string(n) + " " + what + " given, expected at most " + std::to_string(specs.size());
    dst.assign(specs.size(), nullptr);
    for (size_t i = 0; i < specs.size(); ++i) {
      dst[i] = i < n ? given[i] : nullptr;
      if (dst[i] == nullptr && !specs[i].optional)
        return s.name + ": " + arg_label(specs[i], input) + " is required (" + specs[i].shape + " " +
               specs[i].dtypes + ")";
    }
    return "";
  };
  std::string err = bind(s.inputs, inputs, n_inputs, true, call.inputs);
  if (err.empty()) err = bind(s.outputs, outputs, n_outputs, false, call.outputs);
  return err;
}

std::vector<int64_t> structure_key(const OpCall &call) {
  std::vector<int64_t> key;
  for (const auto *list : {&call.inputs, &call.outputs})
    for (const mojo_tensor *t : *list) {
      if (t == nullptr) {
        key.push_back(-1);
        continue;
      }
      key.push_back(t->ndim);
      key.push_back(int64_t(t->dtype.code) | int64_t(t->dtype.bits) << 8 | int64_t(t->dtype.lanes) << 16);
      key.push_back(int64_t(t->device.device_type) << 32 | int64_t(uint32_t(t->device.device_id)));
      if (t->ndim < 0 || t->ndim > 16 || t->shape == nullptr) {
        key.push_back(-3);  // malformed: never equal to a validated key
        continue;
      }
      for (int32_t d = 0; d < t->ndim; ++d) key.push_back(t->shape[d]);
      key.push_back(t->strides ? 1 : 0);
      if (t->strides)
        for (int32_t d = 0; d < t->ndim; ++d) key.push_back(t->strides[d]);
    }
  return key;
}

namespace {

struct Item {
  const TensorSpec *spec;
  const mojo_tensor *t;
  bool input;
};

// Descriptors, device, dtypes, shapes and op rules of a call (what does not depend on the data pointers).
std::string validate_structure(OpCall &call, const std::vector<Item> &items) {
  const OpSchema &s = *call.schema;
  const std::string &op = s.name;

  // Descriptors first, so the shape and dtype checks below can trust them.
  for (const auto &it : items) {
    std::string why = check_descriptor(*it.t);
    if (!why.empty()) return op + ": " + arg_label(*it.spec, it.input) + ": " + why;
  }
  // One device for every tensor.
  const Item *first = items.empty() ? nullptr : &items.front();
  for (const auto &it : items) {
    if (it.t->device.device_type != first->t->device.device_type || it.t->device.device_id != first->t->device.device_id)
      return op + ": " + arg_label(*it.spec, it.input) + " is on " + device_name(it.t->device) + ", expected " +
             device_name(first->t->device) + " like " + arg_label(*first->spec, first->input) +
             " (libmojo never copies between devices)";
  }
  // Dtypes.
  for (const auto &it : items) {
    std::string rule;
    int mask = allowed_mask(call, *it.spec, rule);
    int id = dtype_id(it.t->dtype);
    if (!(mask & (1 << id)))
      return op + ": " + arg_label(*it.spec, it.input) + " has dtype " + dtype_name(id) + ", expected " + rule;
  }
  // Shapes: int attributes are pre-bound symbols, then tensors bind in schema order.
  ShapeBindings b;
  for (const auto &a : call.attrs->values)
    if (a.type == MOJO_ATTR_INT && a.count) {
      b.syms[a.name] = a.i;
      b.origin[a.name] = std::string("attribute '") + a.name + "'";
    }
  for (const auto &it : items) {
    const std::vector<ShapePattern> &alts = it.spec->patterns;
    std::string why_all;
    bool ok = false;
    for (const auto &p : alts) {
      if (!condition_holds(call, p)) continue;
      std::string why;
      if (match_shape(p, it.t->shape, it.t->ndim, it.spec->name, b, why)) { ok = true; break; }
      why_all += (why_all.empty() ? "" : "; ") + p.text + ": " + why;
    }
    if (!ok)
      return op + ": " + arg_label(*it.spec, it.input) + " has shape " + shape_string(*it.t) + ", expected " +
             why_all;
  }
  call.dims = b.syms;
  // Op-specific rules.
  for (const auto &rule : s.rules) {
    std::string why = rule(call);
    if (!why.empty()) return op + ": " + why;
  }
  return "";
}

}  // namespace

std::string validate_call(OpCall &call, bool need_data, bool structure_known) {
  const OpSchema &s = *call.schema;
  const std::string &op = s.name;
  std::vector<Item> items;
  items.reserve(s.inputs.size() + s.outputs.size());
  for (size_t i = 0; i < s.inputs.size(); ++i)
    if (call.inputs[i]) items.push_back({&s.inputs[i], call.inputs[i], true});
  for (size_t i = 0; i < s.outputs.size(); ++i)
    if (call.outputs[i]) items.push_back({&s.outputs[i], call.outputs[i], false});
  if (!structure_known) {
    std::string why = validate_structure(call, items);
    if (!why.empty()) return why;
  }
  if (!need_data) return "";
  for (const auto &it : items)
    if (it.t->data == nullptr && element_count(*it.t) > 0)
      return op + ": " + arg_label(*it.spec, it.input) + " has null data";
  // Outputs must not alias inputs (except those declared mutated) nor each other.
  for (size_t i = 0; i < items.size(); ++i) {
    if (items[i].input) continue;
    for (size_t j = 0; j < items.size(); ++j) {
      if (i == j || (items[j].input && items[j].spec->mutated)) continue;
      if (!items[j].input && j > i) continue;
      if (overlaps(*items[i].t, *items[j].t))
        return op + ": " + arg_label(*items[i].spec, false) + " overlaps " + arg_label(*items[j].spec, items[j].input) +
               " in memory (outputs must not alias inputs)";
    }
  }
  return "";
}

mojo_device call_device(const OpCall &call) {
  for (auto *t : call.inputs)
    if (t) return t->device;
  for (auto *t : call.outputs)
    if (t) return t->device;
  return mojo_device{MOJO_DEVICE_CPU, 0};
}

std::string device_name(mojo_device d) {
  std::string type;
  switch (d.device_type) {
    case MOJO_DEVICE_CPU: type = "cpu"; break;
    case MOJO_DEVICE_CUDA: type = "cuda"; break;
    case MOJO_DEVICE_CUDA_HOST: type = "cuda_host"; break;
    case MOJO_DEVICE_ROCM: type = "rocm"; break;
    case MOJO_DEVICE_EXT: type = "ext"; break;
    case MOJO_DEVICE_CUDA_MANAGED: type = "cuda_managed"; break;
    case MOJO_DEVICE_ONEAPI: type = "oneapi"; break;
    default: type = "device" + std::to_string(d.device_type);
  }
  return type + ":" + std::to_string(d.device_id);
}

std::string shape_string(const mojo_tensor &t) {
  std::string out = "[";
  for (int32_t d = 0; d < t.ndim; ++d) out += (d ? ", " : "") + std::to_string(t.shape[d]);
  return out + "]";
}

int dtype_mask_of_spec(const OpSchema &schema, const TensorSpec &spec) {
  int mask = 0;
  for (const std::string &token : split_bars(spec.dtypes)) {
    if (!token.empty() && token[0] == '=') {
      const TensorSpec *rs = spec_by_name(schema, token.substr(1));
      if (rs && rs != &spec) mask |= dtype_mask_of_spec(schema, *rs);
    } else if (!token.empty() && token[0] == '@') {
      mask |= named_set_mask("any");
    } else {
      mask |= named_set_mask(token);
    }
  }
  return mask;
}

}  // namespace mojo::core
