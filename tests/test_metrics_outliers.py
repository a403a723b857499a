"""The exclude-outliers option (IQR rule) on the cycle metrics."""

from __future__ import annotations

import datetime as dt

import pytest

from engine.semantic import compute, make_request
from tests.metrics_fixtures import insert, new_con

D = dt.date
T = dt.datetime


@pytest.fixture(scope="module")
def con():
    con = new_con()
    cycles = {"w1": 10, "w2": 12, "w3": 14, "w4": 16, "w5": 100}
    insert(
        con,
        "opportunities",
        [
            {
                "opportunity_id": oid,
                "owner": "A",
                "stage": "Closed Won",
                "amount": 10.0,
                "created_date": D(2026, 8, 1) - dt.timedelta(days=days),
                "close_date": D(2026, 8, 1),
            }
            for oid, days in cycles.items()
        ],
    )
    # w1..w5 each spend 2, 3, 4, 5 and 40 days in 'opportunity' before 'proposal'
    hist = []
    for oid, days in zip(cycles, (2, 3, 4, 5, 40), strict=True):
        hist.append({"opportunity_id": oid, "stage": "Prospecting", "entered_at": T(2026, 7, 1)})
        hist.append(
            {
                "opportunity_id": oid,
                "stage": "Proposal/Price Quote",
                "entered_at": T(2026, 7, 1) + dt.timedelta(days=days),
            }
        )
    insert(con, "stage_history", hist)
    return con


def _get(con, metric: str, **kw):
    return compute(con, make_request([metric], period="2026-Q3", as_of="2026-09-01", **kw))


def test_cycle_keeps_outliers_by_default(con):
    r = _get(con, "sales_cycle_days")
    # (10 + 12 + 14 + 16 + 100) / 5
    assert r.value == pytest.approx(30.4)
    assert "outliers_excluded" not in r.extras


def test_cycle_without_outliers(con):
    r = _get(con, "sales_cycle_days", exclude_outliers=True)
    # p25 12, p75 16, IQR 4: fences 12 - 6 = 6 .. 16 + 6 = 22, so 100 is out;
    # mean (10 + 12 + 14 + 16) / 4 = 13, median 13, max 16
    assert r.value == pytest.approx(13.0)
    assert r.extras["median"] == pytest.approx(13.0)
    assert r.extras["max"] == pytest.approx(16.0)
    assert (r.extras["n"], r.extras["outliers_excluded"]) == (4, 1)
    assert any("Outliers excluded" in n for n in r.notes)


def test_cycle_without_outliers_per_owner_and_month(con):
    r = compute(
        con,
        make_request(
            ["sales_cycle_days"],
            period="2026-Q3",
            grain="month",
            by=["owner"],
            as_of="2026-09-01",
            exclude_outliers=True,
        ),
    )
    # one group (A, August): the same five cycles, the same fences
    assert list(r.frame["value"]) == pytest.approx([13.0])
    assert list(r.frame["outliers_excluded"]) == [1]


def test_time_in_stage_without_outliers(con):
    assert _get(con, "time_in_stage_days").value == pytest.approx(54 / 5)  # (2+3+4+5+40) / 5
    r = _get(con, "time_in_stage_days", exclude_outliers=True)
    # p25 3, p75 5, IQR 2: fences 0 .. 8, so 40 is out; (2 + 3 + 4 + 5) / 4 = 3.5
    assert r.value == pytest.approx(3.5)
    assert r.extras["outliers_excluded"] == 1
