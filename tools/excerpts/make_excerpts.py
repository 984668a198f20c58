"""Cut the small excerpts of the real annotation files that tests/data/annotations/ holds.

The full files (tens of MB in all) stay outside the repository; the tests that need all of them
run when I2VBENCH_ANNOTATIONS points to the folder. The excerpts let a clean clone test every
loader on real bytes: real quoting, line endings, field orders and quirks, kept as they are.

    python tools/excerpts/make_excerpts.py ../shared/data/annotations ../shared/seeds/survey_2510.10671.md

Every excerpt keeps the source file's name, and is its first lines (or records), plus the rows
named below that carry a quirk the tests check. Rewrites tests/data/annotations/ and
tests/data/survey_tables.md; SOURCE.md in each folder says where the bytes come from.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parents[2] / "tests" / "data"


def lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def head(src: Path, dst: Path, n: int, extra: tuple[int, ...] = ()) -> None:
    """First n lines plus the 1-based lines ``extra`` (in file order), bytes as they are."""
    ls = lines(src)
    keep = sorted(set(range(n)) | {i - 1 for i in extra})
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(b"".join(ls[i] for i in keep))


def csv_rows(src: Path, dst: Path, keep) -> None:
    """Header + the csv records for which keep(fields) is true, bytes as they are (a record whose
    quoted field spans lines is whole: it ends where its count of quote characters is even)."""
    records, buf = [], b""
    for ln in lines(src):
        buf += ln
        if buf.count(b'"') % 2 == 0:
            records.append(buf)
            buf = b""
    fields = [next(csv.reader(io.StringIO(r.decode("utf-8")))) for r in records]
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(records[0] + b"".join(r for r, f in zip(records[1:], fields[1:], strict=True)
                                          if keep(f)))


def main(ann: Path, survey: Path) -> None:
    out = OUT / "annotations"
    # --- Charades-STA: 40 test queries, train's first 30 lines + the 4 inverted ones -----------
    s, d = ann / "charades_sta", out / "charades_sta"
    head(s / "charades_sta_test.txt", d / "charades_sta_test.txt", 40)
    head(s / "charades_sta_train.txt", d / "charades_sta_train.txt", 30, (8252, 8440, 9623, 9624))
    vids = {ln.split()[0].decode() for f in ("charades_sta_test.txt", "charades_sta_train.txt")
            for ln in lines(d / f)}
    test_vids = {ln.split()[0].decode() for ln in lines(d / "charades_sta_test.txt")}
    csv_rows(s / "Charades_v1_test.csv", d / "Charades_v1_test.csv", lambda r: r[0] in test_vids)
    full = json.loads((s / "charades.json").read_text())
    (d / "charades.json").write_text(json.dumps({k: v for k, v in full.items() if k in vids}))
    (d / "cgdetr_tvr_format").mkdir(exist_ok=True)
    head(s / "cgdetr_tvr_format" / "charades_sta_test_tvr_format.jsonl",
         d / "cgdetr_tvr_format" / "charades_sta_test_tvr_format.jsonl", 40)
    tf = json.loads((s / "tfvtg" / "charades_test.json").read_text())
    (d / "tfvtg").mkdir(exist_ok=True)
    # the first 40 test lines cover whole videos except possibly the last: keep its first k sentences
    n_left, keep = 40, {}
    for vid, rec in tf.items():
        k = min(n_left, len(rec["sentences"]))
        keep[vid] = {"duration": rec["duration"], "timestamps": rec["timestamps"][:k],
                     "sentences": rec["sentences"][:k]}
        n_left -= k
        if not n_left:
            break
    (d / "tfvtg" / "charades_test.json").write_text(json.dumps(keep))
    # --- Kinetics-400: one clip per class (the first of each), + "--nQbRBEz2s"; full label maps
    s, d = ann / "kinetics400", out / "kinetics400"
    seen: set[str] = set()

    def first_of_class(r: list[str]) -> bool:
        if r[1] == "--nQbRBEz2s" or r[0] not in seen:
            seen.add(r[0])
            return True
        return False
    csv_rows(s / "kinetics-400_val.csv", d / "kinetics-400_val.csv", first_of_class)
    for f in ("label_map_k400.txt", "kinetics_400_labels.csv"):
        (d / f).write_bytes((s / f).read_bytes())
    # --- SSv2: the first clip of each of the 174 classes, in file order; full label files -------
    s, d = ann / "ssv2", out / "ssv2"
    d.mkdir(parents=True, exist_ok=True)
    val = json.loads((s / "something-something-v2-validation.json").read_text())
    got: set[str] = set()
    few = []
    for r in val:
        if r["template"] not in got:
            got.add(r["template"])
            few.append(r)
    (d / "something-something-v2-validation.json").write_text(
        "[\n" + ",\n".join(json.dumps(r) for r in few) + "\n]\n")
    for f in ("something-something-v2-labels.json", "label_map.txt"):
        (d / f).write_bytes((s / f).read_bytes())
    # --- NExT-QA: first 150 rows of val/test (every question type in val) ------------------------
    s, d = ann / "nextqa", out / "nextqa"
    head(s / "val.csv", d / "val.csv", 151)
    head(s / "test.csv", d / "test.csv", 101)
    # --- MSR-VTT: 1k-A's first 50 pairs, the 9k list's first 20, MC's first 50, QA's first 20 ---
    s, d = ann / "msrvtt", out / "msrvtt"
    head(s / "MSRVTT_JSFUSION_test.csv", d / "MSRVTT_JSFUSION_test.csv", 51)
    head(s / "MSRVTT_train.9k.csv", d / "MSRVTT_train.9k.csv", 21)
    head(s / "msrvtt_mc_test.jsonl", d / "msrvtt_mc_test.jsonl", 50)
    head(s / "msrvtt_qa_val.jsonl", d / "msrvtt_qa_val.jsonl", 20)
    # --- How2QA: 30 rows of val (LF); test (CRLF) 30 rows + the three with non-ASCII text --------
    s, d = ann / "how2qa", out / "how2qa"
    head(s / "how2QA_val_release.csv", d / "how2QA_val_release.csv", 30)
    t = lines(s / "how2QA_test_public_release.csv")
    non_ascii = tuple(i + 1 for i, ln in enumerate(t) if any(b > 127 for b in ln))
    head(s / "how2QA_test_public_release.csv", d / "how2QA_test_public_release.csv", 30, non_ascii)
    # --- MSVD-QA: the first 60 test records; first 40 lines of the youtube mapping --------------
    s, d = ann / "msvd_qa", out / "msvd_qa"
    d.mkdir(parents=True, exist_ok=True)
    recs = json.loads((s / "msvd_test_qa_encode.json").read_text())[:60]
    (d / "msvd_test_qa_encode.json").write_text(json.dumps(recs))
    head(s / "msvd_youtube_mapping.txt", d / "msvd_youtube_mapping.txt", 40)
    # --- VidSTG: the first 12 entries of test and val (original sentence annotations) -----------
    s, d = ann / "vidstg", out / "vidstg"
    d.mkdir(parents=True, exist_ok=True)
    for f in ("test_annotations.json", "val_annotations.json"):
        (d / f).write_text(json.dumps(json.loads((s / f).read_text())[:12]))
    # --- TAO: mmtracking's demo file is small: whole -------------------------------------------
    s, d = ann / "tao" / "mmtracking_demo_tao_data", out / "tao" / "mmtracking_demo_tao_data"
    d.mkdir(parents=True, exist_ok=True)
    (d / "ann.json").write_bytes((s / "ann.json").read_bytes())
    # --- the survey's Tables II and III, as its markdown prints them --------------------------
    text = survey.read_text(encoding="utf-8").splitlines(keepends=True)
    keep_lines = [ln for ln in text if ln.startswith(("TABLE II:", "TABLE III:")) or "\t" in ln]
    i = next(k for k, ln in enumerate(keep_lines) if ln.startswith("TABLE II:"))
    (OUT / "survey_tables.md").write_text("".join(keep_lines[i:]), encoding="utf-8")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
