"""Pipeline changes (docs/metrics.md, Pipeline changes): one tiny pair of exports per bucket and
per precedence case, each expectation with its arithmetic beside it; a property test that the
identity End = Start + entering + increases - leaving - decreases holds for random pairs, checked
against an independent Python classification of every deal.

Period throughout: 2026-Q2 = [2026-04-01, 2026-07-01). Rows are (id, owner, stage, amount,
close_date); stages: "Open" (open), "Won", "Lost" (closed). Ann and Cid are on team East, Bob
on team West.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.analyses import changes
from engine.core.layout import create_tables
from engine.semantic.request import parse_period

Q2 = parse_period("2026-Q2", dt.date(2026, 4, 15))
Row = tuple[str, str, str, float | None, dt.date | None]
TEAMS = {"Ann": "East", "Cid": "East", "Bob": "West"}


def d(month: int, day: int) -> dt.date:
    return dt.date(2026, month, day)


@contextmanager
def pair(old: list[Row], new: list[Row]) -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory connection shaped like :func:`changes.attach_pair`: schemas old and new."""
    con = duckdb.connect()
    try:
        for schema, rows in (("old", old), ("new", new)):
            con.execute(f"ATTACH ':memory:' AS {schema}")
            con.execute(f"USE {schema}")
            create_tables(con)
            for oid, owner, stage, amount, close in rows:
                closed, won = stage in ("Won", "Lost"), stage == "Won"
                order = {"Open": 1, "Proposal": 2, "Won": 3, "Lost": 4}[stage]
                con.execute(
                    "INSERT INTO opportunities (opportunity_id, owner, stage, amount, close_date,"
                    " is_closed, is_won, stage_order) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [oid, owner, stage, amount, close, closed, won, order],
                )
            for owner, team in TEAMS.items():
                con.execute("INSERT INTO reps (owner, team) VALUES (?, ?)", [owner, team])
        con.execute("USE memory")
        yield con
    finally:
        con.close()


def run(old: list[Row], new: list[Row], by: str | None = None) -> changes.Changes:
    with pair(old, new) as con:
        return changes.compare(con, Q2, by)


def moved(s: changes.Summary) -> dict[str, tuple[float, int]]:
    """The buckets that hold a deal: bucket -> (amount, deals)."""
    return {b: (p.amount, p.deals) for b, p in s.buckets.items() if p.deals}


def scope(result: changes.Changes, value: str) -> changes.Summary:
    return next(g for g in result.groups if next(iter(g.by.values())) == value)


