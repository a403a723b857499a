"""The project's contract in docs/ agrees with the code: every row rule, metric and benchmark
number the code holds is written in the docs, and every document the code cites exists."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from engine.semantic import CATALOG
from engine.semantic.benchmarks import DEFAULT_BENCHMARKS, Band
from schemas.rules import RULES
from tests.test_app_helpers import app

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
# The name of the brief the product was first written from, which is not part of the project:
# built from parts so that this file does not contain it.
FOREIGN_SPEC = "domain" + ".md"
TEXT_SUFFIXES = {".py", ".md", ".toml", ".txt", ".cfg", ".ini", ".yml", ".yaml", ".json", ""}
CITING_DIRS = ("engine", "schemas", "views", "tests", "sample_data", "benchmarks")


def _section(doc: str, heading: str) -> str:
    """The text under ``## heading`` up to the next heading of the same or a higher level."""
    text = (DOCS / doc).read_text(encoding="utf-8")
    m = re.search(rf"^(#+) {re.escape(heading)}\s*$", text, re.M)
    assert m, f"{doc} has no heading {heading!r}"
    level = len(m.group(1))
    rest = text[m.end() :]
    end = re.search(rf"^#{{1,{level}}} ", rest, re.M)
    return rest[: end.start()] if end else rest


def _table_rows(text: str) -> list[list[str]]:
    """The body rows of every markdown table in ``text``, as stripped cells (header and rule
    rows left out)."""
    rows: list[list[str]] = []
    lines = [ln.strip() for ln in text.splitlines()]
    for i, line in enumerate(lines):
        if not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if set("".join(cells)) <= set("-: "):
            continue  # the |---| rule
        if i + 1 < len(lines) and set(lines[i + 1]) <= set("|-: ") and lines[i + 1]:
            continue  # a header row (the rule follows it)
        rows.append(cells)
    return rows


def _source_files() -> list[Path]:
    """Tracked files when git can say, else every file under the project outside the virtual
    environment, workspaces and caches."""
    try:
        out = subprocess.run(
            ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.split()
        files = [ROOT / f for f in out]
    except (OSError, subprocess.CalledProcessError):
        skip = {".venv", ".git", "workspace", "test-artifacts", "__pycache__", ".mypy_cache"}
        files = [p for p in ROOT.rglob("*") if not skip & set(p.relative_to(ROOT).parts)]
    return [p for p in files if p.is_file() and p.suffix in TEXT_SUFFIXES]


# --- docs/data.md: row rules ------------------------------------------------------------------


def _rule_ids(table_text: str) -> set[str]:
    return {m for row in _table_rows(table_text) for m in re.findall(r"^`(\w+)`$", row[0])}


def test_every_row_rule_is_documented_with_its_severity() -> None:
    section = _section("data.md", "Row rules")
    errors_part, warnings_part = section.split("Warnings (the row loads, flagged):")
    documented_errors = _rule_ids(errors_part)
    documented_warnings = _rule_ids(warnings_part)
    errors = {r.id for r in RULES.values() if r.severity == "error"}
    warnings = {r.id for r in RULES.values() if r.severity == "warning"}
    assert documented_errors == errors
    assert documented_warnings == warnings
    # 11 errors + 12 warnings today: a rule added to the code fails this test until documented.
    assert len(documented_errors | documented_warnings) == len(RULES)


def test_every_canonical_table_has_a_paragraph_in_the_data_contract() -> None:
    from engine.core.canonical import TABLES

    section = _section("data.md", "Canonical tables")
    for name, table in TABLES.items():
        assert f"**{name}**" in section, name
        for col in table.required:
            assert col in section, (name, col)


# --- docs/metrics.md: the catalog -------------------------------------------------------------


def test_every_catalog_metric_is_in_the_metric_families() -> None:
    families = _section("metrics.md", "Metric families")
    listed = re.findall(r"^Metrics: (.+?)\n\n", families, re.M | re.S)
    ids = [i for line in listed for i in re.findall(r"`(\w+)`", line)]
    assert sorted(ids) == sorted(CATALOG), "each catalog metric is listed exactly once"


def test_alert_rules_are_documented() -> None:
    from engine.analyses.alerts import RULES as ALERTS

    documented = _rule_ids(_section("metrics.md", "Alerts"))
    assert documented == set(ALERTS)


# --- docs/benchmarks.md: the numbers equal the code's ----------------------------------------

_PCT = re.compile(r"^(\d+)-(\d+)%$")
_DAYS = re.compile(r"^(\d+)-(\d+) d$")


def _pct_band(cell: str) -> Band:
    m = _PCT.match(cell)
    assert m, cell
    # "15-25%" -> 0.15 .. 0.25: percent over 100, as the code stores ratios
    return Band(int(m[1]) / 100, int(m[2]) / 100, "ratio")


def _day_band(cell: str) -> Band:
    m = _DAYS.match(cell)
    assert m, cell
    return Band(float(m[1]), float(m[2]), "days")


def test_conversion_bands_in_the_doc_equal_the_code() -> None:
    rows = _table_rows(_section("benchmarks.md", "Stage conversion by segment"))
    parsed = {
        tuple(r[0].split(" -> ")): {
            "SMB": _pct_band(r[1]),
            "Mid-Market": _pct_band(r[2]),
            "Enterprise": _pct_band(r[3]),
        }
        for r in rows
    }
    assert len(rows) == 5
    assert parsed == DEFAULT_BENCHMARKS.conversion
    # spot check against the table as written: SMB lead -> sal is 15-25%
    assert DEFAULT_BENCHMARKS.conversion_band("lead", "sal", "SMB") == Band(0.15, 0.25, "ratio")


def test_time_in_stage_bands_in_the_doc_equal_the_code() -> None:
    rows = _table_rows(_section("benchmarks.md", "Time in stage by segment"))
    parsed = {
        r[0]: {"SMB": _day_band(r[1]), "Mid-Market": _day_band(r[2]), "Enterprise": _day_band(r[3])}
        for r in rows
    }
    assert len(rows) == 5
    assert parsed == DEFAULT_BENCHMARKS.time_in_stage
    # Enterprise proposal 45-90 d, Mid-Market 15-60 d for every stage
    assert DEFAULT_BENCHMARKS.stage_band("proposal", "Enterprise") == Band(45, 90, "days")


def test_reference_points_in_the_doc_equal_the_code() -> None:
    rows = _table_rows(_section("benchmarks.md", "Other reference points"))
    parsed = {
        r[0].strip("`"): Band(float(r[1]), float(r[2]), r[3]) for r in rows if r[0].startswith("`")
    }
    assert len(parsed) == len(rows)
    assert parsed == DEFAULT_BENCHMARKS.reference


def test_benchmarks_are_labelled_reference_points_not_targets() -> None:
    text = (DOCS / "benchmarks.md").read_text(encoding="utf-8")
    assert "not targets" in text
    assert DEFAULT_BENCHMARKS.label in text


def test_the_table_parser_reads_a_doc_table() -> None:
    """The parser the number tests rely on: header and rule rows out, body rows in."""
    rows = _table_rows("| a | b |\n|---|---|\n| 1 | 2 |\n| 3 | 4 |\n\ntext\n")
    assert rows == [["1", "2"], ["3", "4"]]


# --- citations ----------------------------------------------------------------------------------


def test_no_source_file_names_the_foreign_spec() -> None:
    files = _source_files()
    assert len(files) > 50  # the walk found the project
    offenders = [
        str(p.relative_to(ROOT))
        for p in files
        if FOREIGN_SPEC in p.read_text(encoding="utf-8", errors="replace")
    ]
    assert offenders == []


def test_no_code_cites_numbered_sections() -> None:
    """Citations name a document and a heading ("docs/data.md, Row rules"), never a numbered
    section of a document the project does not have."""
    pattern = re.compile(r"\bsections? \d+\b|\bs\d+\b(?=[.)])")
    offenders = []
    for p in _source_files():
        rel = p.relative_to(ROOT)
        if rel.parts[0] not in CITING_DIRS and p.name != "streamlit_app.py":
            continue
        if p.suffix not in (".py", ".toml", ".md"):
            continue
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), start=1):
            if pattern.search(line):
                offenders.append(f"{rel}:{n}: {line.strip()}")
    assert offenders == []


