"""What one CRM export style is: the :class:`Preset` every module of ``engine.load.crm`` defines.

A preset says how to recognise the style from a file's header row, which header spellings it
adds per canonical table, its built-in stage map (if the CRM ships default stages) and its
quirks. ``engine.load.mapping`` and ``engine.load.stagemap`` read presets only through the registry in
``engine.load.crm`` (docs/data.md, Column mapping).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

# A trailing unit or qualifier in parentheses: "Probability (%)", "Amount (USD)",
# "Cumulative time in ... (HH:mm:ss)". Long parentheticals are kept: they carry meaning.
_UNIT_SUFFIX = re.compile(r"\s*\([^()]{0,12}\)\s*$")
_SF_CUSTOM_SUFFIX = re.compile(r"__c$", re.IGNORECASE)


def normalise_header(header: str) -> str:
    """The comparison key of a header.

    Case-insensitive; surrounding space, a BOM, a Salesforce ``__c`` suffix and a short
    trailing parenthetical such as ``(%)`` are dropped; spaces, underscores, hyphens, dots and
    any other punctuation vanish, so ``Close Date``, ``CloseDate``, ``close_date`` and
    ``close-date`` share the key ``closedate``.
    """
    s = header.replace("\ufeff", "").strip()
    s = _SF_CUSTOM_SUFFIX.sub("", s)
    s = _UNIT_SUFFIX.sub("", s)
    return "".join(ch for ch in s.casefold() if ch.isalnum())


def header_keys(spellings: Sequence[str]) -> frozenset[str]:
    """The normalised keys of ``spellings``."""
    return frozenset(normalise_header(s) for s in spellings)


def count_keys(headers: Sequence[str], keys: frozenset[str]) -> int:
    """How many distinct ``keys`` the headers have (compared normalised)."""
    return len({normalise_header(h) for h in headers} & keys)


# (stage name as the CRM shows it, canonical stage, default probability 0-100), funnel order.
StageRow = tuple[str, str, float]

# Synonyms a preset adds: table -> canonical column -> header spellings, read after the
# shared synonyms of engine.load.mapping.
Synonyms = Mapping[str, Mapping[str, tuple[str, ...]]]

# A preset's own synonym rule: (table, column, shared synonym keys) -> the keys to use.
SynonymRule = Callable[[str, str, tuple[str, ...]], tuple[str, ...]]


# The status vocabulary of a deal that is open, won or lost (Pipedrive's status column, and a
# spreadsheet's "Status"): value -> (is_closed, is_won), for ``Preset.status_outcomes``.
WON_LOST_OPEN: Mapping[str, tuple[bool, bool]] = MappingProxyType(
    {"won": (True, True), "lost": (True, False), "open": (False, False)}
)


def _no_rule(table: str, column: str, keys: tuple[str, ...]) -> tuple[str, ...]:
    return keys


def _never(headers: Sequence[str]) -> bool:
    return False


@dataclass(frozen=True)
class Preset:
    """One CRM export style.

    - ``id``: the name stored in a mapping (``Mapping.preset``); ``label``: for people.
    - ``detect(headers)``: true when the header row is in this style. Presets are tried in
      ``rank`` order (lowest first); the first that says yes is the file's style.
    - ``synonyms``: header spellings the style adds (table -> column -> spellings);
      ``synonym_rule``: how the style changes the synonym keys of a column (Salesforce Data
      Export reads a table's key only from ``Id``).
    - ``stage_map`` / ``stages``: the name of the built-in stage map the style uses and, in
      the preset that owns it, its rows. Several presets may share one map.
      ``stage_map_rank`` orders the built-in maps: on a tie in matching stage names, and with
      no preset to prefer, the lower rank wins.
    - ``wide_stage_columns``: a pattern for per-stage date columns (group 1: the stage name)
      that become stage_history rows.
    - ``null_id``: an id value that means "no record": the load reads it as empty in every id
      column of a file in this style.
    - ``status_outcomes``: what the values of a deal's status column mean, as (is_closed,
      is_won) per value (compared trimmed and lower-case); a file in this style decides
      closed and won from its status when it has no closed / won flags of its own.
    - ``account_needs_name``: an accounts file in this style always has a name column, so a
      file without one is not an accounts file.
    - ``filename_names_object``: the file name names the object (``Account.csv``) and counts
      for more than generic headers.
    - ``fallback``: the style of a file that maps but that no other preset recognises.
    """

    id: str
    label: str
    rank: int = 100
    detect: Callable[[Sequence[str]], bool] = _never
    synonyms: Synonyms = field(default_factory=lambda: MappingProxyType({}))
    synonym_rule: SynonymRule = _no_rule
    stage_map: str | None = None
    stages: tuple[StageRow, ...] = ()
    stage_map_rank: int = 100
    wide_stage_columns: re.Pattern[str] | None = None
    null_id: str | None = None
    status_outcomes: Mapping[str, tuple[bool, bool]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    account_needs_name: bool = False
    filename_names_object: bool = False
    fallback: bool = False
