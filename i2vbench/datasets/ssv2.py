"""Something-Something V2 annotations: 20BN's validation json plus the labels json.

Class index: strip ``[`` and ``]`` from each record's ``template`` and look it up in
``something-something-v2-labels.json`` (``{template: "index"}``) or in mmaction2's
``label_map.txt`` (line i = class i). The ``label`` field holds object names and is not used.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from i2vbench.datasets.kinetics import Labelled, index_of, read_label_map
from i2vbench.datasets.registry import register_dataset
from i2vbench.errors import BenchError, where
from i2vbench.io import read_json

LABELS_JSON = "something-something-v2-labels.json"


def read_ssv2_labels(path: str | Path) -> list[str]:
    p = Path(path)
    if p.suffix != ".json":
        return read_label_map(p)
    data = read_json(p, "SSv2 labels json")
    if not isinstance(data, dict):
        raise BenchError(f"{p}: expected {{template: index}}")
    by_index: dict[int, str] = {}
    for name, i in data.items():
        try:
            by_index[int(i)] = name
        except (TypeError, ValueError):
            raise BenchError(f"{where(p, key=name)}: index {i!r} is not an integer") from None
    if sorted(by_index) != list(range(len(by_index))):
        raise BenchError(f"{p}: indices must be exactly 0..{len(by_index) - 1}")
    return [by_index[i] for i in range(len(by_index))]


def load_ssv2_json(path: str | Path, label_map: str | Path | None = None) -> Labelled:
    """Ids and labels of an SSv2 split json; the label map defaults to the labels json beside it."""
    p = Path(path)
    lm = Path(label_map) if label_map is not None else p.with_name(LABELS_JSON)
    if not lm.is_file():
        raise BenchError(f"{p}: SSv2 needs its labels json; none given and {lm} not found "
                         "(pass label_map=something-something-v2-labels.json or label_map.txt)")
    classes = read_ssv2_labels(lm)
    idx = index_of(classes, lm)
    data = read_json(p, "SSv2 split json")
    if not isinstance(data, list):
        raise BenchError(f"{p}: expected a list of {{id, template, ...}} records")
    ids, labels = [], []
    for i, r in enumerate(data):
        if not isinstance(r, dict) or "id" not in r or not isinstance(r.get("template"), str):
            raise BenchError(f"{where(p, key=f'[{i}]')}: expected {{id, template}} (a test split has no labels)")
        name = r["template"].replace("[", "").replace("]", "")
        if name not in idx:
            loc = where(p, key=f"[{i}] id={r['id']}")
            raise BenchError(f"{loc}: template {name!r} is not in {lm}")
        ids.append(str(r["id"]))
        labels.append(idx[name])
    return Labelled(ids, np.asarray(labels, dtype=np.int64), classes)


register_dataset("ssv2", ("var",), "Something-Something V2: 20BN split json + labels json")
