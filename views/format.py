"""Display helpers for the analysis pages: metric values that never read "nan", table column
labels and number formats, and a chart that gives way to one clear message when it has no data.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from engine.core.units import format_value
from views import common

LABELS = {
    "from_stage": "From stage",
    "to_stage": "To stage",
    "reached_from": "Reached stage (deals)",
    "reached_to": "Reached next (deals)",
    "rate": "Conversion",
    "band_low": "Benchmark low",
    "band_high": "Benchmark high",
    "p25": "25th percentile",
    "p75": "75th percentile",
    "n": "Count",
    "share_at_or_above_100": "Share at or above 100%",
    "period_start": "Period start",
    "period_end": "Period end (excl.)",
    "lead_source": "Lead source",
    "owner": "Rep",
    "opportunity_id": "Opportunity ID",
    "opportunity_name": "Opportunity",
    "open_after": "Still open",
    "stage_canonical": "Stage (canonical)",
    "ramp_adjusted_attainment": "Ramp-adjusted attainment",
    "peer_median": "Peer median",
    "why_no_total": "Why no total",
}
PERCENT = {
    "rate",
    "win_rate",
    "share_at_or_above_100",
    "stage_conversion",
    "quota_attainment",
    "ramp_adjusted_attainment",
    "opportunity_to_proposal",
    "proposal_to_closed_won",
    "opportunity_to_closed_won",
    "conversion",
    "conversion_median",
}
DOLLARS = {
    "amount",
    "avg_deal_size",
    "open_pipeline",
    "weighted_pipeline",
    "pipeline_created",
}
DAYS = {"age_days", "days_in_stage", "median_cycle", "days_behind", "sales_cycle_days"}
DATES = {"period_start", "period_end", "created_date", "close_date", "close_month", "cohort"}


def missing(value: object) -> bool:
    """True for None and NaN (a ratio with no denominator comes back as either)."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def value(raw: object, unit: str) -> str:
    """A metric card value: "n/a" for a missing number, never "nan" or "None"."""
    return "n/a" if missing(raw) else format_value(float(raw), unit)  # type: ignore[arg-type]


def _label(column: str) -> str:
    return LABELS.get(column, column.replace("_", " ").capitalize())


def columns(frame: pd.DataFrame, **kinds: str) -> dict[str, Any]:
    """column_config for ``st.dataframe``: readable headers and number formats. ``kinds`` maps a
    column to "percent", "dollar", "days", "count", "ratio" or "decimal" where its name is not
    enough (``value`` means a different thing in every table), optionally with a header after a
    colon ("dollar:Quota")."""
    config: dict[str, Any] = {}
    for col in frame.columns:
        kind, _, header = kinds.get(col, "").partition(":")
        kind = kind or (
            "percent"
            if col in PERCENT or col.startswith("band_") and frame[col].max(skipna=True) <= 1
            else "dollar"
            if col in DOLLARS
            else "days"
            if col in DAYS
            else "date"
            if col in DATES
            else None
        )
        label = header or _label(col)
        if kind == "percent":
            config[col] = st.column_config.NumberColumn(label, format="percent")
        elif kind == "dollar":
            config[col] = st.column_config.NumberColumn(label, format="dollar")
        elif kind == "days":
            config[col] = st.column_config.NumberColumn(label, format="%.1f d")
        elif kind == "ratio":
            config[col] = st.column_config.NumberColumn(label, format="%.2fx")
        elif kind == "decimal":
            config[col] = st.column_config.NumberColumn(label, format="%.2f")
        elif kind == "date":
            config[col] = st.column_config.DateColumn(label, format="YYYY-MM-DD")
        elif kind == "count" or pd.api.types.is_numeric_dtype(frame[col].dtype):
            is_bool = pd.api.types.is_bool_dtype(frame[col].dtype)
            config[col] = (
                label if is_bool else st.column_config.NumberColumn(label, format="localized")
            )
        else:
            config[col] = label
    return config


def table(frame: pd.DataFrame, name: str, key: str, **kinds: str) -> None:
    """A page table with readable headers, formatted numbers and blank missing cells."""
    common.table(frame, name, key, column_config=columns(frame, **kinds), placeholder="")


def drop_empty(frame: pd.DataFrame, keep: tuple[str, ...] = ()) -> tuple[pd.DataFrame, list[str]]:
    """The frame without its columns that hold no value at all (a metric the data cannot
    give), and their names, so the page can say why instead of showing empty columns."""
    empty = [c for c in frame.columns if c not in keep and not frame[c].notna().any()]
    return frame.drop(columns=empty), empty


def has_data(frame: pd.DataFrame, field: str) -> bool:
    """True when ``field`` holds at least one number to plot."""
    return field in frame.columns and bool(frame[field].notna().any())


NOTHING = "Nothing to chart for this period and filter."
# What would fill a chart cut by a dimension the data does not have.
FILL_DIM = {
    "segment": "Add a segment column or an accounts file to see this by segment.",
    "team": "Add a reps file with a team column to see this by team.",
    "lead_source": "Add a lead source column to see this by lead source.",
    "region": "Add a region column or a reps file with regions to see this by region.",
}


def no_dimension(frame: pd.DataFrame, dim: str) -> bool:
    """True when every row of ``frame`` has an empty ``dim``: a chart of it would be a single
    "(no segment)" bar."""
    return dim in frame.columns and len(frame) > 0 and not frame[dim].notna().any()


def chart_or_empty(
    frame: pd.DataFrame,
    field: str,
    build: Callable[[pd.DataFrame], alt.TopLevelMixin],
    name: str,
    key: str,
    empty: str = NOTHING,
    dim: str | None = None,
) -> None:
    """The chart, or (when ``field`` has no value to plot) the one message that says why. With
    ``dim``, a frame whose ``dim`` is empty on every row gives the word on what would fill it
    instead of a single "(no segment)" bar."""
    if dim and no_dimension(frame, dim):
        st.info(
            FILL_DIM.get(dim, f"Add a {dim} column to see this by {dim}."), icon=":material/info:"
        )
    elif has_data(frame, field):
        common.chart(build(frame), name, key)
    else:
        st.info(empty, icon=":material/info:")


def period_text(label: str) -> str:
    """A half-open period label ("2026-07-01..2026-10-01") as inclusive dates people read."""
    start, sep, end = label.partition("..")
    try:
        first, last = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
    except ValueError:
        return label
    last -= dt.timedelta(days=1)
    return f"{first:%-d %b %Y} – {last:%-d %b %Y}" if sep else label


def metric(
    col: Any, label: str, raw: object, unit: str, note: str | None = None, **help_: str | None
) -> None:
    """A metric card whose ``note`` (a benchmark, a sample size) is a grey tag, not a trend
    arrow; ``help_`` takes ``about`` (the definition) and ``why_na``: when the value is missing,
    the reason takes the tag's place, so "n/a" is never shown without its why."""
    why_na = help_.get("why_na")
    if missing(raw) and why_na:
        note = why_na.removeprefix("n/a: ")
    col.metric(
        label,
        value(raw, unit),
        note,
        delta_color="off",
        delta_arrow="off",
        help=help_.get("about") or why_na,
    )


def money_short(raw: object) -> str:
    """An amount in the deals' currency, short: $1.2M, $300K, $950; "n/a" when missing."""
    if missing(raw):
        return "n/a"
    v = float(raw)  # type: ignore[arg-type]
    sign, v = ("-" if v < 0 else ""), abs(v)
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if v >= limit:
            text = f"{v / limit:.1f}".removesuffix(".0")
            return f"{sign}${text}{suffix}"
    return f"{sign}${v:,.0f}"
