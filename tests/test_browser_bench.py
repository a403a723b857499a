"""The browser benchmark's parts that do not need a browser: the minimal app draws its one
chart, the Maven-layout generator writes the shape it promises, the command line parses, and
the report's arithmetic (steps, phases, ratios, the profile of a script run) is right. No
timing is asserted: a benchmark never fails on a slow machine."""

from __future__ import annotations

import cProfile
import json
import os
import time
from pathlib import Path

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

from benchmarks import browser, minimal_app
from engine.load.pipeline import inspect_file
from tests.test_app_helpers import chart_frames

DEALS = b"""opportunity_id,owner,stage,amount
O1,Ann,Closed Won,100
O2,Bob,Closed Won,200
O3,Ann,Closed Lost,50
O4,Cid,Prospecting,10
O5,Bob,Closed Won,70
"""


def test_the_minimal_app_charts_deals_per_stage() -> None:
    at = AppTest.from_file(str(browser.MINIMAL), default_timeout=60)
    at.run()
    assert not at.exception
    assert chart_frames(at) == {}  # nothing before a file
    at.file_uploader[0].set_value([("deals.csv", DEALS, "text/csv")]).run()
    assert not at.exception and not at.error
    [(spec, frames)] = chart_frames(at).values()
    counts = dict(zip(frames[0]["stage"], frames[0]["deals"], strict=True))
    # O1, O2, O5 won; O3 lost; O4 prospecting.
    assert counts == {"Closed Won": 3, "Closed Lost": 1, "Prospecting": 1}
    assert spec["mark"]["type"] == "bar"
    assert "tooltip" in spec["encoding"]


def test_the_minimal_app_counts_only_an_allowed_stage_column() -> None:
    assert minimal_app.stage_column(["opportunity_id", "deal_stage"]) == "deal_stage"
    assert minimal_app.stage_column(["stage", "deal_stage"]) == "stage"
    assert minimal_app.stage_column(["Id", "StageName"]) == "StageName"
    assert minimal_app.stage_column(['x" FROM secrets --']) is None


def test_the_maven_layout_file_has_its_shape(tmp_path: Path) -> None:
    path = browser.maven_csv(tmp_path / "maven.csv", 200)
    con = duckdb.connect()
    rel = con.sql("SELECT * FROM read_csv(?, all_varchar = true)", params=[str(path)])
    assert rel.columns == [
        "opportunity_id",
        "sales_agent",
        "product",
        "account",
        "deal_stage",
        "engage_date",
        "close_date",
        "close_value",
    ]
    rows = con.execute(
        """SELECT deal_stage, count(*), count(engage_date), count(close_date), count(close_value)
        FROM read_csv(?, all_varchar = true) GROUP BY 1 ORDER BY 1""",
        [str(path)],
    ).fetchall()
    # Per 100 deals (i % 100): 0-47 Won, 48-75 Lost, 76-93 Engaging, 94-99 Prospecting; twice.
    # Prospecting has no engage date; only closed deals have a close date and value.
    assert rows == [
        ("Engaging", 36, 36, 0, 0),
        ("Lost", 56, 56, 56, 56),
        ("Prospecting", 12, 0, 0, 0),
        ("Won", 96, 96, 96, 96),
    ]
    ids = con.execute("SELECT count(DISTINCT opportunity_id) FROM read_csv(?)", [str(path)])
    assert ids.fetchone() == (200,)
    # The workbench recognises it as deals without help.
    plan = inspect_file(path, "sales_pipeline.csv")
    assert plan.table == "opportunities" and not plan.blocking_problems()


def test_the_maven_file_comes_from_the_shared_generator_when_there_is_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from benchmarks import datagen

    monkeypatch.setattr(browser, "DATA", tmp_path)
    monkeypatch.delattr(datagen, "maven_pipeline", raising=False)
    assert browser.maven_file(50) == tmp_path / "maven_o50.csv"
    calls = []

    def shared(path: Path, deals: int) -> Path:
        calls.append((path, deals))
        return path

    monkeypatch.setattr(datagen, "maven_pipeline", shared, raising=False)
    assert browser.maven_file(50) == tmp_path / "maven_o50" / "sales_pipeline.csv"
    assert calls == [(tmp_path / "maven_o50" / "sales_pipeline.csv", 50)]


def test_an_export_of_your_own_is_named_by_its_file(tmp_path: Path) -> None:
    path = tmp_path / "deals.csv"
    path.write_bytes(DEALS)
    assert browser.inputs(10, [str(path)]) == [(str(path), path)]
    # 5 deals under a header; 143 bytes.
    assert browser.describe(str(path), path) == "`deals.csv`, 5 deals, 0.0 MB"


