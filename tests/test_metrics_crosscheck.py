"""The SQL engine against the independent pandas implementation, on the sample dataset.

The engine reads the sample as the app loads it (``engine.load.pipeline`` via the ``sample_con``
fixture of ``conftest.py``); the pandas reference reads the raw CSVs on its own.
"""

from __future__ import annotations

import datetime as dt
import functools
import math

import pandas as pd
import pytest

from engine.load.samples import SAMPLE_DIR
from engine.semantic import compute, make_request, metric_ids
from tests.metrics_fixtures import SAMPLE_AS_OF
from tests.pandas_reference import read_frames, reference_from_frames

PERIODS = [
    ("all", None, None),
    ("2025", dt.date(2025, 1, 1), dt.date(2026, 1, 1)),
    ("2026-Q2", dt.date(2026, 4, 1), dt.date(2026, 7, 1)),
    ("2026-Q4", dt.date(2026, 10, 1), dt.date(2027, 1, 1)),
]


@functools.cache
def _frames() -> dict[str, pd.DataFrame]:
    return read_frames(SAMPLE_DIR)


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


@pytest.mark.parametrize("label,start,end", PERIODS)
def test_catalog_matches_pandas(sample_con, label, start, end):
    expected = reference_from_frames(_frames(), start, end, SAMPLE_AS_OF)
    res = compute(sample_con, make_request(metric_ids(), period=label, as_of=SAMPLE_AS_OF))
    got: dict[str, float | None] = {}
    for mid, r in res.parts.items():
        got[mid] = r.value
        for k, v in r.extras.items():
            got[f"{mid}.{k}"] = v
    diffs = {k: (got.get(k), v) for k, v in expected.items() if not _same(got.get(k), v)}
    assert not diffs
    # every catalog metric is cross-checked
    assert set(metric_ids()) <= set(expected)


def test_sample_has_data_for_every_metric(sample_con):
    # the cross-check is only meaningful if the sample defines every metric in some period
    vals = compute(
        sample_con, make_request(metric_ids(), period="2026-Q2", as_of=SAMPLE_AS_OF)
    ).values()
    assert all(v is not None for v in vals.values()), vals


def test_loader_rows_all_loaded(sample_con):
    # the committed sample is clean: every row of every file loads (4,000 deals; 21,559 history
    # rows = 21,560 lines of stage_history.csv - 1 header, since the leading-indicator plant)
    rows = dict(sample_con.sql("SELECT file, rows_loaded FROM _load_report").fetchall())
    assert rows["opportunities.csv"] == 4000
    assert rows["stage_history.csv"] == 21559


@pytest.mark.parametrize("label,start,end", PERIODS)
def test_cycle_metrics_without_outliers_match_pandas(sample_con, label, start, end):
    ids = ["sales_cycle_days", "time_in_stage_days"]
    expected = reference_from_frames(
        _frames(), start, end, SAMPLE_AS_OF, only=ids, exclude_outliers=True
    )
    res = compute(
        sample_con,
        make_request(ids, period=label, as_of=SAMPLE_AS_OF, exclude_outliers=True),
    )
    for mid in ids:
        part = res.parts[mid]
        assert _same(part.value, expected[mid]), mid
        assert _same(part.extras["median"], expected[f"{mid}.median"]), mid
    # the sample has long-tail cycles: the option must actually drop some in 'all'
    if label == "all":
        assert res.parts["sales_cycle_days"].extras["outliers_excluded"] > 0
