"""One pandera model per canonical table, with the row rules of ``docs/data.md``.

The models validate a typed polars frame (after :mod:`engine.core.typeparse`) lazily, so every
failure of every row is collected in one pass. Each ``dataframe_check`` is named after a rule
id in :mod:`schemas.rules`, which decides whether it quarantines the row or only flags it.
A check returns True where the row passes; a null compares as passing, because emptiness has
rules of its own.
"""

from __future__ import annotations

import datetime as dt
from typing import ClassVar

import pandera.polars as pa
import polars as pl
from pandera.api.dataframe.model_components import ClassCheck
from pandera.api.polars.types import PolarsData

from engine.core.canonical import ACTIVITY_TYPES, TABLES
from schemas.rules import AS_OF, ID_REPEATS, OPP_KNOWN, PARSE_ERRORS, SEEN_BEFORE, STAGE_KNOWN


def _ok(data: PolarsData, expr: pl.Expr) -> pl.LazyFrame:
    return data.lazyframe.select(expr.fill_null(True))


def _blank(col: str) -> pl.Expr:
    return pl.col(col).is_null() | (pl.col(col).str.strip_chars() == "")


def _parsed(data: PolarsData) -> pl.LazyFrame:
    return _ok(data, pl.col(PARSE_ERRORS).list.len() == 0)


def _id_present(data: PolarsData, col: str) -> pl.LazyFrame:
    return _ok(data, ~_blank(col))


def _id_first(data: PolarsData, col: str) -> pl.LazyFrame:
    """The first occurrence of an id passes; repeats, here or in an earlier batch, fail."""
    first = pl.col(col).is_first_distinct() & ~pl.col(SEEN_BEFORE).fill_null(False)
    return _ok(data, _blank(col) | first)


def _not_negative(data: PolarsData, col: str) -> pl.LazyFrame:
    return _ok(data, pl.col(col) >= 0)


def _rule(name: str) -> ClassCheck:
    """A row rule, as a check named after its rule id. Each rule reads what columns it needs
    but reports against the as-of column, which every validated frame has: pandera's failure
    cases are then that one narrow column, not every column of each failing row (which it
    turns into Python objects, row by row)."""
    return pa.check(AS_OF, name=name)


class _Base(pa.DataFrameModel):
    """Rules every table shares; the pipeline adds the helper columns they read."""

    class Config:
        strict = False  # provenance and helper columns ride along
        coerce = False  # typeparse has typed every column already

    as_of: dt.date = pa.Field(alias=AS_OF)  # the day of the load (the rules' anchor)

    @_rule("unparseable_value")
    def unparseable_value(cls, data: PolarsData) -> pl.LazyFrame:
        return _parsed(data)


class _Keyed(_Base):
    """Tables with an id column: it must be filled, and only its first occurrence loads."""

    _id: ClassVar[str | None] = None

    @_rule("empty_id")
    def empty_id(cls, data: PolarsData) -> pl.LazyFrame:
        return _id_present(data, str(cls._id))

    @_rule("duplicate_id")
    def duplicate_id(cls, data: PolarsData) -> pl.LazyFrame:
        return _id_first(data, str(cls._id))


