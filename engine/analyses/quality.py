"""Data-quality queries over one dataset: what the rules found and what it costs.

Everything the Data quality page shows comes from here, read from the bookkeeping tables of
``engine.core.layout`` (``_load_report``, ``_quarantine``, ``_warnings``) and the ``_flagged``
column of the canonical tables:

- :func:`rules_fired`: every rule that fired, its severity, rows, share of the table's rows and
  example lines (quarantine stores each reason's message and its rule id side by side).
- :func:`quarantined_rows`, :func:`flagged_rows`: the rows themselves, for download.
- :func:`reconciliation`: rows in = loaded + quarantined, per file.
- :func:`quality_scores`: a 0-100 score per table (see :data:`SCORE_RULE`).
- :func:`headline_impact`: headline metrics with and without flagged rows.
- :func:`dataset_profile`: filter values and period labels present in the dataset (defined in
  ``engine/semantic/profile.py``, read here too).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pandas as pd

from engine.core.canonical import TABLES
from engine.core.layout import flagged_per_file
from engine.semantic.profile import Profile, dataset_profile, period_labels
from schemas.rules import RULES

__all__ = ["Profile", "dataset_profile", "period_labels"]  # re-exported: the report's own

SCORE_RULE = (
    "Score = 100 x (rows in - quarantined - 0.5 x flagged) / rows in: a quarantined row costs a "
    "full point of the share, a row loaded with a warning half a point."
)
HEADLINE = (
    "won_revenue",
    "won_deals",
    "win_rate",
    "avg_deal_size",
    "pipeline_created",
    "open_pipeline",
    "sales_cycle_days",
)


def severity_of(rule: str) -> str:
    return RULES[rule].severity


def description_of(rule: str) -> str:
    return RULES[rule].description


def _rows_in(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    rows = con.execute(
        "SELECT table_name, sum(rows_in)::BIGINT FROM _load_report GROUP BY table_name"
    ).fetchall()
    return {str(t): int(n) for t, n in rows}


def rules_fired(con: duckdb.DuckDBPyConnection, examples: int = 3) -> pd.DataFrame:
    """One row per (table, rule) that fired: severity, rows, share, example lines."""
    totals = _rows_in(con)
    found = con.execute(
        """WITH hits AS (
            SELECT table_name, unnest(rules) AS rule, file, line FROM _quarantine
            UNION
            SELECT table_name, rule, file, line FROM _warnings
        )
        SELECT table_name, rule, count(*) AS n,
               list(file || ' line ' || line ORDER BY file, line)[1:?] AS examples
        FROM hits GROUP BY table_name, rule""",
        [examples],
    ).fetchall()
    records = [
        {
            "table": str(table),
            "rule": str(rule),
            "severity": severity_of(str(rule)),
            "description": description_of(str(rule)),
            "rows": int(n),
            "share": int(n) / totals[table] if totals.get(table) else 0.0,
            "examples": ", ".join(where),
        }
        for table, rule, n, where in found
    ]
    columns = ["table", "rule", "severity", "description", "rows", "share", "examples"]
    frame = pd.DataFrame.from_records(records, columns=columns)
    if frame.empty:
        return frame.astype({"rows": "int64", "share": "float64"})
    order = {"error": 0, "warning": 1}
    frame["_sev"] = frame["severity"].map(order)
    frame = frame.sort_values(
        ["_sev", "rows", "table", "rule"], ascending=[True, False, True, True]
    )
    return frame.drop(columns="_sev").reset_index(drop=True)


def quarantined_rows(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Every quarantined row: file, table, line, rules, reasons and its original values."""
    rows = con.execute(
        "SELECT file, table_name, line, reasons, CAST(original AS VARCHAR), rules "
        "FROM _quarantine ORDER BY file, line"
    ).fetchall()
    records = [
        {
            "file": file,
            "table": table,
            "line": int(line),
            "rules": ", ".join(dict.fromkeys(str(r) for r in rules or [])),
            "reasons": "; ".join(str(r) for r in reasons or []),
            "original": original,
        }
        for file, table, line, reasons, original, rules in rows
    ]
    columns = ["file", "table", "line", "rules", "reasons", "original"]
    return pd.DataFrame.from_records(records, columns=columns)


