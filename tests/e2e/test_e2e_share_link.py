"""End to end in a real headless Chromium: upload the sample CSVs, then share the link.

Starts ``streamlit run`` on 127.0.0.1 with a free port and an empty temporary workspace,
uploads the sample CSVs through the Upload page, waits for the load report and a chart,
picks a period, copies the link and opens it in a fresh browser context: same dataset, page,
filters and numbers. Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks import loadtest
from engine.load.samples import SAMPLE_DIR, SAMPLE_FILES

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(loadtest.CHROMIUM)
ARTIFACTS = ROOT / "test-artifacts"
SAMPLES = [SAMPLE_DIR / name for name in SAMPLE_FILES]
ARGS = loadtest.ARGS

pytestmark = pytest.mark.e2e


def _need_chromium() -> None:
    if CHROMIUM.exists():
        return
    if os.environ.get("CI") == "true":
        pytest.fail("chromium is missing at /usr/bin/chromium (required in CI)")
    pytest.skip("chromium is not installed")


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[str]:
    _need_chromium()
    try:
        proc, base = loadtest.start_server(tmp_path)
    except RuntimeError as exc:
        pytest.fail(str(exc))
    try:
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _texts(page, test_id: str) -> list[str]:
    return [t.strip() for t in page.get_by_test_id(test_id).all_inner_texts()]


def test_upload_then_shared_link_shows_the_same_view(server: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        page.set_default_timeout(60_000)
        page.goto(server + "/upload")
        expect(page.get_by_text("Upload limit: 200 MB")).to_be_visible()
        page.locator("input[type=file]").set_input_files([str(p) for p in SAMPLES])
        load = page.get_by_role("button", name="Load", exact=True)
        expect(load).to_be_enabled(timeout=90_000)
        page.screenshot(path=str(ARTIFACTS / "e2e_upload_mapping.png"), full_page=True)
        load.click()
        expect(page.get_by_text("Loaded dataset")).to_be_visible(timeout=120_000)
        page.screenshot(path=str(ARTIFACTS / "e2e_load_report.png"), full_page=True)

        page.get_by_role("link", name="See the data quality report").click()
        expect(page.get_by_role("heading", name="Data quality")).to_be_visible()
        period = (
            page.get_by_test_id("stSidebar").get_by_test_id("stSelectbox").filter(has_text="Period")
        )
        period.click()
        page.get_by_role("option", name="2025", exact=True).click()
        expect(page).to_have_url(re.compile(r"period=2025"))
        expect(page.get_by_test_id("stVegaLiteChart").first).to_be_visible(timeout=60_000)
        expect(page.get_by_test_id("stMetric").first).to_be_visible()
        time.sleep(1.5)
        page.screenshot(path=str(ARTIFACTS / "e2e_quality.png"), full_page=True)
        chart = page.get_by_test_id("stVegaLiteChart").first
        chart.scroll_into_view_if_needed()
        chart.screenshot(path=str(ARTIFACTS / "e2e_quality_chart.png"))
        page.get_by_test_id("stMetric").first.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "e2e_quality_metrics.png"))
        link = page.get_by_test_id("stSidebar").get_by_test_id("stCode").inner_text().strip()
        assert "dataset=" in link and "page=quality" in link and "period=2025" in link
        metrics = _texts(page, "stMetric")
        lines = [t for t in _texts(page, "stText") if " in = " in t]
        assert any("opportunities.csv" in t and "4,000 in" in t for t in lines)

        fresh = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        fresh.set_default_timeout(60_000)
        fresh.goto(link)
        expect(fresh.get_by_role("heading", name="Data quality")).to_be_visible()
        expect(fresh.get_by_test_id("stMetric").first).to_be_visible()
        expect(fresh.get_by_test_id("stVegaLiteChart").first).to_be_visible()
        time.sleep(1.5)
        fresh.screenshot(path=str(ARTIFACTS / "e2e_shared_link.png"), full_page=True)
        fresh_period = (
            fresh.get_by_test_id("stSidebar")
            .get_by_test_id("stSelectbox")
            .filter(has_text="Period")
        )
        assert "period=2025" in fresh.url
        expect(fresh_period).to_match_aria_snapshot('- combobox "Period": "2025"')
        assert _texts(fresh, "stMetric") == metrics
        assert [t for t in _texts(fresh, "stText") if " in = " in t] == lines
        assert (
            fresh.get_by_test_id("stSidebar").get_by_test_id("stCode").inner_text().strip() == link
        )
        browser.close()
