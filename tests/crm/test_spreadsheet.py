"""Spreadsheets with no CRM style (engine/load/crm/spreadsheet.py)."""

from __future__ import annotations

from engine.load.mapping import detect_preset, recognise
from tests.crm import stage_rows

PIPELINE = ["opportunity_id", "sales_agent", "account", "deal_stage", "engage_date", "close_value"]


def test_any_file_that_maps_is_a_spreadsheet() -> None:
    assert detect_preset(PIPELINE) is None
    m = recognise(PIPELINE, "sales_pipeline.csv")
    assert (m.preset, m.table) == ("spreadsheet", "opportunities")
    assert m.columns["owner"] == "sales_agent"
    assert m.columns["stage"] == "deal_stage"
    assert m.columns["created_date"] == "engage_date"
    assert m.columns["amount"] == "close_value"


def test_no_built_in_map_so_stages_are_guessed_by_keyword() -> None:
    # Two guessed opportunity stages spread 10 -> 60; Won -> closed_won 100, Lost -> 0.
    assert stage_rows(["Engaging", "Won", "Prospect", "Lost"], "spreadsheet") == [
        ("Engaging", "opportunity", 1, 10.0, True),
        ("Prospect", "opportunity", 2, 60.0, True),
        ("Won", "closed_won", 3, 100.0, True),
        ("Lost", "closed_lost", 4, 0.0, True),
    ]
