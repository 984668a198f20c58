"""The leaderboard site in a real browser: Debian's headless Chromium driven by Playwright.

Opens the index from file://, follows the link to a task page, sorts a column, applies a
paradigm filter and checks the rows shown; screenshots go to test-artifacts/ (git-ignored).
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def browser():
    # Fails, never skips: a browser test that skips where the browser is missing is not run in CI.
    # Without Chromium, deselect it explicitly: pytest -m "not browser".
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: install Debian's `chromium` (.ci/run does), "
                    "or deselect with -m 'not browser'")
    try:
        from playwright import sync_api
    except ImportError as e:
        pytest.fail(f"Playwright's Python package is not installed ({e}): pip install -e '.[test]'")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """A site with one submitted row beside the reported ones, built into a tmp dir."""
    import os

    import yaml
    from conftest import run_bench

    tmp = tmp_path_factory.mktemp("browser")
    old = os.environ.get("I2VBENCH_RESULTS")
    os.environ["I2VBENCH_RESULTS"] = str(tmp / "results")
    try:
        result = tmp / "r.yaml"
        result.write_text(yaml.safe_dump({
            "task": "tvg", "dataset": "charades-sta", "method": "SideNet", "paradigm": "side_tuning",
            "ilfm": "CLIP", "year": 2026, "citation": {"title": "SideNet", "url": "https://example.org"},
            "metrics": {"R1@0.3": 60.0, "R1@0.7": 40.0, "mIoU": 45.0},
            "provenance": {"submitter": "tester"}}))
        assert run_bench("submit", str(result))[0] == 0
        code, _, err = run_bench("leaderboard", "build", "--out", str(tmp / "site"), "--no-runs")
        assert code == 0, err
    finally:
        if old is None:
            del os.environ["I2VBENCH_RESULTS"]
        else:
            os.environ["I2VBENCH_RESULTS"] = old
    return tmp / "site"


def _visible_methods(page) -> list[str]:
    return page.eval_on_selector_all(
        "#board tbody tr:not([hidden])", "rows => rows.map(r => r.cells[1].dataset.v)")


def _column(page, header: str) -> int:
    heads = page.eval_on_selector_all("#board thead th", "ths => ths.map(t => t.textContent.trim())")
    return heads.index(header)


def test_sort_and_filter_in_chromium(browser, site):
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(site.joinpath("index.html").as_uri())
    assert page.title() == "i2vbench leaderboard"
    page.click("a[href='tvg.html']")
    page.wait_for_url("**/tvg.html")
    assert page.inner_text("#count") == "Showing 12 of 12 rows"
    # initial order: ranked by m_IoU on Charades-STA
    assert _visible_methods(page)[:6] == ["VideoTG-R1", "UniTime", "R²-Tuning", "UniVTG", "Moment-DETR", "SideNet"]

    # sort by R@0.7: best first on the first click, "-" never first; ascending on the second
    col = _column(page, "R@0.7")
    page.click("#board thead th >> text=R@0.7")
    assert page.get_attribute(f"#board thead th:nth-child({col + 1})", "aria-sort") == "descending"
    assert _visible_methods(page)[:3] == ["SideNet", "VideoTG-R1", "R²-Tuning"]  # 40.0, 39.2, 37.0
    page.click("#board thead th >> text=R@0.7")
    assert _visible_methods(page)[:3] == ["VTimeLLM", "Seq2Time", "VTG-LLM"]  # 11.4, 13.7, 15.7
    page.screenshot(path=str(ARTIFACTS / "leaderboard-tvg-sorted.png"), full_page=True)

    # filter by paradigm: side-tuning leaves R²-Tuning and the submitted SideNet
    page.select_option("#filter-paradigm", "side_tuning")
    shown = _visible_methods(page)
    assert sorted(shown) == ["R²-Tuning", "SideNet"]
    assert page.inner_text("#count") == "Showing 2 of 12 rows"
    page.select_option("#filter-kind", "self-reported")
    assert _visible_methods(page) == ["SideNet"]
    page.select_option("#filter-paradigm", "")
    page.select_option("#filter-kind", "")
    page.select_option("#filter-ilfm", "LLaVA")
    assert sorted(_visible_methods(page)) == ["LLaViLo", "NumPro", "Seq2Time", "VTG-LLM", "VTimeLLM"]
    page.select_option("#filter-ilfm", "")
    page.select_option("#filter-paradigm", "side_tuning")
    assert page.locator("figure svg").count() == 2
    # the plots follow the filters: 2 dots per plot stay visible (R²-Tuning, SideNet)
    assert page.locator("svg circle:visible").count() == 4
    assert page.locator("svg circle").count() == 2 * 8
    page.screenshot(path=str(ARTIFACTS / "leaderboard-tvg-filtered.png"), full_page=True)
    assert errors == []
    page.close()


def test_committed_site_opens(browser):
    committed = Path(__file__).resolve().parents[1] / "leaderboard"
    page = browser.new_page()
    page.goto(committed.joinpath("index.html").as_uri())
    assert page.locator("table").first.locator("tbody tr").count() == 7
    page.click("a[href='captioning.html']")
    page.wait_for_url("**/captioning.html")
    assert page.inner_text("#count") == "Showing 8 of 8 rows"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "leaderboard-captioning.png"), full_page=True)
    page.close()

