"""The funnel runs only through the stages a dataset's data reaches (docs/metrics.md, "Funnel").

Three tiny datasets: Maven-like (stages that map only to opportunity, won and lost: the
transition runs opportunity -> closed_won, never a 100% proposal -> won), Salesforce-like
(every stage, with history) and a leads table without SAL dates (n/a, never 0%).
"""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from engine.analyses import funnel
from engine.analyses.report import build_report
from engine.core.layout import create_tables
from engine.semantic import compute, make_request
from tests.metrics_fixtures import D, T, insert, new_con
from tests.pandas_reference import SF_STAGES

REQ = make_request("stage_conversion", as_of="2026-09-20")


def _deal(i: int, stage: str, segment: str = "SMB", **kw: object) -> dict[str, object]:
    return dict(
        opportunity_id=f"d{i}",
        owner="A",
        stage=stage,
        amount=100.0,
        created_date=D(2026, 7, 1),
        close_date=D(2026, 8, 1),
        segment=segment,
        **kw,
    )


def maven_like() -> duckdb.DuckDBPyConnection:
    """Stage map Prospecting (opportunity), Closed Won, Closed Lost only; no history.
    10 deals: 5 won, 3 lost, 2 open."""
    con = duckdb.connect()
    create_tables(con)
    con.executemany(
        "INSERT INTO stage_map VALUES (?, ?, ?, ?)",
        [[k, *SF_STAGES[k]] for k in ("Prospecting", "Closed Won", "Closed Lost")],
    )
    stages = ["Closed Won"] * 5 + ["Closed Lost"] * 3 + ["Prospecting"] * 2
    insert(con, "opportunities", [_deal(i, s) for i, s in enumerate(stages)])
    return con


def test_maven_like_funnel_runs_opportunity_to_closed_won() -> None:
    con = maven_like()
    path = funnel.funnel_path(con)
    assert [t.id for t in path.transitions] == ["opportunity_to_closed_won"]
    assert path.transitions[0].skipped == ("proposal",)
    assert path.missing == {
        "lead": "no leads table",
        "sal": "no leads table",
        "sql": "no leads table",
        "proposal": "no CRM stage maps to proposal",
    }
    f = funnel.conversion(con, REQ).frame
    row = f.iloc[0]
    # every deal reached opportunity (10), the 5 won reached closed_won: 5 / 10 = 50%
    assert (row["transition"], row["reached_from"], row["reached_to"]) == (
        "opportunity_to_closed_won",
        10,
        5,
    )
    assert row["rate"] == 0.5
    # a transition that spans a skipped stage gets no benchmark band
    assert row["skipped"] == "proposal" and row["band_low"] is None
    # the catalog metric agrees and leaves the transitions through proposal null
    r = compute(con, REQ)
    assert r.value == 0.5 and r.extras["opportunity_to_closed_won"] == 0.5
    assert r.extras["opportunity_to_proposal"] is None
    assert r.extras["proposal_to_closed_won"] is None  # never the 100% artefact (5 / 5)


def test_report_names_each_transition() -> None:
    entry = build_report(maven_like(), REQ)["metrics"]["stage_conversion"]
    assert entry["transitions"] == {
        "opportunity_to_closed_won": {
            "from": "opportunity",
            "to": "closed_won",
            "skipped": ["proposal"],
            "reached_from": 10,
            "reached_to": 5,
            "rate": 0.5,  # 5 / 10
        }
    }
    assert entry["opportunity_to_closed_won"] == 0.5
    assert "proposal_to_closed_won" not in entry and "opportunity_to_proposal" not in entry
    assert entry["skipped_stages"]["proposal"] == "no CRM stage maps to proposal"


def salesforce_like() -> duckdb.DuckDBPyConnection:
    """The full Salesforce map; 4 SMB deals: won with history through Negotiation, lost with
    history up to Proposal, open in Negotiation, open in Prospecting."""
    con = new_con()
    insert(
        con,
        "opportunities",
        [
            _deal(1, "Closed Won"),
            _deal(2, "Closed Lost"),
            _deal(3, "Negotiation/Review"),
            _deal(4, "Prospecting"),
        ],
    )
    insert(
        con,
        "stage_history",
        [
            dict(opportunity_id="d1", stage="Prospecting", entered_at=T(2026, 7, 1)),
            dict(opportunity_id="d1", stage="Negotiation/Review", entered_at=T(2026, 7, 10)),
            dict(opportunity_id="d1", stage="Closed Won", entered_at=T(2026, 8, 1)),
            dict(opportunity_id="d2", stage="Proposal/Price Quote", entered_at=T(2026, 7, 5)),
            dict(opportunity_id="d2", stage="Closed Lost", entered_at=T(2026, 8, 1)),
        ],
    )
    return con


