// The ttx plugin's embedded kernels: one row per (kernel, arch, specialisation), made at build time by
// aot/generate.py from aot/specs.py. Holds everything a launch needs besides the arguments.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mojo::ttx {

enum GridRule : int32_t {
  kGridRows = 0,    // one program per row: grid = (rows, 1, 1)
  kGridBlocks = 1,  // one program per grid_block elements: grid = (ceil(n / grid_block), 1, 1)
  kGridCustom = 2,  // the op gives the grid (launch_grid)
};

struct ManifestRow {
  const char *kernel;     // the Triton function name
  int32_t arch;           // sm number the cubin is for (80, 90)
  const char *key;        // the specialisation, e.g. "dtype=bf16 block=4096 tile=one aligned=1"
  const char *symbol;     // the cubin's entry point
  int32_t grid_rule;      // GridRule
  int32_t grid_block;
  int32_t num_warps;      // block = 32 * num_warps threads
  int32_t shared_bytes;   // dynamic shared memory the launch must give
  const char *params;     // one letter per parameter: p pointer, i int32, l int64, f float (scratch pointers last)
  const char *cubin;
  size_t cubin_size;
};

const ManifestRow *manifest_rows(size_t *count);
const char *manifest_triton_version();

}  // namespace mojo::ttx
