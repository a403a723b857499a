"""Units, formatted in one place: the pages, the command line and the data-quality report all
write a metric's value through :func:`format_value`."""

from __future__ import annotations


def format_value(value: float | None, unit: str) -> str:
    """A metric value as people read it: $1,234, 22.7%, 3.4x, 41.0 days; "n/a" for a
    missing value (None or NaN), never "nan"."""
    if value is None or value != value:
        return "n/a"
    if unit in ("currency", "currency_per_day"):
        return f"${value:,.0f}" + ("/day" if unit == "currency_per_day" else "")
    if unit == "ratio":
        return f"{value:.1%}"
    if unit == "multiple":
        return f"{value:.2f}x"
    if unit in ("days", "hours"):
        return f"{value:,.1f} {unit}"
    return f"{value:,.0f}"
