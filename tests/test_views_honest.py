"""Honest numbers and empties on the pages, under AppTest, with tiny datasets loaded into a
temporary workspace: "n/a" with the reason (never nan, $nan, 0% or 100% made up from missing
data), no trend arrow between equal values, formatted numbers."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from engine.load.pipeline import load_files
from engine.store.workspace import Workspace
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
    at.run()
    for k, v in params.items():
        at.query_params[k] = v
    at.switch_page(f"views/{page}.py").run()
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
    # no lost deal is recorded: won 2 / (2 + 0) would be 100% by construction, so n/a
    assert got["Win rate"] == ("n/a", "without flagged: n/a")
    assert got["Sales cycle length"] == ("n/a", "without flagged: n/a")
    captions = [c.value for c in at.caption]
    assert "Won revenue: n/a, without flagged rows: every row behind this number is flagged." in (
        captions
    )
    assert any(
        c.startswith("Sales cycle length: n/a, all 2 won deals close before") for c in captions
    )
    assert any(
        c == "Win rate: n/a, no lost deal is recorded in this dataset (a file of won deals only, "
        "or a demo org), so a win rate would be 100% by construction."
        for c in captions
    )


# Maven-like: stages Won / Lost / Engaging only (no stage maps to proposal)
MAVEN = b"""opportunity_id,sales_agent,product,account,deal_stage,engage_date,close_date,close_value
D1,Ann,GTX,Acme,Won,2017-01-02,2017-02-01,1000
D2,Ann,GTX,Acme,Won,2017-01-03,2017-02-05,2000
D3,Bob,GTX,Beta,Lost,2017-01-04,2017-02-06,0
D4,Bob,GTX,Beta,Engaging,2017-01-05,,
"""


def test_funnel_page_runs_through_the_stages_the_data_reaches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_page(tmp_path, monkeypatch, [("sales_pipeline.csv", MAVEN)], "funnel")
    assert_no_nan(at)
    got = cards(at)
    # won 2 (D1, D2) of 4 deals that reached opportunity: 50.0%
    assert got["Opportunity → won"] == ("50.0%", "n=4 deals")
    assert got["Lead → SAL"] == ("n/a", "n/a, no leads table")
    assert "Proposal → won" not in got and "Opportunity → proposal" not in got
    captions = [c.value for c in at.caption]
    assert any("proposal (no CRM stage maps to proposal)" in c for c in captions)
    assert any(c.startswith("No benchmark band for Opportunity → won") for c in captions)
    spec = at.get("vega_lite_chart")[0].proto.spec
    assert "proposal → closed_won" not in spec


LEADS_NO_SAL = b"""lead_id,created_date,status,sql_date,converted_date
L1,2017-01-01,Converted,2017-01-05,2017-01-09
L2,2017-01-01,SQL,2017-01-06,
L3,2017-01-02,Lead,,
L4,2017-01-03,Lead,,
"""


def test_funnel_without_sal_dates_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = [("sales_pipeline.csv", MAVEN), ("leads.csv", LEADS_NO_SAL)]
    at = open_page(tmp_path, monkeypatch, files, "funnel")
    assert_no_nan(at)
    got = cards(at)
    assert got["Lead → SAL"] == ("n/a", "n/a, no SAL dates")
    # lead -> SQL: L1, L2 of 4 = 50.0%; SQL -> opportunity: L1 of 2 = 50.0%
    assert got["Lead → SQL"] == ("50.0%", "n=4 leads")
    assert got["SQL → opportunity"] == ("50.0%", "n=2 leads")
    assert not [v for v, _ in got.values() if v == "0.0%"]


LEADS_RESPONSE = b"""lead_id,created_date,first_response_at
L1,2017-01-01,2017-01-01 01:00:00
L2,2017-01-01,2017-01-01 02:00:00
L3,2017-01-02,2017-01-03 06:00:00
L4,2017-01-02,
"""


def test_funnel_shows_lead_response_median_with_mean_beside(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = [("sales_pipeline.csv", MAVEN), ("leads.csv", LEADS_RESPONSE)]
    at = open_page(tmp_path, monkeypatch, files, "funnel")
    assert_no_nan(at)
    # responses 1 h, 2 h, 30 h: median 2.0 is the value, mean 11.0, quartiles 1.5 and 16.0
    assert cards(at)["Lead response (median)"] == ("2.0 hours", "target under 24 h")
    assert (
        "Lead response: median 2.0 hours (the value); mean 11.0 hours; quartiles 1.5 hours "
        "to 16.0 hours; n=3 leads with a response."
    ) in [c.value for c in at.caption]


# Data ends 2017-12-20 (the last created date): the dataset is analysed as of that day.
OLD_DEALS = b"""opportunity_id,owner,stage,amount,created_date,close_date
W1,Ann,Closed Won,5000,2017-01-10,2017-03-01
P1,Ann,Prospecting,1000,2017-03-01,2017-05-01
P2,Ann,Prospecting,1000,2017-12-20,2018-02-01
"""
OLD_QUOTAS = b"""owner,period_start,period_end,quota_amount
Ann,2017-04-01,2017-07-01,100000
Ann,2018-01-01,2018-04-01,100000
"""


def test_coverage_alarm_only_for_a_period_not_ended_as_of_the_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = [("deals.csv", OLD_DEALS), ("quotas.csv", OLD_QUOTAS)]
    # period 2017-Q1: the coming period 2017-Q2 ended long before the data's as-of 2017-12-20;
    # its coverage (P1 1,000 / 100,000 = 0.01x) is shown but raises no alarm
    at = open_page(tmp_path, monkeypatch, files, "coverage", period="2017-Q1")
    assert_no_nan(at)
    assert cards(at)["Coverage next period"] == ("0.01x", "ended by 2017-12-20")
    assert not [w.value for w in at.warning if "coming period" in w.value]


def test_coverage_alarm_for_the_period_after_the_data_as_of(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = [("deals.csv", OLD_DEALS), ("quotas.csv", OLD_QUOTAS)]
    # period all: current = the quarter of the as-of date (2017-Q4), coming = 2018-Q1,
    # not 2027 (today's): P2 1,000 / 100,000 = 0.01x, below 2.5x
    at = open_page(tmp_path, monkeypatch, files, "coverage")
    assert cards(at)["Coverage next period"] == ("0.01x", "below 2.5x")
    warnings = [w.value for w in at.warning if "coming period" in w.value]
    assert warnings == [
        "Coverage for the coming period (1 Jan 2018 – 31 Mar 2018) is 0.01x, below 2.5x."
    ]


def test_coaching_without_quotas_or_activities_shows_what_it_can(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_page(tmp_path, monkeypatch, [("sales_pipeline.csv", MAVEN)], "coaching")
    assert_no_nan(at)
    # rep tier: only the columns the data can fill, and a word on the others
    tables = {t.proto.id: t for t in at.dataframe}
    assert tables
    captions = [c.value for c in at.caption]
    assert any(
        c.startswith("Not shown (no data): ")
        and "quota attainment needs quotas.csv" in c
        and "activities per opportunity needs activities.csv" in c
        for c in captions
    )
    # the scorecard has only the conversion category: no weighted total, and why
    infos = [i.value for i in at.info]
    assert any(
        i.startswith("No weighted total: it needs at least 2 scored categories, and this data "
                     "scores Conversion.")
        for i in infos
    )  # fmt: skip
    # no attainment table of empty rows
    assert not any("Download attainment per rep" in b.label for b in at.get("download_button"))
    # every n/a card says why in the text under it, not only in its tooltip
    got = cards(at)
    assert got["Forecast accuracy"][0] == "n/a" and "stage history" in got["Forecast accuracy"][1]
    assert all(note for value, note in got.values() if value == "n/a"), got


def test_rep_drill_down_shows_the_reps_own_numbers_without_peers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_page(tmp_path, monkeypatch, [("sales_pipeline.csv", MAVEN)], "coaching")
    at.selectbox(key="w_rep").set_value("Ann").run()
    assert problems(at) == []
    assert_no_nan(at)
    # Ann: D1 1,000 + D2 2,000 created = $3,000; won 2 of 2 closed; 2 of 2 reached won
    assert (
        "**Ann**: Pipeline created $3,000; Win rate 100.0%; Stage conversion 100.0%; "
        "Quota attainment n/a; Ramp-adjusted attainment n/a; Activities per opportunity n/a."
    ) in [m.value.replace("\\", "") for m in at.markdown]  # markdown escapes removed
    assert any(
        c.value.replace("\\", "").startswith("No peers: the rep has no row in the reps table")
        for c in at.caption
    )


def test_forecast_accuracy_shows_forecast_and_actual_beside_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.analyses import coaching as coaching_engine
    from engine.semantic import make_request
    from engine.semantic.profile import dataset_profile

    at = app(tmp_path, monkeypatch).run().switch_page("views/coaching.py").run()
    assert problems(at) == []
    ws = Workspace(tmp_path / "ws")
    with ws.cursor(at.query_params["dataset"]) as con:
        req = make_request("quota_attainment", as_of=dataset_profile(con).as_of)
        fc = coaching_engine.team_tier(con, req).forecast_accuracy
    ws.close()
    forecast, actual = fc.extras["forecast"], fc.extras["actual"]
    value, note = cards(at)["Forecast accuracy"]
    # accuracy = 1 - |F - A| / A, and both F and A are stated beside it
    assert value == f"{1 - abs(forecast - actual) / actual:.1%}"
    assert note == f"forecast ${forecast:,.0f} vs actual ${actual:,.0f}"


def test_charts_without_segments_say_what_would_fill_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = [("sales_pipeline.csv", MAVEN)]
    at = open_page(tmp_path, monkeypatch, files, "coaching", period="2017-Q1")
    infos = [i.value for i in at.info]
    assert "Add a segment column or an accounts file to see this by segment." in infos
    specs = [c.proto.spec for c in at.get("vega_lite_chart")]
    assert not any("(no segment)" in s for s in specs)
    # the team's win rate is stated instead: D1, D2 won of D1, D2, D3 closed = 66.7%
    assert cards(at)["Win rate"] == ("66.7%", "n=3 closed deals")


def test_pipeline_by_month_expanders_are_told_apart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = [("deals.csv", OLD_DEALS), ("quotas.csv", OLD_QUOTAS)]
    at = open_page(tmp_path, monkeypatch, files, "coverage")
    labels = [e.label for e in at.expander]
    assert "How was this computed? (pipeline by month)" in labels
    assert "How was this computed? (forecast, next 90 days)" in labels


def test_impact_table_shows_numbers_in_their_unit_not_raw_floats(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_page(tmp_path, monkeypatch, [("deals.csv", MIGRATED)], "quality")
    table = next(
        d.value for d in at.dataframe if "with flagged rows" in getattr(d.value, "columns", [])
    )
    shown = table.set_index("metric")
    # 1,000 + 3,000 won, average (1,000 + 3,000) / 2 = 2,000, both in dollars
    assert shown.loc["Won revenue", "with flagged rows"] == "$4,000"
    assert shown.loc["Average deal size", "with flagged rows"] == "$2,000"
    assert shown.loc["Won revenue", "without flagged rows"] == "n/a"
    cells = table[["with flagged rows", "without flagged rows", "difference"]].to_numpy().ravel()
    assert not [c for c in cells if re.fullmatch(r"-?\d+\.\d{3,}", str(c))]


EQUAL_MONTHS = b"""opportunity_id,owner,stage,amount,created_date,close_date
A1,Ann,Closed Won,100,2017-01-01,2017-01-11
A2,Ann,Closed Lost,100,2017-01-02,2017-01-12
B1,Ann,Closed Won,100,2017-02-01,2017-02-11
B2,Ann,Closed Lost,100,2017-02-02,2017-02-12
C1,Ann,Prospecting,100,2017-03-15,2017-05-01
"""


def test_velocity_says_no_lever_moved_when_two_months_are_equal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_page(tmp_path, monkeypatch, [("deals.csv", EQUAL_MONTHS)], "velocity")
    assert_no_nan(at)
    # January and February: 2 created x 1/2 won x $100 / 10 days = $10/day each, so no lever
    # moved; March is still running as of the data's 2017-03-15 and is left out
    infos = [i.value for i in at.info]
    assert "No lever moved velocity between the last two complete months." in infos
    assert not [i for i in infos if "moved velocity most" in i]


def test_velocity_says_why_it_is_na_when_every_won_deal_closed_before_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the migrated deals plus one lost deal, so that the win rate is defined (a dataset with
    # no lost deal has none) and the cycle is the only lever missing
    lost = b"M4,Bob,Closed Lost,800,2026-03-01,2026-03-20\n"
    at = open_page(tmp_path, monkeypatch, [("deals.csv", MIGRATED + lost)], "velocity")
    assert_no_nan(at)
    got = cards(at)
    # won 2 of 3 closed: 66.7%, average (1,000 + 3,000) / 2 = $2,000, but no cycle
    assert got["Win rate"][0] == "66.7%" and got["Average deal size"][0] == "$2,000"
    assert got["Sales velocity"][0] == "n/a" and got["Sales cycle length"][0] == "n/a"
    reason = (
        "Sales velocity is n/a: no won deal in this period has a created date on or before its "
        "close date (deals closed before they were created are left out of the cycle)."
    )
    assert reason in [c.value for c in at.caption]


MIGRATED_HISTORY = b"""OpportunityId,StageName,CreatedDate
M1,Prospecting,2026-03-01 09:00:00
M1,Closed Won,2026-03-01 10:00:00
M2,Prospecting,2026-03-01 09:00:00
M2,Closed Won,2026-03-01 11:00:00
"""


def test_time_in_stage_says_why_history_is_left_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = [("deals.csv", MIGRATED), ("OpportunityHistory.csv", MIGRATED_HISTORY)]
    at = open_page(tmp_path, monkeypatch, files, "funnel")
    assert_no_nan(at)
    # M1 and M2 closed before they were created: their history is out of time in stage
    assert (
        "No completed stage visit in this period (a visit ends at the next stage). The history "
        "of 2 of 2 deals is left out: they closed before they were created "
        "(close_before_created)."
    ) in [i.value for i in at.info]


def test_coaching_on_a_migrated_org_says_why_forecast_and_win_rate_are_na(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = [("deals.csv", MIGRATED), ("OpportunityHistory.csv", MIGRATED_HISTORY)]
    at = open_page(tmp_path, monkeypatch, files, "coaching")
    assert_no_nan(at)
    got = cards(at)
    # The data's last event is the import day 2026-03-01, so the graded period is 2025-Q4.
    # Won in it: M1 1,000 + M2 3,000 = $4,000, but every history row is from 2026-03-01,
    # after the quarter began: no forecast can be rebuilt, and the card says so.
    assert got["Forecast accuracy"] == (
        "n/a",
        "no stage-history row was entered before the graded period (1 Oct 2025 – 31 Dec 2025) "
        "began, so its opening pipeline cannot be rebuilt; actual won $4,000.",
    )
    # no lost deal anywhere: 2 / (2 + 0) would be 100% by construction
    assert got["Win rate"][0] == "n/a"
    assert got["Win rate"][1].startswith("no lost deal is recorded in this dataset")
    assert any(i.value.startswith("No win rate: no lost deal is recorded") for i in at.info)
