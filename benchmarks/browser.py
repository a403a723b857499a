"""Browser benchmark: a 1M-deal CSV from the file being set on the uploader to the first chart.

Two apps, each started fresh with ``streamlit run ... --server.headless true --server.port P
--server.maxUploadSize 4000`` and driven in headless Chromium (Playwright), alternately,
``--repeat`` times per input file:

- the minimal app (``benchmarks/minimal_app.py``): upload -> temporary file -> DuckDB
  ``read_csv`` into a table -> one Altair bar chart (deals per stage);
- the workbench (``streamlit_app.py``, an empty workspace, ``WORKBENCH_SAMPLE=0``): the Upload
  page, the proposed mapping accepted as it is (the Load button clicked once it is enabled),
  the load report, then the report's "Open the analysis" link, as a user goes on, up to the
  first chart of that page (Funnel).

The clock starts just before the file is set on the page's ``input[type=file]`` (the page
loaded and idle) and stops when the first chart's marks (the Vega canvas or SVG inside
``stVegaLiteChart``) are visible. The workbench's time is split at the moments the browser
sees: the upload request answered, the Load button enabled, the load report shown, the link
clicked. After the timed runs, one more workbench run per file (not counted) records the
load's progress messages as they appear and profiles the server's threads with cProfile
(``--no-profile`` skips it). Nothing here fails on a slow machine: it measures and reports.

``python -m benchmarks.run --only browser`` (or ``python -m benchmarks.browser``) writes the
section into ``benchmarks/RESULTS.md``; ``python -m benchmarks.browser --no-write`` only prints
it. ``--files`` also takes the path of a deals CSV of your own.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks import loadtest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = HERE / "data"
MINIMAL = HERE / "minimal_app.py"
PRODUCT = ROOT / "streamlit_app.py"
SECTION = "## Browser: upload to first chart"
APPS = ("minimal", "workbench")
# The first chart: the marks Vega draws (canvas or SVG) inside Streamlit's chart element.
CHART = ", ".join(
    f"[data-testid={tid}] {tag}.marks"
    for tid in ("stVegaLiteChart", "stArrowVegaLiteChart")
    for tag in ("canvas", "svg")
)
UPLOAD_ENDPOINT = "/_stcore/upload_file"
# The load's progress messages by first word (as benchmarks/ingest.py names the phases).
PHASES = {
    "Parsing": "read",
    "Validating": "type + validate",
    "Writing": "write",
    "Saving": "save, then the page runs again up to the report",
}
ENV = {
    "WORKBENCH_SAMPLE": "0",
    "WORKBENCH_MAX_UPLOAD_MB": "4000",
    "WORKBENCH_MAX_ROWS": "10000000",
}
# Records each progress line the Upload page adds while it loads (only in the profiled run).
WATCH_PROGRESS = """
window.__progress = [];
new MutationObserver((records) => {
  for (const r of records) for (const n of r.addedNodes) {
    if (!(n instanceof Element)) continue;
    const found = n.matches('[data-testid=stText]') ? [n] : n.querySelectorAll('[data-testid=stText]');
    for (const el of found) window.__progress.push([Date.now(), el.innerText]);
  }
}).observe(document, {childList: true, subtree: true});
"""


@dataclass
class Run:
    """One timed run of one app on one file; times in seconds from the file being set."""

    app: str
    file: str
    chart: float = 0.0  # the first chart visible
    uploaded: float = 0.0  # the upload request answered
    marks: dict[str, float] = field(default_factory=dict)  # the workbench's steps
    progress: list[tuple[float, str]] = field(default_factory=list)
    wall0: float = 0.0  # wall clock when the file was set (to place the server's runs)
    server_cpu: float = 0.0  # the server's CPU seconds over the timed span
    problem: str = ""


# --------------------------------------------------------------------------------- inputs
# Eight base-36 digits: i * 2654435761 mod 36**8 is one-to-one (the factor is prime to 2 and 3),
# so every id is distinct and they do not run in order, like a CRM's.
_POWERS_36 = [36**k for k in range(7, -1, -1)]
_DIGITS = list("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def maven_csv(path: Path, rows: int) -> Path:
    """A deals CSV in the Maven sales_pipeline layout (opportunity_id, sales_agent, product,
    account, deal_stage, engage_date, close_date, close_value), written by DuckDB: stages
    Won/Lost/Engaging/Prospecting, ISO dates, no engage date for Prospecting and no close
    date or value for open deals, as in the public export's shape."""
    import duckdb

    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    con = duckdb.connect()
    con.execute(
        f"""COPY (
SELECT array_to_string(list_transform({_POWERS_36}, lambda p: {_DIGITS}[1 + CAST(i * 2654435761 % {36**8} // p % 36 AS INTEGER)]), '') AS opportunity_id,
       'Agent ' || lpad(CAST(i % 30 AS VARCHAR), 2, '0') AS sales_agent,
       ['GTX Basic', 'GTX Pro', 'MG Special', 'MG Advanced', 'GTX Plus Pro',
        'GTX Plus Basic', 'GTK 500'][1 + CAST(i % 7 AS INTEGER)] AS product,
       'Account ' || CAST(i * 7 % 85 AS VARCHAR) AS account,
       stage AS deal_stage,
       CASE WHEN stage = 'Prospecting' THEN NULL ELSE engage END AS engage_date,
       CASE WHEN stage IN ('Won', 'Lost') THEN engage + CAST(i * 13 % 140 + 1 AS INTEGER)
       END AS close_date,
       CASE WHEN stage = 'Won' THEN 50 + i * 7919 % 30000
            WHEN stage = 'Lost' THEN 0 END AS close_value
FROM (SELECT i, DATE '2016-10-20' + CAST(i * 997 % 430 AS INTEGER) AS engage,
             CASE WHEN i % 100 < 48 THEN 'Won' WHEN i % 100 < 76 THEN 'Lost'
                  WHEN i % 100 < 94 THEN 'Engaging' ELSE 'Prospecting' END AS stage
      FROM range({int(rows)}) t(i))
) TO '{str(partial).replace("'", "''")}' (HEADER, DELIMITER ',')"""
    )
    con.close()
    partial.rename(path)
    return path


