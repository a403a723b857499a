"""Header mapping: which canonical table a file is, and which header feeds which column.

A CRM export never uses the canonical names of ``engine.core.canonical``. :func:`recognise` looks at
a file's header row (and, as a tie-breaker, its file name), picks the canonical table the
headers fit best and proposes a :class:`Mapping` (canonical column -> source header) that the
user confirms or edits. Confirmed mappings are kept in a :class:`MappingStore`, keyed by a
signature of the header set, so the next file with the same headers is mapped the same way.

The mapping also carries two export quirks:

- HubSpot deal exports hold stage history as wide ``Date entered "<stage>"`` columns
  (``Mapping.stage_columns``); :func:`stage_history_from_wide` unpivots them into
  stage_history rows.
- Pipedrive keeps the actual close date of won/lost deals in ``Won time``/``Lost time``
  (``Mapping.fallbacks``: headers read, in order, when the primary header's cell is empty).

Nothing here reads cell values except :func:`stage_history_from_wide`; type parsing and row
validation happen later, in ``schemas``.
"""

from __future__ import annotations

import dataclasses
import difflib
import fcntl
import hashlib
import json
import os
import re
import tempfile
import threading
from collections.abc import Iterable, Iterator, Sequence
from collections.abc import Mapping as AbcMapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from engine.core.canonical import SOURCE_LINE, TABLES
from engine.core.errors import MappingError, UnknownName
from engine.load import crm
from engine.load.crm import PRESETS, normalise_header

# How a mapping came to be: proposed by recognise(), reused from the store, or edited.
ORIGINS: tuple[str, ...] = ("recognised", "remembered", "edited")


# --------------------------------------------------------------------------------------------
# Normalisation
# --------------------------------------------------------------------------------------------


def header_signature(headers: Iterable[str]) -> str:
    """A stable hash of the normalised, de-duplicated, sorted header set.

    Column order, case and punctuation do not change it, so a re-export of the same report
    (or the same file re-saved by a spreadsheet program) finds its remembered mapping.
    """
    keys = sorted({normalise_header(h) for h in headers})
    digest = hashlib.sha256(json.dumps(keys, ensure_ascii=True).encode("ascii"))
    return digest.hexdigest()[:20]


# --------------------------------------------------------------------------------------------
# Synonyms
# --------------------------------------------------------------------------------------------

# Per table, per canonical column: source spellings in priority order (the canonical name
# itself always comes first). Spellings are normalised at import, so "Deal - ID", "Deal ID"
# and "deal_id" are one entry. Synonyms are per table because the same header means different
# things in different exports: Salesforce "Id" is the opportunity id in Opportunity.csv and the
# lead id in Lead.csv; "Type" is the opportunity type or the activity type; "Name" is the
# opportunity name in an opportunity export and a person's name in a lead export (where it has
# no canonical column and stays unmapped).
_OWNER_WORDS = (
    "sales_agent",
    "sales rep",
    "rep",
    "salesperson",
    "sales person",
    "account executive",
    "ae",
    "agent",
    "owner name",
    "rep name",
    "assigned to",
)

