"""The SQL that chooses the rows a load validates (``schemas.models.MAY_FAIL``).

A load runs a table's pandera model only over the rows on which some rule's SQL condition is
true; every other row loads unflagged. That is only right if no condition is narrower than
its check: on generated frames full of edge values (nulls, NaN, infinities, blanks of every
kind, non-ASCII text, repeated ids), every row a check fails must be chosen by that rule's
condition. The model still decides every verdict, so a broader condition costs only time.
"""

from __future__ import annotations

import datetime as dt
import math
import random

import duckdb
import polars as pl
import pytest

from engine.core.canonical import TABLES
from engine.load import pipeline, typed
from schemas import validate as validate_mod
from schemas.models import MAY_FAIL, MODELS, may_fail_sql
from schemas.rules import AS_OF, ID_REPEATS, OPP_KNOWN, PARSE_ERRORS, SEEN_BEFORE, STAGE_KNOWN
from schemas.validate import ROW, validate
from tests.test_schemas import TYPES

ROWS = 600
AS_OF_DAY = dt.date(2026, 6, 1)
TEXT = [None, "", " ", "\t", "\u00a0", "\u2003", "\u3000x", "x", "Ann", "É", "İ", "call", "CALL"]
TEXT += ["Meeting", "demo", "other", "fax", "\uff43all", "proposal"]
IDS = [None, "", " ", "\u00a0", "A", "B", "a", "C"]
FLOATS = [None, math.nan, math.inf, -math.inf, -1.0, -0.0, 0.0, 3.0, 5.0, 5.5, 100.0, 100.5]
DATES = [None, dt.date(2025, 1, 1), dt.date(2026, 1, 1), AS_OF_DAY, dt.date(2027, 1, 1)]
TIMES = [None, dt.datetime(2025, 1, 1, 9), dt.datetime(2026, 1, 1, 0), dt.datetime(2026, 1, 1, 23)]
TIMES += [dt.datetime(2026, 6, 1, 12)]


_POLARS = TYPES  # the polars type of each canonical kind, as the schema tests use


def _checks(table: str) -> set[str]:
    """The rule ids of a model's checks (each reports against the as-of column)."""
    schema = MODELS[table].to_schema()
    return {str(c.name) for col in schema.columns.values() for c in col.checks} | {
        str(c.name) for c in schema.checks
    }


def _frame(table: str, seed: int) -> pl.DataFrame:
    """A typed frame of ``table`` with random edge values and the helper columns as the load
    computes them (the id's repeats over the whole frame)."""
    rng = random.Random(seed)
    kinds = {c.name: _POLARS[c.kind] for c in TABLES[table].columns}
    kinds |= {n: c.dtype.type for n, c in MODELS[table].to_schema().columns.items()}
    data: dict[str, pl.Series] = {}
    for name, kind in kinds.items():
        if name == AS_OF:
            data[name] = pl.Series(name, [AS_OF_DAY] * ROWS, pl.Date)
        elif kind == pl.Utf8 or kind == pl.String:
            pool = IDS if name.endswith("_id") or name == "owner" else TEXT
            data[name] = pl.Series(name, [rng.choice(pool) for _ in range(ROWS)], pl.Utf8)
        elif kind == pl.Float64:
            data[name] = pl.Series(name, [rng.choice(FLOATS) for _ in range(ROWS)], pl.Float64)
        elif kind == pl.Date:
            data[name] = pl.Series(name, [rng.choice(DATES) for _ in range(ROWS)], pl.Date)
        elif kind == pl.Boolean:
            data[name] = pl.Series(name, [rng.choice([None, True, False]) for _ in range(ROWS)])
        else:  # datetimes
            data[name] = pl.Series(name, [rng.choice(TIMES) for _ in range(ROWS)], kind)
    frame = pl.DataFrame(data)
    bad = ["amount: cannot read 'x' as an amount"]
    frame = frame.with_columns(
        pl.Series(
            PARSE_ERRORS, [bad if rng.random() < 0.2 else [] for _ in range(ROWS)], pl.List(pl.Utf8)
        ),
        pl.Series(STAGE_KNOWN, [rng.choice([True, False]) for _ in range(ROWS)]),
        pl.Series(OPP_KNOWN, [rng.choice([None, True, False]) for _ in range(ROWS)]),
        pl.Series(
            "stage_canonical",
            [rng.choice(["proposal", "closed_won", "opportunity"]) for _ in range(ROWS)],
        ),
    )
    key = MODELS[table]._id if hasattr(MODELS[table], "_id") else None
    if key is not None:
        ids = pl.col(key)
        frame = frame.with_columns(
            (ids.is_not_null() & ~ids.is_first_distinct()).alias(SEEN_BEFORE),
            (ids.is_not_null() & (ids.len().over(key) > 1)).alias(ID_REPEATS),
        )
    else:
        frame = frame.with_columns(
            pl.lit(False).alias(SEEN_BEFORE), pl.lit(False).alias(ID_REPEATS)
        )
    return frame


