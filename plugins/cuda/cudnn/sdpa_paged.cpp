// cuDNN SDPA over paged K/V caches with a ragged query (cudnn/sdpa_paged.h). The only translation unit that
// includes the cudnn-frontend headers (they take most of this file's compile time). The frontend's
// dynamic-loading shim (NV_CUDNN_FRONTEND_USE_DYNAMIC_LOADING) resolves every cuDNN call from the libcudnn
// this file dlopens, so the plugin never links libcudnn and loads without it.
#include "cudnn/sdpa_paged.h"

#include <dlfcn.h>

#include <cudnn_frontend.h>

#include <cstdlib>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "cudnn/sdpa_paged_plan.h"
#include "kernels/attention_prefill_cudnn.h"
#include "op_entry.h"

// Read by the frontend's shim for every cuDNN entry point; set once, before the first frontend call.
namespace cudnn_frontend {
void *cudnn_dlhandle = nullptr;
}

namespace mojo::cuda::cudnn_sdpa {

namespace fe = cudnn_frontend;
using common::cat;

// One cuDNN handle per device, made on first use and kept for the process (destroying it at exit could
// outlive the CUDA context). A handle serves one thread at a time: graph builds and cudnnSetStream + execute
// happen under `lock` (creates and runs may come from several threads).
struct DeviceHandle {
  std::mutex lock;
  cudnnHandle_t handle = nullptr;
};

namespace {

// cuDNN's paged caches accept a ragged query from 9.7 on.
constexpr size_t kMinVersion = 90700;

// Variant-pack uids, in the order execute() takes the pointers (ascending uid).
enum Uid : int64_t { kQ = 1, kK, kV, kO, kSeqQ, kSeqKv, kPageK, kPageV, kRaggedQ, kRaggedO, kUidCount = kRaggedO };

struct Library {
  void *handle = nullptr;
  size_t version = 0;
  std::string where;  // the file loaded
  std::string error;  // why there is none
};

// libcudnn, looked for once per process: $MOJO_CUDNN_LIBRARY alone when set (a path or a file name), else
// libcudnn.so.9 through the loader's search (LD_LIBRARY_PATH, the ldconfig cache, or one the process has
// loaded already, e.g. PyTorch's), else the nvidia-cudnn wheel's that meson found at build time.
const Library &library() {
  static const Library lib = [] {
    Library l;
    std::vector<std::string> names;
    const char *env = std::getenv("MOJO_CUDNN_LIBRARY");
    if (env && *env) {
      names.push_back(env);
    } else {
      names.push_back("libcudnn.so.9");
#ifdef MOJO_CUDNN_BUILD_LIBDIR
      names.push_back(std::string(MOJO_CUDNN_BUILD_LIBDIR) + "/libcudnn.so.9");
#endif
    }
    std::string tried;
    for (const std::string &name : names) {
      dlerror();
      void *h = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (h == nullptr) {
        const char *e = dlerror();
        tried += cat(tried.empty() ? "" : "; ", e ? e : name + ": not found");
        continue;
      }
      if (dlsym(h, "cudnnGetVersion") == nullptr || dlsym(h, "cudnnBackendExecute") == nullptr) {
        tried += cat(tried.empty() ? "" : "; ", name, ": not a cuDNN 9 library");
        dlclose(h);
        continue;
      }
      l.handle = h;
      l.where = name;
      break;
    }
    if (l.handle == nullptr) {
      l.error = cat("no libcudnn (", tried, env && *env ? ")" : "); set MOJO_CUDNN_LIBRARY to its path");
      log_message(env && *env ? MOJO_LOG_WARN : MOJO_LOG_INFO, cat("cuDNN SDPA off: ", l.error));
      return l;
    }
    fe::cudnn_dlhandle = l.handle;
    try {
      l.version = fe::detail::get_backend_version();
    } catch (const std::exception &e) {
      l.error = cat(l.where, ": ", e.what());
    }
    if (l.error.empty() && l.version < kMinVersion)
      l.error = cat(l.where, " is cuDNN ", l.version, "; paged caches with a ragged query need 9.7 or later");
    log_message(MOJO_LOG_INFO, l.error.empty() ? cat("cuDNN SDPA: ", l.where, " (cuDNN ", l.version, ")")
                                               : cat("cuDNN SDPA off: ", l.error));
    return l;
  }();
  return lib;
}

DeviceHandle *device_handle(int device, std::string *error) {
  static std::mutex &guard = *new std::mutex;
  static std::map<int, DeviceHandle *> &handles = *new std::map<int, DeviceHandle *>;
  std::lock_guard<std::mutex> g(guard);
  if (auto it = handles.find(device); it != handles.end()) return it->second;
  cudnnHandle_t h = nullptr;
  if (cudnnStatus_t s = fe::detail::create_handle(&h); s != CUDNN_STATUS_SUCCESS) {  // on the current device
    *error = cat("cudnnCreate failed: ", fe::detail::get_error_string(s));
    return nullptr;
  }
  DeviceHandle *d = new DeviceHandle;
  d->handle = h;
  handles[device] = d;
  return d;
}

std::vector<int64_t> dims(const Tensor4 &t) { return {t.dim[0], t.dim[1], t.dim[2], t.dim[3]}; }
std::vector<int64_t> strides(const Tensor4 &t) { return {t.stride[0], t.stride[1], t.stride[2], t.stride[3]}; }

fe::graph::Tensor_attributes attrs(const char *name, Uid uid, const Tensor4 &t, fe::DataType_t type) {
  return fe::graph::Tensor_attributes()
      .set_name(name)
      .set_uid(uid)
      .set_dim(dims(t))
      .set_stride(strides(t))
      .set_data_type(type);
}

}  // namespace

class PagedPrefill {
 public:
  PagedPlan plan;
  WorkspaceLayout layout;
  std::shared_ptr<fe::graph::Graph> graph;
  DeviceHandle *handle = nullptr;
};

namespace {

// The graph of plan `p` for an sm_XY device (described, not yet validated or lowered).
std::shared_ptr<fe::graph::Graph> describe(const PagedPlan &p, int sm_version) {
  auto g = std::make_shared<fe::graph::Graph>();
  const fe::DataType_t io = p.bf16 ? fe::DataType_t::BFLOAT16 : fe::DataType_t::HALF;
  const fe::DataType_t i32 = fe::DataType_t::INT32;
  g->set_io_data_type(io)
      .set_intermediate_data_type(fe::DataType_t::FLOAT)
      .set_compute_data_type(fe::DataType_t::FLOAT)
      .set_sm_version(sm_version);  // else the frontend asks a dlopen'ed cudart

  auto ragged_q = g->tensor(attrs("ragged_q", kRaggedQ, p.ragged, i32));
  auto ragged_o = g->tensor(attrs("ragged_o", kRaggedO, p.ragged, i32));
  auto q = g->tensor(attrs("q", kQ, p.q, io).set_ragged_offset(ragged_q));
  auto k = g->tensor(attrs("k_container", kK, p.k, io));
  auto v = g->tensor(attrs("v_container", kV, p.v, io));
  auto seq_q = g->tensor(attrs("seq_len_q", kSeqQ, p.seq_len, i32));
  auto seq_kv = g->tensor(attrs("seq_len_kv", kSeqKv, p.seq_len, i32));
  auto page_k = g->tensor(attrs("page_table_k", kPageK, p.page_table, i32));
  auto page_v = g->tensor(attrs("page_table_v", kPageV, p.page_table, i32));

  auto options = fe::graph::SDPA_attributes()
                     .set_name("paged_prefill")
                     .set_generate_stats(false)
                     .set_attn_scale(p.scale)
                     .set_padding_mask(true)
                     .set_seq_len_q(seq_q)
                     .set_seq_len_kv(seq_kv)
                     .set_paged_attention_k_table(page_k)
                     .set_paged_attention_v_table(page_v)
                     .set_paged_attention_max_seq_len_kv(int(p.max_kv));
  if (p.causal) options.set_diagonal_alignment(fe::DiagonalAlignment_t::BOTTOM_RIGHT).set_diagonal_band_right_bound(0);
  if (p.left_bound > 0) options.set_diagonal_band_left_bound(int(p.left_bound));
  auto outputs = g->sdpa(q, k, v, options);  // O and (not generated) Stats
  outputs[0]
      ->set_output(true)
      .set_uid(kO)
      .set_dim(dims(p.o))
      .set_stride(strides(p.o))
      .set_data_type(io)
      .set_ragged_offset(ragged_o);
  return g;
}

// Builds s.graph from s.plan: validate, lower, the heuristics' first plan that builds. "" or why it failed.
std::string build(PagedPrefill &s, int device) {
  int major = 0, minor = 0;
  if (cudaError_t e = cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device); e != cudaSuccess)
    return cuda_message(e);
  if (cudaError_t e = cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device); e != cudaSuccess)
    return cuda_message(e);
  std::shared_ptr<fe::graph::Graph> g = describe(s.plan, major * 10 + minor);
  if (auto r = g->validate(); r.is_bad()) return "validate: " + r.get_message();
  if (auto r = g->build_operation_graph(s.handle->handle); r.is_bad())
    return "build_operation_graph: " + r.get_message();
  if (auto r = g->create_execution_plans({fe::HeurMode_t::A, fe::HeurMode_t::FALLBACK}); r.is_bad())
    return "create_execution_plans: " + r.get_message();
  if (auto r = g->check_support(); r.is_bad()) return "check_support: " + r.get_message();
  if (auto r = g->build_plans(fe::BuildPlanPolicy_t::HEURISTICS_CHOICE); r.is_bad())
    return "build_plans: " + r.get_message();

