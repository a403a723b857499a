"""Pipeline changes benchmark: the buckets between two snapshots of N deals against the floor,
a DuckDB full outer join of the two snapshot tables, measured in the same run.

Two snapshot files are built once under ``benchmarks/data/changes_o<N>/`` with the dataset
layout (``engine.core.layout.create_tables``) and filled in SQL: N deals in the older export,
then the newer one with a share of them won, lost, removed, re-dated, re-priced, handed to
another rep or moved a stage, and 2% new deals. Each figure is the median of ``repeat`` runs,
each on a fresh connection with both files attached read-only:

- floor: ``SELECT count(*), sum(...) FROM old.opportunities FULL OUTER JOIN new.opportunities
  USING (opportunity_id)`` (the join every comparison needs, and nothing else);
- workbench: ``engine.analyses.changes.compare`` for the quarter (Start, End and every bucket),
  for the whole pipeline and split per rep.

``python -m benchmarks.changes --opportunities N`` prints the markdown section;
``benchmarks/run.py --only changes`` writes it to RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import duckdb

from engine.analyses import changes
from engine.core.layout import create_tables
from engine.semantic.request import parse_period

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
AS_OF_OLD, AS_OF_NEW = dt.date(2026, 11, 6), dt.date(2026, 11, 20)
REPS = 200

OLD_SQL = f"""
INSERT INTO opportunities (opportunity_id, owner, stage, stage_order, stage_canonical, amount,
                           created_date, close_date, is_closed, is_won)
SELECT 'OPP-' || i, 'Rep ' || (hash(i) % {REPS}), s.stage, s.ord, s.canon,
       CASE WHEN hash(i * 7) % 50 = 0 THEN NULL ELSE 1000 + hash(i * 3) % 90000 END,
       DATE '2025-01-01' + CAST(hash(i * 5) % 600 AS INTEGER),
       DATE '2025-06-01' + CAST(hash(i * 11) % 700 AS INTEGER),
       s.closed, s.won
FROM range(?) t(i)
JOIN (VALUES (0, 'Prospecting', 1, 'opportunity', false, false),
             (1, 'Qualification', 2, 'opportunity', false, false),
             (2, 'Proposal', 3, 'proposal', false, false),
             (3, 'Negotiation', 4, 'proposal', false, false),
             (4, 'Closed Won', 5, 'closed_won', true, true),
             (5, 'Closed Lost', 6, 'closed_lost', true, false))
     s(k, stage, ord, canon, closed, won) ON s.k = hash(i * 13) % 6
"""
# The newer export: by a per-deal draw d in [0, 100): 0-1 removed, 2-4 won, 5-6 lost,
# 7-10 re-dated, 11-14 re-priced, 15-16 another rep, 17-20 one stage on; 2% new deals.
NEW_SQL = f"""
INSERT INTO new.opportunities (opportunity_id, owner, stage, stage_order, stage_canonical,
                               amount, created_date, close_date, is_closed, is_won)
SELECT opportunity_id,
    CASE WHEN d BETWEEN 15 AND 16 THEN 'Rep ' || ((hash(opportunity_id) + 1) % {REPS})
         ELSE owner END,
    CASE WHEN is_closed THEN stage WHEN d BETWEEN 2 AND 4 THEN 'Closed Won'
         WHEN d BETWEEN 5 AND 6 THEN 'Closed Lost'
         WHEN d BETWEEN 17 AND 20 AND stage_order < 4 THEN 'Stage ' || (stage_order + 1)
         ELSE stage END,
    CASE WHEN is_closed THEN stage_order WHEN d BETWEEN 2 AND 4 THEN 5
         WHEN d BETWEEN 5 AND 6 THEN 6
         WHEN d BETWEEN 17 AND 20 AND stage_order < 4 THEN stage_order + 1
         ELSE stage_order END,
    CASE WHEN is_closed THEN stage_canonical WHEN d BETWEEN 2 AND 4 THEN 'closed_won'
         WHEN d BETWEEN 5 AND 6 THEN 'closed_lost' ELSE stage_canonical END,
    CASE WHEN d BETWEEN 11 AND 14 THEN amount * 1.2 ELSE amount END,
    created_date,
    CASE WHEN d BETWEEN 7 AND 10 THEN close_date + 45 ELSE close_date END,
    is_closed OR d BETWEEN 2 AND 6,
    (is_closed AND is_won) OR (NOT is_closed AND d BETWEEN 2 AND 4)