class Opportunities(_Keyed):
    _id = TABLES["opportunities"].id_column
    opportunity_id: str = pa.Field(nullable=True)
    owner: str = pa.Field(nullable=True)
    stage: str = pa.Field(nullable=True)
    amount: float = pa.Field(nullable=True)
    created_date: dt.date = pa.Field(nullable=True)
    close_date: dt.date = pa.Field(nullable=True)
    probability: float = pa.Field(nullable=True)
    is_closed: bool = pa.Field(nullable=True)
    is_won: bool = pa.Field(nullable=True)

    @_rule("empty_required")
    def empty_stage(cls, data: PolarsData) -> pl.LazyFrame:
        return _ok(data, ~_blank("stage"))

    @_rule("negative_amount")
    def negative_amount(cls, data: PolarsData) -> pl.LazyFrame:
        return _not_negative(data, "amount")

    @_rule("probability_out_of_range")
    def probability_out_of_range(cls, data: PolarsData) -> pl.LazyFrame:
        return _ok(data, pl.col("probability").is_between(0, 100))

    @_rule("closed_without_close_date")
    def closed_without_close_date(cls, data: PolarsData) -> pl.LazyFrame:
        return _ok(data, ~(pl.col("is_closed") & pl.col("close_date").is_null()))

    @_rule("close_before_created")
    def close_before_created(cls, data: PolarsData) -> pl.LazyFrame:
        return _ok(data, pl.col("close_date") >= pl.col("created_date"))

    @_rule("missing_created_date")
    def missing_created_date(cls, data: PolarsData) -> pl.LazyFrame:
        return _ok(data, pl.col("created_date").is_not_null())

    @_rule("missing_amount")
    def missing_amount(cls, data: PolarsData) -> pl.LazyFrame:
        return _ok(data, pl.col("amount").is_not_null())

    @_rule("open_without_close_date")
    def open_without_close_date(cls, data: PolarsData) -> pl.LazyFrame:
        return _ok(data, pl.col("is_closed") | pl.col("close_date").is_not_null())

    @_rule("slipped")
    def slipped(cls, data: PolarsData) -> pl.LazyFrame:
        return _ok(data, pl.col("is_closed") | (pl.col("close_date") >= pl.col(AS_OF)))

    @_rule("unknown_stage")
    def unknown_stage(cls, data: PolarsData) -> pl.LazyFrame:
        return _ok(data, _blank("stage") | pl.col(STAGE_KNOWN))

    @_rule("missing_owner")
    def missing_owner(cls, data: PolarsData) -> pl.LazyFrame:
        return _ok(data, ~_blank("owner"))

    @_rule("zero_amount_proposal")
    def zero_amount_proposal(cls, data: PolarsData) -> pl.LazyFrame:
        return _ok(data, ~((pl.col("stage_canonical") == "proposal") & (pl.col("amount") == 0)))


class StageHistory(_Base):
    opportunity_id: str = pa.Field(nullable=True)
    stage: str = pa.Field(nullable=True)
    entered_at: dt.datetime = pa.Field(nullable=True)
    amount: float = pa.Field(nullable=True)
    probability: float = pa.Field(nullable=True)

    @_rule("empty_required")
    def empty_required(cls, data: PolarsData) -> pl.LazyFrame:
        return _ok(
            data,
            ~_blank("opportunity_id") & ~_blank("stage") & pl.col("entered_at").is_not_null(),
        )

    @_rule("negative_amount")
    def negative_amount(cls, data: PolarsData) -> pl.LazyFrame:
        return _not_negative(data, "amount")

    @_rule("probability_out_of_range")
    def probability_out_of_range(cls, data: PolarsData) -> pl.LazyFrame:
        return _ok(data, pl.col("probability").is_between(0, 100))

    @_rule("unknown_stage")
    def unknown_stage(cls, data: PolarsData) -> pl.LazyFrame:
        return _ok(data, _blank("stage") | pl.col(STAGE_KNOWN))

    @_rule("unknown_opportunity")
    def unknown_opportunity(cls, data: PolarsData) -> pl.LazyFrame:
        return _ok(data, pl.col(OPP_KNOWN))


class Activities(_Keyed):
    _id = TABLES["activities"].id_column
    activity_id: str = pa.Field(nullable=True)
    owner: str = pa.Field(nullable=True)
    activity_type: str = pa.Field(nullable=True)
    activity_date: dt.date = pa.Field(nullable=True)
    duration_minutes: float = pa.Field(nullable=True)
    discovery_score: float = pa.Field(nullable=True)

    @_rule("empty_required")
    def empty_required(cls, data: PolarsData) -> pl.LazyFrame:
        return _ok(data, pl.col("activity_date").is_not_null())

    @_rule("negative_duration")
    def negative_duration(cls, data: PolarsData) -> pl.LazyFrame:
        return _not_negative(data, "duration_minutes")

    @_rule("score_out_of_range")
    def score_out_of_range(cls, data: PolarsData) -> pl.LazyFrame:
        return _ok(data, pl.col("discovery_score").is_between(0, 5))

    @_rule("missing_owner")
    def missing_owner(cls, data: PolarsData) -> pl.LazyFrame:
        return _ok(data, ~_blank("owner"))

    @_rule("unknown_activity_type")
    def unknown_activity_type(cls, data: PolarsData) -> pl.LazyFrame:
        known = list(ACTIVITY_TYPES)
        return _ok(data, pl.col("activity_type").str.to_lowercase().is_in(known))

    @_rule("unknown_opportunity")
    def unknown_opportunity(cls, data: PolarsData) -> pl.LazyFrame:
        return _ok(data, pl.col(OPP_KNOWN))


class Reps(_Keyed):
    _id = TABLES["reps"].id_column
    owner: str = pa.Field(nullable=True)
    hire_date: dt.date = pa.Field(nullable=True)


