"""End to end in headless Chromium: load an export, add a newer export of the same CRM through
the Upload page ("Add a newer export"), open Pipeline changes, and open its comparison link in a
fresh browser context: the same numbers (docs/metrics.md, Pipeline changes).

The two exports are the tiny pair of tests/test_changes_snapshots.py. The newer one's proposed
as-of date is its latest date (2026-06-01), so the period is 2026-Q2:
Start 100 + 200 + 70 = $370; End 150 + 300 + 0 = $450;
370 + new 0 + pulled in 300 + increased 50 - won 200 - removed 70 = 450.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks import loadtest
from tests.e2e.test_e2e_share_link import ARGS, ARTIFACTS, CHROMIUM, _need_chromium, _texts
from tests.test_changes_snapshots import NEW, OLD

pytestmark = pytest.mark.e2e


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


def test_add_a_newer_export_and_share_the_comparison(server: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    old, new = tmp_path / "deals_week1.csv", tmp_path / "deals_week2.csv"
    old.write_text(OLD)
    new.write_text(NEW)
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.set_default_timeout(60_000)
        page.goto(server + "/upload")
        page.locator("input[type=file]").set_input_files([str(old)])
        load = page.get_by_role("button", name="Load", exact=True)
        expect(load).to_be_enabled(timeout=90_000)
        load.click()
        expect(page.get_by_text("Loaded dataset")).to_be_visible(timeout=120_000)
        token = page.url.split("dataset=")[1].split("&")[0]

        # A new tab of the same browser: the dataset is this browser's, so it may add to it.
        page = context.new_page()
        page.set_default_timeout(60_000)
        page.goto(f"{server}/upload?dataset={token}")
        page.get_by_text("Add a newer export to deals_week1.csv").click()
        page.locator("input[type=file]").set_input_files([str(new)])
        expect(page.get_by_text("Proposed from the export's rows: 2026-06-01")).to_be_visible(
            timeout=90_000
        )
        load = page.get_by_role("button", name="Load", exact=True)
        expect(load).to_be_enabled(timeout=90_000)
        page.screenshot(path=str(ARTIFACTS / "e2e_changes_add_export.png"), full_page=True)
        load.click()
        expect(page.get_by_text("Added a snapshot as of 2026-06-01")).to_be_visible(timeout=120_000)
        page.get_by_role("link", name="See what changed").click()
        expect(page.get_by_role("heading", name="Pipeline changes")).to_be_visible()
        expect(page.get_by_text("= End $450: balances")).to_be_visible(timeout=60_000)
        expect(page.get_by_test_id("stVegaLiteChart").first).to_be_visible(timeout=60_000)
        time.sleep(1.5)
        page.screenshot(path=str(ARTIFACTS / "e2e_changes_page.png"), full_page=True)
        metrics = _texts(page, "stMetric")
        assert any("$370" in m for m in metrics) and any("$450" in m for m in metrics)
        codes = [c.strip() for c in page.get_by_test_id("stCode").all_inner_texts()]
        link = next(c for c in codes if "old=" in c)
        assert f"dataset={token}" in link and "new=2026-06-01" in link and "p=2026-Q2" in link

        fresh = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        fresh.set_default_timeout(60_000)
        fresh.goto(link)
        expect(fresh.get_by_role("heading", name="Pipeline changes")).to_be_visible()
        expect(fresh.get_by_text("= End $450: balances")).to_be_visible(timeout=60_000)
        expect(fresh.get_by_test_id("stVegaLiteChart").first).to_be_visible()
        time.sleep(1.5)
        fresh.screenshot(path=str(ARTIFACTS / "e2e_changes_shared.png"), full_page=True)
        assert _texts(fresh, "stMetric") == metrics
        browser.close()