_SYNONYMS: dict[str, dict[str, tuple[str, ...]]] = {
    "opportunities": {
        "opportunity_id": (
            "opportunity id",
            "opp id",
            "deal id",
            "deal - id",
            "record id",
            "opportunity record id",
            "id",
        ),
        "owner": (
            "opportunity owner",
            "deal owner",
            "deal - owner",
            "owner id",
            *_OWNER_WORDS,
            "user",
        ),
        "stage": (
            "stage name",
            "deal stage",
            "deal - stage",
            "opportunity stage",
            "pipeline stage",
            "sales stage",
        ),
        "amount": (
            "deal - value",
            "deal value",
            "deal amount",
            "opportunity amount",
            "close value",
            "deal size",
            "amount in company currency",
            "value",
        ),
        "created_date": (
            "created date",
            "create date",
            "deal - deal created",
            "deal created",
            "date created",
            "created on",
            "created at",
            "creation date",
            "opportunity created date",
            "engage date",
            "add time",
            "created",
        ),
        "close_date": (
            "closing date",
            "expected close date",
            "deal - expected close date",
            "close",
            "closed date",
        ),
        "account_id": ("account id", "company id", "organization id", "deal - organization id"),
        "account_name": (
            "account",
            "company",
            "company name",
            "organization",
            "organization name",
            "deal - organization",
            "associated company",
            "customer",
            "customer name",
            "client",
        ),
        "opportunity_name": (
            "deal name",
            "deal - title",
            "deal title",
            "opportunity",
            "title",
            "name",
        ),
        "segment": ("customer segment", "market segment", "deal - segment"),
        "region": ("territory", "sales region", "regional office", "geo", "deal - region"),
        "lead_source": (
            "deal source",
            "deal - source",
            "original source",
            "source",
            "origin",
        ),
        "opportunity_type": ("deal type", "deal - type", "type"),
        "product": (
            "product name",
            "products",
            "deal - products",
            "deal - product",
            "product line",
        ),
        "probability": (
            "win probability",
            "deal probability",
            "deal - probability",
            "probability percent",
        ),
        "forecast_category": (
            "forecast category name",
            "forecast_category",
            "deal - forecast category",
            "forecast",
        ),
        "is_closed": ("closed", "is deal closed", "deal is closed"),
        "is_won": ("won", "is closed won", "deal is won"),
        "status": ("deal status", "deal - status", "opportunity status"),
        "lead_id": ("lead id", "converted lead id", "mql id"),
    },
    "stage_history": {
        # No bare "id": in a history export that is the history row's own id.
        "opportunity_id": (
            "opportunity id",
            "opp id",
            "deal id",
            "deal - id",
            "record id",
        ),
        "stage": (
            "stage name",
            "to stage",
            "new stage",
            "deal stage",
            "opportunity stage",
            "stage to",
        ),
        "entered_at": (
            "entered",
            "date entered",
            "stage entered",
            "entered date",
            "stage entered at",
            "stage entered date",
            "stage start",
            "stage start date",
            "stage date",
            "changed at",
            "change date",
            "changed on",
            "stage change date",
            "edit date",
            "timestamp",
            "date",
            # No "created date": in most files that is the deal's creation. Salesforce's
            # OpportunityHistory object is the exception, handled in _synonym_keys_for().
        ),
        "amount": ("value", "deal value"),
        "probability": (),
    },
    "activities": {
        "activity_id": (
            "activity - id",
            "event id",
            "task id",
            "id",
        ),
        "owner": (
            "activity owner",
            "owner id",
            "activity - assigned to user",
            "activity - user",
            "assigned to",
            *_OWNER_WORDS,
            "user",
        ),
        "activity_type": ("type", "activity - type", "event type", "task type"),
        "activity_date": (
            "activity - due date",
            "due date",
            "date",
            "activity date time",
            "start date",
            "event date",
            "task date",
            "completed date",
        ),
        # Salesforce WhatId/WhoId are polymorphic ("what": opportunity or account; "who": lead
        # or contact). Ids that are not opportunities or leads surface as orphan warnings.
        "opportunity_id": (
            "what id",
            "deal id",
            "activity - deal id",
            "opportunity",
            "deal",
        ),
        "lead_id": ("who id", "activity - lead id", "person id", "contact id"),
        "account_id": ("company id", "organization id", "activity - organization id"),
        "duration_minutes": (
            "duration in minutes",
            "duration",
            "activity - duration",
            "call duration",
            "minutes",
        ),
        "outcome": ("result", "call result", "call disposition", "activity - outcome"),
        "discovery_score": ("discovery", "discovery quality"),
    },
    "reps": {
        "owner": (
            *_OWNER_WORDS,
            "sales agent",
            "employee",
            "full name",
            "rep id",
            "user",
            "name",
        ),
        "team": ("sales team", "team name", "pod", "department", "division"),
        # Maven's sales_teams.csv groups agents by "regional_office" (Central/East/West): the
        # rep's sales territory, so the region (docs/data.md).
        "region": ("sales region", "regional office", "office", "territory", "sales territory"),
        "segment": ("rep segment", "market segment"),
        "role": ("job title", "title", "position"),
        # Salesforce User.ManagerId is a user id; it becomes a name as owner ids do.
        "manager": ("team lead", "reports to", "supervisor", "manager name", "manager id"),
        "hire_date": ("hired", "hired on", "date hired", "start date", "joined", "hire"),
        "user_id": ("user id", "owner id", "rep id", "employee id"),
    },
    "accounts": {
        "account_id": (
            "account id",
            "company id",
            "organization id",
            "customer id",
            "record id",
            "organization - id",
            "id",
        ),
        "account_name": (
            "account",
            "account name",
            "company",
            "company name",
            "organization",
            "organization name",
            "organization - name",
            "customer",
            "customer name",
            "client",
            "name",
        ),
        "industry": ("sector", "industry name", "organization - industry", "vertical"),
        "employees": (
            "number of employees",
            "organization - number of employees",
            "employee count",
            "employees count",
            "headcount",
            "no of employees",
        ),
        "annual_revenue": (
            "annual revenue",
            "organization - annual revenue",
            "revenue",
            "yearly revenue",
            "company revenue",
        ),
        "region": (
            "billing country",
            "country/region",
            "country",
            "office location",
            "hq country",
            "headquarters",
            "territory",
            "billing state",
        ),
        "segment": ("account segment", "customer segment", "market segment"),
    },
    # A file of won deals keyed by the lead they came from (Olist's closed deals).
    "lead_outcomes": {
        "lead_id": ("mql id", "lead id", "lead"),
        "won_date": ("won date", "date won", "won at", "won time", "closed won date"),
        "owner": ("sr id", "sales rep id", "closer", "closer id", *_OWNER_WORDS, "owner id"),
        "opportunity_id": ("opportunity id", "deal id"),
        "amount": ("deal value", "deal amount", "won amount", "close value"),
    },
    "quotas": {
        # No bare "name": in a deal export that is the deal's name, and a quotas file
        # names its rep column after the rep.
        "owner": (*_OWNER_WORDS, "sales agent", "employee", "user"),
        "period_start": ("start", "start date", "from", "valid from", "quota start", "begin"),
        "period_end": ("end", "end date", "to", "valid to", "quota end"),
        "quota_amount": (
            "quota",
            "target",
            "quota value",
            "sales target",
            "revenue target",
            "goal",
            "amount",
        ),
    },
    "leads": {
        "lead_id": ("lead id", "mql id", "record id", "contact id", "id"),
        "created_date": (
            "created date",
            "create date",
            "date created",
            "created on",
            "created at",
            "first contact date",
            "lead created date",
            "created",
        ),
        "lead_source": ("lead source", "original source", "source", "origin", "channel"),
        "owner": ("lead owner", "contact owner", "owner id", *_OWNER_WORDS),
        "segment": ("customer segment", "market segment"),
        "status": ("lead status", "status"),
        "sal_date": ("sal date", "date sal", "accepted date", "sales accepted date"),
        "sql_date": (
            "sql date",
            "date sql",
            "qualified date",
            "became a sales qualified lead date",
        ),
        # A lead converts when its deal is won: Olist's closed-deals file keys won_date by the
        # lead (mql_id).
        "converted_date": (
            "converted date",
            "conversion date",
            "converted on",
            "converted at",
            "won date",
        ),
        "converted_opportunity_id": (
            "converted opportunity id",
            "opportunity id",
            "deal id",
        ),
        "first_response_at": (
            "first response",
            "first response date",
            "first response time",
            "first responded date",
            "first touch",
            "first touch at",
        ),
    },
}

