// The cuDNN SDPA fast path of paged_prefill_gqa / paged_prefill_swa (docs/decisions/cuda_attention_prefill.md,
// "cuDNN fast path"): cuDNN's flash attention over paged K/V caches with a ragged query, for the signatures it
// computes exactly; the FA2 kernel of kernels/attention_prefill.cuh serves everything else. Built with the
// meson option cudnn_sdpa (sdpa_paged.cpp, the only file that includes the cudnn-frontend headers); without
// it sdpa_paged_off.cpp declines every signature. libcudnn is loaded at run time: a machine without it
// declines too.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <string>

#include "kernels/attention_prefill.h"
#include "mojo/mojo_plugin.h"

namespace mojo::cuda::cudnn_sdpa {

class PagedPrefill;  // one op handle's built cuDNN graph

// At create: the built graph and the workspace it needs (*workspace_bytes), or nullptr when the fast path
// declines this signature (the reason goes to the plugin's log at info level). Thread-safe.
PagedPrefill *create(const mojo_op_sig &sig, size_t *workspace_bytes);
void destroy(PagedPrefill *p);

// One run: false when the call does not fit the graph (sizes past the create-time ones, no workspace, ...),
// and then nothing was launched. Otherwise launches the metadata validation (deferred errors), the metadata
// conversion and cuDNN on `stream`, sets *error ("" or a message) and returns true. Runs of one op may
// overlap on several streams, each with its own workspace.
bool run(const PagedPrefill &p, const PrefillArgs &a, void *workspace, size_t workspace_bytes, cudaStream_t stream,
         std::string *error);

}  // namespace mojo::cuda::cudnn_sdpa
