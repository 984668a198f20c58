"""``bench pretrain``: a short smoke run learns (the loss falls), is deterministic for a seed
(bit-identical weights whether batches are rendered in-process or by a worker), and writes a
loadable checkpoint with its metrics and the command that made it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from i2vbench.methods.backbones import load_backbone
from i2vbench.methods.backbones.pretrain import (
    PretrainConfig,
    contrastive_loss,
    lr_at,
    pretrain,
    synthvid_frames,
    training_batches,
)

SMOKE = dict(steps=8, batch_size=16, lr=1e-3, warmup_steps=2, eval_every=0, eval_frames=40,
             retrieval_pool=32, init=None)


def test_loss_goes_down_on_a_fixed_batch():
    """30 steps on one repeated batch of 32 real SynthVid frames: the contrastive loss must fall
    well below its start (ln 32 ~ 3.47 is chance; measured: 3.54 -> 2.76)."""
    cache: dict = {}

    def fixed(n, seed, single, partial, event_focus):
        key = (n, single)
        if key not in cache:
            cache[key] = synthvid_frames(n, 12345 + single, single, partial, event_focus)
        return cache[key]

    losses: list[float] = []
    pretrain(PretrainConfig(steps=30, batch_size=32, lr=3e-4, warmup_steps=10, eval_every=0, workers=0, init=None),
             source=fixed, prompts=None, progress=False, on_step=lambda i, v: losses.append(v))
    assert len(losses) == 30
    assert np.mean(losses[-5:]) < np.mean(losses[:5]) - 0.3, losses


def test_same_seed_same_weights_via_cli(bench, tmp_path):
    """Two fresh ``bench pretrain`` processes with the same seed write bit-identical weights.

    (Fresh processes: within one long-lived process, CPU GEMM kernels may pick another blocking
    for differently aligned buffers, which changes float rounding.)"""
    import subprocess
    import sys

    args = [sys.executable, "-m", "i2vbench.cli", "pretrain", "--backbone", "tinyclip", "--steps", "8",
            "--batch-size", "16", "--lr", "1e-3", "--warmup", "2", "--eval-every", "0", "--eval-frames", "40",
            "--seed", "0", "--from-scratch", "--no-progress"]
    for name in ("a", "b"):
        r = subprocess.run([*args, "--out", str(tmp_path / name)], capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr
        assert "wrote" in r.stdout
    wa, wb = load_file(str(tmp_path / "a" / "model.safetensors")), load_file(str(tmp_path / "b" / "model.safetensors"))
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    saved = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert saved["command"].startswith("bench pretrain --backbone tinyclip --steps 8 --batch-size 16")
    assert saved["seed"] == 0 and saved["steps"] == 8 and saved["train_frames"] == 128
    assert saved["command"].endswith("--from-scratch") and saved["init"] is None
    for k in ("zero_shot_shape_acc", "zero_shot_color_acc", "caption_r1_among_256", "zero_shot_kind_balanced_acc",
              "zero_shot_direction_acc", "text_event_prototype_acc", "text_kind_prototype_acc"):
        assert 0.0 <= saved[k] <= 1.0
    assert saved["torch_version"] == torch.__version__
    m = load_backbone("tinyclip", str(tmp_path / "a"))
    assert m.backbone_id.startswith("tinyclip-") and not m.backbone_id.endswith("random")


def test_worker_rendering_gives_the_same_stream():
    """Batches rendered by a spawned worker equal those rendered in-process, and batch i
    depends on (seed, i) only; another seed gives another stream."""
    cfg = PretrainConfig(**{**SMOKE, "steps": 3})
    here = list(training_batches(PretrainConfig(**{**SMOKE, "steps": 3}, workers=0), synthvid_frames))
    there = list(training_batches(PretrainConfig(**{**SMOKE, "steps": 3}, workers=1), synthvid_frames))
    assert len(here) == len(there) == cfg.steps
    for (ia, ca), (ib, cb) in zip(here, there, strict=True):
        assert np.array_equal(ia, ib) and ca == cb
    assert not np.array_equal(here[0][0], here[1][0])
    other = next(iter(training_batches(PretrainConfig(**{**SMOKE, "steps": 1}, seed=1, workers=0), synthvid_frames)))
    assert not np.array_equal(other[0], here[0][0])


def test_shape_focused_single_object_captions():
    """Single-object training captions always name the shape; other attributes drop out."""
    from i2vbench.datasets.synthvid import SHAPES

    _, caps, shapes, _, _ = synthvid_frames(40, 3, True, 0.5)
    assert all(SHAPES[s] in c.split() for c, s in zip(caps, shapes, strict=True))
    assert any(c == f"a {SHAPES[s]}" for c, s in zip(caps, shapes, strict=True))
    _, full, _, _, _ = synthvid_frames(40, 3, True, 0.0)  # partial 0: SynthVid's own full captions
    assert all(len(c.split()) >= 4 for c in full)


def test_cli_refuses_to_overwrite_and_other_backbones(bench, tmp_path):
    (tmp_path / "x").mkdir()
    code, _, err = bench("pretrain", "--steps", "1", "--out", str(tmp_path / "x"))
    assert code == 2 and "refusing to overwrite" in err and "--force" in err
    code, _, err = bench("pretrain", "--backbone", "open_clip:ViT-B-32", "--steps", "1", "--out", str(tmp_path / "y"))
    assert code == 2 and "tinyclip" in err
    assert not (tmp_path / "y").exists()


def test_command_defaults_are_the_recipe():
    """`bench pretrain --backbone tinyclip` with no options continues from the shipped
    tinyclip-v1 (that its defaults are the shipped recipe: tests/test_pretrainable.py)."""
    from i2vbench.methods.backbones.pretrain import resolve_init

    assert (resolve_init(PretrainConfig().init) / "model.safetensors").is_file()


def test_lr_schedule():
    cfg = PretrainConfig(steps=1000, lr=1e-3, warmup_steps=100, min_lr_ratio=0.0)
    assert lr_at(0, cfg) == pytest.approx(1e-5)
    assert lr_at(99, cfg) == pytest.approx(1e-3)
    assert lr_at(550, cfg) == pytest.approx(5e-4)  # half-way through the cosine
    assert lr_at(1000, cfg) == pytest.approx(0.0, abs=1e-12)


def test_contrastive_loss_treats_identical_captions_as_positives():
    # two frames share a caption: with logits that put equal mass on both, the loss is ln 2 per row
    big = 30.0
    logits = torch.tensor([[big, big, 0.0], [big, big, 0.0], [0.0, 0.0, big]])
    loss = contrastive_loss(logits, logits.t(), ["a red circle", "a red circle", "a blue square"])
    # rows 0, 1: target (1/2, 1/2, 0), log-softmax ~ (-ln2, -ln2, -inf) -> ln 2; row 2: ~0
    assert float(loss) == pytest.approx(2 * np.log(2) / 3, abs=1e-6)


def test_init_continues_from_a_checkpoint(tmp_path):
    """``--init`` (a second stage) starts from the given weights and records where it came from."""
    from i2vbench.methods.backbones.checkpoint import save_tinyclip
    from i2vbench.methods.backbones.tinyclip import TinyCLIP, TinyCLIPConfig

    torch.manual_seed(5)
    start = TinyCLIP(TinyCLIPConfig())
    save_tinyclip(start, tmp_path / "s1", {"command": "bench pretrain --backbone tinyclip --steps 1", "steps": 1})
    cfg = PretrainConfig(steps=1, batch_size=8, lr=1e-4, warmup_steps=1, workers=0, init=str(tmp_path / "s1"))
    model, metrics = pretrain(cfg, prompts=None, progress=False)
    assert metrics["init"]["command"] == "bench pretrain --backbone tinyclip --steps 1"
    assert len(metrics["init"]["sha256"]) == 64
    w0 = start.visual_proj.weight.detach().half().float()
    delta = (model.visual_proj.weight.detach() - w0).abs().max()
    assert 0 < delta < 1e-3  # one small step away from the loaded (fp16) weights, not a fresh init
