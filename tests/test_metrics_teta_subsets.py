"""TETA on OVTrack's base / novel class subsets, checked against the full-set evaluator.

OVTrack (``ovtrack/datasets/tao_dataset.py``) evaluates once over all classes and averages the
per-class rows of the LVIS-rare classes (novel) and of the others (base). So the subset over
every evaluated class is the full TETA, and the class-count-weighted mean of base and novel is
the full TETA too; both are checked on the parity files and on random synthetic TAO files.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from i2vbench.datasets.tao import load_tao_gt, load_tao_results
from i2vbench.metrics.evaluate import evaluate
from i2vbench.metrics.teta import (
    FIELDS,
    SUBSET_FIELDS,
    compute_teta,
    ov_class_split,
    ov_subsets,
    subset_summary,
)
from i2vbench.perf.ovmot import synthetic_tao

DATA = Path(__file__).parent / "data" / "ovmot"


def _check_invariants(gt_path: Path, pred_path: Path) -> None:
    g = load_tao_gt(gt_path)
    result = compute_teta(g, load_tao_results(pred_path, g))
    everything = subset_summary(result, g.evaluated_category_ids)
    for f in FIELDS:
        assert everything[f] == pytest.approx(result.summary[f], abs=1e-9), f
    split = ov_class_split(g)
    evaluated = set(g.evaluated_category_ids)
    n = {k: len(evaluated & set(v)) for k, v in split.items()}
    sub = ov_subsets(g, result)
    if n["base"] and n["novel"]:
        for f in SUBSET_FIELDS:
            mixed = (n["base"] * sub[f"base/{f}"] + n["novel"] * sub[f"novel/{f}"]) / (n["base"] + n["novel"])
            assert mixed == pytest.approx(result.summary[f], abs=1e-9), f
    for k in ("base", "novel"):
        assert (f"{k}/TETA" in sub) == bool(n[k])


@pytest.mark.parametrize("case", ["edge", "synth_grid", "synth_smooth"])
def test_subset_of_all_classes_is_the_full_teta(case: str) -> None:
    _check_invariants(DATA / f"{case}_gt.json", DATA / f"{case}_pred.json")


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), n_classes=st.integers(1, 7), grid=st.booleans())
def test_subsets_on_random_files(tmp_path_factory, seed: int, n_classes: int, grid: bool) -> None:
    tmp = tmp_path_factory.mktemp("sub")
    gt, res = synthetic_tao(3, 4, 3, n_classes, 3, seed=seed, grid=grid)
    (tmp / "gt.json").write_text(json.dumps(gt))
    (tmp / "pred.json").write_text(json.dumps(res))
    _check_invariants(tmp / "gt.json", tmp / "pred.json")


def test_split_follows_lvis_frequency_only() -> None:
    """novel = 'r', base = 'c' and 'f'; a category without the field is in neither."""
    g = load_tao_gt(DATA / "synth_grid_gt.json")
    g.categories = [{"id": 1, "frequency": "r"}, {"id": 2, "frequency": "c"}, {"id": 3, "frequency": "f"},
                    {"id": 4}]
    assert ov_class_split(g) == {"base": [2, 3], "novel": [1]}


def test_a_single_class_subset_is_that_class_row() -> None:
    g = load_tao_gt(DATA / "synth_smooth_gt.json")
    result = compute_teta(g, load_tao_results(DATA / "synth_smooth_pred.json", g))
    c = g.evaluated_category_ids[0]
    assert subset_summary(result, [c]) == result.per_class[c]
    assert subset_summary(result, [10**6]) is None


def test_bench_eval_reports_base_and_novel(tmp_path: Path) -> None:
    """Through the registered evaluator: base/novel keys when categories carry ``frequency``,
    none when they do not; the full TETA is unchanged by them."""
    gt, res = synthetic_tao(4, 5, 3, 6, 3, seed=3)
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "pred.json").write_text(json.dumps(res))
    out = evaluate("ovmot", tmp_path / "gt.json", tmp_path / "pred.json", hota=False)
    assert {f"{s}/{f}" for s in ("base", "novel") for f in SUBSET_FIELDS} <= set(out)
    for c in gt["categories"]:
        del c["frequency"]
    (tmp_path / "gt2.json").write_text(json.dumps(gt))
    plain = evaluate("ovmot", tmp_path / "gt2.json", tmp_path / "pred.json", hota=False)
    assert not any("/" in k for k in plain)
    assert plain["TETA"] == out["TETA"]
    assert np.isfinite(list(out.values())).all()
