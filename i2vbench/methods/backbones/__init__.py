"""ILFM backbones, addressed by spec strings: ``tinyclip``, ``open_clip:<arch>``, ``hf:<dir>``.

:func:`load_backbone` resolves a spec (plus an optional weights path) to an :class:`ILFM`.
Nothing here downloads: real weights come from a path on disk.
"""

from __future__ import annotations

from i2vbench.methods.backbones.base import ILFM, TextOutput, VisualOutput
from i2vbench.registry import Registry

BACKBONES: Registry = Registry("backbone")

__all__ = ["BACKBONES", "ILFM", "TextOutput", "VisualOutput"]
