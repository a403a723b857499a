"""The semantic model as data (``model.toml``): relations and the measures metrics name.

A relation is a set of rows the metrics read (deals, activities, leads, quotas), with the
columns that can place a row in a period, the dimensions it can be grouped by and the joins
those come from. A measure is one aggregate over one relation (which rows, which expression,
sum or count, or the row values of a distribution), declared once: the catalog's metrics name
measures instead of writing SQL, and a ratio names the two it divides
(docs/metrics.md, The semantic model). Loaded and validated at import.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from engine.core.canonical import TABLES
from engine.core.errors import WorkbenchError

MODEL_PATH = Path(__file__).with_name("model.toml")


class _Declared(Protocol):
    @property
    def id(self) -> str: ...


_T = TypeVar("_T", bound=_Declared)
AGGS = ("sum", "count", "values")


class ModelError(WorkbenchError):
    """The semantic model file is invalid (a developer error, reported clearly)."""

    title = "Invalid semantic model"


@dataclass(frozen=True)
class Join:
    to: str  # a canonical table
    on: str  # the column of the relation that keys it
    gives: tuple[str, ...]  # the dimensions it supplies


@dataclass(frozen=True)
class Relation:
    id: str
    table: str
    label: str
    time: tuple[str, ...]
    dimensions: tuple[str, ...]
    joins: tuple[Join, ...]


@dataclass(frozen=True)
class Measure:
    """One aggregate of one relation. ``source`` is the relation's id and ``date`` the time
    column that places a row in a period."""

    id: str
    source: str
    date: str
    where: str
    agg: str
    expr: str
    description: str

    def sql(self) -> str:
        """The aggregate over the measure's rows (``sum(amount)``, ``count(*)``); a
        distribution (``values``) has no single aggregate."""
        if self.agg == "values":
            raise ValueError(f"measure {self.id!r} is a distribution, not an aggregate")
        return f"{self.agg}({self.expr})"

    def n_sql(self) -> str:
        """How many rows the aggregate is over (a sum of amounts counts the known amounts)."""
        return f"count({self.expr})"


@dataclass(frozen=True)
class Model:
    dimensions: tuple[str, ...]
    relations: dict[str, Relation]
    measures: dict[str, Measure]


def _relation(raw: dict[str, Any], dimensions: tuple[str, ...]) -> Relation:
    rid = str(raw.get("id", "?"))
    table = str(raw.get("table", ""))
    if table not in TABLES:
        raise ModelError(f"Relation {rid!r}: unknown table {table!r}.")
    columns = {c.name for c in TABLES[table].columns}
    time = tuple(str(t) for t in raw.get("time", ()))
    dims = tuple(str(d) for d in raw.get("dimensions", ()))
    bad = [t for t in time if t not in columns] + [d for d in dims if d not in dimensions]
    if bad or not time:
        raise ModelError(f"Relation {rid!r}: time/dimensions {bad or 'missing'} are not valid.")
    joins = []
    for j in raw.get("joins", ()):
        to, on = str(j.get("to")), str(j.get("on"))
        gives = tuple(str(g) for g in j.get("gives", ()))
        if to not in TABLES or on not in columns or not set(gives) <= set(dims):
            raise ModelError(f"Relation {rid!r}: join {j!r} is not valid.")
        joins.append(Join(to, on, gives))
    return Relation(rid, table, str(raw.get("label", table)), time, dims, tuple(joins))


def _measure(raw: dict[str, Any], relations: dict[str, Relation]) -> Measure:
    mid = str(raw.get("id", "?"))
    rel = relations.get(str(raw.get("relation")))
    if rel is None:
        raise ModelError(f"Measure {mid!r}: unknown relation {raw.get('relation')!r}.")
    time = str(raw.get("time", ""))
    if time not in rel.time:
        raise ModelError(f"Measure {mid!r}: time {time!r} is not one of {rel.time}.")
    agg = str(raw.get("agg", ""))
    if agg not in AGGS:
        raise ModelError(f"Measure {mid!r}: agg {agg!r} is not one of {AGGS}.")
    expr = str(raw.get("expr", "*"))
    if agg != "count" and expr == "*":
        raise ModelError(f"Measure {mid!r}: agg {agg} needs an expr.")
    description = str(raw.get("description", "")).strip()
    if not description:
        raise ModelError(f"Measure {mid!r} needs a description.")
    known = {"id", "relation", "time", "where", "agg", "expr", "description"}
    if set(raw) - known:
        raise ModelError(f"Measure {mid!r}: unknown keys {sorted(set(raw) - known)}.")
    return Measure(mid, rel.id, time, str(raw.get("where", "TRUE")), agg, expr, description)


def read_toml(path: Path, error: type[WorkbenchError], what: str) -> dict[str, Any]:
    """A declaration file of the semantic layer, or ``error`` saying why it cannot be read."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise error(f"Cannot read the {what} {path}: {e}") from e


def by_id(
    entries: Iterable[dict[str, Any]],
    parse: Callable[[dict[str, Any]], _T],
    error: type[WorkbenchError],
    kind: str,
) -> dict[str, _T]:
    """Each entry parsed, keyed by its id; an id declared twice raises ``error``."""
    out: dict[str, _T] = {}
    for entry in entries:
        item = parse(entry)
        key = item.id
        if key in out:
            raise error(f"{kind} {key!r} is declared twice.")
        out[key] = item
    return out


def load_model(path: Path = MODEL_PATH) -> Model:
    raw = read_toml(path, ModelError, "semantic model")
    dimensions = tuple(str(d) for d in raw.get("dimensions", ()))
    if not dimensions or len(set(dimensions)) != len(dimensions):
        raise ModelError("The model lists its dimensions once each.")
    relations = by_id(
        raw.get("relation", []), lambda e: _relation(e, dimensions), ModelError, "Relation"
    )
    measures = by_id(
        raw.get("measure", []), lambda e: _measure(e, relations), ModelError, "Measure"
    )
    return Model(dimensions, relations, measures)


MODEL: Model = load_model()
RELATIONS = MODEL.relations
MEASURES = MODEL.measures
# Every dimension a request may group or filter by (the allow-list of identifiers).
DIMENSIONS = MODEL.dimensions
