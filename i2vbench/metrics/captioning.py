"""Captioning: BLEU1..4, METEOR, ROUGE-L, CIDEr through the ``pycocoevalcap`` package itself.

We call the package exactly as coco-caption's ``COCOEvalCap.evaluate`` does: PTBTokenizer on
the references and, separately, on the candidates (Stanford PTB tokenisation, lower-cased,
punctuation tokens dropped), then ``Bleu(4)``, ``Meteor()``, ``Rouge()``, ``Cider()`` on the
tokenised dicts (SPICE is not part of the survey's table and is not run). Scores are reported
in percent (CIDEr 0.600 → 60.0), as the survey prints them. CIDEr here is coco-caption's CIDEr
(``Cider``, i.e. CIDEr-D with document frequencies from the evaluated references).

Every GT video needs exactly one candidate; an empty candidate is scored (it gets zeros), an
unknown video id is an error. Java runs the tokenizer and METEOR (METEOR takes ~15 s to start).
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import TypeVar

from i2vbench.errors import BenchError, where
from i2vbench.metrics.evaluate import register_evaluator

K = TypeVar("K")
METRICS = ("BLEU1", "BLEU2", "BLEU3", "BLEU4", "METEOR", "ROUGE-L", "CIDEr")


def tokenize(captions: dict[str, list[str]]) -> dict[str, list[str]]:
    """PTB-tokenise ``{id: [captions]}`` with coco-caption's tokenizer (``{id: [{"caption"}]}`` in)."""
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    return PTBTokenizer().tokenize({k: [{"caption": c} for c in v] for k, v in captions.items()})


def score_tokenized(gts: dict[str, list[str]], res: dict[str, list[str]],
                    metrics: tuple[str, ...] = METRICS, meteor=None) -> dict[str, float]:  # noqa: ANN001
    """The pycocoevalcap scorers on tokenised references/candidates, as fractions (their unit).

    ``meteor``: a running pycocoevalcap ``Meteor`` to score with (see :func:`caption_metrics_many`);
    by default one is started for this call and stopped after it."""
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    out: dict[str, float] = {}
    if any(m.startswith("BLEU") for m in metrics):
        with contextlib.redirect_stdout(io.StringIO()):  # Bleu prints its n-gram statistics
            bleu, _ = Bleu(4).compute_score(gts, res)
        out.update({f"BLEU{n}": float(bleu[n - 1]) for n in range(1, 5) if f"BLEU{n}" in metrics})
    if "METEOR" in metrics and meteor is not None:
        out["METEOR"] = float(_meteor_with_timeout(meteor, gts, res))
    elif "METEOR" in metrics:
        from pycocoevalcap.meteor.meteor import Meteor

        meteor = Meteor()
        try:
            out["METEOR"] = float(_meteor_with_timeout(meteor, gts, res))
        finally:
            del meteor  # its __del__ stops the Java process
    if "ROUGE-L" in metrics:
        out["ROUGE-L"] = float(Rouge().compute_score(gts, res)[0])
    if "CIDEr" in metrics:
        out["CIDEr"] = float(Cider().compute_score(gts, res)[0])
    return {m: out[m] for m in METRICS if m in out}


# A caption is a sentence: MSR-VTT's longest reference has ~400 characters. A 5 MB candidate once
# killed METEOR's Java child while the parent waited on its pipe for ever.
MAX_CAPTION_CHARS = 10_000


def meteor_timeout(n_videos: int) -> float:
    """Seconds METEOR's Java child may take: ~2 ms a video measured here, given 60x headroom, after
    its start (loading its paraphrase table: ~15 s idle, and more than 60 s measured on a 2-core
    machine with ~24 runnable processes, which is why the start gets 180 s)."""
    return 180.0 + 0.1 * n_videos