# Headers read when the primary header's cell is empty (in this order). When no primary header
# exists the first fallback found becomes the primary.
_FALLBACKS: dict[str, dict[str, tuple[str, ...]]] = {
    "opportunities": {
        "close_date": (
            "deal - won time",
            "won time",
            "won date",
            "date won",
            "deal - lost time",
            "lost time",
            "lost date",
            "date lost",
            "close time",
        ),
    },
    "activities": {
        "activity_type": ("task subtype", "event subtype", "subject", "activity - subject"),
        "activity_date": ("activity date time", "start date time", "activity - due time"),
    },
}

# A quotas file may name its period instead of giving start/end: "2026-Q3", "2026-07".
_PERIOD_LABEL_KEYS: tuple[str, ...] = tuple(
    normalise_header(s)
    for s in (
        "period",
        "quota period",
        "fiscal period",
        "quarter",
        "fiscal quarter",
        "month",
        "fiscal month",
    )
)

# Headers so generic that matching them says little about which table a file is.
_WEAK_KEYS: frozenset[str] = frozenset(
    normalise_header(s)
    for s in (
        "id",
        "name",
        "type",
        "status",
        "created",
        "created date",
        "date",
        "owner",
        "owner id",
        "user",
        "value",
        "title",
        "source",
        "closed",
        "won",
        "start",
        "end",
        "from",
        "to",
    )
)


def _keys(spellings: Iterable[str]) -> tuple[str, ...]:
    out: list[str] = []
    for s in spellings:
        k = normalise_header(s)
        if k and k not in out:
            out.append(k)
    return tuple(out)


def _synonym_keys(table: str, column: str) -> tuple[str, ...]:
    spellings = _SYNONYMS[table].get(column, ())
    # The canonical name comes first unless the list places it itself (forecast_category
    # prefers Salesforce's ForecastCategoryName label over the ForecastCategory API value).
    if normalise_header(column) in _keys(spellings):
        return _keys(spellings)
    return _keys((column, *spellings))


_SYN_KEYS: dict[str, dict[str, tuple[str, ...]]] = {
    t: {c: _synonym_keys(t, c) for c in TABLES[t].column_names} for t in TABLES
}


def _synonym_keys_for(table: str, column: str, preset: str | None) -> tuple[str, ...]:
    """Synonym keys adjusted for the export style: the preset's own spellings come after the
    shared ones, then its synonym rule applies (Salesforce Data Export: a table's key reads
    only ``Id``). Presets live in ``engine.load.crm``."""
    keys = _SYN_KEYS[table][column]
    style = crm.get(preset)
    if style is None:
        return keys
    extra = style.synonyms.get(table, {}).get(column, ())
    if extra:
        keys = _keys((*keys, *extra))
    return style.synonym_rule(table, column, keys)


_FALLBACK_KEYS: dict[str, dict[str, tuple[str, ...]]] = {
    t: {c: _keys(v) for c, v in cols.items()} for t, cols in _FALLBACKS.items()
}

_TRAILING_PAREN = re.compile(r"^(.*\S)\s*\(([^()]*)\)$")