def wide_csv(rows: int) -> Path:
    """The wide generator's opportunities.csv with ``rows`` deals (generated once if absent)."""
    for candidate in (
        DATA / f"indicators_o{rows}" / "csv" / "opportunities.csv",
        DATA / f"o{rows}_a5000000" / "opportunities.csv",
        DATA / f"browser_o{rows}" / "opportunities.csv",
    ):
        if candidate.exists():
            return candidate
    from benchmarks.datagen import generate

    out = DATA / f"browser_o{rows}"
    generate(out, opportunities=rows, activities=1000)
    return out / "opportunities.csv"


GENERATED = ("wide", "maven")


def maven_file(rows: int) -> Path:
    """The Maven-layout file: the ingest benchmark's (``datagen.maven_pipeline``) where
    ``benchmarks/datagen.py`` has it, else this module's own (``maven_csv``)."""
    from benchmarks import datagen

    shared = getattr(datagen, "maven_pipeline", None)
    if shared is not None:
        return Path(shared(DATA / f"maven_o{rows}" / "sales_pipeline.csv", rows))
    return maven_csv(DATA / f"maven_o{rows}.csv", rows)


def inputs(rows: int, which: list[str]) -> list[tuple[str, Path]]:
    """(name, path) of each input: ``wide`` and ``maven`` are generated with ``rows`` deals,
    anything else is the path of a deals CSV (an export of your own)."""
    found = []
    for name in which:
        if name == "wide":
            path = wide_csv(rows)
        elif name == "maven":
            path = maven_file(rows)
        else:
            path = Path(name)
        found.append((name, path))
    return found


def describe(name: str, path: Path) -> str:
    with path.open("rb") as fh:
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 24), b""))
    layout = {"wide": "wide generator", "maven": "Maven layout"}.get(name, f"`{path.name}`")
    return f"{layout}, {lines - 1:,} deals, {path.stat().st_size / 1e6:.1f} MB"


