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


# Invented names for the Maven-layout generator (the shape of Maven's sales_pipeline.csv:
# a few dozen agents, a handful of products, about a hundred accounts, some deals without
# one; none of its values).
_AGENT_FIRST = (
    "Ada",
    "Bruno",
    "Carla",
    "Dmitri",
    "Elena",
    "Farid",
    "Greta",
    "Hugo",
    "Ines",
    "Jonas",
)
_AGENT_LAST = ("Abbott", "Brandt", "Castillo")
_PRODUCTS = (
    "Core Basic",
    "Core Plus",
    "Core Pro",
    "Edge Basic",
    "Edge Pro",
    "Hub Advanced",
    "Hub Special",
)
_ACCOUNT_STEMS = (
    "Acme",
    "Borealis",
    "Cobalt",
    "Delta",
    "Ember",
    "Fjord",
    "Granite",
    "Harbor",
    "Ion",
    "Juniper",
)
_ACCOUNT_TAILS = ("works", "soft", "labs", "net", "corp", "tron", "data", "line", "wave", "hub")


def _base36_id(col: str) -> str:
    """SQL for 8 base-36 characters from a row number: distinct per row (multiplying by a
    number prime to 36 permutes 0..36^8-1) and in no order, like a CRM's record ids."""
    x = f"({col} * 2654435761 % 2821109907456)"
    digits = "'0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ'"
    chars = [f"substr({digits}, CAST({x} // {36**k} % 36 AS INTEGER) + 1, 1)" for k in range(8)]
    return " || ".join(chars)


def maven_pipeline(path: Path, deals: int = 1_000_000) -> Path:
    """A CSV in the layout of Maven's CRM ``sales_pipeline.csv`` (columns opportunity_id,
    sales_agent, product, account, deal_stage, engage_date, close_date, close_value), written
    by DuckDB from ``range(deals)``, deterministic, ids distinct. Stages: about 48% Won and 28% Lost (engage
    and close dates, a close value; Lost deals close at 0), 18% Engaging (an engage date, no
    close date or value) and 6% Prospecting (no dates, no value); about 16% of deals have no
    account. Dates are YYYY-MM-DD between 2016-10-20 and 2017-12-31. Written once per size and
    reused; 1,000,000 deals are about 60 MB."""
    import duckdb

    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        return path
    agents = [f"{f} {last}" for last in _AGENT_LAST for f in _AGENT_FIRST]  # 30
    accounts = [s + t for s in _ACCOUNT_STEMS for t in _ACCOUNT_TAILS][:86]

    def values(items: list[str] | tuple[str, ...]) -> str:
        return "[" + ", ".join("'" + v.replace("'", "''") + "'" for v in items) + "]"

    partial = path.with_suffix(".partial")
    con = duckdb.connect()
    con.execute(
        f"""COPY (
SELECT id AS opportunity_id, agent AS sales_agent, product, account, deal_stage,
       CASE WHEN deal_stage <> 'Prospecting' THEN engage END AS engage_date,
       CASE WHEN deal_stage IN ('Won', 'Lost') THEN engage + cycle END AS close_date,
       CASE WHEN deal_stage = 'Won' THEN value WHEN deal_stage = 'Lost' THEN 0 END AS close_value
FROM (
  SELECT {_base36_id("i")} AS id,
         {values(agents)}[1 + CAST(hash(i, 1) % 30 AS INTEGER)] AS agent,
         {values(_PRODUCTS)}[1 + CAST(hash(i, 2) % 7 AS INTEGER)] AS product,
         CASE WHEN hash(i, 3) % 100 < 16 THEN NULL
              ELSE {values(accounts)}[1 + CAST(hash(i, 4) % 86 AS INTEGER)] END AS account,
         CASE WHEN hash(i, 5) % 100 < 48 THEN 'Won' WHEN hash(i, 5) % 100 < 76 THEN 'Lost'
              WHEN hash(i, 5) % 100 < 94 THEN 'Engaging' ELSE 'Prospecting' END AS deal_stage,
         DATE '2016-10-20' + CAST(hash(i, 6) % 300 AS INTEGER) AS engage,
         1 + CAST(hash(i, 7) % 138 AS INTEGER) AS cycle,
         38 + CAST(hash(i, 8) % 30000 AS INTEGER) AS value
  FROM range({int(deals)}) t(i)))
TO '{partial}' (HEADER, DELIMITER ',')"""
    )
    con.close()
    partial.rename(path)
    return path
