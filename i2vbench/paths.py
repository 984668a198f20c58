"""Where the suite keeps generated data, caches and results."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path


def cache_dir() -> Path:
    """Generated datasets and extracted features: ``$I2VBENCH_CACHE`` or ``~/.cache/i2vbench``."""
    return Path(os.environ.get("I2VBENCH_CACHE", Path.home() / ".cache" / "i2vbench"))


def results_dir() -> Path:
    """The results tree (reported/, runs/, submissions/): ``$I2VBENCH_RESULTS`` or ``./results``."""
    return Path(os.environ.get("I2VBENCH_RESULTS", "results"))


ASSETS = Path(__file__).resolve().parent / "assets"


# A name that is safe as one path component everywhere: no separator, no "." / "..", no leading
# dot or dash tricks beyond what real ids use (YouTube ids start with "-"), bounded length.
_SAFE_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}")


def is_safe_name(name: str) -> bool:
    return isinstance(name, str) and _SAFE_NAME.fullmatch(name) is not None


def safe_name(name: str) -> str:
    """``name`` itself when it is a safe file name (so existing caches keep their names), else a
    readable, collision-free stand-in: ``=`` (which no safe name starts with) + the name's safe
    characters + a hash of the whole name. An id such as ``../../x`` never becomes a path."""
    if is_safe_name(name):
        return name
    readable = re.sub(r"[^A-Za-z0-9._-]", "_", str(name))[:40]
    return f"={readable}-{hashlib.sha256(str(name).encode('utf-8', 'surrogatepass')).hexdigest()[:16]}"


def require_safe_name(name: str, what: str, source: object) -> str:
    """Refuse an id that would be read as a path where a released layout names files by id."""
    from i2vbench.errors import BenchError

    if not is_safe_name(name):
        raise BenchError(f"{source}: {what} {str(name)[:60]!r} is not a plain file name "
                         "(letters, digits, '.', '_', '-'; at most 128); refusing to use it as a path")
    return name
