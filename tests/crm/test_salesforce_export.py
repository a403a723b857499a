"""Salesforce Data Export files (engine/load/crm/salesforce_export.py)."""

from __future__ import annotations

from engine.core.canonical import SALESFORCE_NULL_ID
from engine.load.crm import get
from tests.crm import recognised, stage_rows

OPPORTUNITY = [
    "Id", "AccountId", "Name", "StageName", "Amount", "Probability", "CloseDate", "IsClosed",
    "IsWon", "OwnerId", "CreatedDate",
]  # fmt: skip
HISTORY = ["Id", "OpportunityId", "CreatedDate", "StageName", "Amount", "CloseDate"]
USER = ["Id", "FirstName", "LastName", "Name", "Title", "ManagerId", "CreatedDate", "IsActive"]


def test_opportunity_export_reads_its_key_from_id() -> None:
    m = recognised(OPPORTUNITY, "salesforce_export", "opportunities", "Opportunity.csv")
    assert m.columns["opportunity_id"] == "Id"
    assert m.columns["stage"] == "StageName"
    assert m.columns["owner"] == "OwnerId"
    assert m.columns["account_id"] == "AccountId"
    assert m.columns["is_won"] == "IsWon"


def test_history_export_opportunity_id_is_the_foreign_key_and_created_date_the_entry() -> None:
    m = recognised(HISTORY, "salesforce_export", "stage_history", "OpportunityHistory.csv")
    assert m.columns["opportunity_id"] == "OpportunityId"
    assert m.columns["entered_at"] == "CreatedDate"


def test_user_export_is_reps_keyed_by_user_id() -> None:
    m = recognised(USER, "salesforce_export", "reps", "User.csv")
    assert m.columns["user_id"] == "Id"
    assert m.columns["owner"] == "Name"


def test_null_id_quirk() -> None:
    preset = get("salesforce_export")
    assert preset is not None and preset.null_id == SALESFORCE_NULL_ID == "000000000000000AAA"


def test_stages_use_the_shared_salesforce_map() -> None:
    # Prospecting 10, Id. Decision Makers 60, Closed Won 100 (Salesforce defaults).
    assert stage_rows(
        ["Closed Won", "Id. Decision Makers", "Prospecting"], "salesforce_export"
    ) == [
        ("Prospecting", "opportunity", 1, 10.0, False),
        ("Id. Decision Makers", "opportunity", 2, 60.0, False),
        ("Closed Won", "closed_won", 3, 100.0, False),
    ]
