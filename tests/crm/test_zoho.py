"""Zoho CRM deal exports (engine/load/crm/zoho.py)."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pandas as pd

from engine.load.mapping import detect_preset
from engine.load.pipeline import load_files
from engine.load.stagemap import guess_stage_map
from engine.store.workspace import Workspace
from tests.crm import recognised, stage_rows

DEALS = [
    "Record Id", "Deal Name", "Amount", "Stage", "Closing Date", "Account Name", "Deal Owner",
    "Created Time", "Probability (%)",
]  # fmt: skip

DEALS_CSV = (
    b"Record Id,Deal Name,Amount,Stage,Closing Date,Account Name,Deal Owner,Created Time,"
    b"Probability (%)\n"
    b"zcrm_1001,Acme renewal,1200,Qualification,2026-03-31,Acme,Ann Lee,2026-01-05 09:15:00,10\n"
    b"zcrm_1002,Beta pilot,800,Negotiation/Review,2026-04-15,Beta,Bob Ray,2026-01-20 14:00:00,90\n"
    b"zcrm_1003,Gamma expansion,500,Closed Won,2026-02-28,Gamma,Ann Lee,2026-01-10 10:00:00,100\n"
    b"zcrm_1004,Delta trial,300,Closed Lost to Competition,2026-03-01,Delta,Bob Ray,"
    b"2026-02-01 08:30:00,0\n"
)


def test_deal_export_headers() -> None:
    m = recognised(DEALS, "zoho", "opportunities", "Deals_2026.csv")
    assert m.columns == {
        "opportunity_id": "Record Id",
        "owner": "Deal Owner",
        "stage": "Stage",
        "amount": "Amount",
        "created_date": "Created Time",  # Zoho's own spelling, added by the preset
        "close_date": "Closing Date",
        "account_name": "Account Name",
        "opportunity_name": "Deal Name",
        "probability": "Probability (%)",
    }
    assert m.unmapped == []


def test_hubspot_headers_zoho_shares_stay_hubspot() -> None:
    # Record Id, Deal Name and Deal Owner are HubSpot's too; Zoho needs two of its own.
    assert detect_preset(["Record ID", "Deal Name", "Deal owner", "Amount"]) == "hubspot"
    assert detect_preset(["Record Id", "Deal Name", "Deal Owner", "Created Time"]) == "hubspot"


def test_default_stages_and_probabilities() -> None:
    # Zoho defaults: Qualification 10, Needs Analysis 20, Value Proposition 40, Identify
    # Decision Makers 60, Proposal/Price Quote 75, Negotiation/Review 90, Closed Won 100,
    # Closed Lost 0, Closed Lost to Competition 0.
    names = [
        "Closed Lost to Competition", "Negotiation/Review", "Qualification", "Closed Won",
        "Identify Decision Makers", "Value Proposition", "Needs Analysis", "Closed Lost",
        "Proposal/Price Quote",
    ]  # fmt: skip
    assert stage_rows(names, "zoho") == [
        ("Qualification", "opportunity", 1, 10.0, False),
        ("Needs Analysis", "opportunity", 2, 20.0, False),
        ("Value Proposition", "opportunity", 3, 40.0, False),
        ("Identify Decision Makers", "opportunity", 4, 60.0, False),
        ("Proposal/Price Quote", "proposal", 5, 75.0, False),
        ("Negotiation/Review", "proposal", 6, 90.0, False),
        ("Closed Won", "closed_won", 7, 100.0, False),
        ("Closed Lost", "closed_lost", 8, 0.0, False),
        ("Closed Lost to Competition", "closed_lost", 9, 0.0, False),
    ]


def test_zoho_map_wins_a_tie_with_salesforce_only_for_zoho_files() -> None:
    # Both maps know both names; Value Proposition is 40 in Zoho, 50 in Salesforce.
    zoho = guess_stage_map(["Value Proposition", "Closed Won"], "zoho").lookup("Value Proposition")
    assert zoho is not None and zoho.probability == 40.0
    plain = guess_stage_map(["Value Proposition", "Closed Won"], None).lookup("Value Proposition")
    assert plain is not None and plain.probability == 50.0


def test_zoho_csv_loads_end_to_end(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    info, prepared = load_files(
        ws, [("Deals_2026.csv", DEALS_CSV)], name="zoho", as_of=dt.date(2026, 3, 15)
    )
    assert [(f.table, f.rows_in, f.rows_loaded) for f in prepared.files] == [
        ("opportunities", 4, 4)
    ]
    assert prepared.files[0].plan.mapping.preset == "zoho"
    with ws.cursor(info.token) as cur:
        deals = cur.execute(
            "SELECT opportunity_id, owner, stage, amount, created_date, close_date, account_name,"
            " opportunity_name, probability, is_closed, is_won, stage_canonical, stage_order,"
            " stage_probability FROM opportunities ORDER BY opportunity_id"
        ).fetchall()
        stage_map = cur.execute(
            "SELECT stage, canonical, stage_order, probability FROM stage_map ORDER BY stage_order"
        ).fetchall()
        # 4 deals; open = 1200 + 800 = 2000; won = 500; lost = 300.
        totals = cur.execute(
            "SELECT count(*), sum(amount) FILTER (WHERE NOT is_closed),"
            " sum(amount) FILTER (WHERE is_won), sum(amount) FILTER (WHERE is_closed AND NOT is_won)"
            " FROM opportunities"
        ).fetchone()
    ws.close()
    d = dt.date
    assert deals == [
        ("zcrm_1001", "Ann Lee", "Qualification", 1200.0, d(2026, 1, 5), d(2026, 3, 31),
         "Acme", "Acme renewal", 10.0, False, False, "opportunity", 1, 10.0),
        ("zcrm_1002", "Bob Ray", "Negotiation/Review", 800.0, d(2026, 1, 20), d(2026, 4, 15),
         "Beta", "Beta pilot", 90.0, False, False, "proposal", 2, 90.0),
        ("zcrm_1003", "Ann Lee", "Closed Won", 500.0, d(2026, 1, 10), d(2026, 2, 28),
         "Gamma", "Gamma expansion", 100.0, True, True, "closed_won", 3, 100.0),
        ("zcrm_1004", "Bob Ray", "Closed Lost to Competition", 300.0, d(2026, 2, 1),
         d(2026, 3, 1), "Delta", "Delta trial", 0.0, True, False, "closed_lost", 4, 0.0),
    ]  # fmt: skip
    # Only the stages present, in funnel order, with Zoho's default probabilities.
    assert stage_map == [
        ("Qualification", "opportunity", 1, 10.0),
        ("Negotiation/Review", "proposal", 2, 90.0),
        ("Closed Won", "closed_won", 3, 100.0),
        ("Closed Lost to Competition", "closed_lost", 4, 0.0),
    ]
    assert totals == (4, 2000.0, 500.0, 300.0)
    # The same sums from the CSV with pandas, by stage name.
    raw = pd.read_csv(io.BytesIO(DEALS_CSV))
    by_stage = raw.groupby("Stage")["Amount"].sum()
    assert by_stage["Qualification"] + by_stage["Negotiation/Review"] == totals[1]
    assert by_stage["Closed Won"] == totals[2]
    assert by_stage["Closed Lost to Competition"] == totals[3]