  // run() hands execute() the user tensors as pointers sorted by uid: check the graph wants exactly those.
  const auto &t = g->varpack_template;
  std::vector<int64_t> user;
  for (int slot : t.user_slots) user.push_back(t.all_uids[size_t(slot)]);
  if (user != std::vector<int64_t>{kQ, kK, kV, kO, kSeqQ, kSeqKv, kPageK, kPageV, kRaggedQ, kRaggedO})
    return "the built graph does not take exactly the ten expected tensors";

  int64_t cudnn_bytes = 0;
  if (auto r = g->get_workspace_size(cudnn_bytes); r.is_bad()) return "get_workspace_size: " + r.get_message();
  s.layout = workspace_layout(s.plan, size_t(cudnn_bytes));
  s.graph = std::move(g);
  return "";
}

}  // namespace

PagedPrefill *create(const mojo_op_sig &sig, size_t *workspace_bytes) {
  *workspace_bytes = 0;
  auto decline = [&](const std::string &why) -> PagedPrefill * {
    log_message(MOJO_LOG_INFO, cat(sig.op, ": cuDNN SDPA declined (", why, "); the cuda kernel runs it"));
    return nullptr;
  };
  if (!enabled_by_env()) return decline("MOJO_CUDA_CUDNN_SDPA is not 1 (the path is opt-in)");
  auto s = std::make_unique<PagedPrefill>();
  if (std::string why = plan_paged_prefill(sig, &s->plan); !why.empty()) return decline(why);
  const Library &lib = library();
  if (!lib.error.empty()) return decline(lib.error);
  try {
    std::string err;
    s->handle = device_handle(sig.device.device_id, &err);
    if (s->handle == nullptr) return decline(err);
    std::lock_guard<std::mutex> g(s->handle->lock);  // cuDNN: one thread at a time per handle
    if (std::string why = build(*s, sig.device.device_id); !why.empty()) return decline(why);
  } catch (const std::exception &e) {
    return decline(cat("cudnn-frontend: ", e.what()));
  } catch (...) {
    return decline("cudnn-frontend threw");
  }
  const PagedPlan &p = s->plan;
  log_message(MOJO_LOG_INFO,
              cat(sig.op, ": cuDNN SDPA (cuDNN ", lib.version, ", B=", p.batch, " s_q=", p.max_q, " s_kv=", p.max_kv,
                  " Hq=", p.hq, " Hkv=", p.hkv, " D=", p.head_dim, " page=", p.page_size, p.causal ? " causal" : "",
                  p.left_bound ? cat(" left bound ", p.left_bound) : std::string(), ", workspace ", s->layout.bytes,
                  " bytes)"));
  *workspace_bytes = s->layout.bytes;
  return s.release();
}

