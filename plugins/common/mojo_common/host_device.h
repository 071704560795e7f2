// MOJO_HOST_DEVICE marks the header-only helpers that the cpu reference and the device kernels share
// (philox.h, sampling_math.h): __host__ __device__ under nvcc/hipcc, nothing for a host compiler.
#pragma once

#ifndef MOJO_HOST_DEVICE
#if defined(__CUDACC__) || defined(__HIPCC__)
#define MOJO_HOST_DEVICE __host__ __device__
#else
#define MOJO_HOST_DEVICE
#endif
#endif
