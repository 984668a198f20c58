"""ILFM backbones, addressed by spec strings: ``tinyclip``, ``open_clip:<arch>``, ``hf:<dir>``.

:func:`load_backbone` resolves a spec (plus an optional weights path) to an :class:`ILFM`;
:func:`backbone_id` names the exact weights (spec + checkpoint sha256 prefix) so that feature
caches never mix encoders. Nothing here downloads: real weights come from a path on disk.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable
from pathlib import Path

from i2vbench.errors import BenchError
from i2vbench.methods.backbones.base import ILFM, TextOutput, VisualOutput
from i2vbench.paths import ASSETS
from i2vbench.registry import Registry

# name -> loader(arg, pretrained, device) where ``arg`` is the part after ``name:`` (or None)
Loader = Callable[[str | None, str | None, str], ILFM]
BACKBONES: Registry[Loader] = Registry("backbone")

TINYCLIP_DIR = ASSETS / "tinyclip"
WEIGHTS_FILE = "model.safetensors"


def parse_spec(spec: str) -> tuple[str, str | None]:
    """``"open_clip:ViT-B-32"`` → ``("open_clip", "ViT-B-32")``; ``"tinyclip"`` → ``("tinyclip", None)``."""
    name, sep, arg = spec.partition(":")
    if name not in BACKBONES:
        BACKBONES.get(name)  # raises the "unknown backbone ...; known: ..." error
    return name, (arg if sep else None)


def load_backbone(spec: str, pretrained: str | None = None, *, device: str | None = None) -> ILFM:
    """Build the ILFM named by ``spec`` with weights from ``pretrained`` (a local path) if given,
    on ``device`` (default: the run's, :func:`i2vbench.devices.current`).

    The returned model is in eval mode and carries ``.spec`` and ``.backbone_id``.
    """
    from i2vbench.devices import current

    device = device or str(current())
    name, arg = parse_spec(spec)
    model = BACKBONES.get(name)(arg, pretrained, device)
    model.spec = spec
    model.backbone_id = backbone_id(spec, pretrained)
    return model.to(device).eval()


_SHA_CACHE: dict[tuple[str, int, int], str] = {}


def file_sha256(path: str | Path) -> str:
    """sha256 of a file, memoised on (path, size, mtime) since weights can be hundreds of MB."""
    p = Path(path).resolve()
    st = p.stat()
    key = (str(p), st.st_size, st.st_mtime_ns)
    if key not in _SHA_CACHE:
        h = hashlib.sha256()
        with p.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        _SHA_CACHE[key] = h.hexdigest()
    return _SHA_CACHE[key]


def weights_files(spec: str, pretrained: str | None) -> list[Path]:
    """The files whose bytes determine the model's weights (empty for a random init)."""
    name, arg = parse_spec(spec)
    if name == "tinyclip":
        p = Path(pretrained) if pretrained else TINYCLIP_DIR
        p = p / WEIGHTS_FILE if p.is_dir() else p
        return [p] if p.is_file() else []
    if name == "tinyground":
        from i2vbench.methods.backbones.grounding import TINYGROUND_DIR

        d = Path(pretrained) if pretrained else TINYGROUND_DIR
        return [d / WEIGHTS_FILE] if (d / WEIGHTS_FILE).is_file() else []
    if name == "hf":
        d = Path(pretrained or arg or "")
        return sorted(f for f in d.glob("*") if f.suffix in {".safetensors", ".bin"} or f.name == "config.json")
    return [Path(pretrained)] if pretrained and Path(pretrained).is_file() else []


def backbone_id(spec: str, pretrained: str | None = None) -> str:
    """A stable, filename-safe id of spec + weights, e.g. ``tinyclip-3f2a9c1b7d04``.

    Two loads give the same id exactly when they give the same weights; random inits get
    ``-random`` (they are seeded by the caller, so the id alone does not pin them).
    """
    files = weights_files(spec, pretrained)
    if files:
        h = hashlib.sha256()
        for f in files:
            h.update(file_sha256(f).encode())
        tag = h.hexdigest()[:12]
    else:
        tag = "random"
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in spec)
    return f"{safe}-{tag}"


@BACKBONES.register("tinyclip")
def _load_tinyclip(arg: str | None, pretrained: str | None, device: str) -> ILFM:
    """Embedded ~1.3 M-param CLIP pretrained on SynthVid frames (shipped in i2vbench/assets/tinyclip)."""
    from i2vbench.methods.backbones.checkpoint import load_tinyclip

    if arg:
        raise BenchError(f"backbone 'tinyclip' takes no argument, got 'tinyclip:{arg}'")
    source = Path(pretrained) if pretrained else TINYCLIP_DIR
    if pretrained is None and not (TINYCLIP_DIR / WEIGHTS_FILE).is_file():
        from i2vbench.methods.backbones.tinyclip import TinyCLIP, TinyCLIPConfig

        warnings.warn(f"no shipped tinyclip checkpoint in {TINYCLIP_DIR}: using a random init "
                      "(run `bench pretrain --backbone tinyclip`)", stacklevel=3)
        return TinyCLIP(TinyCLIPConfig())
    return load_tinyclip(source, device=device)


@BACKBONES.register("tinyground")
def _load_tinyground(arg: str | None, pretrained: str | None, device: str) -> ILFM:
    """Embedded grounding ILFM, MDETR / Grounding DINO's role (shipped in i2vbench/assets/tinyground).

    tinyclip's towers + fusion + box decoder; as an ILFM it exposes the towers."""
    from i2vbench.methods.backbones.grounding import TINYGROUND_DIR, load_tinyground

    if arg:
        raise BenchError(f"backbone 'tinyground' takes no argument, got 'tinyground:{arg}'")
    return load_tinyground(pretrained or TINYGROUND_DIR, device=device)


@BACKBONES.register("open_clip")
def _load_open_clip(arg: str | None, pretrained: str | None, device: str) -> ILFM:
    """open_clip ViT (open_clip:<arch>), weights from a local file given with --pretrained."""
    from i2vbench.methods.backbones.openclip import load_open_clip

    return load_open_clip(arg, pretrained, device)


@BACKBONES.register("hf")
def _load_hf(arg: str | None, pretrained: str | None, device: str) -> ILFM:
    """Hugging Face CLIPModel / SiglipModel saved in a local directory (hf:<dir>)."""
    from i2vbench.methods.backbones.hf import load_hf

    return load_hf(arg, pretrained, device)


__all__ = ["BACKBONES", "ILFM", "TextOutput", "VisualOutput", "backbone_id", "load_backbone",
           "parse_spec", "TINYCLIP_DIR"]
