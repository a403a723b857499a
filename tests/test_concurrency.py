"""Many sessions (threads) on one Workspace: a cursor per query, writes one at a time.

Streamlit runs every browser session in its own thread of one process and DuckDB connections
are not thread-safe, so the workspace hands out cursors of one read-only connection per
dataset and serialises builds. The browser-level version of this test is
``benchmarks/loadtest.py`` (``make bench``).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb

from engine.store.workspace import Workspace


def _reps(names: list[str]):
    def build(con: duckdb.DuckDBPyConnection) -> None:
        for n in names:
            con.execute(
                "INSERT INTO reps (owner, _file, _line, _flagged) VALUES (?, 'reps.csv', 2, false)",
                [n],
            )
        con.execute(
            "INSERT INTO _load_report VALUES ('reps.csv', 'reps', ?, ?, 0, '{}', '{}', '[]')",
            [len(names), len(names)],
        )

    return build


def test_parallel_readers_each_see_only_their_dataset_while_writes_continue(
    tmp_path: Path,
) -> None:
    ws = Workspace(tmp_path)
    expected = {}
    for i in range(4):
        names = [f"s{i}-rep{j}" for j in range(i + 2)]
        expected[ws.create(f"set {i}", _reps(names)).token] = sorted(names)
    tokens = list(expected)
    errors: list[str] = []
    stop = time.time() + 3

    def reader(k: int) -> int:
        n = 0
        while time.time() < stop:
            token = tokens[(k + n) % len(tokens)]
            try:
                with ws.cursor(token) as cur:
                    got = cur.execute("SELECT list(owner ORDER BY owner) FROM reps").fetchone()
                info = ws.info(token)
            except Exception as exc:  # any driver error is the bug this test is about
                errors.append(f"{type(exc).__name__}: {exc}")
                return n
            if got is None or got[0] != expected[token]:
                errors.append(f"reader {k} saw {got} for {token[:6]}")
            if info.row_counts != {"reps": len(expected[token])}:
                errors.append(f"reader {k} info {info.row_counts}")
            n += 1
        return n

    def writer(k: int) -> int:
        made = 0
        while time.time() < stop:
            ws.create(f"new {k}-{made}", _reps([f"w{k}-{made}"]))
            made += 1
        return made

    with ThreadPoolExecutor(max_workers=14) as pool:
        reads = [pool.submit(reader, k) for k in range(12)]
        writes = [pool.submit(writer, k) for k in range(2)]
        total_reads = sum(f.result() for f in reads)
        total_writes = sum(f.result() for f in writes)
    assert errors == []
    assert total_reads > 100 and total_writes >= 2
    assert len(ws.tokens()) == 4 + total_writes
    ws.close()


def test_builds_never_overlap(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    active = 0
    most = 0
    lock = threading.Lock()

    def slow_build(con: duckdb.DuckDBPyConnection) -> None:
        nonlocal active, most
        with lock:
            active += 1
            most = max(most, active)
        time.sleep(0.05)
        _reps(["x"])(con)
        with lock:
            active -= 1

    with ThreadPoolExecutor(max_workers=6) as pool:
        infos = list(pool.map(lambda i: ws.create(f"d{i}", slow_build), range(6)))
    assert most == 1
    assert len({i.token for i in infos}) == 6
    assert all(i.row_counts == {"reps": 1} for i in infos)
    ws.close()
