"""Charades-STA annotations: the original ``VID start end##sentence`` txt and moment_detr-style jsonl.

Policy for the original txt (the same as UniVTG's ``data/charades/metadata.py``, which wrote
the ``charades_{split}.jsonl`` files UniVTG and its successors evaluate against):

* ``qid`` is ``f"{split}{i}"`` with ``i`` the 0-based line index in the file, counting lines that
  are later dropped (so the 4 bad train lines leave gaps, e.g. no ``train8251``), and ``split``
  taken from a ``charades_sta_<split>.txt`` file name (``"test"`` → ``test0``, ``test1``, ...).
  Predictions written by UniVTG-style code can therefore be scored against the txt directly.
* a negative start becomes 0; when durations are given, an end past the video's duration is
  clipped to it (moment_detr/CG-DETR/UniVTG conversions all clip);
* a line whose window is then empty or inverted (``start >= end``) is dropped: the original
  train file has 4 lines with start > end (e.g. ``LEOL6 8.0 7.0``). CG-DETR's jsonl drops the
  same lines; VSLNet instead hand-edits them, which cannot be done by rule.
* the sentence is kept whole (UniVTG's script splits lines on ``,`` and so cut one test query,
  ``test2809``, to "tidying up"; the sentence is not used by the metric).

Each kind of change is counted in a single :func:`warnings.warn`, so nothing is altered silently.
Durations come from ``Charades_v1_{train,test}.csv`` (``id``, ..., ``length``) or VSLNet's
``charades.json`` (``{vid: {"duration": ...}}``).
"""

from __future__ import annotations

import csv
import math
import re
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from i2vbench.datasets.registry import register_dataset
from i2vbench.errors import BenchError, where
from i2vbench.io import LocatedCsv, iter_jsonl, open_text, read_json, read_text, require_file

Window = tuple[float, float]


@dataclass(frozen=True)
class Moment:
    """One grounding query: a sentence and the time window(s) of the video it describes.

    ``start``/``end`` are the first (for Charades-STA txt: the only) window; ``windows`` holds
    every GT window, since moment_detr-format GT may give several per query and the metric
    scores against the best-matching one. ``duration`` is ``None`` when it is not known.
    """

    qid: str
    vid: str
    query: str
    start: float
    end: float
    duration: float | None = None
    windows: tuple[Window, ...] = field(default=())

    def __post_init__(self) -> None:
        if not self.windows:
            object.__setattr__(self, "windows", ((self.start, self.end),))


def _parse_float(text: str) -> float:
    v = float(text)  # ValueError on junk, handled by callers
    if not math.isfinite(v):
        raise ValueError(text)
    return v


def load_durations(path: str | Path) -> dict[str, float]:
    """Video id → duration in seconds, from a Charades csv (``id``/``length`` columns) or VSLNet json."""
    p = require_file(path, "durations file")
    if p.suffix.lower() == ".json":
        data = read_json(p, "durations json")
        if not isinstance(data, dict):
            raise BenchError(f"{p}: expected a JSON object {{video_id: {{'duration': seconds}}}}")
        out: dict[str, float] = {}
        for vid, rec in data.items():
            d = rec.get("duration") if isinstance(rec, dict) else rec
            if isinstance(d, bool) or not isinstance(d, int | float) or not math.isfinite(d) or d < 0:
                raise BenchError(f"{where(p, key=vid)}: expected a non-negative duration, got {d!r}")
            out[str(vid)] = float(d)
        return out
    out = {}
    try:
        with open_text(p) as f:
            reader = LocatedCsv(csv.DictReader(f), p)
            cols = reader.fieldnames or []
            if "id" not in cols or "length" not in cols:
                raise BenchError(f"{p}: expected a Charades csv with columns 'id' and 'length', "
                                 f"got {', '.join(cols) or 'no header'}")
            for row in reader:
                line = reader.line_num  # physical line of the row's end (fields may span lines)
                try:
                    d = _parse_float(row["length"] or "")
                except ValueError:
                    raise BenchError(f"{where(p, line)}: video {row['id']!r}: length "
                                     f"{row['length']!r} is not a number") from None
                if d < 0:
                    raise BenchError(f"{where(p, line)}: video {row['id']!r}: negative length {d}")
                out[row["id"]] = d
    except UnicodeDecodeError:
        raise BenchError(f"{p}: not UTF-8 text; expected a Charades csv") from None
    except csv.Error as e:
        raise BenchError(f"{p}: malformed csv ({e})") from None
    return out


