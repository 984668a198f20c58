"""VideoQA accuracy, with NExT-QA's per-type breakdown as its ``eval_mc.py`` computes it.

Reference: doc-doc/NExT-QA ``eval_mc.py`` (commit 6b92588). What it does, and so what we do:

* every question counts once; ``Acc`` is correct / all questions × 100 (a micro average over
  questions, not a mean of the type accuracies);
* types: ``TP`` is folded into ``TN``; ``CW, CH, TN, TC, DC, DL, DO`` are per-type accuracies
  and ``Acc_C, Acc_T, Acc_D`` pool the questions of the types starting with that letter
  (again over questions, not a mean of the types);
* the reference prints two decimals; we return the unrounded ``acc * 100.0 / cnt``. A type
  with no questions (a ZeroDivisionError in the reference) is left out of the result.
* it compares the ``prediction`` and ``answer`` fields of ``result.json``; we take the answer
  from the GT csv and refuse a result file whose ``answer`` disagrees with it.

Multiple choice (NExT-QA, MSRVTT-MC, How2QA): a prediction is the option index, or the option
text (matched exactly after stripping; a digit string that is no option's text, such as
MSRVTT-MC's ``"2"``, is read as an index, since How2QA has answers like ``"1"``). Missing
predictions are an error, or with ``allow_missing`` count as wrong and are reported as
``n_missing``. Open-ended (MSVD-QA): a prediction is the answer string; it is correct when it
equals the GT answer after lower-casing and collapsing whitespace, i.e. exact match, as the
field scores a classifier over the answer vocabulary (MSVD-QA answers are already lower-case
single words, so the normalisation only forgives the prediction's case and spacing).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from i2vbench.datasets.qa import QAItem
from i2vbench.errors import BenchError, where
from i2vbench.metrics.evaluate import register_evaluator

NEXTQA_TYPES = ("CW", "CH", "TN", "TC", "DC", "DL", "DO")
DATASETS = ("nextqa", "msrvtt-mc", "how2qa", "msvd-qa")


def normalize_answer(text: str) -> str:
    return " ".join(str(text).lower().split())


def is_correct(item: QAItem, prediction: object) -> bool:
    """Whether one prediction answers one question (see the module docstring for the rules)."""
    if isinstance(item.answer, str):
        return isinstance(prediction, str) and normalize_answer(prediction) == normalize_answer(item.answer)
    if isinstance(prediction, str) and item.options is not None:
        text = prediction.strip()
        if text == item.options[item.answer].strip():
            return True
        if any(text == o.strip() for o in item.options) or not text.isdigit():
            return False
        return int(text) == item.answer  # a digit string that is no option's text is an index
    return isinstance(prediction, int) and not isinstance(prediction, bool) and prediction == item.answer


def accuracy(correct: np.ndarray) -> float:
    """Percent of true entries, computed as the reference does (``acc * 100.0 / cnt``)."""
    c = np.asarray(correct, dtype=bool)
    if c.size == 0:
        raise BenchError("no questions to score")
    return int(np.count_nonzero(c)) * 100.0 / c.size


def nextqa_breakdown(correct: np.ndarray, qtypes: list[str] | np.ndarray) -> dict[str, float]:
    """Acc, Acc_C/T/D and the seven per-type accuracies of NExT-QA's ``eval_mc``."""
    c = np.asarray(correct, dtype=bool)
    t = np.asarray(qtypes, dtype=str)
    t[t == "TP"] = "TN"
    unknown = sorted(set(np.unique(t).tolist()) - set(NEXTQA_TYPES))
    if unknown:
        raise BenchError(f"unknown NExT-QA question type(s) {unknown}; expected {', '.join(NEXTQA_TYPES)} or TP")
    out = {"Acc": accuracy(c)}
    for group in ("C", "T", "D"):
        m = t.astype("U1") == group
        if m.any():
            out[f"Acc_{group}"] = accuracy(c[m])
    for q in NEXTQA_TYPES:
        m = t == q
        if m.any():
            out[q] = accuracy(c[m])
    return out


# ---------------------------------------------------------------------------------------- files


def detect_dataset(gt: Path) -> tuple[str, str]:
    """Which loader reads ``gt``, from its suffix and first line, and why (for error messages)."""
    suffix = gt.suffix.lower()
    if suffix == ".jsonl":
        return "msrvtt-mc", "a .jsonl file"
    if suffix == ".json":
        return "msvd-qa", "a .json file"
    if suffix == ".csv":
        from i2vbench.io import read_text

        first = read_text(gt, "VideoQA csv").partition("\n")[0]
        cols = [c.strip() for c in first.split(",")]
        if "qid" in cols and "question" in cols and "answer" in cols:
            if "a0" in cols:
                return "nextqa", "a csv whose header has qid and a0..a4"
            return "msvd-qa", "a csv whose header has qid, question and answer but no options"
        return "how2qa", "a csv without a NExT-QA-family header"
    raise BenchError(f"{gt}: cannot tell the VideoQA dataset from the suffix {gt.suffix!r}; "
                     f"pass --dataset one of {', '.join(DATASETS)}")


