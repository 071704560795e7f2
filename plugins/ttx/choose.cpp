#include "choose.h"

#include <cstring>

namespace mojo::ttx {

int norm_tile_for(int64_t cols) {
  for (int t = 0; t < kNormTileCount; ++t)
    if (kNormTiles[t].one_tile && cols <= kNormTiles[t].block) return t;
  for (int t = 0; t < kNormTileCount; ++t)
    if (!kNormTiles[t].one_tile) return t;
  return kNormTileCount - 1;
}

std::string norm_key(const char *dtype, int tile, bool aligned) {
  const NormTile &t = kNormTiles[tile];
  return std::string("dtype=") + dtype + " block=" + std::to_string(t.block) + " tile=" + (t.one_tile ? "one" : "loop") +
         " aligned=" + (aligned ? "1" : "0");
}

std::vector<std::string> row_keys(const char *dtype) {
  std::vector<std::string> keys;
  for (int t = 0; t < kNormTileCount; ++t)
    for (bool aligned : {false, true}) keys.push_back(norm_key(dtype, t, aligned));
  return keys;
}

std::string activation_key(const char *dtype, bool aligned) {
  return std::string("dtype=") + dtype + " block=" + std::to_string(kActivationBlock) + " aligned=" + (aligned ? "1" : "0");
}

int rope_half_for(int64_t rope_dim) {
  for (int h = 0; h < kRopeHalfCount; ++h)
    if (rope_dim / 2 <= kRopeHalves[h]) return h;
  return -1;
}

std::string rope_key(const char *dtype, int half_index) {
  return std::string("dtype=") + dtype + " half=" + std::to_string(kRopeHalves[half_index]);
}

int arch_for(int major, int minor, std::string *why) {
  if (major == 9 && minor == 0) return 90;
  if (major == 8) return 80;
  *why = "no ttx cubin for sm_" + std::to_string(major) + std::to_string(minor) + " (built for sm_80 and sm_90)";
  return 0;
}

const ManifestRow *find_row(const char *kernel, int arch, const std::string &key) {
  size_t n = 0;
  const ManifestRow *rows = manifest_rows(&n);
  for (size_t i = 0; i < n; ++i)
    if (rows[i].arch == arch && std::strcmp(rows[i].kernel, kernel) == 0 && key == rows[i].key) return &rows[i];
  return nullptr;
}

}  // namespace mojo::ttx
