"""NExT-QA multiple-choice annotations (``val.csv`` / ``test.csv`` of doc-doc/NExT-QA).

Header ``video,frame_count,width,height,question,answer,qid,type,a0..a4``; ``answer`` indexes
a0..a4. A question is keyed ``"<video>_<qid>"`` exactly as NExT-QA's ``eval_mc.py`` builds it
(``str(row['video']) + '_' + str(row['qid'])`` on pandas-parsed integers); qid alone repeats
across videos. The type is kept as written (``TP`` is folded into ``TN`` by the metric).
"""

from __future__ import annotations

import csv
from pathlib import Path

from i2vbench.datasets.qa import QAItem
from i2vbench.datasets.registry import register_dataset
from i2vbench.errors import BenchError, where
from i2vbench.io import LocatedCsv, open_text, require_file

COLUMNS = ("video", "question", "answer", "qid", "type", "a0", "a1", "a2", "a3", "a4")

# eval_mc.py's types (TP is scored with TN)
QTYPES = ("CW", "CH", "TN", "TC", "TP", "DC", "DL", "DO")


def load_nextqa_csv(path: str | Path) -> list:
    """One :class:`~i2vbench.datasets.qa.QAItem` per row, in file order."""

    p = require_file(path, "NExT-QA csv")
    with open_text(p) as f:
        reader = LocatedCsv(csv.reader(f), p)
        header = next(reader, [])
        missing = [c for c in COLUMNS if c not in header]
        if missing:
            raise BenchError(f"{where(p, 1)}: NExT-QA header lacks {', '.join(missing)} "
                             "(expected video,frame_count,width,height,question,answer,qid,type,a0..a4)")
        iv, iq, ia, iid, it = (header.index(c) for c in ("video", "question", "answer", "qid", "type"))
        opts = [header.index(f"a{i}") for i in range(5)]
        width = len(header)
        items, seen = [], set()
        for n, r in enumerate(reader, start=2):
            if not r:
                continue
            if len(r) != width:
                raise BenchError(f"{where(p, n)}: expected {width} fields, got {len(r)}")
            try:
                key = f"{int(r[iv])}_{int(r[iid])}"
                answer = int(r[ia])
            except ValueError:
                raise BenchError(f"{where(p, n)}: video, qid and answer must be integers") from None
            if not 0 <= answer <= 4:
                raise BenchError(f"{where(p, n)}: answer {answer} is not an index into a0..a4")
            if r[it].strip() not in QTYPES:
                raise BenchError(f"{where(p, n)}: question type {r[it]!r} is not one of {', '.join(QTYPES)}")
            if key in seen:
                raise BenchError(f"{where(p, n)}: duplicate question {key}")
            seen.add(key)
            items.append(QAItem(key, answer, r[it].strip(), r[iv], r[iq], tuple(r[i] for i in opts)))
    return items


register_dataset("nextqa", ("videoqa",), "NExT-QA: multiple-choice csv (causal/temporal/descriptive types)")
