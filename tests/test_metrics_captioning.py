"""Captioning: our wrapper equals pycocoevalcap's scorers called as coco-caption's COCOEvalCap does.

The reference is pycocoevalcap itself, called live (it is a dependency of the package): the
scorers directly, and ``bench eval --engine official``, which runs COCOEvalCap.evaluate's loop
(tokenise refs and candidates separately, then each scorer's compute_score) on the same files;
fractions there, percent here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from i2vbench.errors import BenchError
from i2vbench.metrics.captioning import METRICS, caption_metrics, score_tokenized, tokenize
from i2vbench.metrics.evaluate import evaluate

DATA = Path(__file__).parent / "data" / "captioning"


def test_cli_all_metrics_equal_pycocoevalcap_in_percent(bench):
    # the METEOR runs of this file (~15-30 s of Java start-up each on a busy 2-core machine): ours and
    # the official loop side by side (--engine official) on the same files
    code, out, err = bench("eval", "--task", "captioning", "--gt", str(DATA / "msrvtt_captions.json"),
                           "--pred", str(DATA / "cands.json"), "--option", "split=test", "--json",
                           "--engine", "official")
    assert code == 0, err
    got = json.loads(out)
    assert list(got["ours"]) == list(got["official"]) == list(METRICS)
    for k, v in got["official"].items():
        assert got["ours"][k] == pytest.approx(v, abs=1e-9), k
    assert 100 < got["official"]["CIDEr"] < 200  # percent: CIDEr 1.2668 -> 126.68


def test_msrvtt_layout_and_split_select_the_same_references():
    from i2vbench.datasets.msrvtt import load_caption_json

    plain = load_caption_json(DATA / "refs.json")
    assert load_caption_json(DATA / "msrvtt_captions.json", "test") == plain
    assert "video0" in load_caption_json(DATA / "msrvtt_captions.json")  # no split: every video
    with pytest.raises(BenchError, match="no video has split 'val'"):
        load_caption_json(DATA / "msrvtt_captions.json", "val")


def test_wrapper_equals_direct_scorer_calls_without_meteor():
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    refs = json.loads((DATA / "refs.json").read_text())
    cands = json.loads((DATA / "cands.json").read_text())
    fast = ("BLEU1", "BLEU2", "BLEU3", "BLEU4", "ROUGE-L", "CIDEr")
    ours = caption_metrics(refs, cands, fast)
    tok = PTBTokenizer()
    gts = tok.tokenize({k: [{"caption": c} for c in v] for k, v in refs.items()})
    res = tok.tokenize({k: [{"caption": cands[k]}] for k in refs})
    bleu, _ = Bleu(4).compute_score(gts, res)
    direct = dict(zip(("BLEU1", "BLEU2", "BLEU3", "BLEU4"), bleu, strict=True))
    direct["ROUGE-L"] = Rouge().compute_score(gts, res)[0]
    direct["CIDEr"] = Cider().compute_score(gts, res)[0]
    for k in fast:
        assert ours[k] == pytest.approx(direct[k] * 100, abs=1e-9)
    # the order videos are listed in does not matter
    rev = caption_metrics(dict(reversed(refs.items())), cands, fast)
    assert rev == pytest.approx(ours, abs=1e-9)


def test_tokenizer_lowercases_and_drops_punctuation():
    assert tokenize({"v": ["A man, playing guitar."]}) == {"v": ["a man playing guitar"]}


def test_perfect_and_empty_candidates():
    refs = {"a": ["a dog runs on the grass", "the dog is running"], "b": ["a cat sleeps on a sofa"]}
    perfect = caption_metrics(refs, {"a": "a dog runs on the grass", "b": "a cat sleeps on a sofa"},
                              ("BLEU4", "ROUGE-L"))
    assert perfect["BLEU4"] == pytest.approx(100.0, abs=1e-4) and perfect["ROUGE-L"] == pytest.approx(100.0)
    empty = caption_metrics(refs, {"a": "", "b": "..."}, ("BLEU1", "ROUGE-L", "CIDEr"))  # scored, not an error
    assert empty == {"BLEU1": pytest.approx(0.0, abs=1e-6), "ROUGE-L": 0.0, "CIDEr": 0.0}


def test_errors(tmp_path):
    (tmp_path / "c.json").write_text(json.dumps({"video7010": "a man"}))
    with pytest.raises(BenchError, match="no candidate caption for 5 of 6 videos"):
        evaluate("captioning", DATA / "refs.json", tmp_path / "c.json")
    cands = json.loads((DATA / "cands.json").read_text())
    (tmp_path / "c.json").write_text(json.dumps(dict(cands, video0="x")))
    with pytest.raises(BenchError, match=r"\[video0\]: video not in the references .* \(split test\)"):
        evaluate("captioning", DATA / "msrvtt_captions.json", tmp_path / "c.json", split="test")
    (tmp_path / "c.json").write_text(json.dumps({"video7010": 3}))
    with pytest.raises(BenchError, match=r"\[video7010\]: expected one caption string"):
        evaluate("captioning", DATA / "refs.json", tmp_path / "c.json")
    (tmp_path / "r.json").write_text(json.dumps({"v": []}))
    with pytest.raises(BenchError, match=r"\[v\]: expected a non-empty list"):
        evaluate("captioning", tmp_path / "r.json", DATA / "cands.json")
    with pytest.raises(BenchError, match="unknown captioning metric"):
        caption_metrics({"v": ["x"]}, {"v": "x"}, ("SPICE",))


def test_coco_results_list_is_accepted(tmp_path):
    from i2vbench.metrics.captioning import load_candidates

    cands = json.loads((DATA / "cands.json").read_text())
    (tmp_path / "c.json").write_text(json.dumps([{"image_id": k, "caption": v} for k, v in cands.items()]))
    assert load_candidates(tmp_path / "c.json") == cands
    (tmp_path / "c.json").write_text(json.dumps([{"video_id": "a", "caption": "x"}] * 2))
    with pytest.raises(BenchError, match="second caption for video 'a'"):
        load_candidates(tmp_path / "c.json")


def test_score_tokenized_keeps_metric_order():
    gts = {"v": ["a dog runs"]}
    assert list(score_tokenized(gts, {"v": ["a dog runs"]}, ("CIDEr", "BLEU1"))) == ["BLEU1", "CIDEr"]


@given(st.dictionaries(st.from_regex(r"video[0-9]{1,4}", fullmatch=True),
                       st.lists(st.text(min_size=1, max_size=20), min_size=1, max_size=4), min_size=1, max_size=8),
       st.randoms(use_true_random=False))
@settings(max_examples=60, deadline=None)
def test_msrvtt_layout_round_trip_any_sentence_order(refs, rnd):
    # MSR-VTT's {videos, sentences} with sentences in any order reads back as {video: [captions]}
    # (captions of a video keep their relative order), and split selects exactly that split
    import tempfile

    from i2vbench.datasets.msrvtt import load_caption_json

    sents = [{"video_id": v, "caption": c, "order": i} for v, cs in refs.items() for i, c in enumerate(cs)]
    rnd.shuffle(sents)
    sents.sort(key=lambda s: s["order"])  # stable: per-video order kept, videos interleaved
    videos = [{"video_id": v, "split": "test"} for v in refs] + [{"video_id": "other", "split": "train"}]
    sents.append({"video_id": "other", "caption": "x"})
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "m.json"
        f.write_text(json.dumps({"videos": videos, "sentences": sents}))
        got = load_caption_json(f, "test")
    assert got == refs


def test_coco_caption_layout_is_read_as_is(tmp_path):
    """``{"images": [...], "annotations": [{image_id, caption}]}`` (captions_val2014.json's layout)."""
    from i2vbench.datasets.msrvtt import load_caption_json

    refs = json.loads((DATA / "refs.json").read_text())
    ids = {k: i for i, k in enumerate(refs)}
    coco = {"info": {}, "images": [{"id": ids[k], "file_name": f"{k}.mp4"} for k in refs],
            "annotations": [{"image_id": ids[k], "id": n, "caption": c}
                            for n, (k, caps) in enumerate((k, c) for k, c in refs.items()) for c in caps]}
    (tmp_path / "coco.json").write_text(json.dumps(coco))
    got = load_caption_json(tmp_path / "coco.json")
    assert got == {str(ids[k]): v for k, v in refs.items()}
    coco["images"].append({"id": 999})
    (tmp_path / "gap.json").write_text(json.dumps(coco))
    with pytest.raises(BenchError, match=r"gap.json \[images\[id=999\]\]: no caption"):
        load_caption_json(tmp_path / "gap.json")


def test_nlgeval_line_files_score_its_published_numbers(bench):
    """nlg-eval's examples (hyp.txt vs ref1.txt + ref2.txt), read as it reads them: the numbers its
    own test expects (5 places; there in fractions, here percent)."""
    d = DATA / "nlgeval"
    code, out, err = bench("eval", "--task", "captioning", "--gt", str(d / "ref1.txt"), "--gt", str(d / "ref2.txt"),
                           "--pred", str(d / "hyp.txt"), "--json")
    assert code == 0, err
    got = json.loads(out)
    published = {"BLEU1": 0.55, "BLEU2": 0.428174, "BLEU3": 0.284043, "BLEU4": 0.201143, "METEOR": 0.295797,
                 "ROUGE-L": 0.522104, "CIDEr": 1.242192}
    for k, v in published.items():
        assert got[k] / 100 == pytest.approx(v, abs=5e-6), k


def test_line_files_need_one_hypothesis_per_reference_line(tmp_path):
    d = DATA / "nlgeval"
    (tmp_path / "h.txt").write_text("only one line\n")
    with pytest.raises(BenchError, match=r"h.txt: 1 hypothesis lines but 2 reference lines"):
        evaluate("captioning", d / "ref1.txt", tmp_path / "h.txt", references=[d / "ref2.txt"])


def test_a_guessed_caption_format_is_named(tmp_path):
    (tmp_path / "refs.dat").write_text("a sentence\n")
    with pytest.raises(BenchError, match=r"guessed as json.*--format lines"):
        evaluate("captioning", tmp_path / "refs.dat", DATA / "cands.json")


def test_a_huge_candidate_is_refused_before_java_runs(tmp_path, bench):
    """A 5 MB candidate once killed METEOR's Java child while the parent waited for ever."""
    refs = {"v1": ["a man is cooking"], "v2": ["a dog runs"]}
    (tmp_path / "refs.json").write_text(json.dumps(refs))
    (tmp_path / "cands.json").write_text(json.dumps({"v1": "a " * 2_500_000, "v2": "a dog"}))
    code, _, err = bench("eval", "--task", "captioning", "--gt", str(tmp_path / "refs.json"),
                         "--pred", str(tmp_path / "cands.json"))
    assert code == 2 and "cands.json [v1]: a caption of 5000000 characters" in err
    (tmp_path / "hyp.txt").write_text("ok\n" + "b " * 6000 + "\n")
    (tmp_path / "ref.txt").write_text("ok\nb\n")
    code, _, err = bench("eval", "--task", "captioning", "--gt", str(tmp_path / "ref.txt"),
                         "--pred", str(tmp_path / "hyp.txt"))
    assert code == 2 and "hyp.txt [line 2]: a caption of 11999 characters" in err


def test_meteor_that_never_answers_is_stopped(monkeypatch):
    """The watchdog: a METEOR child that hangs is killed and the user told, not waited on."""
    import threading

    from i2vbench.errors import BenchError
    from i2vbench.metrics import captioning

    class Hanging:
        def __init__(self):
            self.killed = threading.Event()
            self.meteor_p = self

        def kill(self):
            self.killed.set()

        def compute_score(self, gts, res):
            self.killed.wait(30)
            raise OSError("pipe closed")

    monkeypatch.setattr(captioning, "meteor_timeout", lambda n: 0.2)
    m = Hanging()
    with pytest.raises(BenchError, match="did not finish within 0 s; stopped it"):
        captioning._meteor_with_timeout(m, {"a": ["x"]}, {"a": ["x"]})
    assert m.killed.is_set()
