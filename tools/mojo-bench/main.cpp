// mojo-bench: times ops through the public C API on a CUDA backend. Per case: warm-up, then many reps each
// preceded by an L2 flush, timed with CUDA events (median reported); plus the per-call cost of small shapes
// as back-to-back host calls and as CUDA-graph replay. Reports time, GB/s and the fraction of HBM peak, as
// text, JSON (--json FILE) and a Markdown table (--markdown FILE). tools/mojo-bench/torch_bench.py times the
// PyTorch equivalents of the same cases and merges both into one table.
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench_cases.h"
#include "mojo/mojo.h"
#include "mojo_common/dtype.h"

namespace mojo::bench {
namespace {

using nlohmann::json;

#define CUDA_OK(expr)                                                                             \
  do {                                                                                            \
    cudaError_t e_ = (expr);                                                                      \
    if (e_ != cudaSuccess) {                                                                      \
      std::fprintf(stderr, "mojo-bench: %s failed: %s\n", #expr, cudaGetErrorString(e_));         \
      return false;                                                                               \
    }                                                                                             \
  } while (0)

struct DeviceTensor {
  void *ptr = nullptr;
  std::vector<int64_t> shape;
  mojo_tensor view{};
  size_t bytes = 0;
};

bool make_tensor(const TensorSpec &spec, std::mt19937 &rng, DeviceTensor &t) {
  t.shape = spec.shape;
  int64_t n = 1;
  for (int64_t d : t.shape) n *= d;
  t.bytes = size_t(n) * size_t(common::dtype_size(spec.dtype));
  CUDA_OK(cudaMalloc(&t.ptr, std::max<size_t>(t.bytes, 16)));
  std::vector<uint8_t> host(t.bytes);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  if (!spec.data.empty()) {
    if (spec.data.size() != t.bytes) {
      std::fprintf(stderr, "mojo-bench: a tensor's data has %zu bytes, its shape needs %zu\n", spec.data.size(), t.bytes);
      return false;
    }
    host = spec.data;
  }
  for (int64_t i = 0; i < n && spec.data.empty(); ++i) {
    if (spec.dtype == MOJO_DT_INT32) reinterpret_cast<int32_t *>(host.data())[i] = int32_t(i % 7);
    else if (spec.dtype == MOJO_DT_INT64) reinterpret_cast<int64_t *>(host.data())[i] = i % 7;
    else common::store_from_float(host.data(), spec.dtype, i, spec.positive ? 0.5f + 0.5f * dist(rng) : dist(rng));
  }
  CUDA_OK(cudaMemcpy(t.ptr, host.data(), t.bytes, cudaMemcpyHostToDevice));
  t.view.data = t.ptr;
  t.view.device = {MOJO_DEVICE_CUDA, 0};
  t.view.ndim = int32_t(t.shape.size());
  t.view.dtype = common::dtype_of_id(spec.dtype);
  t.view.shape = t.shape.data();
  return true;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

// Dense bf16 tensor-core peak by device name (FLOP/s); 0 when unknown. int8 / fp8 peaks are twice these.
double tensor_peak(const std::string &name) {
  if (name.find("H100") != std::string::npos || name.find("H200") != std::string::npos)
    return name.find("PCIe") != std::string::npos ? 756e12 : 989e12;
  if (name.find("A100") != std::string::npos) return 312e12;
  return 0.0;
}

// HBM peak by device name (bytes/s); 0 when unknown.
double hbm_peak(const std::string &name) {
  if (name.find("H200") != std::string::npos) return 4.8e12;
  if (name.find("H100") != std::string::npos) return name.find("PCIe") != std::string::npos ? 2.0e12 : 3.35e12;
  if (name.find("A100") != std::string::npos) return 2.0e12;
  return 0.0;
}

struct Options {
  std::string backend = "cuda", filter, json_path, md_path;
  int reps = 50, warmup = 5;
};

bool run_case(mojo_context *ctx, const BenchCase &c, const Options &opt, void *flush, size_t flush_bytes,
              double peak, const std::string &device_name, json &out) {
  std::mt19937 rng(7);
  std::vector<DeviceTensor> ins(c.inputs.size()), outs(c.outputs.size());
  size_t bytes = 0;
  for (size_t i = 0; i < c.inputs.size(); ++i)
    if (c.inputs[i].present) {
      if (!make_tensor(c.inputs[i], rng, ins[i])) return false;
      bytes += ins[i].bytes;
    }
  for (size_t i = 0; i < c.outputs.size(); ++i)
    if (c.outputs[i].present) {
      if (!make_tensor(c.outputs[i], rng, outs[i])) return false;
      bytes += outs[i].bytes;
    }
  std::vector<const mojo_tensor *> in_ptrs, out_ptrs;
  for (size_t i = 0; i < ins.size(); ++i) in_ptrs.push_back(c.inputs[i].present ? &ins[i].view : nullptr);
  for (size_t i = 0; i < outs.size(); ++i) out_ptrs.push_back(c.outputs[i].present ? &outs[i].view : nullptr);
  std::string pin = "+" + opt.backend;
  mojo_op_desc d = tools::make_desc(c.op, c.attrs, in_ptrs, out_ptrs, pin.c_str());
  mojo_op *op = nullptr;
  if (c.bytes > 0) bytes = size_t(c.bytes);
  json row = {{"op", c.op}, {"case", c.label}, {"bytes", bytes}};
  if (mojo_status *s = mojo_op_create(ctx, &d, &op)) {
    row["error"] = mojo_status_message(s);
    mojo_status_free(s);
    out.push_back(row);
    for (auto &t : ins) cudaFree(t.ptr);
    for (auto &t : outs) cudaFree(t.ptr);
    return true;
  }
  row["backend"] = mojo_op_backend(op);
  cudaStream_t stream;
  CUDA_OK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  // Ops with a host-side schedule (paged attention) plan once into their workspace; the timed part is run.
  size_t ws_bytes = 0;
  DeviceTensor ws;
  int64_t ws_shape[1] = {0};
  mojo_status *ws_status = mojo_op_workspace_size(op, &ws_bytes);
  if (ws_status == nullptr && ws_bytes > 0) {
    CUDA_OK(cudaMalloc(&ws.ptr, ws_bytes));
    ws_shape[0] = int64_t(ws_bytes);
    ws.view.data = ws.ptr;
    ws.view.device = {MOJO_DEVICE_CUDA, 0};
    ws.view.ndim = 1;
    ws.view.dtype = common::dtype_of_id(MOJO_DT_UINT8);
    ws.view.shape = ws_shape;
  }
  mojo_status_free(ws_status);
  const mojo_tensor *wsp = ws.ptr ? &ws.view : nullptr;
  auto fail = [&](mojo_status *s) {
    row["error"] = mojo_status_message(s);
    mojo_status_free(s);
    return false;
  };
  auto run = [&]() -> bool {
    mojo_status *s = mojo_op_run(op, in_ptrs.data(), in_ptrs.size(), out_ptrs.data(), out_ptrs.size(), wsp, stream);
    return s ? fail(s) : true;
  };
  bool ok = true;
  if (mojo_status *s = mojo_op_plan(op, in_ptrs.data(), in_ptrs.size(), wsp, stream)) ok = fail(s);
  for (int i = 0; i < opt.warmup && ok; ++i) ok = run();
  cudaEvent_t start, stop;
  CUDA_OK(cudaEventCreate(&start));
  CUDA_OK(cudaEventCreate(&stop));
  std::vector<double> times;
  for (int i = 0; i < opt.reps && ok; ++i) {
    CUDA_OK(cudaMemsetAsync(flush, i & 0xff, flush_bytes, stream));  // evict the operands from L2
    CUDA_OK(cudaEventRecord(start, stream));
    ok = run();
    CUDA_OK(cudaEventRecord(stop, stream));
    CUDA_OK(cudaEventSynchronize(stop));
    float ms = 0;
    CUDA_OK(cudaEventElapsedTime(&ms, start, stop));
    times.push_back(ms * 1e3);
  }
  if (ok) {
    double us = median(times);
    row["us"] = us;
    row["gbps"] = double(bytes) / (us * 1e-6) / 1e9;
    if (c.flops > 0) {
      row["tflops"] = c.flops / (us * 1e-6) / 1e12;
      // 1-byte operands (int8 / fp8 GEMMs) run at twice the dense bf16 rate on these devices.
      const double rate = common::dtype_size(c.inputs[0].dtype) == 1 ? 2.0 : 1.0;
      if (double tp = tensor_peak(device_name) * rate; tp > 0) row["frac_peak"] = c.flops / (us * 1e-6) / tp;
    } else if (peak > 0) {
      row["frac_peak"] = double(bytes) / (us * 1e-6) / peak;
    }
    if (c.latency) {
      // Back-to-back host calls: what one mojo_op_run costs end to end when the GPU keeps up.
      const int n = 2000;
      CUDA_OK(cudaStreamSynchronize(stream));
      auto t0 = std::chrono::steady_clock::now();
      for (int i = 0; i < n && ok; ++i) ok = run();
      CUDA_OK(cudaStreamSynchronize(stream));
      auto t1 = std::chrono::steady_clock::now();
      row["us_per_call_eager"] = std::chrono::duration<double, std::micro>(t1 - t0).count() / n;
      // CUDA graph of 100 runs, replayed: the per-call cost with launch overhead amortised by the graph.
      cudaGraph_t graph;
      cudaGraphExec_t exec;
      const int per_graph = 100;
      CUDA_OK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
      for (int i = 0; i < per_graph && ok; ++i) ok = run();
      CUDA_OK(cudaStreamEndCapture(stream, &graph));
      CUDA_OK(cudaGraphInstantiate(&exec, graph, 0));
      CUDA_OK(cudaGraphLaunch(exec, stream));
      CUDA_OK(cudaStreamSynchronize(stream));
      CUDA_OK(cudaEventRecord(start, stream));
      for (int i = 0; i < 10; ++i) CUDA_OK(cudaGraphLaunch(exec, stream));
      CUDA_OK(cudaEventRecord(stop, stream));
      CUDA_OK(cudaEventSynchronize(stop));
      float ms = 0;
      CUDA_OK(cudaEventElapsedTime(&ms, start, stop));
      row["us_per_call_graph"] = ms * 1e3 / (10.0 * per_graph);
      cudaGraphExecDestroy(exec);
      cudaGraphDestroy(graph);
    }
  }
  out.push_back(row);
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  cudaStreamDestroy(stream);
  mojo_op_destroy(op);
  if (ws.ptr) cudaFree(ws.ptr);
  for (auto &t : ins) cudaFree(t.ptr);
  for (auto &t : outs) cudaFree(t.ptr);
  return true;
}

std::string fmt(const json &row, const char *key, const char *format) {
  if (!row.contains(key)) return "-";
  char buf[64];
  std::snprintf(buf, sizeof buf, format, row[key].get<double>());
  return buf;
}

}  // namespace
}  // namespace mojo::bench

int main(int argc, char **argv) {
  using namespace mojo::bench;
  Options opt;
  bool list = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "-b") opt.backend = next();
    else if (a == "-o") opt.filter = next();
    else if (a == "--json") opt.json_path = next();
    else if (a == "--markdown") opt.md_path = next();
    else if (a == "--reps") opt.reps = std::stoi(next());
    else if (a == "--list") list = true;
    else {
      std::fprintf(stderr,
                   "usage: mojo-bench [-b backend] [-o op[,op]] [--reps N] [--json FILE] [--markdown FILE] [--list]\n");
      return 2;
    }
  }
  std::vector<BenchCase> cases = bench_cases();
  auto selected = [&](const BenchCase &c) {
    return opt.filter.empty() || ("," + opt.filter + ",").find("," + c.op + ",") != std::string::npos;
  };
  if (list) {
    nlohmann::json l = nlohmann::json::array();
    for (const auto &c : cases)
      if (selected(c)) l.push_back(to_json(c));
    std::printf("%s\n", l.dump(1).c_str());
    return 0;
  }
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
    std::fprintf(stderr, "mojo-bench: no CUDA device\n");
    return 77;
  }
  cudaDeviceProp prop{};
  cudaGetDeviceProperties(&prop, 0);
  const double peak = hbm_peak(prop.name);
  mojo_context *ctx = nullptr;
  if (mojo_status *s = mojo_context_create(nullptr, &ctx)) {
    std::fprintf(stderr, "mojo-bench: %s\n", mojo_status_message(s));
    return 1;
  }
  const size_t flush_bytes = size_t(512) << 20;
  void *flush = nullptr;
  if (cudaMalloc(&flush, flush_bytes) != cudaSuccess) return 1;
  nlohmann::json rows = nlohmann::json::array();
  for (const auto &c : cases)
    if (selected(c) && !run_case(ctx, c, opt, flush, flush_bytes, peak, prop.name, rows)) return 1;
  std::printf("device: %s, HBM peak %.2f TB/s, backend %s\n", prop.name, peak / 1e12, opt.backend.c_str());
  std::printf("%-24s %-34s %10s %9s %8s %8s %10s %10s\n", "op", "case", "us", "GB/s", "TFLOP/s", "peak", "us/call",
              "us/graph");
  for (const auto &r : rows) {
    if (r.contains("error")) {
      std::printf("%-24s %-34s ERROR %s\n", r["op"].get<std::string>().c_str(), r["case"].get<std::string>().c_str(),
                  r["error"].get<std::string>().c_str());
      continue;
    }
    std::printf("%-24s %-34s %10s %9s %8s %8s %10s %10s\n", r["op"].get<std::string>().c_str(),
                r["case"].get<std::string>().c_str(), fmt(r, "us", "%.2f").c_str(), fmt(r, "gbps", "%.0f").c_str(),
                fmt(r, "tflops", "%.1f").c_str(),
                fmt(r, "frac_peak", "%.3f").c_str(), fmt(r, "us_per_call_eager", "%.2f").c_str(),
                fmt(r, "us_per_call_graph", "%.2f").c_str());
  }
  nlohmann::json doc = {{"device", prop.name}, {"hbm_peak_Bps", peak}, {"backend", opt.backend}, {"rows", rows}};
  if (!opt.json_path.empty()) {
    if (FILE *f = std::fopen(opt.json_path.c_str(), "w")) {
      std::fprintf(f, "%s\n", doc.dump(1).c_str());
      std::fclose(f);
    }
  }
  cudaFree(flush);
  mojo_context_destroy(ctx);
  return 0;
}