# --- one pair per bucket --------------------------------------------------------------------
# (old rows, new rows, by, scope, expected buckets, Start, End) with the arithmetic.
BUCKET_CASES = {
    # D1 absent before, open due 05-01 now: new 40. Start 0, End 40 = 0 + 40.
    "new": ([], [("D1", "Ann", "Open", 40, d(5, 1))], None, None, {"new": (40, 1)}, 0, 40),
    # due 08-01 (after Q2) at 10 -> due 05-01 at 12: pulled_in, new amount 12. End 12 = 0 + 12.
    "pulled_in": (
        [("D1", "Ann", "Open", 10, d(8, 1))],
        [("D1", "Ann", "Open", 12, d(5, 1))],
        None,
        None,
        {"pulled_in": (12, 1)},
        0,
        12,
    ),
    # due 03-01 (before Q2, slipped) -> re-dated 06-01 at 20: pushed_in 20. End 20 = 0 + 20.
    "pushed_in": (
        [("D1", "Ann", "Open", 20, d(3, 1))],
        [("D1", "Ann", "Open", 20, d(6, 1))],
        None,
        None,
        {"pushed_in": (20, 1)},
        0,
        20,
    ),
    # lost 03-15 -> open due 06-15 at 30: reopened 30. End 30 = 0 + 30.
    "reopened": (
        [("D1", "Ann", "Lost", 25, d(3, 15))],
        [("D1", "Ann", "Open", 30, d(6, 15))],
        None,
        None,
        {"reopened": (30, 1)},
        0,
        30,
    ),
    # Ann's deal (45, due 05-01) is Bob's now, at 50. Per owner, Bob: transferred_in 50
    # (new amount); End 50 = 0 + 50.
    "transferred_in": (
        [("D1", "Ann", "Open", 45, d(5, 1))],
        [("D1", "Bob", "Open", 50, d(5, 1))],
        "owner",
        "Bob",
        {"transferred_in": (50, 1)},
        0,
        50,
    ),
    # Same pair, Ann: transferred_out 45 (old amount); End 0 = 45 - 45.
    "transferred_out": (
        [("D1", "Ann", "Open", 45, d(5, 1))],
        [("D1", "Bob", "Open", 50, d(5, 1))],
        "owner",
        "Ann",
        {"transferred_out": (45, 1)},
        45,
        0,
    ),
    # open 100 due 05-05 -> won: won 100 (old amount). End 0 = 100 - 100.
    "won": (
        [("D1", "Ann", "Open", 100, d(5, 5))],
        [("D1", "Ann", "Won", 110, d(4, 20))],
        None,
        None,
        {"won": (100, 1)},
        100,
        0,
    ),
    # open 50 -> lost: lost 50. End 0 = 50 - 50.
    "lost": (
        [("D1", "Ann", "Open", 50, d(5, 6))],
        [("D1", "Ann", "Lost", 50, d(4, 21))],
        None,
        None,
        {"lost": (50, 1)},
        50,
        0,
    ),
    # open 70 -> missing from the newer export: removed 70. End 0 = 70 - 70.
    "removed": ([("D1", "Ann", "Open", 70, d(5, 7))], [], None, None, {"removed": (70, 1)}, 70, 0),
    # due 05-08 at 60 -> due 08-08: pushed_out 60. End 0 = 60 - 60.
    "pushed_out": (
        [("D1", "Ann", "Open", 60, d(5, 8))],
        [("D1", "Ann", "Open", 60, d(8, 8))],
        None,
        None,
        {"pushed_out": (60, 1)},
        60,
        0,
    ),
    # due 05-09 at 5 -> due 03-30 (before Q2): pulled_out 5. End 0 = 5 - 5.
    "pulled_out": (
        [("D1", "Ann", "Open", 5, d(5, 9))],
        [("D1", "Ann", "Open", 5, d(3, 30))],
        None,
        None,
        {"pulled_out": (5, 1)},
        5,
        0,
    ),
    # 80 -> 95, due in Q2 both times: amount_increased 15 = 95 - 80. End 95 = 80 + 15.
    "amount_increased": (
        [("D1", "Ann", "Open", 80, d(5, 10))],
        [("D1", "Ann", "Open", 95, d(6, 10))],
        None,
        None,
        {"amount_increased": (15, 1)},
        80,
        95,
    ),
    # 90 -> 65: amount_decreased 25 = 90 - 65. End 65 = 90 - 25.
    "amount_decreased": (
        [("D1", "Ann", "Open", 90, d(5, 10))],
        [("D1", "Ann", "Open", 65, d(5, 10))],
        None,
        None,
        {"amount_decreased": (25, 1)},
        90,
        65,
    ),
}


@pytest.mark.parametrize("case", list(BUCKET_CASES), ids=list(BUCKET_CASES))
def test_one_pair_per_bucket(case: str) -> None:
    old, new, by, who, expected, start, end = BUCKET_CASES[case]
    result = run(old, new, by)
    s = result.total if who is None else scope(result, who)
    assert moved(s) == expected
    assert (s.start.amount, s.end.amount) == (start, end)
    assert s.balances()


def test_every_bucket_has_a_case() -> None:
    assert set(BUCKET_CASES) == set(changes.BUCKETS)


