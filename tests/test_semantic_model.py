"""The semantic model (engine/semantic/model.toml) and how the catalog names its measures.

A measure is written once; a ratio's formula is exactly the two measures it divides; the
compilers dispatch on kinds, never on metric ids; every declared join is in its relation's SQL.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from engine.semantic import CATALOG, compute, make_request
from engine.semantic.catalog import CatalogError, parse_metric
from engine.semantic.compile import compile_metric
from engine.semantic.model import MEASURES, RELATIONS, ModelError, load_model
from engine.semantic.sql import Sql
from tests.metrics_fixtures import TINY_AS_OF, insert, new_con

ROOT = Path(__file__).resolve().parent.parent
COMPILE = ROOT / "engine" / "semantic" / "compile.py"


def _raw(**over):
    base = {
        "id": "x", "name": "X", "purpose": "p", "formula": "won_amount / won_deals",
        "sources": ["opportunities"], "cadence": "monthly", "tier": 2, "direction": "lagging",
        "unit": "currency", "higher_is_better": True, "kind": "ratio",
        "numerator_measure": "won_amount", "denominator_measure": "won_deals",
    }  # fmt: skip
    return base | over


def test_a_ratio_takes_its_texts_from_its_measures() -> None:
    m = parse_metric(_raw())
    assert m.num is MEASURES["won_amount"] and m.den is MEASURES["won_deals"]
    assert m.numerator == MEASURES["won_amount"].description
    assert m.denominator == MEASURES["won_deals"].description


def test_a_ratio_formula_that_drifts_from_its_measures_is_refused() -> None:
    with pytest.raises(CatalogError, match="won_amount / won_deals"):
        parse_metric(_raw(formula="won_revenue / won_deals_with_amount"))
    with pytest.raises(CatalogError, match="measures'"):
        parse_metric(_raw(numerator="something else"))


def test_every_ratio_in_the_catalog_names_its_measures_in_its_formula() -> None:
    ratios = [m for m in CATALOG.values() if m.kind == "ratio"]
    assert {m.id for m in ratios} >= {"win_rate", "avg_deal_size", "activities_per_opportunity"}
    for m in ratios:
        assert m.num is not None and m.den is not None
        assert m.formula == f"{m.num.id} / {m.den.id}"


def test_avg_deal_size_divides_by_won_deals_with_an_amount() -> None:
    # The decision (docs/metrics.md): a won deal without an amount is left out of both sides,
    # so it does not pull the average towards 0.
    m = CATALOG["avg_deal_size"]
    assert (m.num and m.num.id, m.den and m.den.id) == ("won_amount", "won_deals_with_amount")
    con = new_con()
    insert(
        con,
        "opportunities",
        [
            {"opportunity_id": "a", "owner": "A", "stage": "Closed Won",
             "amount": 100.0, "created_date": "2026-07-01", "close_date": "2026-07-10",
             "is_closed": True, "is_won": True},
            {"opportunity_id": "b", "owner": "A", "stage": "Closed Won",
             "amount": 300.0, "created_date": "2026-07-01", "close_date": "2026-08-10",
             "is_closed": True, "is_won": True},
            {"opportunity_id": "c", "owner": "A", "stage": "Closed Won",
             "amount": None, "created_date": "2026-07-01", "close_date": "2026-08-20",
             "is_closed": True, "is_won": True},
        ],
    )  # fmt: skip

    def value(mid: str) -> float:
        return compute(con, make_request([mid], period="2026-Q3", as_of=TINY_AS_OF)).value

    # (100 + 300) / 2 deals with an amount = 200, while 3 deals were won
    assert value("avg_deal_size") == pytest.approx(200.0)
    assert value("won_deals") == 3.0
    con.close()


def test_a_measure_kind_takes_its_numerator_from_the_measure() -> None:
    raw = _raw(kind="measure", measure="won_amount", formula="sum(amount) of won deals")
    for k in ("numerator_measure", "denominator_measure"):
        raw.pop(k)
    assert parse_metric(raw).numerator == MEASURES["won_amount"].description
    with pytest.raises(CatalogError, match="measure's description"):
        parse_metric(raw | {"numerator": "amount of won deals"})
    with pytest.raises(CatalogError, match="needs a"):
        parse_metric(raw | {"measure": "cycle_days"})  # a distribution is not a sum


def test_the_compilers_never_dispatch_on_a_metric_id() -> None:
    text = COMPILE.read_text()
    by_id = re.findall(
        r"get_metric\([\"'][a-z_]+[\"']\)|\.id (?:==|!=|in|not in) |metric_id ==", text
    )
    assert by_id == []
    assert re.findall(r"\.id (?:==|in) ", "if m.id == 'x' or m.id in X") == [".id == ", ".id in "]


def test_each_measure_is_written_once() -> None:
    keys = [(m.source, m.date, m.where, m.agg, m.expr) for m in MEASURES.values()]
    assert len(keys) == len(set(keys))


def test_measure_time_must_be_a_time_column_of_its_relation(tmp_path: Path) -> None:
    bad = tmp_path / "model.toml"
    bad.write_text(
        'dimensions = ["owner"]\n[[relation]]\nid = "act"\ntable = "activities"\ntime = ["activity_date"]\n'
        'dimensions = ["owner"]\n\n[[measure]]\nid = "m"\nrelation = "act"\n'
        'time = "close_date"\nagg = "count"\ndescription = "d"\n'
    )
    with pytest.raises(ModelError, match="close_date"):
        load_model(bad)


def _relation_sql(rid: str) -> str:
    q = Sql(make_request(["won_revenue"], as_of=TINY_AS_OF))
    getattr(q, rid)()
    return q.render("SELECT 1")


@pytest.mark.parametrize("rid", sorted(RELATIONS))
def test_every_declared_join_is_in_the_relations_sql(rid: str) -> None:
    rel = RELATIONS[rid]
    sql = _relation_sql(rid)
    assert re.search(rf"\bFROM {rel.table}\b", sql), sql
    for j in rel.joins:
        target = {"reps": "reps_d", "accounts": "acc_(id|name)"}[j.to]
        key = "lower(trim(o.account_name))" if j.on == "account_name" else rf"\w+\.{j.on}"
        key = re.escape(key) if j.on == "account_name" else key
        assert re.search(rf"JOIN {target} \w+ ON .*{key}", sql), (rid, j)


@pytest.mark.parametrize("mid", sorted(CATALOG))
def test_every_metric_compiles_and_runs_on_an_empty_dataset(mid: str) -> None:
    con: duckdb.DuckDBPyConnection = new_con()
    c = compile_metric(mid, make_request([mid], period="2026-Q3", as_of=TINY_AS_OF))
    rows = con.execute(c.sql, c.params).fetchall()
    assert len(rows) == 1  # one row even when empty: an undefined value is NULL, not absent
    con.close()
