"""The one record schema for every number the suite shows, and how run folders hand records over.

A :class:`ResultRecord` is one method's numbers for one task on one dataset/split. Tables II/III,
``bench leaderboard`` and the static site are all generated from records of these kinds:

``reported``       transcribed from the survey (``i2vbench/results/reported/<task>.yaml``);
``reproduced``     measured by ``bench run`` (``results/runs/<run_id>/run.json``);
``random-init``    measured by ``bench run`` on an ILFM without pretrained weights (backbone id
                   ``...-random``): a control, never placed under the survey row of its method;
``self-reported``  submitted by a user as numbers (``bench submit RESULT.yaml``);
``verified``       scored by the suite from submitted predictions (``bench submit --predictions``)
                   against ground truth registered as the dataset's own (:mod:`.trusted`);
``self-scored``    scored by the suite the same way, but against ground truth that is not
                   registered for the record's dataset and split (the submitter's own file).

Contract with ``bench run`` (read by :func:`load_run_records`)
-------------------------------------------------------------
``results/runs/<run_id>/run.json`` is a JSON object whose key ``"records"`` is a list of
``ResultRecord.model_dump(mode="json")`` dicts with ``kind: "reproduced"`` (or ``"random-init"``), e.g.::

    {"task": "tvg", "dataset": "synthvid-tvg", "split": "test",
     "method": "Moment-DETR", "method_id": "moment_detr", "paradigm": "post_network_tuning",
     "ilfm": "tinyclip", "citation": {"ref": 47, "title": "...", "url": null},
     "metrics": {"R1@0.3": 61.2, "R1@0.5": 44.0, "R1@0.7": 20.1, "mIoU": 41.7},
     "kind": "reproduced",
     "provenance": {"code_version": "<git sha>", "config": {...}, "seed": 0,
                    "hardware": "...", "wall_time_s": 73.2, "packages": {"torch": "2.14.1"},
                    "created": "2026-11-22T01:00:00Z"}}

A reproduced record over several training seeds carries their mean in ``metrics``, the sample
standard deviation (ddof=1) in ``metrics_std`` and every seed's numbers in ``per_seed``; a run
writes one record per (method, dataset, split), the split being ``"val"`` or ``"test"``. Tables
show test records only: val is where choices are made.

Metric keys are the names ``bench eval --json`` prints for the task (the table columns use
``TaskSpec.columns[*].metric``; extra keys such as ``R5@0.5`` are kept but not tabulated).
``bench tables --with-runs`` puts a reproduced record beside the survey row with the same
``(task, citation.ref)``; ``citation.ref`` is the survey's reference number of the row the
method stands for (Moment-DETR [47], R²-Tuning [67], ...), or ``null`` for a method that stands
for no row. A record's numbers fill the columns of the survey dataset it stands beside, see
:func:`table_dataset` (``synthvid-tvg`` stands beside Charades-STA).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    field_validator,
    model_validator,
)

from i2vbench.errors import BenchError, where
from i2vbench.tasks import TASKS, TaskSpec
from i2vbench.taxonomy import PARADIGM_IDS

Kind = Literal["reported", "reproduced", "random-init", "self-reported", "self-scored", "verified"]
KINDS: tuple[str, ...] = ("reported", "reproduced", "random-init", "self-reported", "self-scored", "verified")
OTHER_PARADIGM = "other"

# Metric keys `bench eval --json` prints per task beyond the table columns (issue 3), so that a
# submission may carry them; everything else is refused as an unknown metric name.
_EXTRA_METRICS: dict[str, tuple[str, ...]] = {
    "ovmot": ("LocRe", "LocPr", "AssocRe", "AssocPr", "ClsRe", "ClsPr", "HOTA", "DetA", "AssA"),
    "stvg": tuple(f"{q}/{m}" for q in ("interrogative",) for m in ("m_vIoU", "vIoU@0.3", "vIoU@0.5", "m_tIoU"))
    + ("m_vIoU", "vIoU@0.3", "vIoU@0.5", "m_tIoU"),
    "tvg": ("R5@0.3", "R5@0.5", "R5@0.7", "MR-mAP", "MR-mAP@0.5", "MR-mAP@0.75", "MR-short-mAP",
            "MR-middle-mAP", "MR-long-mAP"),
    "vtr": tuple(f"{d}/{m}" for d in ("t2v", "v2t") for m in ("R@1", "R@5", "R@10", "R@sum", "MdR", "MnR")),
    "var": ("mean_class_accuracy",),
    "videoqa": ("Acc_C", "Acc_T", "Acc_D", "CW", "CH", "TN", "TC", "DC", "DL", "DO"),
    "captioning": ("BLEU1", "BLEU2", "BLEU3"),
}


def known_metrics(task: str) -> tuple[str, ...]:
    """Metric keys a record of ``task`` may carry: its table columns first, then the extras."""
    spec = TASKS.get(task)
    keys = [c.metric for c in spec.columns]
    keys += [k for k in _EXTRA_METRICS.get(task, ()) if k not in keys]
    return tuple(dict.fromkeys(keys))


def metric_bounds(key: str) -> tuple[float, float]:
    """The valid range of a metric value: percentages lie in [0, 100], with three exceptions.

    ``R@sum`` adds three recalls (≤ 300); CIDEr in percent can exceed 100 (the score is ≤ 10,
    so ≤ 1000 in percent); median/mean ranks are plain ranks (≥ 1, unbounded).
    """
    base = key.rsplit("/", 1)[-1]
    if base == "R@sum":
        return 0.0, 300.0
    if base == "CIDEr":
        return 0.0, 1000.0
    if base in ("MdR", "MnR"):
        return 1.0, math.inf
    return 0.0, 100.0


StrictNumber = Annotated[float, Strict()]  # a number: no "12.5" strings, no booleans
_Strict = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Citation(BaseModel):
    """Where a number comes from: the survey's reference number (if any) and the paper itself."""

    model_config = _Strict
    ref: int | None = Field(None, ge=1, description="reference number in the survey's bibliography")
    title: str = Field(min_length=1)
    url: str | None = None


