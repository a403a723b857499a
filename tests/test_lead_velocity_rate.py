"""lead_velocity_rate is one catalog entry of the generic kind ``growth`` (docs/metrics.md,
Activity and leads): (SQLs in the period - SQLs in the previous period of the same length) /
SQLs in the previous period; leads by created_date when no lead has an sql_date. Each case is
a tiny hand-written leads table with the arithmetic beside the expectation."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import pytest

from engine.semantic import compute, make_request
from engine.semantic.catalog import get_metric
from tests.metrics_fixtures import D, insert, new_con

AS_OF = "2026-06-30"
MARCH = "2026-03-01..2026-04-01"


def _lead(i: str, created: dt.date, sql: dt.date | None = None, **kw: Any) -> dict[str, Any]:
    return dict(lead_id=i, owner="A", created_date=created, sql_date=sql, **kw)


# January: 1 SQL; February: 2 SQLs; March: 3 SQLs; April: none; May: 1 SQL. Two leads never
# became SQLs (created in March), so created_date counts differ from sql_date counts.
SQL_LEADS = [
    _lead("j1", D(2026, 1, 2), D(2026, 1, 10), segment="SMB"),
    _lead("f1", D(2026, 1, 20), D(2026, 2, 3), segment="SMB"),
    _lead("f2", D(2026, 2, 1), D(2026, 2, 27), segment="ENT"),
    _lead("m1", D(2026, 2, 10), D(2026, 3, 1), segment="SMB"),
    _lead("m2", D(2026, 3, 2), D(2026, 3, 15), segment="SMB"),
    _lead("m3", D(2026, 3, 5), D(2026, 3, 31), segment="ENT"),
    _lead("y1", D(2026, 4, 20), D(2026, 5, 4), segment="SMB"),
    _lead("n1", D(2026, 3, 6), None, segment="SMB"),
    _lead("n2", D(2026, 3, 7), None, segment="ENT"),
]


def _con(rows: list[dict[str, Any]]) -> Any:
    con = new_con()
    insert(con, "leads", rows)
    return con


def _value(rows: list[dict[str, Any]], period: str) -> float | None:
    con = _con(rows)
    try:
        return compute(con, make_request(["lead_velocity_rate"], period=period, as_of=AS_OF)).value
    finally:
        con.close()


def test_catalog_entry() -> None:
    m = get_metric("lead_velocity_rate")
    assert (m.kind, m.tier, m.direction, m.unit, m.cadence) == (
        "growth",
        3,
        "leading",
        "ratio",
        "monthly",
    )
    assert m.higher_is_better
    assert m.measure is not None and m.measure.date == "sql_date"
    assert m.date_fallback == "created_date"
    assert all((m.purpose, m.formula, m.numerator, m.denominator, m.notes))
    assert "'all'" in m.notes and "previous period" in m.notes


def test_march_sqls_against_february() -> None:
    con = _con(SQL_LEADS)
    res = compute(con, make_request(["lead_velocity_rate"], period=MARCH, as_of=AS_OF))
    con.close()
    # March SQLs m1, m2, m3 = 3; February SQLs f1, f2 = 2; (3 - 2) / 2 = 0.5
    assert res.value == pytest.approx(0.5)
    assert res.extras["numerator"] == 3
    assert res.extras["denominator"] == 2


def test_a_quarter_is_compared_with_the_quarter_before() -> None:
    # Q2 (Apr-Jun): y1 = 1 SQL; Q1 (Jan-Mar): j1, f1, f2, m1, m2, m3 = 6; (1 - 6) / 6
    assert _value(SQL_LEADS, "2026-04-01..2026-07-01") == pytest.approx(-5 / 6)


def test_a_day_range_is_compared_with_the_same_number_of_days_before() -> None:
    # 2026-03-01..2026-03-16 (15 days): m1, m2 = 2; 2026-02-14..2026-03-01: f2 = 1; (2 - 1) / 1
    assert _value(SQL_LEADS, "2026-03-01..2026-03-16") == pytest.approx(1.0)


def test_without_any_sql_date_leads_count_by_created_date() -> None:
    rows = [{**r, "sql_date": None} for r in SQL_LEADS]
    # created in March: m2, m3, n1, n2 = 4; in February: f2, m1 = 2; (4 - 2) / 2 = 1.0
    assert _value(rows, MARCH) == pytest.approx(1.0)
    # one sql_date anywhere and the whole dataset counts SQLs: March 0 SQLs (f1's SQL is in
    # February), February 1; (0 - 1) / 1 = -1.0, never a mix of the two dates
    rows[1] = {**rows[1], "sql_date": D(2026, 2, 3)}
    assert _value(rows, MARCH) == pytest.approx(-1.0)


def test_previous_count_zero_is_null() -> None:
    # January 1 SQL (j1), December 2025 none: (1 - 0) / 0 is undefined
    assert _value(SQL_LEADS, "2026-01-01..2026-02-01") is None
    # no lead at all: 0 / 0
    assert _value([], MARCH) is None


def test_all_has_no_previous_period() -> None:
    con = _con(SQL_LEADS)
    res = compute(con, make_request(["lead_velocity_rate"], period="all", as_of=AS_OF))
    con.close()
    assert res.value is None
    assert any("null for 'all'" in n for n in res.notes)


def test_month_series_compares_each_bucket_with_the_one_before() -> None:
    con = _con(SQL_LEADS)
    req = make_request(["lead_velocity_rate"], period="all", grain="month", as_of=AS_OF)
    frame = compute(con, req).frame
    con.close()
    got = {
        str(r.period_start)[:10]: (r.numerator, r.denominator, r.value) for r in frame.itertuples()
    }
    assert got["2026-01-01"][:2] == (1, 0)  # December had none: null
    assert pd.isna(got["2026-01-01"][2])
    assert got["2026-02-01"] == (2, 1, pytest.approx(1.0))  # (2 - 1) / 1
    assert got["2026-03-01"] == (3, 2, pytest.approx(0.5))  # (3 - 2) / 2
    assert got["2026-04-01"] == (0, 3, pytest.approx(-1.0))  # no SQL in April: (0 - 3) / 3
    assert got["2026-05-01"] == (1, 0, got["2026-05-01"][2])  # April had none: null
    assert pd.isna(got["2026-05-01"][2])
    assert list(got) == ["2026-01-01", "2026-02-01", "2026-03-01", "2026-04-01", "2026-05-01"]


def test_month_series_in_a_bounded_period_reads_the_bucket_before_it() -> None:
    con = _con(SQL_LEADS)
    req = make_request(
        ["lead_velocity_rate"], period="2026-03-01..2026-05-01", grain="month", as_of=AS_OF
    )
    frame = compute(con, req).frame
    con.close()
    # March against February (outside the period): (3 - 2) / 2; April: (0 - 3) / 3
    assert [str(d)[:10] for d in frame["period_start"]] == ["2026-03-01", "2026-04-01"]
    assert list(frame["value"]) == [pytest.approx(0.5), pytest.approx(-1.0)]


def test_by_segment() -> None:
    con = _con(SQL_LEADS)
    req = make_request(["lead_velocity_rate"], period=MARCH, by=["segment"], as_of=AS_OF)
    frame = compute(con, req).frame.set_index("segment")
    con.close()
    # SMB: March m1, m2 = 2, February f1 = 1: (2 - 1) / 1; ENT: March m3 = 1, February f2 = 1
    assert frame.loc["SMB", "value"] == pytest.approx(1.0)
    assert frame.loc["ENT", "value"] == pytest.approx(0.0)


def test_matches_pandas() -> None:
    # an independent count of the same rows with pandas
    df = pd.DataFrame(SQL_LEADS)
    sql = pd.to_datetime(df["sql_date"])
    now = ((sql >= "2026-03-01") & (sql < "2026-04-01")).sum()
    before = ((sql >= "2026-02-01") & (sql < "2026-03-01")).sum()
    assert _value(SQL_LEADS, MARCH) == pytest.approx((now - before) / before)
