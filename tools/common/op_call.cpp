#include "op_call.h"

#include <vector>

namespace mojo::tools {

Attrs &Attrs::add(Value v) {
  for (auto &existing : values_)
    if (existing.name == v.name) {
      existing = std::move(v);
      return *this;
    }
  values_.push_back(std::move(v));
  return *this;
}

Attrs &Attrs::i(const std::string &name, int64_t v) { return add({name, MOJO_ATTR_INT, v}); }
Attrs &Attrs::f(const std::string &name, double v) { return add({name, MOJO_ATTR_FLOAT, 0, v}); }
Attrs &Attrs::b(const std::string &name, bool v) { return add({name, MOJO_ATTR_BOOL, v ? 1 : 0}); }
Attrs &Attrs::s(const std::string &name, const std::string &v) { return add({name, MOJO_ATTR_STRING, 0, 0, v}); }
Attrs &Attrs::dtype(const std::string &name, const std::string &v) { return add({name, MOJO_ATTR_DTYPE, 0, 0, v}); }
Attrs &Attrs::ints(const std::string &name, const std::vector<int64_t> &v) {
  return add({name, MOJO_ATTR_INT_ARRAY, 0, 0, "", v});
}
Attrs &Attrs::floats(const std::string &name, const std::vector<double> &v) {
  return add({name, MOJO_ATTR_FLOAT_ARRAY, 0, 0, "", {}, v});
}

const mojo_attr *Attrs::data() const {
  view_.clear();
  for (const Value &v : values_) {
    mojo_attr a{};
    a.name = v.name.c_str();
    a.type = v.type;
    a.count = 1;
    a.i = v.i;
    a.f = v.f;
    a.s = v.s.c_str();
    if (v.type == MOJO_ATTR_INT_ARRAY) {
      a.ints = v.ints.data();
      a.count = int32_t(v.ints.size());
    }
    if (v.type == MOJO_ATTR_FLOAT_ARRAY) {
      a.floats = v.floats.data();
      a.count = int32_t(v.floats.size());
    }
    view_.push_back(a);
  }
  return view_.empty() ? nullptr : view_.data();
}

std::string Attrs::describe(bool full) const {
  auto list = [full](const auto &values, const char *what) {
    if (!full && values.size() > 8) return "[" + std::to_string(values.size()) + " " + what + "]";
    std::string out = "[";
    for (size_t k = 0; k < values.size(); ++k) out += (k ? "," : "") + std::to_string(values[k]);
    return out + "]";
  };
  std::string out;
  for (const Value &v : values_) {
    out += (out.empty() ? "" : ", ") + v.name + "=";
    switch (v.type) {
      case MOJO_ATTR_INT: out += std::to_string(v.i); break;
      case MOJO_ATTR_BOOL: out += v.i ? "true" : "false"; break;
      case MOJO_ATTR_FLOAT: out += std::to_string(v.f); break;
      case MOJO_ATTR_INT_ARRAY: out += list(v.ints, "ints"); break;
      case MOJO_ATTR_FLOAT_ARRAY: out += list(v.floats, "floats"); break;
      default: out += v.s;
    }
  }
  return out;
}

mojo_op_desc make_desc(const std::string &op, const Attrs &attrs, const std::vector<const mojo_tensor *> &inputs,
                       const std::vector<const mojo_tensor *> &outputs, const char *backend_spec) {
  mojo_op_desc desc{};
  desc.struct_size = sizeof desc;
  desc.op = op.c_str();
  desc.attrs = attrs.data();
  desc.n_attrs = attrs.size();
  desc.inputs = inputs.data();
  desc.n_inputs = inputs.size();
  desc.outputs = outputs.data();
  desc.n_outputs = outputs.size();
  desc.backend_spec = backend_spec;
  return desc;
}

Status run_op(mojo_context *ctx, const std::string &op, const Attrs &attrs, const std::vector<HostTensor *> &inputs,
              const std::vector<HostTensor *> &outputs, const char *backend_spec, std::string *bound_backend) {
  std::vector<const mojo_tensor *> in, out;
  for (auto *t : inputs) in.push_back(t ? t->view() : nullptr);
  for (auto *t : outputs) out.push_back(t ? t->view() : nullptr);
  mojo_op_desc desc = make_desc(op, attrs, in, out, backend_spec);
  mojo_op *handle = nullptr;
  if (mojo_status *s = mojo_op_create(ctx, &desc, &handle)) return Status(s);
  if (bound_backend) *bound_backend = mojo_op_backend(handle);
  Status s(mojo_op_run(handle, in.data(), in.size(), out.data(), out.size(), nullptr, nullptr));
  mojo_op_destroy(handle);
  return s;
}

mojo_context *make_context(const char *backend_spec, const char *plugin_path, bool ignore_env) {
  mojo_context_options o;
  mojo_context_options_init(&o);
  o.backend_spec = backend_spec;
  o.plugin_path = plugin_path;
  if (ignore_env) o.flags |= MOJO_CONTEXT_IGNORE_ENV;
  mojo_context *ctx = nullptr;
  if (mojo_status *s = mojo_context_create(&o, &ctx)) {
    mojo_status_free(s);
    return nullptr;
  }
  return ctx;
}

}  // namespace mojo::tools
