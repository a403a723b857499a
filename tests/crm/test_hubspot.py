"""HubSpot deal exports (engine/load/crm/hubspot.py)."""

from __future__ import annotations

from tests.crm import recognised, stage_rows

DEALS = [
    "Record ID", "Deal Name", "Deal Stage", "Amount", "Close Date", "Create Date", "Deal owner",
    'Date entered "Qualified To Buy (Sales Pipeline)"',
    'Date entered "Closed Won (Sales Pipeline)"',
]  # fmt: skip


def test_deal_export_headers_and_wide_stage_columns() -> None:
    m = recognised(DEALS, "hubspot", "opportunities", "hubspot-deals.csv")
    assert m.columns["opportunity_id"] == "Record ID"
    assert m.columns["stage"] == "Deal Stage"
    assert m.columns["owner"] == "Deal owner"
    assert m.columns["created_date"] == "Create Date"
    # The pipeline suffix shared by every column is dropped from the stage name.
    assert m.stage_columns == {
        "Qualified To Buy": 'Date entered "Qualified To Buy (Sales Pipeline)"',
        "Closed Won": 'Date entered "Closed Won (Sales Pipeline)"',
    }


def test_labels_and_internal_ids_map_through_the_hubspot_map() -> None:
    # HubSpot defaults: appointmentscheduled 20, Contract Sent 90, closedlost 0.
    assert stage_rows(["closedlost", "Contract Sent", "appointmentscheduled"], "hubspot") == [
        ("appointmentscheduled", "opportunity", 1, 20.0, False),
        ("Contract Sent", "proposal", 2, 90.0, False),
        ("closedlost", "closed_lost", 3, 0.0, False),
    ]
