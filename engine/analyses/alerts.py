"""The alert rules of docs/metrics.md, Alerts, as functions returning findings.

Each rule takes the connection and a request and returns a list of :class:`Finding` (what,
who, how far off). :data:`RULES` lists them; :func:`run_alerts` runs them all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import duckdb

from engine.analyses.coaching import activity_vs_conversion
from engine.analyses.coverage import coming_period, coverage, not_ended, stale_deals
from engine.analyses.velocity import BEHIND_DAYS, behind_cycle
from engine.semantic.compute import clean, compute
from engine.semantic.request import Request

COVERAGE_MIN = 2.5
AGING_MAX = 0.20


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: str  # "warning" | "info"
    subject: str  # e.g. "team: SMB East", "deal: OPP-1", "owner: Ana"
    message: str
    value: float | None
    threshold: float | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def low_coverage(con: duckdb.DuckDBPyConnection, request: Request) -> list[Finding]:
    """Coverage below :data:`COVERAGE_MIN` for the coming period (the quarter after the as-of quarter), per team;
    nothing for a period that has already ended as of the dataset's as-of date."""
    req = request.with_(period="all")
    if not not_ended(coming_period(req), req.as_of):
        return []
    f = coverage(con, req, level="team").frame
    out = []
    for _, row in f[f["period"] == "next"].iterrows():
        v = clean(row["value"])
        if v is not None and v < COVERAGE_MIN:
            out.append(
                Finding(
                    "low_coverage",
                    "warning",
                    f"team: {clean(row['team']) or '(no team)'}",
                    f"Pipeline coverage for the coming period is {v:.2f}x, below {COVERAGE_MIN}x.",
                    v,
                    COVERAGE_MIN,
                )
            )
    return out


def high_aging(con: duckdb.DuckDBPyConnection, request: Request) -> list[Finding]:
    """Pipeline aging above :data:`AGING_MAX`."""
    v = compute(con, request.with_(metrics=("pipeline_aging",), by=(), grain=None)).value
    if v is None or v <= AGING_MAX:
        return []
    return [
        Finding(
            "pipeline_aging",
            "warning",
            "pipeline",
            f"{v:.0%} of open deals are older than {request.aging_multiple:g}x their stage "
            f"median (healthy below {AGING_MAX:.0%}).",
            v,
            AGING_MAX,
        )
    ]


def stale(con: duckdb.DuckDBPyConnection, request: Request) -> list[Finding]:
    """Every open deal over ``stale_days`` in its stage."""
    f = stale_deals(con, request).frame
    return [
        Finding(
            "stale_deal",
            "warning",
            f"deal: {r['opportunity_id']} ({r['owner']})",
            f"{r['stage']} for {int(r['days_in_stage'])} days (over {request.stale_days}).",
            float(r["days_in_stage"]),
            float(request.stale_days),
        )
        for _, r in f.iterrows()
    ]


def behind(
    con: duckdb.DuckDBPyConnection, request: Request, days: int = BEHIND_DAYS
) -> list[Finding]:
    """Open deals ``days`` (default :data:`BEHIND_DAYS`) or more behind the median cycle of
    their segment."""
    f = behind_cycle(con, request, days).frame
    return [
        Finding(
            "behind_cycle",
            "info",
            f"deal: {r['opportunity_id']} ({r['owner']})",
            f"Open {int(r['age_days'])} days, {int(r['days_behind'])} days past the "
            f"{clean(r['segment']) or 'unsegmented'} median cycle of {r['median_cycle']:.0f} days.",
            float(r["days_behind"]),
            float(days),
        )
        for _, r in f.iterrows()
    ]


def busy_not_converting(con: duckdb.DuckDBPyConnection, request: Request) -> list[Finding]:
    """Reps whose activity per opportunity is top-quartile while conversion is bottom-quartile."""
    f = activity_vs_conversion(con, request).frame
    return [
        Finding(
            "busy_not_converting",
            "warning",
            f"owner: {r['owner']}",
            f"{r['activities_per_opportunity']:.1f} activities per opportunity (median "
            f"{r['activity_median']:.1f}) but stage conversion {r['conversion']:.0%} "
            f"(median {r['conversion_median']:.0%}).",
            clean(r["conversion"]),
            clean(r["conversion_median"]),
        )
        for _, r in f[f["busy_not_converting"]].iterrows()
    ]


RULES: dict[str, Callable[[duckdb.DuckDBPyConnection, Request], list[Finding]]] = {
    "low_coverage": low_coverage,
    "pipeline_aging": high_aging,
    "stale_deal": stale,
    "behind_cycle": behind,
    "busy_not_converting": busy_not_converting,
}


def run_alerts(con: duckdb.DuckDBPyConnection, request: Request) -> list[Finding]:
    """Every rule's findings, warnings first."""
    out = [f for rule in RULES.values() for f in rule(con, request)]
    return sorted(out, key=lambda f: f.severity != "warning")
