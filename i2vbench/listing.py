"""``bench list tasks|methods|datasets|paradigms|backbones``."""

from __future__ import annotations

import json
from enum import Enum

import typer
from tabulate import tabulate


class What(str, Enum):
    tasks = "tasks"
    methods = "methods"
    datasets = "datasets"
    paradigms = "paradigms"
    backbones = "backbones"


def rows_for(what: What) -> list[dict]:
    if what is What.tasks:
        from i2vbench.tasks import TASKS

        return [{"task": t.id, "label": t.label, "table": t.table, "datasets": ", ".join(t.datasets),
                 "columns": ", ".join(c.header for c in t.columns)} for _, t in TASKS.items()]
    if what is What.paradigms:
        from i2vbench.taxonomy import PARADIGMS

        return [{"paradigm": p.id, "name": p.name, "root": p.root.value, "section": p.section}
                for p in PARADIGMS]
    if what is What.methods:
        from i2vbench.methods.registry import all_methods

        return [{"task": s.task, "method": s.name, "paradigm": s.paradigm or "-", "survey row": s.survey_row or "-",
                 "summary": s.summary} for s in all_methods()]
    if what is What.datasets:
        from i2vbench.datasets.registry import load_all as load_datasets

        return [{"dataset": s.name, "tasks": ", ".join(s.tasks), "summary": s.summary}
                for _, s in load_datasets().items()]
    from i2vbench.methods.backbones import BACKBONES

    return [{"backbone": n, "summary": (f.__doc__ or "").strip().splitlines()[0]} for n, f in BACKBONES.items()]


def register(app: typer.Typer) -> None:
    @app.command("list")
    def list_(what: What = typer.Argument(..., help="what to list"),
              as_json: bool = typer.Option(False, "--json", help="print JSON")) -> None:
        """List the registered tasks, methods, datasets, paradigms or backbones."""
        rows = rows_for(what)
        typer.echo(json.dumps(rows, indent=2) if as_json else tabulate(rows, headers="keys", tablefmt="github"))
