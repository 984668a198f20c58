"""The checkpoint format of the embedded models (tinyclip, tinylm, ...): a directory with
``model.safetensors``, ``config.json`` (the model config's ``to_dict()``) and ``metrics.json``.
Safetensors and JSON only, so loading a checkpoint never runs code."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import torch
from torch import nn

from i2vbench.errors import BenchError
from i2vbench.io import atomic_write_bytes, atomic_write_text, dump_json, read_json
from i2vbench.methods.backbones.tinyclip import TinyCLIP, TinyCLIPConfig

WEIGHTS_FILE, CONFIG_FILE, METRICS_FILE = "model.safetensors", "config.json", "metrics.json"
M = TypeVar("M", bound=nn.Module)


def save_checkpoint(model: nn.Module, out_dir: str | Path, metrics: dict | None = None,
                    dtype: torch.dtype = torch.float32) -> Path:
    """Write ``model``'s weights (as ``dtype``), its ``config.to_dict()`` and ``metrics`` into
    ``out_dir``, each file atomically."""
    from safetensors.torch import save

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu", dtype).contiguous() for k, v in model.state_dict().items()}
    atomic_write_bytes(out / WEIGHTS_FILE, save(state, metadata={"format": "pt"}))
    atomic_write_text(out / CONFIG_FILE, dump_json(model.config.to_dict()))
    if metrics is not None:
        atomic_write_text(out / METRICS_FILE, dump_json(metrics))
    return out


def load_checkpoint(path: str | Path, name: str, build: Callable[[dict], M], device: str = "cpu",
                    hint: str = "") -> M:
    """The model ``build(config)`` of a checkpoint directory (or of its ``model.safetensors`` with
    ``config.json`` beside it), its weights checked against the config key by key and shape by
    shape; ``name`` says what kind of checkpoint in errors, ``hint`` how to get missing weights.
    A config ``build`` refuses (``TypeError``/``ValueError``, e.g. an unknown key) is a
    :class:`BenchError` naming the file."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    p = Path(path)
    d = p if p.is_dir() else p.parent
    weights = d / WEIGHTS_FILE if p.is_dir() else p
    if not weights.is_file():
        raise BenchError(f"{name} weights not found: {weights}" + (f" ({hint})" if hint else ""))
    config = read_json(d / CONFIG_FILE, f"{name} config.json")
    if not isinstance(config, dict):
        raise BenchError(f"{d / CONFIG_FILE}: expected a JSON object of {name}'s config fields")
    try:
        model = build(config)
    except (TypeError, ValueError) as e:
        raise BenchError(f"{d / CONFIG_FILE}: {e}") from None
    try:
        state = load_file(str(weights), device="cpu")
    except (SafetensorError, OSError) as e:
        raise BenchError(f"{weights}: not a readable safetensors file ({e})") from None
    want = model.state_dict()
    missing, extra = sorted(set(want) - set(state)), sorted(set(state) - set(want))
    if missing or extra:
        raise BenchError(f"{weights}: does not match {d / CONFIG_FILE} "
                         f"(missing {missing[:5]}, unexpected {extra[:5]})")
    bad = [k for k in want if want[k].shape != state[k].shape]
    if bad:
        raise BenchError(f"{weights} [{bad[0]}]: shape {tuple(state[bad[0]].shape)}, "
                         f"config expects {tuple(want[bad[0]].shape)}")
    model.load_state_dict({k: v.float() for k, v in state.items()})
    return model.to(device).eval()


def save_tinyclip(model: TinyCLIP, out_dir: str | Path, metrics: dict | None = None,
                  dtype: torch.dtype = torch.float16) -> Path:
    """tinyclip ships in fp16 (half the size; it trains and runs under bf16 autocast anyway)."""
    return save_checkpoint(model, out_dir, metrics, dtype)


def load_tinyclip(path: str | Path, device: str = "cpu") -> TinyCLIP:
    return load_checkpoint(path, "tinyclip", lambda c: TinyCLIP(TinyCLIPConfig.from_dict(c)), device)


def read_metrics(path: str | Path) -> dict:
    """The ``metrics.json`` a checkpoint directory ships with."""
    return read_json(Path(path) / METRICS_FILE, "checkpoint metrics.json")
