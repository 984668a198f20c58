"""Charades-STA loaders on the real annotation files and on small broken ones."""

from __future__ import annotations

import json
import warnings

import pytest

from i2vbench.datasets.charades_sta import (
    Moment,
    load_charades_sta,
    load_durations,
    load_moment_jsonl,
    load_tvg_gt,
    moments_to_jsonl_rows,
    split_of,
)
from i2vbench.datasets.registry import load_all
from i2vbench.errors import BenchError


@pytest.fixture(scope="module")
def sta(full_annotations):
    return full_annotations / "charades_sta"


def _load(*args, **kw):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = load_charades_sta(*args, **kw)
    return out, [str(w.message) for w in caught]


def test_test_split_counts_qids_and_durations(sta):
    durs = load_durations(sta / "Charades_v1_test.csv")
    assert len(durs) == 1863 and durs["3MSZA"] == 30.96
    moments, warned = _load(sta / "charades_sta_test.txt", durs)
    assert len(moments) == 3720 and len({m.vid for m in moments}) == 1334
    assert [m.qid for m in moments[:2]] == ["test0", "test1"] and moments[-1].qid == "test3719"
    assert moments[0] == Moment("test0", "3MSZA", "person turn a light on.", 24.3, 30.4, 30.96)
    assert moments[0].windows == ((24.3, 30.4),)
    # 562 test windows end past the csv duration (by up to 1.5 s): clipped, and said so once
    assert len(warned) == 1 and "clipped 562 " in warned[0] and "dropped" not in warned[0]
    ako = [m for m in moments if m.vid == "AKO6M" and m.start == 12.7][0]
    assert (ako.end, ako.duration) == (18.58, 18.58)


def test_train_split_drops_the_four_inverted_lines(sta):
    raw = (sta / "charades_sta_train.txt").read_text().splitlines()
    assert len(raw) == 12408 and len({r.split()[0] for r in raw}) == 5338
    moments, warned = _load(sta / "charades_sta_train.txt")
    assert len(moments) == 12404 and len({m.vid for m in moments}) == 5336
    qids = {m.qid for m in moments}
    # UniVTG numbering: the 0-based line index, with gaps where lines were dropped
    assert {"train8251", "train8439", "train9622", "train9623"}.isdisjoint(qids)
    assert {"train0", "train8250", "train8252", "train12407"} <= qids
    assert warned == [f"{sta / 'charades_sta_train.txt'}: dropped 4 with start > end "
                      "(lines 8252, 8440, 9623, 9624)"]
    assert all(m.start < m.end and m.duration is None for m in moments)


def test_qids_are_univtgs(sta):
    """Records read from UniVTG's data/charades/metadata/charades_{train,test}.jsonl
    (syedtanzeelshaz/UniVTG @ 07b082bd, the released files): qid → (vid, window)."""
    univtg = {"train8250": ("R0OI6", (14.0, 25.4)), "train8252": ("TTRAJ", (6.9, 17.2)),
              "test2718": ("0O6RK", (0.6, 7.4)), "test2742": ("VJG6E", (0.0, 5.0)),
              "test2809": ("ME4YL", (2.7, 11.2))}  # UniVTG cut this query at its comma; we keep it
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = {m.qid: m for f in ("charades_sta_train.txt", "charades_sta_test.txt")
                for m in load_charades_sta(sta / f)}
    assert "train8251" not in ours  # UniVTG has no train8251 either (LEOL6 8.0 7.0, dropped)
    for qid, (vid, window) in univtg.items():
        assert (ours[qid].vid, ours[qid].windows[0]) == (vid, window)
    assert ours["test2809"].query == "tidying up,the person moves blanket."


def test_train_split_with_vslnet_json_durations(sta):
    durs = load_durations(sta / "charades.json")
    assert len(durs) == 9848
    moments, warned = _load(sta / "charades_sta_train.txt", durs)
    assert len(moments) == 12404
    # 1805 train lines end past the duration; 3 of them are among the 4 dropped inverted lines
    assert len(warned) == 1 and "dropped 4 with start > end" in warned[0] and "clipped 1802 " in warned[0]
    assert all(m.end <= m.duration for m in moments)


def test_txt_plus_csv_equals_cgdetr_jsonl(sta):
    """CG-DETR's moment_detr-format test file is the txt with ends clipped to the csv length."""
    ours, _ = _load(sta / "charades_sta_test.txt", sta / "Charades_v1_test.csv")
    theirs = load_moment_jsonl(sta / "cgdetr_tvr_format" / "charades_sta_test_tvr_format.jsonl")
    assert len(theirs) == 3720 and theirs[0].qid == "12404" and theirs[-1].qid == "16123"
    assert [(m.vid, m.query, m.windows, m.duration) for m in ours] == \
        [(m.vid, m.query, m.windows, m.duration) for m in theirs]


def test_tfvtg_json_matches_the_unclipped_txt(sta):
    ours, _ = _load(sta / "charades_sta_test.txt")
    data = json.loads((sta / "tfvtg" / "charades_test.json").read_text())
    flat = [(vid, s, tuple(w)) for vid, rec in data.items()
            for s, w in zip(rec["sentences"], rec["timestamps"], strict=True)]
    assert sorted(flat) == sorted((m.vid, m.query, m.windows[0]) for m in ours)


