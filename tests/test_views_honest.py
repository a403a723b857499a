"""Honest numbers and empties on the pages, under AppTest, with tiny datasets loaded into a
temporary workspace: "n/a" with the reason (never nan, $nan, 0% or 100% made up from missing
data), no trend arrow between equal values, formatted numbers."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from engine.pipeline import load_files
from engine.store import Workspace
from tests.test_app_helpers import app, problems

AS_OF = dt.date(2026, 6, 1)


def open_page(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    files: list[tuple[str, bytes]],
    page: str,
    **params: str,
) -> AppTest:
    ws = Workspace(tmp_path / "ws")
    info, _ = load_files(ws, files, name="tiny", as_of=AS_OF)
    ws.close()
    at = app(tmp_path, monkeypatch, sample=False)
    at.query_params["dataset"] = info.token
    for k, v in params.items():
        at.query_params[k] = v
    at.run().switch_page(f"views/{page}.py").run()
    assert problems(at) == []
    return at


def shown(at: AppTest) -> list[str]:
    """Every text a user reads outside tables: cards (value, tag, help), markdown, captions,
    infos, warnings."""
    out = []
    for m in at.metric:
        out += [m.value, m.delta or "", m.help or ""]
    for kind in (at.markdown, at.caption, at.info, at.warning, at.success, at.subheader):
        out += [e.value for e in kind]
    return out


def assert_no_nan(at: AppTest) -> None:
    bad = [t for t in shown(at) if re.search(r"\bnan\b|\$nan|None", t, flags=re.IGNORECASE)]
    assert bad == []


def cards(at: AppTest) -> dict[str, tuple[str, str]]:
    return {m.label: (m.value, m.delta or "") for m in at.metric}


# A migrated Salesforce org: the import day 2026-03-01 is every deal's created date, and the
# two won deals closed before it (close_before_created: loaded, flagged).
MIGRATED = b"""opportunity_id,owner,stage,amount,created_date,close_date
M1,Ann,Closed Won,1000,2026-03-01,2025-11-10
M2,Bob,Closed Won,3000,2026-03-01,2025-12-20
M3,Bob,Prospecting,500,2026-03-01,2026-09-30
"""


def test_quality_headline_says_na_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_page(tmp_path, monkeypatch, [("deals.csv", MIGRATED)], "quality")
    assert_no_nan(at)
    got = cards(at)
    # all loaded: 1000 + 3000 = $4,000; without the flagged M1, M2 nothing is won
    assert got["Won revenue"] == ("$4,000", "without flagged: n/a")
    assert got["Win rate"] == ("100.0%", "without flagged: n/a")
    assert got["Sales cycle length"] == ("n/a", "without flagged: n/a")
    captions = [c.value for c in at.caption]
    assert "Won revenue: n/a, without flagged rows: every row behind this number is flagged." in (
        captions
    )
    assert any(
        c.startswith("Sales cycle length: n/a, all 2 won deals close before") for c in captions
    )
