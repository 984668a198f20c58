"""Commands of `i2vbench.methods` (see :mod:`i2vbench.cli`): ``bench pretrain``."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from i2vbench.errors import BenchError
from i2vbench.io import replace_dir

_RECIPE = "[default: the shipped model's recipe]"


def register(app: typer.Typer) -> None:
    """Add this area's commands to ``bench``."""

    @app.command("pretrain")
    def pretrain_cmd(
        backbone: str = typer.Option("tinyclip", "--backbone", help="embedded model to pretrain: tinyclip (the ILFM), tinylm (the LLM role), tinyground (the grounding ILFM) or tinyvideo (the extra video model)"),
        steps: int | None = typer.Option(None, "--steps", min=1, help=f"optimiser steps {_RECIPE}"),
        epochs: int | None = typer.Option(None, "--epochs", min=1, help=f"tinyvideo: passes over the training clips {_RECIPE}"),
        batch_size: int | None = typer.Option(None, "--batch-size", min=2, help=f"examples per step {_RECIPE}"),
        lr: float | None = typer.Option(None, "--lr", min=0.0, help=f"peak learning rate (warm-up, then cosine) {_RECIPE}"),
        warmup: int | None = typer.Option(None, "--warmup", min=0, help=f"linear warm-up steps {_RECIPE}"),
        seed: int | None = typer.Option(None, "--seed", help=f"seed of the init and of the data stream {_RECIPE}"),
        eval_every: int | None = typer.Option(None, "--eval-every", min=0, help="tinyclip, tinyground: held-out eval period (0: only at the end)"),
        eval_frames: int | None = typer.Option(None, "--eval-frames", min=10, help="tinyclip: held-out single-object stills"),
        partial: float | None = typer.Option(None, "--partial", min=0.0, max=1.0, help="tinyclip: share of captioned objects with attributes left out"),
        single: float | None = typer.Option(None, "--single-object-fraction", min=0.0, max=1.0, help="tinyclip: share of single-object stills per batch"),
        event_focus: float | None = typer.Option(None, "--event-focus", min=0.0, max=1.0, help="tinyclip: share of single-object captions reduced to the event (and colour)"),
        stop_after: int | None = typer.Option(None, "--stop-after", min=1, help="tinyclip: stop after this many steps of the --steps schedule"),
        snapshot_dir: Path | None = typer.Option(None, "--snapshot-dir", help="tinyclip: also write the checkpoint here at every eval"),
        init: str | None = typer.Option(None, "--init", help="tinyclip, tinyground: continue from this tinyclip checkpoint (a directory, or a shipped one by name)"),
        from_scratch: bool = typer.Option(False, "--from-scratch", help="tinyclip, tinyground: start from a random init instead of --init"),
        clips: int | None = typer.Option(None, "--clips", min=1, help="tinyvideo: training clips"),
        eval_clips: int | None = typer.Option(None, "--eval-clips", min=1, help="tinyvideo: held-out clips"),
        frames: int | None = typer.Option(None, "--frames", min=2, help="tinyvideo: frames per clip"),
        out: Path | None = typer.Option(None, "--out", help="checkpoint directory [default: CACHE/backbones/<model>-s<seed>-n<steps>]"),
        force: bool = typer.Option(False, "--force", help="replace an existing --out directory"),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="show a progress bar"),
    ) -> None:
        """Pretrain one of the embedded models on SynthVid, deterministically for a seed.

        With no option a model's shipped recipe runs (its recipe dataclass's defaults: see
        ``i2vbench.methods.backbones.pretrainable``), so ``bench pretrain --backbone NAME``
        remakes ``i2vbench/assets/NAME``; options given override the recipe, and an option the
        model does not take is refused. Use the result with ``--pretrained OUT`` (or the task's
        model option), or ship it with ``--out i2vbench/assets/NAME --force``.
        """
        from i2vbench.methods.backbones.pretrainable import PRETRAINABLE

        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        if backbone not in PRETRAINABLE:
            raise BenchError(f"bench pretrain trains the embedded models only ({', '.join(PRETRAINABLE.names())}); "
                             f"got --backbone {backbone!r} (open_clip / hf weights are loaded from disk with --pretrained)")
        model = PRETRAINABLE.get(backbone)
        options = dict(steps=steps, epochs=epochs, batch_size=batch_size, lr=lr, warmup=warmup, seed=seed,
                       eval_every=eval_every, eval_frames=eval_frames, partial=partial,
                       single_object_fraction=single, event_focus=event_focus, stop_after=stop_after,
                       snapshot_dir=None if snapshot_dir is None else str(snapshot_dir), init=init,
                       clips=clips, eval_clips=eval_clips, frames=frames)
        recipe = model.make_recipe({k: v for k, v in options.items() if v is not None}, from_scratch)
        target = out if out is not None else _cache_target(model.out_name(recipe))
        if target.exists() and not force:
            raise BenchError(f"refusing to overwrite existing directory {target} (pass --force to replace it)")
        if target.exists() and not target.is_dir():
            raise BenchError(f"--out {target} exists and is not a directory")
        weights, metrics = model.pretrain(recipe, progress=progress, log=lambda s: typer.echo(s, err=True))
        replace_dir(target, lambda tmp: model.save_to(weights, tmp, metrics))
        summary = ", ".join(f"{k} {metrics[k]:.4g}" for k in model.summary if k in metrics)
        typer.echo(f"wrote {target} ({metrics.get('wall_time_s', 0):.0f} s){': ' + summary if summary else ''}")


def _cache_target(name: str) -> Path:
    from i2vbench.paths import cache_dir

    return cache_dir() / "backbones" / name
