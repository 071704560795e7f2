// One-shot op calls through the public C API for tools and tests: an attribute builder that owns its
// strings, and run_op(create + run + destroy) returning the library's status.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "host_tensor.h"
#include "mojo/mojo.h"

namespace mojo::tools {

// Attribute values by name. Copyable: the mojo_attr array is rebuilt from owned values by data().
class Attrs {
 public:
  Attrs &i(const std::string &name, int64_t v);
  Attrs &f(const std::string &name, double v);
  Attrs &b(const std::string &name, bool v);
  Attrs &s(const std::string &name, const std::string &v);
  Attrs &dtype(const std::string &name, const std::string &v);
  Attrs &ints(const std::string &name, const std::vector<int64_t> &v);
  Attrs &floats(const std::string &name, const std::vector<double> &v);
  const mojo_attr *data() const;
  size_t size() const { return values_.size(); }
  // "name=value, ..." for reports; arrays longer than 8 show their length only, unless `full` (an exact key:
  // two attribute sets with equal full descriptions create the same op).
  std::string describe(bool full = false) const;

 private:
  struct Value {
    std::string name;
    mojo_attr_type type;
    int64_t i = 0;
    double f = 0;
    std::string s;
    std::vector<int64_t> ints;
    std::vector<double> floats;
  };
  Attrs &add(Value v);
  std::vector<Value> values_;
  mutable std::vector<mojo_attr> view_;
};

// Frees the status on scope exit.
struct StatusDeleter {
  void operator()(mojo_status *s) const { mojo_status_free(s); }
};
using Status = std::unique_ptr<mojo_status, StatusDeleter>;

// A create descriptor that points into `op`, `attrs`, `inputs` and `outputs`: pass named objects that outlive
// the mojo_op_create / mojo_op_explain_json call, never temporaries.
mojo_op_desc make_desc(const std::string &op, const Attrs &attrs, const std::vector<const mojo_tensor *> &inputs,
                       const std::vector<const mojo_tensor *> &outputs, const char *backend_spec = nullptr);

// Tensors are passed in schema order; nullptr marks an absent optional tensor.
Status run_op(mojo_context *ctx, const std::string &op, const Attrs &attrs, const std::vector<HostTensor *> &inputs,
              const std::vector<HostTensor *> &outputs, const char *backend_spec = nullptr,
              std::string *bound_backend = nullptr);

// A context with the environment ignored (reference backend only unless backend_spec says otherwise).
mojo_context *make_context(const char *backend_spec = nullptr, const char *plugin_path = nullptr,
                           bool ignore_env = true);

}  // namespace mojo::tools
