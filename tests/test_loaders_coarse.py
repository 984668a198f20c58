"""GT loaders of the coarse-grained tasks on the real annotation files and on malformed input.

Expected counts are those stated (and re-checked) in each folder's SOURCE.md.
"""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from i2vbench.datasets.how2qa import load_how2qa_csv, parse_span
from i2vbench.datasets.kinetics import load_kinetics_csv, read_label_map
from i2vbench.datasets.msrvtt import load_caption_json, load_mc_jsonl, load_retrieval_csv
from i2vbench.datasets.msvd_qa import load_msvd_qa_json
from i2vbench.datasets.nextqa import load_nextqa_csv
from i2vbench.datasets.ssv2 import load_ssv2_json, read_ssv2_labels
from i2vbench.errors import BenchError


def test_registered_datasets(bench):
    from i2vbench.datasets.registry import load_all

    reg = load_all()
    for name, task in (("msrvtt", "vtr"), ("msrvtt", "captioning"), ("msrvtt-mc", "videoqa"),
                       ("kinetics400", "var"), ("ssv2", "var"), ("nextqa", "videoqa"),
                       ("msvd-qa", "videoqa"), ("how2qa", "videoqa")):
        assert task in reg.get(name).tasks
    code, out, _ = bench("list", "datasets")
    assert code == 0 and "how2qa" in out and "kinetics400" in out


def test_kinetics_val(full_annotations):
    k = full_annotations / "kinetics400"
    gt = load_kinetics_csv(k / "kinetics-400_val.csv")
    assert len(gt.ids) == 19906 and len(set(gt.ids)) == 19906
    assert len(gt.classes) == 400 and gt.labels.dtype == np.int64
    assert gt.classes == read_label_map(k / "label_map_k400.txt") == read_label_map(k / "kinetics_400_labels.csv")
    counts = np.bincount(gt.labels)
    assert counts.min() == 46 and counts.max() == 50
    # a quoted label with spaces parsed as one field
    i = gt.ids.index("--nQbRBEz2s")
    assert gt.classes[gt.labels[i]] == "air drumming"
    assert "massaging person's head" in gt.classes


def test_kinetics_errors(tmp_path):
    f = tmp_path / "k.csv"
    f.write_text("label,youtube_id,time_start,time_end,split\nabseiling,a,0,10,val\nflying,b,0,10,val\n")
    (tmp_path / "map.txt").write_text("abseiling\n")
    with pytest.raises(BenchError, match=r"k.csv:3: label 'flying' is not in the label map"):
        load_kinetics_csv(f, tmp_path / "map.txt")
    f.write_text("name,id\nx,y\n")
    with pytest.raises(BenchError, match=r"k.csv:1: expected a header with label and youtube_id"):
        load_kinetics_csv(f)
    (tmp_path / "m.csv").write_text("id,name\n0,a\n2,b\n")
    with pytest.raises(BenchError, match="ids must be exactly 0..1"):
        read_label_map(tmp_path / "m.csv")
    (tmp_path / "d.txt").write_text("a\na\n")
    (tmp_path / "k2.csv").write_text("label,youtube_id\na,x\n")
    with pytest.raises(BenchError, match="class 'a' appears twice"):
        load_kinetics_csv(tmp_path / "k2.csv", tmp_path / "d.txt")


def test_ssv2_validation(full_annotations):
    s = full_annotations / "ssv2"
    gt = load_ssv2_json(s / "something-something-v2-validation.json")
    assert len(gt.ids) == 24777 and len(set(gt.ids)) == 24777
    assert len(gt.classes) == 174 and set(np.unique(gt.labels)) == set(range(174))
    assert read_ssv2_labels(s / "something-something-v2-labels.json") == read_label_map(s / "label_map.txt")
    assert gt.ids[0] == "74225" and gt.classes[gt.labels[0]] == "Spinning something that quickly stops spinning"


def test_ssv2_errors(tmp_path):
    v = tmp_path / "val.json"
    v.write_text(json.dumps([{"id": "1", "template": "Holding [something]"}]))
    with pytest.raises(BenchError, match="needs its labels json"):
        load_ssv2_json(v)
    (tmp_path / "something-something-v2-labels.json").write_text(json.dumps({"Closing something": "0"}))
    with pytest.raises(BenchError, match=r"id=1\]: template 'Holding something' is not in"):
        load_ssv2_json(v)
    v.write_text(json.dumps([{"id": "1"}]))
    with pytest.raises(BenchError, match="a test split has no labels"):
        load_ssv2_json(v)


def test_nextqa(full_annotations):
    for split, n, n_videos in (("val", 4996, 570), ("test", 8564, 1000)):
        items = load_nextqa_csv(full_annotations / "nextqa" / f"{split}.csv")
        assert len(items) == n and len({it.video for it in items}) == n_videos
        assert len({it.key for it in items}) == n  # "<video>_<qid>" is unique, qid alone is not
        assert all(len(it.options) == 5 and 0 <= it.answer <= 4 for it in items)
    types = Counter(it.qtype for it in load_nextqa_csv(full_annotations / "nextqa" / "val.csv"))
    assert types == {"CW": 1924, "TN": 895, "CH": 683, "TC": 663, "DO": 305, "DL": 295, "DC": 177, "TP": 54}


