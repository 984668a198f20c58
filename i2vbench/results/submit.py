"""``bench submit``: validate a new result strictly and store it under ``results/submissions/``.

Two ways in: a result YAML with self-reported numbers, or predictions that the suite scores with
its own evaluator (``bench eval``) and stores with the predictions' sha256: as ``verified`` when
every ground-truth input is registered for the dataset and split (:mod:`.trusted`), else as
``self-scored``.
Every problem found is reported on its own line (field path + what was expected) and nothing is
written unless all records pass. Nothing from a submission is executed or unpickled: YAML goes
through a safe YAML loader without aliases and predictions through the task's evaluator; sizes are capped; the
file name is derived from the record (never a path the submitter chose).
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from i2vbench.errors import BenchError, where
from i2vbench.results.schema import (
    ResultRecord,
    format_validation_error,
    known_metrics,
)
from i2vbench.results.store import MAX_SUBMISSION_BYTES, load_submissions, submissions_dir
from i2vbench.tasks import TASKS

SCORED_KINDS = ("verified", "self-scored")  # kinds the suite scores itself, from predictions
MAX_PREDICTIONS_BYTES = 1 << 30  # TAO-val-size predictions are a few hundred MB
_PATH_CHARS = re.compile(r"[/\\\x00-\x1f\x7f]")
_URL = re.compile(r"^https?://\S+$")


def known_datasets(task: str) -> list[str]:
    """The survey's datasets of the task plus any registered dataset (e.g. SynthVid) for it."""
    spec = TASKS.get(task)
    names = list(spec.datasets)
    try:
        from i2vbench.datasets.registry import load_all

        names += [n for n, s in load_all().items() if task in s.tasks and n not in names]
    except ImportError:  # a dataset module that does not import must not block submissions
        pass
    return names


def identity(rec: ResultRecord) -> tuple[str, str, str, str]:
    """What makes two results the same result: method (case/space-insensitive), task, dataset, split."""
    return (" ".join(rec.method.casefold().split()), rec.task, rec.dataset, rec.split)


def safe_name(rec: ResultRecord) -> str:
    """A file name from the record: readable slug + a hash of its identity (so slugs never collide)."""
    def slug(s: str) -> str:
        return re.sub(r"[^a-z0-9+]+", "-", s.lower()).strip("-")[:60] or "x"

    digest = hashlib.sha256("\x1f".join(identity(rec)).encode()).hexdigest()[:10]
    return f"{slug(rec.task)}--{slug(rec.dataset)}--{slug(rec.split)}--{slug(rec.method)}--{digest}.yaml"


def _raw_problems(data: dict[str, Any], src: str) -> list[str]:
    """Checks that read the raw fields (so they are reported even when the schema check fails)."""
    problems = []
    method = data.get("method")
    if isinstance(method, str):
        if _PATH_CHARS.search(method) or method.strip().startswith(".") or ".." in method:
            problems.append(f"{where(src, key='method')}: {method!r} contains path characters "
                            "('/', '\\', '..', a leading '.', or control characters); expected a plain name")
        elif any(unicodedata.category(ch) == "Cf" for ch in method):
            # bidi overrides (U+202E ...) and other invisible format characters make a name print
            # as another one in tables and on the site
            problems.append(f"{where(src, key='method')}: {method.encode('unicode_escape').decode()!r} contains "
                            "invisible format characters (e.g. a right-to-left override); expected a plain name")
    task = data.get("task")
    if isinstance(task, str) and task in TASKS:
        dataset = data.get("dataset")
        ds_known = known_datasets(task)
        if isinstance(dataset, str) and dataset not in ds_known:
            problems.append(f"{where(src, key='dataset')}: unknown dataset {dataset!r} for task {task}; "
                            f"expected one of {', '.join(ds_known)}")
        metrics = data.get("metrics")
        if isinstance(metrics, dict):
            allowed = known_metrics(task)
            for key in metrics:
                if key not in allowed:
                    problems.append(f"{where(src, key=f'metrics.{key}')}: unknown metric name for task "
                                    f"{task}; expected one of {', '.join(allowed)}")
            if metrics and all(v is None for v in metrics.values()):
                problems.append(f"{where(src, key='metrics')}: every value is null; expected at least one number")
    citation = data.get("citation")
    if isinstance(citation, dict):
        url = citation.get("url")
        if not url:
            problems.append(f"{where(src, key='citation.url')}: required field is missing "
                            "(a link to the paper or code)")
        elif not (isinstance(url, str) and _URL.match(url)):
            problems.append(f"{where(src, key='citation.url')}: expected an http(s) URL, got {url!r}")
    prov = data.get("provenance")
    if not (isinstance(prov, dict) and prov.get("submitter")):
        problems.append(f"{where(src, key='provenance.submitter')}: required field is missing "
                        "(who submits; or pass --submitter)")
    return problems


