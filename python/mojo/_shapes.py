"""The schema's shape-pattern language (same grammar as src/schema/shape_pattern.cpp), used to derive output
shapes from input shapes and attributes: "[..., D]", "[B+1]", "[T, 2*N]", "[N/2]", "_", alternatives
"A | B" and conditionals "A if attr=value else B"."""
from __future__ import annotations

import re

_DIM = re.compile(r"^(?:(\d+)\*)?([A-Za-z_][A-Za-z0-9_]*)(?:([*/])(\d+))?(?:([+-])(\d+))?$")


class Dim:
    __slots__ = ("kind", "sym", "mul", "div", "add", "value", "text")

    def __init__(self, text):
        self.text = text = text.strip()
        self.sym, self.mul, self.div, self.add, self.value = None, 1, 1, 0, 0
        if text == "...":
            self.kind = "ellipsis"
        elif text == "_":
            self.kind = "any"
        elif text.isdigit():
            self.kind, self.value = "const", int(text)
        else:
            m = _DIM.match(text)
            if not m:
                raise ValueError(f"bad dim expression '{text}'")
            self.kind, self.sym = "sym", m.group(2)
            if m.group(1):
                self.mul = int(m.group(1))
            if m.group(3):
                if m.group(3) == "*":
                    self.mul *= int(m.group(4))
                else:
                    self.div = int(m.group(4))
            if m.group(5):
                self.add = int(m.group(6)) * (1 if m.group(5) == "+" else -1)

    def value_of(self, sym_value):
        return sym_value * self.mul // self.div + self.add


class Pattern:
    __slots__ = ("dims", "text", "cond_attr", "cond_value", "cond_negate", "index")

    def __init__(self, text, index):
        self.text = text = text.strip()
        self.index = index
        self.cond_attr, self.cond_value, self.cond_negate = None, None, False
        if not (text.startswith("[") and text.endswith("]")):
            raise ValueError(f"bad shape '{text}'")
        body = text[1:-1].strip()
        self.dims = [Dim(d) for d in body.split(",")] if body else []

    def condition_holds(self, attrs):
        if not self.cond_attr:
            return True
        v = attrs.get(self.cond_attr)
        if isinstance(v, bool):
            v = "true" if v else "false"
        elif v is None:
            v = ""
        return (str(v) == self.cond_value) != self.cond_negate


def parse_spec(spec):
    """List of alternatives (Pattern), conditions attached."""
    def alts(text, start):
        return [Pattern(t, start + i) for i, t in enumerate(text.split("|"))]
    if " if " not in spec:
        return alts(spec, 0)
    i = spec.index(" if ")
    j = spec.index(" else ", i)
    attr, _, value = spec[i + 4:j].partition("=")
    out = alts(spec[:i], 0)
    for p in out:
        p.cond_attr, p.cond_value = attr.strip(), value.strip()
    rest = alts(spec[j + 6:], len(out))
    for p in rest:
        p.cond_attr, p.cond_value, p.cond_negate = attr.strip(), value.strip(), True
    return out + rest


class Bindings:
    __slots__ = ("syms", "ellipsis")

    def __init__(self):
        self.syms = {}
        self.ellipsis = None

    def copy(self):
        b = Bindings()
        b.syms = dict(self.syms)
        b.ellipsis = self.ellipsis
        return b


def match(p, dims, b):
    """Matches a concrete shape against a pattern, extending b; returns the new Bindings or None."""
    fixed = sum(1 for d in p.dims if d.kind != "ellipsis")
    has_ell = len(p.dims) != fixed
    n = len(dims)
    if (n < fixed) if has_ell else (n != fixed):
        return None
    t = b.copy()
    axis = 0
    for d in p.dims:
        if d.kind == "ellipsis":
            ln = n - fixed
            prefix = tuple(dims[axis:axis + ln])
            if t.ellipsis is not None and t.ellipsis != prefix:
                return None
            t.ellipsis = prefix
            axis += ln
            continue
        got = dims[axis]
        if d.kind == "const" and got != d.value:
            return None
        if d.kind == "sym":
            if d.sym in t.syms:
                if got != d.value_of(t.syms[d.sym]):
                    return None
            else:
                num = (got - d.add) * d.div
                if num < 0 or num % d.mul != 0 or (num // d.mul) * d.mul // d.div + d.add != got:
                    return None
                t.syms[d.sym] = num // d.mul
        axis += 1
    return t


def evaluate(p, b, like=None):
    """The shape a pattern denotes under bindings, or None if a dim is unknown. `like` gives the dims that
    fill '_' positions (an input matched by the same alternative)."""
    out = []
    axis = 0
    for d in p.dims:
        if d.kind == "ellipsis":
            if b.ellipsis is None:
                return None
            out.extend(b.ellipsis)
            axis += len(b.ellipsis)
            continue
        if d.kind == "const":
            out.append(d.value)
        elif d.kind == "sym":
            if d.sym not in b.syms:
                return None
            out.append(d.value_of(b.syms[d.sym]))
        elif like is not None and axis < len(like):
            out.append(like[axis])
        else:
            return None
        axis += 1
    return tuple(out)


class ShapeSolver:
    """Per-op: parsed specs; solve(input dims, attrs) -> list of output dims (None where unknown)."""

    def __init__(self, op_schema):
        self.inputs = [(t["name"], t["shape"], parse_spec(t["shape"])) for t in op_schema["inputs"]]
        self.outputs = [(t["name"], t["shape"], parse_spec(t["shape"])) for t in op_schema["outputs"]]
        self.int_attrs = [a["name"] for a in op_schema["attrs"] if a["kind"] == "int"]

    def solve(self, in_dims, attrs):
        b = Bindings()
        for name in self.int_attrs:
            v = attrs.get(name)
            if v is not None:
                b.syms[name] = int(v)
        # spec text -> [(alternative index, dims)] of the inputs with that spec, in schema order: the n-th
        # output with a spec takes the '_' dims of the n-th such input (apply_rope: q -> q_out, k -> k_out).
        matched = {}
        for (name, spec, alts), dims in zip(self.inputs, in_dims):
            if dims is None:
                continue
            for p in alts:
                if not p.condition_holds(attrs):
                    continue
                nb = match(p, dims, b)
                if nb is not None:
                    b = nb
                    matched.setdefault(spec, []).append((p.index, dims))
                    break
        result = []
        taken = {}
        for name, spec, alts in self.outputs:
            shape = None
            n = taken.get(spec, 0)
            taken[spec] = n + 1
            same = matched.get(spec)
            same = same[min(n, len(same) - 1)] if same else None
            if same is not None:
                shape = evaluate(alts[same[0]], b, same[1])
            if shape is None:
                for p in alts:
                    if p.condition_holds(attrs):
                        shape = evaluate(p, b)
                        if shape is not None:
                            break
            result.append(shape)
        return result
