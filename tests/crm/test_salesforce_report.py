"""Salesforce report exports (engine/load/crm/salesforce_report.py)."""

from __future__ import annotations

from engine.load.mapping import detect_preset
from tests.crm import recognised, stage_rows

OPPORTUNITY_REPORT = [
    "Opportunity Owner", "Account Name", "Opportunity Name", "Amount", "Probability (%)",
    "Close Date", "Created Date", "Stage", "Opportunity ID",
]  # fmt: skip


def test_opportunity_report_headers() -> None:
    m = recognised(OPPORTUNITY_REPORT, "salesforce_report", "opportunities")
    assert m.columns["opportunity_id"] == "Opportunity ID"
    assert m.columns["owner"] == "Opportunity Owner"
    assert m.columns["stage"] == "Stage"
    assert m.columns["probability"] == "Probability (%)"
    assert m.columns["close_date"] == "Close Date"


def test_one_marker_is_not_enough() -> None:
    # "Probability (%)" alone is one marker; two are needed.
    assert detect_preset(["Stage", "Amount", "Probability (%)"]) is None


def test_standard_stages_map_through_the_salesforce_map() -> None:
    # Salesforce defaults: Qualification 10, Value Proposition 50, Negotiation/Review 90.
    assert stage_rows(
        ["Negotiation/Review", "Closed Lost", "Qualification", "Value Proposition"],
        "salesforce_report",
    ) == [
        ("Qualification", "opportunity", 1, 10.0, False),
        ("Value Proposition", "opportunity", 2, 50.0, False),
        ("Negotiation/Review", "proposal", 3, 90.0, False),
        ("Closed Lost", "closed_lost", 4, 0.0, False),
    ]
