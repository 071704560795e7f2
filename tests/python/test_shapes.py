"""Output-shape derivation from the schema's shape patterns (independent of any op)."""
from mojo._shapes import ShapeSolver, parse_spec


def solver(inputs, outputs, attrs=()):
    return ShapeSolver({"inputs": [{"name": n, "shape": s} for n, s in inputs],
                        "outputs": [{"name": n, "shape": s} for n, s in outputs],
                        "attrs": [{"name": a, "kind": "int"} for a in attrs]})


def test_ellipsis_and_symbols():
    s = solver([("x", "[..., K]"), ("w", "[N, K]")], [("out", "[..., N]")])
    assert s.solve([(2, 3, 8), (5, 8)], {}) == [(2, 3, 5)]


def test_conditional_layout():
    s = solver([("x", "[..., K]"), ("w", "[N, K] if weight_layout=NK else [K, N]")], [("out", "[..., N]")])
    assert s.solve([(4, 8), (6, 8)], {"weight_layout": "NK"}) == [(4, 6)]
    assert s.solve([(4, 8), (8, 6)], {"weight_layout": "KN"}) == [(4, 6)]


def test_arithmetic_dims():
    s = solver([("cu", "[B+1]"), ("x", "[T, 2*N]")], [("o", "[B, N]"), ("h", "[T, N/2]"), ("c", "[3, 2*B+1]")])
    assert s.solve([(5,), (7, 12)], {}) == [(4, 6), (7, 3), (3, 9)]


def test_int_attribute_is_a_symbol_and_unknown_is_none():
    s = solver([("x", "[T, D]")], [("o", "[T, page_size]"), ("p", "[T, Q]")], attrs=["page_size"])
    assert s.solve([(3, 4)], {"page_size": 16}) == [(3, 16), None]


def test_alternatives_and_underscore_follow_the_same_input():
    spec = "[_, _, Dh] | [_, _, _, Dh]"
    s = solver([("q", spec), ("cos", "[_, Dr] | [_, _, Dr]")], [("q_out", spec)])
    assert s.solve([(5, 2, 8), (5, 4)], {}) == [(5, 2, 8)]
    assert s.solve([(1, 5, 2, 8), (1, 5, 4)], {}) == [(1, 5, 2, 8)]


def test_outputs_sharing_a_spec_pair_with_the_inputs_in_order():
    # apply_rope under GQA: k has fewer heads than q, and k_out must follow k, not q.
    spec = "[_, _, Dh] | [_, _, _, Dh]"
    s = solver([("q", spec), ("k", spec), ("cos", "[_, Dr] | [_, _, Dr]")], [("q_out", spec), ("k_out", spec)])
    assert s.solve([(5, 8, 64), (5, 2, 64), (5, 64)], {}) == [(5, 8, 64), (5, 2, 64)]
    assert s.solve([(1, 8, 5, 64), (1, 2, 5, 64), (5, 64)], {}) == [(1, 8, 5, 64), (1, 2, 5, 64)]


def test_parse_conditions():
    alts = parse_spec("[N, K] if weight_layout=NK else [K, N]")
    assert [a.condition_holds({"weight_layout": "NK"}) for a in alts] == [True, False]
    assert [a.condition_holds({"weight_layout": "KN"}) for a in alts] == [False, True]
    assert parse_spec("[]")[0].dims == []
