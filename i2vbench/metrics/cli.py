"""``bench eval``: score a prediction file against ground truth with the task's official-parity metric.

Works for every task through :func:`i2vbench.metrics.evaluate.evaluate`; task-specific inputs
travel as options (``--durations``, ``--allow-missing``, ``--dataset``, or any ``--option k=v``).
Warnings raised while loading (dropped/clipped annotations, queries scored as misses) are printed
as one ``warning:`` line each on stderr, so ``--json`` output on stdout stays machine-readable.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import typer

from i2vbench.errors import BenchError


def parse_option(text: str) -> tuple[str, object]:
    """``key=value`` → (key, value); ``true``/``false``/numbers become JSON scalars, the rest stays text."""
    key, sep, value = text.partition("=")
    key = key.strip().replace("-", "_")
    if not sep or not key.isidentifier():
        raise BenchError(f"--option {text!r}: expected key=value (e.g. --option dataset=nextqa)")
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        return key, value
    return key, parsed if isinstance(parsed, bool | int | float) or parsed is None else value


def format_value(v: object) -> str:
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.2f}"
    return str(v)


def eval_command(
    task: str = typer.Option(..., "--task", "-t", help="task id (bench list tasks)"),
    pred: Path = typer.Option(..., "--pred", "-p", help="prediction file in the task's official format"),
    gt: list[Path] = typer.Option(None, "--gt", "-g", help="ground-truth file (not needed for vtr); "
                                  "captioning: repeat for several line-aligned reference files"),
    fmt: str = typer.Option(None, "--format", help="the GT format when the guessed one is wrong "
                            "(captioning: json|lines)"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object metric → value"),
    durations: Path = typer.Option(None, "--durations", help="tvg: Charades csv (id,...,length) or VSLNet json"),
    allow_missing: bool = typer.Option(False, "--allow-missing",
                                       help="score GT items without a prediction as wrong, and say how many"),
    strict: bool = typer.Option(False, "--strict",
                                help="refuse predictions for ids not in the GT even where the official "
                                     "evaluator ignores them (README: missing and extra predictions)"),
    dataset: str = typer.Option(None, "--dataset", help="dataset id, for tasks whose GT format needs it"),
    option: list[str] = typer.Option(None, "--option", "-o", help="extra evaluator option key=value (repeatable)"),
    engine: str = typer.Option("ours", "--engine", help="ours, or official: also run the task's official "
                               "package (captioning: pycocoevalcap, ovmot: trackeval, var: mmaction2) on "
                               "the same files and print its numbers beside ours"),
) -> None:
    """Score PRED against GT; scores in percent, ranks as plain ranks."""
    from i2vbench.metrics.evaluate import evaluate, get_evaluator

    options: dict[str, object] = dict(parse_option(o) for o in option or [])
    if durations is not None:
        options["durations"] = durations
    if allow_missing:
        options["allow_missing"] = True
    if strict and "strict" in get_evaluator(task).options:
        # tasks without the option already refuse extras by default (README: missing and extra
        # predictions), so --strict asks for nothing more there
        options["strict"] = True
    if dataset is not None:
        options["dataset"] = dataset
    if fmt is not None:
        options["format"] = fmt
    gts = list(gt or [])
    if len(gts) > 1:
        if task != "captioning":
            raise BenchError(f"--gt given {len(gts)} times; only captioning takes several (reference files)")
        options["references"] = gts[1:]
    if engine not in ("ours", "official"):
        raise BenchError(f"--engine {engine!r}: expected ours or official")
    if engine == "official":
        from i2vbench.metrics.evaluate import official_engine

        official_engine(task)  # before any work: a missing package is the first thing said
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        if not gts:
            metrics = get_evaluator(task)(None, pred, **options)
        else:
            metrics = evaluate(task, gts[0], pred, **options)
        if engine == "official":
            from i2vbench.metrics.evaluate import official_evaluate

            official = official_evaluate(task, gts[0] if gts else None, pred, **options)
    # what an evaluator tells the user, once (--engine official reads the files a second time);
    # library noise (ResourceWarning, ...) stays out
    for message in dict.fromkeys(str(w.message) for w in caught if issubclass(w.category, UserWarning)):
        typer.echo(f"warning: {message}", err=True)
    if as_json:
        # NaN/inf are not JSON: a metric that is undefined on this input is printed as null
        def clean(m: dict) -> dict:
            return {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in m.items()}

        typer.echo(json.dumps(clean(metrics) if engine == "ours"
                              else {"ours": clean(metrics), "official": clean(official)}))
        return
    from tabulate import tabulate

    if engine == "ours":
        rows = [(k, format_value(v)) for k, v in metrics.items()]
        headers: tuple[str, ...] = ("metric", "value")
    else:  # the official package's metrics, ours beside them, and the difference
        rows = [(k, format_value(metrics[k]) if k in metrics else "-", format_value(v),
                 f"{abs(metrics[k] - v):.1e}" if k in metrics else "-") for k, v in official.items()]
        headers = ("metric", "ours", "official", "|diff|")
    typer.echo(tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True,
                        colalign=("left", *("right",) * (len(headers) - 1))))


def register(app: typer.Typer) -> None:
    """Add ``bench eval``."""
    app.command("eval", help="Score a prediction file with the task's official-parity metric.")(eval_command)
