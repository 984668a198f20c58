"""Commands of `i2vbench.methods` (see :mod:`i2vbench.cli`): ``bench pretrain``."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from i2vbench.errors import BenchError
from i2vbench.io import replace_dir

# The command's defaults are the shipped checkpoint's recipe (PretrainConfig's defaults), kept
# here as literals so that importing the CLI stays light; tests/test_pretrain.py checks they agree.
RECIPE = dict(steps=1500, batch_size=128, lr=3e-4, warmup_steps=100, seed=2, eval_every=250,
              eval_frames=1000, partial=0.8, single_object_fraction=0.75, event_focus=0.3, init="tinyclip-v1")
# The shipped tinylm's recipe (LMPretrainConfig's defaults; tests/test_tinylm.py checks they agree):
# with --backbone tinylm these replace the options above that are not given on the command line.
LM_RECIPE = dict(steps=800, batch_size=32, lr=1e-3, warmup_steps=100, seed=0)
LM_OPTIONS = {"steps": "steps", "batch_size": "batch_size", "lr": "lr", "warmup": "warmup_steps", "seed": "seed"}
# `--backbone tinyvideo`: options left at their default take these (VideoPretrainConfig's defaults,
# the shipped tinyvideo's recipe); tests/test_tinyvideo.py checks they agree.
VIDEO_RECIPE = dict(train_clips=3000, eval_clips=500, frames=8, epochs=20, batch_size=32, lr=2e-3,
                    warmup_steps=50, seed=0)
# the options `--backbone tinyvideo` reads (by parameter name); any other one given is refused
_VIDEO_OPTIONS = {"backbone": None, "batch_size": "batch_size", "lr": "lr", "warmup": "warmup_steps",
                  "seed": "seed", "epochs": "epochs", "clips": "train_clips", "eval_clips": "eval_clips",
                  "frames": "frames", "out": None, "force": None, "progress": None}


def register(app: typer.Typer) -> None:
    """Add this area's commands to ``bench``."""

    @app.command("pretrain")
    def pretrain_cmd(
        ctx: typer.Context,
        backbone: str = typer.Option("tinyclip", "--backbone", help="embedded model to pretrain: 'tinyclip' (the ILFM), 'tinylm' (the LM), 'tinyground' (the grounding ILFM) or 'tinyvideo' (the extra video model)"),
        steps: int = typer.Option(RECIPE["steps"], "--steps", min=1, help="optimiser steps"),
        batch_size: int = typer.Option(RECIPE["batch_size"], "--batch-size", min=2, help="stills per step"),
        lr: float = typer.Option(RECIPE["lr"], "--lr", min=0.0, help="peak learning rate (warmup, then cosine)"),
        warmup: int = typer.Option(RECIPE["warmup_steps"], "--warmup", min=0, help="linear warmup steps"),
        seed: int = typer.Option(RECIPE["seed"], "--seed", help="seed of the init and of the still stream"),
        eval_every: int = typer.Option(RECIPE["eval_every"], "--eval-every", min=0, help="held-out zero-shot eval period (0: only at the end)"),
        eval_frames: int = typer.Option(RECIPE["eval_frames"], "--eval-frames", min=10, help="held-out single-object stills"),
        partial: float = typer.Option(RECIPE["partial"], "--partial", min=0.0, max=1.0, help="share of captioned objects with attributes left out"),
        single: float = typer.Option(RECIPE["single_object_fraction"], "--single-object-fraction", min=0.0, max=1.0, help="share of single-object stills per batch"),
        event_focus: float = typer.Option(RECIPE["event_focus"], "--event-focus", min=0.0, max=1.0, help="share of single-object captions reduced to the event (and colour)"),
        stop_after: int | None = typer.Option(None, "--stop-after", min=1, help="stop after this many steps of the --steps schedule"),
        snapshot_dir: Path | None = typer.Option(None, "--snapshot-dir", help="also write the checkpoint here at every eval"),
        init: str = typer.Option(RECIPE["init"], "--init", help="continue from this tinyclip checkpoint: a directory, or a shipped one by name"),
        from_scratch: bool = typer.Option(False, "--from-scratch", help="start from a random init instead of --init"),
        out: Path | None = typer.Option(None, "--out", help="checkpoint directory [default: CACHE/backbones/tinyclip-s<seed>-n<steps>]"),
        force: bool = typer.Option(False, "--force", help="replace an existing --out directory"),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="show a progress bar"),
        epochs: int = typer.Option(VIDEO_RECIPE["epochs"], "--epochs", min=1, help="tinyvideo: passes over the training clips"),
        clips: int = typer.Option(VIDEO_RECIPE["train_clips"], "--clips", min=1, help="tinyvideo: training clips"),
        eval_clips: int = typer.Option(VIDEO_RECIPE["eval_clips"], "--eval-clips", min=1, help="tinyvideo: held-out clips"),
        frames: int = typer.Option(VIDEO_RECIPE["frames"], "--frames", min=2, help="tinyvideo: frames per clip"),
    ) -> None:
        """Pretrain the embedded tiny CLIP on SynthVid stills with alt-text (image-text contrastive),
        or with ``--backbone tinylm`` the embedded LM on SynthVid text (next-token prediction).

        With no options: the recipe of the shipped tinyclip (continues from the shipped
        tinyclip-v1). Deterministic for a given seed. Use the result with ``--backbone tinyclip
        --pretrained OUT``, or ship it by writing to ``i2vbench/assets/tinyclip`` with ``--force``.
        With ``--backbone tinylm`` the defaults are the shipped tinylm's recipe (--steps 800
        --batch-size 32 --lr 1e-3 --warmup 100 --seed 0, from scratch); only --steps, --batch-size,
        --lr, --warmup, --seed, --out, --force apply. Ship it with ``--out i2vbench/assets/tinylm --force``.

        ``--backbone tinyvideo``: the extra video model, on SynthVid clips with per-frame event
        labels (options left at their default take the shipped tinyvideo's recipe; the
        tinyclip-only options are refused).
        """
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        if backbone == "tinyvideo":
            _pretrain_tinyvideo(ctx, out, force, progress)
            return
        if backbone == "tinylm":
            # typer vendors click: compare the source by name, not by click's enum
            given = {k for k in ctx.params if getattr(ctx.get_parameter_source(k), "name", "") == "COMMANDLINE"}
            flags = {p.name: p.opts[0] for p in ctx.command.params}
            foreign = sorted(flags[k] for k in given - set(LM_OPTIONS) - {"backbone", "out", "force", "progress"})
            if foreign:
                raise BenchError(f"--backbone tinylm does not take {', '.join(foreign)} (options of tinyclip's recipe)")
            values = {v: ctx.params[k] if k in given else LM_RECIPE[v] for k, v in LM_OPTIONS.items()}
            _pretrain_tinylm(values, out, force)
            return
        if backbone == "tinyground":  # its own recipe; only the options given on the line override it
            from i2vbench.methods.backbones.pretrain_ground import run_cli

            given = {k: v for k, v in ctx.params.items()
                     if getattr(ctx.get_parameter_source(k), "name", None) == "COMMANDLINE"}
            return run_cli(given, log=lambda s: typer.echo(s, err=True))
        if backbone != "tinyclip":
            raise BenchError(f"bench pretrain trains the embedded models only; got --backbone {backbone!r}, "
                             "expected 'tinyclip', 'tinylm', 'tinyground' or 'tinyvideo' (open_clip / hf weights "
                             "are loaded from disk with --pretrained)")
        target = _target(out, f"tinyclip-s{seed}-n{steps}", force)

        from i2vbench.methods.backbones.checkpoint import save_tinyclip
        from i2vbench.methods.backbones.pretrain import PretrainConfig, pretrain

        cfg = PretrainConfig(steps=steps, batch_size=batch_size, lr=lr, warmup_steps=min(warmup, steps),
                             seed=seed, eval_every=eval_every, eval_frames=eval_frames, partial=partial,
                             single_object_fraction=single, event_focus=event_focus, stop_after=stop_after,
                             snapshot_dir=str(snapshot_dir) if snapshot_dir else None,
                             init=None if from_scratch else init)
        model, metrics = pretrain(cfg, progress=progress, log=lambda s: typer.echo(s, err=True))
        metrics["command"] = (f"bench pretrain --backbone tinyclip --steps {steps} --batch-size {batch_size} "
                              f"--lr {lr:g} --warmup {warmup} --seed {seed} --eval-every {eval_every} "
                              f"--eval-frames {eval_frames} --partial {partial:g} "
                              f"--single-object-fraction {single:g} --event-focus {event_focus:g}"
                              + (f" --stop-after {stop_after}" if stop_after else "")
                              + (" --from-scratch" if from_scratch else f" --init {init}"))
        replace_dir(target, lambda tmp: save_tinyclip(model, tmp, metrics))
        keys = [k for k in metrics if k.startswith(("zero_shot", "caption_r1"))]
        summary = ", ".join(f"{k} {100 * metrics[k]:.1f}%" for k in keys)
        typer.echo(f"wrote {target} ({metrics['steps']} steps, {metrics['wall_time_s']:.0f} s){': ' + summary if summary else ''}")