def test_salesforce_like_funnel_has_every_deal_stage_with_bands() -> None:
    con = salesforce_like()
    path = funnel.funnel_path(con)
    assert [t.id for t in path.transitions] == ["opportunity_to_proposal", "proposal_to_closed_won"]
    assert all(t.skipped == () for t in path.transitions)
    f = funnel.conversion(con, REQ.with_(filters=(("segment", ("SMB",)),))).frame
    got = f.set_index("transition")[["reached_from", "reached_to", "rate", "band_low"]]
    # reached opportunity 4; proposal 3 (d1 won, d2 history, d3 current): 3/4;
    # closed_won 1 (d1): 1/3. SMB bands 60-80% and 25-40%.
    assert got.loc["opportunity_to_proposal"].tolist() == [4, 3, 0.75, 0.60]
    assert got.loc["proposal_to_closed_won"].tolist() == [3, 1, pytest.approx(1 / 3), 0.25]
    # pandas: the same reach counts from the rows written above
    reached = pd.Series({"d1": 5, "d2": 4, "d3": 4, "d4": 3})
    assert (reached >= 4).sum() / (reached >= 3).sum() == 0.75
    r = compute(con, REQ)
    assert r.extras["opportunity_to_closed_won"] is None  # proposal is on the path
    assert r.extras["opportunity_to_proposal"] == 0.75


LEADS_NO_SAL = [
    # no sal_date anywhere; 4 leads, 2 reach SQL, 1 of them converts
    dict(lead_id="L1", created_date=D(2026, 7, 1), sql_date=D(2026, 7, 5),
         converted_date=D(2026, 7, 9)),
    dict(lead_id="L2", created_date=D(2026, 7, 1), sql_date=D(2026, 7, 6)),
    dict(lead_id="L3", created_date=D(2026, 7, 2)),
    dict(lead_id="L4", created_date=D(2026, 7, 3), status="Lead"),
]  # fmt: skip


def test_leads_without_sal_dates_have_no_lead_to_sal_rate() -> None:
    con = salesforce_like()
    insert(con, "leads", LEADS_NO_SAL)
    path = funnel.funnel_path(con)
    assert [t.id for t in path.transitions] == [
        "lead_to_sql",
        "sql_to_opportunity",
        "opportunity_to_proposal",
        "proposal_to_closed_won",
    ]
    assert path.get("lead", "sal") is None
    assert path.why_not("lead", "sal") == "no SAL dates"
    assert path.why_not("sal", "sql") == "no SAL dates"
    f = funnel.conversion(con, REQ).frame.set_index("transition")
    assert "lead_to_sal" not in f.index  # n/a, never a 0% row
    # lead -> SQL: 2 of 4 leads (L1, L2); SQL -> opportunity: 1 of 2 (L1 converted)
    assert f.loc["lead_to_sql", ["reached_from", "reached_to", "rate"]].tolist() == [4, 2, 0.5]
    assert f.loc["sql_to_opportunity", "rate"] == 0.5
    assert f.loc["lead_to_sql", "band_low"] is None  # spans SAL: no band


def test_leads_with_no_marks_give_no_lead_transition() -> None:
    """Salesforce Lead.csv: statuses like 'Working - Contacted' and no stage dates."""
    con = salesforce_like()
    insert(
        con,
        "leads",
        [
            dict(lead_id="L1", created_date=D(2026, 7, 1), status="Working - Contacted"),
            dict(lead_id="L2", created_date=D(2026, 7, 1), status="Closed - Converted"),
        ],
    )
    path = funnel.funnel_path(con)
    assert [t.src for t in path.transitions] == ["opp", "opp"]
    assert path.why_not("lead", "sal") == "no SAL dates"
    assert path.why_not("sql", "opportunity").startswith("no SQL dates")