def test_nextqa_errors(tmp_path):
    f = tmp_path / "n.csv"
    f.write_text("video,question,answer,type,a0,a1,a2,a3,a4\n")
    with pytest.raises(BenchError, match=r"n.csv:1: NExT-QA header lacks qid"):
        load_nextqa_csv(f)
    head = "video,frame_count,width,height,question,answer,qid,type,a0,a1,a2,a3,a4\n"
    f.write_text(head + "1,1,1,1,q,7,0,CW,a,b,c,d,e\n")
    with pytest.raises(BenchError, match=r"n.csv:2: answer 7 is not an index"):
        load_nextqa_csv(f)
    f.write_text(head + "1,1,1,1,q,0,0,CW,a,b,c,d,e\n1,1,1,1,q,0,0,CW,a,b,c,d,e\n")
    with pytest.raises(BenchError, match=r"n.csv:3: duplicate question 1_0"):
        load_nextqa_csv(f)


def test_msrvtt_files(full_annotations):
    m = full_annotations / "msrvtt"
    pairs = load_retrieval_csv(m / "MSRVTT_JSFUSION_test.csv")
    assert len(pairs) == 1000 and len({v for v, _ in pairs}) == 1000
    assert pairs[0] == ("video9770", "a person is connecting something to system")
    mc = load_mc_jsonl(m / "msrvtt_mc_test.jsonl")
    assert len(mc) == 2990 and all(len(it.options) == 5 for it in mc)
    assert Counter(it.answer for it in mc) == {0: 558, 1: 596, 2: 625, 3: 622, 4: 589}
    assert {v for v, _ in pairs} <= {it.video for it in mc}
    with pytest.raises(BenchError, match="expected a header with video_id and sentence"):
        load_retrieval_csv(m / "MSRVTT_train.9k.csv")  # a video list, no captions


def test_msrvtt_mc_errors(tmp_path):
    f = tmp_path / "mc.jsonl"
    f.write_text('{"qid": "mc0", "clip_name": "v", "answer": "5", "options": ["a", "b"]}\n')
    with pytest.raises(BenchError, match=r"mc.jsonl:1: answer 5 is outside options\[0..1\]"):
        load_mc_jsonl(f)
    f.write_text('{"qid": "mc0", "answer": "0", "options": ["a"]}\n')
    with pytest.raises(BenchError, match="missing field 'clip_name'"):
        load_mc_jsonl(f)


def test_caption_json_errors(tmp_path):
    f = tmp_path / "c.json"
    f.write_text(json.dumps({"sentences": [{"video_id": "v"}]}))
    with pytest.raises(BenchError, match=r"\[sentences\[0\]\]: expected \{video_id, caption: str\}"):
        load_caption_json(f)
    f.write_text("[1, 2]")
    with pytest.raises(BenchError, match="expected {video_id: \\[sentences\\]}"):
        load_caption_json(f)


def test_how2qa(full_annotations):
    val = load_how2qa_csv(full_annotations / "how2qa" / "how2QA_val_release.csv")
    test = load_how2qa_csv(full_annotations / "how2qa" / "how2QA_test_public_release.csv")  # CRLF, UTF-8
    assert (len(val), len(test)) == (2852, 2937)
    assert len({it.video for it in val}) == 1166 and len({it.video for it in test}) == 1100
    assert val[0].options[val[0].answer] == "1" and val[0].question == "how many knife is there?"
    assert all(not o.endswith("\r") for it in test for o in it.options)
    assert any("Pokémon" in " ".join(it.options) + it.question for it in test)
    assert parse_span("[7.2:18.0]") == (7.2, 18.0)


def test_how2qa_errors(tmp_path):
    f = tmp_path / "h.csv"
    f.write_text("a,[1:2],x,y,z,q,ok\nb,1-2,x,y,z,q,ok\n")
    with pytest.raises(BenchError, match=r"h.csv:2: time span '1-2'"):
        load_how2qa_csv(f)
    f.write_text("a,[1:2],x,y\n")
    with pytest.raises(BenchError, match=r"h.csv:1: expected 7 fields"):
        load_how2qa_csv(f)


def test_msvd_qa(full_annotations, tmp_path):
    items = load_msvd_qa_json(full_annotations / "msvd_qa" / "msvd_test_qa_encode.json")
    assert len(items) == 13157 and len({it.video for it in items}) == 504
    assert items[0].key == "37348" and items[0].answer == "someone" and items[0].video == "vid1451"
    f = tmp_path / "m.json"
    f.write_text(json.dumps([{"answer": "a", "id": 1}, {"answer": "b", "id": 1}]))
    with pytest.raises(BenchError, match=r"\[\[1\]\]: duplicate id 1"):
        load_msvd_qa_json(f)
    f.write_text(json.dumps([{"answer": 3, "id": 1}]))
    with pytest.raises(BenchError, match="expected {answer: str"):
        load_msvd_qa_json(f)
