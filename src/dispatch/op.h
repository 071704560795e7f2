// An op bound to one backend kernel: created from a validated signature, immutable afterwards.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "dispatch/context.h"
#include "schema/validate.h"

struct mojo_op {
  const mojo::core::OpSchema *schema = nullptr;
  mojo::core::NormalizedAttrs attrs;
  mojo::core::Backend *backend = nullptr;
  mojo_kernel *kernel = nullptr;
  size_t workspace_bytes = 0;
  uint32_t flags = 0;
  mojo_device device{};
  // Create-time signature per tensor slot (inputs then outputs): dtype id and rank, -1 = absent.
  std::vector<int> dtypes, ranks;
  std::unique_ptr<std::mutex> serial;  // for MOJO_KERNEL_NOT_REENTRANT kernels
  // Layout of the last run that passed the structural checks; a run with the same layout only gets the
  // data checks (the per-call fast path of a decode loop).
  mutable std::mutex validated_mutex;
  mutable std::vector<int64_t> validated_layout;
};

namespace mojo::core {

struct Verdict {
  std::string backend;
  bool eligible = false;  // has a device for the tensors and the op in its kernel table
  bool accept = false;
  std::string reason;
};

// Validates and binds (explain_only: collect every verdict without creating a kernel).
mojo_status *create_op(mojo_context *ctx, const mojo_op_desc *desc, mojo_op **out, bool explain_only,
                       std::vector<Verdict> *verdicts);
mojo_status *run_op(const mojo_op *op, const mojo_tensor *const *inputs, size_t n_inputs,
                    const mojo_tensor *const *outputs, size_t n_outputs, const mojo_tensor *workspace, void *stream,
                    bool plan);

}  // namespace mojo::core