FROM (SELECT *, hash(opportunity_id || 'd') % 100 AS d FROM opportunities)
WHERE d >= 2
"""


def ensure_snapshots(opportunities: int) -> tuple[Path, Path]:
    out = DATA / f"changes_o{opportunities}"
    old, new = out / "old.duckdb", out / "new.duckdb"
    if old.exists() and new.exists():
        return old, new
    out.mkdir(parents=True, exist_ok=True)
    for p in (old, new):
        p.unlink(missing_ok=True)
    for path in (old, new):
        con = duckdb.connect(str(path))
        create_tables(con)
        con.close()
    con = duckdb.connect(str(old))
    con.execute(OLD_SQL, [opportunities])
    con.execute(
        "INSERT INTO reps (owner, team) SELECT 'Rep ' || i, 'Team ' || (i % 8) FROM range(?) t(i)",
        [REPS],
    )
    con.execute(f"ATTACH '{new}' AS new")
    con.execute(NEW_SQL)
    con.execute(
        "INSERT INTO new.opportunities (opportunity_id, owner, stage, stage_order, amount, "
        "created_date, close_date, is_closed, is_won) SELECT 'NEW-' || i, 'Rep ' || (i % ?), "
        "'Prospecting', 1, 5000 + i % 20000, DATE '2026-11-10', DATE '2026-12-15', false, false "
        "FROM range(?) t(i)",
        [REPS, opportunities // 50],
    )
    con.execute("INSERT INTO new.reps SELECT * FROM reps")
    con.close()
    return old, new


def _time(fn: Callable[[duckdb.DuckDBPyConnection], object], old: Path, new: Path) -> float:
    with changes.attach_pair(old, new) as con:
        began = time.perf_counter()
        fn(con)
        return time.perf_counter() - began


FLOOR_SQL = """
SELECT count(*), sum(coalesce(n.amount, 0) - coalesce(o.amount, 0))
FROM old.opportunities o FULL OUTER JOIN new.opportunities n USING (opportunity_id)"""


def run(opportunities: int = 1_000_000, repeat: int = 3) -> str:
    old, new = ensure_snapshots(opportunities)
    period = parse_period("2026-Q4", AS_OF_NEW)
    variants: dict[str, Callable[[duckdb.DuckDBPyConnection], object]] = {
        "floor": lambda con: con.execute(FLOOR_SQL).fetchall(),
        "whole": lambda con: changes.compare(con, period),
        "owner": lambda con: changes.compare(con, period, "owner"),
    }
    times: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(repeat):
        for name, fn in variants.items():  # interleaved, so load on the machine hits each alike
            times[name].append(_time(fn, old, new))
    med = {k: statistics.median(v) for k, v in times.items()}
    with changes.attach_pair(old, new) as con:
        result = changes.compare(con, period)
        n_old, n_new = (
            con.execute(f"SELECT count(*) FROM {s}.opportunities").fetchone()[0]  # type: ignore[index]
            for s in ("old", "new")
        )
    t = result.total
    moved = sum(p.deals for p in t.buckets.values())
    lines = [
        "## Pipeline changes between two snapshots",
        "",
        f"Two snapshots of {n_old:,} and {n_new:,} deals (`benchmarks/changes.py`: built in SQL "
        "with the dataset layout; the newer one has deals won, lost, removed, re-dated, "
        "re-priced, handed to another rep or moved a stage, and 2% new). Period 2026-Q4: "
        f"Start {t.start.deals:,} deals, End {t.end.deals:,}, {moved:,} deals in a bucket; "
        f"the identity {'balances' if t.balances() else 'does NOT balance'}. Medians of "
        f"{repeat} runs, each on a fresh connection with both files attached read-only.",
        "",
        "| measure | time | / floor |",
        "|---|---|---|",
        f"| floor: DuckDB full outer join of the two tables | {med['floor']:.2f} s | 1.00x |",
        f"| changes, whole pipeline (Start, End, 13 buckets) | {med['whole']:.2f} s | "
        f"{med['whole'] / med['floor']:.2f}x |",
        f"| changes per rep ({REPS} reps, transfers) | {med['owner']:.2f} s | "
        f"{med['owner'] / med['floor']:.2f}x |",
        "",
        "Target: the changes under 3x the floor measured in the same run.",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--opportunities", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    print(run(args.opportunities, args.repeat))


if __name__ == "__main__":
    main()
