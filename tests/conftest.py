"""Shared fixtures: paths to the real annotation files beside the project, and the CLI runner."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
ANNOTATIONS = SHARED / "data" / "annotations"


@pytest.fixture(scope="session")
def annotations() -> Path:
    """The real public annotation files (../shared/data/annotations); skip if absent."""
    if not ANNOTATIONS.is_dir():
        pytest.skip(f"real annotation files not found at {ANNOTATIONS}")
    return ANNOTATIONS


def run_bench(*args: str) -> tuple[int, str, str]:
    """Run ``bench ARGS`` in-process; return (exit code, stdout, stderr)."""
    import contextlib
    import io

    from i2vbench.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def bench():
    return run_bench
