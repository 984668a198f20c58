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
        metrics = list(dict.fromkeys([*(c.metric for c in spec.columns if own is None or c.dataset == own),
                                      *ds.table_metrics]))
        rows = []
        for m in ds.methods:
            row = {"method": m.display, "paradigm": m.paradigm or "-", "survey row": m.survey_row or "-"}
            if "test" in m.splits:
                mean, std = m.metrics("test"), m.metrics_std("test")
                row.update({k: _cell(mean[k], std[k], several) for k in metrics if k in mean})
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


def extract_features(cfg, shard: tuple[int, int] | None = None, merge: bool = False,  # noqa: ANN001
                     progress: bool = True) -> list[str]:
    """The run's feature extraction (the task's registered plan): all of it (then indexed), shard
    ``(i, N)`` of it, or, with ``merge``, the check of all shards and the index. One line per job."""
    from i2vbench.benchmarks.runner import features_for, seed_everything
    from i2vbench.datasets.shards import extract_shard, merge_shards, shard_count, shard_videos
    from i2vbench.methods.backbones import backbone_id, load_backbone

    jobs = features_for(cfg.task)(cfg, progress)
    lines = []
    if merge:
        bid = backbone_id(cfg.backbone, cfg.pretrained)
        for job in jobs:
            n = shard_count(bid, job)
            index = merge_shards(bid, job, n)
            lines.append(f"{job.dataset}: {n} shard(s) complete, {len(job.videos)} videos; index {index}")
        return lines
    seed_everything(cfg.resolved_data_seed)  # a randomly initialised backbone is the data's, as in `bench run`
    backbone = load_backbone(cfg.backbone, cfg.pretrained)
    for job in jobs:
        i, n = shard or (0, 1)
        manifest = extract_shard(backbone, backbone.backbone_id, job, (i, n), progress=progress, jobs=cfg.threads)
        done = f"shard {i}/{n}: {len(shard_videos(job, i, n))} of {len(job.videos)} videos"
        if shard is None:
            done = f"{len(job.videos)} videos; index {merge_shards(backbone.backbone_id, job, 1)}"
        lines.append(f"{job.dataset}: {done} (manifest {manifest})")
    return lines


