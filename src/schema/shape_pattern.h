// Shape patterns of the schema: "[..., D]", "[B+1]", "[T, 2*N]", alternatives "A | B" and conditionals
// "A if attr=value else B". Symbols bind on first sight and must agree afterwards; "..." binds a shared
// prefix of any length.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace mojo::core {

struct DimExpr {
  enum Kind { Any, Const, Sym, Ellipsis } kind = Any;
  std::string sym;
  int64_t mul = 1, div = 1, add = 0, value = 0;  // value of Const; Sym means sym*mul/div + add
  std::string text;
};

struct ShapePattern {
  std::vector<DimExpr> dims;
  std::string text;
  std::string cond_attr, cond_value;  // alternative applies only if attr (==|!=) value
  bool cond_negate = false;
};

struct ShapeBindings {
  std::map<std::string, int64_t> syms;
  std::map<std::string, std::string> origin;  // where each symbol was bound, for messages
  std::vector<int64_t> ellipsis;
  bool ellipsis_bound = false;
  std::string ellipsis_origin;
};

// Parses a shape spec into its alternatives; throws std::invalid_argument on a malformed spec (a schema bug).
std::vector<ShapePattern> parse_shape_spec(const std::string &spec);

// Matches shape against one pattern, extending bindings on success. On failure returns false, leaves
// bindings unchanged and sets why (e.g. "dim 1 is 4095, expected D=4096 (from 'x' dim 1)").
bool match_shape(const ShapePattern &p, const int64_t *shape, int32_t ndim, const std::string &arg,
                 ShapeBindings &b, std::string &why);

}  // namespace mojo::core
