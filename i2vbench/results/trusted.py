"""Trusted ground truth per (dataset, split): what a ``verified`` submission must be scored against.

``bench submit --predictions`` scores a file against ground truth the submitter names. The score
means something on the leaderboard only if that GT is the dataset's own: so every GT input of the
scoring (the GT file and any auxiliary file passed as an option, e.g. Charades' durations csv or an
answer vocabulary) is hashed, and the record is ``verified`` only when every hash is registered
for the record's (dataset, split); otherwise it is stored as ``self-scored`` (scored by the suite,
on ground truth nobody vouched for), which the tables and the leaderboard show as such.

Two sources of trust:

* **Official annotation files** (:data:`OFFICIAL`): sha256 of the files as their canonical public
  repositories publish them (byte copies with repository and commit in
  ``data/annotations/<dataset>/SOURCE.md`` beside DESIGN.md), hard-coded here because they never
  change. A file that differs in one byte (re-saved with CRLF, a fixed typo) is not trusted.
* **SynthVid** (:data:`SYNTHVID`): not hard-coded. SynthVid's annotation files are a pure
  function of (generator version, task writer version, seed, config), and the generators are
  still growing; pinned hashes would go stale on every generator change (and a stale list silently
  refuses the suite's own default data). So the trusted hashes are *computed from the generator*
  at the pinned seed and config of the default benchmark, by running only its annotation stage
  (sampling scenes and annotating them, well under 1 ms a video; no rendering). When a generator
  changes, its trusted hashes change with it, and predictions made on the old data stop being
  verifiable, which is right: they were scored on other ground truth.
"""

from __future__ import annotations

import hashlib
import importlib
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

