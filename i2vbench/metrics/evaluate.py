"""Per-task evaluators behind ``bench eval``: read the official GT/prediction formats, call the metric.

One entry point shape for every task (as torchmetrics' functional forms)::

    @register_evaluator("tvg", keys=("R1@0.3", ..., "mIoU", "MR-*"))
    def evaluate_files(gt: Path, pred: Path, *, durations=None, allow_missing=False) -> dict[str, float]

returning metric name → value (scores in percent, ranks as plain ranks). ``keys`` declares what
the evaluator may return (``fnmatch`` patterns where a breakdown depends on the data, e.g.
per question type); the keyword parameters are its options, and :func:`evaluate` refuses any
other option with the list of valid ones (a typo in ``--option`` used to be silently ignored).
Bad input raises :class:`~i2vbench.errors.BenchError`.
"""

from __future__ import annotations

import fnmatch
import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from i2vbench.errors import BenchError
from i2vbench.registry import Registry

Evaluator = Callable[..., dict[str, float]]


@dataclass(frozen=True)
class EvaluatorSpec:
    """A task's evaluator with what it declares: metric keys (patterns) and option names."""

    task: str
    fn: Evaluator
    keys: tuple[str, ...]
    options: tuple[str, ...]

    def __call__(self, gt: Path | None, pred: Path, **options: object) -> dict[str, float]:
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            raise BenchError(f"{self.task} evaluator: unknown option(s) {', '.join(map(repr, unknown))}; "
                             f"valid: {', '.join(self.options) or '(none)'}")
        out = self.fn(gt, pred, **options)
        undeclared = [k for k in out if not any(fnmatch.fnmatchcase(k, p) for p in self.keys)]
        if undeclared:  # a bug in the evaluator, not in the user's files
            raise RuntimeError(f"{self.task} evaluator returned undeclared metric keys {undeclared}")
        return out


EVALUATORS: Registry[EvaluatorSpec] = Registry("evaluator")

EVALUATOR_MODULES = {
    "tvg": "i2vbench.metrics.tvg",
    "vtr": "i2vbench.metrics.vtr",
    "var": "i2vbench.metrics.var",
    "videoqa": "i2vbench.metrics.videoqa",
    "captioning": "i2vbench.metrics.captioning",
    "stvg": "i2vbench.metrics.stvg",
    "ovmot": "i2vbench.metrics.teta",
}


def register_evaluator(task: str, keys: tuple[str, ...]) -> Callable[[Evaluator], Evaluator]:
    """Register ``fn(gt, pred, *, option=default, ...)``; its keyword parameters are its options."""

    def deco(fn: Evaluator) -> Evaluator:
        params = list(inspect.signature(fn).parameters.values())
        if [p.name for p in params[:2]] != ["gt", "pred"] or any(
                p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL) for p in params):
            raise TypeError(f"{task} evaluator: expected fn(gt, pred, *, options...), got {fn.__qualname__}"
                            f"{inspect.signature(fn)}")
        EVALUATORS.add(task, EvaluatorSpec(task, fn, tuple(keys), tuple(p.name for p in params[2:])))
        return fn

    return deco


def get_evaluator(task: str) -> EvaluatorSpec:
    """Import the task's metric module on demand (so one task's heavy deps never slow another)."""
    from i2vbench.tasks import TASKS

    TASKS.get(task)  # unknown task → BenchError listing the known ones
    if task not in EVALUATORS:
        importlib.import_module(EVALUATOR_MODULES[task])
    return EVALUATORS.get(task)


def evaluate(task: str, gt: str | Path | None, pred: str | Path, **options: object) -> dict[str, float]:
    """Score ``pred`` against ``gt`` with the task's evaluator (``gt`` None: VTR's bare matrix, TAO)."""
    return get_evaluator(task)(None if gt is None else Path(gt), Path(pred), **options)


# --------------------------------------------------------------------------- --engine official
# For the tasks whose official evaluator is an installed package, ``bench eval --engine official``
# runs that package on the user's files and prints its numbers beside ours, so anyone can
# cross-check a file. The file *readers* are ours (the formats and their checks); what scores is
# theirs. The other tasks' official evaluators are repositories, run by tools/parity/<task>/.