# --------------------------------------------------------------------------------- servers
@contextlib.contextmanager
def serve(
    app: str, port: int, workdir: Path, profile: Path | None = None
) -> Iterator[tuple[str, int]]:
    """``streamlit run`` of one app on 127.0.0.1:``port`` with a fresh workspace under
    ``workdir``, as (its URL, its process id); with ``profile``, every server thread runs
    under cProfile (``serve_profiled``)."""
    script = MINIMAL if app == "minimal" else PRODUCT
    args = [
        "run",
        str(script),
        "--server.headless",
        "true",
        "--server.address",
        "127.0.0.1",
        "--server.port",
        str(port),
        "--server.maxUploadSize",
        "4000",
    ]
    prefix = [sys.executable, "-m", "streamlit"]
    if profile is not None:
        prefix = [sys.executable, "-m", "benchmarks.browser", "--serve-profiled", str(profile)]
    env = dict(os.environ, WORKBENCH_WORKSPACE=str(workdir / "ws"), **ENV)
    log_path = workdir / f"{app}-server.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [*prefix, *args], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 90
        while True:
            try:
                urllib.request.urlopen(base + "/_stcore/health", timeout=2)
                break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    raise RuntimeError(
                        f"{app} did not start: {log_path.read_text()[-2000:]}"
                    ) from None
                time.sleep(0.3)
        yield base, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def serve_profiled(out: str, args: list[str]) -> int:
    """Run ``streamlit`` (``args``) with every thread under its own cProfile. As the server
    exits, each script run's profile (one thread per run) is written to ``out.<n>`` and
    ``out.json`` lists them with the wall-clock time each started; the other threads' are
    merged into ``out.server``."""
    import atexit
    import cProfile
    import json
    import threading

    profiles: list[tuple[str, float, cProfile.Profile]] = []

    def start(_frame, _event, _arg):  # type: ignore[no-untyped-def]
        sys.setprofile(None)
        prof = cProfile.Profile()
        profiles.append((threading.current_thread().name, time.time(), prof))
        prof.enable()

    def dump() -> None:
        main.disable()
        index = []
        server = [main]
        for i, (name, started, prof) in enumerate(profiles):
            if not name.startswith("ScriptRunner"):
                server.append(prof)
                continue
            pstats.Stats(prof).dump_stats(f"{out}.{i}")  # type: ignore[arg-type]
            index.append({"path": f"{out}.{i}", "started": started})
        pstats.Stats(*server).dump_stats(out + ".server")  # type: ignore[arg-type]
        Path(out + ".json").write_text(json.dumps(index))

    main = cProfile.Profile()
    threading.setprofile(start)
    atexit.register(dump)
    from streamlit.web import cli

    sys.argv = ["streamlit", *args]
    main.enable()
    try:
        cli.main()
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


# --------------------------------------------------------------------------------- browser
async def _upload_page(page, base: str, app: str) -> None:  # type: ignore[no-untyped-def]
    """Open the app's page with the uploader and wait until it is idle."""
    await page.goto(base + ("/upload" if app == "workbench" else "/"))
    await page.locator("input[type=file]").wait_for(state="attached")
    await loadtest._settled(page)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far, all its threads (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure(
    browser, base: str, pid: int, app: str, name: str, path: Path, watch: bool
) -> Run:  # type: ignore[no-untyped-def]
    """One run: set the file, then follow the app's path to its first chart."""
    run = Run(app, name)
    ctx = await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = await ctx.new_page()
    page.set_default_timeout(300_000)
    uploads: list[float] = []
    page.on(
        "requestfinished",
        lambda req: uploads.append(time.perf_counter()) if UPLOAD_ENDPOINT in req.url else None,
    )
    try:
        if watch:
            await page.add_init_script(WATCH_PROGRESS)
        await _upload_page(page, base, app)
        t0 = time.perf_counter()
        run.wall0 = wall0 = time.time()
        cpu0 = cpu_seconds(pid)
        await page.locator("input[type=file]").set_input_files(str(path))
        if app == "workbench":
            load = page.get_by_role("button", name="Load", exact=True)
            await load.and_(page.locator(":enabled")).wait_for(state="visible")
            run.marks["Load enabled"] = time.perf_counter() - t0
            await load.click()
            await page.get_by_text("Loaded dataset").wait_for(state="visible")
            run.marks["report shown"] = time.perf_counter() - t0
            await page.get_by_role("link", name="Open the analysis").click()
            run.marks["link clicked"] = time.perf_counter() - t0
        await page.locator(CHART).first.wait_for(state="visible")
        run.chart = time.perf_counter() - t0
        run.server_cpu = cpu_seconds(pid) - cpu0
        run.uploaded = (uploads[0] - t0) if uploads else float("nan")
        if watch:
            seen = await page.evaluate("window.__progress || []")
            run.progress = [(stamp / 1000 - wall0, text) for stamp, text in seen]
    except Exception as exc:  # a timeout or a crash is a finding, not an abort
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        run.problem = f"{type(exc).__name__}: {' | '.join(lines[:2])[:300]}"
    finally:
        await ctx.close()
    return run


async def _one(app: str, name: str, path: Path, port: int, profile: Path | None) -> Run:
    from playwright.async_api import async_playwright

    with tempfile.TemporaryDirectory(prefix=f"workbench-browser-{app}-") as tmp:
        with serve(app, port, Path(tmp), profile) as (base, pid):
            async with async_playwright() as pw:
                browser = await pw.chromium.launch(
                    executable_path=loadtest.CHROMIUM, args=loadtest.ARGS
                )
                try:
                    return await measure(browser, base, pid, app, name, path, profile is not None)
                finally:
                    await browser.close()


def one(app: str, name: str, path: Path, port: int, profile: Path | None = None) -> Run:
    """One run in a fresh server and a fresh browser."""
    return asyncio.run(_one(app, name, path, port, profile))


# --------------------------------------------------------------------------------- report
def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} s ({min(values):.1f}-{max(values):.1f})"


