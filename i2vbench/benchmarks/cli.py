"""``bench run``: train and evaluate every registered method of a task, and record the run.

The command knows no task: ``--task`` picks a registered runner (:func:`runner_for`), whose
:class:`~i2vbench.benchmarks.runner.RunConfig` subclass validates the config file and flags.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import typer

from i2vbench.errors import BenchError


def _seeds(seed: int | None, seeds: str | None) -> list[int] | None:
    if seed is not None and seeds is not None:
        raise BenchError("give --seed N or --seeds A,B,..., not both")
    if seed is not None:
        return [seed]
    if seeds is None:
        return None
    try:
        return [int(s) for s in seeds.split(",") if s.strip()]
    except ValueError:
        raise BenchError(f"--seeds expects comma-separated integers, e.g. 0,1,2; got {seeds!r}") from None


def load_config(task: str, config_file: Path | None, flags: dict[str, Any]):  # noqa: ANN201
    """The task's run config from the YAML file (if any) with the given flags on top."""
    from pydantic import ValidationError

    from i2vbench.benchmarks.runner import runner_for
    from i2vbench.io import read_yaml

    cls = runner_for(task).config_class
    data: dict[str, Any] = {}
    source = "command line"
    if config_file is not None:
        loaded = read_yaml(config_file, "run config")
        if not isinstance(loaded, dict):
            raise BenchError(f"{config_file}: expected a mapping of config keys, got {type(loaded).__name__}")
        data, source = loaded, str(config_file)
    given = {k: v for k, v in flags.items() if v is not None}
    foreign = [k for k in given if k not in cls.model_fields]
    if foreign:
        raise BenchError(f"{', '.join('--' + k.replace('_', '-') for k in foreign)}: not an option of task {task!r}")
    data.update(given)
    data.setdefault("task", task)
    if data["task"] != task:
        raise BenchError(f"{source}: config is for task {data['task']!r}, but --task is {task!r}")
    try:
        return cls(**data)
    except ValidationError as e:
        problems = "; ".join(f"[{'.'.join(map(str, err['loc']))}] {err['msg']}" for err in e.errors())
        raise BenchError(f"{source}: invalid run config: {problems}") from None


def _cell(mean: float, std: float, several: bool) -> str:
    return f"{mean:.2f} ± {std:.2f}" if several else f"{mean:.2f}"


def table(result, n_seeds: int, fmt: str = "github") -> str:  # noqa: ANN001
    """One block per dataset: test metrics (mean ± sample std over seeds when several), the val
    value of the task's main metric (the one to make choices on), parameters and timings."""
    from tabulate import tabulate

    from i2vbench.results.schema import dataset_columns_of
    from i2vbench.tasks import TASKS

    spec = TASKS.get(result.task)
    main_metric = spec.column(spec.main_column).metric
    several = n_seeds > 1
    blocks = []
    for ds in result.datasets:
        own = dataset_columns_of(spec, ds.dataset)
        metrics = list(dict.fromkeys(c.metric for c in spec.columns if own is None or c.dataset == own))
        metrics += [k for k in spec.run_metrics if ds.methods and k in ds.methods[0].metrics("test")]
        rows = []
        for m in ds.methods:
            row = {"method": m.display, "paradigm": m.paradigm or "-", "survey row": m.survey_row or "-"}
            if "test" in m.splits:
                mean, std = m.metrics("test"), m.metrics_std("test")
                row.update({k: _cell(mean[k], std[k], several) for k in metrics})
            if "val" in m.splits:
                row[f"val {main_metric}"] = _cell(m.metrics("val")[main_metric], m.metrics_std("val")[main_metric],
                                                  several)
            row["trainable/total params"] = f"{m.trainable_params:,}/{m.total_params:,}"
            row["train s"] = round(m.train_s, 1)
            row["eval s"] = round(m.eval_s, 1)
            rows.append(row)
        stats = ", ".join(f"{k} {v}" for k, v in ds.stats.items() if k.startswith("n_"))
        text = tabulate(rows, headers="keys", tablefmt=fmt, disable_numparse=True) if rows else "(no method ran)"
        blocks.append(f"{ds.dataset} ({stats})\n\n{text}")
    return "\n\n".join(blocks)


