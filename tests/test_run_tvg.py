"""`bench run --task tvg` end to end on a small SynthVid config: records, predictions, determinism."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from i2vbench.metrics.evaluate import evaluate

SMALL = """\
synthvid: {n_train: 120, n_val: 40, n_test: 40}
overrides: {moment_detr: {epochs: 1}, r2_tuning: {epochs: 1}, temporal_adapter: {epochs: 1}}
"""
SYNTHVID = {"seed": 0, "n_train": 120, "n_val": 40, "n_test": 40}


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


def _by(results: list[dict], split: str) -> dict[str, dict]:
    return {r["method"]: r for r in results if r["split"] == split}


@pytest.fixture(scope="module")
def two_seeds(small_config, cache, tmp_path_factory) -> dict:
    """One run over training seeds 0 and 1, methods side by side (two at a time, one thread each)."""
    from conftest import run_bench

    mp = pytest.MonkeyPatch()
    mp.setenv("I2VBENCH_CACHE", str(cache))
    try:
        return _run(run_bench, small_config, tmp_path_factory.mktemp("runs"), "--seeds", "0,1")
    finally:
        mp.undo()


def test_seeds_give_mean_sample_std_and_every_seed(two_seeds):
    assert two_seeds["seeds"] == [0, 1] and two_seeds["data_seed"] == 0
    assert {(r["method"], r["split"]) for r in two_seeds["results"]} == \
        {(m, s) for m in ("prior", "moment_detr", "r2_tuning", "temporal_adapter") for s in ("val", "test")}
    for r in two_seeds["results"]:
        assert r["dataset"] == "synthvid-tvg"
        assert [p["seed"] for p in r["per_seed"]] == [0, 1]
        for key, mean in r["metrics"].items():
            values = [p["metrics"][key] for p in r["per_seed"]]
            assert mean == pytest.approx(np.mean(values))
            assert r["metrics_std"][key] == pytest.approx(np.std(values, ddof=1))
    # the prior is training-free: same numbers for every seed; a trained method's seeds differ
    assert set(_by(two_seeds["results"], "test")["prior"]["metrics_std"].values()) == {0.0}
    assert any(_by(two_seeds["results"], "test")["r2_tuning"]["metrics_std"].values())


def test_run_record_keeps_every_split_and_seed_and_eval_agrees(two_seeds):
    from i2vbench.datasets.synthvid import build_tvg

    run_dir = Path(two_seeds["run_dir"])
    record = json.loads((run_dir / "run.json").read_text())
    assert record["task"] == "tvg" and record["seeds"] == [0, 1]
    assert record["ilfm"].startswith("tinyclip-") and len(record["ilfm"]) > len("tinyclip-")
    prov = record["provenance"]
    assert prov["seed"] is None and prov["code_version"] and "torch" in prov["packages"]
    assert prov["config"]["synthvid"] == {"n_train": 120, "n_val": 40, "n_test": 40}
    assert prov["config"]["seeds"] == [0, 1] and prov["config"]["data_seed"] == 0
    recs = record["records"]
    assert {r["kind"] for r in recs} == {"reproduced"}
    assert sorted((r["method_id"], r["split"]) for r in recs) == \
        sorted((r["method"], r["split"]) for r in two_seeds["results"])
    assert {r["ilfm"] for r in recs} == {record["ilfm"]}
    paradigms = {r["method_id"]: (r["paradigm"], r["paradigm_description"]) for r in recs}
    assert paradigms["moment_detr"] == ("post_network_tuning", None)
    # the training-free prior transfers nothing: no survey paradigm, and the record says so
    assert paradigms["prior"][0] == "other" and "baseline" in paradigms["prior"][1]
    # every seed's predictions file is scored by `bench eval` to exactly the recorded metrics
    data = build_tvg(progress=False, **SYNTHVID)
    for r in recs:
        assert len(r["per_seed"]) == 2
        for seed in r["per_seed"]:
            got = evaluate("tvg", data.txt(r["split"]), run_dir / seed["predictions"],
                           durations=data.durations_csv(r["split"]))
            for key, value in seed["metrics"].items():
                assert got[key] == pytest.approx(value, abs=1e-9)


def test_a_seed_gives_the_same_numbers_alone_and_in_one_process(bench, two_seeds, small_config, cache, tmp_path,
                                                                  monkeypatch):
    """Same seed, same per-method threads → same numbers, whichever worker trained a method, when,
    and beside which other seeds and methods."""
    monkeypatch.setenv("I2VBENCH_CACHE", str(cache))
    one_by_one = tmp_path / "one_by_one.yaml"
    one_by_one.write_text(SMALL + "jobs: 1\nthreads: 1\n")
    alone = _run(bench, one_by_one, tmp_path / "b", "--seed", "1", "--methods", "prior,r2_tuning")
    assert [(r["method"], r["split"]) for r in alone["results"]] == \
        [("prior", "test"), ("prior", "val"), ("r2_tuning", "test"), ("r2_tuning", "val")]
    both = {(r["method"], r["split"]): r for r in two_seeds["results"]}
    for r in alone["results"]:
        assert r["per_seed"][0]["seed"] == 1 and set(r["metrics_std"].values()) == {0.0}
        assert r["metrics"] == both[r["method"], r["split"]]["per_seed"][1]["metrics"]


def test_run_on_charades_layout_with_a_method_subset(bench, small_config, cache, tmp_path, monkeypatch):
    """The real-data path: a Charades-STA folder (here SynthVid's, written in that format)."""
    monkeypatch.setenv("I2VBENCH_CACHE", str(cache))
    from i2vbench.datasets.synthvid import build_tvg

    data = build_tvg(progress=False, **SYNTHVID)
    root = tmp_path / "charades"
    root.mkdir()
    for src, name in [(data.train_txt, "charades_sta_train.txt"), (data.test_txt, "charades_sta_test.txt"),
                      (data.train_durations_csv, "Charades_v1_train.csv"),
                      (data.test_durations_csv, "Charades_v1_test.csv")]:
        (root / name).write_bytes(Path(src).read_bytes())
    out = _run(bench, small_config, tmp_path / "runs", "--dataset", "charades-sta", "--data-root", str(root),
               "--videos", str(data.videos_dir), "--methods", "prior,moment_detr")
    assert [(r["dataset"], r["method"], r["split"]) for r in out["results"]] == \
        [("charades-sta", m, s) for m in ("prior", "moment_detr") for s in ("test", "val")]
    # no official val split: a stable hashed tenth of the train videos, held out of training
    from i2vbench.benchmarks.runner import held_out
    from i2vbench.datasets.charades_sta import load_charades_sta, load_durations

    vids = sorted({m.vid for m in load_charades_sta(data.train_txt, load_durations(data.train_durations_csv))})
    val = held_out(vids, 0.1)
    assert 0 < len(val) < len(vids) / 4 and held_out(list(reversed(vids)), 0.1) == val
    stats = out["datasets"][0]["stats"]
    assert stats["n_val_queries"] > 0
    preds = Path(out["run_dir"]) / "predictions" / "charades-sta"
    val_vids = {json.loads(line)["vid"] for line in (preds / "val" / "prior-seed0.jsonl").read_text().splitlines()}
    assert val_vids == val


@pytest.mark.parametrize("args, message", [
    (("--methods", "nope"), "unknown tvg method 'nope'; known: moment_detr, prior"),
    (("--task", "captioning"), "task 'captioning' has no runner yet; runnable: "),
    (("--task", "nope"), "task 'nope' is not a task; runnable: "),
    (("--seed", "1", "--seeds", "1,2"), "not both"),
    (("--seeds", "1,x"), "comma-separated integers"),
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


def _release(root: Path, clip_len: float = 1.0, test_width: int = 48) -> Path:
    """A Charades-STA folder with features in the Moment-DETR/UniVTG release layout at ``clip_len``
    seconds per clip; the test videos' features ``test_width`` wide (train: 48)."""
    from i2vbench.datasets.charades_sta import load_charades_sta, load_durations
    from i2vbench.datasets.synthvid import build_tvg

    data = build_tvg(progress=False, **SYNTHVID)
    (root / "feats" / "vid_clip").mkdir(parents=True)
    (root / "feats" / "txt_clip").mkdir()
    rng = np.random.default_rng(0)
    for src, name in [(data.train_txt, "charades_sta_train.txt"), (data.test_txt, "charades_sta_test.txt"),
                      (data.train_durations_csv, "Charades_v1_train.csv"),
                      (data.test_durations_csv, "Charades_v1_test.csv")]:
        (root / name).write_bytes(Path(src).read_bytes())
    for txt, csv, width in [(data.train_txt, data.train_durations_csv, 48),
                            (data.test_txt, data.test_durations_csv, test_width)]:
        for m in load_charades_sta(txt, load_durations(csv)):
            np.savez(root / "feats" / "txt_clip" / f"{m.qid}.npz",
                     last_hidden_state=rng.normal(size=(6, 32)).astype(np.float32),
                     pooler_output=rng.normal(size=(32,)).astype(np.float32))
            clip = root / "feats" / "vid_clip" / f"{m.vid}.npz"
            if not clip.exists():
                np.savez(clip, features=rng.normal(size=(int(m.duration / clip_len) + 1, width)).astype(np.float32))
    return root


def test_run_on_pre_extracted_features_skips_methods_that_need_the_ilfm(bench, small_config, cache, tmp_path,
                                                                          monkeypatch):
    """Moment-DETR/UniVTG release layout: vid_clip/<vid>.npz (features), txt_clip/<qid>.npz."""
    monkeypatch.setenv("I2VBENCH_CACHE", str(cache))
    root = _release(tmp_path / "charades")
    out = _run(bench, small_config, tmp_path / "runs", "--dataset", "charades-sta", "--data-root", str(root),
               "--features", str(root / "feats"))
    assert [r["method"] for r in out["results"] if r["split"] == "test"] == ["prior", "moment_detr"]
    skipped = out["datasets"][0]["skipped"]
    assert set(skipped) == {"r2_tuning", "temporal_adapter"}
    assert "per-layer tokens" in skipped["r2_tuning"] and "pre-extracted features" in skipped["r2_tuning"]
    assert "frames" in skipped["temporal_adapter"]
    assert out["ilfm"] == "pre-extracted:unknown"  # the files do not say what made them


@pytest.mark.parametrize("release, message", [
    # 0.5 s clips read at the releases' default 1 s: refused, with the fix
    ({"clip_len": 0.5}, "the clip rate is wrong; these features look like 0.49 s clips (UniVTG and lighthouse "
                        "Charades-STA releases: 1 s): pass --clip-len 0.5"),
    # a test video of another width fails on load, before the training it would otherwise follow
    ({"test_width": 40}, "svte00000.npz is 40 wide"),
])
def test_wrong_released_features_fail_before_training_naming_a_file(bench, small_config, cache, tmp_path,
                                                                   monkeypatch, release, message):
    monkeypatch.setenv("I2VBENCH_CACHE", str(cache))
    monkeypatch.setattr("i2vbench.benchmarks.tvg.train_and_evaluate", lambda *a, **k: pytest.fail("trained"))
    root = _release(tmp_path / "charades", **release)
    out = tmp_path / "runs"
    code, _, stderr = bench("run", "--task", "tvg", "--config", str(small_config), "--out", str(out),
                            "--no-progress", "--dataset", "charades-sta", "--data-root", str(root),
                            "--features", str(root / "feats"))
    assert code == 2, stderr
    assert message in stderr and ".npz" in stderr and "Traceback" not in stderr
    assert not out.exists() or not any(out.iterdir())


def test_run_on_half_second_clips_records_the_clip_length(bench, cache, tmp_path, monkeypatch):
    monkeypatch.setenv("I2VBENCH_CACHE", str(cache))
    root = _release(tmp_path / "charades", clip_len=0.5)
    cfg = tmp_path / "run.yaml"
    cfg.write_text(SMALL + "clip_len: 0.5\n")
    out = _run(bench, cfg, tmp_path / "runs", "--dataset", "charades-sta", "--data-root", str(root),
               "--features", str(root / "feats"), "--methods", "prior")
    record = json.loads((Path(out["run_dir"]) / "run.json").read_text())
    assert (record["config"]["clip_len"], record["config"]["fps"]) == (0.5, 2.0)


@pytest.mark.parametrize("overrides, message", [
    ("{moment_detr: {hiden: 64}}", "unknown keys ['hiden'] for method 'moment_detr'"),
    ("{moment_detr: {hidden: wide}}", "overrides.moment_detr: hidden"),
    ("{nope: {epochs: 1}}", "unknown tvg method 'nope'"),
])
def test_bad_override_fails_before_any_data_is_built(bench, tmp_path, overrides, message):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(f"synthvid: {{n_train: 4}}\noverrides: {overrides}\n")
    code, _, stderr = bench("run", "--task", "tvg", "--config", str(cfg), "--out", str(tmp_path / "r"))
    assert code == 2 and message in stderr and "Traceback" not in stderr
    if "hiden" in overrides:  # names the valid keys: the config's own and the train recipe's
        assert "hidden" in stderr and "enc_layers" in stderr and "epochs" in stderr
