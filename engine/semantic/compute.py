"""Run compiled metrics on a dataset connection and hand back results with their SQL.

:func:`compute` is the one entry point for catalog metrics. Each metric is one statement run
on its own cursor (the app calls from many threads). Undefined values come back as ``None``
(never 0, never an exception); DuckDB errors are wrapped in :class:`WorkbenchError`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pandas as pd

from engine.core.errors import WorkbenchError
from engine.semantic.compile import Compiled, compile_metric
from engine.semantic.request import Request, make_request
from engine.semantic.sql import STORED_TABLES


@dataclass
class Result:
    """A computed frame with the SQL and parameters that made it.

    ``value`` is the headline for a single metric without group-by or grain; ``extras`` holds
    the other columns of that single row (median, quartiles, numerator, levers...).
    ``parts`` holds the per-metric results when several metrics were computed.
    """

    frame: pd.DataFrame
    sql: str
    params: list[Any]
    value: float | None = None
    metric: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    parts: dict[str, Result] = field(default_factory=dict)

    def values(self) -> dict[str, float | None]:
        """Headline value per metric (single-row results only)."""
        if self.parts:
            return {k: r.value for k, r in self.parts.items()}
        return {self.metric or "value": self.value}


def clean(v: Any) -> Any:
    """NaN/NA -> None and numpy scalars -> Python numbers (JSON-safe)."""
    if v is None:
        return None
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        return v
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, pd.Timestamp):
        return v.date().isoformat()
    return v


def run_sql(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any]) -> pd.DataFrame:
    """Run one statement on a fresh cursor; driver errors become :class:`WorkbenchError`."""
    cur = con.cursor()
    try:
        return cur.execute(sql, list(params)).df()
    except duckdb.Error as e:
        raise WorkbenchError(f"The metric query failed: {e}", "Query failed") from e
    finally:
        cur.close()


def run_compiled(con: duckdb.DuckDBPyConnection, c: Compiled, single: bool) -> Result:
    frame = run_sql(con, c.sql, c.params)
    value: float | None = None
    extras: dict[str, Any] = {}
    if single and len(frame) == 1:
        row = {k: clean(v) for k, v in frame.iloc[0].items()}
        value = row.pop("value", None)
        extras = row
    return Result(frame, c.sql, c.params, value, c.metric, extras, list(c.notes))


def compute(
    con: duckdb.DuckDBPyConnection, request: Request | None = None, **kwargs: Any
) -> Result:
    """Compute the request's metrics.

    One metric: its frame (group keys, ``value`` and explaining columns). Several metrics: a
    long frame with a ``metric`` column (and the union of columns), with per-metric results in
    ``parts``. ``compute(con, metrics=[...], period=...)`` builds the request on the fly.
    """
    req = request if request is not None else make_request(**kwargs)
    single = not req.by and not req.grain
    stored = stored_tables(con)
    results = {
        mid: run_compiled(con, compile_metric(mid, req, stored), single) for mid in req.metrics
    }
    if len(results) == 1:
        return next(iter(results.values()))
    frames = [r.frame.assign(metric=mid) for mid, r in results.items()]
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if "metric" in frame.columns:
        frame = frame[["metric"] + [c for c in frame.columns if c != "metric"]]
    sql = "\n".join(f"-- metric: {mid}\n{r.sql}" for mid, r in results.items())
    params = [r.params for r in results.values()]
    notes = [n for r in results.values() for n in r.notes]
    return Result(frame, sql, params, None, None, {}, notes, results)


def stored_tables(con: duckdb.DuckDBPyConnection) -> frozenset[str]:
    """Which per-stage tables the dataset on ``con`` keeps (``engine/semantic/facts.py``)."""
    names = ", ".join(f"'{t}'" for t in STORED_TABLES)  # constants, not input
    rows = con.execute(
        f"SELECT table_name FROM duckdb_tables() WHERE NOT temporary AND table_name IN ({names})"
    ).fetchall()
    return frozenset(str(r[0]) for r in rows)


def run_built(con: duckdb.DuckDBPyConnection, q: Any, select: str) -> Result:
    """Run a statement assembled on an ``engine.semantic.sql.Sql`` builder."""
    sql = q.render(select)
    frame = run_sql(con, sql, q.params)
    return Result(frame, sql, list(q.params), notes=list(q.notes))