@dataclass(frozen=True)
class OfficialEngine:
    """An installed package that scores a task's files the official way."""

    task: str
    module: str  # what must import
    package: str  # what to install, as a user types it
    fn: Evaluator


OFFICIAL_ENGINES: dict[str, OfficialEngine] = {}


def _official(task: str, module: str, package: str) -> Callable[[Evaluator], Evaluator]:
    def deco(fn: Evaluator) -> Evaluator:
        OFFICIAL_ENGINES[task] = OfficialEngine(task, module, package, fn)
        return fn

    return deco


def official_engine(task: str) -> OfficialEngine:
    """The task's installed official package, or one error naming what is missing."""
    engine = OFFICIAL_ENGINES.get(task)
    if engine is None:
        raise BenchError(f"--engine official: {task}'s official evaluator is a repository, not a package "
                         f"(tools/parity/{task}/ runs it); installed-package engines: "
                         f"{', '.join(sorted(OFFICIAL_ENGINES))}")
    try:
        importlib.import_module(engine.module)
    except ImportError as e:
        raise BenchError(f"--engine official for {task} runs the package {engine.package!r} "
                         f"(import {engine.module}), which cannot be imported here ({e}): "
                         f"pip install {engine.package}") from None
    return engine


def official_evaluate(task: str, gt: str | Path | None, pred: str | Path, **options: object) -> dict[str, float]:
    """Score with the task's official package (the options its reader takes are passed on)."""
    engine = official_engine(task)
    params = inspect.signature(engine.fn).parameters
    return engine.fn(None if gt is None else Path(gt), Path(pred),
                     **{k: v for k, v in options.items() if k in params})


@_official("var", "mmaction.evaluation", "mmaction2")
def _mmaction2(gt: Path, pred: Path, label_map: str | Path | None = None) -> dict[str, float]:
    """mmaction2's ``top_k_accuracy`` (k = 1, 5) and ``mean_class_accuracy``, in percent."""
    from mmaction.evaluation import mean_class_accuracy, top_k_accuracy

    from i2vbench.metrics.var import load_labels, load_scores

    ids, labels = load_labels(gt, label_map)
    scores = load_scores(pred, ids)
    top1, top5 = top_k_accuracy(scores, labels, (1, 5))
    return {"Top-1": 100 * float(top1), "Top-5": 100 * float(top5),
            "mean_class_accuracy": 100 * float(mean_class_accuracy(scores, labels))}


@_official("captioning", "pycocoevalcap", "pycocoevalcap")
def _pycocoevalcap(gt: Path, pred: Path, split: str | None = None) -> dict[str, float]:
    """``COCOEvalCap.evaluate``'s loop (PTBTokenizer, then Bleu(4), Meteor, Rouge, Cider; SPICE left
    out as in our table), in percent. JSON GT only: nlg-eval's line files are not coco-caption's."""
    import contextlib
    import io

    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.meteor.meteor import Meteor
    from pycocoevalcap.rouge.rouge import Rouge
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    from i2vbench.datasets.msrvtt import load_caption_json
    from i2vbench.metrics.captioning import load_candidates

    if gt.suffix.lower() == ".txt":
        raise BenchError("--engine official for captioning reads json references (coco-caption's input); "
                         f"{gt} is a line file (nlg-eval's form)")
    refs, cands = load_caption_json(gt, split), load_candidates(pred)
    missing = [k for k in refs if k not in cands]
    if missing:
        raise BenchError(f"{pred}: no candidate caption for {len(missing)} videos, e.g. {missing[0]!r}")
    tok = PTBTokenizer()
    gts = tok.tokenize({k: [{"caption": c} for c in v] for k, v in refs.items()})
    res = tok.tokenize({k: [{"caption": cands[k]}] for k in refs})
    out: dict[str, float] = {}
    for scorer, names in ((Bleu(4), ("BLEU1", "BLEU2", "BLEU3", "BLEU4")), (Meteor(), ("METEOR",)),
                          (Rouge(), ("ROUGE-L",)), (Cider(), ("CIDEr",))):
        with contextlib.redirect_stdout(io.StringIO()):  # Bleu prints its n-gram statistics
            score, _ = scorer.compute_score(gts, res)
        out.update(zip(names, (100 * float(s) for s in (score if len(names) > 1 else [score])), strict=True))
    return out