def load_gt(gt: Path, dataset: str | None = None) -> tuple[str, list[QAItem]]:
    from i2vbench.io import require_file

    require_file(gt, "VideoQA ground truth")
    guessed = dataset is None
    ds, why = detect_dataset(gt) if guessed else (dataset, "")
    if ds == "nextqa":
        from i2vbench.datasets.nextqa import load_nextqa_csv as load
    elif ds == "msrvtt-mc":
        from i2vbench.datasets.msrvtt import load_mc_jsonl as load
    elif ds == "how2qa":
        from i2vbench.datasets.how2qa import load_how2qa_csv as load
    elif ds == "msvd-qa":
        from i2vbench.datasets.msvd_qa import load_msvd_qa_csv, load_msvd_qa_json

        load = load_msvd_qa_csv if gt.suffix.lower() == ".csv" else load_msvd_qa_json
    else:
        raise BenchError(f"unknown VideoQA dataset {ds!r}; known: {', '.join(DATASETS)}")
    try:
        items = load(gt)
    except BenchError as e:
        if not guessed:
            raise
        raise BenchError(f"{e} [the dataset was guessed as {ds!r} ({why}); if that is wrong, choose it "
                         f"with --dataset {'|'.join(DATASETS)}]") from None
    if not items:
        raise BenchError(f"{gt}: no questions")
    return ds, items


def _pred_value(value: object, loc: str, gt_answer: int | str) -> object:
    """The prediction out of ``{"prediction": x, ...}`` or a bare ``x``; check a carried answer."""
    if isinstance(value, dict):
        if "prediction" not in value:
            raise BenchError(f"{loc}: expected a 'prediction' field")
        if "answer" in value:
            carried = value["answer"]
            if isinstance(gt_answer, int) and isinstance(carried, str) and carried.strip().isdigit():
                carried = int(carried)
            if carried != gt_answer:
                raise BenchError(f"{loc}: 'answer' {value['answer']!r} disagrees with the GT answer "
                                 f"{gt_answer!r} (wrong GT file or split?)")
        value = value["prediction"]
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise BenchError(f"{loc}: prediction {value!r} must be an option index or an answer string")
    return value


@dataclass
class Predictions:
    """Raw prediction values by question key; error locations are built only when needed."""

    path: Path
    values: dict[str, object]
    positions: dict[str, str] | None = None  # key → "line N" / "[i]" for jsonl and list inputs

    def loc(self, key: str) -> str:
        if self.positions is None:
            return where(self.path, key=key)
        return f"{self.path}{self.positions[key]}"


def _keyed_records(p: Path, records: list[tuple[str, object]]) -> Predictions:
    values: dict[str, object] = {}
    positions: dict[str, str] = {}
    for pos, obj in records:
        if not isinstance(obj, dict) or "qid" not in obj or "prediction" not in obj:
            raise BenchError(f"{p}{pos}: expected {{qid, prediction}} (NExT-QA: and video, or qid '<video>_<qid>')")
        key = f"{obj['video']}_{obj['qid']}" if "video" in obj else str(obj["qid"])
        if key in values:
            raise BenchError(f"{p}{pos}: duplicate prediction for {key}")
        values[key], positions[key] = obj, pos
    return Predictions(p, values, positions)


def read_predictions(pred: Path) -> Predictions:
    """Predictions from result.json ``{key: {prediction}}`` / ``{key: x}``, or ``{qid, prediction}`` records."""
    from i2vbench.io import iter_jsonl, read_json, require_file

    p = require_file(pred, "VideoQA predictions")
    if p.suffix.lower() == ".jsonl":
        return _keyed_records(p, [(f":{n}", obj) for n, obj in iter_jsonl(p, "predictions jsonl")])
    data = read_json(p, "predictions json")
    if isinstance(data, dict):
        return Predictions(p, {str(k): v for k, v in data.items()})
    if isinstance(data, list):
        return _keyed_records(p, [(f" [[{i}]]", obj) for i, obj in enumerate(data)])
    raise BenchError(f"{p}: expected {{key: {{prediction}}}}, a list of {{qid, prediction}} or jsonl")


def score(items: list[QAItem], preds: Predictions, allow_missing: bool = False,
          strict: bool = False) -> tuple[np.ndarray, int]:
    """Per-question correctness in GT order, and the number of questions without a prediction.

    Predictions for questions that are not in the GT are ignored with one counted warning, as
    NExT-QA's ``eval_mc.py`` ignores them (it loops over the csv's questions); ``strict`` refuses
    them instead.
    """
    values = preds.values
    correct = np.zeros(len(items), dtype=bool)
    missing = 0
    for i, it in enumerate(items):
        raw = values.get(it.key, _MISSING)
        if raw is _MISSING:
            if not allow_missing:
                raise BenchError(f"{preds.path}: no prediction for question {it.key!r} "
                                 "(pass allow_missing to score missing questions as wrong)")
            missing += 1
            continue
        if type(raw) is dict and type(raw.get("prediction")) is int and type(it.answer) is int \
                and raw.get("answer", it.answer) == it.answer:  # fast path: result.json of indices
            correct[i] = raw["prediction"] == it.answer
            continue
        correct[i] = is_correct(it, _pred_value(raw, preds.loc(it.key), it.answer))
    n_extra = len(values) - (len(items) - missing)
    if n_extra > 0:  # some key of the predictions is not a GT question
        keys = {it.key for it in items}
        unknown = next(k for k in values if k not in keys)
        if strict:
            raise BenchError(f"{preds.loc(unknown)}: question {unknown!r} is not in the ground truth "
                             f"({n_extra} such; without --strict they are ignored, as the official "
                             "evaluator ignores them)")
        warnings.warn(f"{preds.path}: {n_extra} prediction(s) for questions not in the ground truth "
                      f"(first: {unknown!r}) ignored, as the official evaluator ignores them; "
                      "--strict refuses them", stacklevel=3)
    return correct, missing


