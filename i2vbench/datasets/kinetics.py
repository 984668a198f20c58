"""Kinetics-400 annotations: the ActivityNet crawler csv plus a label map giving class indices.

``kinetics-400_val.csv``: header ``label,youtube_id,time_start,time_end,split[,is_cc]``; labels
with spaces are double-quoted, so it is read with a real csv parser. Class index = position of
the label in the label map: mmaction2's ``label_map_k400.txt`` (one name per line) or X-CLIP's
``kinetics_400_labels.csv`` (``id,name``). Without a map, the sorted set of labels in the file is
used, which for the full val split equals mmaction2's map.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from i2vbench.datasets.registry import register_dataset
from i2vbench.errors import BenchError, where
from i2vbench.io import LocatedCsv, open_text, read_text, require_file


@dataclass(frozen=True)
class Labelled:
    """Clip ids and integer class labels in file order, with the class names by index."""

    ids: list[str]
    labels: np.ndarray  # int64, one per clip
    classes: list[str]


def read_label_map(path: str | Path) -> list[str]:
    """Class names by index from a one-name-per-line txt or an ``id,name`` csv."""
    p = require_file(path, "label map")
    text = read_text(p)
    if p.suffix == ".csv":
        rows = list(LocatedCsv(csv.DictReader(text.splitlines()), p))
        if not rows or "id" not in rows[0] or "name" not in rows[0]:
            raise BenchError(f"{where(p, 1)}: expected an id,name header")
        names: dict[int, str] = {}
        for n, r in enumerate(rows, start=2):
            try:
                names[int(r["id"])] = r["name"]
            except (TypeError, ValueError):
                raise BenchError(f"{where(p, n)}: id {r['id']!r} is not an integer") from None
        if sorted(names) != list(range(len(names))):
            raise BenchError(f"{p}: ids must be exactly 0..{len(names) - 1}")
        return [names[i] for i in range(len(names))]
    names_list = [line.strip() for line in text.splitlines() if line.strip()]
    if not names_list:
        raise BenchError(f"{p}: empty label map")
    return names_list


def index_of(classes: list[str], path: Path) -> dict[str, int]:
    idx: dict[str, int] = {}
    for i, c in enumerate(classes):
        if c in idx:
            raise BenchError(f"{path}: class {c!r} appears twice in the label map")
        idx[c] = i
    return idx


def load_kinetics_csv(path: str | Path, label_map: str | Path | None = None) -> Labelled:
    p = require_file(path, "Kinetics csv")
    with open_text(p) as f:
        reader = LocatedCsv(csv.DictReader(f), p)
        if not reader.fieldnames or "label" not in reader.fieldnames or "youtube_id" not in reader.fieldnames:
            raise BenchError(f"{where(p, 1)}: expected a header with label and youtube_id "
                             f"(label,youtube_id,time_start,time_end,split), got {reader.fieldnames}")
        rows = [(n, r["label"], r["youtube_id"]) for n, r in enumerate(reader, start=2)]
    classes = read_label_map(label_map) if label_map is not None else sorted({r[1] for r in rows if r[1]})
    idx = index_of(classes, Path(label_map) if label_map is not None else p)
    ids, labels = [], []
    for n, label, yid in rows:
        if label not in idx:
            raise BenchError(f"{where(p, n)}: label {label!r} is not in the label map"
                             f"{'' if label_map is None else f' {label_map}'}")
        if not yid:
            raise BenchError(f"{where(p, n)}: empty youtube_id")
        ids.append(yid)
        labels.append(idx[label])
    return Labelled(ids, np.asarray(labels, dtype=np.int64), classes)


register_dataset("kinetics400", ("var",), "Kinetics-400: ActivityNet crawler csv + mmaction2/X-CLIP label map")
