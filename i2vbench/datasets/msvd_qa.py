"""MSVD-QA open-ended annotations (Xu et al. 2017), in the two forms released copies use.

* json (all-in-one's ``msvd_test_qa_encode.json``): a list of ``{answer, id, question, video_id
  (int), ...}``; a question is keyed by ``id``. ``video_id`` N is clip ``vidN`` of
  ``msvd_youtube_mapping.txt``.
* csv (the NExT-QA family: doc-doc/HQGA ``dataset/msvd/{val,test}.csv``): header
  ``video,width,height,question,answer,qid``, the answer a word; a question is keyed by ``qid``
  (``eval_oe.py``: ``str(row['qid'])``). Its models predict an index into the answer vocabulary
  ``ans_word.json`` with ``'<unk>'`` prepended (index 0 = out of vocabulary), see
  :func:`load_answer_vocab`.

Answers are single words from an open vocabulary (the top-1000 answer set covers ~91% of test
answers), so they stay strings.
"""

from __future__ import annotations

from pathlib import Path

from i2vbench.datasets.qa import QAItem
from i2vbench.datasets.registry import register_dataset
from i2vbench.errors import BenchError, where
from i2vbench.io import LocatedCsv, open_text, read_json, require_file

CSV_COLUMNS = ("video", "question", "answer", "qid")


def load_msvd_qa_json(path: str | Path) -> list:

    p = Path(path)
    data = read_json(p, "MSVD-QA json")
    if not isinstance(data, list):
        raise BenchError(f"{p}: expected a list of {{answer, id, question, video_id}} records")
    items, seen = [], set()
    for i, r in enumerate(data):
        if not isinstance(r, dict) or "id" not in r or not isinstance(r.get("answer"), str):
            raise BenchError(f"{where(p, key=f'[{i}]')}: expected {{answer: str, id, question, video_id}}")
        key = str(r["id"])
        if key in seen:
            raise BenchError(f"{where(p, key=f'[{i}]')}: duplicate id {key}")
        seen.add(key)
        items.append(QAItem(key, r["answer"], None, f"vid{r.get('video_id')}", str(r.get("question", "")), None))
    return items


def load_msvd_qa_csv(path: str | Path) -> list:
    """One QAItem per csv row (key = qid, qtype = the question's first word, as ``eval_oe.py`` types it)."""
    import csv


    p = require_file(path, "MSVD-QA csv")
    items, seen = [], set()
    with open_text(p) as f:
        reader = LocatedCsv(csv.reader(f), p)
        header = next(reader, [])
        missing = [c for c in CSV_COLUMNS if c not in header]
        if missing:
            raise BenchError(f"{where(p, 1)}: MSVD-QA csv header lacks {', '.join(missing)} "
                             "(expected video,width,height,question,answer,qid)")
        iv, iq, ia, iid = (header.index(c) for c in CSV_COLUMNS)
        for n, r in enumerate(reader, start=2):
            if not r:
                continue
            if len(r) != len(header):
                raise BenchError(f"{where(p, n)}: expected {len(header)} fields, got {len(r)}")
            try:
                key = str(int(r[iid]))
            except ValueError:
                raise BenchError(f"{where(p, n)}: qid {r[iid]!r} is not an integer") from None
            if key in seen:
                raise BenchError(f"{where(p, n)}: duplicate qid {key}")
            seen.add(key)
            question = r[iq]
            items.append(QAItem(key, r[ia], question.split(" ")[0], r[iv], question, None))
    return items


def load_answer_vocab(path: str | Path, unk_first: bool = True) -> list[str]:
    """The answer vocabulary a prediction index points into.

    ``ans_word.json`` (a json list) or a text file of one answer per line (``msvd_answer_set.txt``).
    With ``unk_first`` (HQGA's dataloader: ``['<unk>'] + ans_set``), index 0 is the out-of-vocabulary
    answer, which is never correct, and index i is the file's (i-1)-th answer.
    """
    p = require_file(path, "answer vocabulary")
    if p.suffix.lower() == ".json":
        words = read_json(p, "answer vocabulary json")
        if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
            raise BenchError(f"{p}: expected a json list of answer strings")
    else:
        try:
            words = [line.rstrip("\r\n") for line in p.read_text(encoding="utf-8").splitlines()]
        except UnicodeDecodeError as e:
            raise BenchError(f"{p}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    if not words:
        raise BenchError(f"{p}: empty answer vocabulary")
    return (["<unk>"] if unk_first else []) + list(words)


def load_youtube_mapping(path: str | Path) -> dict[str, str]:
    """``msvd_youtube_mapping.txt`` (``<clip name> vid<N>`` a line) as ``{"vid<N>": clip name}``:
    the QA files name videos ``vid<N>``, the video files are named by clip."""
    p = require_file(path, "MSVD youtube mapping")
    out: dict[str, str] = {}
    with open_text(p) as f:
        for n, line in enumerate(f, start=1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 2 or not parts[1].startswith("vid") or not parts[1][3:].isdigit():
                raise BenchError(f"{where(p, n)}: expected '<clip name> vid<N>', got {line.strip()!r}")
            if parts[1] in out:
                raise BenchError(f"{where(p, n)}: {parts[1]} is mapped twice")
            out[parts[1]] = parts[0]
    return out


register_dataset("msvd-qa", ("videoqa",), "MSVD-QA: open-ended QA json (answer strings) or NExT-QA-family csv (+ answer vocabulary)")
