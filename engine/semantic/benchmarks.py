"""Benchmark bands of docs/benchmarks.md, as data (a test checks the two agree).

These are external reference points, never targets; the app labels them so. Edit a copy:
``b = DEFAULT_BENCHMARKS.copy(); b.conversion[("lead", "sal")]["SMB"] = Band(0.2, 0.3, "ratio")``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

LABEL = "External reference point (published benchmark), not a target"


@dataclass(frozen=True)
class Band:
    low: float
    high: float
    unit: str

    def contains(self, value: float | None) -> bool | None:
        return None if value is None else self.low <= value <= self.high

    def position(self, value: float | None) -> str | None:
        """'below', 'within' or 'above' the band; None when the value is undefined."""
        if value is None:
            return None
        return "below" if value < self.low else "above" if value > self.high else "within"


def _r(lo: float, hi: float) -> Band:
    return Band(lo, hi, "ratio")


def _d(lo: float, hi: float) -> Band:
    return Band(lo, hi, "days")


@dataclass
class Benchmarks:
    """Conversion bands per transition and segment; time-in-stage bands per stage and segment
    (the stage being left); single reference points for the other metrics."""

    conversion: dict[tuple[str, str], dict[str, Band]] = field(default_factory=dict)
    time_in_stage: dict[str, dict[str, Band]] = field(default_factory=dict)
    reference: dict[str, Band] = field(default_factory=dict)
    label: str = LABEL

    def copy(self) -> Benchmarks:
        return copy.deepcopy(self)

    def conversion_band(self, frm: str, to: str, segment: str | None) -> Band | None:
        return self.conversion.get((frm, to), {}).get(segment or "")

    def stage_band(self, stage: str, segment: str | None) -> Band | None:
        return self.time_in_stage.get(stage, {}).get(segment or "")


# Mid-Market time in stage is given only as 15-60 days for every stage.
_MM = _d(15, 60)

DEFAULT_BENCHMARKS = Benchmarks(
    conversion={
        ("lead", "sal"): {
            "SMB": _r(0.15, 0.25),
            "Mid-Market": _r(0.12, 0.20),
            "Enterprise": _r(0.08, 0.15),
        },
        ("sal", "sql"): {
            "SMB": _r(0.50, 0.70),
            "Mid-Market": _r(0.45, 0.65),
            "Enterprise": _r(0.30, 0.50),
        },
        ("sql", "opportunity"): {
            "SMB": _r(0.30, 0.45),
            "Mid-Market": _r(0.25, 0.40),
            "Enterprise": _r(0.15, 0.25),
        },
        ("opportunity", "proposal"): {
            "SMB": _r(0.60, 0.80),
            "Mid-Market": _r(0.50, 0.70),
            "Enterprise": _r(0.40, 0.60),
        },
        ("proposal", "closed_won"): {
            "SMB": _r(0.25, 0.40),
            "Mid-Market": _r(0.20, 0.35),
            "Enterprise": _r(0.15, 0.30),
        },
    },
    time_in_stage={
        "lead": {"SMB": _d(3, 7), "Mid-Market": _MM, "Enterprise": _d(10, 20)},
        "sal": {"SMB": _d(5, 10), "Mid-Market": _MM, "Enterprise": _d(14, 30)},
        "sql": {"SMB": _d(7, 14), "Mid-Market": _MM, "Enterprise": _d(20, 45)},
        "opportunity": {"SMB": _d(10, 20), "Mid-Market": _MM, "Enterprise": _d(30, 60)},
        "proposal": {"SMB": _d(7, 14), "Mid-Market": _MM, "Enterprise": _d(45, 90)},
    },
    reference={
        "win_rate": _r(0.22, 0.35),
        "win_rate_median_b2b": _r(0.19, 0.19),
        "share_of_reps_at_quota": _r(0.57, 0.57),
        "sales_cycle_days": _d(90, 120),
        "sales_cycle_days_under_50k": _d(0, 60),
        "sales_cycle_days_over_100k": _d(0, 120),
        "forecast_accuracy": _r(0.75, 0.85),
        "pipeline_coverage": Band(3.0, 4.0, "multiple"),
        "pipeline_aging": _r(0.0, 0.20),
        "lead_response_hours": Band(0.0, 24.0, "hours"),
    },
)
