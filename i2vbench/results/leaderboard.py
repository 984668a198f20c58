"""``bench leaderboard``: every record of a task (reported, reproduced, submitted) ranked by the
task's main column.

Numbers on different datasets are not comparable (a SynthVid mIoU is not a Charades-STA mIoU),
so ranks are given within the dataset the main column's value was measured on: the survey's own
dataset first, then each other dataset; rows without a main-column value come last, unranked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from i2vbench.results.schema import ResultRecord
from i2vbench.results.tables import TableRow, build_rows, fmt
from i2vbench.tasks import TASKS, TaskSpec


@dataclass
class Ranked:
    rank: int | None
    dataset: str  # the dataset the main column was measured on ("" if none)
    row: TableRow


def main_dataset(row: TableRow, spec: TaskSpec) -> str:
    """The dataset of the row's main-column value: the column's own when comparable, else the
    (first) other dataset the row was measured on."""
    col = spec.column(spec.main_column)
    if row.values[spec.main_column] is None:
        return ""
    if spec.main_column in row.comparable:
        return col.dataset
    return next((d for d in row.datasets if d != col.dataset), row.datasets[0] if row.datasets else "")


def rank_rows(records: list[ResultRecord], spec: TaskSpec) -> list[Ranked]:
    """Rows sorted best first within each dataset group; ties share a rank (1, 1, 3)."""
    rows = build_rows(records, spec)
    main = spec.main_column
    sign = -1.0 if spec.column(main).higher_is_better else 1.0
    own = spec.column(main).dataset
    groups: dict[str, list[TableRow]] = {}
    for r in rows:
        groups.setdefault(main_dataset(r, spec), []).append(r)
    order = sorted(groups, key=lambda d: (d == "", d != own, d))
    out: list[Ranked] = []
    for ds in order:
        members = sorted(groups[ds], key=lambda r: sign * r.values[main] if r.values[main] is not None else 0.0)
        prev, prev_rank = None, 0
        for i, r in enumerate(members, start=1):
            v = r.values[main]
            if ds == "":
                out.append(Ranked(None, ds, r))
                continue
            shown = round(v, 1)
            rank = prev_rank if shown == prev else i
            prev, prev_rank = shown, rank
            out.append(Ranked(rank, ds, r))
    return out


def leaderboard(task: str, runs: bool = True) -> list[Ranked]:
    from i2vbench.results.store import load_records

    spec = TASKS.get(task)
    return rank_rows(load_records(task, runs=runs, submissions=True), spec)


def leaderboard_text(task: str | None = None, fmt_: str = "table", runs: bool = True) -> str:
    """What ``bench leaderboard`` prints: one ranked table per task, or JSON."""
    from tabulate import tabulate

    from i2vbench.errors import BenchError

    if fmt_ not in ("table", "json"):
        raise BenchError(f"unknown format {fmt_!r}; expected table or json")
    specs = [TASKS.get(task)] if task else [s for _, s in TASKS.items()]
    if fmt_ == "json":
        rows = [{"rank": x.rank, "ranked_on": x.dataset, "main_column": spec.main_column, **x.row.to_json()}
                for spec in specs for x in leaderboard(spec.id, runs)]
        return json.dumps(rows, indent=2, ensure_ascii=False) + "\n"
    parts = []
    for spec in specs:
        cols = [spec.main_column] + [c.header for c in spec.columns if c.header != spec.main_column]
        table = [[x.rank if x.rank is not None else "-", x.row.method, x.row.kind, x.row.category,
                  x.row.ilfm, x.row.venue or "-", x.dataset or "-",
                  *(fmt(x.row.values[c]) for c in cols)] for x in leaderboard(spec.id, runs)]
        heads = ["Rank", "Method", "Kind", "Paradigm", "ILFM", "Venue", "Ranked on", *cols]
        parts.append(f"{spec.label} ({spec.title}), ranked by {spec.main_column}\n"
                     + tabulate(table, headers=heads, tablefmt="github", disable_numparse=True))
    return "\n\n".join(parts) + "\n"
