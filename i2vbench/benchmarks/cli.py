"""``bench run``: train and evaluate every registered method of a task, and record the run."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import typer

from i2vbench.errors import BenchError


def _load_config(task: str, config_file: Path | None, flags: dict[str, Any]):  # noqa: ANN202
    from pydantic import ValidationError

    from i2vbench.benchmarks.tvg import TVGRunConfig
    from i2vbench.io import read_yaml

    if task != "tvg":
        from i2vbench.tasks import TASKS

        TASKS.get(task)  # unknown task → error listing the known ones
        raise BenchError(f"`bench run` has no runner for task {task!r} yet; runnable: tvg")
    data: dict[str, Any] = {}
    source = "command line"
    if config_file is not None:
        loaded = read_yaml(config_file, "run config")
        if not isinstance(loaded, dict):
            raise BenchError(f"{config_file}: expected a mapping of config keys, got {type(loaded).__name__}")
        data, source = loaded, str(config_file)
    data.update({k: v for k, v in flags.items() if v is not None})
    try:
        return TVGRunConfig(**data)
    except ValidationError as e:
        problems = "; ".join(f"[{'.'.join(map(str, err['loc']))}] {err['msg']}" for err in e.errors())
        raise BenchError(f"{source}: invalid run config: {problems}") from None


def _table(result, fmt: str = "github") -> str:  # noqa: ANN001
    from tabulate import tabulate

    from i2vbench.tasks import TASKS

    cols = TASKS.get(result.task).columns
    rows = []
    for m in result.methods:
        row = {"method": m.display, "paradigm": m.paradigm or "-", "survey row": m.survey_row or "-"}
        row.update({c.metric: round(m.metrics[c.metric], 2) for c in cols})
        row["trainable/total params"] = f"{m.trainable_params:,}/{m.total_params:,}"
        row["train s"] = round(m.train_s, 1)
        row["eval s"] = round(m.eval_s, 1)
        rows.append(row)
    return tabulate(rows, headers="keys", tablefmt=fmt)


def register(app: typer.Typer) -> None:
    @app.command("run")
    def run(
        task: str = typer.Option(..., "--task", help="task to run (see `bench list tasks`)"),
        dataset: str = typer.Option(None, "--dataset", help="synthvid (default, embedded) or charades-sta"),
        data_root: Path = typer.Option(None, "--data-root", help="folder of the real dataset's annotations"),
        videos: Path = typer.Option(None, "--videos", help="folder of the videos (default DATA_ROOT/videos)"),
        features: Path = typer.Option(None, "--features", help="pre-extracted features (vid_clip/, txt_clip/)"),
        backbone: str = typer.Option(None, "--backbone", help="tinyclip | open_clip:<arch> | hf:<dir>"),
        pretrained: str = typer.Option(None, "--pretrained", help="weights file/dir on disk for the backbone"),
        methods: str = typer.Option(None, "--methods", help="comma-separated method names (default: all)"),
        seed: int = typer.Option(None, "--seed", help="seed for data generation, init and training order"),
        config: Path = typer.Option(None, "--config", help="YAML run config (flags override it)"),
        out: Path = typer.Option(None, "--out", help="runs folder (default results/runs)"),
        as_json: bool = typer.Option(False, "--json", help="print the results as one JSON object on stdout"),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="progress bars on stderr"),
    ) -> None:
        """Train and evaluate every registered method of TASK; print a table and write a run record."""
        from i2vbench.benchmarks.runner import RUNNERS, method_record, write_run
        from i2vbench.paths import results_dir
        from i2vbench.provenance import code_version, hardware, package_versions, utc_now

        flags = {"dataset": dataset, "data_root": data_root, "videos": videos, "features": features,
                 "backbone": backbone, "pretrained": pretrained, "seed": seed,
                 "methods": [m.strip() for m in methods.split(",") if m.strip()] if methods else None}
        cfg = _load_config(task, config, flags)
        started, t0 = utc_now(), time.perf_counter()
        result = RUNNERS.get(cfg.task)(cfg, progress=progress)
        wall = time.perf_counter() - t0
        cfg_json = cfg.model_dump(mode="json")
        provenance = {"code_version": code_version(), "config": cfg_json, "seed": cfg.seed,
                      "hardware": hardware(), "wall_time_s": round(wall, 2), "packages": package_versions(),
                      "created": started}
        records = [method_record(result.task, result.dataset, cfg.backbone, m, provenance) for m in result.methods]
        run_json = {
            "schema": "i2vbench.run/1", "task": result.task, "dataset": result.dataset, "config": cfg_json,
            "seed": cfg.seed, "provenance": provenance, "stats": result.stats, "skipped": result.skipped,
            "methods": [{"method": m.method, "display": m.display, "paradigm": m.paradigm,
                         "survey_row": m.survey_row, "metrics": m.metrics, "trainable_params": m.trainable_params,
                         "total_params": m.total_params, "train_s": round(m.train_s, 2),
                         "eval_s": round(m.eval_s, 2)} for m in result.methods],
            "records": records,
        }
        table = _table(result)
        run_dir = write_run(result, run_json, provenance, out or results_dir() / "runs", table + "\n")
        if as_json:
            typer.echo(json.dumps({"task": result.task, "dataset": result.dataset, "run_dir": str(run_dir),
                                   "results": [{"method": m.method, "paradigm": m.paradigm, "metrics": m.metrics}
                                               for m in result.methods], "skipped": result.skipped}, indent=2))
            return
        typer.echo(f"\n{result.task.upper()} on {result.dataset} ({result.stats['n_test_queries']} "
                   f"test queries, backbone {cfg.backbone}, seed {cfg.seed}, {wall:.0f} s)\n")
        typer.echo(table)
        for name, why in result.skipped.items():
            typer.echo(f"skipped {name}: {why}")
        typer.echo(f"\nrun record: {run_dir / 'run.json'}")