def steps(run: Run) -> dict[str, float]:
    """The workbench run's time per step, in seconds, from the moments the browser saw."""
    m = run.marks
    return {
        "upload transfer": run.uploaded,
        "inspect + mapping page": m["Load enabled"] - run.uploaded,
        "load (click to report)": m["report shown"] - m["Load enabled"],
        "report to link click": m["link clicked"] - m["report shown"],
        "Funnel page to first chart": run.chart - m["link clicked"],
    }


def progress_phases(run: Run) -> dict[str, float]:
    """Seconds between the load's progress messages, by phase (read, type + validate, write,
    save), up to the report being shown."""
    out: dict[str, float] = {}
    marks = [(t, msg) for t, msg in run.progress if msg.split(" ", 1)[0] in PHASES]
    ends = [t for t, _ in marks[1:]] + [run.marks.get("report shown", run.chart)]
    if marks:
        out["before the first message"] = marks[0][0] - run.marks.get("Load enabled", 0.0)
    for (start, msg), end in zip(marks, ends, strict=True):
        phase = PHASES[msg.split(" ", 1)[0]]
        out[phase] = out.get(phase, 0.0) + end - start
    return out


# What the server does in each script run after the file is set: (module, function, label).
PROFILE_ROWS = (
    ("engine/load/ingest.py", "read_file", "inspect the upload (head, line count)"),
    ("engine/load/pipeline.py", "default_stage_map", "stage map proposal (reads the stage column)"),
    ("views/upload.py", "file_section", "file sections (mapping boxes, preview)"),
    ("engine/load/pipeline.py", "load_plans", "the load (`load_plans`)"),
    ("engine/load/ingest.py", "records", "  read the CSV (pyarrow)"),
    ("engine/load/typed.py", "resolve_formats", "  choose date and number formats"),
    ("engine/load/typed.py", "_validate_all", "  type + validate"),
    ("engine/load/typed.py", "_write_loaded", "  write the loaded rows"),
    ("views/upload.py", "load_report", "load report"),
    ("engine/semantic/compute.py", "run_sql", "metric queries"),
    ("views/common.py", "chart", "charts (Altair spec to the page)"),
    (
        "streamlit/runtime/state/session_state.py",
        "register_widget",
        "widget values copied (the upload among them)",
    ),
    (
        "streamlit/runtime/scriptrunner/script_runner.py",
        "_on_script_finished",
        "garbage collection after the run",
    ),
)


def _label(funcs: set[tuple[str, str]]) -> str:
    """What triggered a script run, from the functions it called."""
    if ("engine/load/pipeline.py", "load_plans") in funcs:
        return "Load clicked"
    if ("views/funnel.py", "<module>") in funcs:
        return "Funnel page"
    if ("engine/load/pipeline.py", "inspect_file") in funcs:
        return "file received"
    return "other run"


