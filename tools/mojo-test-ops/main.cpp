// mojo-test-ops: the conformance runner (modelled on ggml's test-backend-ops). For a chosen backend it runs
// every generated case (tests/conformance) on that backend and on the cpu reference, and compares: outputs
// within the case's tolerance, guard bytes around every buffer intact, untouched padding (outputs start from
// a sentinel), non-mutated inputs unchanged, expected INVALID_ARGUMENT returned with outputs untouched.
// --self-check runs everything twice on the cpu (CI): guards, run-to-run bitwise determinism, generator
// sanity against the schema, and op coverage.
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "case.h"
#include "device_memory.h"
#include "host_tensor.h"
#include "mojo_common/dtype.h"
#include "op_call.h"

namespace {

using mojo::conformance::CaseTensor;
using mojo::conformance::Fill;
using mojo::conformance::OpCase;
using mojo::conformance::Tolerance;
using mojo::tools::DeviceMemory;
using mojo::tools::HostTensor;
using json = nlohmann::json;

constexpr uint8_t kSentinelByte = 0x7B;  // fp32 1.3e36, bf16 1.3e36, fp16 63328, e4m3 352, int 0x7B7B...

struct Options {
  std::string backend = "cpu";
  std::set<std::string> ops;
  std::string label_filter;  // -k: only cases whose label contains this text
  int repeat = 1;            // --repeat: every chosen case this many times (to catch intermittent failures)
  bool json_out = false, list = false, quick = false, self_check = false, require_coverage = false;
  bool verbose = false;
  bool graph = false;  // device backends: plan + run captured in a CUDA graph on a private stream, replayed
  bool reuse = false;  // one op handle per (op, attrs, dtypes, ranks), run at every case's sizes
  bool emit_digests = false;  // internal: the thread-count child of --self-check prints one digest per case
};

void usage(FILE *f) {
  std::fprintf(f,
               "usage: mojo-test-ops [-b BACKEND] [-o OP[,OP]] [-k TEXT] [--repeat N] [--quick] [--json] [--list]\n"
               "                     [--self-check] [--require-coverage] [--graph] [--reuse] [-v]\n"
               "  -b BACKEND          backend under test (default cpu), compared with the cpu reference\n"
               "  -o OP[,OP]          only these ops\n"
               "  -k TEXT             only the cases whose label contains TEXT\n"
               "  --repeat N          run every chosen case N times (intermittent failures)\n"
               "  --quick             the reduced case set\n"
               "  --json              results as JSON on stdout\n"
               "  --list              list the cases and exit\n"
               "  --self-check        cpu against itself twice: guards, bitwise determinism, generator sanity\n"
               "  --require-coverage  ops of the schema without any case are a failure (advisory otherwise)\n"
               "  --graph             device backends: capture plan + run in a CUDA graph on a non-default stream,\n"
               "                      replay it twice, then check and compare as usual\n"
               "  --reuse             one op handle per (op, attrs, dtypes, ranks), created by its\n"
               "                      first case and run at the sizes of every later one\n"
               "exit: 0 all OK or NOT_SUPPORTED, 1 a failure, 2 usage, 77 the backend is not loaded\n");
}

// ---- case materialisation -----------------------------------------------------------------------------

bool is_int_dtype(int dt) {
  return dt == MOJO_DT_INT32 || dt == MOJO_DT_INT64 || dt == MOJO_DT_INT8 || dt == MOJO_DT_UINT8 ||
         dt == MOJO_DT_BOOL;
}

uint32_t case_seed(const OpCase &c, size_t index) {
  uint32_t h = 2166136261u;
  for (char ch : c.op + "|" + c.label) h = (h ^ uint8_t(ch)) * 16777619u;
  return h ^ uint32_t(index * 0x9E3779B9u);
}

void fill_tensor(HostTensor &t, const Fill &f, std::mt19937 &rng) {
  switch (f.kind) {
    case Fill::Uniform:
      if (is_int_dtype(t.dtype())) {
        std::uniform_int_distribution<int64_t> d(int64_t(std::ceil(f.lo)), int64_t(std::floor(f.hi)));
        for (int64_t i = 0; i < t.numel(); ++i) t.set_int(i, d(rng));
      } else {
        t.fill_uniform(rng, float(f.lo), float(f.hi));
      }
      break;
    case Fill::Normal: t.fill_normal(rng, float(f.hi)); break;
    case Fill::Values:
      for (int64_t i = 0; i < t.numel() && size_t(i) < f.values.size(); ++i) {
        if (is_int_dtype(t.dtype())) t.set_int(i, int64_t(f.values[size_t(i)]));
        else t.set(i, float(f.values[size_t(i)]));
      }
      break;
    case Fill::Constant:
      for (int64_t i = 0; i < t.numel(); ++i) {
        if (is_int_dtype(t.dtype())) t.set_int(i, int64_t(f.constant));
        else t.set(i, float(f.constant));
      }
      break;
  }
}

struct Materialised {
  std::vector<HostTensor> inputs, outputs;  // absent slots are default HostTensors (dtype -1)
  std::vector<bool> in_present, out_present;
};

Materialised materialise(const OpCase &c, uint32_t seed) {
  Materialised m;
  std::mt19937 rng(seed);
  for (const CaseTensor &ct : c.inputs) {
    m.in_present.push_back(ct.present);
    if (!ct.present) {
      m.inputs.emplace_back();
      continue;
    }
    m.inputs.emplace_back(ct.dtype, ct.shape);
    fill_tensor(m.inputs.back(), ct.fill, rng);
  }
  for (const CaseTensor &ct : c.outputs) {
    m.out_present.push_back(ct.present);
    if (!ct.present) {
      m.outputs.emplace_back();
      continue;
    }
    m.outputs.emplace_back(ct.dtype, ct.shape);
    HostTensor &t = m.outputs.back();
    if (ct.initial_given) fill_tensor(t, ct.fill, rng);
    else if (t.bytes()) std::memset(t.data(), kSentinelByte, t.bytes());
  }
  return m;
}

// ---- running on a backend -----------------------------------------------------------------------------

// A host tensor mirrored on the backend's memory, guard bytes included.
struct Mirror {
  DeviceMemory *mem = nullptr;
  uint8_t *base = nullptr;  // guard + data + guard
  mojo_tensor view{};
  ~Mirror() {
    if (base && mem) mem->free(base);
  }
};

uint8_t *host_base(HostTensor &t) { return static_cast<uint8_t *>(t.data()) - HostTensor::kGuardBytes; }
size_t full_bytes(const HostTensor &t) { return t.bytes() + 2 * HostTensor::kGuardBytes; }

struct RunResult {
  mojo_code code = MOJO_STATUS_SUCCESS;
  std::string message, bound;
  std::string infra_error;  // memory / copy failures of the runner itself
};

// --graph: mojo_op_plan + mojo_op_run captured on a private non-blocking stream, the graph replayed twice (a
// replay must be idempotent), then the deferred-error check on that stream. Runner failures go to *infra.
mojo_status *run_in_graph(mojo_op *op, const std::vector<const mojo_tensor *> &in,
                          const std::vector<const mojo_tensor *> &out, const mojo_tensor *wsp, DeviceMemory *mem,
                          std::string *infra) {
  void *stream = mem->create_stream();
  if (!stream) {
    *infra = mem->error();
    return nullptr;
  }
  mojo_status *st = nullptr;
  if (mem->begin_capture(stream)) {
    st = mojo_op_plan(op, in.data(), in.size(), wsp, stream);
    if (!st) st = mojo_op_run(op, in.data(), in.size(), out.data(), out.size(), wsp, stream);
    void *exec = mem->end_capture(stream);  // always ends the capture, even after a failed run
    if (!st && !exec) *infra = "graph capture: " + mem->error();
    for (int replay = 0; !st && exec && infra->empty() && replay < 2; ++replay)
      if (!mem->launch_graph(exec, stream)) *infra = mem->error();
    if (!st && exec && infra->empty() && !mem->synchronize_stream(stream)) *infra = mem->error();
    if (!st && exec && infra->empty()) st = mojo_op_check(op, stream);
    mem->destroy_graph(exec);
  } else {
    *infra = mem->error();
  }
  mem->destroy_stream(stream);
  return st;
}

// --reuse: op handles shared by the cases of one (op, attrs, dtypes, ranks), created by the first of them —
// the C API lets a handle run at other sizes than its create-time signature (a decoder reuses one linear op
// for every weight), and kernels must not bake create-time sizes in.
std::map<std::string, mojo_op *> g_reused_ops;

std::string reuse_key(const OpCase &c, const std::vector<const mojo_tensor *> &in,
                      const std::vector<const mojo_tensor *> &out) {
  std::string key = c.op + "|" + c.attrs.describe(/*full=*/true);
  for (const auto *list : {&in, &out})
    for (const mojo_tensor *t : *list)
      key += t ? "|" + std::to_string(mojo::common::dtype_id(t->dtype)) + "/" + std::to_string(t->ndim) : "|-";
  return key;
}

void release_reused_ops() {
  for (auto &[key, op] : g_reused_ops) mojo_op_destroy(op);
  g_reused_ops.clear();
}

// Runs the case on `mem` (host or device) pinned to `backend`; copies every tensor back into m.
RunResult run_case(mojo_context *ctx, const OpCase &c, Materialised &m, const std::string &backend,
                   DeviceMemory *mem, bool graph = false, bool reuse = false) {
  RunResult r;
  const bool host = mem->device().device_type == MOJO_DEVICE_CPU;
  std::vector<std::unique_ptr<Mirror>> in_m, out_m;
  auto mirror = [&](HostTensor &t, bool present, std::vector<std::unique_ptr<Mirror>> &list) -> const mojo_tensor * {
    list.push_back(std::make_unique<Mirror>());
    if (!present) return nullptr;
    if (host) return t.view();
    Mirror &mi = *list.back();
    mi.mem = mem;
    mi.base = static_cast<uint8_t *>(mem->alloc(full_bytes(t)));
    if (!mi.base || !mem->to_device(mi.base, host_base(t), full_bytes(t))) {
      r.infra_error = mem->error();
      return nullptr;
    }
    mi.view = *t.view();
    mi.view.data = mi.base + HostTensor::kGuardBytes;
    mi.view.device = mem->device();
    return &mi.view;
  };
  std::vector<const mojo_tensor *> in, out;
  for (size_t i = 0; i < m.inputs.size(); ++i) in.push_back(mirror(m.inputs[i], m.in_present[i], in_m));
  for (size_t i = 0; i < m.outputs.size(); ++i) out.push_back(mirror(m.outputs[i], m.out_present[i], out_m));
  if (!r.infra_error.empty()) return r;

  const std::string spec = "NONE,+" + backend;
  mojo_op_desc desc = mojo::tools::make_desc(c.op, c.attrs, in, out, spec.c_str());
  mojo_op *op = nullptr;
  mojo::tools::Status st;
  bool owned = true;
  if (reuse && c.expect == MOJO_STATUS_SUCCESS) {
    const std::string key = reuse_key(c, in, out);
    if (auto it = g_reused_ops.find(key); it != g_reused_ops.end()) {
      op = it->second;
    } else {
      st.reset(mojo_op_create(ctx, &desc, &op));
      if (!st) g_reused_ops[key] = op;
    }
    owned = false;
  } else {
    st.reset(mojo_op_create(ctx, &desc, &op));
  }
  void *ws = nullptr;
  mojo_tensor ws_view{};
  int64_t ws_shape[1] = {0};
  if (!st) {
    r.bound = mojo_op_backend(op);
    size_t ws_bytes = 0;
    st.reset(mojo_op_workspace_size(op, &ws_bytes));
    if (!st && ws_bytes) {
      ws = mem->alloc(ws_bytes);
      if (!ws) r.infra_error = mem->error();
      ws_shape[0] = int64_t(ws_bytes);
      ws_view.data = ws;
      ws_view.device = mem->device();
      ws_view.ndim = 1;
      ws_view.dtype = mojo::common::dtype_of_id(MOJO_DT_UINT8);
      ws_view.shape = ws_shape;
    }
    const mojo_tensor *wsp = ws ? &ws_view : nullptr;
    if (graph && !host) {
      if (!st && r.infra_error.empty()) st.reset(run_in_graph(op, in, out, wsp, mem, &r.infra_error));
    } else {
      if (!st && r.infra_error.empty()) st.reset(mojo_op_plan(op, in.data(), in.size(), wsp, nullptr));
      if (!st && r.infra_error.empty())
        st.reset(mojo_op_run(op, in.data(), in.size(), out.data(), out.size(), wsp, nullptr));
      if (!mem->synchronize() && r.infra_error.empty()) r.infra_error = mem->error();
      // Device backends report bad device-resident metadata after the run (deferred errors).
      if (!st && r.infra_error.empty()) st.reset(mojo_op_check(op, nullptr));
    }
  }
  r.code = mojo_status_code(st.get());
  r.message = mojo_status_message(st.get());
  if (op && owned) mojo_op_destroy(op);
  if (ws) mem->free(ws);
  if (!host) {
    for (size_t i = 0; i < m.inputs.size(); ++i)
      if (m.in_present[i] && !mem->to_host(host_base(m.inputs[i]), in_m[i]->base, full_bytes(m.inputs[i])))
        r.infra_error = mem->error();
    for (size_t i = 0; i < m.outputs.size(); ++i)
      if (m.out_present[i] && !mem->to_host(host_base(m.outputs[i]), out_m[i]->base, full_bytes(m.outputs[i])))
        r.infra_error = mem->error();
  }
  return r;
}

// ---- comparison ---------------------------------------------------------------------------------------

// Empty when within tolerance; otherwise a short description of the worst element.
// tie_got / tie_want: the outputs named by tol.tie_output (or null).
std::string compare(const std::string &what, const HostTensor &got, const HostTensor &want, const Tolerance &tol,
                    const HostTensor *tie_got = nullptr, const HostTensor *tie_want = nullptr) {
  const int64_t n = want.numel();
  if (got.numel() != n) return what + ": element count differs";
  const int esize = mojo::common::dtype_size(want.dtype());
  const auto *gb = static_cast<const uint8_t *>(got.data());
  const auto *wb = static_cast<const uint8_t *>(want.data());
  int64_t bad = 0, worst = -1;
  double worst_excess = -1;
  for (int64_t i = 0; i < n; ++i) {
    if (std::memcmp(gb + i * esize, wb + i * esize, size_t(esize)) == 0) continue;
    bool ok = false;
    double excess = 0;
    if (!tol.exact && !is_int_dtype(want.dtype())) {
      const double a = got.get(i), b = want.get(i);
      if (std::isnan(a) && std::isnan(b)) ok = true;
      else if (std::isfinite(a) && std::isfinite(b)) {
        excess = std::fabs(a - b) - (tol.atol + tol.rtol * std::fabs(b));
        ok = excess <= 0;
      } else {
        excess = INFINITY;
      }
    } else if (!tol.exact) {
      // Integer codes (quantized values) compared with atol as a number of codes.
      excess = std::fabs(double(got.get_int(i) - want.get_int(i))) - tol.atol;
      ok = excess <= 0;
      if (!ok && tie_got && tie_want && i < tie_want->numel()) {
        const double a = tie_got->get(i), b = tie_want->get(i);
        ok = std::fabs(a - b) <= tol.tie_rtol * std::fabs(b);
      }
    } else {
      excess = INFINITY;
    }
    if (!ok) {
      ++bad;
      if (excess > worst_excess || worst < 0) {
        worst_excess = excess;
        worst = i;
      }
    }
  }
  const double pass_frac = n ? double(n - bad) / double(n) : 1.0;
  if (bad == 0 || pass_frac >= tol.ptol) return "";
  std::ostringstream os;
  os << what << ": " << bad << "/" << n << " elements out of tolerance";
  if (worst >= 0) {
    os << "; [" << worst << "] got ";
    if (is_int_dtype(want.dtype())) os << got.get_int(worst) << " want " << want.get_int(worst);
    else os << got.get(worst) << " want " << want.get(worst);
  }
  if (tol.exact) os << " (exact)";
  else os << " (atol " << tol.atol << ", rtol " << tol.rtol << ", ptol " << tol.ptol << ")";
  return os.str();
}

std::string check_guards(const Materialised &m, const OpCase &c, const char *who) {
  for (size_t i = 0; i < m.inputs.size(); ++i)
    if (m.in_present[i] && !m.inputs[i].guards_intact())
      return std::string(who) + ": guard bytes around input '" + c.inputs[i].name + "' overwritten";
  for (size_t i = 0; i < m.outputs.size(); ++i)
    if (m.out_present[i] && !m.outputs[i].guards_intact())
      return std::string(who) + ": guard bytes around output '" + c.outputs[i].name + "' overwritten";
  return "";
}

// ---- schema ---------------------------------------------------------------------------------------------

struct SchemaOp {
  std::vector<std::string> inputs, outputs;
  std::vector<bool> in_optional, out_optional;
  std::set<std::string> mutated;
};

std::map<std::string, SchemaOp> load_schema() {
  std::map<std::string, SchemaOp> out;
  const json j = json::parse(mojo_schema_json());
  for (const auto &op : j.at("ops")) {
    SchemaOp s;
    for (const auto &t : op.at("inputs")) {
      s.inputs.push_back(t.at("name").get<std::string>());
      s.in_optional.push_back(t.value("optional", false));
      if (t.value("mutated", false)) s.mutated.insert(t.at("name").get<std::string>());
    }
    for (const auto &t : op.at("outputs")) {
      s.outputs.push_back(t.at("name").get<std::string>());
      s.out_optional.push_back(t.value("optional", false));
    }
    out[op.at("name").get<std::string>()] = s;
  }
  return out;
}

// Generator sanity: the case's tensor lists follow the schema (counts and names) and its mutated list names
// mutated inputs. Empty when fine.
std::string sanity(const OpCase &c, const std::map<std::string, SchemaOp> &schema) {
  auto it = schema.find(c.op);
  if (it == schema.end()) return "generator: op '" + c.op + "' is not in the schema";
  const SchemaOp &s = it->second;
  // Trailing optional tensors may be left off (the C API treats them as absent).
  auto count_ok = [](size_t given, const std::vector<bool> &optional) {
    if (given > optional.size()) return false;
    for (size_t i = given; i < optional.size(); ++i)
      if (!optional[i]) return false;
    return true;
  };
  if (!count_ok(c.inputs.size(), s.in_optional))
    return "generator: " + std::to_string(c.inputs.size()) + " inputs, schema has " + std::to_string(s.inputs.size());
  if (!count_ok(c.outputs.size(), s.out_optional))
    return "generator: " + std::to_string(c.outputs.size()) + " outputs, schema has " +
           std::to_string(s.outputs.size());
  for (size_t i = 0; i < c.inputs.size(); ++i)
    if (c.inputs[i].name != s.inputs[i])
      return "generator: input " + std::to_string(i) + " is '" + c.inputs[i].name + "', schema says '" + s.inputs[i] + "'";
  for (size_t i = 0; i < c.outputs.size(); ++i)
    if (c.outputs[i].name != s.outputs[i])
      return "generator: output " + std::to_string(i) + " is '" + c.outputs[i].name + "', schema says '" +
             s.outputs[i] + "'";
  for (const auto &name : c.mutated)
    if (!s.mutated.count(name)) return "generator: '" + name + "' listed as mutated but the schema does not mutate it";
  return "";
}

// ---- one case -------------------------------------------------------------------------------------------

struct Outcome {
  std::string status;  // OK, FAIL, NOT_SUPPORTED
  std::string reason;
  std::string bound;
  double ms = 0;
  uint64_t digest = 0;  // FNV-1a over the outputs and mutated inputs of the run under test
};

uint64_t fnv(uint64_t h, const void *p, size_t n) {
  const auto *b = static_cast<const uint8_t *>(p);
  for (size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 1099511628211ull;
  return h;
}

Outcome fail(const std::string &why) { return {"FAIL", why, "", 0}; }

Outcome run_one(mojo_context *ctx, const OpCase &c, size_t index, const Options &opt, DeviceMemory *test_mem,
                DeviceMemory *host_mem, const std::map<std::string, SchemaOp> &schema) {
  if (std::string why = sanity(c, schema); !why.empty()) return fail(why);
  const uint32_t seed = case_seed(c, index);
  const Materialised pristine = materialise(c, seed);
  Materialised test = pristine, ref = pristine;
  const std::string test_name = opt.self_check ? "cpu" : opt.backend;
  auto t0 = std::chrono::steady_clock::now();
  RunResult rt = run_case(ctx, c, test, test_name, test_mem, opt.graph, opt.reuse);
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  if (!rt.infra_error.empty()) return fail("runner: " + rt.infra_error);
  RunResult rr = run_case(ctx, c, ref, "cpu", host_mem);
  if (!rr.infra_error.empty()) return fail("runner: " + rr.infra_error);
  Outcome o{"OK", "", rt.bound, ms, 14695981039346656037ull};
  for (size_t i = 0; i < test.outputs.size(); ++i)
    if (c.outputs[i].present) o.digest = fnv(o.digest, test.outputs[i].data(), test.outputs[i].bytes());
  for (size_t i = 0; i < test.inputs.size(); ++i)
    if (c.inputs[i].present) o.digest = fnv(o.digest, test.inputs[i].data(), test.inputs[i].bytes());
  auto mutated = [&](const std::string &n) {
    for (const auto &x : c.mutated)
      if (x == n) return true;
    return false;
  };
  // Non-mutated inputs unchanged, guards intact (both runs).
  for (const auto *run : {&test, &ref}) {
    const char *who = run == &test ? test_name.c_str() : "cpu";
    if (std::string g = check_guards(*run, c, who); !g.empty()) return fail(g);
    for (size_t i = 0; i < c.inputs.size(); ++i)
      if (c.inputs[i].present && !mutated(c.inputs[i].name) && !run->inputs[i].same_bytes(pristine.inputs[i]))
        return fail(std::string(who) + ": input '" + c.inputs[i].name + "' was modified (not a mutated input)");
  }

  if (c.expect != MOJO_STATUS_SUCCESS) {
    for (const auto &[run, res, who] :
         {std::tuple{&test, &rt, test_name.c_str()}, std::tuple{&ref, &rr, "cpu"}}) {
      if (res->code == MOJO_STATUS_UNSUPPORTED && run == &test)
        return {"NOT_SUPPORTED", res->message, "", ms};
      if (res->code != c.expect)
        return fail(std::string(who) + ": expected " + mojo_code_name(c.expect) + ", got " + mojo_code_name(res->code) +
                    (res->message.empty() ? "" : " (" + res->message + ")"));
      for (size_t i = 0; i < c.outputs.size(); ++i)
        if (c.outputs[i].present && !run->outputs[i].same_bytes(pristine.outputs[i]))
          return fail(std::string(who) + ": output '" + c.outputs[i].name + "' written on the error path");
      for (size_t i = 0; i < c.inputs.size(); ++i)
        if (c.inputs[i].present && !run->inputs[i].same_bytes(pristine.inputs[i]))
          return fail(std::string(who) + ": input '" + c.inputs[i].name + "' written on the error path");
    }
    o.reason = std::string("returned ") + mojo_code_name(c.expect);
    return o;
  }
  if (rr.code == MOJO_STATUS_UNSUPPORTED) return {"NOT_SUPPORTED", "cpu reference: " + rr.message, "", ms};
  if (rt.code == MOJO_STATUS_UNSUPPORTED) return {"NOT_SUPPORTED", rt.message, "", ms};
  if (rr.code != MOJO_STATUS_SUCCESS)
    return fail(std::string("cpu reference returned ") + mojo_code_name(rr.code) + ": " + rr.message);
  if (rt.code != MOJO_STATUS_SUCCESS)
    return fail(test_name + " returned " + mojo_code_name(rt.code) + ": " + rt.message);

  // Self-check: bitwise equality between the two cpu runs; otherwise the case's tolerances.
  for (size_t i = 0; i < c.outputs.size(); ++i) {
    if (!c.outputs[i].present) continue;
    Tolerance tol = c.tolerances.empty() ? Tolerance::bitwise()
                    : i < c.tolerances.size() ? c.tolerances[i] : c.tolerances[0];
    if (opt.self_check) tol = Tolerance::bitwise();
    const bool tie = tol.tie_output >= 0 && size_t(tol.tie_output) < c.outputs.size() && c.outputs[tol.tie_output].present;
    const HostTensor *tie_got = tie ? &test.outputs[tol.tie_output] : nullptr;
    const HostTensor *tie_want = tie ? &ref.outputs[tol.tie_output] : nullptr;
    if (std::string d = compare("output '" + c.outputs[i].name + "'", test.outputs[i], ref.outputs[i], tol, tie_got, tie_want);
        !d.empty())
      return fail(opt.self_check ? "nondeterministic: " + d : d);
  }
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    if (!c.inputs[i].present || !mutated(c.inputs[i].name)) continue;
    Tolerance tol = opt.self_check ? Tolerance::bitwise() : c.mutated_tolerance;
    if (std::string d = compare("mutated '" + c.inputs[i].name + "'", test.inputs[i], ref.inputs[i], tol); !d.empty())
      return fail(opt.self_check ? "nondeterministic: " + d : d);
  }
  return o;
}

std::vector<std::string> split(const std::string &s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char ch : s) {
    if (ch == sep) {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur += ch;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

}  // namespace

int main(int argc, char **argv) {
  Options opt;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "mojo-test-ops: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "-b" || a == "--backend") opt.backend = next();
    else if (a == "-o" || a == "--op") {
      for (const auto &o : split(next(), ',')) opt.ops.insert(o);
    } else if (a == "-k") opt.label_filter = next();
    else if (a == "--repeat") {
      opt.repeat = std::atoi(next().c_str());
      if (opt.repeat < 1) {
        std::fprintf(stderr, "mojo-test-ops: --repeat needs a count of at least 1\n");
        return 2;
      }
    } else if (a == "--json") opt.json_out = true;
    else if (a == "--list") opt.list = true;
    else if (a == "--quick") opt.quick = true;
    else if (a == "--self-check") opt.self_check = true;
    else if (a == "--require-coverage") opt.require_coverage = true;
    else if (a == "--graph") opt.graph = true;
    else if (a == "--reuse") opt.reuse = true;
    else if (a == "-v" || a == "--verbose") opt.verbose = true;
    else if (a == "--emit-digests") opt.emit_digests = true;
    else if (a == "-h" || a == "--help") {
      usage(stdout);
      return 0;
    } else {
      std::fprintf(stderr, "mojo-test-ops: unknown argument '%s'\n", a.c_str());
      usage(stderr);
      return 2;
    }
  }
  if (opt.self_check) opt.backend = "cpu";
  const auto schema = load_schema();
  for (const auto &o : opt.ops)
    if (!schema.count(o)) {
      std::fprintf(stderr, "mojo-test-ops: -o %s: no such op in the schema (mojo-info --ops lists them)\n", o.c_str());
      return 2;
    }

  mojo::conformance::CaseOptions copt;
  copt.quick = opt.quick;
  const mojo::conformance::CaseList all = mojo::conformance::all_cases(copt);
  std::vector<size_t> chosen;
  for (size_t i = 0; i < all.size(); ++i)
    if ((opt.ops.empty() || opt.ops.count(all[i].op)) &&
        (opt.label_filter.empty() || all[i].label.find(opt.label_filter) != std::string::npos))
      for (int r = 0; r < opt.repeat; ++r) chosen.push_back(i);
  if (chosen.empty() && !opt.label_filter.empty()) {  // a filter that selects nothing must not pass vacuously
    std::fprintf(stderr, "mojo-test-ops: -k '%s': no case label contains it (--list shows the labels)\n",
                 opt.label_filter.c_str());
    return 2;
  }

  if (opt.list) {
    for (size_t i : chosen)
      std::printf("%-32s %-60s %s%s\n", all[i].op.c_str(), all[i].label.c_str(), all[i].attrs.describe().c_str(),
                  all[i].expect != MOJO_STATUS_SUCCESS ? "  [expect INVALID_ARGUMENT]" : "");
    std::printf("%zu cases\n", chosen.size());
    return 0;
  }

  // The environment's plugin path is honoured; the backend order is ours (each op is pinned anyway).
  mojo_context_options co;
  mojo_context_options_init(&co);
  co.backend_spec = "+ALL";
  mojo_context *ctx = nullptr;
  if (mojo_status *s = mojo_context_create(&co, &ctx)) {
    std::fprintf(stderr, "mojo-test-ops: context: %s\n", mojo_status_message(s));
    mojo_status_free(s);
    return 1;
  }
  // Find the backend under test and its device.
  bool found = false;
  mojo_device dev{MOJO_DEVICE_CPU, 0};
  for (size_t b = 0; b < mojo_backend_count(ctx); ++b) {
    mojo_backend_info info{};
    info.struct_size = sizeof info;
    if (mojo_status *s = mojo_backend_get(ctx, b, &info)) {
      mojo_status_free(s);
      continue;
    }
    if (opt.backend != info.name) continue;
    if (info.probe_score <= 0 || info.n_devices <= 0) break;
    mojo_device_info di{};
    di.struct_size = sizeof di;
    if (mojo_status *s = mojo_device_get(ctx, b, 0, &di)) {
      mojo_status_free(s);
      break;
    }
    dev = di.device;
    found = true;
  }
  if (!found) {
    std::fprintf(stderr, "mojo-test-ops: backend '%s' is not loaded or has no usable device (skipped)\n",
                 opt.backend.c_str());
    mojo_context_destroy(ctx);
    return 77;
  }
  std::string why;
  std::unique_ptr<DeviceMemory> test_mem = mojo::tools::make_memory_for(dev, &why);
  std::unique_ptr<DeviceMemory> host_mem = mojo::tools::make_host_memory();
  if (!test_mem) {
    std::fprintf(stderr, "mojo-test-ops: memory for backend '%s': %s\n", opt.backend.c_str(), why.c_str());
    mojo_context_destroy(ctx);
    return 1;
  }
  // Self-check: the same cases in a child process with MOJO_CPU_THREADS=1 must give bitwise the same results.
  std::map<size_t, uint64_t> child_digests;
  bool have_child = false;
  if (opt.self_check && !opt.emit_digests) {
    char exe[4096] = {0};
    const ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    std::string cmd = "MOJO_CPU_THREADS=1 '" + std::string(exe, n > 0 ? size_t(n) : 0) + "' --self-check --emit-digests";
    if (opt.quick) cmd += " --quick";
    if (!opt.ops.empty()) {
      std::string list;
      for (const auto &o : opt.ops) list += (list.empty() ? "" : ",") + o;
      cmd += " -o '" + list + "'";
    }
    if (FILE *p = popen(cmd.c_str(), "r")) {
      unsigned long long idx = 0, dig = 0;
      while (std::fscanf(p, "%llu %llx", &idx, &dig) == 2) child_digests[size_t(idx)] = uint64_t(dig);
      have_child = pclose(p) != -1 && !child_digests.empty();
    }
    if (!have_child) std::fprintf(stderr, "note: the MOJO_CPU_THREADS=1 comparison run did not produce results\n");
    else if (!opt.json_out)
      std::printf("self-check: results compared with a MOJO_CPU_THREADS=1 run (%zu cases)\n", child_digests.size());
  }

  json results = json::array();
  size_t n_ok = 0, n_fail = 0, n_unsup = 0;
  std::map<std::string, size_t> per_op_cases;
  for (size_t i : chosen) {
    const OpCase &c = all[i];
    ++per_op_cases[c.op];
    Outcome o = run_one(ctx, c, i, opt, test_mem.get(), host_mem.get(), schema);
    if (opt.emit_digests) {
      if (o.status == "OK") std::printf("%zu %llx\n", i, static_cast<unsigned long long>(o.digest));
      continue;
    }
    if (have_child && o.status == "OK") {
      auto it = child_digests.find(i);
      if (it == child_digests.end()) o = fail("the MOJO_CPU_THREADS=1 run did not pass this case");
      else if (it->second != o.digest) o = fail("thread-count dependent: results differ with MOJO_CPU_THREADS=1");
    }
    if (o.status == "OK") ++n_ok;
    else if (o.status == "FAIL") ++n_fail;
    else ++n_unsup;
    if (opt.json_out) {
      results.push_back({{"op", c.op}, {"label", c.label}, {"attrs", c.attrs.describe()}, {"status", o.status},
                         {"reason", o.reason}, {"backend", o.bound}, {"ms", o.ms}});
    } else if (o.status != "OK" || opt.verbose) {
      std::printf("  %-28s %-56s %s%s%s\n", c.op.c_str(), c.label.c_str(), o.status.c_str(),
                  o.reason.empty() ? "" : "(", o.reason.empty() ? "" : (o.reason + ")").c_str());
    } else {
      std::printf("  %-28s %-56s OK\n", c.op.c_str(), c.label.c_str());
    }
    std::fflush(stdout);
  }

  // Coverage: schema ops with no case at all (only meaningful without -o).
  std::vector<std::string> uncovered;
  if (opt.ops.empty())
    for (const auto &[name, s] : schema) {
      (void)s;
      if (!per_op_cases.count(name)) uncovered.push_back(name);
    }
  const bool coverage_fails = opt.require_coverage && !uncovered.empty();

  if (opt.emit_digests) {
    mojo_context_destroy(ctx);
    return 0;
  }
  if (opt.json_out) {
    json out = {{"backend", opt.backend}, {"self_check", opt.self_check}, {"quick", opt.quick},
                {"ok", n_ok}, {"fail", n_fail}, {"not_supported", n_unsup}, {"cases", results},
                {"ops_without_cases", uncovered}};
    std::printf("%s\n", out.dump(2).c_str());
  } else {
    std::printf("%s: %zu cases: %zu OK, %zu FAIL, %zu NOT_SUPPORTED\n", opt.backend.c_str(), chosen.size(), n_ok,
                n_fail, n_unsup);
    if (!uncovered.empty()) {
      std::printf("%s: %zu ops without cases:", coverage_fails ? "FAIL" : "note", uncovered.size());
      for (const auto &u : uncovered) std::printf(" %s", u.c_str());
      std::printf("\n");
    }
  }
  release_reused_ops();
  mojo_context_destroy(ctx);
  return (n_fail || coverage_fails) ? 1 : 0;
}