@_official("ovmot", "trackeval", "trackeval")
def _trackeval(gt: Path, pred: Path, max_dets: int = 0, hota_max_dets: int = 300) -> dict[str, float]:
    """TrackEval's TAO dataset with its HOTA metric (HOTA, DetA, AssA in percent, class-averaged),
    reading the user's two json files itself; and TETA from SysCV/tet's ``teta`` package when it is
    importable (it is not on PyPI: ``pip install <tet checkout>/teta``; ``tools/parity/ovmot/teta.py``
    runs it from a checkout)."""
    import contextlib
    import io
    import shutil
    import tempfile
    import warnings

    import numpy as np
    import trackeval

    from i2vbench.datasets.tao import load_tao_gt, load_tao_results

    if gt is None:
        raise BenchError("ovmot needs --gt: a TAO ground-truth json")
    load_tao_results(pred, load_tao_gt(gt))  # our readers first: a bad file is one readable error
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        (root / "gt").mkdir()
        shutil.copyfile(gt, root / "gt" / "gt.json")
        (root / "trackers" / "pred" / "data").mkdir(parents=True)
        shutil.copyfile(pred, root / "trackers" / "pred" / "data" / "results.json")
        folders = dict(GT_FOLDER=str(root / "gt"), TRACKERS_FOLDER=str(root / "trackers"), TRACKERS_TO_EVAL=["pred"],
                       OUTPUT_FOLDER=str(root / "out"), PRINT_CONFIG=False)
        try:
            import teta.config
            import teta.datasets
            import teta.eval
            import teta.metrics
        except ImportError:
            warnings.warn("--engine official: TETA not run (SysCV/tet's 'teta' package is not installed; "
                          "tools/parity/ovmot/teta.py runs it from a checkout)", stacklevel=2)
        else:  # run_tao.py's settings; its 5-digit summary strings replaced by the unrounded means
            ecfg = {**teta.config.get_default_eval_config(), "USE_PARALLEL": False, "PRINT_CONFIG": False,
                    "OUTPUT_TEM_RAW_DATA": False, "LOG_ON_ERROR": None}
            metric = teta.metrics.TETA(exhaustive=False)
            fields = metric.summary_fields
            metric._summary_row = lambda r: [100 * float(np.mean(r[h])) for h in fields]
            with contextlib.redirect_stdout(io.StringIO()):
                res, _ = teta.eval.Evaluator(ecfg).evaluate(
                    [teta.datasets.TAO({**teta.config.get_default_dataset_config(), **folders,
                                        "MAX_DETECTIONS": int(max_dets)})], [metric])
            out.update(zip(fields, (float(v) for v in res["TAO"]["TETA"]), strict=True))
        ecfg = trackeval.Evaluator.get_default_eval_config()
        ecfg.update(USE_PARALLEL=False, PRINT_RESULTS=False, PRINT_CONFIG=False, TIME_PROGRESS=False,
                    OUTPUT_SUMMARY=False, OUTPUT_DETAILED=False, PLOT_CURVES=False, LOG_ON_ERROR=None)
        dcfg = {**trackeval.datasets.TAO.get_default_dataset_config(), **folders, "MAX_DETECTIONS": int(hota_max_dets)}
        with contextlib.redirect_stdout(io.StringIO()):
            res, msg = trackeval.Evaluator(ecfg).evaluate([trackeval.datasets.TAO(dcfg)],
                                                          [trackeval.metrics.HOTA({"PRINT_CONFIG": False})])
    if res["TAO"]["pred"] is None:
        raise BenchError(f"trackeval could not evaluate {pred}: {msg['TAO']['pred']}")
    h = res["TAO"]["pred"]["COMBINED_SEQ"]["cls_comb_cls_av"]["HOTA"]
    out.update({k: 100 * float(np.mean(h[k])) for k in ("HOTA", "DetA", "AssA")})
    return out