def flagged_rows(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Every row that loaded with a warning: file, table, line, rules, messages, values."""
    parts = []
    for table in TABLES:
        parts.append(
            con.execute(
                f"""
                SELECT w.file, w.table_name AS "table", w.line,
                       string_agg(DISTINCT w.rule, ', ' ORDER BY w.rule) AS rules,
                       string_agg(w.message, '; ' ORDER BY w.rule) AS messages,
                       any_value(CAST(to_json(t) AS VARCHAR)) AS "values"
                FROM _warnings w
                LEFT JOIN "{table}" t ON t._file = w.file AND t._line = w.line
                WHERE w.table_name = ?
                GROUP BY w.file, w.table_name, w.line
                """,
                [table],
            ).df()
        )
    frame = pd.concat(parts, ignore_index=True)
    frame["values"] = frame["values"].map(_drop_provenance, na_action="ignore")
    return frame.sort_values(["file", "line"]).reset_index(drop=True)


def _drop_provenance(text: str) -> str:
    obj = json.loads(text)
    return json.dumps({k: v for k, v in obj.items() if not k.startswith("_")}, ensure_ascii=False)


def reconciliation(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """One line per file: rows in, loaded, quarantined, whether in = loaded + quarantined, and
    the rows flagged against the warnings fired (one per rule per row)."""
    frame = con.execute(
        """
        SELECT file, table_name AS "table", rows_in, rows_loaded AS loaded,
               rows_quarantined AS quarantined,
               rows_in = rows_loaded + rows_quarantined AS balanced, warnings
        FROM _load_report ORDER BY file
        """
    ).df()
    flagged = flagged_per_file(con)
    frame["flagged"] = [flagged.get(f, 0) for f in frame["file"]]
    frame["warnings"] = [sum(json.loads(w or "{}").values()) for w in frame["warnings"]]
    return frame


def reconciliation_line(row: dict[str, Any]) -> str:
    """``deals.csv (opportunities): 1,000 in = 990 loaded + 10 quarantined; 40 rows flagged by
    52 warnings`` (or the mismatch)."""
    sign = "=" if row["balanced"] else "≠"
    line = (
        f"{row['file']} ({row['table']}): {row['rows_in']:,} in {sign} "
        f"{row['loaded']:,} loaded + {row['quarantined']:,} quarantined"
    )
    if row["warnings"]:
        rows = "row" if row["flagged"] == 1 else "rows"
        warnings = "warning" if row["warnings"] == 1 else "warnings"
        line += f"; {row['flagged']:,} {rows} flagged by {row['warnings']:,} {warnings}"
    return line


def quality_scores(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Per table: rows in, loaded, quarantined, flagged and the score of :data:`SCORE_RULE`."""
    report = con.execute(
        "SELECT table_name, sum(rows_in)::BIGINT, sum(rows_loaded)::BIGINT, "
        "sum(rows_quarantined)::BIGINT FROM _load_report GROUP BY table_name"
    ).fetchall()
    records = []
    for table, rows_in, loaded, quarantined in sorted(report):
        if table not in TABLES:
            continue
        flagged = con.execute(f'SELECT count(*) FROM "{table}" WHERE _flagged').fetchone()
        n_flagged = int(flagged[0]) if flagged else 0
        score = 100.0 * (rows_in - quarantined - 0.5 * n_flagged) / rows_in if rows_in else 100.0
        records.append(
            {
                "table": table,
                "rows_in": int(rows_in),
                "loaded": int(loaded),
                "quarantined": int(quarantined),
                "flagged": n_flagged,
                "score": round(score, 1),
            }
        )
    columns = ["table", "rows_in", "loaded", "quarantined", "flagged", "score"]
    return pd.DataFrame.from_records(records, columns=columns)


# --- headline metrics with and without flagged rows ---------------------------------------
@dataclass(frozen=True)
class Impact:
    frame: pd.DataFrame
    sql: dict[str, str] = field(default_factory=dict)


Compute = Callable[..., Any]


def headline_impact(
    con: duckdb.DuckDBPyConnection,
    period: str = "all",
    filters: dict[str, Sequence[str]] | None = None,
    as_of: dt.date | None = None,
    metrics: Sequence[str] = HEADLINE,
) -> Impact:
    """Each headline metric computed on all loaded rows and without the flagged ones."""
    from engine.semantic import compute, make_request
    from engine.semantic.catalog import get_metric

    records = []
    sql: dict[str, str] = {}
    for mid in metrics:
        metric = get_metric(mid)
        values = []
        for exclude in (False, True):
            request = make_request(
                [mid], period=period, filters=filters or {}, as_of=as_of, exclude_flagged=exclude
            )
            result = compute(con, request)
            values.append(_scalar(getattr(result, "value", None)))
            if not exclude:
                sql[mid] = str(getattr(result, "sql", ""))
        with_flagged, without = values
        diff = None if with_flagged is None or without is None else without - with_flagged
        share = diff / with_flagged if diff is not None and with_flagged else None
        records.append(
            {
                "metric": metric.name,
                "id": mid,
                "unit": metric.unit,
                "with flagged rows": with_flagged,
                "without flagged rows": without,
                "difference": diff,
                "difference %": share,
                "why n/a": _why_na(con, mid, with_flagged, without),
            }
        )
    return Impact(pd.DataFrame.from_records(records), sql)


def _why_na(
    con: duckdb.DuckDBPyConnection, mid: str, with_flagged: float | None, without: float | None
) -> str:
    """Why a side of the impact is n/a ("" when both sides have a value)."""
    if with_flagged is not None and without is not None:
        return ""
    if with_flagged is not None:
        return "without flagged rows: every row behind this number is flagged"
    from engine.semantic.catalog import get_metric
    from engine.semantic.compile import unmet_requirement

    unmet = unmet_requirement(con, get_metric(mid))
    if unmet:
        return unmet
    if mid == "sales_cycle_days":
        row = con.execute(
            "SELECT count(*) FILTER (WHERE is_won), "
            "count(*) FILTER (WHERE is_won AND close_date < created_date) FROM opportunities"
        ).fetchone()
        won, before = (int(row[0] or 0), int(row[1] or 0)) if row else (0, 0)
        if won and before == won:
            return (
                f"all {won:,} won deals close before their created date (close_before_created), "
                "so no cycle can be measured"
            )
        if won:
            return "no won deal in this period has both a created and a close date in order"
        return "no won deal in this period"
    return "no rows for this metric in this period"


def _scalar(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, dict):
        value = next(iter(value.values()), None)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if number != number else number