void destroy(PagedPrefill *p) { delete p; }

bool run(const PagedPrefill &p, const PrefillArgs &a, void *workspace, size_t workspace_bytes, cudaStream_t stream,
         std::string *error) {
  if (workspace == nullptr || workspace_bytes < p.layout.bytes) return false;
  RunShape shape{};
  shape.batch = a.batch;
  shape.rows = a.q_rows;
  shape.hq = a.hq;
  shape.hkv = a.hkv;
  shape.head_dim = a.head_dim;
  shape.num_blocks = a.kv_rows;
  shape.page_size = a.pages.size;
  shape.max_blocks = a.max_blocks;
  shape.q = a.q;
  shape.out = a.out;
  shape.k = a.k;
  shape.v = a.v;
  if (!fit_run(p.plan, shape).empty()) return false;

  char *ws = static_cast<char *>(workspace);
  auto *seq_q = reinterpret_cast<int32_t *>(ws + p.layout.seq_q);
  auto *seq_kv = reinterpret_cast<int32_t *>(ws + p.layout.seq_kv);
  auto *ragged = reinterpret_cast<int32_t *>(ws + p.layout.ragged);
  auto *table = reinterpret_cast<int32_t *>(ws + p.layout.page_table);
  // The validation pass first: when it raises, the metadata pass gives cuDNN empty sequences (nothing written).
  cudaError_t e = launch_prefill_validation(a, stream);
  if (e == cudaSuccess) {
    CudnnPrefillMetadataArgs m{};
    m.cu_q = a.cu_q;
    m.cu_kv = a.cu_kv;
    m.block_table = a.block_table;
    m.error_word = a.error_word;
    m.run_batch = a.batch;
    m.run_max_blocks = a.max_blocks;
    m.num_blocks = a.kv_rows;
    m.graph_batch = p.plan.batch;
    m.graph_max_blocks = p.plan.max_blocks;
    m.row_elems = int64_t(a.hq) * a.head_dim;
    m.seq_q = seq_q;
    m.seq_kv = seq_kv;
    m.ragged = ragged;
    m.page_table = table;
    e = launch_cudnn_prefill_metadata(m, stream);
  }
  if (e != cudaSuccess) {
    *error = cuda_message(e);
    return true;
  }
  // Ascending uid: q, k, v, o, seq_len_q, seq_len_kv, page tables (K, V), ragged offsets (Q, O).
  void *ptrs[kUidCount] = {const_cast<void *>(a.q), const_cast<void *>(a.k), const_cast<void *>(a.v), a.out, seq_q,
                           seq_kv, table, table, ragged, ragged};
  std::lock_guard<std::mutex> g(p.handle->lock);
  try {
    if (cudnnStatus_t s = fe::detail::set_stream(p.handle->handle, stream); s != CUDNN_STATUS_SUCCESS) {
      *error = cat("cudnnSetStream: ", fe::detail::get_error_string(s));
      return true;
    }
    if (auto r = p.graph->execute(p.handle->handle, ptrs, kUidCount, workspace); r.is_bad())
      *error = "cuDNN SDPA: " + r.get_message();
  } catch (const std::exception &ex) {
    *error = cat("cudnn-frontend: ", ex.what());
  }
  return true;
}

}  // namespace mojo::cuda::cudnn_sdpa