def register(app: typer.Typer) -> None:
    @app.command("extract")
    def extract(
        task: str = typer.Option(..., "--task", help="task whose run's features to extract (see `bench list tasks`)"),
        dataset: str = typer.Option(None, "--dataset", help="dataset (default: the task's embedded SynthVid)"),
        data_root: Path = typer.Option(None, "--data-root", help="folder of the real dataset's annotations"),
        videos: Path = typer.Option(None, "--videos", help="folder of the videos (default DATA_ROOT/videos)"),
        backbone: str = typer.Option(None, "--backbone", help="tinyclip | open_clip:<arch> | hf:<dir>"),
        pretrained: str = typer.Option(None, "--pretrained", help="weights file/dir on disk for the backbone"),
        data_seed: int = typer.Option(None, "--data-seed", help="seed of generated data (default 0)"),
        config: Path = typer.Option(None, "--config", help="YAML run config (flags override it)"),
        shard: str = typer.Option(None, "--shard", help="I/N: extract only shard I of N (by a stable hash of the video id)"),
        merge: bool = typer.Option(False, "--merge", help="check that every shard finished and write the index"),
        device: str = typer.Option(None, "--device", help="cpu | cuda | cuda:N | mps: where the ILFM encodes and methods train (default cpu; prediction runs on the CPU)"),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="progress bars on stderr"),
    ) -> None:
        """Encode a task's videos into the feature cache (I2VBENCH_CACHE) ahead of `bench run`.

        Spread over any launcher with ``--shard $I/N`` (a SLURM array, torchrun, a shell loop), then
        ``--merge`` once: it names any shard that is missing or partial, and writes the index
        the runners read. The union of the shards is byte for byte the unsharded extraction.
        """
        from i2vbench.benchmarks.runner import configure_threads
        from i2vbench.datasets.shards import parse_shard

        if merge and shard is not None:
            raise BenchError("give --shard I/N to extract a shard, or --merge to merge them, not both")
        from i2vbench.devices import use

        flags = {"dataset": dataset, "data_root": data_root, "videos": videos, "backbone": backbone,
                 "pretrained": pretrained, "data_seed": data_seed, "device": device}
        cfg = load_config(task, config, flags)
        configure_threads(cfg.threads)
        t0 = time.perf_counter()
        with use(cfg.device):
            lines = extract_features(cfg, parse_shard(shard) if shard is not None else None, merge, progress)
        for line in lines or ["nothing to extract: the run reads pre-extracted features"]:
            typer.echo(line)
        typer.echo(f"{time.perf_counter() - t0:.1f} s")

    @app.command("run")
    def run(
        task: str = typer.Option(..., "--task", help="task to run (see `bench list tasks`), or 'all': every runnable task's default run, then Tables II/III"),
        dataset: str = typer.Option(None, "--dataset", help="dataset (default: the task's embedded SynthVid)"),
        data_root: Path = typer.Option(None, "--data-root", help="folder of the real dataset's annotations"),
        videos: Path = typer.Option(None, "--videos", help="folder of the videos (default DATA_ROOT/videos)"),
        features: Path = typer.Option(None, "--features", help="pre-extracted features folder (tvg: UniVTG "
                                      "vid_clip/ + txt_clip/, Moment-DETR clip_features/ + clip_text_features/, "
                                      "lighthouse clip/ + clip_text/)"),
        features_layout: str = typer.Option(None, "--features-layout",
                                            help="tvg: univtg | moment_detr | lighthouse (default: by folder names)"),
        features_backbone: str = typer.Option(None, "--features-backbone", help="what produced --features, "
                                              "e.g. clip:ViT-B/32 (recorded; default unknown)"),
        clip_len: float = typer.Option(None, "--clip-len", help="tvg: seconds per clip of the features (default "
                                       "1 for --features, the Charades-STA releases' rate; else 1 / fps)"),
        durations: Path = typer.Option(None, "--durations", help="tvg charades-sta: video durations (Charades "
                                       "csv or a json such as VSLNet's charades.json)"),
        backbone: str = typer.Option(None, "--backbone", help="tinyclip | open_clip:<arch> | hf:<dir>"),
        pretrained: str = typer.Option(None, "--pretrained", help="weights file/dir on disk for the backbone"),
        methods: str = typer.Option(None, "--methods", help="comma-separated method names of the task (default: all)"),
        seed: int = typer.Option(None, "--seed", help="one training seed (shorthand for --seeds N)"),
        seeds: str = typer.Option(None, "--seeds", help="training seeds, e.g. 0,1,2: mean ± std over them"),
        data_seed: int = typer.Option(None, "--data-seed", help="seed of generated data (default 0, fixed across seeds)"),
        config: Path = typer.Option(None, "--config", help="YAML run config (flags override it)"),
        device: str = typer.Option(None, "--device", help="cpu | cuda | cuda:N | mps: where the ILFM encodes and methods train (default cpu; prediction runs on the CPU)"),
        out: Path = typer.Option(None, "--out", help="runs folder (default results/runs)"),
        as_json: bool = typer.Option(False, "--json", help="print the results as one JSON object on stdout"),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="progress bars on stderr"),
    ) -> None:
        """Train and evaluate every registered method of TASK; print a table and write a run record.

        Under ``torchrun --nproc_per_node N -m i2vbench run ...`` the N processes train each method
        together (DDP; gloo on CPU, NCCL on GPUs) with the same global batch as one process;
        rank 0 extracts the features first, scores, prints and writes the record.
        """
        from i2vbench.distributed import init_from_env, shutdown

        flags = {"dataset": dataset, "data_root": data_root, "videos": videos, "features": features,
                 "features_layout": features_layout, "features_backbone": features_backbone,
                 "clip_len": clip_len, "durations": durations,
                 "backbone": backbone, "pretrained": pretrained, "seeds": _seeds(seed, seeds),
                 "data_seed": data_seed, "device": device,
                 "methods": [m.strip() for m in methods.split(",") if m.strip()] if methods else None}
        try:
            if task == "all":
                init_from_env(device or "cpu")
                _run_all(flags, config, out, as_json, progress)
                return
            cfg = load_config(task, config, flags)
            init_from_env(cfg.device)  # the backend follows the run's device, from a flag or the config
            done = run_task(cfg, out, progress)
        finally:
            # every rank leaves the process group before its interpreter exits, so gloo's worker
            # threads are joined here and not during interpreter exit (see distributed.init_from_env)
            shutdown()
        if done is None:  # not rank 0
            return
        result, run_json, run_dir, text, wall = done
        if as_json:
            typer.echo(json.dumps({"task": result.task, "ilfm": result.ilfm, "seeds": cfg.seeds,
                                   "data_seed": cfg.resolved_data_seed, "run_dir": str(run_dir),
                                   "datasets": run_json["datasets"], "results": run_json["summary"]}, indent=2))
            return
        _print_run(cfg, result, run_dir, text, wall)


def run_task(cfg, out: Path | None, progress: bool):  # noqa: ANN001, ANN201
    """One task's run: trained, scored, recorded. (result, run.json, run folder, table text, wall
    seconds), or None on ranks other than 0 of a torchrun (they train, rank 0 records). On the
    config's device (:mod:`i2vbench.devices`)."""
    from i2vbench.benchmarks.runner import select_methods
    from i2vbench.devices import use

    select_methods(cfg)  # unknown methods or override keys fail before any data is built
    with use(cfg.device):
        return _run_task_on_device(cfg, out, progress)


