#include "select/backend_spec.h"

#include <algorithm>
#include <cctype>

namespace mojo::core {
namespace {

std::string strip_lower(const std::string &s) {
  std::string out;
  for (char c : s)
    if (!std::isspace(static_cast<unsigned char>(c))) out += char(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool valid_name(const std::string &n) {
  if (n.empty()) return false;
  return std::all_of(n.begin(), n.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
  });
}

std::vector<std::string> split(const std::string &s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t p = s.find(sep, start);
    out.push_back(s.substr(start, p == std::string::npos ? std::string::npos : p - start));
    if (p == std::string::npos) return out;
    start = p + 1;
  }
}

void erase_name(std::vector<std::string> &v, const std::string &n) { v.erase(std::remove(v.begin(), v.end(), n), v.end()); }
bool contains(const std::vector<std::string> &v, const std::string &n) { return std::find(v.begin(), v.end(), n) != v.end(); }

}  // namespace

std::string parse_backend_spec(const std::string &text, const std::string &source, BackendSpec &out) {
  out.terms.clear();
  std::string compact = strip_lower(text);
  if (compact.empty()) return "";
  for (const std::string &raw : split(compact, ',')) {
    if (raw.empty()) continue;
    BackendTerm term;
    std::string name = raw;
    if (name[0] == '+' || name[0] == '-') {
      term.enable = name[0] == '+';
      name = name.substr(1);
    }
    if (!valid_name(name))
      return source + ": bad term '" + raw + "' (expected [+|-]name, ALL or NONE, e.g. \"+cuda,-ttx\")";
    term.target = name;
    out.terms.push_back(term);
  }
  return "";
}

BackendResolution resolve_backend_spec(const BackendSpec &spec, const std::vector<std::string> &base,
                                       const std::vector<std::string> &available) {
  BackendResolution r;
  std::vector<std::string> base_set = base, preferred, disabled;
  for (size_t i = 0; i < spec.terms.size(); ++i) {
    const BackendTerm &t = spec.terms[i];
    bool clears = (t.target == "none" && t.enable) || (t.target == "all" && !t.enable);
    if (clears) {
      base_set.clear();
      preferred.clear();
      continue;
    }
    if (t.target == "all" || t.target == "none") {  // "+ALL" (or "-NONE"): everything back in the base set
      base_set = base;
      continue;
    }
    if (t.enable) {
      erase_name(disabled, t.target);
      erase_name(preferred, t.target);
      preferred.push_back(t.target);
      if (!contains(available, t.target) && !contains(r.requested_missing, t.target))
        r.requested_missing.push_back(t.target);
      if (contains(available, t.target)) erase_name(r.requested_missing, t.target);
    } else {
      erase_name(preferred, t.target);
      erase_name(r.requested_missing, t.target);
      if (!contains(disabled, t.target)) disabled.push_back(t.target);
      if (!contains(available, t.target) && !contains(r.disabled_unknown, t.target))
        r.disabled_unknown.push_back(t.target);
    }
  }
  for (const auto &n : preferred)
    if (contains(available, n)) r.order.push_back(n);
  for (const auto &n : base_set)
    if (!contains(disabled, n) && !contains(r.order, n)) r.order.push_back(n);
  return r;
}

std::string parse_op_backend_spec(const std::string &text, const std::string &source,
                                  std::map<std::string, BackendSpec> &out) {
  out.clear();
  for (const std::string &part : split(text, ';')) {
    if (strip_lower(part).empty()) continue;
    size_t eq = part.find('=');
    if (eq == std::string::npos)
      return source + ": bad entry '" + part + "' (expected op[,op]=spec, e.g. \"rms_norm,silu=+cuda\")";
    BackendSpec spec;
    std::string err = parse_backend_spec(part.substr(eq + 1), source, spec);
    if (!err.empty()) return err;
    for (const std::string &op : split(strip_lower(part.substr(0, eq)), ',')) {
      if (!valid_name(op)) return source + ": bad op name '" + op + "' in '" + part + "'";
      out[op] = spec;
    }
  }
  return "";
}

}  // namespace mojo::core