# --------------------------------------------------------------------------------------------
# The mapping
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mapping:
    """How one file's headers map onto one canonical table. Plain, JSON-serialisable data.

    ``columns`` maps canonical column -> source header; ``fallbacks`` lists, per canonical
    column, further headers read in order when the primary cell is empty; ``stage_columns``
    maps a stage name -> HubSpot ``Date entered`` header; ``period_label_column`` is set when a
    quotas file gives a period label (``2026-Q3``) instead of start/end dates, and is then also
    ``columns["period_start"]``. ``headers`` is every source header in file order.
    """

    table: str
    columns: dict[str, str]
    unmapped: list[str]
    header_signature: str
    stage_columns: dict[str, str] = field(default_factory=dict)
    confidence: float = 0.0
    preset: str | None = None
    fallbacks: dict[str, list[str]] = field(default_factory=dict)
    period_label_column: str | None = None
    headers: list[str] = field(default_factory=list)
    origin: str = "recognised"
    # Headers whose values follow the column's own, joined by a space (a name given as
    # FirstName + LastName: ``columns["owner"] = "FirstName"``, ``joined = {"owner":
    # ["LastName"]}``).
    joined: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.validate()

    # -- checks ----------------------------------------------------------------------------

    def validate(self, headers: Sequence[str] | None = None) -> None:
        """Raise :class:`MappingError` unless the mapping is internally consistent.

        Every canonical name belongs to the table, every mapped header exists among
        ``headers`` (default: the mapping's own ``headers``, when known) and no header is
        used twice (as a column, a fallback or a stage column).
        """
        if self.table not in TABLES:
            raise UnknownName("table", self.table, TABLES)
        table = TABLES[self.table]
        for name in (*self.columns, *self.fallbacks, *self.joined):
            if name not in table.column_names:
                raise MappingError(
                    f"{name!r} is not a column of the {self.table} table. "
                    f"Its columns are: {', '.join(table.column_names)}."
                )
        if self.preset is not None and self.preset not in PRESETS:
            raise UnknownName("preset", self.preset, PRESETS)
        if self.origin not in ORIGINS:
            raise UnknownName("mapping origin", self.origin, ORIGINS)
        if not 0.0 <= self.confidence <= 1.0:
            raise MappingError(f"Mapping confidence {self.confidence} is outside 0-1.")
        if self.period_label_column is not None and (
            self.columns.get("period_start") != self.period_label_column
        ):
            raise MappingError(
                f"The period label column {self.period_label_column!r} must also be the "
                "period_start column."
            )
        seen: dict[str, str] = {}
        for role, header in self._uses():
            if header in seen:
                raise MappingError(
                    f"The column {header!r} is used twice: for {seen[header]} and for {role}. "
                    "Map each column of the file to one field only."
                )
            seen[header] = role
        known = self.headers if headers is None else list(headers)
        if known:
            present = set(known)
            absent = [h for h in seen if h not in present]
            if absent:
                raise MappingError(
                    "The mapping uses columns the file does not have: "
                    + ", ".join(repr(h) for h in absent)
                    + "."
                )

    def _uses(self) -> list[tuple[str, str]]:
        uses = [(name, header) for name, header in self.columns.items()]
        uses += [(f"{n} (fallback)", h) for n, hs in self.fallbacks.items() for h in hs]
        uses += [(f"{n} (joined)", h) for n, hs in self.joined.items() for h in hs]
        uses += [(f'stage "{s}"', h) for s, h in self.stage_columns.items()]
        return uses

    def used_headers(self) -> set[str]:
        """Every source header the mapping reads."""
        return {h for _, h in self._uses()}

    def missing_required(self) -> list[str]:
        """Required canonical columns with no header, in canonical order."""
        spec = TABLES[self.table]
        missing = [c for c in spec.required if c not in self.columns]
        if spec.any_of and not any(c in self.columns for c in spec.any_of):
            missing.append(spec.any_of[-1])  # named with its alternatives by describe_missing
        if self.period_label_column is not None and "period_end" in missing:
            missing.remove("period_end")  # the label gives both ends of the period
        return missing

    # -- edits -----------------------------------------------------------------------------

    def with_column(self, canonical: str, header: str | None) -> Mapping:
        """A copy with ``canonical`` read from ``header`` (``None``: left unmapped).

        The header is taken away from whatever else used it, so each header stays used once.
        Changing period_start drops the period label; unmapping a column drops its fallbacks.
        """
        if canonical not in TABLES[self.table].column_names:
            raise UnknownName(f"{self.table} column", canonical, TABLES[self.table].column_names)
        if header is not None and self.headers and header not in self.headers:
            raise UnknownName("column of this file", header, self.headers)
        columns = {c: h for c, h in self.columns.items() if h != header and c != canonical}
        fallbacks = {
            c: [h for h in hs if h != header] for c, hs in self.fallbacks.items() if c != canonical
        }
        if header is not None:
            columns[canonical] = header
            if canonical in self.fallbacks:
                fallbacks[canonical] = [h for h in self.fallbacks[canonical] if h != header]
        stage_columns = {s: h for s, h in self.stage_columns.items() if h != header}
        label = self.period_label_column
        if canonical == "period_start" or label not in columns.values():
            label = None
        joined = {
            c: [h for h in hs if h != header]
            for c, hs in self.joined.items()
            if c != canonical and c in columns
        }
        return self._rebuilt(columns, fallbacks, stage_columns, label, joined)

    def with_period_label(self, header: str | None) -> Mapping:
        """A copy whose quota period comes from a label column (``2026-Q3``), or not (None)."""
        if self.table != "quotas":
            raise MappingError("Only a quotas file has a period label column.")
        if header is None:
            edited = self.with_column("period_start", None)
            return edited
        edited = self.with_column("period_start", header).with_column("period_end", None)
        return edited._rebuilt(
            dict(edited.columns),
            dict(edited.fallbacks),
            dict(edited.stage_columns),
            header,
            dict(edited.joined),
        )

    def _rebuilt(
        self,
        columns: dict[str, str],
        fallbacks: dict[str, list[str]],
        stage_columns: dict[str, str],
        label: str | None,
        joined: dict[str, list[str]] | None = None,
    ) -> Mapping:
        order = TABLES[self.table].column_names
        columns = {c: columns[c] for c in order if c in columns}
        fallbacks = {c: fallbacks[c] for c in order if fallbacks.get(c)}
        joined = {c: hs for c, hs in (joined or {}).items() if hs and c in columns}
        used = set(columns.values()) | {h for hs in fallbacks.values() for h in hs}
        used |= {h for hs in joined.values() for h in hs}
        used |= set(stage_columns.values())
        return dataclasses.replace(
            self,
            columns=columns,
            fallbacks=fallbacks,
            stage_columns=stage_columns,
            period_label_column=label,
            unmapped=[h for h in self.headers if h not in used],
            origin="edited",
            joined=joined,
        )

    # -- serialisation ---------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "columns": dict(self.columns),
            "unmapped": list(self.unmapped),
            "header_signature": self.header_signature,
            "stage_columns": dict(self.stage_columns),
            "confidence": self.confidence,
            "preset": self.preset,
            "fallbacks": {c: list(hs) for c, hs in self.fallbacks.items()},
            "period_label_column": self.period_label_column,
            "headers": list(self.headers),
            "origin": self.origin,
            "joined": {c: list(hs) for c, hs in self.joined.items()},
        }

    @classmethod
    def from_dict(cls, data: AbcMapping[str, Any]) -> Mapping:
        try:
            return cls(
                table=str(data["table"]),
                columns={str(k): str(v) for k, v in dict(data["columns"]).items()},
                unmapped=[str(h) for h in data.get("unmapped", [])],
                header_signature=str(data.get("header_signature", "")),
                stage_columns={
                    str(k): str(v) for k, v in dict(data.get("stage_columns", {})).items()
                },
                confidence=float(data.get("confidence", 0.0)),
                preset=data.get("preset"),
                fallbacks={
                    str(k): [str(h) for h in v] for k, v in dict(data.get("fallbacks", {})).items()
                },
                period_label_column=data.get("period_label_column"),
                headers=[str(h) for h in data.get("headers", [])],
                origin=str(data.get("origin", "recognised")),
                joined={
                    str(k): [str(h) for h in v] for k, v in dict(data.get("joined", {})).items()
                },
            )
        except (KeyError, TypeError, ValueError) as e:
            raise MappingError(f"A saved column mapping is not readable ({e}).") from e

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Mapping:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise MappingError(f"A saved column mapping is not valid JSON ({e}).") from e
        if not isinstance(data, dict):
            raise MappingError("A saved column mapping must be a JSON object.")
        return cls.from_dict(data)