def script_runs(index: Path, after: float) -> list[tuple[str, float, float, dict[str, float]]]:
    """(what, started s after the file was set, seconds, seconds per ``PROFILE_ROWS`` label)
    of each profiled script run that started after the file was set (wall clock ``after``)."""
    import json

    out = []
    for entry in json.loads(index.read_text()):
        if entry["started"] < after - 0.2:
            continue  # the page opened before the file was set
        stats = pstats.Stats(entry["path"], stream=io.StringIO())
        cum: dict[tuple[str, str], float] = {}
        for (file, _line, func), (_cc, _nc, _tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
            rel = file.split("/site-packages/", 1)[-1].replace(str(ROOT) + "/", "")
            cum[(rel, func)] = cum.get((rel, func), 0.0) + ct
        cells = {label: cum[(f, fn)] for f, fn, label in PROFILE_ROWS if (f, fn) in cum}
        total = stats.total_tt  # type: ignore[attr-defined]
        out.append((_label(set(cum)), entry["started"] - after, total, cells))
    return out


def _medians(runs: list[Run], name: str, app: str, what: str) -> list[float]:
    return [getattr(r, what) for r in runs if r.file == name and r.app == app and not r.problem]


def ratios(runs: list[Run], labels: dict[str, str]) -> dict[str, float]:
    """Workbench median / minimal-app median per input file (files with runs of both)."""
    out = {}
    for name in labels:
        mins, wbs = (
            _medians(runs, name, "minimal", "chart"),
            _medians(runs, name, "workbench", "chart"),
        )
        if mins and wbs:
            out[name] = statistics.median(wbs) / statistics.median(mins)
    return out


def summarise(
    runs: list[Run],
    labels: dict[str, str],
    repeat: int,
    profiled: dict[str, tuple[Run, list[tuple[str, float, float, dict[str, float]]]]],
    load: float,
) -> str:
    ok = [r for r in runs if not r.problem]
    lines = [
        SECTION,
        "",
        "Each app started fresh (`streamlit run ... --server.headless true --server.maxUploadSize "
        "4000`, the workbench with an empty workspace and `WORKBENCH_SAMPLE=0`) and driven in "
        "headless Chromium with Playwright; the two apps alternate, "
        f"{repeat} run(s) each per file (measured {time.strftime('%Y-%m-%d')} by "
        "`python -m benchmarks.run --only browser`). Timed from the file being set on the uploader "
        "(page loaded and idle) to the first chart's marks visible. Minimal app "
        "(`benchmarks/minimal_app.py`): upload, temporary file, DuckDB `read_csv` into a "
        "table, one Altair bar chart of deals per stage. Workbench: the Upload page, the "
        "proposed mapping accepted (Load clicked once enabled), the load report, then its "
        '"Open the analysis" link to the Funnel page and that page\'s first chart. Server, '
        f"browser and uploads share this machine's {os.cpu_count()} CPU(s) (1-minute load "
        f"average before the run: {load:.1f}), so the server's CPU time over the same span "
        "is given beside the wall time. Medians with (min-max).",
        "",
        "| input | minimal app | workbench | workbench / minimal | server CPU: minimal | "
        "server CPU: workbench |",
        "|---|---|---|---|---|---|",
    ]
    found = ratios(runs, labels)
    for name, label in labels.items():
        cells = []
        for what in ("chart", "server_cpu"):
            for app in APPS:
                values = _medians(runs, name, app, what)
                cells.append(_spread(values) if values else "-")
        ratio = f"{found[name]:.2f}x" if name in found else "n/a (a run failed)"
        lines.append(f"| {label} | {cells[0]} | {cells[1]} | {ratio} | {cells[2]} | {cells[3]} |")
    if found:
        worst = max(found.values())
        verdict = "met" if worst <= 2 else f"**not met** (up to {worst:.2f}x in this run)"
    else:
        verdict = "not measured"
    lines += ["", f"Target: the workbench at most 2x the minimal app: {verdict}."]
    for name, label in labels.items():
        if found.get(name, 0) > 2:
            mins = statistics.median(_medians(runs, name, "minimal", "chart"))
            wbs = statistics.median(_medians(runs, name, "workbench", "chart"))
            lines.append(
                f"On the {label.split(',')[0]} file the workbench would have to be "
                f"{wbs - 2 * mins:.1f} s faster ({wbs:.1f} s against a budget of {2 * mins:.1f} s)."
            )

    step_names = list(
        steps(Run("", "", marks={"Load enabled": 0, "report shown": 0, "link clicked": 0}))
    )
    lines += [
        "",
        "Where the time goes, as the browser sees it (medians of the timed runs, seconds): "
        "upload transfer = the file set until the upload request is answered (both apps send "
        "the file the same way); the rest of the minimal app's time is its script (temporary "
        "file, `read_csv`, chart) and drawing the chart.",
        "",
        "| input | app | " + " | ".join(step_names) + " | total |",
        "|---|---|" + "---|" * (len(step_names) + 1),
    ]
    for name, label in labels.items():
        for app in APPS:
            mine = [r for r in ok if r.file == name and r.app == app]
            if not mine:
                continue
            if app == "workbench":
                cells = [f"{statistics.median(steps(r)[s] for r in mine):.1f}" for s in step_names]
            else:
                up = statistics.median(r.uploaded for r in mine)
                rest = statistics.median(r.chart - r.uploaded for r in mine)
                cells = [f"{up:.1f}", f"script to chart: {rest:.1f}"]
                cells += ["-"] * (len(step_names) - 2)
            total = statistics.median(r.chart for r in mine)
            lines.append(f"| {label} | {app} | " + " | ".join(cells) + f" | {total:.1f} |")
    for name, (run, sruns) in profiled.items():
        lines += [
            "",
            f"Server side, {labels[name]}: one more workbench run (not counted above) with "
            "every server thread under cProfile (which slows Python code, not DuckDB's or "
            "Arrow's) and the load's progress messages timed as they appear in the page "
            f"(first chart after {run.chart:.1f} s in this run).",
            "",
            "| load phase (progress messages, from Load enabled to the report) | seconds |",
            "|---|---:|",
        ]
        lines += [f"| {k} | {v:.1f} |" for k, v in progress_phases(run).items()]
        heads = [f"{what} (at {at:.1f} s)" for what, at, _, _ in sruns]
        lines += [
            "",
            "| script run after the file was set (cProfile, cumulative s) | "
            + " | ".join(heads)
            + " |",
            "|---|" + "---:|" * len(sruns),
            "| whole run | " + " | ".join(f"{total:.2f}" for _, _, total, _ in sruns) + " |",
        ]
        for _, _, label in PROFILE_ROWS:
            if any(label in cells for *_, cells in sruns):
                vals = [f"{cells[label]:.2f}" if label in cells else "" for *_, cells in sruns]
                lines.append(f"| {label} | " + " | ".join(vals) + " |")
    problems = [f"{r.app} on {r.file}: {r.problem}" for r in runs if r.problem]
    lines += ["", "Problems: " + ("none" if not problems else "")]
    lines += [f"- {p}" for p in problems]
    return "\n".join(lines)


def run(
    repeat: int = 3,
    rows: int = 1_000_000,
    files: tuple[str, ...] = ("wide", "maven"),
    port: int | None = None,
    profile: bool = True,
) -> str:
    """Measure and return the markdown section."""
    if not Path(loadtest.CHROMIUM).exists():
        return f"{SECTION}\n\nSkipped: {loadtest.CHROMIUM} is not installed."
    load = os.getloadavg()[0]
    found = inputs(rows, list(files))
    labels = {name: describe(name, path) for name, path in found}
    runs: list[Run] = []
    for name, path in found:
        for i in range(repeat):
            for app in APPS if i % 2 == 0 else APPS[::-1]:
                res = one(app, name, path, port or loadtest._free_port())
                print(f"{name} {app}: {res.chart:.1f} s {res.marks} {res.problem}", flush=True)
                runs.append(res)
    profiled: dict[str, tuple[Run, list[tuple[str, float, float, dict[str, float]]]]] = {}
    if profile:
        for name, path in found:
            with tempfile.TemporaryDirectory(prefix="workbench-browser-prof-") as tmp:
                out = Path(tmp) / "script.prof"
                res = one("workbench", name, path, port or loadtest._free_port(), out)
                index = out.with_name(out.name + ".json")
                if res.problem or not index.exists():
                    print(f"profiled run on {name}: {res.problem or 'no profile'}", flush=True)
                    continue
                profiled[name] = (res, script_runs(index, res.wall0))
    return summarise(runs, labels, repeat, profiled, load)


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="runs of each app per file")
    ap.add_argument("--rows", type=int, default=1_000_000, help="deals in each file")
    ap.add_argument(
        "--files",
        default="wide,maven",
        help="comma-separated: wide (the generator's opportunities.csv), maven (the Maven "
        "layout, generated), or the path of a deals CSV",
    )
    ap.add_argument("--port", type=int, default=None, help="port for the apps (default: any free)")
    ap.add_argument("--no-profile", action="store_true", help="skip the profiled extra run")
    ap.add_argument("--no-write", action="store_true", help="print only, leave RESULTS.md")
    return ap


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--serve-profiled"]:
        return serve_profiled(argv[1], argv[2:])
    args = parser().parse_args(argv)
    files = tuple(f.strip() for f in args.files.split(",") if f.strip())
    unknown = [f for f in files if f not in GENERATED and not Path(f).is_file()]
    if unknown:
        parser().error(f"unknown file(s): {', '.join(unknown)}")
    section = run(args.repeat, args.rows, files, args.port, not args.no_profile)
    print(section)
    if not args.no_write:
        loadtest.write_section(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
