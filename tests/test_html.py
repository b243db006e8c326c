"""``gembench report --html``: one self-contained page, checked as text and in a real headless
browser (Chromium through Selenium and chromedriver): no console error, the verdict table is
visible, clicking a header sorts, a screenshot is kept.

The browser test skips, saying why, when Selenium, Chromium or chromedriver is missing
(``apt-get install chromium chromium-driver``; ``pip install selenium``); ``.ci/run`` installs
them. The screenshot and the page are kept in ``GEMBENCH_TEST_ARTIFACTS`` (a directory), or
under ``reports/test-artifacts/`` when ``CI`` is set (the workflow uploads ``reports/``).
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from gembench.cli import main
from gembench.engine.measuring.timing import summarize

FIXTURE = Path(__file__).parent / "data" / "results-small.jsonl"
TARGET = "elementwise/torch_fused/gem(N=1)/float32/cpu/262144/forward/t1/default"


def _records() -> list[dict]:
    return [json.loads(line) for line in FIXTURE.read_text().splitlines() if line.strip()]


def _run(path: Path, factor: float, later: bool) -> Path:
    """The fixture (``later``: as a later run on the same machine at another commit), with
    TARGET timed in 20 rounds beside its ReLU, its samples (and its ratio to ReLU) scaled by
    ``factor``."""
    recs = copy.deepcopy(_records())
    if later:
        recs[0]["started"] = "2026-11-25T10:00:00+00:00"
        recs[0]["environment"]["git"] = {"commit": "b" * 40, "dirty": False}
    speed = np.random.default_rng(3 if later else 1).lognormal(0.0, 0.05, 20)
    for r in recs[1:]:
        if r["case_id"] == TARGET:
            relu = r["timing"]["relu"]["median"] * speed
            r["timing"].update(summarize(list(relu * 8.0 * factor)))
            r["timing"]["relu"] = summarize(list(relu))
            r["timing"]["ratio_to_relu"] = {"median": 8.0 * factor, "q1": 8.0 * factor,
                                            "q3": 8.0 * factor, "count": 20}
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return path


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> tuple[Path, str]:
    tmp = tmp_path_factory.mktemp("html")
    base = _run(tmp / "base.jsonl", 1.0, later=False)
    later = _run(tmp / "later.jsonl", 3.0, later=True)
    out = tmp / "report.html"
    assert main(["report", str(base), str(later), "--html", str(out)]) == 0
    assert not list(tmp.glob("*.md"))  # --html alone writes no markdown report
    return out, out.read_text(encoding="utf-8")


def test_page_is_self_contained(page):
    _, text = page
    assert text.startswith("<!DOCTYPE html>")
    # nothing is fetched when viewed: no external scripts, styles, images or frames
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", text)
    assert "<link rel=stylesheet" not in text and "<script src" not in text
    assert text.count("<svg") >= 2  # the cost and size plots, inline
    assert "<table class=sortable id=\"verdict\">" in text


def test_verdict_first_and_history_marks_the_planted_change(page):
    _, text = page
    assert text.index("Verdict") < text.index("History") < text.index("Cost relative to ReLU")
    hist = text[text.index("<h2>History</h2>"):text.index("<h2>Cost relative")]
    # the fixture's commit had uncommitted changes: "+"
    assert "3edbe59+ 2026-11-24 18:31" in hist and "bbbbbbb 2026-11-25 10:00" in hist
    row = next(r for r in hist.split("<tr>") if r.startswith(f"<td>{TARGET}</td>"))
    assert "▲" in row and 'class="num slower"' in row
    # a case that did not change carries no mark
    other = next(r for r in hist.split("<tr>") if r.startswith(
        "<td>elementwise/torch_eager/relu/float32/cpu/4096/forward/t1/default</td>"))
    assert "▲" not in other and "▼" not in other


def _driver():
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed "
                                    "(pip install selenium)")
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    browser = next((b for b in ("chromium", "chromium-browser", "google-chrome")
                    if shutil.which(b)), None)
    driver_path = shutil.which("chromedriver")
    if browser is None or driver_path is None:
        pytest.skip("no headless browser: install chromium and chromium-driver "
                    "(apt-get install -y chromium chromium-driver)")
    opts = Options()
    opts.binary_location = shutil.which(browser)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1000"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(driver_path), options=opts)


@pytest.mark.slow
def test_in_a_headless_browser(page, tmp_path):
    path, _ = page
    driver = _driver()
    try:
        from selenium.webdriver.common.by import By

        driver.set_page_load_timeout(30)
        driver.get(path.resolve().as_uri())
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors
        table = driver.find_element(By.ID, "verdict")
        assert table.is_displayed()
        assert len(table.find_elements(By.CSS_SELECTOR, "tbody tr")) >= 3
        headers = table.find_elements(By.CSS_SELECTOR, "thead th")
        col = [h.text for h in headers].index("× fastest ReLU")

        def column() -> list[float]:
            return [float(td.get_attribute("data-v")) for td in table.find_elements(
                By.CSS_SELECTOR, f"tbody tr td:nth-child({col + 1})")]

        before = column()
        headers[col].click()
        ascending = column()
        assert ascending == sorted(before) and ascending != before
        assert headers[col].get_attribute("aria-sort") == "ascending"
        headers[col].click()
        assert column() == sorted(before, reverse=True)
        # text columns sort too
        act = [h.text for h in headers].index("activation")
        headers[act].click()
        names = [td.text for td in table.find_elements(
            By.CSS_SELECTOR, f"tbody tr td:nth-child({act + 1})")]
        assert names == sorted(names, key=str.lower) or names == sorted(names)
        assert not [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        shot = tmp_path / "html-report.png"
        assert driver.save_screenshot(str(shot))
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        keep = os.environ.get("GEMBENCH_TEST_ARTIFACTS") or (
            str(Path(__file__).resolve().parent.parent / "reports" / "test-artifacts")
            if os.environ.get("CI") else None)
        if keep:
            Path(keep).mkdir(parents=True, exist_ok=True)
            shutil.copy(shot, Path(keep) / shot.name)
            shutil.copy(path, Path(keep) / "html-report.html")
    finally:
        driver.quit()


def test_html_user_errors(tmp_path, capsys):
    assert main(["report", str(tmp_path / "missing.jsonl"), "--html",
                 str(tmp_path / "x.html")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("gembench: error:") and len(err.splitlines()) == 1


def test_history_only_within_one_machine(tmp_path):
    from gembench.report.history import history
    from gembench.results import read_all

    base = _run(tmp_path / "base.jsonl", 1.0, later=False)
    later = _run(tmp_path / "later.jsonl", 3.0, later=True)
    recs = [json.loads(line) for line in later.read_text().splitlines()]
    recs[0]["environment"]["hostname"] = "another-host"
    other = tmp_path / "other.jsonl"
    other.write_text("".join(json.dumps(r) + "\n" for r in recs))
    assert history(read_all([base, other])) == []  # two machines: nothing to follow
    (machine,) = history(read_all([later, base]))  # given out of order: oldest first
    assert machine.runs[0].startswith("3edbe59+") and machine.name.startswith("fixture on vm")
    assert machine.cases[TARGET][1].mark == "slower" and machine.cases[TARGET][0].mark == ""
