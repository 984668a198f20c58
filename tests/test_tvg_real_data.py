"""``bench run --task tvg`` on released features in the layouts researchers have (folders written here).

Each test writes a small Charades-STA folder as the releases lay it out — ``charades_sta_*.txt``,
durations as Charades' csvs or as VSLNet's ``charades.json``, CLIP features as UniVTG
(``vid_clip/`` + ``txt_clip/<qid>.npz``), Moment-DETR (``clip_features/`` +
``clip_text_features/qid<qid>.npz``) or lighthouse (``clip/`` + ``clip_text/qid<qid>.npz``) — and
runs the CLI on it with the ``prior`` method (no training), so what is checked is the data path:
the clip rate, layouts, durations and what the run record says.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

# (video, duration s): 8 train videos, 3 test videos, 2 queries each
TRAIN = [(f"TR{i:03d}", 20.0 + 3 * i) for i in range(8)]
TEST = [(f"TE{i:03d}", 25.0 + 2 * i) for i in range(3)]
LAYOUTS = {"univtg": ("vid_clip", "txt_clip", ""), "moment_detr": ("clip_features", "clip_text_features", "qid"),
           "lighthouse": ("clip", "clip_text", "qid")}


def write_release(root: Path, layout: str = "univtg", clip_len: float = 1.0, durations: str = "csv",
                  off: dict[str, int] | None = None) -> Path:
    """A Charades-STA folder with features at ``clip_len`` s per clip (``off``: extra clips per video)."""
    vdir, tdir, prefix = LAYOUTS[layout]
    feats = root / "features"
    (feats / vdir).mkdir(parents=True)
    (feats / tdir).mkdir()
    rng = np.random.default_rng(0)
    for split, videos in (("train", TRAIN), ("test", TEST)):
        lines = []
        for vid, dur in videos:
            lines += [f"{vid} 2.0 {dur / 2:.1f}##person opens the door.", f"{vid} {dur / 2:.1f} {dur - 1:.1f}##person sits down."]
            clips = round(dur / clip_len) + (off or {}).get(vid, 0)
            np.savez(feats / vdir / f"{vid}.npz", features=rng.normal(size=(clips, 16)).astype(np.float32))
        (root / f"charades_sta_{split}.txt").write_text("\n".join(lines) + "\n")
        for i in range(len(lines)):  # qids as the loader numbers them: <split><line index>
            np.savez(feats / tdir / f"{prefix}{split}{i}.npz", last_hidden_state=rng.normal(size=(5, 8)).astype(np.float32),
                     pooler_output=rng.normal(size=(8,)).astype(np.float32))
        if durations == "csv":
            (root / f"Charades_v1_{split}.csv").write_text(
                "id,subject,scene,length\n" + "".join(f"{v},S,Kitchen,{d}\n" for v, d in videos))
    if durations == "json":  # VSLNet's layout: one file for both splits
        (root / "charades.json").write_text(json.dumps(
            {v: {"duration": d, "timestamps": [], "sentences": []} for v, d in TRAIN + TEST}))
    return root


def run(bench, tmp_path: Path, root: Path, *extra: str) -> tuple[int, dict | None, str]:
    out = tmp_path / "runs"
    code, stdout, stderr = bench("run", "--task", "tvg", "--dataset", "charades-sta", "--data-root", str(root),
                                 "--features", str(root / "features"), "--methods", "prior", "--out", str(out),
                                 "--json", "--no-progress", *extra)
    if code != 0:
        return code, None, stderr
    return code, json.loads((Path(json.loads(stdout)["run_dir"]) / "run.json").read_text()), stderr


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_each_release_layout_is_found_by_its_folder_names(bench, tmp_path, layout):
    root = write_release(tmp_path / "charades", layout)
    code, record, err = run(bench, tmp_path, root)
    assert code == 0, err
    assert record["config"]["features_layout"] == "auto"
    assert record["datasets"][0]["stats"]["n_test_queries"] == 6
    assert "test" in {r["split"] for r in record["records"]}


def test_clip_len_default_flag_and_record(bench, tmp_path):
    root = write_release(tmp_path / "charades", clip_len=1.0)
    code, record, err = run(bench, tmp_path, root)
    assert code == 0, err
    # the releases' 1 s clips are the default with --features (the files do not say their rate)
    assert (record["config"]["clip_len"], record["config"]["fps"]) == (1.0, 1.0)
    half = write_release(tmp_path / "half", clip_len=0.5)
    code, _, err = run(bench, tmp_path, half)
    assert code == 2 and "the clip rate is wrong" in err and "pass --clip-len 0.5" in err
    code, record, err = run(bench, tmp_path, half, "--clip-len", "0.5")
    assert code == 0, err
    assert (record["config"]["clip_len"], record["config"]["fps"]) == (0.5, 2.0)


def test_a_few_videos_off_the_rate_are_a_cli_warning_without_source_lines(bench, tmp_path):
    root = write_release(tmp_path / "charades", off={"TR003": 9})
    code, record, err = run(bench, tmp_path, root)
    assert code == 0, err
    lines = [x for x in err.splitlines() if x.strip()]
    said = [x for x in lines if x.startswith("warning: 1 of 11 videos have a clip count")]
    assert len(said) == 1 and "TR003.npz" in said[0]
    assert "UserWarning" not in err and "warnings.warn" not in err and ".py:" not in err
    # and kept in the run record, beside the clip length it was checked at
    (kept,) = record["datasets"][0]["stats"]["warnings"]
    assert kept.startswith("1 of 11 videos have a clip count") and record["config"]["clip_len"] == 1.0


def test_durations_from_vslnet_charades_json(bench, tmp_path):
    root = write_release(tmp_path / "charades", durations="json")
    code, record, err = run(bench, tmp_path, root)
    assert code == 0, err
    assert record["datasets"][0]["stats"]["n_train_queries"] + record["datasets"][0]["stats"]["n_val_queries"] == 16
    (root / "charades.json").rename(root / "lengths.json")
    code, _, err = run(bench, tmp_path, root)
    assert code == 2 and "no video durations" in err and "charades.json" in err
    code, record, err = run(bench, tmp_path, root, "--durations", str(root / "lengths.json"))
    assert code == 0, err


def test_layout_flag_when_two_layouts_share_a_folder(bench, tmp_path):
    root = write_release(tmp_path / "charades", "univtg")
    other = write_release(tmp_path / "other", "moment_detr")
    for d in ("clip_features", "clip_text_features"):
        (other / "features" / d).rename(root / "features" / d)
    code, _, err = run(bench, tmp_path, root)
    assert code == 2 and "several feature layouts (univtg, moment_detr)" in err and "--features-layout" in err
    code, record, err = run(bench, tmp_path, root, "--features-layout", "moment_detr")
    assert code == 0, err
    assert record["config"]["features_layout"] == "moment_detr"


def test_record_says_what_made_the_features_and_where_they_are(bench, tmp_path, monkeypatch):
    root = write_release(tmp_path / "charades")
    monkeypatch.chdir(tmp_path)
    code, stdout, err = bench("run", "--task", "tvg", "--dataset", "charades-sta", "--data-root", "charades",
                              "--features", os.path.join("charades", "features"), "--methods", "prior",
                              "--out", "runs", "--json", "--no-progress")
    assert code == 0, err
    record = json.loads((Path(json.loads(stdout)["run_dir"]) / "run.json").read_text())
    # relative paths given, absolute paths recorded
    assert record["config"]["data_root"] == str(root.absolute())
    assert record["config"]["features"] == str((root / "features").absolute())
    assert record["ilfm"] == "pre-extracted:unknown" and record["config"]["features_backbone"] == "unknown"
    assert {r["ilfm"] for r in record["records"]} == {"pre-extracted:unknown"}
    code, record, err = run(bench, tmp_path, root, "--features-backbone", "clip:ViT-B/32")
    assert code == 0, err
    assert record["ilfm"] == "pre-extracted:clip:ViT-B/32"
    assert record["records"][0]["provenance"]["config"]["features_backbone"] == "clip:ViT-B/32"


def test_tvg_flags_are_refused_for_other_tasks(bench, tmp_path):
    code, _, err = bench("run", "--task", "var", "--clip-len", "1", "--out", str(tmp_path / "r"))
    assert code == 2 and "--clip-len: not an option of task 'var'" in err


@pytest.mark.parametrize(("args", "message"), [
    (("--features-backbone", "clip:ViT-B/32"), "describe pre-extracted features: give features too"),
    (("--features-layout", "lighthouse"), "describe pre-extracted features: give features too"),
    (("--durations", "x.json"), "durations is read for dataset charades-sta, not 'synthvid'"),
    (("--features", "f", "--features-layout", "nope"), "features_layout"),
])
def test_feature_settings_without_their_subject_are_refused(bench, tmp_path, args, message):
    code, _, err = bench("run", "--task", "tvg", "--out", str(tmp_path / "r"), *args)
    assert code == 2 and message in err and "Traceback" not in err
