"""Concurrent sessions against a real ``streamlit run`` on 127.0.0.1 (Playwright + Chromium).

Eight browser contexts (separate sessions, as eight people) each upload their own deals file
at the same time, then browse the pages in a loop until the time budget ends. Every session's
file has its own owner names and row count, so a session that saw another's numbers would
show a foreign owner name or a wrong "rows in" count. Checked on every page view:

- the page rendered its header, with no exception, no "connection busy"/lock error;
- no other session's owner names appear, and the Data quality page reconciles this
  session's own row count;
- the sidebar lists exactly one dataset (this session's).

Page time is measured from the click on a page link to the header being visible and the
app idle. Run with ``python -m benchmarks.loadtest`` or ``make bench`` (``--only loadtest``);
each session browses for ``--seconds`` after its upload (default 60; about two and a half
minutes in all, with a hard stop two minutes after that) and writes its section of
``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PAGES = {
    "quality": "Data quality",
    "funnel": "Funnel benchmarks",
    "velocity": "Sales velocity",
    "coverage": "Pipeline coverage",
    "coaching": "Coaching scorecards",
}
LINK_NAMES = {
    "quality": "Data quality",
    "funnel": "Funnel",
    "velocity": "Velocity",
    "coverage": "Coverage",
    "coaching": "Coaching",
}
BAD_WORDS = re.compile(
    r"connection (is )?busy|database is locked|could not set lock|Conflicting lock|"
    r"Traceback|This app has encountered an error|Query failed",
    re.IGNORECASE,
)
SECTION = "## Concurrent sessions (load test)"


@dataclass
class SessionResult:
    index: int
    upload_seconds: float = 0.0
    page_times: list[tuple[str, float]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def owners(i: int) -> list[str]:
    return [f"Sess{i}Ann", f"Sess{i}Bob", f"Sess{i}Cid"]


def rows_for(i: int) -> int:
    return 40 + 7 * i


def deals_csv(i: int) -> str:
    """A small deals export unique to session ``i`` (owners and row count)."""
    stages = ["Prospecting", "Qualification", "Proposal", "Closed Won", "Closed Lost"]
    lines = ["Opportunity ID,Opportunity Owner,Stage,Amount,Created Date,Close Date,Segment"]
    for r in range(rows_for(i)):
        month = 1 + r % 12
        lines.append(
            f"S{i}-{r:04d},{owners(i)[r % 3]},{stages[r % 5]},{1000 * (i + 1) + r},"
            f"2025-{month:02d}-03,2025-{month:02d}-25,{'SMB' if r % 2 else 'Enterprise'}"
        )
    return "\n".join(lines) + "\n"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(workdir: Path) -> tuple[subprocess.Popen, str]:
    """``streamlit run`` on a free local port with an empty workspace under ``workdir``, once
    it answers its health check; its output goes to ``workdir/server.log``."""
    port = _free_port()
    env = dict(os.environ, WORKBENCH_WORKSPACE=str(workdir / "ws"), WORKBENCH_SAMPLE="0")
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(ROOT / "streamlit_app.py"),
        "--server.address",
        "127.0.0.1",
        "--server.port",
        str(port),
        "--server.headless",
        "true",
    ]
    # The server writes to its own copy of the file descriptor.
    with open(workdir / "server.log", "w") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            urllib.request.urlopen(base + "/_stcore/health", timeout=2)
            return proc, base
        except OSError:
            time.sleep(0.5)
    proc.terminate()
    raise RuntimeError("streamlit did not start: " + (workdir / "server.log").read_text())


async def _settled(page, timeout: float = 60) -> float:  # type: ignore[no-untyped-def]
    """Wait until the app is idle and the page text stops changing; when it last changed."""
    status = page.get_by_test_id("stStatusWidget")
    last_text, changed_at = "", time.perf_counter()
    deadline = time.perf_counter() + timeout
    stable = 0
    while time.perf_counter() < deadline:
        text = await page.locator("[data-testid=stMain]").inner_text()
        busy = await status.count() > 0 and await status.first.is_visible()
        if text != last_text or busy:
            last_text, changed_at, stable = text, time.perf_counter(), 0
        else:
            stable += 1
            if stable >= 3:
                return changed_at
        await asyncio.sleep(0.15)
    raise TimeoutError("the page kept changing for 60 s")


async def _check(page, res: SessionResult, i: int, n: int, name: str) -> None:  # type: ignore[no-untyped-def]
    text = await page.locator("body").inner_text()
    if BAD_WORDS.search(text):
        res.problems.append(f"{name}: {BAD_WORDS.search(text).group(0)}")  # type: ignore[union-attr]
    for j in range(n):
        if j != i and any(o in text for o in owners(j)):
            res.problems.append(f"{name}: saw session {j}'s owners")
    options = await page.get_by_test_id("stSidebar").get_by_test_id("stSelectbox").count()
    if options < 1:
        res.problems.append(f"{name}: no sidebar dataset picker")
    if name == "quality" and f"{rows_for(i):,} in" not in text:
        seen = [ln for ln in text.splitlines() if " in = " in ln][:2]
        res.problems.append(f"quality: own row count {rows_for(i)} not reconciled: {seen}")


async def session(
    browser, base: str, i: int, n: int, seconds: float, hard_stop: float, tmp: Path
) -> SessionResult:  # type: ignore[no-untyped-def]
    from playwright.async_api import expect

    res = SessionResult(i)
    ctx = await browser.new_context(viewport={"width": 1300, "height": 900})
    page = await ctx.new_page()
    page.set_default_timeout(180_000)
    try:
        path = tmp / f"deals_s{i}.csv"
        path.write_text(deals_csv(i))
        await page.goto(base + "/upload")
        await expect(page.get_by_text("Upload limit")).to_be_visible()
        t0 = time.perf_counter()
        await page.locator("input[type=file]").set_input_files(str(path))
        load = page.get_by_role("button", name="Load", exact=True)
        await expect(load).to_be_enabled()
        await load.click()
        await expect(page.get_by_text("Loaded dataset")).to_be_visible()
        res.upload_seconds = time.perf_counter() - t0
        sidebar = page.get_by_test_id("stSidebar")
        await sidebar.get_by_test_id("stSelectbox").first.click()
        listed = await page.get_by_role("option").all_inner_texts()
        await page.keyboard.press("Escape")
        if len(listed) != 1:
            res.problems.append(f"sidebar lists {len(listed)} datasets: {listed}")
        order = list(PAGES)
        k = i  # sessions start on different pages
        until = min(time.time() + seconds, hard_stop)  # browse for `seconds` after the upload
        while time.time() < until:
            name = order[k % len(order)]
            k += 1
            t = time.perf_counter()
            await sidebar.get_by_role("link", name=LINK_NAMES[name], exact=True).click()
            await expect(page.get_by_role("heading", name=PAGES[name])).to_be_visible()
            done = await _settled(page)
            res.page_times.append((name, done - t))
            await _check(page, res, i, n, name)
    except Exception as exc:  # a timeout or a crash is a finding, not an abort
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        detail = lines[:1] + [ln for ln in lines if ln.startswith("- waiting for")][:1]
        if os.environ.get("LOADTEST_SHOTS"):
            await page.screenshot(path=f"{os.environ['LOADTEST_SHOTS']}/s{i}.png", full_page=True)
        res.problems.append(f"{type(exc).__name__}: {' | '.join(detail)[:300]}")
    finally:
        await ctx.close()
    return res


async def run_sessions(base: str, n: int, seconds: float, tmp: Path) -> list[SessionResult]:
    from playwright.async_api import async_playwright, expect

    expect.set_options(timeout=180_000)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        hard_stop = time.time() + seconds + 120
        results = await asyncio.gather(
            *(session(browser, base, i, n, seconds, hard_stop, tmp) for i in range(n))
        )
        await browser.close()
    return list(results)


def p95(values: list[float]) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=20, method="inclusive")[18]


def summarise(
    results: list[SessionResult], n: int, seconds: float, server_log: str, load: float = 0.0
) -> str:
    times = [t for r in results for _, t in r.page_times]
    per_page: dict[str, list[float]] = {}
    for r in results:
        for name, t in r.page_times:
            per_page.setdefault(name, []).append(t)
    problems = [f"session {r.index}: {p}" for r in results for p in r.problems]
    log_hits = sorted(set(m.group(0) for m in BAD_WORDS.finditer(server_log)))
    uploads = [r.upload_seconds for r in results if r.upload_seconds]
    lines = [
        SECTION,
        "",
        f"{n} Chromium contexts against one `streamlit run` on 127.0.0.1: each uploads its own "
        "deals file at the same moment, then browses Data quality, Funnel, Velocity, Coverage "
        f"and Coaching in a loop for {seconds:.0f} s. Page time: click on the page link "
        f"to header visible and app idle. The server and all {n} browsers share this "
        f"machine's {os.cpu_count()} CPU(s), so page times include the browsers' own rendering "
        f"(1-minute load average before the run: {load:.1f}).",
        "",
        "| measure | value |",
        "|---|---|",
        f"| page views | {len(times)} |",
        f"| page time median | {statistics.median(times):.2f} s |" if times else "| - | - |",
        f"| page time p95 | {p95(times):.2f} s |" if times else "| - | - |",
        f"| page time max | {max(times):.2f} s |" if times else "| - | - |",
        f"| concurrent upload + load, max | {max(uploads):.2f} s |" if uploads else "| - | - |",
        f"| sessions that saw another session's numbers | "
        f"{sum(1 for p in problems if 'saw session' in p or 'own row count' in p)} |",
        f"| lock / connection-busy / error messages (pages + server log) | "
        f"{sum(1 for p in problems if BAD_WORDS.search(p)) + len(log_hits)} |",
        "",
        "| page | views | median | p95 |",
        "|---|---|---|---|",
    ]
    for name, ts in sorted(per_page.items()):
        lines.append(f"| {name} | {len(ts)} | {statistics.median(ts):.2f} s | {p95(ts):.2f} s |")
    lines += ["", "Problems: " + ("none" if not problems and not log_hits else "")]
    lines += [f"- {p}" for p in problems[:20]] + [f"- server log: {h}" for h in log_hits]
    return "\n".join(lines)


def write_section(section: str, path: Path = ROOT / "benchmarks" / "RESULTS.md") -> None:
    """Replace (or append) a ``## `` section of RESULTS.md, leaving the other sections alone."""
    title = section.strip().splitlines()[0]
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    start = text.find(title + "\n")
    if start == -1:
        text = text.rstrip("\n") + "\n\n" + section.strip() + "\n"
    else:
        nxt = text.find("\n## ", start + len(title))
        rest = text[nxt + 1 :] if nxt != -1 else ""
        text = text[:start] + section.strip() + "\n" + ("\n" + rest if rest else "")
    path.write_text(text)


def run(sessions: int = 8, seconds: float = 60) -> tuple[str, list[SessionResult]]:
    if not Path(CHROMIUM).exists():
        return f"{SECTION}\n\nSkipped: {CHROMIUM} is not installed.", []
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="workbench-loadtest-") as tmp:
        work = Path(tmp)
        proc, base = start_server(work)
        try:
            results = asyncio.run(run_sessions(base, sessions, seconds, work))
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        log = (work / "server.log").read_text()
    return summarise(results, sessions, seconds, log, load), results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--no-write", action="store_true", help="print only, leave RESULTS.md")
    args = ap.parse_args(argv)
    section, results = run(args.sessions, args.seconds)
    print(section)
    if not args.no_write:
        write_section(section)
    bad = [p for r in results for p in r.problems]
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
