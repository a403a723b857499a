"""The metric catalog: every metric declared once, as data (``catalog.toml``).

The catalog is loaded and validated at import: every metric carries the template of
docs/metrics.md, The metric template (id, name, purpose, formula, numerator, denominator,
sources, cadence, tier, leading or lagging, unit, higher_is_better) and one of a closed set
of kinds. The glossary, the command line and the tests read :data:`CATALOG`;
:func:`get_metric` raises :class:`UnknownName` with suggestions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.core.canonical import TABLES
from engine.core.errors import UnknownName, WorkbenchError
from engine.semantic.model import MEASURES, RELATIONS, Measure, by_id, read_toml

CATALOG_PATH = Path(__file__).with_name("catalog.toml")

# The closed set of kinds. Generic kinds compile from the measures they name (model.toml);
# the others have one compiler each in ``engine.semantic.compile``, chosen by kind alone.
GENERIC_KINDS = ("measure", "ratio", "quantile", "growth")
# The aggregate a generic kind needs of its measure.
KIND_AGGS = {"measure": ("sum", "count"), "quantile": ("values",), "growth": ("count",)}
SPECIAL_KINDS = (
    "per_rep",
    "velocity",
    "quota",
    "stage_conversion",
    "time_in_stage",
    "aging",
    "stale",
    "forecast",
)
KINDS = GENERIC_KINDS + SPECIAL_KINDS

UNITS = ("currency", "count", "ratio", "number", "days", "hours", "multiple", "currency_per_day")
CADENCES = ("weekly", "monthly", "quarterly")
DIRECTIONS = ("leading", "lagging")
# The parts of a velocity metric: the measure of deals created and the metrics of its levers.
VELOCITY_PARTS = ("created", "win_rate", "deal_size", "cycle")
HEADLINES = ("mean", "median")

_TEMPLATE = (
    "id",
    "name",
    "purpose",
    "formula",
    "sources",
    "cadence",
    "tier",
    "direction",
    "unit",
    "higher_is_better",
    "kind",
)


@dataclass(frozen=True)
class Metric:
    """One catalog entry: the metric template (docs/metrics.md) plus what the engine needs."""

    id: str
    name: str
    purpose: str
    formula: str
    numerator: str
    denominator: str
    sources: tuple[str, ...]
    cadence: str
    tier: int
    direction: str
    unit: str
    higher_is_better: bool
    kind: str
    notes: str = ""
    # The measure of a generic kind (measure, quantile, growth), or the two a ratio divides.
    measure: Measure | None = None
    num: Measure | None = None
    den: Measure | None = None
    numerator_metric: str | None = None
    ramp: bool = False
    # quota kind: whose numerator counts, "quota_holders" (the owners with a quota) or
    # "all_owners" (pipeline coverage: all open pipeline of the group).
    numerator_scope: str = "quota_holders"
    # Duration metrics that honour the request's exclude_outliers (Tukey's fences).
    outliers: bool = False
    # velocity kind: VELOCITY_PARTS -> a measure id (created) or metric ids (the levers).
    parts: dict[str, str] = field(default_factory=dict)
    # Which statistic is the value of a quantile metric; the other sits beside it ("mean").
    headline: str = "mean"
    # growth kind: the date used instead of ``value_side.date`` when no row of the source
    # table has that date at all (a dataset-level choice, never row by row).
    date_fallback: str = ""
    # Rows that must exist for the value to mean anything, each "table" or "table WHERE
    # predicate" (catalog text, never user input); without them the value is null: no
    # activities loaded, activities per opportunity is unknown, not 0; no lost deal recorded,
    # a win rate would be 100% by construction.
    requires: tuple[str, ...] = ()
    # Why the value is null when a requirement is not met, in words.
    requires_note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def leading(self) -> bool:
        return self.direction == "leading"

    @property
    def is_duration(self) -> bool:
        return self.unit in ("days", "hours")

    @property
    def definition(self) -> str:
        """The full definition text the glossary shows."""
        parts = [f"{self.name} ({self.id}): {self.purpose}", f"Formula: {self.formula}."]
        if self.numerator:
            parts.append(f"Numerator: {self.numerator}.")
        if self.denominator:
            parts.append(f"Denominator: {self.denominator}.")
        parts.append(
            f"Sources: {', '.join(self.sources)}. Cadence: {self.cadence}. Tier {self.tier}, "
            f"{self.direction}. Unit: {self.unit}. "
            f"{'Higher' if self.higher_is_better else 'Lower'} is better."
        )
        if self.notes:
            parts.append(self.notes)
        return " ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        """The template fields as plain data (glossary table, JSON)."""
        return {
            "id": self.id,
            "name": self.name,
            "purpose": self.purpose,
            "formula": self.formula,
            "numerator": self.numerator,
            "denominator": self.denominator,
            "sources": list(self.sources),
            "cadence": self.cadence,
            "tier": self.tier,
            "direction": self.direction,
            "unit": self.unit,
            "higher_is_better": self.higher_is_better,
            "kind": self.kind,
            "headline": self.headline,
            "notes": self.notes,
        }


class CatalogError(WorkbenchError):
    """The catalog file itself is invalid (a developer error, reported clearly)."""

    title = "Invalid metric catalog"


def _named_measure(raw: dict[str, Any], key: str, mid: str) -> Measure:
    name = raw.get(key)
    if name not in MEASURES:
        raise CatalogError(f"Metric {mid!r}: {key} {name!r} is not a measure of model.toml.")
    return MEASURES[str(name)]


def required_table(requirement: str) -> str:
    """The table of a ``requires`` entry (``"opportunities WHERE NOT is_won"`` -> opportunities)."""
    return requirement.split(" WHERE ", 1)[0].strip()


def parse_metric(raw: dict[str, Any]) -> Metric:
    """Validate one raw catalog entry and build its :class:`Metric`."""
    mid = str(raw.get("id", "?"))
    missing = [k for k in _TEMPLATE if k not in raw]
    if missing:
        raise CatalogError(f"Metric {mid!r} lacks {', '.join(missing)}.")
    for text in ("name", "purpose", "formula"):
        if not str(raw[text]).strip():
            raise CatalogError(f"Metric {mid!r} has an empty {text}.")
    checks = (
        ("kind", KINDS),
        ("unit", UNITS),
        ("cadence", CADENCES),
        ("direction", DIRECTIONS),
    )
    for key, allowed in checks:
        if raw[key] not in allowed:
            raise CatalogError(f"Metric {mid!r}: {key} {raw[key]!r} is not one of {allowed}.")
    if raw["tier"] not in (1, 2, 3):
        raise CatalogError(f"Metric {mid!r}: tier must be 1, 2 or 3.")
    if not isinstance(raw["higher_is_better"], bool):
        raise CatalogError(f"Metric {mid!r}: higher_is_better must be true or false.")
    kind = raw["kind"]
    measure = num = den = None
    numerator, denominator = raw.get("numerator"), raw.get("denominator")
    formula = str(raw["formula"])
    if kind in KIND_AGGS:
        measure = _named_measure(raw, "measure", mid)
        if measure.agg not in KIND_AGGS[kind]:
            raise CatalogError(f"Metric {mid!r}: kind {kind} needs a {KIND_AGGS[kind]} measure.")
        if numerator is not None:
            raise CatalogError(f"Metric {mid!r}: its numerator is its measure's description.")
        numerator = measure.description
        denominator = "" if denominator is None else denominator
    elif kind == "ratio":
        num = _named_measure(raw, "numerator_measure", mid)
        den = _named_measure(raw, "denominator_measure", mid)
        if "values" in (num.agg, den.agg):
            raise CatalogError(f"Metric {mid!r}: a ratio divides two aggregates.")
        if numerator is not None or denominator is not None:
            raise CatalogError(
                f"Metric {mid!r}: a ratio's numerator and denominator are its measures'."
            )
        # The formula names the measures the SQL divides, so text and SQL cannot drift.
        if formula != f"{num.id} / {den.id}":
            raise CatalogError(f"Metric {mid!r}: a ratio's formula is '{num.id} / {den.id}'.")
        numerator, denominator = num.description, den.description
    if numerator is None or denominator is None:
        raise CatalogError(f"Metric {mid!r} lacks numerator or denominator.")
    if kind in ("quota", "per_rep") and raw.get("numerator_metric") is None:
        raise CatalogError(f"Metric {mid!r}: a {kind} metric names its numerator_metric.")
    scope = str(raw.get("numerator_scope", "quota_holders"))
    if scope not in ("quota_holders", "all_owners") or (
        "numerator_scope" in raw and kind != "quota"
    ):
        raise CatalogError(f"Metric {mid!r}: numerator_scope {scope!r} is not valid here.")
    parts = {str(k): str(v) for k, v in dict(raw.get("parts", {})).items()}
    if (kind == "velocity") != bool(parts) or (parts and set(parts) != set(VELOCITY_PARTS)):
        raise CatalogError(f"Metric {mid!r}: a velocity metric names parts {VELOCITY_PARTS}.")
    if parts and parts["created"] not in MEASURES:
        raise CatalogError(f"Metric {mid!r}: parts.created is not a measure.")
    outliers = raw.get("outliers", False)
    if not isinstance(outliers, bool) or (outliers and kind not in ("quantile", "time_in_stage")):
        raise CatalogError(f"Metric {mid!r}: outliers needs a duration kind.")
    known = set(_TEMPLATE) | {
        "notes",
        "numerator",
        "denominator",
        "measure",
        "numerator_measure",
        "denominator_measure",
        "numerator_metric",
        "numerator_scope",
        "outliers",
        "parts",
        "ramp",
        "headline",
        "requires",
        "requires_note",
        "date_fallback",
    }
    headline = str(raw.get("headline", "mean"))
    if headline not in HEADLINES or (headline != "mean" and kind != "quantile"):
        raise CatalogError(
            f"Metric {mid!r}: headline {headline!r} needs kind quantile and one of {HEADLINES}."
        )
    date_fallback = str(raw.get("date_fallback", ""))
    if date_fallback and (kind != "growth" or measure is None):
        raise CatalogError(f"Metric {mid!r}: date_fallback needs kind growth.")
    if measure is not None and date_fallback not in ("", *RELATIONS[measure.source].time):
        raise CatalogError(f"Metric {mid!r}: date_fallback is not a time column of its relation.")
    requires = tuple(str(t) for t in raw.get("requires", ()))
    if {required_table(r) for r in requires} - set(TABLES):
        raise CatalogError(f"Metric {mid!r}: requires {requires!r} names an unknown table.")
    extra = {k: v for k, v in raw.items() if k not in known}
    if extra:
        raise CatalogError(f"Metric {mid!r}: unknown keys {sorted(extra)}.")
    return Metric(
        id=mid,
        name=str(raw["name"]),
        purpose=str(raw["purpose"]),
        formula=formula,
        numerator=str(numerator),
        denominator=str(denominator),
        sources=tuple(raw["sources"]),
        cadence=str(raw["cadence"]),
        tier=int(raw["tier"]),
        direction=str(raw["direction"]),
        unit=str(raw["unit"]),
        higher_is_better=bool(raw["higher_is_better"]),
        kind=str(kind),
        notes=str(raw.get("notes", "")),
        measure=measure,
        num=num,
        den=den,
        numerator_metric=raw.get("numerator_metric"),
        ramp=bool(raw.get("ramp", False)),
        numerator_scope=scope,
        outliers=outliers,
        parts=parts,
        headline=headline,
        date_fallback=date_fallback,
        requires=requires,
        requires_note=str(raw.get("requires_note", "")),
    )


def load_catalog(path: Path = CATALOG_PATH) -> dict[str, Metric]:
    """Load and validate a catalog file; ids must be unique. That docs/metrics.md lists every
    metric is a test of the docs, so a new metric is one entry here."""
    raw = read_toml(path, CatalogError, "metric catalog")
    metrics = by_id(raw.get("metric", []), parse_metric, CatalogError, "Metric")
    for m in metrics.values():
        if m.numerator_metric and m.numerator_metric not in metrics:
            raise CatalogError(f"Metric {m.id!r}: unknown numerator_metric {m.numerator_metric!r}.")
        if m.numerator_metric and metrics[m.numerator_metric].kind != "measure":
            raise CatalogError(f"Metric {m.id!r}: numerator_metric must be of kind measure.")
        levers = {k: v for k, v in m.parts.items() if k != "created"}
        expected = {"win_rate": "ratio", "deal_size": "ratio", "cycle": "quantile"}
        for part, ref in levers.items():
            if ref not in metrics or metrics[ref].kind != expected[part]:
                raise CatalogError(
                    f"Metric {m.id!r}: parts.{part} must be a {expected[part]} metric."
                )
    return metrics


CATALOG: dict[str, Metric] = load_catalog()


def get_metric(metric_id: str) -> Metric:
    """The catalog entry for ``metric_id``; an unknown id raises with suggestions."""
    try:
        return CATALOG[metric_id]
    except KeyError:
        raise UnknownName("metric", metric_id, CATALOG) from None


def metric_ids() -> list[str]:
    """Every metric id, in catalog order."""
    return list(CATALOG)