class Quotas(_Base):
    owner: str = pa.Field(nullable=True)
    period_start: dt.date = pa.Field(nullable=True)
    period_end: dt.date = pa.Field(nullable=True)
    quota_amount: float = pa.Field(nullable=True)

    @_rule("empty_required")
    def empty_required(cls, data: PolarsData) -> pl.LazyFrame:
        return _ok(
            data,
            ~_blank("owner")
            & pl.col("period_start").is_not_null()
            & pl.col("period_end").is_not_null()
            & pl.col("quota_amount").is_not_null(),
        )

    @_rule("negative_amount")
    def negative_amount(cls, data: PolarsData) -> pl.LazyFrame:
        return _not_negative(data, "quota_amount")

    @_rule("period_end_before_start")
    def period_end_before_start(cls, data: PolarsData) -> pl.LazyFrame:
        return _ok(data, pl.col("period_end") > pl.col("period_start"))


class Leads(_Keyed):
    _id = TABLES["leads"].id_column
    lead_id: str = pa.Field(nullable=True)
    created_date: dt.datetime = pa.Field(nullable=True)
    sal_date: dt.date = pa.Field(nullable=True)
    sql_date: dt.date = pa.Field(nullable=True)
    converted_date: dt.date = pa.Field(nullable=True)
    first_response_at: dt.datetime = pa.Field(nullable=True)

    @_rule("empty_required")
    def empty_required(cls, data: PolarsData) -> pl.LazyFrame:
        return _ok(data, pl.col("created_date").is_not_null())

    @_rule("dates_out_of_order")
    def dates_out_of_order(cls, data: PolarsData) -> pl.LazyFrame:
        created = pl.col("created_date").dt.date()
        steps = [created, pl.col("sal_date"), pl.col("sql_date"), pl.col("converted_date")]
        ok = pl.lit(True)
        for i, a in enumerate(steps):
            for b in steps[i + 1 :]:
                ok = ok & (a <= b).fill_null(True)
        return _ok(data, ok)


class Accounts(_Base):
    """Keyed by account_id, else account_name (``Table.any_of``): a row needs one of them, and
    only the first row of a key loads."""

    account_id: str = pa.Field(nullable=True)
    account_name: str = pa.Field(nullable=True)
    employees: float = pa.Field(nullable=True)
    annual_revenue: float = pa.Field(nullable=True)

    @_rule("empty_id")
    def empty_id(cls, data: PolarsData) -> pl.LazyFrame:
        return _ok(data, ~(_blank("account_id") & _blank("account_name")))

    @_rule("duplicate_id")
    def duplicate_id(cls, data: PolarsData) -> pl.LazyFrame:
        # A name keys case-insensitively, as deals join on it (docs/data.md).
        name = pl.col("account_name").str.to_lowercase()
        key = pl.when(_blank("account_id")).then(name).otherwise("account_id")
        first = key.is_first_distinct() & ~pl.col(SEEN_BEFORE).fill_null(False)
        return _ok(data, (_blank("account_id") & _blank("account_name")) | first)

    @_rule("negative_amount")
    def negative_amount(cls, data: PolarsData) -> pl.LazyFrame:
        return _ok(data, (pl.col("annual_revenue") >= 0) & (pl.col("employees") >= 0))


class LeadOutcomes(_Keyed):
    _id = TABLES["lead_outcomes"].id_column
    lead_id: str = pa.Field(nullable=True)
    won_date: dt.datetime = pa.Field(nullable=True)
    amount: float = pa.Field(nullable=True)

    @_rule("empty_required")
    def empty_required(cls, data: PolarsData) -> pl.LazyFrame:
        return _ok(data, pl.col("won_date").is_not_null())

    @_rule("negative_amount")
    def negative_amount(cls, data: PolarsData) -> pl.LazyFrame:
        return _not_negative(data, "amount")


MODELS: dict[str, type[_Base]] = {
    "opportunities": Opportunities,
    "stage_history": StageHistory,
    "activities": Activities,
    "reps": Reps,
    "quotas": Quotas,
    "leads": Leads,
    "accounts": Accounts,
    "lead_outcomes": LeadOutcomes,
}


# --- the rules in SQL, to choose the rows the models validate -------------------------------
# A load validates with the models only the rows on which some rule may fire: for each rule of
# a table, a SQL condition over the typed columns (and the helper columns) that is true on
# every row the check fails. Each may be broader than its check, never narrower (a test holds
# every check to it on generated frames); the model still decides every verdict and message
# on the rows chosen. A null condition counts as false, as a null check passes. Accounts have
# none: their duplicate key mixes the id and the lower-cased name, so every row is validated.


