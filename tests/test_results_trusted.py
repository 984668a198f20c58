"""Trusted ground truth: a submission is ``verified`` only when scored against registered GT."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml

from i2vbench.results.trusted import (
    OFFICIAL,
    check_gt,
    generated_files,
    synthvid_hashes,
    trusted_hashes,
)


@pytest.fixture
def results(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "results"
    (root / "submissions").mkdir(parents=True)
    monkeypatch.setenv("I2VBENCH_RESULTS", str(root))
    return root


def test_official_hashes_are_well_formed():
    for (dataset, split), files in OFFICIAL.items():
        assert files, (dataset, split)
        for digest, what in files.items():
            assert len(digest) == 64 and int(digest, 16) >= 0 and what


def test_official_hashes_match_the_annotation_files(full_annotations):
    """Every registered file of the full annotation folder hashes to its registered sha256."""
    registered = {d for files in OFFICIAL.values() for d in files}
    found = {hashlib.sha256(p.read_bytes()).hexdigest(): p for p in full_annotations.rglob("*") if p.is_file()}
    names = {what.split(" — ")[0] for files in OFFICIAL.values() for what in files.values()}
    on_disk = {p.name for p in found.values()}
    # every registered file that is in the folder (HQGA's MSVD csv/vocab are not) has its hash there
    for files in OFFICIAL.values():
        for digest, what in files.items():
            if what.split(" — ")[0] in on_disk and "HQGA" not in what:
                assert digest in found, what
    assert names and registered


def test_synthvid_hashes_are_those_a_build_writes(tmp_path):
    """The generator's annotation stage gives the bytes build_tvg writes (a tiny build, rendered)."""
    from i2vbench.datasets.synthvid import build_tvg
    from i2vbench.datasets.synthvid.tvg import TVGConfig

    cfg = TVGConfig().with_counts(2, 1, 2)
    built = build_tvg(tmp_path / "tvg", config=cfg, progress=False, workers=1)
    meta = json.loads(built.meta_json.read_text())
    files = generated_files("synthvid", cfg)
    assert files and {n: hashlib.sha256(b).hexdigest() for n, b in files.items()} == \
        {n: meta["sha256"][n] for n in files}


def test_synthvid_default_benchmark_is_trusted_per_split():
    h = synthvid_hashes("synthvid")
    assert set(h) == {"train", "val", "test"} and all(len(v) == 2 for v in h.values())
    assert trusted_hashes("synthvid-tvg", "test") == trusted_hashes("synthvid", "test") == h["test"]
    assert trusted_hashes("charades-sta", "nope") == {} and trusted_hashes("nope", "test") == {}


def test_check_gt_names_every_untrusted_input(tmp_path):
    files = generated_files("synthvid")
    (tmp_path / "charades_sta_test.txt").write_bytes(files["charades_sta_test.txt"])
    (tmp_path / "Charades_v1_test.csv").write_bytes(files["Charades_v1_test.csv"] + b"x")
    c = check_gt("synthvid", "test", {"gt": tmp_path / "charades_sta_test.txt",
                                      "durations": tmp_path / "Charades_v1_test.csv"})
    assert not c.trusted and c.untrusted == ("durations",)
    assert check_gt("synthvid", "val", {"gt": tmp_path / "charades_sta_test.txt"}).untrusted == ("gt",)


def test_submission_on_registered_synthvid_gt_is_verified(bench, results, tmp_path):
    files = generated_files("synthvid")
    gt, csv = tmp_path / "charades_sta_test.txt", tmp_path / "Charades_v1_test.csv"
    gt.write_bytes(files["charades_sta_test.txt"])
    csv.write_bytes(files["Charades_v1_test.csv"])
    from i2vbench.datasets.charades_sta import load_charades_sta, load_durations

    moments = load_charades_sta(gt, load_durations(csv))
    pred = tmp_path / "pred.jsonl"
    pred.write_text("".join(json.dumps({"qid": m.qid, "pred_relevant_windows": [[m.start, m.end, 1.0]]}) + "\n"
                            for m in moments))
    code, _, err = bench("submit", "--predictions", str(pred), "--gt", str(gt), "--durations", str(csv),
                         "--task", "tvg", "--dataset", "synthvid", "--method", "Oracle", "--paradigm", "other",
                         "--paradigm-description", "the GT windows", "--ilfm", "none", "--title", "Oracle",
                         "--url", "https://example.org/o", "--submitter", "tester")
    assert code == 0, err
    assert "self-scored" not in err
    (f,) = (results / "submissions").glob("*.yaml")
    rec = yaml.safe_load(f.read_text())
    assert rec["kind"] == "verified" and rec["provenance"]["config"]["gt_registered"] is True
    assert rec["metrics"]["mIoU"] == 100.0
    # the same GT for another split is not registered: self-scored
    code, _, err = bench("submit", "--predictions", str(pred), "--gt", str(gt), "--durations", str(csv),
                         "--split", "val", "--task", "tvg", "--dataset", "synthvid", "--method", "Oracle",
                         "--paradigm", "other", "--paradigm-description", "the GT windows", "--ilfm", "none",
                         "--title", "Oracle", "--url", "https://example.org/o", "--submitter", "tester")
    assert code == 0 and "self-scored, not verified" in err and "(gt, durations)" in err


def test_a_result_file_cannot_claim_to_be_scored(bench, results, tmp_path):
    data = {"task": "tvg", "dataset": "charades-sta", "method": "M", "paradigm": "adapter", "ilfm": "CLIP",
            "citation": {"title": "T", "url": "https://x.org"}, "metrics": {"mIoU": 50.0},
            "kind": "self-scored", "provenance": {"submitter": "me"}}
    p = tmp_path / "r.yaml"
    p.write_text(yaml.safe_dump(data))
    code, _, err = bench("submit", str(p))
    assert code == 2 and "'self-reported', not 'self-scored'" in err
