"""How2QA annotations (ych133/How2R-and-How2QA ``how2QA_{val,test_public}_release.csv``).

No header; 7 columns ``youtube_id, "[start:end]", wrong1, wrong2, wrong3, question, correct``
(the correct answer is always last). Lines may end in CRLF and fields may be quoted, so a real
csv parser reads them. A question is keyed by its 0-based row number (the file has no ids);
its options are ``(wrong1, wrong2, wrong3, correct)``, so an index prediction means that order
— predicting the answer string is the robust form.
"""

from __future__ import annotations

import csv
from pathlib import Path

from i2vbench.datasets.qa import QAItem
from i2vbench.datasets.registry import register_dataset
from i2vbench.errors import BenchError, where
from i2vbench.io import LocatedCsv, open_text, require_file


def parse_span(text: str) -> tuple[float, float]:
    """``"[7.2:18.0]"`` → ``(7.2, 18.0)`` seconds."""
    inner = text.strip()
    if not (inner.startswith("[") and inner.endswith("]")) or ":" not in inner:
        raise ValueError(text)
    a, b = inner[1:-1].split(":", 1)
    return float(a), float(b)


def load_how2qa_csv(path: str | Path) -> list:

    p = require_file(path, "How2QA csv")
    items = []
    with open_text(p) as f:
        for n, row in enumerate(LocatedCsv(csv.reader(f), p), start=1):
            if not row:
                continue
            if len(row) != 7:
                raise BenchError(f"{where(p, n)}: expected 7 fields (youtube_id, [start:end], wrong1, "
                                 f"wrong2, wrong3, question, correct_answer), got {len(row)}")
            try:
                span = parse_span(row[1])
            except ValueError:
                raise BenchError(f"{where(p, n)}: time span {row[1]!r} is not of the form [start:end]") from None
            options = (row[2], row[3], row[4], row[6])
            items.append(QAItem(str(len(items)), 3, None, row[0], row[5], options, span))
    return items


register_dataset("how2qa", ("videoqa",), "How2QA: 4-way multiple-choice csv (no header)")
