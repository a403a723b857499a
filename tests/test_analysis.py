"""Helpers of the analysis pages that are not catalog metrics."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from engine.analyses.velocity import complete_periods


def test_the_running_month_is_left_out_of_lever_moves() -> None:
    trend = pd.DataFrame(
        {"period_start": pd.to_datetime(["2026-09-01", "2026-10-01", "2026-11-01"]), "v": [1, 2, 3]}
    )
    # as of 2026-11-20 November is still running; as of 2026-11-30 it is complete
    assert complete_periods(trend, dt.date(2026, 11, 20), "month")["v"].tolist() == [1, 2]
    assert complete_periods(trend, dt.date(2026, 11, 30), "month")["v"].tolist() == [1, 2, 3]
    # a quarter that started 2026-10-01 runs to 2026-12-31
    quarters = trend.iloc[[1]]
    assert complete_periods(quarters, dt.date(2026, 12, 30), "quarter").empty
    assert len(complete_periods(quarters, dt.date(2026, 12, 31), "quarter")) == 1
    weeks = pd.DataFrame({"period_start": pd.to_datetime(["2026-11-09", "2026-11-16"])})
    # the week of 2026-11-16 ends 2026-11-22
    assert len(complete_periods(weeks, dt.date(2026, 11, 21), "week")) == 1
    assert len(complete_periods(weeks, dt.date(2026, 11, 22), "week")) == 2
