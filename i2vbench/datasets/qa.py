"""The question record every VideoQA loader returns (NExT-QA, MSRVTT-MC, How2QA, MSVD-QA).

It lives with the loaders, not with the metric: loaders produce it, the metric reads it, and
neither imports the other's module for it.
"""

from __future__ import annotations

from typing import NamedTuple


class QAItem(NamedTuple):
    """One GT question: ``answer`` is an option index (multiple choice) or a string (open-ended)."""

    key: str
    answer: int | str
    qtype: str | None
    video: str
    question: str
    options: tuple[str, ...] | None
    span: tuple[float, float] | None = None  # the segment asked about, in seconds (How2QA's [start:end])