# --------------------------------------------------------------------------------------------
# Recognition
# --------------------------------------------------------------------------------------------

_OTHER_OBJECT = "_other"  # a filename that names a CRM object with no canonical table


def _filename_words(filename: str) -> list[str]:
    stem = Path(filename).name
    stem = re.sub(r"(\.(csv|tsv|txt|xlsx|xls|parquet|gz|zip))+$", "", stem, flags=re.I)
    stem = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", stem)
    return [w for w in re.split(r"[^0-9a-z]+", stem.lower()) if w]


def filename_hint(filename: str | None) -> str | None:
    """The canonical table a file name suggests (``None`` when it says nothing).

    ``"_other"`` means the name is a CRM object with no canonical table (Account.csv,
    Contact.csv, OpportunityLineItem.csv), which lowers the confidence of any mapping.
    """
    if not filename:
        return None
    words = _filename_words(filename)
    joined = "".join(words)
    if any(c in joined for c in ("lineitem", "contactrole", "campaignmember", "fieldhistory")):
        return _OTHER_OBJECT
    if any(w.startswith("history") for w in words) or "stagehistory" in joined:
        return "stage_history"
    if any(w.startswith(("quota", "target")) for w in words):
        return "quotas"
    if any(w.startswith(("lead", "mql")) for w in words):
        return "leads"
    if any(
        w.startswith(("activit", "event", "task", "call", "meeting", "email", "engagement"))
        for w in words
    ):
        return "activities"
    reps_words = {"rep", "reps", "team", "teams", "user", "users", "staff", "agents", "roster"}
    if reps_words & set(words) or "salesteam" in joined:
        return "reps"
    if any(w.startswith(("opportunit", "deal", "pipeline", "opps")) for w in words):
        return "opportunities"
    if any(w.startswith(("account", "compan", "organi", "customer")) for w in words):
        return "accounts"
    if any(
        w.startswith(("contact", "campaign", "product", "dictionary", "pricebook")) for w in words
    ):
        return _OTHER_OBJECT
    return None


@dataclass
class _Candidate:
    table: str
    columns: dict[str, str]
    fallbacks: dict[str, list[str]]
    period_label: str | None
    weights: dict[str, float]  # canonical column -> evidence (1 strong, 0.5 generic header)
    joined: dict[str, list[str]] = field(default_factory=dict)


def _match_table(
    table: str, headers: Sequence[str], exclude: set[str], preset: str | None
) -> _Candidate:
    keys = [normalise_header(h) for h in headers]
    cols = TABLES[table].column_names
    syn = {c: _synonym_keys_for(table, c, preset) for c in cols}
    ranked: list[tuple[int, int, int]] = []
    for hi, k in enumerate(keys):
        if headers[hi] in exclude or not k:
            continue
        for ci, c in enumerate(cols):
            if k in syn[c]:
                ranked.append((syn[c].index(k), ci, hi))
    ranked.sort()
    columns: dict[str, str] = {}
    weights: dict[str, float] = {}
    used: set[str] = set()
    for _, ci, hi in ranked:
        c, h = cols[ci], headers[hi]
        if c in columns or h in used:
            continue
        columns[c] = h
        weights[c] = 0.5 if keys[hi] in _WEAK_KEYS else 1.0
        used.add(h)

    fallbacks: dict[str, list[str]] = {}
    for c, fkeys in _FALLBACK_KEYS.get(table, {}).items():
        found = [
            headers[hi]
            for k in fkeys
            for hi in range(len(headers))
            if keys[hi] == k and headers[hi] not in used and headers[hi] not in exclude
        ]
        found = list(dict.fromkeys(found))
        if not found:
            continue
        if c not in columns:
            columns[c] = found.pop(0)
            weights[c] = 1.0
        used.update(found)
        used.add(columns[c])
        if found:
            fallbacks[c] = found

    label: str | None = None
    if table == "quotas" and "period_start" not in columns:
        for k in _PERIOD_LABEL_KEYS:
            hits = [h for h, hk in zip(headers, keys, strict=True) if hk == k and h not in used]
            if hits:
                label = hits[0]
                columns["period_start"] = label
                # One column standing in for two counts as weaker evidence than two: a deal
                # export's FiscalQuarter must not make it look like a quotas file.
                weights["period_start"] = 1.0
                weights["period_end"] = 0.5
                break
    joined: dict[str, list[str]] = {}
    if "owner" in cols and "owner" not in columns and table in _NAMED_BY_PARTS:
        # A person named in two columns (Salesforce User.csv: FirstName, LastName).
        first = [h for h, k in zip(headers, keys, strict=True) if k == "firstname"]
        last = [h for h, k in zip(headers, keys, strict=True) if k == "lastname"]
        if first and last and first[0] not in used and last[0] not in used:
            columns["owner"], joined["owner"] = first[0], [last[0]]
            weights["owner"] = 0.5  # weak: leads and contacts are named so too
    columns = {c: columns[c] for c in cols if c in columns}
    return _Candidate(table, columns, fallbacks, label, weights, joined)


