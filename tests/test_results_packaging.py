"""Reported results ship inside the package: `bench tables` needs no ./results, and the package-data
globs of pyproject.toml cover every data file the results code reads."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest

from i2vbench.results.reported import REPORTED_DIR, ReportedTable, reported_table
from i2vbench.tasks import TASKS

ROOT = Path(__file__).resolve().parents[1]
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
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
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
