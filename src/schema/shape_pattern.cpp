#include "schema/shape_pattern.h"

#include <cctype>
#include <stdexcept>

namespace mojo::core {
namespace {

std::string trim(const std::string &s) {
  size_t b = s.find_first_not_of(" \t"), e = s.find_last_not_of(" \t");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

bool is_int(const std::string &s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

// [k*]SYM[(*|/)k][(+|-)k]
DimExpr parse_dim(const std::string &raw) {
  DimExpr d;
  d.text = trim(raw);
  const std::string &s = d.text;
  if (s == "...") { d.kind = DimExpr::Ellipsis; return d; }
  if (s == "_") { d.kind = DimExpr::Any; return d; }
  if (is_int(s)) { d.kind = DimExpr::Const; d.value = std::stoll(s); return d; }
  d.kind = DimExpr::Sym;
  size_t i = 0;
  auto read_int = [&]() {
    size_t j = i;
    while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
    if (j == i) throw std::invalid_argument("bad dim expression '" + s + "'");
    int64_t v = std::stoll(s.substr(i, j - i));
    i = j;
    return v;
  };
  if (std::isdigit(static_cast<unsigned char>(s[0]))) {
    d.mul = read_int();
    if (i >= s.size() || s[i] != '*') throw std::invalid_argument("bad dim expression '" + s + "'");
    ++i;
  }
  size_t j = i;
  while (j < s.size() && (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '_')) ++j;
  if (j == i) throw std::invalid_argument("bad dim expression '" + s + "'");
  d.sym = s.substr(i, j - i);
  i = j;
  if (i < s.size() && (s[i] == '*' || s[i] == '/')) {
    char op = s[i++];
    int64_t v = read_int();
    if (op == '*') d.mul *= v; else d.div = v;
  }
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
    char op = s[i++];
    int64_t v = read_int();
    d.add = op == '+' ? v : -v;
  }
  if (i != s.size()) throw std::invalid_argument("bad dim expression '" + s + "'");
  return d;
}

ShapePattern parse_pattern(const std::string &raw) {
  ShapePattern p;
  p.text = trim(raw);
  const std::string &s = p.text;
  if (s.size() < 2 || s.front() != '[' || s.back() != ']') throw std::invalid_argument("bad shape '" + s + "'");
  std::string body = trim(s.substr(1, s.size() - 2));
  if (body.empty()) return p;  // scalar
  size_t start = 0;
  int ellipses = 0;
  while (true) {
    size_t comma = body.find(',', start);
    p.dims.push_back(parse_dim(body.substr(start, comma == std::string::npos ? std::string::npos : comma - start)));
    if (p.dims.back().kind == DimExpr::Ellipsis) ++ellipses;
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (ellipses > 1) throw std::invalid_argument("more than one '...' in '" + s + "'");
  return p;
}

void parse_condition(const std::string &cond, ShapePattern &p, bool negate) {
  size_t eq = cond.find('=');
  if (eq == std::string::npos) throw std::invalid_argument("bad condition '" + cond + "'");
  p.cond_attr = trim(cond.substr(0, eq));
  p.cond_value = trim(cond.substr(eq + 1));
  p.cond_negate = negate;
}

std::string dim_value_text(const DimExpr &d, const ShapeBindings &b) {
  auto it = b.syms.find(d.sym);
  std::string text = d.text + "=" + std::to_string(it->second * d.mul / d.div + d.add);
  auto o = b.origin.find(d.sym);
  if (o != b.origin.end() && !o->second.empty()) text += " (" + d.sym + " from " + o->second + ")";
  return text;
}

}  // namespace

std::vector<ShapePattern> parse_shape_spec(const std::string &spec) {
  auto alternatives = [](const std::string &text) {
    std::vector<ShapePattern> out;
    size_t start = 0;
    while (true) {
      size_t bar = text.find('|', start);
      out.push_back(parse_pattern(text.substr(start, bar == std::string::npos ? std::string::npos : bar - start)));
      if (bar == std::string::npos) return out;
      start = bar + 1;
    }
  };
  size_t if_pos = spec.find(" if ");
  if (if_pos == std::string::npos) return alternatives(spec);
  size_t else_pos = spec.find(" else ", if_pos);
  if (else_pos == std::string::npos) throw std::invalid_argument("'if' without 'else' in '" + spec + "'");
  std::vector<ShapePattern> out = alternatives(spec.substr(0, if_pos));
  ShapePattern cond;
  parse_condition(spec.substr(if_pos + 4, else_pos - if_pos - 4), cond, false);
  for (auto &p : out) { p.cond_attr = cond.cond_attr; p.cond_value = cond.cond_value; }
  for (auto &p : alternatives(spec.substr(else_pos + 6))) {
    p.cond_attr = cond.cond_attr;
    p.cond_value = cond.cond_value;
    p.cond_negate = true;
    out.push_back(p);
  }
  return out;
}

bool match_shape(const ShapePattern &p, const int64_t *shape, int32_t ndim, const std::string &arg,
                 ShapeBindings &b, std::string &why) {
  ShapeBindings trial = b;
  size_t fixed = 0;
  bool has_ellipsis = false;
  for (const auto &d : p.dims) {
    if (d.kind == DimExpr::Ellipsis) has_ellipsis = true; else ++fixed;
  }
  if (has_ellipsis ? size_t(ndim) < fixed : size_t(ndim) != fixed) {
    why = "rank " + std::to_string(ndim) + ", expected " + (has_ellipsis ? "at least " : "") +
          std::to_string(fixed);
    return false;
  }
  int32_t axis = 0;
  for (const auto &d : p.dims) {
    if (d.kind == DimExpr::Ellipsis) {
      int32_t len = ndim - int32_t(fixed);
      std::vector<int64_t> prefix(shape + axis, shape + axis + len);
      if (trial.ellipsis_bound && trial.ellipsis != prefix) {
        why = "leading dims do not match those of " + trial.ellipsis_origin;
        return false;
      }
      if (!trial.ellipsis_bound) {
        trial.ellipsis = prefix;
        trial.ellipsis_bound = true;
        trial.ellipsis_origin = "'" + arg + "'";
      }
      axis += len;
      continue;
    }
    int64_t got = shape[axis];
    if (d.kind == DimExpr::Const && got != d.value) {
      why = "dim " + std::to_string(axis) + " is " + std::to_string(got) + ", expected " + std::to_string(d.value);
      return false;
    }
    if (d.kind == DimExpr::Sym) {
      auto it = trial.syms.find(d.sym);
      if (it != trial.syms.end()) {
        int64_t expected = it->second * d.mul / d.div + d.add;
        if (got != expected) {
          why = "dim " + std::to_string(axis) + " is " + std::to_string(got) + ", expected " + dim_value_text(d, trial);
          return false;
        }
      } else {
        int64_t num = (got - d.add) * d.div;
        if (num < 0 || num % d.mul != 0 || (num / d.mul) * d.mul / d.div + d.add != got) {
          why = "dim " + std::to_string(axis) + " is " + std::to_string(got) + ", not of the form " + d.text;
          return false;
        }
        trial.syms[d.sym] = num / d.mul;
        trial.origin[d.sym] = "'" + arg + "' dim " + std::to_string(axis);
      }
    }
    ++axis;
  }
  b = std::move(trial);
  return true;
}

}  // namespace mojo::core
