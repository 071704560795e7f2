#include "op_call.h"

#include <vector>

namespace mojo::tools {

mojo_attr &Attrs::add(const std::string &name, mojo_attr_type type) {
  strings_.push_back(name);
  mojo_attr a{};
  a.name = strings_.back().c_str();
  a.type = type;
  a.count = 1;
  attrs_.push_back(a);
  return attrs_.back();
}

Attrs &Attrs::i(const std::string &name, int64_t v) { add(name, MOJO_ATTR_INT).i = v; return *this; }
Attrs &Attrs::f(const std::string &name, double v) { add(name, MOJO_ATTR_FLOAT).f = v; return *this; }
Attrs &Attrs::b(const std::string &name, bool v) { add(name, MOJO_ATTR_BOOL).i = v ? 1 : 0; return *this; }

Attrs &Attrs::s(const std::string &name, const std::string &v) {
  mojo_attr &a = add(name, MOJO_ATTR_STRING);
  strings_.push_back(v);
  a.s = strings_.back().c_str();
  return *this;
}

Attrs &Attrs::dtype(const std::string &name, const std::string &v) {
  s(name, v);
  attrs_.back().type = MOJO_ATTR_DTYPE;
  return *this;
}

Attrs &Attrs::ints(const std::string &name, const std::vector<int64_t> &v) {
  mojo_attr &a = add(name, MOJO_ATTR_INT_ARRAY);
  int_arrays_.push_back(v);
  a.ints = int_arrays_.back().data();
  a.count = int32_t(v.size());
  return *this;
}

Attrs &Attrs::floats(const std::string &name, const std::vector<double> &v) {
  mojo_attr &a = add(name, MOJO_ATTR_FLOAT_ARRAY);
  float_arrays_.push_back(v);
  a.floats = float_arrays_.back().data();
  a.count = int32_t(v.size());
  return *this;
}

Status run_op(mojo_context *ctx, const std::string &op, const Attrs &attrs, const std::vector<HostTensor *> &inputs,
              const std::vector<HostTensor *> &outputs, const char *backend_spec, std::string *bound_backend) {
  std::vector<const mojo_tensor *> in, out;
  for (auto *t : inputs) in.push_back(t ? t->view() : nullptr);
  for (auto *t : outputs) out.push_back(t ? t->view() : nullptr);
  mojo_op_desc desc{};
  desc.struct_size = sizeof desc;
  desc.op = op.c_str();
  desc.attrs = attrs.data();
  desc.n_attrs = attrs.size();
  desc.inputs = in.data();
  desc.n_inputs = in.size();
  desc.outputs = out.data();
  desc.n_outputs = out.size();
  desc.backend_spec = backend_spec;
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