# --- precedence: not in the export > closed or reopened > transferred > close date > amount ---
def test_closed_beats_close_date_moved() -> None:
    # Won with a close date after Q2 (08-01): won 100, not pushed_out.
    r = run([("D1", "Ann", "Open", 100, d(5, 1))], [("D1", "Ann", "Won", 100, d(8, 1))])
    assert moved(r.total) == {"won": (100, 1)}


def test_closed_beats_transferred() -> None:
    # Ann's deal (30) is lost under Bob: Ann lost 30; Bob nothing (not in his pipeline).
    r = run([("D1", "Ann", "Open", 30, d(5, 1))], [("D1", "Bob", "Lost", 30, d(5, 1))], "owner")
    assert moved(scope(r, "Ann")) == {"lost": (30, 1)}
    assert all(next(iter(g.by.values())) != "Bob" for g in r.groups)


def test_reopened_beats_transferred() -> None:
    # Ann's lost deal reopens under Bob at 35: Bob reopened 35, not transferred_in.
    r = run([("D1", "Ann", "Lost", 20, d(3, 1))], [("D1", "Bob", "Open", 35, d(5, 1))], "owner")
    assert moved(scope(r, "Bob")) == {"reopened": (35, 1)}
    assert moved(r.total) == {"reopened": (35, 1)}


def test_transferred_beats_close_date_and_amount() -> None:
    # Ann (45, due 05-01) -> Bob (50, due 08-01, out of Q2): Ann transferred_out 45, not
    # pushed_out; Bob has nothing in Q2. Whole pipeline: pushed_out 45 (no transfers there).
    r = run([("D1", "Ann", "Open", 45, d(5, 1))], [("D1", "Bob", "Open", 50, d(8, 1))], "owner")
    assert moved(scope(r, "Ann")) == {"transferred_out": (45, 1)}
    assert moved(r.total) == {"pushed_out": (45, 1)}


def test_close_date_beats_amount() -> None:
    # 10 due 05-01 -> 99 due 08-01: pushed_out 10 (old amount), no amount change.
    r = run([("D1", "Ann", "Open", 10, d(5, 1))], [("D1", "Ann", "Open", 99, d(8, 1))])
    assert moved(r.total) == {"pushed_out": (10, 1)}


def test_not_in_export_beats_all() -> None:
    # Absent before and already won now: not in P's open pipeline at either end, no bucket;
    # absent now: removed (70), whatever it was.
    r = run(
        [("D2", "Ann", "Open", 70, d(5, 1))],
        [("D1", "Ann", "Won", 40, d(5, 1))],
    )
    assert moved(r.total) == {"removed": (70, 1)}


def test_team_transfer_and_same_team_rep_change() -> None:
    # Ann -> Cid (both East): per team nothing moved (60 -> 60); per owner a transfer.
    old, new = [("D1", "Ann", "Open", 60, d(5, 1))], [("D1", "Cid", "Open", 60, d(5, 1))]
    by_team = run(old, new, "team")
    assert [moved(g) for g in by_team.groups] == [{}]
    assert (by_team.groups[0].start.amount, by_team.groups[0].end.amount) == (60, 60)
    # Ann -> Bob (East -> West): East transferred_out 60, West transferred_in 60.
    r = run(old, [("D1", "Bob", "Open", 60, d(5, 1))], "team")
    assert moved(scope(r, "East")) == {"transferred_out": (60, 1)}
    assert moved(scope(r, "West")) == {"transferred_in": (60, 1)}