def _sql_blank(col: str) -> str:
    """True on every value ``_blank`` is true on: null, empty, or starting with a space, a
    control character or any non-ASCII character (Unicode's spaces are among them)."""
    return f'("{col}" IS NULL OR "{col}" = \'\' OR ascii("{col}") <= 32 OR ascii("{col}") >= 128)'


def _sql_negative(col: str) -> str:
    return f'("{col}" < 0 OR isnan("{col}"))'


def _sql_outside(col: str, lo: int, hi: int) -> str:
    return f'(NOT ("{col}" BETWEEN {lo} AND {hi}) OR isnan("{col}"))'


_SQL_BASE = {"unparseable_value": f"len({PARSE_ERRORS}) > 0"}


def _sql_keyed(id_col: str) -> dict[str, str]:
    # ID_REPEATS marks every row of an id that occurs more than once (its first row too, so
    # the model sees each repeat beside its first occurrence).
    return {**_SQL_BASE, "empty_id": _sql_blank(id_col), "duplicate_id": ID_REPEATS}


_KNOWN_ACTIVITY = ", ".join(f"'{t}'" for t in ACTIVITY_TYPES)
_LEAD_STEPS = ("CAST(created_date AS DATE)", "sal_date", "sql_date", "converted_date")

MAY_FAIL: dict[str, dict[str, str]] = {
    "opportunities": {
        **_sql_keyed("opportunity_id"),
        "empty_required": _sql_blank("stage"),
        "negative_amount": _sql_negative("amount"),
        "probability_out_of_range": _sql_outside("probability", 0, 100),
        "closed_without_close_date": "is_closed AND close_date IS NULL",
        "close_before_created": "close_date < created_date",
        "missing_created_date": "created_date IS NULL",
        "missing_amount": "amount IS NULL",
        "open_without_close_date": "NOT (is_closed OR close_date IS NOT NULL)",
        "slipped": f"NOT (is_closed OR close_date >= {AS_OF})",
        "unknown_stage": f"NOT {STAGE_KNOWN}",
        "missing_owner": _sql_blank("owner"),
        "zero_amount_proposal": "stage_canonical = 'proposal' AND amount = 0",
    },
    "stage_history": {
        **_SQL_BASE,
        "empty_required": f"{_sql_blank('opportunity_id')} OR {_sql_blank('stage')} "
        "OR entered_at IS NULL",
        "negative_amount": _sql_negative("amount"),
        "probability_out_of_range": _sql_outside("probability", 0, 100),
        "unknown_stage": f"NOT {STAGE_KNOWN}",
        "unknown_opportunity": f"NOT {OPP_KNOWN}",
    },
    "activities": {
        **_sql_keyed("activity_id"),
        "empty_required": "activity_date IS NULL",
        "negative_duration": _sql_negative("duration_minutes"),
        "score_out_of_range": _sql_outside("discovery_score", 0, 5),
        "missing_owner": _sql_blank("owner"),
        # polars and DuckDB lower-case non-ASCII text by different tables: such a value is
        # left to the model
        "unknown_activity_type": f"lower(activity_type) NOT IN ({_KNOWN_ACTIVITY}) "
        "OR regexp_matches(activity_type, '[^\\x00-\\x7F]')",
        "unknown_opportunity": f"NOT {OPP_KNOWN}",
    },
    "reps": _sql_keyed("owner"),
    "quotas": {
        **_SQL_BASE,
        "empty_required": f"{_sql_blank('owner')} OR period_start IS NULL "
        "OR period_end IS NULL OR quota_amount IS NULL",
        "negative_amount": _sql_negative("quota_amount"),
        "period_end_before_start": "NOT (period_end > period_start)",
    },
    "leads": {
        **_sql_keyed("lead_id"),
        "empty_required": "created_date IS NULL",
        "dates_out_of_order": " OR ".join(
            f"{a} > {b}" for i, a in enumerate(_LEAD_STEPS) for b in _LEAD_STEPS[i + 1 :]
        ),
    },
    "lead_outcomes": {
        **_sql_keyed("lead_id"),
        "empty_required": "won_date IS NULL",
        "negative_amount": _sql_negative("amount"),
    },
}


def may_fail_sql(table: str) -> str | None:
    """SQL true on every row of ``table`` that some rule may fail (None: validate every row)."""
    rules = MAY_FAIL.get(table)
    if rules is None:
        return None
    return " OR ".join(f"({cond})" for cond in rules.values())