# Tables whose owner may be given as first and last name (a users file).
_NAMED_BY_PARTS = ("reps",)


def _stage_columns(headers: Sequence[str]) -> dict[str, str]:
    found: list[tuple[str, str]] = []
    patterns = crm.wide_stage_patterns()
    for h in headers:
        m = next((m for p in patterns if (m := p.match(h))), None)
        if m:
            found.append((m.group(1).strip(), h))
    if not found:
        return {}
    # HubSpot appends the pipeline to each stage: "Closed Won (Sales Pipeline)". When every
    # column carries such a suffix it is the pipeline, not part of the stage name; two
    # pipelines sharing a stage name keep the full text so neither column is lost.
    parts = [_TRAILING_PAREN.match(inner) for inner, _ in found]
    if all(parts):
        short = [p.group(1).strip() for p in parts if p]
        counts = {s: short.count(s) for s in short}
        names = [s if counts[s] == 1 else inner for s, (inner, _) in zip(short, found, strict=True)]
    else:
        names = [inner for inner, _ in found]
    out: dict[str, str] = {}
    for name, (_, h) in zip(names, found, strict=True):
        out.setdefault(name, h)
    return out


def detect_preset(headers: Sequence[str]) -> str | None:
    """Which CRM export style the headers look like (one of ``PRESETS``), if any."""
    return crm.detect(headers)


_DISTINCTIVE: dict[str, tuple[str, ...]] = {"accounts": ("industry", "employees", "annual_revenue")}


def _required_evidence(c: _Candidate) -> list[float]:
    """The evidence for each required column (an ``any_of`` group counts as one column: its
    best member)."""
    spec = TABLES[c.table]
    found = [c.weights.get(r, 0.0) for r in spec.required]
    if spec.any_of:
        found.append(max(c.weights.get(r, 0.0) for r in spec.any_of))
    return found


def _shares(c: _Candidate) -> tuple[float, float]:
    """(weighted share of required columns found, plain share of required columns found)."""
    found = _required_evidence(c)
    if not found:
        return 0.0, 0.0
    return sum(found) / len(found), sum(1 for f in found if f > 0) / len(found)


def _candidate_key(
    c: _Candidate, hint: str | None, style: str | None = None
) -> tuple[float, int, int]:
    spec = TABLES[c.table]
    evidence = _required_evidence(c)
    required = [*spec.required, *spec.any_of]
    found = sum(evidence)
    n_required = sum(1 for f in evidence if f > 0)
    # The evidence for the required columns, shrunk by one phantom missing column: without it a
    # table with one required column (reps: owner) would claim any file with a "Rep" header.
    # Optional columns add a little: a Salesforce Opportunity export matches a dozen.
    optional = sum(w for col, w in c.weights.items() if col not in required)
    # Columns only one table has say more than other optional ones (a company's industry,
    # employees and revenue: accounts, whose one key column is generic).
    distinctive = sum(c.weights.get(col, 0.0) for col in _DISTINCTIVE.get(c.table, ()))
    score = found / (len(evidence) + 1) + min(0.3, 0.03 * optional + 0.07 * distinctive)
    preset = crm.get(style)
    if preset is not None and preset.account_needs_name:
        if c.table == "accounts" and "account_name" not in c.columns:
            score = 0.0  # every Salesforce Account has a Name; a Lead's Company is no account
    if preset is not None and preset.filename_names_object and hint == c.table:
        # A Data Export file is named after its object, and every object has Id, OwnerId and
        # CreatedDate: the name says more than those generic headers (Account.csv).
        score += 0.1
    return (round(score, 6), n_required, int(hint == c.table))


