// The cuDNN SDPA fast path when the plugin is built without it (meson option cudnn_sdpa off or the
// cudnn-frontend headers / cudnn.h not found): every signature runs on the cuda kernel.
#include "cudnn/sdpa_paged.h"

namespace mojo::cuda::cudnn_sdpa {

PagedPrefill *create(const mojo_op_sig &, size_t *workspace_bytes) {
  *workspace_bytes = 0;
  return nullptr;
}

void destroy(PagedPrefill *) {}

bool run(const PagedPrefill &, const PrefillArgs &, void *, size_t, cudaStream_t, std::string *) { return false; }

}  // namespace mojo::cuda::cudnn_sdpa
