"""The SQL engine against the independent pandas implementation, on the sample dataset."""

from __future__ import annotations

import datetime as dt
import math

import pytest
from metrics_fixtures import SAMPLE_AS_OF, sample_con
from pandas_reference import reference

from engine.metrics import compute, make_request, metric_ids

PERIODS = [
    ("all", None, None),
    ("2025", dt.date(2025, 1, 1), dt.date(2026, 1, 1)),
    ("2026-Q2", dt.date(2026, 4, 1), dt.date(2026, 7, 1)),
    ("2026-Q4", dt.date(2026, 10, 1), dt.date(2027, 1, 1)),
]


@pytest.fixture(scope="module")
def con():
    return sample_con()


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


@pytest.mark.parametrize("label,start,end", PERIODS)
def test_catalog_matches_pandas(con, label, start, end):
    as_of = dt.date.fromisoformat(SAMPLE_AS_OF)
    expected = reference(con, start, end, as_of)
    res = compute(con, make_request(metric_ids(), period=label, as_of=as_of))
    got: dict[str, float | None] = {}
    for mid, r in res.parts.items():
        got[mid] = r.value
        for k, v in r.extras.items():
            got[f"{mid}.{k}"] = v
    diffs = {k: (got.get(k), v) for k, v in expected.items() if not _same(got.get(k), v)}
    assert not diffs
    # every catalog metric is cross-checked
    assert set(metric_ids()) <= set(expected)


def test_sample_has_data_for_every_metric(con):
    # the cross-check is only meaningful if the sample defines every metric in some period
    vals = compute(con, make_request(metric_ids(), period="2026-Q2", as_of=SAMPLE_AS_OF)).values()
    assert all(v is not None for v in vals.values()), vals