def recognise(
    headers: Sequence[str], filename: str | None = None, table: str | None = None
) -> Mapping:
    """Propose a mapping for a file with these headers.

    The table is the one whose required columns the headers cover best (generic headers such
    as ``Id`` or ``Type`` count half), then the one with more required columns found, then the
    one the file name suggests, then the one with more optional columns. Pass ``table`` to
    force a table. Missing required columns do not raise: see :meth:`Mapping.missing_required`
    and :func:`closest_headers`.
    """
    headers = [str(h) for h in headers]
    if not any(h.strip() for h in headers):
        raise MappingError("The file has no header row, so its columns cannot be mapped.")
    if table is not None and table not in TABLES:
        raise UnknownName("table", table, TABLES)
    hint = filename_hint(filename)
    stage_cols = _stage_columns(headers)
    exclude = set(stage_cols.values())
    style = detect_preset(headers)
    candidates = [_match_table(t, headers, exclude, style) for t in TABLES]
    if table is not None:
        best = next(c for c in candidates if c.table == table)
    else:
        best = max(candidates, key=lambda c: _candidate_key(c, hint, style))

    strong, plain = _shares(best)
    if not best.columns:
        confidence = 0.0
    else:
        hint_term = 1.0 if hint == best.table else 0.5 if hint is None else 0.0
        confidence = 0.6 * plain + 0.3 * strong + 0.1 * hint_term
        if hint == _OTHER_OBJECT:
            confidence *= 0.5
    if best.table != "opportunities":
        stage_cols = {}
    used = set(best.columns.values()) | {h for hs in best.fallbacks.values() for h in hs}
    used |= set(stage_cols.values()) | {h for hs in best.joined.values() for h in hs}
    preset = style or (crm.fallback() if best.columns else None)
    return Mapping(
        table=best.table,
        columns=best.columns,
        unmapped=[h for h in headers if h not in used],
        header_signature=header_signature(headers),
        stage_columns=stage_cols,
        confidence=round(min(1.0, max(0.0, confidence)), 3),
        preset=preset,
        fallbacks=best.fallbacks,
        period_label_column=best.period_label,
        headers=headers,
        joined=best.joined,
    )


def closest_headers(
    mapping: Mapping, canonical_column: str, headers: Sequence[str] | None = None, n: int = 3
) -> list[str]:
    """Up to ``n`` headers that most resemble ``canonical_column`` (best first).

    For the message shown when a required column is missing: "missing owner; closest
    headers: ...". Compares normalised headers with the column's name and synonyms. By default
    the candidates are the file's headers the mapping does not already use.
    """
    table = TABLES[mapping.table]
    if canonical_column not in table.column_names:
        raise UnknownName(f"{mapping.table} column", canonical_column, table.column_names)
    if headers is None:
        used = mapping.used_headers()
        pool = [h for h in mapping.headers if h not in used]
    else:
        pool = list(headers)
    targets = _SYN_KEYS[mapping.table][canonical_column]
    scored: list[tuple[float, int, str]] = []
    for i, h in enumerate(dict.fromkeys(pool)):
        k = normalise_header(h)
        if not k:
            continue
        best = 0.0
        for t in targets:
            r = difflib.SequenceMatcher(None, k, t).ratio()
            if len(t) >= 4 and t in k:
                r = max(r, 0.75)
            best = max(best, r)
        if best >= 0.65:
            scored.append((-best, i, h))
    scored.sort()
    return [h for _, _, h in scored[:n]]


def describe_missing(mapping: Mapping) -> str:
    """A sentence naming each missing required column and the headers closest to it."""
    parts = []
    for c in mapping.missing_required():
        close = closest_headers(mapping, c)
        hint = f" (closest headers: {', '.join(repr(h) for h in close)})" if close else ""
        parts.append(f"{required_label(mapping.table, c)}{hint}")
    if not parts:
        return ""
    return f"This {mapping.table} file is missing required columns: " + "; ".join(parts) + "."


def required_label(table: str, column: str) -> str:
    """How a missing required column is named: ``account_id or account_name`` for a column
    that any of several alternatives satisfies."""
    alts = TABLES[table].any_of
    return " or ".join(alts) if column in alts else column


# --------------------------------------------------------------------------------------------
# HubSpot wide stage columns
# --------------------------------------------------------------------------------------------

WIDE_HISTORY_COLUMNS: tuple[str, ...] = ("opportunity_id", "stage", "entered_at", SOURCE_LINE)


def stage_history_from_wide(
    records: Sequence[AbcMapping[str, Any]] | pa.Table, mapping: Mapping, first_line: int = 2
) -> pa.Table:
    """Unpivot HubSpot ``Date entered "<stage>"`` columns into stage_history rows.

    One output row per non-empty stage cell: ``opportunity_id`` (from the mapped id header),
    ``stage`` (the stage name from ``mapping.stage_columns``), ``entered_at`` (the cell text,
    stripped, not parsed) and ``_line`` (the source line of the deal: the input's own ``_line``
    column when it has one, else ``first_line`` + the record's index). Rows follow the input
    order, stages the column order.
    """
    id_header = mapping.columns.get("opportunity_id")
    if mapping.stage_columns and id_header is None:
        raise MappingError(
            "The deal id column is not mapped, so the 'Date entered' stage columns cannot be "
            "turned into stage history."
        )
    out: dict[str, list[Any]] = {c: [] for c in WIDE_HISTORY_COLUMNS}
    if mapping.stage_columns and id_header is not None:
        wanted = [id_header, *mapping.stage_columns.values()]
        if isinstance(records, pa.Table):
            missing = [h for h in wanted if h not in records.column_names]
            if missing:
                raise MappingError(
                    "The file has no column " + ", ".join(repr(h) for h in missing) + "."
                )
            names = [*wanted, SOURCE_LINE] if SOURCE_LINE in records.column_names else wanted
            rows: Iterable[AbcMapping[str, Any]] = records.select(names).to_pylist()
        else:
            rows = records
        for i, row in enumerate(rows):
            line = row.get(SOURCE_LINE)
            line_no = int(line) if line is not None else first_line + i
            deal = row.get(id_header)
            for stage, header in mapping.stage_columns.items():
                cell = row.get(header)
                if cell is None:
                    continue
                text = str(cell).strip()
                if not text:
                    continue
                out["opportunity_id"].append(None if deal is None else str(deal))
                out["stage"].append(stage)
                out["entered_at"].append(text)
                out[SOURCE_LINE].append(line_no)
    schema = pa.schema(
        [
            ("opportunity_id", pa.string()),
            ("stage", pa.string()),
            ("entered_at", pa.string()),
            (SOURCE_LINE, pa.int64()),
        ]
    )
    return pa.table(out, schema=schema)


