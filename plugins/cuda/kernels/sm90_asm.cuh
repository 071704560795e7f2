// One sm_90 instruction without operands (cluster barriers, dependent-launch control), also a compiler memory
// barrier; nothing on older targets, where the launches use neither clusters nor dependent launches.
#pragma once

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
#define MOJO_SM90_ASM(instruction) asm volatile(instruction ";\n" ::: "memory")
#else
#define MOJO_SM90_ASM(instruction) ((void)0)
#endif
