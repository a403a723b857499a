"""``python -m engine backtest`` on files of the tiny history of tests/test_backtest.py."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from engine.cli.commands import main
from tests.test_backtest import AS_OF, HISTORY, OPPS


def _write(tmp_path: Path, name: str, rows: list[dict]) -> Path:
    cols = list(dict.fromkeys(k for r in rows for k in r))
    path = tmp_path / name
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if r.get(k) is None else r[k]) for k in cols})
    return path


@pytest.fixture
def files(tmp_path: Path) -> list[str]:
    opps = [
        {**o, "is_won": o["stage"] == "Closed Won", "is_closed": o["stage"].startswith("Closed")}
        for o in OPPS
    ]
    return [
        str(_write(tmp_path, "opportunities.csv", opps)),
        str(_write(tmp_path, "stage_history.csv", HISTORY)),
    ]


def test_backtest_json(files: list[str]) -> None:
    out = io.StringIO()
    assert main(["backtest", *files, "--as-of", AS_OF, "--json"], out=out) == 0
    data = json.loads(out.getvalue())
    r = {(x["checkpoint"], x["method"]): x for x in data["results"]}
    # the hand-computed numbers of tests/test_backtest.py, through loading CSVs
    assert r[("2026-01-01", "crm_probability")]["forecast"] == pytest.approx(230)
    assert r[("2026-01-29", "historical_rate")]["forecast"] == pytest.approx(205)
    assert r[("2026-02-26", "historical_rate_plus_new")]["forecast"] == pytest.approx(500)
    assert r[("2026-01-01", "naive")]["actual"] == pytest.approx(550)
    assert r[("2026-01-01", "crm_probability")]["error"] == pytest.approx(230 - 550)
    assert {s["method"] for s in data["summary"]} == {
        "crm_probability",
        "historical_rate",
        "historical_rate_plus_new",
        "naive",
    }
    assert data["projection"][0]["period"] == "2026-Q2"


def test_backtest_text_says_why_when_history_is_short(files: list[str]) -> None:
    out = io.StringIO()
    assert main(["backtest", *files, "--as-of", "2025-10-15"], out=out) == 0
    assert "needs 4 quarters of history before 2025-Q3; this data has 2" in out.getvalue()


def test_backtest_period_limits_the_quarters(files: list[str]) -> None:
    out = io.StringIO()
    assert main(["backtest", *files, "--as-of", AS_OF, "--period", "2025", "--json"], out=out) == 0
    data = json.loads(out.getvalue())
    assert data["results"] == []
    assert data["reason"] == "needs 4 quarters of history before 2025-Q1; this data has 0"
