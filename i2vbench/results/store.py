"""Where records live, and loading them all: reported (package data), runs and submissions.

The results root is :func:`i2vbench.paths.results_dir` (``$I2VBENCH_RESULTS`` or ``./results``):
``runs/<run_id>/run.json`` (written by ``bench run``) and ``submissions/<name>.yaml`` (written by
``bench submit``, one record per file). Reported records ship inside the package, see
:mod:`i2vbench.results.reported`.
"""

from __future__ import annotations

from pathlib import Path

from i2vbench.errors import BenchError, where
from i2vbench.paths import results_dir
from i2vbench.results.schema import ResultRecord, load_run_records, parse_record

SUBMISSION_KINDS = ("self-reported", "self-scored", "verified")
MAX_SUBMISSION_BYTES = 1 << 20  # a result file is a few hundred bytes; refuse anything huge


def runs_dir(root: Path | None = None) -> Path:
    return (root or results_dir()) / "runs"


def submissions_dir(root: Path | None = None) -> Path:
    return (root or results_dir()) / "submissions"


def read_submission(path: Path) -> ResultRecord:
    """One stored submission (a YAML mapping of record fields)."""
    from i2vbench.io import read_yaml

    if path.stat().st_size > MAX_SUBMISSION_BYTES:
        raise BenchError(f"{path}: larger than {MAX_SUBMISSION_BYTES} bytes; not a result file")
    rec = parse_record(read_yaml(path, "submission"), str(path))
    if rec.kind not in SUBMISSION_KINDS:
        raise BenchError(f"{where(path, key='kind')}: expected one of {', '.join(SUBMISSION_KINDS)}")
    return rec


def load_submissions(root: Path | None = None) -> list[tuple[Path, ResultRecord]]:
    """Every stored submission with its file, in file-name order (deterministic)."""
    d = submissions_dir(root)
    if not d.is_dir():
        return []
    files = sorted(p for p in d.glob("*.yaml") if not p.name.startswith("."))
    return [(p, read_submission(p)) for p in files]


def load_records(task: str | None = None, *, reported: bool = True, runs: bool = False,
                 submissions: bool = False, root: Path | None = None) -> list[ResultRecord]:
    """The records ``bench tables`` / ``bench leaderboard`` work from, in a stable order."""
    from i2vbench.results.reported import reported_records

    out: list[ResultRecord] = []
    if reported:
        out += reported_records(task)
    if runs:
        out += [r for r in load_run_records(runs_dir(root)) if task in (None, r.task)]
    if submissions:
        out += [r for _, r in load_submissions(root) if task in (None, r.task)]
    return out


def records_frame(records: list[ResultRecord] | None = None, **load: object):
    """The records as a pandas DataFrame: one row per record, one column per metric.

    Identity columns first (task, dataset, split, method, paradigm, ilfm, venue, year, kind), then
    ``metric`` columns as the records name them (a metric a record lacks is NaN), then
    ``std:<metric>`` for reproduced records over seeds. ``records`` defaults to
    ``load_records(**load)``; e.g. ``records_frame(task="tvg", runs=True)``.
    """
    import pandas as pd

    recs = load_records(**load) if records is None else records  # type: ignore[arg-type]
    ident = ("task", "dataset", "split", "method", "paradigm", "ilfm", "venue", "year", "kind")
    rows = []
    for r in recs:
        row: dict[str, object] = {k: getattr(r, k) for k in ident}
        row["kind"] = str(getattr(r.kind, "value", r.kind))
        row.update({k: (float("nan") if v is None else float(v)) for k, v in r.metrics.items()})
        row.update({f"std:{k}": float(v) for k, v in (r.metrics_std or {}).items()})
        rows.append(row)
    return pd.DataFrame(rows, columns=None if rows else list(ident))