class Provenance(BaseModel):
    """How a number came to be: the run (code, config, seed, machine) or the submission (who, when)."""

    model_config = _Strict
    source: str | None = None  # for reported numbers: where they were transcribed from
    code_version: str | None = None
    config: dict[str, Any] | None = None
    seed: int | None = None
    hardware: str | dict[str, Any] | None = None
    wall_time_s: float | None = Field(None, ge=0)
    packages: dict[str, str] | None = None
    created: str | None = None  # ISO 8601, UTC
    submitter: str | None = None
    predictions_sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")


class SeedMetrics(BaseModel):
    """One training seed's numbers behind a reproduced record's mean (and its predictions file,
    relative to the run folder)."""

    model_config = _Strict
    seed: int
    metrics: dict[str, StrictNumber | None]
    predictions: str | None = None


class SurveyRow(BaseModel):
    """Where a reported record sits in the survey: table, row within its task, and the spellings
    the table printed where they differ from the record's (typos kept for the record)."""

    model_config = _Strict
    table: Literal["II", "III"]
    row: int = Field(ge=1)
    printed: dict[str, str] = Field(default_factory=dict)
    note: str | None = None


class ResultRecord(BaseModel):
    """One method's metrics for one task on one dataset and split (see the module docstring)."""

    model_config = _Strict
    task: str
    dataset: str = Field(min_length=1)
    split: str = Field("test", min_length=1)
    method: str = Field(min_length=1, max_length=120)
    method_id: str | None = None
    paradigm: str
    paradigm_description: str | None = None  # required when paradigm is "other"
    ilfm: str = Field(min_length=1)
    venue: str | None = None
    year: int | None = Field(None, ge=1990, le=2100)
    citation: Citation
    metrics: dict[str, StrictNumber | None]  # a reproduced record over several seeds: their mean
    metrics_std: dict[str, StrictNumber] | None = None  # sample std over seeds (ddof=1; 0 for one seed)
    per_seed: list[SeedMetrics] | None = None
    kind: Kind
    provenance: Provenance = Field(default_factory=Provenance)
    survey: SurveyRow | None = None

    @field_validator("task")
    @classmethod
    def _known_task(cls, v: str) -> str:
        if v not in TASKS:
            raise ValueError(f"unknown task {v!r}; expected one of {', '.join(TASKS.names())}")
        return v

    @field_validator("paradigm")
    @classmethod
    def _known_paradigm(cls, v: str) -> str:
        if v not in PARADIGM_IDS and v != OTHER_PARADIGM:
            raise ValueError(f"unknown paradigm {v!r}; expected one of {', '.join(PARADIGM_IDS)} "
                             f"or {OTHER_PARADIGM!r} with a paradigm_description")
        return v

    @field_validator("metrics")
    @classmethod
    def _finite_in_range(cls, v: dict[str, StrictNumber | None]) -> dict[str, StrictNumber | None]:
        if not v:
            raise ValueError("expected at least one metric")
        problems = []
        for key, x in v.items():
            if not key.strip():
                problems.append("empty metric name")
            elif x is not None:
                lo, hi = metric_bounds(key)
                if not math.isfinite(x):
                    problems.append(f"{key}: expected a finite number, got {x}")
                elif not lo <= x <= hi:
                    problems.append(f"{key}: {x:g} is out of range; expected a value in [{lo:g}, {hi:g}]")
        if problems:  # one line per metric; format_validation_error gives each its own location
            raise ValueError("\n".join(problems))
        return v

    @model_validator(mode="after")
    def _other_needs_description(self) -> ResultRecord:
        if self.paradigm == OTHER_PARADIGM and not (self.paradigm_description or "").strip():
            raise ValueError("paradigm 'other' needs a paradigm_description saying what the method does")
        return self

    @property
    def spec(self) -> TaskSpec:
        return TASKS.get(self.task)