_CITATION = re.compile(r"(docs/[\w-]+\.md|SECURITY\.md)`{0,2}\)?(?:, ([A-Z][^.;:()`\"]*))?")


def _citations() -> list[tuple[str, str, str | None]]:
    out = []
    for p in _source_files():
        rel = p.relative_to(ROOT)
        if rel.parts[0] not in CITING_DIRS and p.name not in ("streamlit_app.py", "README.md"):
            continue
        for doc, heading in _CITATION.findall(p.read_text(encoding="utf-8", errors="replace")):
            out.append((str(rel), doc, heading or None))
    return out


def _headings(doc: str) -> list[str]:
    text = (ROOT / doc).read_text(encoding="utf-8")
    return [h.strip() for h in re.findall(r"^#+ (.+)$", text, re.M)]


def test_every_cited_document_and_heading_exists() -> None:
    cites = _citations()
    docs = {d for _, d, _ in cites}
    # the code cites each document of the contract
    assert {"docs/data.md", "docs/metrics.md", "docs/benchmarks.md", "docs/loading.md"} <= docs
    missing = sorted({f"{src}: {d}" for src, d, _ in cites if not (ROOT / d).is_file()})
    assert missing == []
    # "docs/data.md, Row rules": the words after the comma start with a heading of that file
    bad = sorted(
        f"{src}: {d}, {h}"
        for src, d, h in cites
        if h is not None and not any(h.startswith(t) for t in _headings(d))
    )
    assert bad == []


def test_the_citation_check_catches_a_wrong_heading() -> None:
    # built from parts, so that the citation scan of this very file does not find it
    wrong = "(docs/metrics" + ".md, No such part)."
    found = _CITATION.findall("see docs/data.md, Row rules and " + wrong)
    assert found == [("docs/data.md", "Row rules and "), ("docs/metrics.md", "No such part")]
    assert not any("No such part".startswith(t) for t in _headings("docs/metrics.md"))


@pytest.mark.parametrize("doc", ["data.md", "metrics.md", "benchmarks.md", "loading.md"])
def test_readme_lists_each_document(doc: str) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    where = readme.split("## Where things are", 1)[1].split("\n## ", 1)[0]
    assert f"`docs/{doc}`" in where


def test_glossary_page_points_to_the_metric_rules(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = app(tmp_path, monkeypatch).run().switch_page("views/glossary.py").run()
    captions = " ".join(c.value for c in at.caption)
    assert "docs/metrics.md" in captions and "docs/benchmarks.md" in captions