def test_the_command_line_parses() -> None:
    args = browser.parser().parse_args(["--repeat", "5", "--files", "maven", "--port", "8613"])
    assert (args.repeat, args.files, args.port, args.no_profile) == (5, "maven", 8613, False)
    defaults = browser.parser().parse_args([])
    assert (defaults.repeat, defaults.rows, defaults.files) == (3, 1_000_000, "wide,maven")
    with pytest.raises(SystemExit):
        browser.main(["--files", "wide,no/such/file.csv", "--no-write"])


def _workbench_run(chart: float, uploaded: float = 1.0) -> browser.Run:
    marks = {"Load enabled": 3.0, "report shown": 9.5, "link clicked": 9.75}
    return browser.Run("workbench", "wide", chart=chart, uploaded=uploaded, marks=marks)


def test_the_steps_add_up_to_the_first_chart() -> None:
    steps = browser.steps(_workbench_run(12.0))
    assert steps == {
        "upload transfer": 1.0,
        "inspect + mapping page": 2.0,  # 3.0 - 1.0
        "load (click to report)": 6.5,  # 9.5 - 3.0
        "report to link click": 0.25,  # 9.75 - 9.5
        "Funnel page to first chart": 2.25,  # 12.0 - 9.75
    }
    assert sum(steps.values()) == pytest.approx(12.0)


def test_the_progress_messages_become_phases() -> None:
    run = _workbench_run(12.0)
    run.progress = [
        (1.5, "Read as csv."),  # not a load message
        (3.5, "Parsing deals.csv"),
        (4.5, "Validating deals.csv"),
        (5.0, "Validating deals.csv"),
        (6.0, "Writing deals.csv"),
        (8.0, "Saving the dataset"),
    ]
    phases = browser.progress_phases(run)
    assert phases == pytest.approx(
        {
            "before the first message": 0.5,  # 3.5 - Load enabled 3.0
            "read": 1.0,  # 4.5 - 3.5
            "type + validate": 1.5,  # (5.0 - 4.5) + (6.0 - 5.0)
            "write": 2.0,  # 8.0 - 6.0
            "save, then the page runs again up to the report": 1.5,  # report 9.5 - 8.0
        }
    )


def test_the_ratio_is_of_medians_and_failed_runs_do_not_count() -> None:
    runs = [
        browser.Run("minimal", "wide", chart=4.0),
        browser.Run("minimal", "wide", chart=6.0),
        browser.Run("minimal", "wide", chart=5.0),
        _workbench_run(12.0),
        _workbench_run(9.0),
        _workbench_run(30.0),
        browser.Run("workbench", "wide", chart=0.0, problem="TimeoutError: no chart"),
        browser.Run("minimal", "maven", chart=3.0),  # no workbench run on maven: no ratio
    ]
    labels = {"wide": "wide generator, 5 deals", "maven": "Maven layout, 5 deals"}
    # medians 12.0 / 5.0
    assert browser.ratios(runs, labels) == {"wide": pytest.approx(2.4)}
    text = browser.summarise(runs, labels, 3, {}, 0.5)
    assert "| wide generator, 5 deals | 5.0 s (4.0-6.0) | 12.0 s (9.0-30.0) | 2.40x |" in text
    assert "**not met** (up to 2.40x in this run)" in text
    assert "2.0 s faster (12.0 s against a budget of 10.0 s)" in text  # 12.0 - 2 x 5.0
    assert "| Maven layout, 5 deals | 3.0 s (3.0-3.0) | - | n/a (a run failed) |" in text
    assert "- workbench on wide: TimeoutError: no chart" in text


def test_the_server_cpu_time_is_read() -> None:
    before = browser.cpu_seconds(os.getpid())
    end = time.process_time() + 0.05
    while time.process_time() < end:
        pass
    assert browser.cpu_seconds(os.getpid()) > before
    assert browser.cpu_seconds(2**22 + 12345) != browser.cpu_seconds(2**22 + 12345)  # nan


def test_a_profiled_script_run_is_labelled_and_broken_down(tmp_path: Path) -> None:
    prof = cProfile.Profile()
    prof.enable()
    inspect_file(DEALS, "deals.csv")
    prof.disable()
    prof.dump_stats(str(tmp_path / "run.0"))
    started = time.time()
    index = tmp_path / "run.json"
    index.write_text(json.dumps([{"path": str(tmp_path / "run.0"), "started": started}]))
    [(what, at, total, cells)] = browser.script_runs(index, started - 1.0)
    assert (what, at) == ("file received", pytest.approx(1.0))
    assert 0 < cells["inspect the upload (head, line count)"] <= total
    # A run that started before the file was set is left out.
    assert browser.script_runs(index, started + 5.0) == []
