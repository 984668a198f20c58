"""MSVD-QA open-ended annotations (Xu et al. 2017; all-in-one's ``msvd_test_qa_encode.json``).

A json list of ``{answer, id, question, video_id (int), ...}``; a question is keyed by ``id``.
``video_id`` N is clip ``vidN`` of ``msvd_youtube_mapping.txt``. Answers are single words from
an open vocabulary (the top-1000 answer set covers ~91% of test answers), so they stay strings.
"""

from __future__ import annotations

from pathlib import Path

from i2vbench.datasets.registry import register_dataset
from i2vbench.errors import BenchError, where
from i2vbench.io import read_json


def load_msvd_qa_json(path: str | Path) -> list:
    from i2vbench.metrics.videoqa import QAItem

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


register_dataset("msvd-qa", ("videoqa",), "MSVD-QA: open-ended QA json (answer strings)")
