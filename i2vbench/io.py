"""File reading with located errors, and writing that never leaves half a file behind."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from i2vbench.errors import BenchError, where


def require_file(path: str | Path, what: str = "file") -> Path:
    p = Path(path)
    if not p.is_file():
        raise BenchError(f"{what} not found: {p}")
    return p


def read_json(path: str | Path, what: str = "JSON file") -> Any:
    p = require_file(path, what)
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise BenchError(f"{where(p, e.lineno)}: malformed JSON ({e.msg}, column {e.colno})") from None
    except UnicodeDecodeError:
        raise BenchError(f"{p}: not UTF-8 text; expected a {what}") from None


def read_yaml(path: str | Path, what: str = "YAML file") -> Any:
    p = require_file(path, what)
    try:
        return yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(e, "problem", None) or str(e)
        raise BenchError(f"{where(p, line)}: malformed YAML ({problem})") from None
    except UnicodeDecodeError:
        raise BenchError(f"{p}: not UTF-8 text; expected a {what}") from None


def iter_jsonl(path: str | Path, what: str = "JSON-lines file") -> Iterator[tuple[int, dict]]:
    """Yield ``(line_number, object)`` for each non-blank line; each line must be a JSON object."""
    p = require_file(path, what)
    with p.open(encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise BenchError(f"{where(p, n)}: malformed JSON ({e.msg})") from None
            if not isinstance(obj, dict):
                raise BenchError(f"{where(p, n)}: expected a JSON object, got {type(obj).__name__}")
            yield n, obj


def _tmp_sibling(path: Path) -> Path:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    return Path(tmp)


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` via a temporary file and rename, so readers never see half of it."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_sibling(p)
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, p)
    finally:
        tmp.unlink(missing_ok=True)
    return p


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_sibling(p)
    try:
        tmp.write_bytes(data)
        os.replace(tmp, p)
    finally:
        tmp.unlink(missing_ok=True)
    return p


def dump_json(obj: Any) -> str:
    return json.dumps(obj, indent=2, sort_keys=False, ensure_ascii=False) + "\n"


def dumps_jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Build a directory in a temporary sibling and move it into place only if the block succeeds.

    On any exception the partial directory is removed, so a failed run leaves nothing behind.
    """
    final = Path(path)
    if final.exists():
        raise BenchError(f"refusing to overwrite existing directory {final}")
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    try:
        yield tmp
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
