"""Every row rule of docs/data.md, one fixture row at a time."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
import pytest

from engine.core.canonical import TABLES
from schemas.rules import AS_OF, OPP_KNOWN, PARSE_ERRORS, RULES, SEEN_BEFORE, STAGE_KNOWN
from schemas.validate import validate

D = dt.date
TYPES = {
    "text": pl.Utf8,
    "amount": pl.Float64,
    "number": pl.Float64,
    "date": pl.Date,
    "timestamp": pl.Datetime("us"),
    "bool": pl.Boolean,
}

GOOD: dict[str, dict[str, Any]] = {
    "opportunities": {
        "opportunity_id": "O1",
        "owner": "Ann",
        "stage": "Closed Won",
        "amount": 100.0,
        "created_date": D(2026, 1, 1),
        "close_date": D(2026, 2, 1),
        "probability": 100.0,
        "is_closed": True,
        "is_won": True,
        "stage_canonical": "closed_won",
    },
    "stage_history": {
        "opportunity_id": "O1",
        "stage": "Prospecting",
        "entered_at": dt.datetime(2026, 1, 1, 9),
        "stage_canonical": "opportunity",
    },
    "activities": {
        "activity_id": "A1",
        "owner": "Ann",
        "activity_type": "call",
        "activity_date": D(2026, 1, 2),
        "opportunity_id": "O1",
        "discovery_score": 3.0,
        "duration_minutes": 30.0,
    },
    "reps": {"owner": "Ann", "hire_date": D(2024, 1, 1)},
    "quotas": {
        "owner": "Ann",
        "period_start": D(2026, 1, 1),
        "period_end": D(2026, 4, 1),
        "quota_amount": 1000.0,
    },
    "leads": {
        "lead_id": "L1",
        "created_date": dt.datetime(2026, 1, 1, 8),
        "sal_date": D(2026, 1, 3),
        "sql_date": D(2026, 1, 5),
    },
    "accounts": {"account_id": "A1", "account_name": "Acme", "employees": 120.0},
    "lead_outcomes": {"lead_id": "L1", "won_date": dt.datetime(2026, 2, 1, 10)},
}


def frame(table: str, *rows: dict[str, Any]) -> pl.DataFrame:
    """Typed frame of ``table``: GOOD values overridden per row, helper columns added."""
    spec = TABLES[table]
    schema: dict[str, Any] = {c.name: TYPES[c.kind] for c in spec.columns}
    schema["stage_canonical"] = pl.Utf8
    schema[PARSE_ERRORS] = pl.List(pl.Utf8)
    schema[STAGE_KNOWN] = pl.Boolean
    schema[OPP_KNOWN] = pl.Boolean
    schema[AS_OF] = pl.Date
    schema[SEEN_BEFORE] = pl.Boolean
    data = []
    for r in rows:
        base = {c: None for c in schema}
        base.update(
            {
                PARSE_ERRORS: [],
                STAGE_KNOWN: True,
                OPP_KNOWN: True,
                AS_OF: D(2026, 6, 1),
                SEEN_BEFORE: False,
            }
        )
        base.update(GOOD[table])
        base.update(r)
        data.append(base)
    return pl.DataFrame(data, schema=schema)


def fired(table: str, *rows: dict[str, Any]) -> dict[str, int]:
    return validate(table, frame(table, *rows)).counts()


def test_good_rows_pass_every_table() -> None:
    for table in TABLES:
        assert fired(table, {}) == {}, table


@pytest.mark.parametrize(
    ("table", "row", "rule"),
    [
        ("opportunities", {"opportunity_id": None}, "empty_id"),
        ("opportunities", {"opportunity_id": "  "}, "empty_id"),
        ("opportunities", {PARSE_ERRORS: ["amount: cannot read 'x'"]}, "unparseable_value"),
        ("opportunities", {"amount": -5.0}, "negative_amount"),
        ("opportunities", {"probability": 101.0}, "probability_out_of_range"),
        ("opportunities", {"probability": -1.0}, "probability_out_of_range"),
        ("opportunities", {"close_date": None}, "closed_without_close_date"),
        ("opportunities", {"stage": None}, "empty_required"),
        ("stage_history", {"entered_at": None}, "empty_required"),
        ("stage_history", {"amount": -1.0}, "negative_amount"),
        ("activities", {"activity_id": ""}, "empty_id"),
        ("activities", {"discovery_score": 6.0}, "score_out_of_range"),
        ("activities", {"duration_minutes": -3.0}, "negative_duration"),
        ("activities", {"activity_date": None}, "empty_required"),
        ("reps", {"owner": None}, "empty_id"),
        ("quotas", {"quota_amount": -1.0}, "negative_amount"),
        ("quotas", {"period_end": D(2026, 1, 1)}, "period_end_before_start"),
        ("quotas", {"quota_amount": None}, "empty_required"),
        ("leads", {"lead_id": None}, "empty_id"),
        ("leads", {"created_date": None}, "empty_required"),
    ],
)
def test_each_error_rule_quarantines(table: str, row: dict[str, Any], rule: str) -> None:
    assert RULES[rule].severity == "error"
    verdicts = validate(table, frame(table, row))
    assert verdicts.counts().get(rule) == 1
    assert verdicts.error_rows.to_list() == [0]


@pytest.mark.parametrize(
    ("table", "row", "rule"),
    [
        ("opportunities", {"created_date": None}, "missing_created_date"),
        ("opportunities", {"amount": None}, "missing_amount"),
        # a warning since migrated orgs carry the import day as CreatedDate (docs/metrics.md)
        ("opportunities", {"close_date": D(2025, 12, 31)}, "close_before_created"),
        (
            "opportunities",
            {"is_closed": False, "is_won": False, "close_date": None},
            "open_without_close_date",
        ),
        (
            "opportunities",
            {"is_closed": False, "is_won": False, "close_date": D(2026, 5, 31)},
            "slipped",
        ),
        ("opportunities", {STAGE_KNOWN: False, "stage": "Mystery"}, "unknown_stage"),
        ("opportunities", {"owner": ""}, "missing_owner"),
        (
            "opportunities",
            {
                "stage_canonical": "proposal",
                "amount": 0.0,
                "is_closed": False,
                "is_won": False,
                "close_date": D(2026, 7, 1),
            },
            "zero_amount_proposal",
        ),
        ("stage_history", {OPP_KNOWN: False}, "unknown_opportunity"),
        ("activities", {OPP_KNOWN: False}, "unknown_opportunity"),
        ("activities", {"activity_type": "lunch"}, "unknown_activity_type"),
        ("activities", {"owner": None}, "missing_owner"),
        ("leads", {"sql_date": D(2026, 1, 2)}, "dates_out_of_order"),
    ],
)
def test_each_warning_rule_keeps_the_row(table: str, row: dict[str, Any], rule: str) -> None:
    assert RULES[rule].severity == "warning"
    verdicts = validate(table, frame(table, row))
    assert verdicts.counts() == {rule: 1}
    assert verdicts.error_rows.to_list() == []
    assert verdicts.warnings()["rule"].to_list() == [rule]


def test_open_deal_due_today_is_not_slipped() -> None:
    # as_of is 2026-06-01; a close date on that day is not yet in the past
    row = {"is_closed": False, "is_won": False, "close_date": D(2026, 6, 1)}
    assert fired("opportunities", row) == {}


def test_duplicate_ids_first_occurrence_loads() -> None:
    verdicts = validate(
        "opportunities",
        frame(
            "opportunities",
            {"opportunity_id": "A"},
            {"opportunity_id": "B"},
            {"opportunity_id": "A"},
            {"opportunity_id": "A"},
        ),
    )
    # rows 2 and 3 repeat row 0's id
    assert verdicts.error_rows.to_list() == [2, 3]
    assert verdicts.counts() == {"duplicate_id": 2}


def test_every_reason_is_collected_with_the_value() -> None:
    row = {"amount": -1200.0, "probability": 150.0, "close_date": D(2025, 1, 1)}
    reasons = validate("opportunities", frame("opportunities", row)).reasons()
    # close_date before created_date is a warning, so it is not among the quarantine reasons
    assert reasons["reasons"].to_list() == [
        ["amount -1200.0 is negative", "probability 150.0 is outside 0-100"]
    ]


def test_a_row_with_an_error_and_a_warning_counts_once_as_quarantined() -> None:
    verdicts = validate("opportunities", frame("opportunities", {"amount": -1.0, "owner": None}))
    assert verdicts.error_rows.to_list() == [0]
    assert verdicts.warnings().height == 0  # the row does not load, so it is not "flagged"


def test_rules_are_documented() -> None:
    for rule in RULES.values():
        assert rule.description and rule.severity in ("error", "warning")
