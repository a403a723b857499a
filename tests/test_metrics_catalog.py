"""The catalog loads and every entry is complete (that docs/metrics.md lists exactly the
catalog's metrics is tests/test_docs.py's)."""

from __future__ import annotations

import datetime as dt

import pytest

from engine.core.errors import UnknownName, WorkbenchError
from engine.semantic import CATALOG, get_metric, make_request, parse_period
from engine.semantic.catalog import KINDS, CatalogError, parse_metric


@pytest.mark.parametrize("mid", sorted(CATALOG))
def test_every_metric_has_purpose_and_formula(mid):
    m = CATALOG[mid]
    assert m.purpose.strip() and m.formula.strip() and m.name.strip()
    assert m.kind in KINDS
    assert m.cadence and m.unit and m.direction in ("leading", "lagging")
    assert m.id in m.definition


def test_a_metric_without_purpose_fails_validation():
    raw = CATALOG["won_revenue"].as_dict() | {"measure": "won_amount"}
    del raw["numerator"], raw["denominator"]
    parse_metric(dict(raw))  # valid as it stands
    raw["purpose"] = "  "
    with pytest.raises(CatalogError):
        parse_metric(raw)
    del raw["formula"]
    with pytest.raises(CatalogError):
        parse_metric(raw)


def test_unknown_metric_suggests():
    with pytest.raises(UnknownName) as e:
        get_metric("win_rat")
    assert "win_rate" in str(e.value)


def test_unknown_dimension_suggests():
    with pytest.raises(UnknownName) as e:
        make_request(["won_revenue"], by=["ownr"])
    assert "owner" in str(e.value)


AS_OF = dt.date(2026, 11, 22)


@pytest.mark.parametrize(
    "label,start,end",
    [
        ("2026-Q3", "2026-07-01", "2026-10-01"),
        ("2026-07", "2026-07-01", "2026-08-01"),
        ("2026-12", "2026-12-01", "2027-01-01"),
        ("2026", "2026-01-01", "2027-01-01"),
        ("last-90-days", "2026-08-25", "2026-11-23"),
        ("2026-01-05..2026-02-01", "2026-01-05", "2026-02-01"),
    ],
)
def test_period_labels(label, start, end):
    p = parse_period(label, AS_OF)
    assert (p.start.isoformat(), p.end.isoformat()) == (start, end)


def test_fiscal_year():
    # fiscal year starting in February: FY2026 = [2025-02-01, 2026-02-01)
    p = parse_period("FY2026", AS_OF, fiscal_start_month=2)
    assert (p.start, p.end) == (dt.date(2025, 2, 1), dt.date(2026, 2, 1))


def test_all_is_unbounded():
    assert parse_period("all", AS_OF).start is None


@pytest.mark.parametrize("bad", ["2026-Q5", "Q3", "2026-13", "yesterday", "last-x-days"])
def test_bad_period_lists_the_accepted_forms(bad):
    with pytest.raises(WorkbenchError) as e:
        parse_period(bad, AS_OF)
    assert "2026-Q3" in str(e.value)
