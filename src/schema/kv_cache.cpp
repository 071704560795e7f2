// kv_cache ops (spec/kv_cache.md): paged stores, the store plan and whole-block format conversion.
#include "schema/schema.h"
#include "mojo_common/dtype.h"
#include "schema/validate.h"

namespace mojo::core {
namespace {

// Decode mode (cu_q_lens null): token row b belongs to sequence b, so N == B.
std::string decode_rows_rule(const OpCall &c, const char *states) {
  const mojo_tensor *bt = c.tensor("block_table"), *x = c.tensor(states);
  if (bt == nullptr || c.tensor("cu_q_lens") != nullptr) return "";
  if (x->shape[0] != bt->shape[0])
    return std::string("input '") + states + "' has " + std::to_string(x->shape[0]) +
           " rows, expected one per sequence (B = " + std::to_string(bt->shape[0]) + ") when 'cu_q_lens' is null";
  return "";
}

bool is_quant(mojo_dtype t) {
  int id = common::dtype_id(t);
  return id == MOJO_DT_INT8 || id == MOJO_DT_FP8_E4M3FN;
}

}  // namespace

void declare_kv_cache_ops(std::vector<OpSchema> &ops) {
  ops.push_back({"paged_kv_store_plan", "kv_cache",
                 "Turns (block table, lengths) into contiguous copy chunks (src_token_start, dst_block_id, "
                 "dst_block_offset, chunk_len), sequence-major then ascending block column. Prefill (cu_q_lens "
                 "given): one chunk per overlap of a sequence's new tokens [ctx, ctx+n) with a block column whose id "
                 ">= 0. Decode (cu_q_lens null): one chunk (b, block, ctx % BS, 1) per sequence with ctx >= 0 and a "
                 "valid column. Sequences with ctx = -1 or n = 0 emit nothing. The count is written to num_chunks; "
                 "rows of chunk_metadata at or beyond it are not written. INVALID_ARGUMENT for decreasing "
                 "cu_q_lens or context_kv_lens < -1.",
                 {{"block_table", "int32", "[B, MB]", false, false, "physical block ids, -1 = unused"},
                  {"cu_q_lens", "int32", "[B+1]", true, false, "query offsets; null = decode mode"},
                  {"context_kv_lens", "int32", "[B]", false, false, "tokens already cached, -1 = padding row"}},
                 {{"chunk_metadata", "int32", "[C, 4]", false, false,
                   "capacity C >= B*MB (prefill) or >= B (decode)"},
                  {"num_chunks", "int32", "[1]", false, false, "number of rows written"}},
                 {{"block_size", AttrKind::Int, "", "", "BS of the cache (> 0)"}},
                 {[](const OpCall &c) -> std::string {
                   if (c.attr_int("block_size") <= 0)
                     return "attribute 'block_size' is " + std::to_string(c.attr_int("block_size")) + ", expected > 0";
                   int64_t b = c.dims.at("B"), mb = c.dims.at("MB"), cap = c.dims.at("C");
                   int64_t need = c.tensor("cu_q_lens") ? b * mb : b;
                   if (cap < need)
                     return "output 'chunk_metadata' has " + std::to_string(cap) + " rows, expected at least " +
                            std::to_string(need) + (c.tensor("cu_q_lens") ? " (B*MB)" : " (B)");
                   return "";
                 }}});

  ops.push_back({"store_paged_kv_cache", "kv_cache",
                 "Copies new key/value rows into the paged caches (bit-exact, no dtype conversion): token t of "
                 "sequence b goes to position p = context_kv_lens[b] + t, block block_table[b, p/BS], slot p % BS. "
                 "Either the legacy arguments (block_table, cu_q_lens or null = decode, context_kv_lens) or a plan "
                 "(chunk_metadata from paged_kv_store_plan, optionally num_chunks; null = every row). Tokens whose "
                 "block column is >= MB or whose id is negative are skipped silently; ctx = -1 or n = 0 writes "
                 "nothing. INVALID_ARGUMENT for decreasing cu_q_lens, rows beyond N, or plan rows out of range.",
                 {{"key_states", "float", "[N, Hkv, D]", false, false, "new keys"},
                  {"value_states", "=key_states", "[N, Hkv, D]", false, false, "new values"},
                  {"key_cache", "=key_states", "[NB, Hkv, BS, D]", false, true, "paged key cache (mutated)"},
                  {"value_cache", "=key_states", "[NB, Hkv, BS, D]", false, true, "paged value cache (mutated)"},
                  {"block_table", "int32", "[B, MB]", true, false, "legacy path"},
                  {"cu_q_lens", "int32", "[B+1]", true, false, "legacy path; null = decode (N == B)"},
                  {"context_kv_lens", "int32", "[B]", true, false, "legacy path; -1 = padding row"},
                  {"chunk_metadata", "int32", "[C, 4]", true, false, "plan path; excludes the legacy arguments"},
                  {"num_chunks", "int32", "[1]", true, false, "plan path: rows of chunk_metadata to use"}},
                 {},
                 {},
                 {[](const OpCall &c) -> std::string {
                   bool plan = c.tensor("chunk_metadata") != nullptr;
                   bool any_legacy = c.tensor("block_table") || c.tensor("cu_q_lens") || c.tensor("context_kv_lens");
                   if (plan && any_legacy)
                     return "input 'chunk_metadata' excludes 'block_table', 'cu_q_lens' and 'context_kv_lens'";
                   if (!plan && c.tensor("num_chunks"))
                     return "input 'num_chunks' is only meaningful with 'chunk_metadata'";
                   if (!plan && (!c.tensor("block_table") || !c.tensor("context_kv_lens")))
                     return "inputs 'block_table' and 'context_kv_lens' are required without 'chunk_metadata'";
                   return decode_rows_rule(c, "key_states");
                 }}});

  ops.push_back({"store_paged_mla_kv_cache", "kv_cache",
                 "Copies new MLA latents and rotary keys into their paged caches (bit-exact): token t of sequence b "
                 "goes to position context_kv_lens[b] + t with the placement of store_paged_kv_cache (tokens "
                 "whose block is invalid are skipped, kv_cache.md §3 resolution).",
                 {{"compressed_kv_states", "bf16|fp16", "[N, R]", false, false, "new latent vectors"},
                  {"k_pe_states", "=compressed_kv_states", "[N, Dr]", false, false, "new rotary keys"},
                  {"compressed_kv_cache", "=compressed_kv_states", "[NB, 1, BS, R]", false, true,
                   "latent cache (mutated)"},
                  {"k_pe_cache", "=compressed_kv_states", "[NB, 1, BS, Dr]", false, true, "rotary key cache (mutated)"},
                  {"block_table", "int32", "[B, MB]", false, false, "shared by both caches"},
                  {"cu_q_lens", "int32", "[B+1]", true, false, "null = decode (N == B)"},
                  {"context_kv_lens", "int32", "[B]", false, false, "-1 = padding row"}},
                 {},
                 {},
                 {[](const OpCall &c) { return decode_rows_rule(c, "compressed_kv_states"); }}});

  ops.push_back({"kv_cache_cast", "kv_cache",
                 "Converts whole physical blocks of a paged cache to another storage format (every slot of each "
                 "selected block). float->float: RNE cast; float->int8: clamp(round_half_even(x/scale), -128, 127); "
                 "float->fp8: fp8(clamp(x/scale, -448, 448)); int8/fp8->float: cast(x*scale). block_ids null = all "
                 "NB source blocks (dst id = src id). INVALID_ARGUMENT for block ids out of range.",
                 {{"src_cache", "float|quant", "[NB, Hkv, BS, D]", false, false, "source cache"},
                  {"dst_cache", "float|quant", "[NB2, Hkv, BS, D]", false, true,
                   "destination cache (mutated); may alias src_cache only with equal element width"},
                  {"block_ids", "int32", "[NBsel]", true, false, "blocks to convert; null = all"},
                  {"scale", "fp32", "[Hkv, D]", true, false,
                   "dequantization scale; required iff exactly one side is quantized"}},
                 {},
                 {},
                 {[](const OpCall &c) -> std::string {
                   bool qs = is_quant(c.tensor("src_cache")->dtype), qd = is_quant(c.tensor("dst_cache")->dtype);
                   if (qs && qd) return "int8 <-> fp8 conversion needs two steps through a float cache";
                   bool need = qs != qd;
                   if (need && !c.tensor("scale"))
                     return "input 'scale' is required when exactly one cache is quantized";
                   if (!need && c.tensor("scale"))
                     return "input 'scale' is only used when exactly one cache is quantized";
                   if (!c.tensor("block_ids") && c.dims.at("NB2") < c.dims.at("NB"))
                     return "output cache 'dst_cache' has " + std::to_string(c.dims.at("NB2")) +
                            " blocks, expected >= NB = " + std::to_string(c.dims.at("NB")) +
                            " when 'block_ids' is null";
                   return "";
                 }}});
}

}  // namespace mojo::core