_MISSING = object()


QUESTION_WORDS = ("what", "who", "how", "when", "where")


def question_word_breakdown(correct: np.ndarray, words: list[str]) -> dict[str, float]:
    """HQGA ``eval_oe.py``'s per-question-word accuracy (``Acc_what`` ...), when every question
    starts with one of its five words (it raises a KeyError otherwise; we then leave it out)."""
    w = np.asarray(words, dtype=str)
    if not np.isin(w, QUESTION_WORDS).all():
        return {}
    return {f"Acc_{q}": accuracy(correct[w == q]) for q in QUESTION_WORDS if (w == q).any()}


def _flag(value: object) -> bool:
    return value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes")


def _with_vocab_indices(items: list[QAItem], vocab: Path, unk_first: bool) -> tuple[list[QAItem], np.ndarray]:
    """Items whose answer is its vocabulary index (HQGA: ``ans_set.index(ans)``, 0 when absent), and
    which of them can never be right (the answer is out of the vocabulary: index 0 with ``<unk>``)."""
    from i2vbench.datasets.msvd_qa import load_answer_vocab

    words = load_answer_vocab(vocab, unk_first)
    first: dict[str, int] = {}
    for i, word in enumerate(words):
        first.setdefault(word, i)
    if not all(isinstance(it.answer, str) for it in items):
        raise BenchError(f"{vocab}: an answer vocabulary is for open-ended answers; this GT is multiple choice")
    out = [it._replace(answer=first.get(str(it.answer), 0)) for it in items]
    never = np.array([it.answer == 0 for it in out], dtype=bool) if unk_first else np.zeros(len(out), bool)
    return out, never


def _refuse_bare_indices(preds: Predictions, gt: Path) -> None:
    """Integer predictions against string answers need the vocabulary they index (else all are wrong)."""
    for key, v in preds.values.items():
        x = v.get("prediction") if isinstance(v, dict) else v
        if isinstance(x, int) and not isinstance(x, bool):
            raise BenchError(f"{preds.loc(key)}: prediction {x} is an answer-vocabulary index but {gt} has "
                             "answer strings; pass the vocabulary the index points into "
                             "(--option vocab=ans_word.json)")
        break


@register_evaluator("videoqa", keys=("Acc", "Acc_C", "Acc_T", "Acc_D", *NEXTQA_TYPES,
                                     *(f"Acc_{w}" for w in QUESTION_WORDS), "n_missing"))
def evaluate_files(gt: Path, pred: Path, dataset: str | None = None, allow_missing: bool = False,
                   strict: bool = False, vocab: str | Path | None = None, unk_first: bool = True,
                   ) -> dict[str, float]:
    """Accuracy (and NExT-QA's breakdown); with ``allow_missing``, ``n_missing`` counts the gaps.

    Predictions for questions not in ``gt`` are ignored with a counted warning (``strict``: refused).
    Open-ended predictions given as answer-vocabulary indices need ``vocab`` (``--option
    vocab=ans_word.json``; ``unk_first=false`` if index 0 is the file's first answer, not ``<unk>``).
    """
    ds, items = load_gt(gt, dataset)
    preds = read_predictions(pred)
    hqga_csv = ds == "msvd-qa" and Path(gt).suffix.lower() == ".csv"
    unk = None
    if vocab is not None:
        items, unk = _with_vocab_indices(items, Path(str(vocab)), _flag(unk_first))
    elif any(isinstance(it.answer, str) for it in items[:1]):
        _refuse_bare_indices(preds, gt)
    # HQGA's eval_oe.py asserts that the result file has one entry per csv row: extras refused
    correct, missing = score(items, preds, bool(allow_missing), bool(strict) or hqga_csv)
    if unk is not None:
        correct &= ~unk  # eval_oe.py: a prediction of 0 ('<unk>') is skipped, an OOV answer never matches
    if ds == "nextqa":
        out = nextqa_breakdown(correct, [it.qtype or "" for it in items])
    else:
        out = {"Acc": accuracy(correct)}
        if hqga_csv:
            out.update(question_word_breakdown(correct, [it.qtype or "" for it in items]))
    if allow_missing:
        out["n_missing"] = float(missing)
        if missing:
            warnings.warn(f"{missing} of {len(items)} questions in {gt} have no prediction in {pred}; "
                          "scored as wrong", stacklevel=2)
    return out
