"""The survey's reported numbers: one reviewable YAML file per task, turned into result records.

Source of truth: ``i2vbench/results/reported/<task>.yaml`` inside the package (so ``bench tables``
works from an installed wheel); ``results/reported`` in the repository is a symlink to it.

Each file transcribes one task's block of Table II or III row by row, faithful to the print:
``printed_header`` is the block's header row as printed (some blocks say "Venue", others
"Publication"), ``category`` is the paradigm as printed and ``paradigm`` its taxonomy id,
``printed_as`` is the method as printed where the table misspells it (``NefTrack`` for NetTrack
[42]), ``metrics`` maps each column header to its value or null (printed "-"), and ``note``
records anything else a reader of the table should know.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from i2vbench.errors import BenchError
from i2vbench.results.schema import (
    Citation,
    Provenance,
    ResultRecord,
    StrictNumber,
    SurveyRow,
    format_validation_error,
)
from i2vbench.tasks import TASKS
from i2vbench.taxonomy import paradigm_from_label

REPORTED_DIR = Path(__file__).resolve().parent / "reported"
_Strict = ConfigDict(extra="forbid")


class ReportedRow(BaseModel):
    model_config = _Strict
    method: str
    printed_as: str | None = None
    ref: int = Field(ge=1)
    category: str  # the paradigm as printed
    paradigm: str  # its taxonomy id
    venue: str
    year: int
    ilfm: str
    title: str
    metrics: dict[str, StrictNumber | None]
    note: str | None = None


class ReportedTable(BaseModel):
    """One task's block of Table II or III."""

    model_config = _Strict
    task: str
    table: Literal["II", "III"]
    source: str
    printed_header: list[str]
    rows: list[ReportedRow]

    @model_validator(mode="after")
    def _consistent(self) -> ReportedTable:
        spec = TASKS.get(self.task)
        if spec.table != self.table:
            raise ValueError(f"task {self.task} is in Table {spec.table}, not {self.table}")
        headers = [c.header for c in spec.columns]
        printed = [h.replace("↑", "").strip() for h in self.printed_header[5:]]
        if printed != headers:
            raise ValueError(f"printed_header columns {printed} do not match the task's {headers}")
        for i, row in enumerate(self.rows):
            if list(row.metrics) != headers:
                raise ValueError(f"rows[{i}].metrics: expected the columns {headers} in order")
            if paradigm_from_label(row.category).id != row.paradigm:
                raise ValueError(f"rows[{i}]: category {row.category!r} is not paradigm {row.paradigm!r}")
        return self

    def records(self) -> list[ResultRecord]:
        """One record per row and dataset (VAR and VideoQA rows span several datasets);
        a dataset whose columns are all "-" in a row gives no record."""
        spec = TASKS.get(self.task)
        out = []
        for n, row in enumerate(self.rows, start=1):
            printed = {"category": row.category}
            if row.printed_as:
                printed["method"] = row.printed_as
            for ds in spec.datasets:
                cols = [c for c in spec.columns if c.dataset == ds]
                metrics = {c.metric: row.metrics[c.header] for c in cols}
                if all(v is None for v in metrics.values()):
                    continue
                out.append(ResultRecord(
                    task=self.task, dataset=ds, split="test", method=row.method, paradigm=row.paradigm,
                    ilfm=row.ilfm, venue=row.venue, year=row.year,
                    citation=Citation(ref=row.ref, title=row.title), metrics=metrics, kind="reported",
                    provenance=Provenance(source=self.source),
                    survey=SurveyRow(table=self.table, row=n, printed=printed, note=row.note),
                ))
        return out


@cache
def reported_table(task: str) -> ReportedTable:
    """The parsed, validated YAML of one task (errors name the file and field)."""
    from i2vbench.io import read_yaml

    TASKS.get(task)
    path = REPORTED_DIR / f"{task}.yaml"
    data = read_yaml(path, "reported results file")
    try:
        return ReportedTable.model_validate(data)
    except ValidationError as e:
        raise BenchError(format_validation_error(e, str(path))) from None


def reported_records(task: str | None = None) -> list[ResultRecord]:
    """Every reported record, in table order (Table II tasks, then Table III)."""
    tasks = [task] if task else TASKS.names()
    return [r for t in tasks for r in reported_table(t).records()]
