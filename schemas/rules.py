"""Row rules of ``docs/data.md``, Row rules: their ids, severity and the message a user reads.

An *error* sends the row to quarantine with every reason it failed; a *warning* keeps the row
and flags it in the quality report. The pandera models in :mod:`schemas.models` name each
check after a rule id here, so one table of rules decides severity and wording.

Each rule's ``message`` builds a polars string expression from the row, so a quarantined row
says *which* value was wrong ("amount -1200 is negative"), not only which rule fired.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import polars as pl

Severity = Literal["error", "warning"]

# Helper columns the pipeline adds before validation (never stored).
PARSE_ERRORS = "_parse_errors"  # list[str]: one message per value that could not be parsed
STAGE_KNOWN = "_stage_known"  # bool: the stage is in the stage map
OPP_KNOWN = "_opp_known"  # bool|null: the row's opportunity_id exists in opportunities
AS_OF = "_as_of"  # date: the day of the load, for "already in the past"
SEEN_BEFORE = "_seen_before"  # bool: the id appeared in an earlier batch of the same file
ID_REPEATS = "_id_repeats"  # bool: the id occurs on more than one row of the file


def _s(col: str) -> pl.Expr:
    return pl.col(col).cast(pl.Utf8).fill_null("")


@dataclass(frozen=True)
class Rule:
    id: str
    severity: Severity
    description: str
    message: Callable[[], pl.Expr]


def _lit(text: str) -> Callable[[], pl.Expr]:
    return lambda: pl.lit(text)


def _fmt(*parts: str | pl.Expr) -> Callable[[], pl.Expr]:
    def build() -> pl.Expr:
        return pl.concat_str([p if isinstance(p, pl.Expr) else pl.lit(p) for p in parts])

    return build


RULES: dict[str, Rule] = {
    r.id: r
    for r in (
        # --- errors: the row goes to quarantine -------------------------------------------
        Rule(
            "unparseable_value",
            "error",
            "A value cannot be parsed as its type",
            lambda: pl.col(PARSE_ERRORS).list.join("; "),
        ),
        Rule(
            "unreadable_record",
            "error",
            "The record has more fields than the header and cannot be split into columns",
            _lit("the record has more fields than the header"),
        ),
        Rule("empty_id", "error", "The id is empty", _lit("id is empty")),
        Rule(
            "duplicate_id",
            "error",
            "The id appeared earlier in the file (the first occurrence loads)",
            _fmt("duplicate id ", _s("__id__"), " (an earlier row with this id was loaded)"),
        ),
        Rule(
            "empty_required",
            "error",
            "A required value is empty",
            _lit("a required value is empty"),
        ),
        Rule(
            "negative_amount",
            "error",
            "The amount is negative",
            _fmt("amount ", _s("__amount__"), " is negative"),
        ),
        Rule(
            "probability_out_of_range",
            "error",
            "Probability is outside 0-100",
            _fmt("probability ", _s("probability"), " is outside 0-100"),
        ),
        Rule(
            "closed_without_close_date",
            "error",
            "A closed deal has no close_date",
            _lit("closed deal has no close_date"),
        ),
        Rule(
            "score_out_of_range",
            "error",
            "discovery_score is outside 0-5",
            _fmt("discovery_score ", _s("discovery_score"), " is outside 0-5"),
        ),
        Rule(
            "negative_duration",
            "error",
            "duration_minutes is negative",
            _fmt("duration_minutes ", _s("duration_minutes"), " is negative"),
        ),
        Rule(
            "period_end_before_start",
            "error",
            "period_end is not after period_start",
            _fmt(
                "period_end ", _s("period_end"), " is not after period_start ", _s("period_start")
            ),
        ),
        # --- warnings: the row loads and is flagged ---------------------------------------
        Rule(
            "missing_created_date",
            "warning",
            "created_date is empty (left out of cycle metrics)",
            _lit("created_date is empty; left out of cycle metrics"),
        ),
        Rule(
            "close_before_created",
            "warning",
            "close_date is before created_date (left out of cycle and time-in-stage metrics, "
            "counted everywhere else)",
            _fmt(
                "close_date ",
                _s("close_date"),
                " is before created_date ",
                _s("created_date"),
                "; left out of cycle and time-in-stage metrics",
            ),
        ),
        Rule(
            "missing_amount",
            "warning",
            "amount is empty (left out of sums, counted)",
            _lit("amount is empty; left out of sums"),
        ),
        Rule(
            "open_without_close_date",
            "warning",
            "An open deal has no expected close_date",
            _lit("open deal has no close_date"),
        ),
        Rule(
            "slipped",
            "warning",
            "An open deal's close_date is already in the past",
            _fmt("open deal's close_date ", _s("close_date"), " is in the past"),
        ),
        Rule(
            "unknown_stage",
            "warning",
            "The stage is not in the stage map (treated as an open opportunity)",
            _fmt("unknown stage '", _s("stage"), "' treated as an open opportunity"),
        ),
        Rule(
            "missing_owner",
            "warning",
            "The owner is empty (shown as (unassigned))",
            _lit("owner is empty; shown as (unassigned)"),
        ),
        Rule(
            "zero_amount_proposal",
            "warning",
            "Amount 0 on a proposal-stage deal",
            _lit("amount is 0 on a proposal-stage deal"),
        ),
        Rule(
            "unknown_opportunity",
            "warning",
            "The opportunity_id is not in the opportunities loaded with it",
            _fmt("opportunity_id ", _s("opportunity_id"), " is not in opportunities"),
        ),
        Rule(
            "unknown_lead",
            "warning",
            "A lead outcome's lead_id is not in the leads loaded with it (kept, not applied)",
            _fmt("lead_id ", _s("lead_id"), " is not in leads"),
        ),
        Rule(
            "unknown_activity_type",
            "warning",
            "activity_type is not call, email, meeting or demo (counted as other)",
            _fmt("activity_type '", _s("activity_type"), "' counted as other"),
        ),
        Rule(
            "dates_out_of_order",
            "warning",
            "A lead's SAL/SQL/converted dates are not in funnel order",
            _lit("lead dates are out of funnel order (created <= sal <= sql <= converted)"),
        ),
    )
}


def severity(rule_id: str) -> Severity:
    return RULES[rule_id].severity