def _meteor_with_timeout(meteor, gts: dict, res: dict) -> float:  # noqa: ANN001 (pycocoevalcap's Meteor)
    """``meteor.compute_score`` in a thread; past the timeout, or when the Java child dies, its
    process is killed and the error says so (the parent would otherwise wait on the pipe)."""
    import threading

    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["score"] = meteor.compute_score(gts, res)[0]
        except Exception as e:  # noqa: BLE001 - reported below as a BenchError
            box["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(meteor_timeout(len(res)))
    proc = getattr(meteor, "meteor_p", None)
    if t.is_alive():
        if proc is not None:
            proc.kill()
        raise BenchError(f"METEOR (Java) did not finish within {meteor_timeout(len(res)):.0f} s; stopped it")
    if "error" in box:
        raise BenchError(f"METEOR (Java) failed: {box['error']!r}")
    return float(box["score"])  # type: ignore[arg-type]


def check_caption_lengths(captions: dict[str, list[str]] | dict[str, str], path: object) -> None:
    """Refuse a caption longer than MAX_CAPTION_CHARS, naming the file and video, before scoring."""
    for k, v in captions.items():
        for c in ([v] if isinstance(v, str) else v):
            if len(c) > MAX_CAPTION_CHARS:
                raise BenchError(f"{where(path, key=k)}: a caption of {len(c)} characters; at most "
                                 f"{MAX_CAPTION_CHARS} (a sentence)")


def caption_metrics(refs: dict[str, list[str]], cands: dict[str, str],
                    metrics: tuple[str, ...] = METRICS) -> dict[str, float]:
    """Percent scores of one candidate per video against that video's references."""
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise BenchError(f"unknown captioning metric(s) {unknown}; known: {', '.join(METRICS)}")
    if not refs:
        raise BenchError("no videos to score")
    ids = list(refs)
    missing = [k for k in ids if k not in cands]
    if missing:
        raise BenchError(f"no candidate caption for {len(missing)} videos, e.g. {missing[0]!r}")
    gts = tokenize({k: refs[k] for k in ids})
    res = tokenize({k: [cands[k]] for k in ids})
    return {k: v * 100 for k, v in score_tokenized(gts, res, metrics).items()}


def caption_metrics_many(refs: dict[str, dict[str, list[str]]], candidates: dict[K, tuple[str, dict[str, str]]],
                         metrics: tuple[str, ...] = METRICS) -> dict[K, dict[str, float]]:
    """:func:`caption_metrics` for many candidate sets at once, with Java started twice in all.

    ``refs``: ``{split: {video: [references]}}``; ``candidates``: ``{key: (split, {video: caption})}``
    (e.g. one key per method, seed and split of a run). Every sentence is PTB-tokenised in one
    tokenizer run (it tokenises line by line, so a sentence comes out as it would alone) and
    every set is scored by one METEOR process; BLEU, ROUGE-L and CIDEr are per set as in
    :func:`caption_metrics` (CIDEr's document frequencies from that set's references). The
    scores equal :func:`caption_metrics` on each set alone; METEOR's ~15 s start is paid once
    instead of once per set.
    """
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise BenchError(f"unknown captioning metric(s) {unknown}; known: {', '.join(METRICS)}")
    for key, (split, cands) in candidates.items():
        if split not in refs or not refs[split]:
            raise BenchError(f"candidate set {key!r}: no references for split {split!r}")
        missing = [k for k in refs[split] if k not in cands]
        if missing:
            raise BenchError(f"candidate set {key!r}: no candidate caption for {len(missing)} videos, "
                             f"e.g. {missing[0]!r}")
    keys = list(candidates)
    sentences: dict[tuple, list[str]] = {("ref", s, v): caps for s, by in refs.items() for v, caps in by.items()}
    for i, key in enumerate(keys):
        split, cands = candidates[key]
        sentences.update({("cand", i, v): [cands[v]] for v in refs[split]})
    tokens = tokenize(sentences)  # type: ignore[arg-type]
    meteor = None
    if "METEOR" in metrics:
        from pycocoevalcap.meteor.meteor import Meteor

        meteor = Meteor()
    try:
        out = {}
        for i, key in enumerate(keys):
            split = candidates[key][0]
            gts = {v: tokens["ref", split, v] for v in refs[split]}
            res = {v: tokens["cand", i, v] for v in refs[split]}
            out[key] = {k: v * 100 for k, v in score_tokenized(gts, res, metrics, meteor).items()}
        return out
    finally:
        del meteor  # its __del__ stops the Java process


# ---------------------------------------------------------------------------------------- files


def load_candidates(path: Path) -> dict[str, str]:
    """``{video_id: sentence}``, or coco results ``[{image_id|video_id, caption}]``."""
    from i2vbench.io import read_json

    data = read_json(path, "candidate captions json")
    out: dict[str, str] = {}
    if isinstance(data, dict):
        for k, v in data.items():
            if isinstance(v, list) and len(v) == 1:
                v = v[0]
            if not isinstance(v, str):
                raise BenchError(f"{where(path, key=str(k))}: expected one caption string")
            out[str(k)] = v
        return out
    if isinstance(data, list):
        for i, r in enumerate(data):
            vid = r.get("video_id", r.get("image_id")) if isinstance(r, dict) else None
            if vid is None or not isinstance(r.get("caption"), str):
                raise BenchError(f"{where(path, key=f'[{i}]')}: expected {{video_id, caption}}")
            if str(vid) in out:
                raise BenchError(f"{where(path, key=f'[{i}]')}: second caption for video {vid!r}")
            out[str(vid)] = r["caption"]
        return out
    raise BenchError(f"{path}: expected {{video_id: caption}} or a list of {{video_id, caption}}")


def read_lines(path: Path, what: str) -> list[str]:
    """Lines as nlg-eval reads them (``open(f).readlines()``, each stripped)."""
    from i2vbench.io import read_text

    text = read_text(path, what)
    return [line.strip() for line in io.StringIO(text).readlines()]


def lines_metrics(hypothesis: Path, references: list[Path]) -> dict[str, float]:
    """nlg-eval's ``compute_metrics(hypothesis, references)``: line i of the hypothesis file against
    line i of each reference file, scored by the coco-caption scorers on the stripped lines *without*
    PTB tokenisation (nlg-eval does not tokenise). As there, the references are cut to the shortest
    reference file (``zip``), and then the hypothesis file must have exactly that many lines."""
    import warnings

    hyps = read_lines(hypothesis, "hypothesis file")
    refs = [read_lines(r, "reference file") for r in references]
    for path, lines in ((hypothesis, hyps), *zip(references, refs, strict=True)):
        check_caption_lengths({f"line {i + 1}": x for i, x in enumerate(lines)}, path)
    n = min(len(r) for r in refs)
    if any(len(r) != n for r in refs):
        warnings.warn(f"reference files have {', '.join(str(len(r)) for r in refs)} lines; as nlg-eval "
                      f"(zip), only the first {n} lines of each are used", stacklevel=3)
    if len(hyps) != n:
        raise BenchError(f"{hypothesis}: {len(hyps)} hypothesis lines but {n} reference lines in "
                         f"{', '.join(map(str, references))} (line i is scored against line i; nlg-eval "
                         "asserts the counts match)")
    if n == 0:
        raise BenchError(f"{hypothesis}: no lines to score")
    gts = {i: [r[i] for r in refs] for i in range(n)}
    res = {i: [h] for i, h in enumerate(hyps)}
    return {k: v * 100 for k, v in score_tokenized(gts, res).items()}


FORMATS = ("json", "lines")


@register_evaluator("captioning", keys=METRICS)
def evaluate_files(gt: Path, pred: Path, split: str | None = None, references: list | tuple = (),
                   format: str | None = None) -> dict[str, float]:
    """Score candidates against references (``split`` selects MSR-VTT json videos, e.g. ``test``).

    GT formats: ``{video_id: [sentences]}``, MSR-VTT's ``{videos, sentences}``, the COCO caption layout
    ``{images, annotations}`` (all ``json``), or line-aligned text files as nlg-eval takes them
    (``lines``: one hypothesis file, one or more reference files: ``--gt ref1.txt --gt ref2.txt``).
    """
    from i2vbench.datasets.msrvtt import load_caption_json

    fmt = format or ("lines" if Path(gt).suffix.lower() == ".txt" else "json")
    if fmt not in FORMATS:
        raise BenchError(f"unknown captioning format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if fmt == "lines":
        return lines_metrics(Path(pred), [Path(gt), *map(Path, references)])
    if references:
        raise BenchError("several --gt files are line-aligned reference files (format lines, .txt); "
                         f"{gt} is read as json (pass --format lines if it is one sentence per line)")
    try:
        refs = load_caption_json(gt, split)
    except BenchError as e:
        if format is not None:
            raise
        raise BenchError(f"{e} [the format was guessed as json from the suffix {Path(gt).suffix!r}; "
                         "for one sentence per line pass --format lines]") from None
    cands = load_candidates(pred)
    check_caption_lengths(refs, gt)
    check_caption_lengths(cands, pred)
    unknown = next((k for k in cands if k not in refs), None)
    if unknown is not None:
        raise BenchError(f"{where(pred, key=unknown)}: video not in the references {gt}"
                         + (f" (split {split})" if split else ""))
    missing = [k for k in refs if k not in cands]
    if missing:
        hint = "" if split else " (for MSR-VTT's caption json, --option split=test keeps only the test videos)"
        raise BenchError(f"{pred}: no candidate caption for {len(missing)} of {len(refs)} videos in {gt}, "
                         f"e.g. {missing[0]!r}{hint}")
    return caption_metrics(refs, cands)