def validate(data: Any, src: str, kind: str) -> ResultRecord:
    """All problems of one submitted record at once, or the record ready to store."""
    if not isinstance(data, dict):
        raise BenchError(f"{src}: expected a mapping of result fields (task, dataset, method, ...), "
                         f"got {type(data).__name__}")
    data = dict(data)
    problems = []
    given_kind = data.setdefault("kind", kind)
    if given_kind != kind:
        problems.append(f"{where(src, key='kind')}: a submission of numbers is {kind!r}, not {given_kind!r}")
    for key in ("survey",):
        if key in data:
            problems.append(f"{where(src, key=key)}: reserved for the survey's reported rows")
    prov = data.get("provenance")
    if isinstance(prov, dict) and kind not in SCORED_KINDS and prov.get("predictions_sha256"):
        problems.append(f"{where(src, key='provenance.predictions_sha256')}: only set by the suite "
                        "for verified results (use --predictions)")
    problems += _raw_problems(data, src)
    rec = None
    try:
        rec = ResultRecord.model_validate(data)
    except ValidationError as e:
        problems += [p for p in format_validation_error(e, src).splitlines() if p not in problems]
    if problems:
        raise BenchError("\n".join(dict.fromkeys(problems)))
    assert rec is not None
    return rec


def _now() -> str:
    from i2vbench.provenance import utc_now

    return utc_now()


def _store(records: list[ResultRecord], replace: bool, src: str) -> list[Path]:
    """Refuse duplicates (unless ``replace``), then write each record atomically."""
    import yaml

    from i2vbench.io import atomic_write_text
    from i2vbench.results.reported import reported_records

    existing = {identity(r): p for p, r in load_submissions()}
    reported = {identity(r) for r in reported_records()}
    problems, seen = [], set()
    for i, rec in enumerate(records):
        ident = identity(rec)
        loc = src if len(records) == 1 else f"{src} [{i}]"
        what = f"{rec.method!r} on {rec.task}/{rec.dataset}/{rec.split}"
        if ident in reported:
            problems.append(f"{loc}: {what} is a reported row of the survey; submit under another method name")
        elif ident in seen:
            problems.append(f"{loc}: {what} appears twice in this submission")
        elif ident in existing and not replace:
            problems.append(f"{loc}: {what} is already submitted ({existing[ident]}); "
                            "pass --replace to replace it")
        seen.add(ident)
    if problems:
        raise BenchError("\n".join(problems))
    out_dir = submissions_dir()
    # 1. every record as the text that will be stored, re-read as `bench leaderboard` reads it
    staged: list[tuple[Path, str]] = []
    for i, rec in enumerate(records):
        path = out_dir / safe_name(rec)
        if path.resolve().parent != out_dir.resolve():  # cannot happen with safe_name; belt and braces
            raise BenchError(f"{src}: refusing to write outside {out_dir}")
        text = yaml.safe_dump(rec.model_dump(mode="json", exclude_none=True), sort_keys=False,
                              allow_unicode=True)
        _check_rereads(text, rec, src if len(records) == 1 else f"{src} [{i}]")
        staged.append((path, text))
    # 2. all or nothing: write every file beside its target, then rename them all; a failure
    # anywhere puts back what was there and removes what was added
    out_dir.mkdir(parents=True, exist_ok=True)
    temps: list[Path] = []
    done: list[tuple[Path, bytes | None]] = []
    try:
        for path, text in staged:
            tmp = out_dir / f".{path.name}.{os.getpid()}.tmp"
            temps.append(tmp)
            tmp.write_text(text, encoding="utf-8")
        for (path, _), tmp in zip(staged, temps, strict=True):
            before = path.read_bytes() if path.exists() else None
            os.replace(tmp, path)
            done.append((path, before))
    except BaseException:
        for path, before in reversed(done):
            if before is None:
                path.unlink(missing_ok=True)
            else:
                atomic_write_text(path, before.decode("utf-8"))
        raise
    finally:
        for tmp in temps:
            tmp.unlink(missing_ok=True)
    for rec, (path, _) in zip(records, staged, strict=True):
        old = existing.get(identity(rec))
        if old is not None and old.resolve() != path.resolve():
            old.unlink(missing_ok=True)
    return [path for path, _ in staged]


def _check_rereads(text: str, rec: ResultRecord, src: str) -> None:
    """What is stored must read back, within the size cap, as the same record (a YAML anchor bomb
    once passed validation and then made the whole store unreadable)."""
    from i2vbench.io import loads_yaml
    from i2vbench.results.schema import parse_record

    size = len(text.encode("utf-8"))
    if size > MAX_SUBMISSION_BYTES:
        raise BenchError(f"{src}: the stored record would be {size} bytes; at most {MAX_SUBMISSION_BYTES}")
    back = parse_record(loads_yaml(text, f"{src} (as stored)"), f"{src} (as stored)")
    if back.model_dump(mode="json") != rec.model_dump(mode="json"):
        raise BenchError(f"{src}: the record does not read back as stored; refusing to store it")


