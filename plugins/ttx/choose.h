// Which embedded specialisation serves a call: the tile for a row length, the alignment class, the arch of
// a device. Pure functions over aot/specs.py's lists (mirrored here; tests/ttx checks every key they can
// produce is in the manifest for every arch), so they are tested without a GPU.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "manifest.h"

namespace mojo::ttx {

struct NormTile {
  int32_t block;
  bool one_tile;  // the whole row in one tile (registers); otherwise a loop over tiles of `block`
};
constexpr NormTile kNormTiles[] = {{256, true},  {512, true},  {1024, true}, {2048, true},
                                   {4096, true}, {8192, true}, {4096, false}};
constexpr int kNormTileCount = sizeof kNormTiles / sizeof kNormTiles[0];
constexpr int32_t kActivationBlock = 4096;
constexpr int32_t kRopeHalves[] = {32, 64, 128};  // tiles over the Dr / 2 rotation pairs
constexpr int kRopeHalfCount = sizeof kRopeHalves / sizeof kRopeHalves[0];
constexpr const char *kDtypeNames[] = {"bf16", "fp16", "fp32"};

// The smallest single tile holding `cols`, else the looping tile.
int norm_tile_for(int64_t cols);
std::string norm_key(const char *dtype, int tile, bool aligned);
std::string activation_key(const char *dtype, bool aligned);

// The smallest rope tile holding rope_dim / 2 pairs, -1 when rope_dim is wider than every tile.
int rope_half_for(int64_t rope_dim);
std::string rope_key(const char *dtype, int half_index);

// Row kernels (norms, dynamic_quant) load every tile in both alignment classes at create, in this order,
// and index it at run with row_variant.
std::vector<std::string> row_keys(const char *dtype);
inline int row_variant(int64_t cols, bool aligned) { return 2 * norm_tile_for(cols) + (aligned ? 1 : 0); }

// The cubin arch serving a device of compute capability major.minor: 90 for sm_90, 80 for sm_8x (an sm_80
// cubin runs on later minors of the same major); 0 with *why set when none does.
int arch_for(int major, int minor, std::string *why);

// The manifest row for (kernel, arch, key), nullptr when absent.
const ManifestRow *find_row(const char *kernel, int arch, const std::string &key);

// 16-byte alignment of a device address (what the aligned specialisations assume).
inline bool aligned16(const void *p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

}  // namespace mojo::ttx
