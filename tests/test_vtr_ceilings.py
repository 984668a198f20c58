"""The VTR ceilings: a perfect model of a kind ties with the videos it cannot tell apart."""

from __future__ import annotations

import pytest

from i2vbench.experiments.vtr_ceilings import KEYS, ceiling

LEFT_GROW = [("red", "circle", "move left"), ("blue", "square", "grow")]
TWIN = [("blue", "square", "shrink"), ("red", "circle", "move right")]  # LEFT_GROW played backwards
OTHER = [("green", "star", "appear")]


@pytest.mark.parametrize(("key", "expect"), [
    ("everything (ordered events)", 100.0),
    ("order-blind, direction-aware", 100.0),
    ("order- and direction-blind", 100 * (0.5 + 0.5 + 1) / 3),  # a pair and its twin are one key
    ("objects taking part", 100 * (0.5 + 0.5 + 1) / 3),
])
def test_a_time_reversed_twin_ties_only_for_models_blind_to_direction(key, expect):
    assert ceiling([LEFT_GROW, TWIN, OTHER], KEYS[key]) == pytest.approx(expect)
