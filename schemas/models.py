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
from schemas.rules import AS_OF, OPP_KNOWN, PARSE_ERRORS, SEEN_BEFORE, STAGE_KNOWN


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