def submit_file(path: Path, *, replace: bool = False, submitter: str | None = None) -> list[Path]:
    """``bench submit RESULT.yaml``: one record (a mapping) or several (a list of mappings)."""
    from i2vbench.io import read_yaml, require_file

    p = require_file(path, "result file")
    if p.stat().st_size > MAX_SUBMISSION_BYTES:
        raise BenchError(f"{p}: {p.stat().st_size} bytes; a result file may have at most "
                         f"{MAX_SUBMISSION_BYTES} bytes")
    data = read_yaml(p, "result file")
    items = data if isinstance(data, list) else [data]
    if not items:
        raise BenchError(f"{p}: empty; expected a result (task, dataset, method, metrics, ...)")
    records, problems = [], []
    for i, item in enumerate(items):
        src = str(p) if not isinstance(data, list) else f"{p} [{i}]"
        if isinstance(item, dict):
            item = dict(item)
            prov = dict(item.get("provenance") or {}) if isinstance(item.get("provenance") or {}, dict) \
                else item.get("provenance")
            if isinstance(prov, dict):
                if submitter and not prov.get("submitter"):
                    prov["submitter"] = submitter
                prov["created"] = _now()
                item["provenance"] = prov
        try:
            records.append(validate(item, src, "self-reported"))
        except BenchError as e:
            problems.append(str(e))
    if problems:
        raise BenchError("\n".join(problems))
    return _store(records, replace, str(p))


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def gt_inputs(gt: Path, options: dict[str, Any]) -> dict[str, Path]:
    """Every ground-truth input of a scoring: the GT file and each option that names a file."""
    files = {"gt": gt}
    for key, value in options.items():
        if isinstance(value, str | Path) and Path(value).is_file():
            files[key] = Path(value)
    return files


def submit_predictions(predictions: Path, gt: Path | None, fields: dict[str, Any], *,
                       replace: bool = False, options: dict[str, Any] | None = None) -> list[Path]:
    """``bench submit --predictions P --task T --dataset D --gt GT``: score, then store.

    ``verified`` when every GT input's sha256 is registered for (dataset, split), else
    ``self-scored`` (the record says which inputs were not).
    """
    from i2vbench.io import require_file
    from i2vbench.metrics.evaluate import evaluate

    pred = require_file(predictions, "predictions file")
    if gt is None:
        raise BenchError("--gt is required with --predictions (the ground truth to score against)")
    gt = require_file(gt, "ground-truth file")
    if pred.stat().st_size > MAX_PREDICTIONS_BYTES:
        raise BenchError(f"{pred}: {pred.stat().st_size} bytes; predictions may have at most "
                         f"{MAX_PREDICTIONS_BYTES} bytes")
    src = "submission"
    data = {k: v for k, v in fields.items() if v is not None}
    data["citation"] = {k: v for k, v in (fields.get("citation") or {}).items() if v is not None}
    data["provenance"] = {k: v for k, v in (fields.get("provenance") or {}).items() if v is not None}
    for key, flag in (("task", "--task"), ("dataset", "--dataset"), ("method", "--method"),
                      ("paradigm", "--paradigm"), ("ilfm", "--ilfm")):
        if not data.get(key):
            raise BenchError(f"{flag} is required with --predictions")
    data["metrics"] = {known_metrics(data["task"])[0]: 0.0} if data["task"] in TASKS else {}
    validate(data, src, "verified")  # everything but the scores, before spending time scoring

    scores = evaluate(data["task"], gt, pred, **(options or {}))
    allowed = set(known_metrics(data["task"]))
    data["metrics"] = {k: float(v) for k, v in scores.items() if k in allowed}
    if not data["metrics"]:
        raise BenchError(f"the {data['task']} evaluator returned none of the task's metrics "
                         f"({', '.join(sorted(scores))})")
    from i2vbench.provenance import code_version, package_versions
    from i2vbench.results.trusted import check_gt

    check = check_gt(data["dataset"], data.get("split", "test"), gt_inputs(gt, options or {}))
    kind = "verified" if check.trusted else "self-scored"
    data["kind"] = kind
    data["provenance"].update(
        created=_now(), predictions_sha256=sha256_file(pred), code_version=code_version(),
        packages=package_versions(),
        config={"gt": gt.name, "gt_sha256": check.hashes["gt"], "predictions": pred.name,
                **{k: Path(v).name if isinstance(v, Path) else v for k, v in (options or {}).items()},
                **{f"{k}_sha256": h for k, h in check.hashes.items() if k != "gt"},
                "gt_registered": check.trusted,
                **({"gt_not_registered": list(check.untrusted)} if check.untrusted else {})},
    )
    rec = validate(data, src, kind)
    return _store([rec], replace, str(pred))