def test_every_rule_of_a_chosen_table_has_its_condition() -> None:
    """A table either has no conditions (accounts: every row is validated) or one per check of
    its model, named by the same rule ids: a check added without its SQL fails here."""
    assert set(MAY_FAIL) == set(MODELS) - {"accounts"}
    for table, conditions in MAY_FAIL.items():
        assert set(conditions) == _checks(table), table
    assert may_fail_sql("accounts") is None


@pytest.mark.parametrize("table", sorted(MAY_FAIL))
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_no_condition_is_narrower_than_its_check(table: str, seed: int) -> None:
    """Every row a check fails is chosen by that rule's SQL condition (and so by the
    table's), over a frame where every rule fires on some rows."""
    frame = _frame(table, seed)
    findings = validate(table, frame).findings
    con = duckdb.connect()
    con.register("f", frame.with_row_index(ROW))
    fired = set(findings["rule"].unique().to_list())
    assert fired == _checks(table), f"{table}: the frame should make every rule fire"
    for rule, condition in MAY_FAIL[table].items():
        failed = set(findings.filter(pl.col("rule") == rule)[ROW].to_list())
        chosen = {r for (r,) in con.execute(f"SELECT {ROW} FROM f WHERE {condition}").fetchall()}
        assert failed <= chosen, (table, rule, sorted(failed - chosen)[:5])
    sql = may_fail_sql(table)
    chosen = {r for (r,) in con.execute(f"SELECT {ROW} FROM f WHERE {sql}").fetchall()}
    assert set(findings[ROW].to_list()) <= chosen


def test_a_load_validates_only_the_rows_a_rule_may_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    """Five deals: one with a negative amount, and an id on two rows. The model sees those
    three rows only (the repeated id's first row too, so it can tell the first from the
    repeat); the outcome still counts all five."""
    seen: list[int] = []
    real = validate_mod.validate

    def counting(table: str, frame: pl.DataFrame) -> validate_mod.Verdicts:
        seen.append(frame.height)
        return real(table, frame)

    monkeypatch.setattr(typed, "validate", counting)
    data = (
        b"Opportunity ID,Opportunity Owner,Stage,Amount,Created Date,Close Date\n"
        b"D1,Ann,Closed Won,100,2026-01-05,2026-02-01\n"
        b"D2,Ann,Closed Won,-5,2026-01-05,2026-02-01\n"
        b"D3,Bob,Closed Lost,50,2026-01-05,2026-02-01\n"
        b"D4,Bob,Closed Won,70,2026-01-05,2026-02-01\n"
        b"D3,Bob,Closed Won,80,2026-01-05,2026-02-01\n"
    )
    prepared = pipeline.prepare([pipeline.inspect_file(data, "deals.csv")], as_of=AS_OF_DAY)
    (f,) = prepared.files
    # lines 3 (D2, negative), 4 (D3, first) and 6 (D3 again) are chosen: 3 rows
    assert seen == [3]
    # 5 rows in = 3 loaded + 2 quarantined (D2's amount, D3's repeat); the rest loads unflagged
    assert (f.rows_in, f.rows_loaded, f.rows_quarantined) == (5, 3, 2)
    assert f.error_rows == {"negative_amount": 1, "duplicate_id": 1}
    assert f.loaded["opportunity_id"].to_list() == ["D1", "D3", "D4"]
    assert f.loaded["_flagged"].to_list() == [False, False, False]