# (dataset, split) -> {sha256: "file name — where it comes from"}
OFFICIAL: dict[tuple[str, str], dict[str, str]] = {
    ("charades-sta", "test"): {
        "fab341679c20b0917173dcffffde367a71113fe63f3a645558cef2ebfbfefb55":
            "charades_sta_test.txt — microsoft/VideoX 1744b21 (2D-TAN data/Charades-STA)",
        "8b8b207b55fb95b949018027f69d83bd46cd844d15834f8f592ee8e7446173eb":
            "Charades_v1_test.csv — microsoft/VideoX 1744b21 (durations)",
        "42de4feae0ae2705d847776393637edafce6d8d47cfbf9ed19b8cd182d370155":
            "charades.json — 26hzhang/VSLNet 3793c62 (durations)",
    },
    ("charades-sta", "train"): {
        "47ec9b6b488fca753373d9cc29b07a959f7237a922cb29463cd088cd6198e805":
            "charades_sta_train.txt — microsoft/VideoX 1744b21 (2D-TAN data/Charades-STA)",
        "42de4feae0ae2705d847776393637edafce6d8d47cfbf9ed19b8cd182d370155":
            "charades.json — 26hzhang/VSLNet 3793c62 (durations)",
    },
    ("nextqa", "val"): {
        "43198bdef8436b8d64a9b75d846b0987c10cbf94ebf4be325c4a4e54634d66b8": "val.csv — doc-doc/NExT-QA 6b92588",
    },
    ("nextqa", "test"): {
        "cdf46de237b3b3b846ff0209ae1394ad559791b5a0de0bb8c78648f74da83542": "test.csv — doc-doc/NExT-QA 6b92588",
    },
    ("how2qa", "val"): {
        "29885688440868116ba0c8ec82a11b338f5611fc6650f8a2c7f06bd5a0cc9f77":
            "how2QA_val_release.csv — ych133/How2R-and-How2QA 1c040a7",
    },
    ("how2qa", "test"): {
        "418a06187387899f54ceb074d894787e9316fe52faba21ee91f022cbe7547193":
            "how2QA_test_public_release.csv — ych133/How2R-and-How2QA 1c040a7",
    },
    ("msrvtt", "test"): {
        "e61144b312c8a2fc2126f96504c981f8c23c05b3ba9655a56e2af50ac8a4b16a":
            "MSRVTT_JSFUSION_test.csv — CLIP4Clip's msrvtt_data, as committed in www-2025/EAT 9ef32fa (1k-A test)",
    },
    ("msrvtt-mc", "test"): {
        "e2439f1432ab75fdd7846a982b38499b2bfb189618d046cc504382bbbc20a116":
            "msrvtt_mc_test.jsonl — showlab/DemoVLP fc5a31d (JSFusion multiple choice)",
    },
    ("msvd-qa", "test"): {
        "2b1dd8bca2b88f9c2ee5b102964f4d02ce185a741430dd77b3341d0770904054":
            "msvd_test_qa_encode.json — showlab/DemoVLP fc5a31d (all-in-one layout)",
        "befd17c89dd9f5339b4c4a883b521ad66bd79937ef81dc43c8b0a3f29f420614":
            "test.csv — doc-doc/HQGA f655c8a dataset/msvd (NExT-QA-family csv)",
        "1bc15145bb7426d94c6205a8ce90a5b4b0bbf701e423f258b4af7f71aed6ccc8":
            "ans_word.json — doc-doc/HQGA f655c8a dataset/msvd (answer vocabulary)",
    },
    ("msvd-qa", "val"): {
        "518c6265841903e38d38c472c31c592c5c00c062320ffc3b02e20428c2e2969c":
            "val.csv — doc-doc/HQGA f655c8a dataset/msvd (NExT-QA-family csv)",
        "1bc15145bb7426d94c6205a8ce90a5b4b0bbf701e423f258b4af7f71aed6ccc8":
            "ans_word.json — doc-doc/HQGA f655c8a dataset/msvd (answer vocabulary)",
    },
    ("kinetics400", "val"): {
        "358eaf47e7f80ebf9b17d49eb0635ad5e0fdab98a9cbd75ffdd2ee5d5e5b6944":
            "kinetics-400_val.csv — activitynet/ActivityNet 82304fa",
        "15fdb5a78b641d5ddbb7e4a582d42542c5fc9dd9b8be0d02cecc7cd10c252794": "kinetics_400_labels.csv — microsoft/VideoX 1744b21 (X-CLIP label map)",
        "e9f2806fe9109b851a80a74841244f6f8c9d10917fa0229cd82bab67f2f8e28f": "label_map_k400.txt — open-mmlab/mmaction2 4d6c934 (label map)",
    },
    ("ssv2", "val"): {
        "b6802e7fec4bfc995a312b2d1babaa06ea2db1929ff506e04bc88aa83d49f404":
            "something-something-v2-validation.json — yasirbot8/Human2Bot 3bbdbb2",
        "6a66ca95fce8b9ba00343aa5af96718cf3c264731b9a071da128e4b6f6776a5c":
            "something-something-v2-labels.json — yasirbot8/Human2Bot 3bbdbb2 (label map)",
        "c9c5a86ece619e1ab2e7ca0614c85377a534873e17108b13243e5d22089a0a85": "label_map.txt — open-mmlab/mmaction2 4d6c934 (label map)",
    },
    ("vidstg", "val"): {
        "b62a86e7c6c215a82a756fcb3a906809380f4d8807a8cffbdfd84822ece163c6":
            "val_annotations.json — Guaranteer/VidSTG-Dataset 6820cb5",
    },
    ("vidstg", "test"): {
        "ef769b9823ce2a4da8ff190ab69ccc77b8965181c58384fadc1f81e96fc4f2a7":
            "test_annotations.json — Guaranteer/VidSTG-Dataset 6820cb5",
    },
}
# Kinetics-400 and SSv2 are evaluated on their validation sets (the survey's columns, and every
# paper it cites); records carry split "test" for the table's number, so both names are trusted.
for _ds in ("kinetics400", "ssv2"):
    OFFICIAL[(_ds, "test")] = OFFICIAL[(_ds, "val")]


@dataclass(frozen=True)
class SynthVidGT:
    """A SynthVid benchmark whose annotation files are trusted at a pinned seed and config."""

    module: str  # where the TaskWriter lives
    writer: str  # its name in that module
    config: str  # its WriterConfig subclass (default fields: the default benchmark's)
    seed: int = 0  # the runners' default data seed
    # files that are GT inputs of every split (label maps), by name
    every_split: tuple[str, ...] = ()
    # (split, the word the real dataset's file names use for it): SSv2 calls val "validation"
    split_words: tuple[tuple[str, str], ...] = ()