def test_empty_amount_counts_as_zero_and_is_counted() -> None:
    # D1 new without amount (0, counted); D2 None -> 30: increased 30 = 30 - 0.
    # Start 0 (D2 counted, 1 deal without amount); End 0 + 30 = 30, 2 deals.
    r = run(
        [("D2", "Ann", "Open", None, d(5, 1))],
        [("D1", "Ann", "Open", None, d(5, 2)), ("D2", "Ann", "Open", 30, d(5, 1))],
    )
    assert moved(r.total) == {"new": (0, 1), "amount_increased": (30, 1)}
    assert (r.total.start.deals, r.total.start.no_amount) == (1, 1)
    assert (r.total.end.amount, r.total.end.deals, r.total.end.no_amount) == (30, 2, 1)
    assert r.total.balances()


def test_identity_text_writes_every_bucket() -> None:
    # Start 100 + new 40 - won 100 = End 40.
    r = run(
        [("D1", "Ann", "Open", 100, d(5, 5))],
        [("D1", "Ann", "Won", 100, d(4, 20)), ("D2", "Ann", "Open", 40, d(5, 1))],
    )
    text = changes.identity_text(r.total)
    assert text.startswith("Start 100.00 + new 40.00 + pulled in 0.00")
    assert text.endswith("- amount decreased 0.00 = End 40.00: balances")
    assert all(changes.LABELS[b] in text for b in changes.BUCKETS)


def test_json_shape_has_every_bucket() -> None:
    r = run([("D1", "Ann", "Open", 100, d(5, 5))], [], "owner")
    out = r.to_dict()
    assert out["period"] == "2026-Q2"
    assert out["start"] == {"amount": 100.0, "deals": 1}
    assert list(out["buckets"]) == list(changes.BUCKETS)
    assert out["buckets"]["removed"] == {"amount": 100.0, "deals": 1}  # the old amount
    assert out["groups"][0]["by"] == {"owner": "Ann"}
    assert list(out["groups"][0]["buckets"]) == list(changes.BUCKETS)


def test_drill_down_and_stage_moves() -> None:
    old = [("D1", "Ann", "Open", 80, d(5, 1)), ("D2", "Bob", "Proposal", 50, d(5, 2))]
    new = [("D1", "Ann", "Proposal", 95, d(5, 1)), ("D2", "Bob", "Open", 50, d(5, 2))]
    with pair(old, new) as con:
        frame = changes.deals(con, Q2)
        moves = changes.stage_moves(con, Q2)
        only = changes.deals(con, Q2, "amount_increased")
    # D1: 95 - 80 = +15 increased; D2 unchanged amount: no bucket.
    assert frame[["opportunity_id", "bucket", "change"]].values.tolist() == [
        ["D1", "amount_increased", 15.0]
    ]
    assert only["old_stage"].tolist() == ["Open"] and only["new_stage"].tolist() == ["Proposal"]
    # D1 Open -> Proposal advanced (95); D2 Proposal -> Open regressed (50).
    got = moves[["old_stage", "new_stage", "direction", "deals", "amount"]].values.tolist()
    assert got == [
        ["Open", "Proposal", "advanced", 1, 95.0],
        ["Proposal", "Open", "regressed", 1, 50.0],
    ]


def test_unknown_group_and_bucket_are_refused() -> None:
    with pytest.raises(Exception, match="Cannot split"):
        changes.classified_sql("industry; DROP TABLE x")
    with pair([], []) as con, pytest.raises(Exception, match="Unknown bucket"):
        changes.deals(con, Q2, "nope")


