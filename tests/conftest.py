"""Shared fixtures: the real annotation files (excerpts in tests/data, full files by env var), the CLI."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

ROOT = Path(__file__).resolve().parents[1]
EXCERPTS = Path(__file__).resolve().parent / "data" / "annotations"
# The full public annotation files (tens of MB, not in the repository): a folder laid out as
# ../shared/data/annotations. .ci/run sets the variable and fails when the folder is missing.
FULL_ENV = "I2VBENCH_ANNOTATIONS"


@pytest.fixture(scope="session")
def annotations() -> Path:
    """Excerpts of the real annotation files, in the repository (tests/data/annotations)."""
    return EXCERPTS


@pytest.fixture(scope="session")
def full_annotations() -> Path:
    """The full real annotation files, where I2VBENCH_ANNOTATIONS points.

    Not set: the test is skipped, and says how to run it (pytest -ra prints the reason). Set to a
    folder that is not there: the test fails, so a CI that means to run them cannot skip them.
    """
    where = os.environ.get(FULL_ENV)
    if not where:
        pytest.skip(f"full-file test: set {FULL_ENV} to the annotation folder (../shared/data/annotations)")
    path = Path(where)
    if not path.is_dir():
        pytest.fail(f"{FULL_ENV}={where} is not a folder")
    return path


def parity_harness(relpath: str):  # noqa: ANN201 (a module)
    """A harness of tools/parity/ (``"vtr/clip4clip.py"``), for the case builders the official code
    was run on: the tests rebuild the cases from it rather than keep a copy."""
    import importlib.util

    path = ROOT / "tools" / "parity" / relpath
    spec = importlib.util.spec_from_file_location(f"parity_{path.stem}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def run_bench(*args: str) -> tuple[int, str, str]:
    """Run ``bench ARGS`` in-process; return (exit code, stdout, stderr)."""
    import contextlib
    import io

    from i2vbench.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def quick_run(tmp: Path, task: str, config_yaml: str, cache: str | Path | None = None) -> dict:
    """``bench run --task TASK --json`` with ``config_yaml`` (small SynthVid sizes, one epoch) in
    ``cache`` (default: a fresh ``TMP/cache``), outputs under ``TMP/runs``: the run's JSON plus
    ``cache``, where its data and features stay for the test to rebuild or rerun on."""
    import json

    (tmp / "small.yaml").write_text(config_yaml)
    cache = str(cache or tmp / "cache")
    mp = pytest.MonkeyPatch()
    mp.setenv("I2VBENCH_CACHE", cache)
    try:
        code, stdout, stderr = run_bench("run", "--task", task, "--config", str(tmp / "small.yaml"), "--out",
                                         str(tmp / "runs"), "--json", "--no-progress")
    finally:
        mp.undo()
    assert code == 0, stderr
    return {**json.loads(stdout), "cache": cache}


@pytest.fixture
def bench():
    return run_bench
