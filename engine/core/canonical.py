"""The canonical tables every upload is mapped onto (``docs/data.md``, Canonical tables).

This module is the single source of truth for table and column names, their types and which
columns must be mapped for a file to load. The mapping, the schemas, the store and the metric
engine's allow-list of identifiers all read it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

# Logical column kinds. Each is parsed from text by ``engine.core.typeparse`` and stored in DuckDB
# with the type in ``DUCKDB_TYPES``.
Kind = Literal["text", "amount", "number", "date", "timestamp", "bool"]

DUCKDB_TYPES: dict[str, str] = {
    "text": "VARCHAR",
    "amount": "DOUBLE",
    "number": "DOUBLE",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
    "bool": "BOOLEAN",
}


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    required: bool = False
    description: str = ""


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    id_column: str | None
    description: str
    # Columns of which at least one must be mapped (accounts: an id or a name). The first one
    # mapped keys the rows (duplicates, joins); see :meth:`key_column`.
    any_of: tuple[str, ...] = ()

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    def key_column(self, mapped: Iterable[str]) -> str | None:
        """The column that keys this table's rows in a file mapping ``mapped`` columns: the id
        column, else the first of ``any_of`` that is mapped."""
        have = set(mapped)
        if self.id_column is not None and (self.id_column in have or not self.any_of):
            return self.id_column
        return next((c for c in self.any_of if c in have), self.id_column)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


def _c(name: str, kind: Kind = "text", required: bool = False, description: str = "") -> Column:
    return Column(name, kind, required, description)


OPPORTUNITIES = Table(
    "opportunities",
    (
        _c("opportunity_id", required=True, description="Unique deal id"),
        _c("owner", required=True, description="Sales rep who owns the deal"),
        _c("stage", required=True, description="CRM stage name, mapped by the stage map"),
        _c("amount", "amount", True, "Deal value"),
        _c("created_date", "date", True, "Date the opportunity was created"),
        _c("close_date", "date", True, "Close date; for an open deal, the expected close date"),
        _c("account_id"),
        _c("account_name"),
        _c("opportunity_name"),
        _c("segment", description="SMB | Mid-Market | Enterprise"),
        _c("region"),
        _c("lead_source"),
        _c("opportunity_type", description="New Business | Expansion | Renewal"),
        _c("product"),
        _c("probability", "number", description="Win probability, 0-100"),
        _c("forecast_category"),
        _c("is_closed", "bool"),
        _c("is_won", "bool"),
        _c("status", description="open | won | lost (Pipedrive style); sets is_closed/is_won"),
        _c("lead_id", description="The lead this deal came from (see docs/data.md)"),
    ),
    "opportunity_id",
    "One row per deal",
)

STAGE_HISTORY = Table(
    "stage_history",
    (
        _c("opportunity_id", required=True),
        _c("stage", required=True),
        _c("entered_at", "timestamp", True, "When the deal entered the stage"),
        _c("amount", "amount"),
        _c("probability", "number"),
    ),
    None,
    "One row per stage entry of a deal",
)

ACTIVITIES = Table(
    "activities",
    (
        _c("activity_id", required=True),
        _c("owner", required=True),
        _c("activity_type", required=True, description="call | email | meeting | demo | other"),
        _c("activity_date", "date", True),
        _c("opportunity_id"),
        _c("lead_id"),
        _c("account_id"),
        _c("duration_minutes", "number"),
        _c("outcome"),
        _c("discovery_score", "number", description="0-5 discovery quality rubric"),
    ),
    "activity_id",
    "Calls, emails, meetings and demos",
)

REPS = Table(
    "reps",
    (
        _c("owner", required=True),
        _c("team"),
        _c("region", description="The rep's sales territory"),
        _c("segment"),
        _c("role"),
        _c("manager"),
        _c("hire_date", "date"),
        _c("user_id", description="CRM user id (Salesforce User.Id): owner ids become names"),
    ),
    "owner",
    "One row per sales rep",
)

ACCOUNTS = Table(
    "accounts",
    (
        _c("account_id", description="Account id; deals join on it first"),
        _c("account_name", description="Account name; deals without an id match join on it"),
        _c("industry"),
        _c("employees", "number", description="Number of employees (derives the segment)"),
        _c("annual_revenue", "amount", description="Annual revenue, in the file's currency"),
        _c("region", description="The account's region or country"),
        _c("segment", description="SMB | Mid-Market | Enterprise"),
    ),
    "account_id",
    "One row per customer account (gives deals their industry, segment and region)",
    any_of=("account_id", "account_name"),
)

LEAD_OUTCOMES = Table(
    "lead_outcomes",
    (
        _c("lead_id", required=True, description="The lead the outcome belongs to"),
        _c("won_date", "timestamp", True, "When the lead's deal was won"),
        _c("owner", description="Sales rep who closed the deal"),
        _c("opportunity_id", description="The won deal's id (default: the lead id)"),
        _c("amount", "amount", description="Deal value, when the file has one"),
    ),
    "lead_id",
    "Won deals keyed by the lead they came from (complete the leads loaded with them)",
)

QUOTAS = Table(
    "quotas",
    (
        _c("owner", required=True),
        _c("period_start", "date", True),
        _c("period_end", "date", True, "Exclusive end of the quota period"),
        _c("quota_amount", "amount", True),
    ),
    None,
    "Quota per rep and period",
)

LEADS = Table(
    "leads",
    (
        _c("lead_id", required=True),
        _c("created_date", "timestamp", True),
        _c("lead_source"),
        _c("owner"),
        _c("segment"),
        _c("status", description="Lead | SAL | SQL | Converted | Disqualified"),
        _c("sal_date", "date"),
        _c("sql_date", "date"),
        _c("converted_date", "date"),
        _c("converted_opportunity_id"),
        _c("first_response_at", "timestamp"),
    ),
    "lead_id",
    "Inbound and outbound leads",
)

TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        OPPORTUNITIES,
        STAGE_HISTORY,
        ACTIVITIES,
        REPS,
        QUOTAS,
        LEADS,
        ACCOUNTS,
        LEAD_OUTCOMES,
    )
}

# Columns the store adds to every canonical table: provenance and the warning flag.
SOURCE_FILE = "_file"
SOURCE_LINE = "_line"
FLAGGED = "_flagged"

# Columns the store adds to opportunities and stage_history from the stage map.
STAGE_CANONICAL = "stage_canonical"
STAGE_ORDER = "stage_order"
STAGE_PROBABILITY = "stage_probability"

# The canonical funnel (docs/data.md, Stage map), in order. closed_lost sits beside closed_won.
FUNNEL: tuple[str, ...] = ("lead", "sal", "sql", "opportunity", "proposal", "closed_won")
CANONICAL_STAGES: tuple[str, ...] = FUNNEL + ("closed_lost",)
FUNNEL_RANK: dict[str, int] = {s: i for i, s in enumerate(FUNNEL)} | {
    "closed_lost": len(FUNNEL) - 1
}

SEGMENTS: tuple[str, ...] = ("SMB", "Mid-Market", "Enterprise")
# Segment from an account's employees (docs/data.md): SMB below the first bound, Mid-Market up
# to the second, Enterprise from it. Editable per dataset (stored in its _meta).
SEGMENT_THRESHOLDS_KEY = "segment_thresholds"
DEFAULT_SEGMENT_THRESHOLDS: dict[str, float] = {"mid_market_min": 100.0, "enterprise_min": 1000.0}
# Tables whose opportunity_id is checked against the opportunities loaded with them.
OPP_CHECKED_TABLES = ("stage_history", "activities")
UNASSIGNED_OWNER = "(unassigned)"
# Salesforce writes this id for an empty lookup field; it loads as an empty id.
SALESFORCE_NULL_ID = "000000000000000AAA"
# The activity types (docs/data.md, Canonical tables); any other value loads as "other" (and is
# flagged).
ACTIVITY_TYPES = ("call", "email", "meeting", "demo", "other")
