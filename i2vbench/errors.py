"""The one exception type users see.

Every problem a user can fix (a missing file, a malformed line, an unknown name) is raised as
:class:`BenchError` with a message that names the file, the line or key, and what was expected.
The CLI prints that message alone (no traceback) and exits non-zero.
"""

from __future__ import annotations

from pathlib import Path


class BenchError(Exception):
    """A user-facing error: its message is the whole story."""

    exit_code = 2


def where(path: str | Path, line: int | None = None, key: str | None = None) -> str:
    """Format a location as ``file:line`` or ``file [key]`` for error messages."""
    loc = str(path)
    if line is not None:
        loc += f":{line}"
    if key is not None:
        loc += f" [{key}]"
    return loc


def unknown(kind: str, name: str, known: list[str] | tuple[str, ...]) -> BenchError:
    """The error for a name that is not registered, listing what is."""
    return BenchError(f"unknown {kind} {name!r}; known: {', '.join(sorted(known)) or '(none)'}")
