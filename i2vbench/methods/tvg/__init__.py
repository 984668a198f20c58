"""Temporal video grounding methods; importing this module registers them."""

from i2vbench.methods.tvg import adapter, moment_detr, prior, r2_tuning  # noqa: F401
