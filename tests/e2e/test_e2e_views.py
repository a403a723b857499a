"""End to end in headless Chromium: each analysis page opened from a shared link with filters
set shows its headline numbers and charts; a full-page screenshot of each goes to
``test-artifacts/``. Reuses the server fixture of ``test_e2e_share_link``."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from engine.load.samples import ensure_sample_dataset
from engine.store.workspace import Workspace
from tests.e2e.test_e2e_share_link import ARGS, ARTIFACTS, CHROMIUM, server  # noqa: F401

pytestmark = pytest.mark.e2e

LINKS = {
    "funnel": "period=2026&seg=SMB",
    "velocity": "period=2026&grain=month&segment=Mid-Market",
    "coverage": "period=2026-Q4&level=team",
    "coaching": "period=2026&rep=Derek+Holloway&w_discovery=40&w_activity=10",
}


@pytest.mark.parametrize("page_name", list(LINKS))
def test_shared_link_opens_the_page(server: str, tmp_path: Path, page_name: str) -> None:  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    ws = Workspace(tmp_path / "ws")
    token = ensure_sample_dataset(ws)
    ws.close()
    ARTIFACTS.mkdir(exist_ok=True)
    path = "" if page_name == "funnel" else page_name
    url = f"{server}/{path}?dataset={token}&page={page_name}&{LINKS[page_name]}"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_context(viewport={"width": 1500, "height": 1100}).new_page()
        page.set_default_timeout(60_000)
        page.goto(url)
        expect(page.get_by_test_id("stMetric").first).to_be_visible(timeout=60_000)
        expect(page.get_by_test_id("stVegaLiteChart").first).to_be_visible(timeout=60_000)
        time.sleep(2.5)
        page.screenshot(path=str(ARTIFACTS / f"e2e_view_{page_name}.png"), full_page=True)
        assert f"dataset={token}" in page.url
        for pair in LINKS[page_name].split("&"):
            assert pair.replace("+", "%20") in page.url or pair in page.url
        browser.close()