def table_dataset(record: ResultRecord) -> str | None:
    """The survey dataset whose table columns this record's numbers fill.

    A record on a survey dataset fills that dataset's columns; a record on another dataset (e.g.
    SynthVid) fills the columns of the task's only dataset, or of the task dataset whose id its
    own id contains (``synthvid-ssv2`` → ``ssv2``); otherwise none.
    """
    return dataset_columns_of(record.spec, record.dataset)


def dataset_columns_of(spec: TaskSpec, dataset: str) -> str | None:
    """The survey dataset whose columns numbers measured on ``dataset`` fill (see :func:`table_dataset`)."""
    if dataset in spec.datasets:
        return dataset
    if len(spec.datasets) == 1:
        return spec.datasets[0]
    hits = [d for d in spec.datasets if re.search(rf"(^|[-_/]){re.escape(d)}($|[-_/])", dataset)]
    return hits[0] if len(hits) == 1 else None


def column_values(record: ResultRecord, std: bool = False) -> dict[str, float | None]:
    """The record's numbers keyed by table column header (only the columns it fills); with
    ``std``, their standard deviations over seeds instead (where the record has them)."""
    ds = table_dataset(record)
    source = (record.metrics_std or {}) if std else record.metrics
    return {c.header: source.get(c.metric) for c in record.spec.columns
            if c.dataset == ds and c.metric in record.metrics}


def format_validation_error(err: ValidationError, source: str) -> str:
    """One line per problem: ``source [field.path]: what was expected``."""
    lines = []
    for e in err.errors():
        path = ".".join(str(p) for p in e["loc"]) or "(record)"
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown field"
        elif e["type"] == "missing":
            msg = "required field is missing"
        if e["loc"] == ("metrics",) and e["type"] == "value_error" and ": " in msg:
            for line in msg.split("\n"):
                key, _, what = line.partition(": ")
                lines.append(f"{where(source, key=f'metrics.{key}')}: {what}")
            continue
        lines.append(f"{where(source, key=path)}: {msg}")
    return "\n".join(lines)


def parse_record(data: Any, source: str) -> ResultRecord:
    """Validate one record, turning pydantic's error into a located :class:`BenchError`."""
    if not isinstance(data, dict):
        raise BenchError(f"{source}: expected a mapping of record fields, got {type(data).__name__}")
    try:
        return ResultRecord.model_validate(data)
    except ValidationError as e:
        raise BenchError(format_validation_error(e, source)) from None


def load_run_records(runs_dir: Path) -> list[ResultRecord]:
    """All records of all finished runs under ``runs_dir`` (``<run_id>/run.json``), oldest id first.

    Hidden folders (runs still being written by ``atomic_dir``) are skipped; a run.json without a
    ``records`` list is an error naming the file.
    """
    from i2vbench.io import read_json

    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return []
    records: list[ResultRecord] = []
    for run in sorted(p for p in runs_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        path = run / "run.json"
        if not path.is_file():
            continue
        data = read_json(path, "run record")
        recs = data.get("records") if isinstance(data, dict) else None
        if not isinstance(recs, list):
            raise BenchError(f"{where(path, key='records')}: expected a list of result records")
        records += [parse_record(r, f"{path} records[{i}]") for i, r in enumerate(recs)]
    return records
