"""File reading with located errors, and writing that never leaves half a file behind."""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

from i2vbench.errors import BenchError, where


def short_repr(v: Any, limit: int = 60) -> str:
    """``repr`` for error messages, bounded in length and nesting (``reprlib``: a 100,000-deep list
    from a hostile file has no plain repr) and without giant integers' digits."""
    import reprlib

    if isinstance(v, int) and not isinstance(v, bool) and v.bit_length() > 64:
        return f"an integer of {v.bit_length()} bits"
    r = reprlib.Repr()
    r.maxlevel, r.maxstring, r.maxother, r.maxlist, r.maxdict = 3, limit, limit, 6, 6
    r.maxlong = 40
    text = r.repr(v)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def require_file(path: str | Path, what: str = "file") -> Path:
    p = Path(path)
    if not p.is_file():
        raise BenchError(f"{what} not found: {p}")
    return p


# Budgets checked before work: YAML nesting deeper than this is refused before PyYAML's composer
# recurses, and a file larger than MAX_INPUT_BYTES before it is read (TAO val's 107 MB GT is the
# largest real input).
MAX_NESTING = 200
MAX_INPUT_BYTES = 2 << 30


def read_text(path: str | Path, what: str = "text file") -> str:
    """The file as UTF-8 text (a BOM is dropped); bytes that are not UTF-8 are refused with the line."""
    p = require_file(path, what)
    size = p.stat().st_size
    if size > MAX_INPUT_BYTES:
        raise BenchError(f"{p}: {size} bytes; inputs may have at most {MAX_INPUT_BYTES} bytes")
    data = p.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise BenchError(f"{where(p, line)}: not UTF-8 text (byte 0x{data[e.start]:02x}); "
                         f"expected a {what}") from None


def open_text(path: str | Path, what: str = "text file") -> io.StringIO:
    """:func:`read_text` as a file object (newlines kept as they are, for the csv module)."""
    return io.StringIO(read_text(path, what), newline="")


def csv_rows(reader: Any, path: str | Path) -> Iterator[Any]:
    """Rows of a ``csv.reader``/``DictReader``; a csv error (a field over the csv module's limit, a
    NUL byte) becomes a BenchError naming the file and line."""
    inner = getattr(reader, "reader", reader)
    try:
        yield from reader
    except csv.Error as e:
        raise BenchError(f"{where(path, inner.line_num)}: malformed CSV ({e})") from None


def check_nesting(text: str, path: str | Path, limit: int = MAX_NESTING) -> None:
    """Refuse JSON/YAML-flow nesting deeper than ``limit`` (brackets outside strings), before parsing."""
    if text.count("[") + text.count("{") <= limit:
        return
    depth, in_str, esc, line = 0, False, False, 1
    for ch in text:
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            if depth > limit:
                raise BenchError(f"{where(path, line)}: nested more than {limit} deep")
        elif ch in "]}":
            depth -= 1
        elif ch == "\n":
            line += 1


