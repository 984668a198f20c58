"""Every real annotation format, on the excerpts in tests/data/annotations (no data folder needed).

The expected counts are taken from the excerpt's bytes by means other than the loader under test
(line counts, a plain json/csv read), so the loaders are checked, not echoed. The same checks on
the full files (published split sizes) are in the per-format test modules, behind
I2VBENCH_ANNOTATIONS.
"""

from __future__ import annotations

import csv
import json
import warnings
from collections import Counter

import numpy as np
import pytest

from i2vbench.datasets.charades_sta import (
    Moment,
    load_charades_sta,
    load_durations,
    load_moment_jsonl,
)
from i2vbench.datasets.how2qa import load_how2qa_csv
from i2vbench.datasets.kinetics import load_kinetics_csv, read_label_map
from i2vbench.datasets.msrvtt import load_mc_jsonl, load_retrieval_csv, load_video_list_csv
from i2vbench.datasets.msvd_qa import load_msvd_qa_json
from i2vbench.datasets.nextqa import load_nextqa_csv
from i2vbench.datasets.ssv2 import load_ssv2_json, read_ssv2_labels
from i2vbench.datasets.tao import load_tao_gt
from i2vbench.datasets.vidstg import load_vidstg
from i2vbench.errors import BenchError
from i2vbench.metrics.evaluate import evaluate


def _lines(p) -> list[str]:
    return p.read_bytes().decode("utf-8").splitlines()


def _quiet(fn, *args):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn(*args)
    return out, [str(w.message) for w in caught]


# ------------------------------------------------------------------------ Charades-STA