def test_load_tvg_gt_dispatches_on_suffix(sta):
    j = load_tvg_gt(sta / "cgdetr_tvr_format" / "charades_sta_test_tvr_format.jsonl")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = load_tvg_gt(sta / "charades_sta_test.txt", sta / "Charades_v1_test.csv")
    assert len(j) == len(t) == 3720 and j[0].qid == "12404" and t[0].qid == "test0"


def test_moment_jsonl_keeps_all_windows_and_round_trips(tmp_path):
    p = tmp_path / "gt.jsonl"
    rows = [{"qid": 3, "query": "q", "duration": 30, "vid": "V", "relevant_windows": [[0, 4], [10, 20.5]]},
            {"qid": "x", "query": "r", "vid": "W", "relevant_windows": [[6, 2]]}]
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.warns(UserWarning, match=r"1 GT window\(s\) with start > end, kept as written .* line 2"):
        ms = load_moment_jsonl(p)
    assert ms[0] == Moment("3", "V", "q", 0.0, 4.0, 30.0, ((0.0, 4.0), (10.0, 20.5)))
    assert ms[1].windows == ((6.0, 2.0),) and ms[1].duration is None  # kept as written
    assert moments_to_jsonl_rows(ms)[0] == {"qid": "3", "query": "q", "duration": 30.0, "vid": "V",
                                            "relevant_windows": [[0.0, 4.0], [10.0, 20.5]]}


def test_split_prefix_and_policy_on_small_file(tmp_path):
    p = tmp_path / "charades_sta_val.txt"
    p.write_text("A -1.0 5.0##neg start.\nA 3.0 3.0##empty.\nB 9.5 12.0##starts past the end.\n"
                 "B 1.0 9.5##ok.\n\n")
    ms, warned = _load(p, {"A": 10.0, "B": 9.0})
    assert split_of(p) == "val" and [m.qid for m in ms] == ["val0", "val3"]
    assert (ms[0].start, ms[0].end) == (0.0, 5.0)
    assert warned == [f"{p}: dropped 2 with an empty window after clipping (lines 2, 3); "
                      "clipped 1 kept windows ending past the video's duration to the duration; "
                      "moved 1 negative starts to 0"]
    with pytest.warns(UserWarning, match="dropped 2"):
        assert [m.qid for m in load_charades_sta(p, {"A": 10.0, "B": 9.0}, split="")] == ["0", "3"]


@pytest.mark.parametrize("text, message", [
    ("A 1.0 2.0 person.\n", r"x.txt:1: expected 'VID start end##sentence'"),
    ("A 1.0 2.0##ok.\nA 1.0##short.\n", r"x.txt:2: expected 'VID start end##sentence'"),
    ("A 1.0 two##bad.\n", r"x.txt:1: start/end must be numbers"),
    ("A 1.0 inf##bad.\n", r"x.txt:1: start/end must be numbers"),
    ("Z 1.0 2.0##no duration.\n", r"x.txt:1: video 'Z' has no duration"),
])
def test_malformed_txt_lines(tmp_path, text, message):
    p = tmp_path / "x.txt"
    p.write_text(text)
    with pytest.raises(BenchError, match=message):
        load_charades_sta(p, {"A": 10.0})


@pytest.mark.parametrize("text, message", [
    ('{"qid": 1, "vid": "V"}\n', r"gt.jsonl:1: missing key 'relevant_windows'"),
    ('{"qid": 1, "vid": "V", "relevant_windows": []}\n', r"gt.jsonl:1: 'relevant_windows' must be a non-empty"),
    ('{"qid": 1, "vid": "V", "relevant_windows": [[1, 2, 3]]}\n', r"gt.jsonl:1: each relevant window"),
    ('{"qid": 1, "vid": "V", "relevant_windows": [[1, 2]], "duration": "x"}\n', r"gt.jsonl:1: 'duration'"),
    ('{"qid": 1, "vid": "V", "relevant_windows": [[1, 2]]}\n{"qid": "1", "vid": "V", "relevant_windows": [[1, 2]]}\n',
     r"gt.jsonl:2: duplicate qid '1' \(first on line 1\)"),
])
def test_malformed_moment_jsonl(tmp_path, text, message):
    p = tmp_path / "gt.jsonl"
    p.write_text(text)
    with pytest.raises(BenchError, match=message):
        load_moment_jsonl(p)


def test_malformed_durations(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("id,length\nA,12.5\nB,long\n")
    with pytest.raises(BenchError, match=r"d.csv:3: video 'B': length 'long' is not a number"):
        load_durations(p)
    p.write_text("vid,seconds\nA,1\n")
    with pytest.raises(BenchError, match="columns 'id' and 'length'"):
        load_durations(p)
    j = tmp_path / "d.json"
    j.write_text('{"A": {"duration": -1}}')
    with pytest.raises(BenchError, match=r"d.json \[A\]: expected a non-negative duration"):
        load_durations(j)
    with pytest.raises(BenchError, match="durations file not found"):
        load_durations(tmp_path / "nope.csv")


def test_dataset_is_registered():
    spec = load_all().get("charades-sta")
    assert spec.tasks == ("tvg",)
