"""`bench run --task stvg` end to end on a small SynthVid VidSTG: every method runs, its prediction
file scores under `bench eval --task stvg` exactly as the run reported, and the run is
deterministic for a seed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from i2vbench.metrics.evaluate import evaluate

METHODS = ("framewise", "tubedetr", "cgstvg")
SMALL = """\
synthvid: {n_train: 12, n_val: 4, n_test: 4}
overrides: {tubedetr: {epochs: 1}, cgstvg: {epochs: 1}}
"""
SYNTHVID = {"seed": 0, "n_train": 12, "n_val": 4, "n_test": 4}


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> dict:
    from conftest import quick_run

    return quick_run(tmp_path_factory.mktemp("stvg"), "stvg", SMALL)


def test_every_method_runs_and_its_predictions_score_as_bench_eval_scores_them(run, monkeypatch):
    from i2vbench.datasets.synthvid.vidstg import build_vidstg

    assert run["task"] == "stvg"
    assert {(r["method"], r["split"]) for r in run["results"]} == {(m, s) for m in METHODS for s in ("val", "test")}
    monkeypatch.setenv("I2VBENCH_CACHE", run["cache"])
    data = build_vidstg(progress=False, **SYNTHVID)
    run_dir = Path(run["run_dir"])
    record = json.loads((run_dir / "run.json").read_text())
    assert {r["method_id"]: r["paradigm"] for r in record["records"]} == {"framewise": "other",
                                                                           "tubedetr": "full_fine_tuning",
                                                                           "cgstvg": "extra_models"}
    for r in run["results"]:
        for key in ("m_vIoU", "vIoU@0.3", "vIoU@0.5", "m_tIoU"):
            for prefix in ("declarative/", "interrogative/", ""):
                assert 0.0 <= r["metrics"][prefix + key] <= 100.0
        pred = run_dir / f"predictions/synthvid-vidstg/{r['split']}/{r['method']}-seed0.json"
        got = evaluate("stvg", data.json(r["split"]), pred)
        for k, v in r["metrics"].items():
            assert got[k] == pytest.approx(v, abs=1e-9), (r["method"], r["split"], k)
    table = (run_dir / "table.md").read_text()
    assert "declarative/m_vIoU" in table and "TubeDETR" in table


def test_framewise_baseline_predicts_the_training_span_prior(run):
    """Every framewise moment is the same relative span (the prior), so its tIoU is the prior's."""
    run_dir = Path(run["run_dir"])
    pred = json.loads((run_dir / "predictions/synthvid-vidstg/test/framewise-seed0.json").read_text())
    assert len({tuple(v["sted"]) for v in pred["videos"]}) == 1  # all SynthVid STVG videos have 24 frames
    assert {v["qtype"] for v in pred["videos"]} == {"declarative", "interrogative"}


def test_same_seed_same_numbers(run, tmp_path):
    from conftest import quick_run

    # data and features cached: only training reruns (the same methods side by side: the thread
    # count per method, hence float rounding, is the same)
    rerun = quick_run(tmp_path, "stvg", SMALL, cache=run["cache"])
    again = {(r["method"], r["split"]): r["metrics"] for r in rerun["results"]}
    first = {(r["method"], r["split"]): r["metrics"] for r in run["results"]}
    assert again == first
