"""Generated benchmark inputs: the sample generator at scale, written once and reused."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def generate(out: Path, **counts: int) -> None:
    """Write generated CSVs to ``out`` (counts: opportunities, activities, leads)."""
    out.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "sample_data.generate", "--out", str(out)]
    for name, n in counts.items():
        cmd += [f"--{name}", str(n)]
    subprocess.run(cmd, cwd=ROOT, check=True)


# Salesforce's open stages with their default probabilities (as the sample's stage map).
_OPEN_STAGES = (
    ("Prospecting", "opportunity", 1, 10),
    ("Qualification", "opportunity", 2, 10),
    ("Needs Analysis", "opportunity", 3, 20),
    ("Proposal/Price Quote", "proposal", 7, 75),
    ("Negotiation/Review", "proposal", 8, 90),
)


def backtest_dataset(path: Path, deals: int, rows_per_deal: int = 5) -> None:
    """A dataset file for the forecast backtest benchmark, built inside DuckDB (no CSV, no
    pipeline): ``deals`` opportunities created over 2024-01-01..2026-06-18 with cycles of
    20-169 days, and ``rows_per_deal`` stage_history rows each (the open stages in order; a
    closed deal's last row is its close), so 1M deals give 5M history rows."""
    import duckdb

    from engine.core.layout import create_tables

    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    con = duckdb.connect(str(path))
    create_tables(con)
    stages = ", ".join(
        f"('{s}', '{c}', {o}, {p}, {i})" for i, (s, c, o, p) in enumerate(_OPEN_STAGES)
    )
    con.execute(
        f"""CREATE TEMP TABLE g AS
SELECT i, DATE '2024-01-01' + CAST(i * 997 % 900 AS INTEGER) AS created,
       20 + CAST(i * 31 % 150 AS INTEGER) AS cycle, 1000 + CAST(i * 7919 % 50000 AS DOUBLE) AS amount,
       hash(i) % 100 AS h
FROM range({int(deals)}) t(i)"""
    )
    con.execute(
        """INSERT INTO opportunities (opportunity_id, owner, stage, stage_canonical, stage_order,
       stage_probability, amount, created_date, close_date, is_closed, is_won, _file, _line, _flagged)
SELECT 'O' || i, 'rep' || (i % 200), CASE WHEN NOT closed THEN 'Negotiation/Review'
       WHEN won THEN 'Closed Won' ELSE 'Closed Lost' END,
       CASE WHEN NOT closed THEN 'proposal' WHEN won THEN 'closed_won' ELSE 'closed_lost' END,
       CASE WHEN NOT closed THEN 8 WHEN won THEN 9 ELSE 10 END,
       CASE WHEN NOT closed THEN 90 WHEN won THEN 100 ELSE 0 END,
       amount, created, close, closed, closed AND won, 'opportunities.csv', i + 2, false
FROM (SELECT *, created + cycle AS close, created + cycle < DATE '2026-11-20' AS closed,
             h < 25 AS won FROM g)"""
    )
    n = int(rows_per_deal)
    con.execute(
        f"""INSERT INTO stage_history (opportunity_id, stage, stage_canonical, stage_order,
       stage_probability, entered_at, amount, probability, _file, _line, _flagged)
SELECT 'O' || g.i,
       CASE WHEN k = {n} - 1 AND closed THEN (CASE WHEN won THEN 'Closed Won' ELSE 'Closed Lost' END) ELSE s.name END,
       CASE WHEN k = {n} - 1 AND closed THEN (CASE WHEN won THEN 'closed_won' ELSE 'closed_lost' END) ELSE s.canon END,
       CASE WHEN k = {n} - 1 AND closed THEN (CASE WHEN won THEN 9 ELSE 10 END) ELSE s.ord END,
       CASE WHEN k = {n} - 1 AND closed THEN (CASE WHEN won THEN 100 ELSE 0 END) ELSE s.prob END,
       CAST(g.created AS TIMESTAMP) + to_days(CAST(g.cycle * k / {n} AS INTEGER)) + INTERVAL 9 HOUR,
       g.amount, NULL, 'stage_history.csv', g.i * {n} + k + 2, false
FROM (SELECT *, created + cycle < DATE '2026-11-20' AS closed, h < 25 AS won FROM g) g
CROSS JOIN range({n}) r(k)
JOIN (VALUES {stages}) s(name, canon, ord, prob, idx) ON s.idx = k % 5"""
    )
    con.close()
