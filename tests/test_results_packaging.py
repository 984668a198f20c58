"""Reported results ship inside the package: `bench tables` needs no ./results, and the package-data
globs of pyproject.toml cover every data file the results code reads."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest

from i2vbench.results.reported import REPORTED_DIR, ReportedTable, reported_table
from i2vbench.tasks import TASKS

ROOT = Path(__file__).resolve().parents[1]


def _tomllib():
    """The standard library's TOML reader (3.11+), else tomli (the test extra installs it on 3.10)."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    return tomllib
PKG = ROOT / "i2vbench"


def test_tables_work_from_any_directory(bench, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no results/ here
    monkeypatch.delenv("I2VBENCH_RESULTS", raising=False)
    code, out, err = bench("tables", "--task", "captioning", "--format", "csv")
    assert code == 0, err
    assert out.count("\n") == 9  # header + 8 rows
    assert not (tmp_path / "results").exists()


def test_repository_results_reported_is_the_package_data():
    link = ROOT / "results" / "reported"
    assert link.is_symlink() and link.resolve() == REPORTED_DIR


def test_package_data_globs_cover_the_data_files():
    tomllib = _tomllib()
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())
    globs = cfg["tool"]["setuptools"]["package-data"]["i2vbench"]
    data = sorted(REPORTED_DIR.glob("*.yaml")) + sorted((PKG / "results" / "site_assets").iterdir())
    assert len(data) == len(TASKS) + 2
    for f in data:
        rel = PurePosixPath(f.relative_to(PKG).as_posix())
        assert any(rel.match(g) or rel.match(g.removeprefix("**/")) for g in globs), rel


def test_each_reported_file_validates_and_names_problems(tmp_path, monkeypatch):
    for t in TASKS.names():
        assert isinstance(reported_table(t), ReportedTable)
    import yaml

    from i2vbench.errors import BenchError
    from i2vbench.results import reported

    bad = yaml.safe_load((REPORTED_DIR / "tvg.yaml").read_text())
    bad["rows"][0]["metrics"]["R@0.3"] = "65.8"
    bad["rows"][1]["paradigm"] = "adapter"  # printed category says extra models
    (tmp_path / "tvg.yaml").write_text(yaml.safe_dump(bad, allow_unicode=True))
    monkeypatch.setattr(reported, "REPORTED_DIR", tmp_path)
    reported.reported_table.cache_clear()
    try:
        with pytest.raises(BenchError, match=r"tvg.yaml \[rows.0.metrics.R@0.3\]: Input should be a valid number"):
            reported.reported_table("tvg")
        bad["rows"][0]["metrics"]["R@0.3"] = 65.8
        (tmp_path / "tvg.yaml").write_text(yaml.safe_dump(bad, allow_unicode=True))
        reported.reported_table.cache_clear()
        with pytest.raises(BenchError, match=r"rows\[1\]: category 'F.Tuning with Extra Models' is not paradigm 'adapter'"):
            reported.reported_table("tvg")
    finally:
        reported.reported_table.cache_clear()


# a distribution's import name, where it differs from the distribution's
IMPORT_NAME = {"open_clip_torch": "open_clip", "pyyaml": "yaml", "av": "av", "pillow": "PIL"}


def test_declared_dependencies_are_the_imported_ones():
    """pyproject declares what the package imports, no more (a declared package nobody imports
    costs every user an install; an imported one that is not declared breaks a clean install)."""
    import re
    import sys

    tomllib = _tomllib()
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    declared = {IMPORT_NAME.get(n, n) for n in (re.match(r"[A-Za-z0-9_.-]+", d).group(0).lower() for d in deps)}
    import ast

    imported: set[str] = set()
    for f in PKG.rglob("*.py"):
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    third_party = imported - set(sys.stdlib_module_names) - {"i2vbench"}
    # optional, each imported inside try/except or only by a perf script given a checkout, or by
    # bench eval --engine official, which names the missing package (trackeval: in the test extra)
    optional = {"orjson", "teta", "mmaction", "trackeval"}
    assert declared - imported == set(), "declared, never imported"
    assert third_party - declared - optional == set(), "imported, not declared"


def test_records_as_a_dataframe():
    from i2vbench.results.store import records_frame

    df = records_frame(task="tvg")
    assert list(df.columns[:9]) == ["task", "dataset", "split", "method", "paradigm", "ilfm", "venue", "year",
                                    "kind"]
    row = df[df["method"] == "Moment-DETR"].iloc[0]
    assert (row["R1@0.5"], row["kind"]) == (52.1, "reported")
    assert df[df["method"] == "VDI"]["mIoU"].isna().all()  # "-" in the survey