def loads_json(text: str, path: str | Path, line: int | None = None) -> Any:
    """``json.loads`` whose every failure is a BenchError naming ``path`` (and ``line``).

    Deep nesting is caught as the C parser's RecursionError (raised at the interpreter's limit,
    cheaply), not pre-scanned: a Python pass over a 100 MB TAO file would cost seconds."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        if line is not None:  # one line of a JSON-lines file
            raise BenchError(f"{where(path, line)}: malformed JSON ({e.msg})") from None
        raise BenchError(f"{where(path, e.lineno)}: malformed JSON ({e.msg}, column {e.colno})") from None
    except ValueError as e:  # an integer longer than the int-string limit
        raise BenchError(f"{where(path, line)}: unreadable JSON number ({e})") from None
    except RecursionError:
        raise BenchError(f"{where(path, line)}: JSON nested too deeply") from None


def read_json(path: str | Path, what: str = "JSON file") -> Any:
    p = require_file(path, what)
    return loads_json(read_text(p, what), p)


def read_yaml(path: str | Path, what: str = "YAML file") -> Any:
    p = require_file(path, what)
    return loads_yaml(read_text(p, what), p)


MAX_YAML_NODES = 100_000  # after aliases are expanded: a real result file has a few hundred


def _expanded_nodes(obj: Any, path: str | Path, budget: int = MAX_YAML_NODES) -> None:
    """Walk ``obj`` as a reader would see it, aliases expanded: refuse a cycle (``&a [*a]``) or
    more than ``budget`` nodes (a ~500-byte anchor bomb expands to millions)."""
    count, ancestors = 0, set()

    def walk(o: Any) -> None:
        nonlocal count
        count += 1
        if count > budget:
            raise BenchError(f"{path}: more than {budget} values once YAML aliases are expanded "
                             "(an alias bomb?)")
        if isinstance(o, (dict, list)):
            if id(o) in ancestors:
                raise BenchError(f"{path}: a YAML alias refers to itself (a cycle)")
            ancestors.add(id(o))
            for v in (o.values() if isinstance(o, dict) else o):
                walk(v)
            ancestors.discard(id(o))

    walk(obj)


def loads_yaml(text: str, path: str | Path) -> Any:
    """Safe YAML whose every failure is a located BenchError: nesting within MAX_NESTING before
    parsing; aliases allowed (PyYAML itself writes them for shared objects) but expanded within
    MAX_YAML_NODES and without cycles, so what is accepted can be stored and read back."""
    check_nesting(text, path)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(e, "problem", None) or str(e)
        raise BenchError(f"{where(path, line)}: malformed YAML ({problem})") from None
    except (RecursionError, ValueError) as e:
        raise BenchError(f"{where(path)}: unreadable YAML ({type(e).__name__})") from None
    _expanded_nodes(data, path)
    return data


def iter_jsonl(path: str | Path, what: str = "JSON-lines file") -> Iterator[tuple[int, dict]]:
    """Yield ``(line_number, object)`` for each non-blank line; each line must be a JSON object."""
    p = require_file(path, what)
    for n, line in enumerate(read_text(p, what).splitlines(), start=1):
        if not line.strip():
            continue
        obj = loads_json(line, p, n)
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


def claim_dir(parent: Path, name: str) -> Path:
    """Create and return the empty directory ``parent/name``, or ``name-2``, ``name-3``, ... when
    taken. ``mkdir`` either creates or fails, so two processes never claim the same name (two runs
    that finish in the same second get two folders); fill it with :func:`atomic_dir` (``claimed``)."""
    parent.mkdir(parents=True, exist_ok=True)
    for n in itertools.count(1):
        path = parent / (name if n == 1 else f"{name}-{n}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise AssertionError("unreachable")


@contextlib.contextmanager
def atomic_dir(path: str | Path, claimed: bool = False) -> Iterator[Path]:
    """Build a directory in a temporary sibling and move it into place only if the block succeeds.

    On any exception the partial directory is removed, so a failed run leaves nothing behind.
    ``claimed``: ``path`` is the empty directory :func:`claim_dir` made; it is replaced, or
    removed again on failure.
    """
    final = Path(path)
    if final.exists() and not (claimed and final.is_dir() and not any(final.iterdir())):
        raise BenchError(f"refusing to overwrite existing directory {final}")
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    try:
        yield tmp
        os.replace(tmp, final)  # onto an empty directory: replaced in one step
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if claimed:
            with contextlib.suppress(OSError):
                final.rmdir()
        raise


def replace_dir(target: str | Path, write: Callable[[Path], object]) -> Path:
    """Write a folder beside ``target`` with ``write(tmp_dir)``, then swap it in (``target`` may
    exist: a retrained checkpoint): a reader never sees a half-written folder, and the old one is
    removed only once the new one is in place."""
    target = Path(target)
    staging = target.with_name(f".{target.name}.new")
    shutil.rmtree(staging, ignore_errors=True)
    with atomic_dir(staging) as tmp:
        write(tmp)
    if target.exists():
        old = target.with_name(f".{target.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
        os.replace(staging, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staging, target)
    return target


def load_npy(path: str | Path, what: str = ".npy array", max_bytes: int = MAX_INPUT_BYTES) -> Any:
    """A plain (never unpickled) ``.npy`` array, its header checked before anything is allocated:
    an ``.npz`` archive, an object dtype, or a shape whose size disagrees with the file's bytes
    (a header claiming terabytes) is refused naming the file."""
    import numpy as np

    p = require_file(path, what)
    size = p.stat().st_size
    with p.open("rb") as f:
        head = f.read(6)
        if head[:2] == b"PK":
            raise BenchError(f"{p}: an .npz archive where a .npy array is expected (np.save, not np.savez)")
        f.seek(0)
        try:
            major, _ = np.lib.format.read_magic(f)
            if major == 1:
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
            elif major in (2, 3):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
            else:
                raise ValueError(f"unknown .npy format version {major}")
        except (ValueError, OSError, SyntaxError, EOFError) as e:
            raise BenchError(f"{p}: not a .npy file ({e})") from None
        offset = f.tell()
    if dtype.hasobject:
        raise BenchError(f"{p}: object arrays are refused (they would be unpickled)")
    n_items = 1
    for d in shape:
        n_items *= int(d)
    need = n_items * dtype.itemsize
    if need != size - offset or need > max_bytes:
        raise BenchError(f"{p}: header claims shape {tuple(shape)} of {dtype} ({need} bytes), but the "
                         f"file holds {size - offset} bytes of data" + (
                             f" (budget {max_bytes} bytes)" if need > max_bytes else ""))
    try:
        return np.load(p, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise BenchError(f"{p}: cannot read .npy ({e})") from None


class LocatedCsv:
    """A ``csv.reader``/``DictReader`` whose csv errors are BenchErrors naming the file and line."""

    def __init__(self, reader: Any, path: str | Path) -> None:
        self._reader, self._path = reader, path
        self._rows = csv_rows(reader, path)

    def __iter__(self) -> Iterator[Any]:
        return self._rows

    def __next__(self) -> Any:
        return next(self._rows)

    @property
    def line_num(self) -> int:
        return getattr(self._reader, "line_num", None) or self._reader.reader.line_num

    @property
    def fieldnames(self) -> Any:
        try:
            return self._reader.fieldnames
        except csv.Error as e:
            raise BenchError(f"{where(self._path, 1)}: malformed CSV header ({e})") from None


def check_npz(path: str | Path, what: str = ".npz archive", max_bytes: int = MAX_INPUT_BYTES) -> Path:
    """Check an ``.npz`` before numpy reads it: a zip of plain ``.npy`` members whose headers agree
    with their sizes, all within ``max_bytes`` uncompressed (a zip bomb, or a header claiming
    terabytes, is refused before anything is allocated). Returns the path."""
    import zipfile

    import numpy as np

    p = require_file(path, what)
    try:
        with zipfile.ZipFile(p) as z:
            infos = z.infolist()
            total = sum(i.file_size for i in infos)
            if total > max_bytes:
                raise BenchError(f"{p}: {total} bytes uncompressed; at most {max_bytes}")
            for info in infos:
                with z.open(info) as f:
                    major, _ = np.lib.format.read_magic(f)
                    read = (np.lib.format.read_array_header_1_0 if major == 1
                            else np.lib.format.read_array_header_2_0)
                    shape, _, dtype = read(f)
                    offset = f.tell() if f.seekable() else None
                if dtype.hasobject:
                    raise BenchError(f"{p} [{info.filename}]: object arrays are refused (they would be unpickled)")
                need = dtype.itemsize
                for d in shape:
                    need *= int(d)
                header = offset if offset is not None else info.file_size - need
                if need != info.file_size - header:
                    raise BenchError(f"{p} [{info.filename}]: header claims shape {tuple(shape)} of {dtype} "
                                     f"({need} bytes) but the member holds {info.file_size - header}")
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, SyntaxError) as e:
        raise BenchError(f"{p}: not a readable .npz archive ({e})") from None
    return p