def _run_task_on_device(cfg, out: Path | None, progress: bool):  # noqa: ANN001, ANN202
    from i2vbench.benchmarks.runner import (
        configure_threads,
        method_records,
        results_json,
        runner_for,
        write_run,
    )
    from i2vbench.distributed import barrier, local_world, rank_and_world
    from i2vbench.paths import results_dir
    from i2vbench.provenance import code_version, hardware, package_versions, utc_now

    rank, world = rank_and_world()
    configure_threads(max(1, cfg.threads // local_world()) if world > 1 else cfg.threads)
    started, t0 = utc_now(), time.perf_counter()
    if world > 1:
        # rank 0 builds the data and encodes the features once (`bench extract`, for tasks that
        # declare their extraction); the other ranks then find everything in the cache instead
        # of building it side by side
        from i2vbench.benchmarks.runner import FEATURE_PLANS

        if rank == 0 and cfg.task in FEATURE_PLANS:
            extract_features(cfg, progress=progress)
        barrier()
    result = runner_for(cfg.task).run(cfg, progress=progress and rank == 0)
    wall = time.perf_counter() - t0
    if rank > 0:
        return None
    cfg_json = cfg.model_dump(mode="json")
    hw = hardware()
    if world > 1 and isinstance(hw, dict):
        import torch.distributed as dist

        hw = {**hw, "processes": world, "backend": dist.get_backend()}
    provenance = {"code_version": code_version(), "config": cfg_json,
                  "seed": cfg.seeds[0] if len(cfg.seeds) == 1 else None, "hardware": hw,
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
    run_json["summary"] = results_json(result)  # what --json prints (not part of the record)
    return result, run_json, run_dir, text, wall


def _print_run(cfg, result, run_dir: Path, text: str, wall: float) -> None:  # noqa: ANN001
    seeds_text = f"seed {cfg.seeds[0]}" if len(cfg.seeds) == 1 else \
        f"seeds {','.join(map(str, cfg.seeds))} (mean ± sample std)"
    typer.echo(f"\n{result.task.upper()}, backbone {result.ilfm}, {seeds_text}, data seed "
               f"{cfg.resolved_data_seed}, {wall:.0f} s\n")
    typer.echo(text)
    for ds in result.datasets:
        for name, why in ds.skipped.items():
            typer.echo(f"skipped {name} on {ds.dataset}: {why}")
    typer.echo(f"\nrun record: {run_dir / 'run.json'}")


def _run_all(flags: dict[str, Any], config: Path | None, out: Path | None, as_json: bool, progress: bool) -> None:
    """``bench run --task all``: every registered runner's default run in turn (the registry's
    order), then Tables II/III with this sweep's runs beside the survey's rows, and the wall time
    of each task."""
    from i2vbench.benchmarks.runner import runnable_tasks
    from i2vbench.distributed import rank_and_world

    per_task = {"dataset", "data_root", "videos", "features", "methods"}
    given = sorted(k for k, v in flags.items() if v is not None and k in per_task) + (["config"] if config else [])
    if given:
        raise BenchError(f"--task all runs every task's default; {', '.join('--' + k.replace('_', '-') for k in given)} "
                         "name(s) one task's data or methods: run that task alone")
    common = {k: v for k, v in flags.items() if k not in per_task}
    walls: dict[str, float] = {}
    records: list[dict] = []
    summary = []
    for task in runnable_tasks():
        cfg = load_config(task, None, common)
        done = run_task(cfg, out, progress)
        if done is None:
            continue
        result, run_json, run_dir, text, wall = done
        walls[task] = wall
        records += run_json["records"]
        summary.append({"task": task, "run_dir": str(run_dir), "wall_s": round(wall, 1),
                        "results": run_json["summary"]})
        if not as_json:
            _print_run(cfg, result, run_dir, text, wall)
    if rank_and_world()[0] > 0:
        return
    tables_text = _sweep_tables(records)
    if as_json:
        typer.echo(json.dumps({"tasks": summary, "wall_s": walls}, indent=2))
        return
    typer.echo("\n" + tables_text)
    typer.echo("wall time per task: " + ", ".join(f"{t} {w:.0f} s" for t, w in walls.items())
               + f"; total {sum(walls.values()):.0f} s")


def _sweep_tables(records: list[dict]) -> str:
    """Tables II and III (markdown): the survey's rows with this sweep's reproduced rows beside them."""
    from i2vbench.results.reported import REPORTED_DIR, reported_records
    from i2vbench.results.schema import ResultRecord
    from i2vbench.results.tables import RENDERERS, build_rows, select_tasks

    # a task outside the survey (no results/reported/<task>.yaml) has no block in its tables
    specs = [spec for spec in select_tasks(None, None) if (REPORTED_DIR / f"{spec.id}.yaml").is_file()]
    recs = [r for spec in specs for r in reported_records(spec.id)] + [ResultRecord.model_validate(r) for r in records]
    return RENDERERS["md"]([(spec, build_rows(recs, spec)) for spec in specs])