def _target(out: Path | None, default_name: str, force: bool) -> Path:
    from i2vbench.paths import cache_dir

    target = out if out is not None else cache_dir() / "backbones" / default_name
    if target.exists() and not force:
        raise BenchError(f"refusing to overwrite existing directory {target} (pass --force to replace it)")
    if target.exists() and not target.is_dir():
        raise BenchError(f"--out {target} exists and is not a directory")
    return target


def _pretrain_tinylm(values: dict, out: Path | None, force: bool) -> None:
    """``bench pretrain --backbone tinylm``: the LM recipe with ``values`` (LMPretrainConfig fields)."""
    target = _target(out, f"tinylm-s{values['seed']}-n{values['steps']}", force)
    from i2vbench.methods.backbones.lm_pretrain import LMPretrainConfig, pretrain
    from i2vbench.methods.backbones.tinylm import save_tinylm

    cfg = LMPretrainConfig(**{**values, "warmup_steps": min(values["warmup_steps"], values["steps"])})
    model, metrics = pretrain(cfg, log=lambda s: typer.echo(s, err=True))
    metrics["command"] = (f"bench pretrain --backbone tinylm --steps {cfg.steps} --batch-size {cfg.batch_size} "
                          f"--lr {cfg.lr:g} --warmup {values['warmup_steps']} --seed {cfg.seed}")
    replace_dir(target, lambda tmp: save_tinylm(model, tmp, metrics))
    typer.echo(f"wrote {target} ({cfg.steps} steps, {metrics['wall_time_s']:.0f} s): held-out perplexity "
               f"{metrics['heldout_perplexity']:.2f} (uniform {metrics['uniform_perplexity']:.0f}, unigram "
               f"{metrics['heldout_unigram_perplexity']:.1f}), next-word accuracy "
               f"{100 * metrics['heldout_next_word_acc']:.1f}%")