def _durations(durations: Mapping[str, float] | str | Path | None) -> Mapping[str, float] | None:
    if durations is None or isinstance(durations, Mapping):
        return durations
    return load_durations(durations)


def split_of(path: str | Path) -> str:
    """``charades_sta_test.txt`` → ``"test"``: the qid prefix UniVTG uses; ``""`` if the name says none."""
    m = re.search(r"charades_sta_([A-Za-z0-9]+)", Path(path).name)
    return m.group(1) if m else ""


def load_charades_sta(path: str | Path, durations: Mapping[str, float] | str | Path | None = None,
                      split: str | None = None) -> list[Moment]:
    """Read a Charades-STA txt, applying the module's documented clip/drop policy (with one warning)."""
    p = require_file(path, "Charades-STA annotation file")
    durs = _durations(durations)
    prefix = split_of(p) if split is None else split
    moments: list[Moment] = []
    inverted: list[int] = []  # line numbers with start > end as written
    emptied: list[int] = []  # lines whose window is empty as written or after clipping
    clipped = negative = 0
    try:
        text = read_text(p)
    except UnicodeDecodeError:
        raise BenchError(f"{p}: not UTF-8 text; expected 'VID start end##sentence' lines") from None
    for idx, raw in enumerate(text.splitlines()):
        n = idx + 1
        line = raw.rstrip("\r")
        if not line.strip():
            continue
        head, sep, query = line.partition("##")
        fields = head.split()
        if not sep or len(fields) != 3:
            raise BenchError(f"{where(p, n)}: expected 'VID start end##sentence', got {line[:80]!r}")
        vid = fields[0]
        try:
            start, end = _parse_float(fields[1]), _parse_float(fields[2])
        except ValueError:
            raise BenchError(f"{where(p, n)}: start/end must be numbers (seconds), got "
                             f"{fields[1]!r} {fields[2]!r}") from None
        duration = None
        if durs is not None:
            if vid not in durs:
                raise BenchError(f"{where(p, n)}: video {vid!r} has no duration in the durations file")
            duration = float(durs[vid])
        if start > end:
            inverted.append(n)
            continue
        was_negative, past_end = start < 0, duration is not None and end > duration
        start = max(start, 0.0)
        end = min(end, duration) if past_end else end
        if not start < end:
            emptied.append(n)
            continue
        negative, clipped = negative + was_negative, clipped + past_end
        moments.append(Moment(f"{prefix}{idx}", vid, query.strip(), start, end, duration))
    _warn_policy(p, inverted, emptied, clipped, negative)
    return moments


def _warn_policy(p: Path, inverted: list[int], emptied: list[int], clipped: int, negative: int) -> None:
    def lines(ns: list[int]) -> str:
        shown = ", ".join(map(str, ns[:5]))
        return f" (line{'s' if len(ns) > 1 else ''} {shown}{', ...' if len(ns) > 5 else ''})"

    parts = []
    if inverted:
        parts.append(f"dropped {len(inverted)} with start > end{lines(inverted)}")
    if emptied:
        parts.append(f"dropped {len(emptied)} with an empty window after clipping{lines(emptied)}")
    if clipped:
        parts.append(f"clipped {clipped} kept windows ending past the video's duration to the duration")
    if negative:
        parts.append(f"moved {negative} negative starts to 0")
    if parts:
        warnings.warn(f"{p}: {'; '.join(parts)}", stacklevel=3)