def register(app: typer.Typer) -> None:
    @app.command("run")
    def run(
        task: str = typer.Option(..., "--task", help="task to run (see `bench list tasks`)"),
        dataset: str = typer.Option(None, "--dataset", help="dataset (default: the task's embedded SynthVid)"),
        data_root: Path = typer.Option(None, "--data-root", help="folder of the real dataset's annotations"),
        videos: Path = typer.Option(None, "--videos", help="folder of the videos (default DATA_ROOT/videos)"),
        features: Path = typer.Option(None, "--features", help="pre-extracted features (vid_clip/, txt_clip/)"),
        backbone: str = typer.Option(None, "--backbone", help="tinyclip | open_clip:<arch> | hf:<dir>"),
        pretrained: str = typer.Option(None, "--pretrained", help="weights file/dir on disk for the backbone"),
        methods: str = typer.Option(None, "--methods", help="comma-separated method names of the task (default: all)"),
        seed: int = typer.Option(None, "--seed", help="one training seed (shorthand for --seeds N)"),
        seeds: str = typer.Option(None, "--seeds", help="training seeds, e.g. 0,1,2: mean ± std over them"),
        data_seed: int = typer.Option(None, "--data-seed", help="seed of generated data (default 0, fixed across seeds)"),
        config: Path = typer.Option(None, "--config", help="YAML run config (flags override it)"),
        out: Path = typer.Option(None, "--out", help="runs folder (default results/runs)"),
        as_json: bool = typer.Option(False, "--json", help="print the results as one JSON object on stdout"),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="progress bars on stderr"),
    ) -> None:
        """Train and evaluate every registered method of TASK; print a table and write a run record."""
        from i2vbench.benchmarks.runner import (
            configure_threads,
            method_records,
            results_json,
            runner_for,
            select_methods,
            write_run,
        )
        from i2vbench.paths import results_dir
        from i2vbench.provenance import code_version, hardware, package_versions, utc_now

        flags = {"dataset": dataset, "data_root": data_root, "videos": videos, "features": features,
                 "backbone": backbone, "pretrained": pretrained, "seeds": _seeds(seed, seeds),
                 "data_seed": data_seed,
                 "methods": [m.strip() for m in methods.split(",") if m.strip()] if methods else None}
        cfg = load_config(task, config, flags)
        select_methods(cfg)  # unknown methods or override keys fail before any data is built
        configure_threads(cfg.threads)
        started, t0 = utc_now(), time.perf_counter()
        result = runner_for(cfg.task).run(cfg, progress=progress)
        wall = time.perf_counter() - t0
        cfg_json = cfg.model_dump(mode="json")
        provenance = {"code_version": code_version(), "config": cfg_json,
                      "seed": cfg.seeds[0] if len(cfg.seeds) == 1 else None, "hardware": hardware(),
                      "wall_time_s": round(wall, 2), "packages": package_versions(), "created": started}
        run_json = {
            "schema": "i2vbench.run/2", "task": result.task, "ilfm": result.ilfm, "config": cfg_json,
            "seeds": cfg.seeds, "data_seed": cfg.resolved_data_seed, "provenance": provenance,
            "datasets": [{"dataset": ds.dataset, "stats": ds.stats, "skipped": ds.skipped} for ds in result.datasets],
            "results": results_json(result, detail=True),
            "records": method_records(result, provenance),
        }
        text = table(result, len(cfg.seeds))
        run_dir = write_run(result, run_json, out or results_dir() / "runs", text + "\n")
        if as_json:
            typer.echo(json.dumps({"task": result.task, "ilfm": result.ilfm, "seeds": cfg.seeds,
                                   "data_seed": cfg.resolved_data_seed, "run_dir": str(run_dir),
                                   "datasets": run_json["datasets"], "results": results_json(result)}, indent=2))
            return
        seeds_text = f"seed {cfg.seeds[0]}" if len(cfg.seeds) == 1 else \
            f"seeds {','.join(map(str, cfg.seeds))} (mean ± sample std)"
        typer.echo(f"\n{result.task.upper()}, backbone {result.ilfm}, {seeds_text}, data seed "
                   f"{cfg.resolved_data_seed}, {wall:.0f} s\n")
        typer.echo(text)
        for ds in result.datasets:
            for name, why in ds.skipped.items():
                typer.echo(f"skipped {name} on {ds.dataset}: {why}")
        typer.echo(f"\nrun record: {run_dir / 'run.json'}")
