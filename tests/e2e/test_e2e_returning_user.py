"""End to end in headless Chromium: whoever loaded a dataset finds it again in a new tab of
the same browser; a fresh browser (another person) does not see it listed. On the way: a
header-only file is marked and left out, the Load button is disabled after the load, the
share link is shown, and at 1440x900 the sidebar's period, grain and filters are visible
without scrolling. Reuses the server fixture of ``test_e2e_share_link``; screenshots go to
``test-artifacts/``."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from tests.e2e.test_e2e_share_link import ARGS, ARTIFACTS, CHROMIUM, server  # noqa: F401
from views.auth import BROWSER_COOKIE

pytestmark = pytest.mark.e2e

DEALS = b"""Deal ID,Sales Rep,Deal Stage,Amount,Created Date,Close Date
D1,Ann,Closed Won,1000,2026-01-05,2026-02-10
D2,Bob,Closed Lost,700,2026-01-09,2026-03-01
"""
EVENTS = b"Id,WhoId,WhatId,Subject,ActivityDate,OwnerId\n"
SCREEN = {"width": 1440, "height": 900}


# The sidebar's dataset box showing the loaded dataset ("deals.csv (2026-12-06 00:32)").
LISTED = r'- combobox "Dataset": /deals\.csv \(.*\)/'


def _dataset_box(page):
    return page.get_by_test_id("stSidebar").get_by_role("combobox", name="Dataset")


def _sidebar_box(page, label: str):
    sidebar = page.get_by_test_id("stSidebar")
    return sidebar.get_by_test_id("stWidgetLabel").filter(has_text=label).first


def test_a_new_tab_finds_the_dataset_and_another_browser_does_not(
    server: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    from playwright.sync_api import expect, sync_playwright

    deals, events = tmp_path / "deals.csv", tmp_path / "Event.csv"
    deals.write_bytes(DEALS)
    events.write_bytes(EVENTS)
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        mine = browser.new_context(viewport=SCREEN)
        page = mine.new_page()
        page.set_default_timeout(60_000)
        page.goto(server + "/upload")
        page.locator("input[type=file]").set_input_files([str(deals), str(events)])
        expect(page.get_by_text("No data rows", exact=False).first).to_be_visible()
        expect(page.get_by_text("Left out: Event.csv (no data rows)")).to_be_visible()
        load = page.get_by_role("button", name="Load", exact=True)
        expect(load).to_be_enabled(timeout=90_000)
        load.click()
        expect(page.get_by_text("Loaded dataset deals.csv")).to_be_visible(timeout=120_000)
        expect(page.get_by_text("2 rows in = 2 loaded + 0 quarantined").first).to_be_visible()
        expect(load).to_be_disabled()
        code = page.get_by_test_id("stMain").get_by_test_id("stCode").last
        link = code.inner_text().strip()
        assert "dataset=" in link and "page=funnel" in link
        token = link.split("dataset=")[1].split("&")[0]
        time.sleep(1.0)
        page.screenshot(path=str(ARTIFACTS / "e2e_returning_load.png"), full_page=True)
        assert any(c["name"] == BROWSER_COOKIE for c in mine.cookies())

        # At 1440x900 the period, grain and filters are on screen without scrolling.
        for label in ("Period", "Grain", "Segment", "Team", "Owner"):
            box = _sidebar_box(page, label).bounding_box()
            assert box is not None and box["y"] + box["height"] <= SCREEN["height"], label

        # The same browser, a new tab, no link: the dataset is listed and opened.
        tab = mine.new_page()
        tab.set_default_timeout(60_000)
        tab.goto(server + "/funnel")
        expect(_dataset_box(tab)).to_match_aria_snapshot(LISTED, timeout=60_000)
        expect(tab).to_have_url(re.compile(rf"/funnel\?dataset={re.escape(token)}&"))
        time.sleep(1.0)
        tab.screenshot(path=str(ARTIFACTS / "e2e_returning_new_tab.png"))

        # Another browser (a fresh context: no cookie) does not see it listed.
        other = browser.new_context(viewport=SCREEN).new_page()
        other.set_default_timeout(60_000)
        other.goto(server + "/funnel")
        expect(other.get_by_text("No dataset yet. Load files on the Upload page.")).to_be_visible()
        assert token not in other.url
        time.sleep(1.5)
        other.screenshot(path=str(ARTIFACTS / "e2e_returning_other_browser.png"))
        # The link still opens it there: sharing is by link.
        other.goto(link)
        expect(_dataset_box(other)).to_match_aria_snapshot(LISTED, timeout=60_000)
        browser.close()