# --- property: the identity holds, and every deal is classified as an independent reading says
def reference(old: list[Row], new: list[Row], by: str | None) -> dict[str, dict[str, float]]:
    """Plain-Python buckets per scope (docs/metrics.md, Pipeline changes), amounts only."""
    start, end = Q2.start, Q2.end
    assert start is not None and end is not None

    def key(row: Row) -> str:
        if by == "owner":
            return row[1]
        if by == "team":
            return TEAMS[row[1]]
        return changes.ALL

    def due(row: Row | None) -> bool:
        return bool(row and row[2] in ("Open", "Proposal") and row[4] and start <= row[4] < end)

    o, n = {r[0]: r for r in old}, {r[0]: r for r in new}
    out: dict[str, dict[str, float]] = {}

    def add(g: str, bucket: str, amount: float) -> None:
        out.setdefault(g, {}).setdefault(bucket, 0.0)
        out[g][bucket] += amount

    for oid in set(o) | set(n):
        a, b = o.get(oid), n.get(oid)
        oa, na = (a[3] or 0.0) if a else 0.0, (b[3] or 0.0) if b else 0.0
        scopes = {key(a) for a in [a] if due(a)} | {key(b) for b in [b] if due(b)}
        for g in scopes:
            at_s, at_e = due(a) and key(a) == g, due(b) and key(b) == g  # type: ignore[arg-type]
            if at_s:
                add(g, "start", oa)
            if at_e:
                add(g, "end", na)
            if at_s and at_e:
                if na - oa > 0.005:
                    add(g, "amount_increased", na - oa)
                elif oa - na > 0.005:
                    add(g, "amount_decreased", oa - na)
            elif at_e:
                assert b is not None
                if a is None:
                    add(g, "new", na)
                elif a[2] in ("Won", "Lost"):
                    add(g, "reopened", na)
                elif key(a) != g:
                    add(g, "transferred_in", na)
                elif a[4] is not None and a[4] < start:
                    add(g, "pushed_in", na)
                else:
                    add(g, "pulled_in", na)
            else:
                if b is None:
                    add(g, "removed", oa)
                elif b[2] == "Won":
                    add(g, "won", oa)
                elif b[2] == "Lost":
                    add(g, "lost", oa)
                elif key(b) != g:
                    add(g, "transferred_out", oa)
                elif b[4] is not None and b[4] < start:
                    add(g, "pulled_out", oa)
                else:
                    add(g, "pushed_out", oa)
    return out


amounts = st.one_of(st.none(), st.integers(0, 500).map(float), st.floats(0, 1e6, width=32))
closes = st.one_of(st.none(), st.dates(dt.date(2026, 1, 1), dt.date(2026, 12, 31)))
stages = st.sampled_from(["Open", "Proposal", "Won", "Lost"])
owners = st.sampled_from(list(TEAMS))


@st.composite
def export_pair(draw: st.DrawFn) -> tuple[list[Row], list[Row]]:
    ids = [f"D{i}" for i in range(draw(st.integers(0, 25)))]
    old = [(i, draw(owners), draw(stages), draw(amounts), draw(closes)) for i in ids]
    new: list[Row] = []
    for oid, owner, stage, amount, close in old:
        what = draw(st.sampled_from(["same", "drop", "change", "change"]))
        if what == "same":
            new.append((oid, owner, stage, amount, close))
        elif what == "change":
            new.append((oid, draw(owners), draw(stages), draw(amounts), draw(closes)))
    extra = draw(st.integers(0, 5))
    new += [
        (f"N{i}", draw(owners), draw(stages), draw(amounts), draw(closes)) for i in range(extra)
    ]
    return old, new


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(export_pair(), st.sampled_from([None, "owner", "team"]))
def test_identity_holds_for_random_pairs(
    pair_: tuple[list[Row], list[Row]], by: str | None
) -> None:
    old, new = pair_
    result = run(old, new, by)
    ref = reference(old, new, by)
    for s in [result.total, *result.groups] if by is None else result.groups:
        assert s.balances(), changes.identity_text(s)
        g = next(iter(s.by.values())) if s.by else changes.ALL
        want = ref.get(g, {})
        assert s.start.amount == pytest.approx(want.get("start", 0.0), abs=1e-6)
        assert s.end.amount == pytest.approx(want.get("end", 0.0), abs=1e-6)
        for b in changes.BUCKETS:
            assert s.buckets[b].amount == pytest.approx(want.get(b, 0.0), abs=1e-6), b
    if by is not None:
        assert {next(iter(g.by.values())) for g in result.groups} == set(ref)
