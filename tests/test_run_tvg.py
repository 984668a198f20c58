"""`bench run --task tvg` end to end on a small SynthVid config: records, predictions, determinism."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from i2vbench.metrics.evaluate import evaluate

SMALL = """\
synthvid: {n_train: 48, n_test: 16}
overrides:
  moment_detr: {epochs: 3}
  r2_tuning: {epochs: 2}
  temporal_adapter: {epochs: 1}
"""


@pytest.fixture(scope="module")
def small_config(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("cfg") / "small.yaml"
    p.write_text(SMALL)
    return p


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


def _run(bench, cfg: Path, out: Path, *extra: str) -> dict:
    code, stdout, stderr = bench("run", "--task", "tvg", "--config", str(cfg), "--out", str(out),
                                 "--json", "--no-progress", *extra)
    assert code == 0, stderr
    return json.loads(stdout)


def test_run_writes_record_predictions_and_is_deterministic(bench, small_config, cache, tmp_path, monkeypatch):
    monkeypatch.setenv("I2VBENCH_CACHE", str(cache))
    first = _run(bench, small_config, tmp_path / "a")  # two methods at a time, one thread each
    one_by_one = tmp_path / "one_by_one.yaml"
    one_by_one.write_text(SMALL + "jobs: 1\nthreads: 1\n")
    second = _run(bench, one_by_one, tmp_path / "b")  # one after another, in this process
    names = [r["method"] for r in first["results"]]
    assert {"prior", "moment_detr", "r2_tuning", "temporal_adapter"} <= set(names)
    # same seed, same per-method threads → same numbers, whichever worker trained a method and when
    assert first["results"] == second["results"]

    run_dir = Path(first["run_dir"])
    record = json.loads((run_dir / "run.json").read_text())
    assert record["task"] == "tvg" and record["dataset"] == "synthvid-tvg"
    prov = record["provenance"]
    assert prov["seed"] == 0 and prov["code_version"] and "torch" in prov["packages"]
    assert prov["config"]["synthvid"] == {"n_train": 48, "n_test": 16}
    assert {r["kind"] for r in record["records"]} == {"reproduced"}
    paradigms = {r["method_id"]: (r["paradigm"], r["paradigm_description"]) for r in record["records"]}
    assert paradigms["moment_detr"] == ("post_network_tuning", None)
    # the training-free prior transfers nothing: no survey paradigm, and the record says so
    assert paradigms["prior"][0] == "other" and "baseline" in paradigms["prior"][1]
    assert {r["method"]: r["paradigm"] for r in first["results"]}["prior"] is None
    # every method's predictions file is scored by `bench eval` to exactly the recorded metrics
    from i2vbench.datasets.synthvid import build_tvg

    data = build_tvg(seed=0, n_train=48, n_test=16, progress=False)
    for m in record["methods"]:
        pred = run_dir / "predictions" / f"{m['method']}.jsonl"
        got = evaluate("tvg", data.test_txt, pred, durations=data.test_durations_csv)
        for key, value in m["metrics"].items():
            assert got[key] == pytest.approx(value, abs=1e-9)


def test_run_on_charades_layout_with_a_method_subset(bench, small_config, cache, tmp_path, monkeypatch):
    """The real-data path: a Charades-STA folder (here SynthVid's, written in that format)."""
    monkeypatch.setenv("I2VBENCH_CACHE", str(cache))
    from i2vbench.datasets.synthvid import build_tvg

    data = build_tvg(seed=0, n_train=48, n_test=16, progress=False)
    root = tmp_path / "charades"
    root.mkdir()
    for src, name in [(data.train_txt, "charades_sta_train.txt"), (data.test_txt, "charades_sta_test.txt"),
                      (data.train_durations_csv, "Charades_v1_train.csv"),
                      (data.test_durations_csv, "Charades_v1_test.csv")]:
        (root / name).write_bytes(Path(src).read_bytes())
    out = _run(bench, small_config, tmp_path / "runs", "--dataset", "charades-sta", "--data-root", str(root),
               "--videos", str(data.videos_dir), "--methods", "prior,moment_detr")
    assert out["dataset"] == "charades-sta"
    assert [r["method"] for r in out["results"]] == ["prior", "moment_detr"]


@pytest.mark.parametrize("args, message", [
    (("--methods", "nope"), "unknown method 'nope'"),
    (("--dataset", "charades-sta"), "needs --data-root"),
    (("--dataset", "charades-sta", "--data-root", "/nonexistent"), "not found"),
])
def test_bad_input_fails_cleanly_and_writes_nothing(bench, tmp_path, args, message):
    out = tmp_path / "runs"
    code, _, stderr = bench("run", "--task", "tvg", "--out", str(out), "--no-progress", *args)
    assert code == 2
    assert message in stderr and "Traceback" not in stderr
    assert not out.exists() or not any(out.iterdir())


def test_bad_config_key_names_the_file_and_key(bench, tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("synthvid: {n_train: 4}\nepochs_typo: 3\n")
    code, _, stderr = bench("run", "--task", "tvg", "--config", str(cfg), "--out", str(tmp_path / "r"))
    assert code == 2
    assert str(cfg) in stderr and "epochs_typo" in stderr


def test_run_on_pre_extracted_features_skips_methods_that_need_the_ilfm(bench, small_config, cache, tmp_path,
                                                                          monkeypatch):
    """Moment-DETR/UniVTG release layout: vid_clip/<vid>.npz (features), txt_clip/<qid>.npz."""
    import numpy as np

    monkeypatch.setenv("I2VBENCH_CACHE", str(cache))
    from i2vbench.datasets.charades_sta import load_charades_sta, load_durations
    from i2vbench.datasets.synthvid import build_tvg

    data = build_tvg(seed=0, n_train=48, n_test=16, progress=False)
    root = tmp_path / "charades"
    (root / "feats" / "vid_clip").mkdir(parents=True)
    (root / "feats" / "txt_clip").mkdir()
    rng = np.random.default_rng(0)
    for src, name in [(data.train_txt, "charades_sta_train.txt"), (data.test_txt, "charades_sta_test.txt"),
                      (data.train_durations_csv, "Charades_v1_train.csv"),
                      (data.test_durations_csv, "Charades_v1_test.csv")]:
        (root / name).write_bytes(Path(src).read_bytes())
    for txt, csv in [(data.train_txt, data.train_durations_csv), (data.test_txt, data.test_durations_csv)]:
        for m in load_charades_sta(txt, load_durations(csv)):
            np.savez(root / "feats" / "txt_clip" / f"{m.qid}.npz",
                     last_hidden_state=rng.normal(size=(6, 32)).astype(np.float32),
                     pooler_output=rng.normal(size=(32,)).astype(np.float32))
            clip = root / "feats" / "vid_clip" / f"{m.vid}.npz"
            if not clip.exists():
                np.savez(clip, features=rng.normal(size=(int(m.duration * 2) + 1, 48)).astype(np.float32))
    out = _run(bench, small_config, tmp_path / "runs", "--dataset", "charades-sta", "--data-root", str(root),
               "--features", str(root / "feats"))
    assert [r["method"] for r in out["results"]] == ["prior", "moment_detr"]
    assert set(out["skipped"]) == {"r2_tuning", "temporal_adapter"}
    assert "pre-extracted features" in out["skipped"]["r2_tuning"]
