"""Data-quality queries on a tiny hand-made dataset whose every number is known."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from engine.analyses import quality
from engine.core.units import format_value
from engine.load.pipeline import load_files
from engine.store.workspace import Workspace

AS_OF = dt.date(2026, 6, 1)
# O1, O2 won; O1 again (duplicate) and O4 (negative amount) are quarantined; O2 has no
# created_date and O5 is open with a close date before AS_OF (slipped): both load, flagged.
DEALS = b"""opportunity_id,owner,stage,amount,created_date,close_date
O1,Ann,Closed Won,1000,2026-01-05,2026-02-10
O2,Bob,Closed Won,3000,,2026-02-20
O1,Ann,Closed Lost,500,2026-01-01,2026-02-01
O4,Ann,Closed Lost,-50,2026-01-01,2026-02-01
O5,Bob,Prospecting,700,2026-01-01,2026-03-01
"""


@pytest.fixture()
def con(tmp_path: Path):
    ws = Workspace(tmp_path)
    info, _ = load_files(ws, [("deals.csv", DEALS)], name="tiny", as_of=AS_OF)
    with ws.cursor(info.token) as cur:
        yield cur
    ws.close()


def test_reconciliation(con) -> None:
    rows = quality.reconciliation(con).to_dict("records")
    assert len(rows) == 1
    row = rows[0]
    assert (row["rows_in"], row["loaded"], row["quarantined"], bool(row["balanced"])) == (
        5,
        3,
        2,
        True,
    )
    # flagged: O2 (missing_created_date) and O5 (slipped), one warning each: 2 rows by 2
    assert (row["flagged"], row["warnings"]) == (2, 2)
    assert quality.reconciliation_line(row) == (
        "deals.csv (opportunities): 5 in = 3 loaded + 2 quarantined; 2 rows flagged by 2 warnings"
    )


def test_rules_fired_with_share_and_examples(con) -> None:
    fired = quality.rules_fired(con)
    got = {r["rule"]: (r["severity"], r["rows"], r["share"]) for r in fired.to_dict("records")}
    assert got == {
        "duplicate_id": ("error", 1, 0.2),  # 1 of 5 rows
        "negative_amount": ("error", 1, 0.2),
        "missing_created_date": ("warning", 1, 0.2),
        "slipped": ("warning", 1, 0.2),
    }
    dup = fired[fired["rule"] == "duplicate_id"].iloc[0]
    assert dup["examples"] == "deals.csv line 4"
    assert list(fired["severity"]) == ["error", "error", "warning", "warning"]


def test_quarantined_and_flagged_rows(con) -> None:
    q = quality.quarantined_rows(con)
    assert q["line"].tolist() == [4, 5]
    assert q["rules"].tolist() == ["duplicate_id", "negative_amount"]
    assert '"O4"' in q["original"].iloc[1]
    f = quality.flagged_rows(con)
    assert f["line"].tolist() == [3, 6]
    assert f["rules"].tolist() == ["missing_created_date", "slipped"]
    assert '"opportunity_id": "O5"' in f["values"].iloc[1]


def test_quality_score(con) -> None:
    s = quality.quality_scores(con).iloc[0]
    # 100 * (5 in - 2 quarantined - 0.5 * 2 flagged) / 5 = 40.0
    assert (s["table"], s["flagged"], s["score"]) == ("opportunities", 2, 40.0)


def test_headline_impact_with_and_without_flagged(con) -> None:
    frame = quality.headline_impact(
        con, as_of=AS_OF, metrics=("won_revenue", "won_deals")
    ).frame.set_index("id")
    # all loaded: O1 1000 + O2 3000; without flagged rows O2 drops out.
    assert frame.loc["won_revenue", "with flagged rows"] == 4000
    assert frame.loc["won_revenue", "without flagged rows"] == 1000
    assert frame.loc["won_revenue", "difference"] == -3000
    assert frame.loc["won_deals", "with flagged rows"] == 2
    assert frame.loc["won_deals", "without flagged rows"] == 1


def test_profile(con) -> None:
    prof = quality.dataset_profile(con)
    assert prof.options["owner"] == ["Ann", "Bob"]
    assert prof.periods[:2] == ["all", "2026"]
    assert "2026-Q1" in prof.periods


# A migrated org: every deal carries the import day 2026-03-01 as its created date, and the
# two won deals closed before it (close_before_created, a warning: both load, flagged).
MIGRATED = b"""opportunity_id,owner,stage,amount,created_date,close_date
M1,Ann,Closed Won,1000,2026-03-01,2025-11-10
M2,Bob,Closed Won,3000,2026-03-01,2025-12-20
"""


def test_headline_impact_says_why_a_side_is_na(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    info, _ = load_files(ws, [("deals.csv", MIGRATED)], name="migrated", as_of=AS_OF)
    with ws.cursor(info.token) as cur:
        frame = quality.headline_impact(
            cur, as_of=AS_OF, metrics=("won_revenue", "win_rate", "sales_cycle_days")
        ).frame.set_index("id")
    ws.close()
    # both rows load and count: 1000 + 3000 = 4000 won; no lost deal is recorded, so the win
    # rate (2 / (2 + 0), 100% by construction) is n/a, with the reason
    assert frame.loc["won_revenue", "with flagged rows"] == 4000
    assert pd.isna(frame.loc["win_rate", "with flagged rows"])
    assert frame.loc["win_rate", "why n/a"].startswith("no lost deal is recorded in this dataset")
    # without the flagged rows nothing is left: n/a, with the reason
    assert pd.isna(frame.loc["won_revenue", "without flagged rows"])
    assert frame.loc["won_revenue", "why n/a"] == (
        "without flagged rows: every row behind this number is flagged"
    )
    # no cycle either way: both won deals close before they were created
    assert pd.isna(frame.loc["sales_cycle_days", "with flagged rows"])
    assert frame.loc["sales_cycle_days", "why n/a"].startswith(
        "all 2 won deals close before their created date"
    )
    # a missing value reads n/a whether it arrives as None or as NaN from a frame
    nan = frame.loc["won_revenue", "without flagged rows"]
    assert format_value(nan, "currency") == "n/a"
    assert format_value(None, "ratio") == "n/a"