MAX_SECONDS = 1e6  # 11.6 days: no video of a grounding dataset comes near


def _windows(value: object, p: Path, n: int) -> tuple[Window, ...]:
    if not isinstance(value, list) or not value:
        raise BenchError(f"{where(p, n)}: 'relevant_windows' must be a non-empty list of [start, end]")
    out = []
    for w in value:
        if (not isinstance(w, list) or len(w) != 2
                or not all(isinstance(x, int | float) and not isinstance(x, bool) for x in w)
                or not all(math.isfinite(x) for x in w)):
            raise BenchError(f"{where(p, n)}: each relevant window must be [start, end] numbers, got {w!r}")
        if not all(abs(x) <= MAX_SECONDS for x in w):
            # a 1e308 window makes lengths and IoU unions inf; no video comes near this bound
            raise BenchError(f"{where(p, n)}: relevant window {w!r} has a time beyond {MAX_SECONDS:g} s")
        out.append((float(w[0]), float(w[1])))
    return tuple(out)


def load_moment_jsonl(path: str | Path) -> list[Moment]:
    """Read moment_detr/UniVTG/CG-DETR GT jsonl (``qid, query, vid, duration, relevant_windows``).

    Windows are kept exactly as written (these files are already converted; the evaluator must see
    what the reference sees). Integer qids become strings, so ``12404`` and ``"12404"`` match.
    """
    p = require_file(path, "moment jsonl file")
    out: list[Moment] = []
    seen: dict[str, int] = {}
    reversed_at: list[int] = []
    for n, rec in iter_jsonl(p, "moment jsonl file"):
        for key in ("qid", "vid", "relevant_windows"):
            if key not in rec:
                raise BenchError(f"{where(p, n)}: missing key {key!r} (expected qid, query, vid, "
                                 "duration, relevant_windows)")
        qid = str(rec["qid"])
        if qid in seen:
            raise BenchError(f"{where(p, n)}: duplicate qid {qid!r} (first on line {seen[qid]})")
        seen[qid] = n
        wins = _windows(rec["relevant_windows"], p, n)
        dur = rec.get("duration")
        if dur is not None and (isinstance(dur, bool) or not isinstance(dur, int | float)):
            raise BenchError(f"{where(p, n)}: 'duration' must be a number, got {dur!r}")
        if dur is not None and not 0 <= dur <= MAX_SECONDS:
            raise BenchError(f"{where(p, n)}: 'duration' {dur!r} is outside 0..{MAX_SECONDS:g} s")
        out.append(Moment(qid, str(rec["vid"]), str(rec.get("query", "")), wins[0][0], wins[0][1],
                          None if dur is None else float(dur), wins))
        reversed_at += [n] if any(a > b for a, b in wins) else []
    if reversed_at:  # kept as written (the reference scores them so), but said
        warnings.warn(f"{p}: {len(reversed_at)} GT window(s) with start > end, kept as written as "
                      f"moment_detr's evaluator scores them (first on line {reversed_at[0]})", stacklevel=2)
    return out


def load_tvg_gt(path: str | Path, durations: Mapping[str, float] | str | Path | None = None
                ) -> list[Moment]:
    """Load TVG ground truth in either format: ``.jsonl`` (moment_detr style) or Charades-STA txt."""
    p = Path(path)
    if p.suffix.lower() == ".jsonl":
        return load_moment_jsonl(p)
    return load_charades_sta(p, durations)


def moments_to_jsonl_rows(moments: Iterable[Moment]) -> list[dict]:
    """Moments in moment_detr GT jsonl form (the layout UniVTG/Moment-DETR releases use)."""
    return [{"qid": m.qid, "query": m.query, "duration": m.duration, "vid": m.vid,
             "relevant_windows": [list(w) for w in m.windows]} for m in moments]


register_dataset(
    "charades-sta", ("tvg",),
    "Charades-STA temporal grounding: 'VID start end##sentence' txt + Charades csv durations, "
    "or moment_detr-style jsonl",
)
