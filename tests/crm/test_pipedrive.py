"""Pipedrive deal exports (engine/load/crm/pipedrive.py)."""

from __future__ import annotations

from tests.crm import recognised, stage_rows

DEALS = [
    "Deal - ID", "Deal - Title", "Deal - Owner", "Deal - Value", "Deal - Organization",
    "Deal - Stage", "Deal - Status", "Deal - Deal created", "Deal - Expected close date",
    "Deal - Won time", "Deal - Lost time",
]  # fmt: skip


def test_deal_export_headers_status_and_close_date_fallbacks() -> None:
    m = recognised(DEALS, "pipedrive", "opportunities", "deals.csv")
    assert m.columns["opportunity_id"] == "Deal - ID"
    assert m.columns["amount"] == "Deal - Value"
    assert m.columns["stage"] == "Deal - Stage"
    assert m.columns["status"] == "Deal - Status"
    assert m.columns["close_date"] == "Deal - Expected close date"
    assert m.fallbacks["close_date"] == ["Deal - Won time", "Deal - Lost time"]


def test_default_pipeline_maps_through_the_pipedrive_map() -> None:
    # Pipedrive defaults as the project sets them: Qualified 10, Demo Scheduled 40,
    # Negotiations Started 80; won and lost come from the status column, not stages.
    assert stage_rows(["Negotiations Started", "Qualified", "Demo Scheduled"], "pipedrive") == [
        ("Qualified", "opportunity", 1, 10.0, False),
        ("Demo Scheduled", "opportunity", 2, 40.0, False),
        ("Negotiations Started", "proposal", 3, 80.0, False),
    ]
