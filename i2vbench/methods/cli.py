"""Commands of `i2vbench.methods` (see :mod:`i2vbench.cli`): ``bench pretrain``."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import typer

from i2vbench.errors import BenchError


def register(app: typer.Typer) -> None:
    """Add this area's commands to ``bench``."""

    @app.command("pretrain")
    def pretrain_cmd(
        backbone: str = typer.Option("tinyclip", "--backbone", help="backbone to pretrain (only 'tinyclip')"),
        steps: int = typer.Option(4000, "--steps", min=1, help="optimiser steps"),
        batch_size: int = typer.Option(256, "--batch-size", min=2, help="frames per step"),
        lr: float = typer.Option(7e-4, "--lr", min=0.0, help="peak learning rate (warmup, then cosine)"),
        warmup: int = typer.Option(200, "--warmup", min=0, help="linear warmup steps"),
        seed: int = typer.Option(0, "--seed", help="seed of the init and of the frame stream"),
        eval_every: int = typer.Option(500, "--eval-every", min=0, help="held-out zero-shot eval period (0: only at the end)"),
        eval_frames: int = typer.Option(1000, "--eval-frames", min=10, help="held-out single-object frames"),
        partial: float = typer.Option(0.5, "--partial", min=0.0, max=1.0, help="share of captioned objects with attributes left out"),
        single: float = typer.Option(0.5, "--single-object-fraction", min=0.0, max=1.0, help="share of single-object frames per batch"),
        stop_after: int | None = typer.Option(None, "--stop-after", min=1, help="stop after this many steps of the --steps schedule"),
        snapshot_dir: Path | None = typer.Option(None, "--snapshot-dir", help="also write the checkpoint here at every eval"),
        init: Path | None = typer.Option(None, "--init", help="continue from this tinyclip checkpoint (a second stage)"),
        out: Path | None = typer.Option(None, "--out", help="checkpoint directory [default: CACHE/backbones/tinyclip-s<seed>-n<steps>]"),
        force: bool = typer.Option(False, "--force", help="replace an existing --out directory"),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="show a progress bar"),
    ) -> None:
        """Pretrain the embedded tiny CLIP on SynthVid frames (image-text contrastive) and save it.

        Deterministic for a given seed. Use the result with ``--backbone tinyclip --pretrained OUT``,
        or ship it by writing to ``i2vbench/assets/tinyclip`` with ``--force``.
        """
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        if backbone != "tinyclip":
            raise BenchError(f"bench pretrain trains the embedded backbone only; got --backbone {backbone!r}, "
                             "expected 'tinyclip' (open_clip / hf weights are loaded from disk with --pretrained)")
        from i2vbench.paths import cache_dir

        target = out if out is not None else cache_dir() / "backbones" / f"tinyclip-s{seed}-n{steps}"
        if target.exists() and not force:
            raise BenchError(f"refusing to overwrite existing directory {target} (pass --force to replace it)")
        if target.exists() and not target.is_dir():
            raise BenchError(f"--out {target} exists and is not a directory")

        from i2vbench.io import atomic_dir
        from i2vbench.methods.backbones.checkpoint import save_tinyclip
        from i2vbench.methods.backbones.pretrain import PretrainConfig, pretrain

        cfg = PretrainConfig(steps=steps, batch_size=batch_size, lr=lr, warmup_steps=min(warmup, steps),
                             seed=seed, eval_every=eval_every, eval_frames=eval_frames, partial=partial,
                             single_object_fraction=single, stop_after=stop_after,
                             snapshot_dir=str(snapshot_dir) if snapshot_dir else None,
                             init=str(init) if init else None)
        model, metrics = pretrain(cfg, progress=progress, log=lambda s: typer.echo(s, err=True))
        metrics["command"] = (f"bench pretrain --backbone tinyclip --steps {steps} --batch-size {batch_size} "
                              f"--lr {lr:g} --warmup {warmup} --seed {seed} --eval-every {eval_every} "
                              f"--eval-frames {eval_frames} --partial {partial:g} "
                              f"--single-object-fraction {single:g}"
                              + (f" --stop-after {stop_after}" if stop_after else "")
                              + (f" --init {init}" if init else ""))
        if metrics.get("init") and metrics["init"].get("command"):  # the whole recipe, stage by stage
            metrics["command"] = f"{metrics['init']['command']} --out {init} && {metrics['command']}"
        staging = target.with_name(f".{target.name}.new")
        shutil.rmtree(staging, ignore_errors=True)
        with atomic_dir(staging) as tmp:
            save_tinyclip(model, tmp, metrics)
        if target.exists():
            old = target.with_name(f".{target.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(target, old)
            os.replace(staging, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, target)
        keys = [k for k in metrics if k.startswith(("zero_shot", "caption_r1"))]
        summary = ", ".join(f"{k} {100 * metrics[k]:.1f}%" for k in keys)
        typer.echo(f"wrote {target} ({metrics['steps']} steps, {metrics['wall_time_s']:.0f} s){': ' + summary if summary else ''}")
