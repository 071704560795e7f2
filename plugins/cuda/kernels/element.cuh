// One element of a tensor whose float dtype is only known at run time (weights, scales, cos/sin tables that
// may be fp32 or the activation dtype): a uniform branch, cheaper than another template axis.
#pragma once

#include "common.cuh"
#include "launch.h"

namespace mojo::cuda {

__device__ __forceinline__ float load_element(const void *p, Dt dt, int64_t i) {
  switch (dt) {
    case Dt::F16: return __half2float(static_cast<const __half *>(p)[i]);
    case Dt::BF16: return __bfloat162float(static_cast<const __nv_bfloat16 *>(p)[i]);
    default: return static_cast<const float *>(p)[i];
  }
}

}  // namespace mojo::cuda
