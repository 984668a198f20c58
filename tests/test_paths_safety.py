"""safe_name: any id becomes one safe path component; safe ids keep their names (caches stay valid)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from i2vbench.paths import is_safe_name, safe_name


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.text(max_size=300))
def test_any_id_maps_to_a_safe_component(name):
    out = safe_name(name)
    assert is_safe_name(out) or (out.startswith("=") and "/" not in out and "\\" not in out and len(out) < 80)
    assert out not in (".", "..") and "/" not in out and "\x00" not in out
    if is_safe_name(name):
        assert out == name


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.text(max_size=50), st.text(max_size=50))
def test_distinct_ids_stay_distinct(a, b):
    if a != b:
        assert safe_name(a) != safe_name(b)


def test_real_ids_are_kept():
    for vid in ("3MSZA", "video9770", "-4wsuPCjDBc_5_15", "v_f69ebe5b731d3e87c1a3992ee39c3b7e", "2909445186"):
        assert safe_name(vid) == vid
    assert safe_name("../../x").startswith("=.._.._x-")