def test_charades_sta_test_txt_with_csv_durations(annotations):
    d = annotations / "charades_sta"
    raw = _lines(d / "charades_sta_test.txt")
    durs = load_durations(d / "Charades_v1_test.csv")
    with (d / "Charades_v1_test.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))  # descriptions hold quoted commas and newlines; CRLF
    assert durs == {r["id"]: float(r["length"]) for r in rows}
    moments, warned = _quiet(load_charades_sta, d / "charades_sta_test.txt", durs)
    assert len(moments) == len(raw) == 40 and [m.qid for m in moments] == [f"test{i}" for i in range(40)]
    assert moments[0] == Moment("test0", "3MSZA", "person turn a light on.", 24.3, 30.4, 30.96)
    n_past = sum(float(ln.split("##")[0].split()[2]) > durs[ln.split()[0]] for ln in raw)
    assert all(m.end <= m.duration for m in moments)
    assert (f"clipped {n_past} " in warned[0]) if n_past else not warned


def test_charades_sta_train_drops_the_inverted_lines(annotations):
    d = annotations / "charades_sta"
    raw = _lines(d / "charades_sta_train.txt")  # the first 30 lines + the 4 with start > end
    moments, warned = _quiet(load_charades_sta, d / "charades_sta_train.txt")
    assert len(raw) == 34 and len(moments) == 30
    assert warned == [f"{d / 'charades_sta_train.txt'}: dropped 4 with start > end (lines 31, 32, 33, 34)"]
    durs = load_durations(d / "charades.json")  # VSLNet's json of durations, keyed by video
    assert durs == {k: v["duration"] for k, v in json.loads((d / "charades.json").read_text()).items()}
    with_durs, _ = _quiet(load_charades_sta, d / "charades_sta_train.txt", durs)
    assert all(m.end <= m.duration for m in with_durs)


def test_charades_sta_other_releases_agree(annotations):
    d = annotations / "charades_sta"
    ours, _ = _quiet(load_charades_sta, d / "charades_sta_test.txt", d / "Charades_v1_test.csv")
    theirs = load_moment_jsonl(d / "cgdetr_tvr_format" / "charades_sta_test_tvr_format.jsonl")
    assert theirs[0].qid == "12404"
    assert [(m.vid, m.query, m.windows, m.duration) for m in ours] == \
        [(m.vid, m.query, m.windows, m.duration) for m in theirs]
    unclipped, _ = _quiet(load_charades_sta, d / "charades_sta_test.txt")
    tf = json.loads((d / "tfvtg" / "charades_test.json").read_text())
    flat = [(v, s, tuple(w)) for v, r in tf.items() for s, w in zip(r["sentences"], r["timestamps"], strict=True)]
    assert sorted(flat) == sorted((m.vid, m.query, m.windows[0]) for m in unclipped)


def test_charades_sta_as_tvg_gt(annotations, tmp_path):
    d = annotations / "charades_sta"
    moments, _ = _quiet(load_charades_sta, d / "charades_sta_test.txt", d / "Charades_v1_test.csv")
    pred = [{"qid": m.qid, "pred_relevant_windows": [[m.start, m.end, 1.0]]} for m in moments]
    pred[0]["pred_relevant_windows"] = [[0.0, 0.1, 1.0]]
    (tmp_path / "p.jsonl").write_text("".join(json.dumps(p) + "\n" for p in pred))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = evaluate("tvg", d / "charades_sta_test.txt", tmp_path / "p.jsonl",
                     durations=d / "Charades_v1_test.csv")
    assert m["R1@0.7"] == pytest.approx(100 * 39 / 40)


# ------------------------------------------------------------------------ VAR

def test_kinetics_csv_quoted_labels(annotations, tmp_path):
    k = annotations / "kinetics400"
    with (k / "kinetics-400_val.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    gt = load_kinetics_csv(k / "kinetics-400_val.csv", k / "label_map_k400.txt")
    assert gt.ids == [r["youtube_id"] for r in rows] and len(gt.classes) == 400
    assert gt.classes == read_label_map(k / "label_map_k400.txt") == read_label_map(k / "kinetics_400_labels.csv")
    assert [gt.classes[i] for i in gt.labels] == [r["label"] for r in rows]
    assert gt.classes[gt.labels[gt.ids.index("--nQbRBEz2s")]] == "air drumming"
    scores = np.eye(400, dtype=np.float32)[gt.labels]
    scores[:10] = np.roll(scores[:10], 1, axis=1)
    np.save(tmp_path / "s.npy", scores)
    m = evaluate("var", k / "kinetics-400_val.csv", tmp_path / "s.npy", label_map=k / "label_map_k400.txt")
    assert m["Top-1"] == pytest.approx(100 * (len(rows) - 10) / len(rows))


def test_ssv2_templates_with_brackets(annotations, tmp_path):
    s = annotations / "ssv2"
    raw = json.loads((s / "something-something-v2-validation.json").read_text())
    gt = load_ssv2_json(s / "something-something-v2-validation.json")
    labels = read_ssv2_labels(s / "something-something-v2-labels.json")
    assert labels == read_label_map(s / "label_map.txt") and len(labels) == 174
    assert gt.ids == [r["id"] for r in raw] and sorted(gt.labels.tolist()) == list(range(174))
    assert [gt.classes[i] for i in gt.labels] == [r["template"].replace("[", "").replace("]", "") for r in raw]
    np.save(tmp_path / "s.npy", np.eye(174, dtype=np.float32)[gt.labels])
    assert evaluate("var", s / "something-something-v2-validation.json", tmp_path / "s.npy")["Top-1"] == 100.0


# ------------------------------------------------------------------------ VideoQA

def test_nextqa_csvs(annotations, tmp_path):
    for split in ("val", "test"):
        p = annotations / "nextqa" / f"{split}.csv"
        with p.open(newline="") as f:
            rows = list(csv.DictReader(f))
        items = load_nextqa_csv(p)
        assert len(items) == len(rows) and all(len(it.options) == 5 for it in items)
        assert Counter(it.qtype for it in items) == Counter(r["type"] for r in rows)
        assert [it.answer for it in items] == [int(r["answer"]) for r in rows]
    res = {it.key: {"prediction": it.answer if i % 3 else (it.answer + 1) % 5} for i, it in enumerate(items)}
    (tmp_path / "r.json").write_text(json.dumps(res))
    assert evaluate("videoqa", p, tmp_path / "r.json")["Acc"] == pytest.approx(100 * (len(items) - 34) / len(items))


def test_msrvtt_files(annotations, tmp_path):
    m = annotations / "msrvtt"
    pairs = load_retrieval_csv(m / "MSRVTT_JSFUSION_test.csv")
    assert len(pairs) == 50 and pairs[0] == ("video9770", "a person is connecting something to system")
    assert load_video_list_csv(m / "MSRVTT_train.9k.csv") == _lines(m / "MSRVTT_train.9k.csv")[1:]
    mc = load_mc_jsonl(m / "msrvtt_mc_test.jsonl")
    raw = [json.loads(x) for x in _lines(m / "msrvtt_mc_test.jsonl")]
    assert [it.answer for it in mc] == [int(r["answer"]) for r in raw]  # answers are digit strings
    (tmp_path / "p.jsonl").write_text("".join(json.dumps({"qid": r["qid"], "prediction": int(r["answer"])}) + "\n"
                                              for r in raw))
    assert evaluate("videoqa", m / "msrvtt_mc_test.jsonl", tmp_path / "p.jsonl") == {"Acc": 100.0}
    np.save(tmp_path / "sim.npy", np.eye(50, dtype=np.float32))
    assert evaluate("vtr", m / "MSRVTT_JSFUSION_test.csv", tmp_path / "sim.npy")["t2v/R@1"] == 100.0


def test_how2qa_crlf_and_non_ascii(annotations, tmp_path):
    h = annotations / "how2qa"
    val = load_how2qa_csv(h / "how2QA_val_release.csv")
    test = load_how2qa_csv(h / "how2QA_test_public_release.csv")
    assert b"\r\n" in (h / "how2QA_test_public_release.csv").read_bytes()
    assert (len(val), len(test)) == (30, 33)  # no header row to swallow; test: 30 + the 3 non-ASCII rows
    assert val[0].options[val[0].answer] == "1" and val[0].question == "how many knife is there?"
    assert all(not o.endswith("\r") for it in test for o in it.options)
    assert any("Pokémon" in " ".join(it.options) + it.question for it in test)
    (tmp_path / "r.json").write_text(json.dumps({it.key: it.options[it.answer] for it in test}))
    assert evaluate("videoqa", h / "how2QA_test_public_release.csv", tmp_path / "r.json") == {"Acc": 100.0}


def test_msvd_qa_json(annotations, tmp_path):
    p = annotations / "msvd_qa" / "msvd_test_qa_encode.json"
    recs = json.loads(p.read_text())
    items = load_msvd_qa_json(p)
    assert [it.key for it in items] == [str(r["id"]) for r in recs]
    assert items[0].answer == "someone" and items[0].video == "vid1451"
    (tmp_path / "r.json").write_text(json.dumps({str(r["id"]): r["answer"] for r in recs}))
    assert evaluate("videoqa", p, tmp_path / "r.json") == {"Acc": 100.0}


# ------------------------------------------------------------------------ STVG, OV-MOT

def test_vidstg_original_files(annotations):
    for split in ("test", "val"):
        p = annotations / "vidstg" / f"{split}_annotations.json"
        raw = json.loads(p.read_text())
        ann = load_vidstg(p)
        assert len(ann) == sum(len(e["questions"]) + len(e["captions"]) for e in raw)
        assert (ann.qtypes == "declarative").sum() == sum(len(e["captions"]) for e in raw)
        assert not ann.has_boxes
    assert ann.meta["format"] == "vidstg"


def test_tao_demo_file(annotations):
    gt = load_tao_gt(annotations / "tao" / "mmtracking_demo_tao_data" / "ann.json")
    assert gt.evaluated_category_ids == [805] and len(gt.box_frame) == 4


def test_excerpts_are_not_trusted_gt(annotations):
    """An excerpt has an official file's name but not its bytes: a submission on it is not verified."""
    from i2vbench.results.trusted import OFFICIAL

    registered = {d for files in OFFICIAL.values() for d in files}
    import hashlib

    for p in annotations.rglob("*"):
        if p.is_file() and p.name != "SOURCE.md":
            assert hashlib.sha256(p.read_bytes()).hexdigest() not in registered or p.name in (
                "label_map_k400.txt", "kinetics_400_labels.csv", "something-something-v2-labels.json",
                "label_map.txt", "ann.json"), p


def test_loaders_refuse_a_missing_file(annotations):
    with pytest.raises(BenchError):
        load_nextqa_csv(annotations / "nextqa" / "train.csv")