# dataset id -> writer; both names a TVG record can carry ("synthvid" in bench submit, "synthvid-tvg" in runs)
SYNTHVID: dict[str, SynthVidGT] = {
    "synthvid": SynthVidGT("i2vbench.datasets.synthvid.tvg", "TVG", "TVGConfig"),
    "synthvid-tvg": SynthVidGT("i2vbench.datasets.synthvid.tvg", "TVG", "TVGConfig"),
    "synthvid-kinetics400": SynthVidGT("i2vbench.datasets.synthvid.kinetics", "KINETICS", "KineticsConfig",
                                       every_split=("label_map_k400.txt",)),
    "synthvid-ssv2": SynthVidGT("i2vbench.datasets.synthvid.ssv2", "SSV2", "SSv2Config",
                                every_split=("something-something-v2-labels.json",),
                                split_words=(("val", "validation"),)),
}


def _split_of(name: str, split: str) -> bool:
    """Whether a generated file belongs to ``split`` (``charades_sta_test.txt``, ``Charades_v1_test.csv``)."""
    return re.search(rf"(^|[_\-.]){re.escape(split)}([_\-.]|$)", name) is not None


def generated_files(dataset: str, config: object | None = None) -> dict[str, bytes]:
    """The annotation files a SynthVid build writes (name -> bytes), without rendering a video.

    Runs the build's own annotation stage (``_plan`` then the writer's ``files``) at the pinned
    seed and, unless ``config`` is given, the config's defaults (the default benchmark).
    """
    spec = SYNTHVID[dataset]
    from i2vbench.datasets.synthvid import writer as w

    mod = importlib.import_module(spec.module)
    writer = getattr(mod, spec.writer)
    cfg = config if config is not None else getattr(mod, spec.config)()
    records, _ = w._plan(writer, spec.seed, cfg)  # what build_task writes from (no rendering)
    return {name: c.encode("utf-8") if isinstance(c, str) else c for name, c in writer.files(records, cfg).items()}


@cache
def synthvid_hashes(dataset: str) -> dict[str, dict[str, str]]:
    """split -> {sha256: description} of the default SynthVid benchmark's annotation files."""
    from i2vbench.datasets.synthvid import writer as w

    spec = SYNTHVID[dataset]
    mod = importlib.import_module(spec.module)
    writer = getattr(mod, spec.writer)
    out: dict[str, dict[str, str]] = {}
    words = dict(spec.split_words)
    for name, data in generated_files(dataset).items():
        digest = hashlib.sha256(data).hexdigest()
        for split in w.SPLITS:
            if name in spec.every_split or _split_of(name, words.get(split, split)):
                out.setdefault(split, {})[digest] = (
                    f"{name} — SynthVid {writer.task} (generator {w.GENERATOR_VERSION}, task writer "
                    f"{writer.version}, seed {spec.seed}, default config)")
    return out


def trusted_hashes(dataset: str, split: str) -> dict[str, str]:
    """sha256 -> description of every trusted GT file of (dataset, split); empty if none."""
    if dataset in SYNTHVID:
        return dict(synthvid_hashes(dataset).get(split, {}))
    return dict(OFFICIAL.get((dataset, split), {}))


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class GTCheck:
    """Which GT inputs of a scoring are trusted for (dataset, split)."""

    hashes: dict[str, str]  # role ("gt", "durations", ...) -> sha256
    untrusted: tuple[str, ...]  # roles whose file is not registered

    @property
    def trusted(self) -> bool:
        return not self.untrusted


def check_gt(dataset: str, split: str, files: dict[str, Path]) -> GTCheck:
    """Hash each GT input (``{"gt": path, "durations": path, ...}``) and compare with the registry."""
    known = trusted_hashes(dataset, split)
    hashes = {role: sha256_file(p) for role, p in files.items()}
    return GTCheck(hashes, tuple(r for r, h in hashes.items() if h not in known))