# --------------------------------------------------------------------------------------------
# Remembered mappings
# --------------------------------------------------------------------------------------------

_STORE_LOCK = threading.Lock()


class MappingStore:
    """Confirmed mappings in one JSON file, keyed by header signature.

    Writes go to a temporary file in the same directory and replace the store atomically, so a
    crash never leaves half a file; a read-modify-write holds an exclusive lock on a lock file
    beside it, so two processes saving at once both keep their mapping. An unreadable store
    is treated as empty (remembering is a convenience, never a reason to refuse an upload) and
    is replaced on the next save. The app keeps one store per person (:meth:`for_owner`), so
    one person's choices never become another's defaults.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    @classmethod
    def for_owner(cls, root: Path, owner_key: str) -> MappingStore:
        """The store of one person (``owner_key``: the workspace's keyed hash of who they are;
        hex, so it is safe as a file name)."""
        if not re.fullmatch(r"[0-9a-f]{16,128}", owner_key):
            owner_key = "shared"
        return cls(root / "mappings" / f"{owner_key}.json")

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with _STORE_LOCK:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(f"{self.path}.lock", "a") as fh:
                fcntl.flock(fh, fcntl.LOCK_EX)
                yield

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _write(self, data: dict[str, Any]) -> None:
        fd, tmp = tempfile.mkstemp(prefix=self.path.name + ".", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f, ensure_ascii=False, indent=1, sort_keys=True)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def save(self, mapping: Mapping) -> None:
        """Remember ``mapping`` for every later file with the same header signature."""
        with self._locked():
            data = self._read()
            data[mapping.header_signature] = mapping.to_dict()
            self._write(data)

    def load(self, signature: str) -> Mapping | None:
        """The mapping saved for ``signature``, or None (also when it no longer validates)."""
        raw = self._read().get(signature)  # the file is replaced whole: a read needs no lock
        if not isinstance(raw, dict):
            return None
        try:
            return Mapping.from_dict(raw)
        except MappingError:
            return None

    def forget(self, signature: str) -> None:
        with self._locked():
            data = self._read()
            if data.pop(signature, None) is not None:
                self._write(data)

    def signatures(self) -> list[str]:
        return sorted(self._read())


def _rebind(saved: Mapping, headers: Sequence[str]) -> Mapping | None:
    """``saved`` re-pointed at this file's spelling of the same headers (None if impossible)."""
    by_key: dict[str, str] = {}
    for h in headers:
        by_key.setdefault(normalise_header(h), h)

    def tr(h: str) -> str | None:
        return by_key.get(normalise_header(h))

    columns = {c: tr(h) for c, h in saved.columns.items()}
    fallbacks = {c: [tr(h) for h in hs] for c, hs in saved.fallbacks.items()}
    stage_columns = {s: tr(h) for s, h in saved.stage_columns.items()}
    label = tr(saved.period_label_column) if saved.period_label_column else None
    joined = {c: [tr(h) for h in hs] for c, hs in saved.joined.items()}
    values = [*columns.values(), *stage_columns.values()]
    values += [h for hs in fallbacks.values() for h in hs]
    values += [h for hs in joined.values() for h in hs]
    if any(v is None for v in values) or (saved.period_label_column and label is None):
        return None
    cols = {c: h for c, h in columns.items() if h is not None}
    fbs = {c: [h for h in hs if h is not None] for c, hs in fallbacks.items()}
    stages = {s: h for s, h in stage_columns.items() if h is not None}
    joins = {c: [h for h in hs if h is not None] for c, hs in joined.items()}
    used = set(cols.values()) | set(stages.values()) | {h for hs in fbs.values() for h in hs}
    used |= {h for hs in joins.values() for h in hs}
    try:
        return Mapping(
            table=saved.table,
            columns=cols,
            unmapped=[h for h in headers if h not in used],
            header_signature=header_signature(headers),
            stage_columns=stages,
            confidence=1.0,
            preset=saved.preset,
            fallbacks=fbs,
            period_label_column=label,
            headers=list(headers),
            origin="remembered",
            joined=joins,
        )
    except MappingError:
        return None


def rebind(saved: Mapping, headers: Sequence[str]) -> Mapping | None:
    """``saved`` re-pointed at a file with the same headers (another export of the same CRM),
    or None when a header it uses is missing."""
    return _rebind(saved, [str(h) for h in headers])


def apply_remembered(
    headers: Sequence[str], store: MappingStore, filename: str | None = None
) -> Mapping:
    """The mapping confirmed earlier for this header set, else :func:`recognise`'s proposal."""
    headers = [str(h) for h in headers]
    saved = store.load(header_signature(headers))
    if saved is not None:
        rebound = _rebind(saved, headers)
        if rebound is not None:
            return rebound
    return recognise(headers, filename)
