"""``bench run --task ovmot`` end to end on small data: the SynthVid default and a real TAO layout.

The detector is the classical blob stand-in of ``ovmot_standin`` (tests only; the shipped runs use
tinyground), so these tests exercise the runner, the methods, the tracker and the scoring, fast.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from ovmot_standin import BlobGrounder

METHODS = {"baseline", "ovtrack", "masa", "nettrack", "ovtr"}
COLUMNS = {"TETA", "LocA", "AssocA", "ClsA", "base/TETA", "novel/TETA", "crossings/AssocA"}
QUICK = ("synthvid: {n_train: 6, n_val: 3, n_test: 4}\n"
         "overrides: {ovtrack: {epochs: 1}, masa: {epochs: 1}, ovtr: {epochs: 1}}\n")


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict:
    """The SynthVid default (quick sizes) and a real TAO layout without test.json."""
    from conftest import run_bench

    import i2vbench.benchmarks.ovmot as ovmot
    from i2vbench.datasets.synthvid.tao import build_tao

    tmp = tmp_path_factory.mktemp("ovmot")
    mp = pytest.MonkeyPatch()
    mp.setenv("I2VBENCH_CACHE", str(tmp / "cache"))
    mp.setattr(ovmot, "_load_grounder", lambda spec, weights: BlobGrounder())
    cfg = tmp / "quick.yaml"
    cfg.write_text(QUICK)
    out = {}
    try:
        code, stdout, stderr = run_bench("run", "--task", "ovmot", "--config", str(cfg), "--out",
                                         str(tmp / "runs"), "--json", "--no-progress")
        assert code == 0, stderr
        out["synthvid"] = json.loads(stdout)
        # a real TAO layout: annotations/{train,validation}.json and frames/, no test.json
        gen = build_tao(tmp / "gen", n_train=8, n_val=3, n_test=0, progress=False)
        real = tmp / "tao"
        (real / "annotations").mkdir(parents=True)
        shutil.copy(gen.gt_json("train"), real / "annotations" / "train.json")
        shutil.copy(gen.gt_json("val"), real / "annotations" / "validation.json")
        shutil.copytree(gen.frames_dir, real / "frames")
        (tmp / "real.yaml").write_text("val_fraction: 0.4\noverrides: {ovtrack: {epochs: 1}, masa: {epochs: 1}}\n")
        code, stdout, stderr = run_bench("run", "--task", "ovmot", "--dataset", "tao", "--data-root", str(real),
                                         "--config", str(tmp / "real.yaml"), "--out", str(tmp / "runs"),
                                         "--json", "--no-progress", "--methods", "baseline,ovtrack")
        assert code == 0, stderr
        out["tao"] = (json.loads(stdout), real)
    finally:
        mp.undo()
    return out


def test_synthvid_run_reports_every_method_and_column(runs):
    res = runs["synthvid"]
    assert res["task"] == "ovmot"
    assert {(r["method"], r["split"]) for r in res["results"]} == {(m, s) for m in METHODS for s in ("val", "test")}
    for r in res["results"]:
        assert COLUMNS <= set(r["metrics"])
        m = r["metrics"]
        assert m["TETA"] == pytest.approx((m["LocA"] + m["AssocA"] + m["ClsA"]) / 3)
        assert all(0 <= v <= 100 for v in m.values())
        assert m["LocA"] > 20  # the stand-in finds the shapes: the tracker reports real tracks
    stats = res["datasets"][0]["stats"]
    assert stats["n_test_videos"] == 4 and stats["n_stills"] > 0


def test_predictions_are_tao_results_that_bench_eval_scores_the_same(runs, bench):
    from i2vbench.datasets.synthvid.tao import build_tao

    res = runs["synthvid"]
    run = json.loads((Path(res["run_dir"]) / "run.json").read_text())
    gt = None
    for r in run["results"]:
        if r["split"] != "test":
            continue
        pred = Path(res["run_dir"]) / r["per_seed"][0]["predictions"]
        rows = json.loads(pred.read_text())
        assert rows and set(rows[0]) == {"image_id", "video_id", "category_id", "bbox", "score", "track_id"}
        if gt is None:  # the same folder the run built (cache keyed by seed and config)
            import os

            os.environ["I2VBENCH_CACHE"], old = str(Path(res["run_dir"]).parents[1] / "cache"), os.environ.get(
                "I2VBENCH_CACHE")
            try:
                gt = build_tao(n_train=6, n_val=3, n_test=4, progress=False).gt_json("test")
            finally:
                if old is None:
                    del os.environ["I2VBENCH_CACHE"]
                else:
                    os.environ["I2VBENCH_CACHE"] = old
        code, out, err = bench("eval", "--task", "ovmot", "--gt", str(gt), "--pred", str(pred), "--json",
                               "--option", "hota=false")
        assert code == 0, err
        scored = json.loads(out)
        scored = scored.get("metrics", scored)
        for k in ("TETA", "LocA", "AssocA", "ClsA", "base/TETA", "novel/TETA"):
            assert scored[k] == pytest.approx(r["metrics"][k], abs=1e-9)


def test_real_tao_layout_holds_out_training_videos_as_val(runs):
    res, _ = runs["tao"]
    stats = res["datasets"][0]["stats"]
    assert stats["n_test_videos"] == 3  # validation.json is the report split
    assert 1 <= stats["n_val_videos"] < 8
    assert {r["method"] for r in res["results"]} == {"baseline", "ovtrack"}
    assert all("crossings/AssocA" in r["metrics"] for r in res["results"])  # SynthVid metadata survives


def test_bad_inputs_are_one_error_naming_what_is_missing(tmp_path, bench):
    d = tmp_path / "tao"
    (d / "annotations").mkdir(parents=True)
    code, _, err = bench("run", "--task", "ovmot", "--dataset", "tao", "--data-root", str(d), "--no-progress")
    assert code != 0 and "train.json" in err
    code, _, err = bench("run", "--task", "ovmot", "--dataset", "tao", "--no-progress")
    assert code != 0 and "--data-root" in err