def _pretrain_tinyvideo(ctx: typer.Context, out: Path | None, force: bool, progress: bool) -> None:
    """``bench pretrain --backbone tinyvideo``: the options it reads, the recipe for the rest."""
    # by the source's name: click moves its ParameterSource enum between modules across versions
    given = {k for k in ctx.params
             if getattr(ctx.get_parameter_source(k), "name", "DEFAULT") not in ("DEFAULT", "DEFAULT_MAP")}
    foreign = sorted(given - set(_VIDEO_OPTIONS))
    if foreign:
        flags = ", ".join("--" + k.replace("_", "-") for k in foreign)
        raise BenchError(f"bench pretrain --backbone tinyvideo: {flags} apply to tinyclip only; tinyvideo takes "
                         "--epochs --clips --eval-clips --frames --batch-size --lr --warmup --seed --out")
    recipe = {**VIDEO_RECIPE, **{_VIDEO_OPTIONS[k]: ctx.params[k] for k in given if _VIDEO_OPTIONS.get(k)}}
    target = _target(out, f"tinyvideo-s{recipe['seed']}-e{recipe['epochs']}", force)
    from i2vbench.methods.backbones.tinyvideo import save_tinyvideo
    from i2vbench.methods.backbones.tinyvideo_pretrain import (
        VideoPretrainConfig,
        pretrain_tinyvideo,
    )

    cfg = VideoPretrainConfig(**recipe)
    model, metrics = pretrain_tinyvideo(cfg, progress=progress, log=lambda s: typer.echo(s, err=True))
    metrics["command"] = ("bench pretrain --backbone tinyvideo " + " ".join(
        f"--{flag} {recipe[key]:g}" if isinstance(recipe[key], float) else f"--{flag} {recipe[key]}"
        for flag, key in (("epochs", "epochs"), ("clips", "train_clips"), ("eval-clips", "eval_clips"),
                          ("frames", "frames"), ("batch-size", "batch_size"), ("lr", "lr"),
                          ("warmup", "warmup_steps"), ("seed", "seed"))))
    replace_dir(target, lambda tmp: save_tinyvideo(model, tmp, metrics))
    typer.echo(f"wrote {target} ({metrics['steps']} steps, {metrics['wall_time_s']:.0f} s): "
               f"frame event {100 * metrics['frame_motion_acc']:.1f}%, "
               f"frame direction {100 * metrics['frame_direction_acc']:.1f}%, "
               f"clip event {100 * metrics['clip_motion_acc']:.1f}% on {cfg.eval_clips} held-out clips")
