"""The page registry drives navigation and links: every registered page has its module, the
link codec imports no Streamlit, and a page keeps exactly the parameters of its own that the
registry declares (a link's other parameters are dropped, never carried along)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_app_helpers import app, problems
from views import links
from views.pages import BY_SLUG, DEFAULT_PAGE, REGISTRY, SECTIONS, Page

ROOT = Path(__file__).resolve().parents[1]


def test_every_registered_page_has_its_module_and_a_section() -> None:
    assert {p.path for p in REGISTRY} == {
        f"views/{f.name}" for f in (ROOT / "views").glob("*.py") if f.stem in BY_SLUG
    }
    assert all((ROOT / p.path).exists() for p in REGISTRY)
    assert [s for group in SECTIONS.values() for s in group] == [p.slug for p in REGISTRY]
    assert DEFAULT_PAGE in BY_SLUG
    # a page's own parameter never shadows a shared one
    assert not {k for p in REGISTRY for k in p.params} & set(links.SHARED_KEYS)


def test_the_link_codec_imports_no_streamlit() -> None:
    code = "import sys, views.links; sys.exit('streamlit' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


def test_a_page_keeps_only_its_own_parameters() -> None:
    view, _ = links.parse_params({"page": "coaching", "rep": "Ann", "w_discovery": "40", "x": "1"})
    kept = links.for_page(view, "coaching")
    assert kept.extras == {"rep": "Ann", "w_discovery": "40"}  # "x" is no page's parameter
    # a link made for coaching opened on the funnel keeps none of coaching's choices
    assert links.for_page(view, "funnel").extras == {}


# A valid value of every page parameter, on the sample.
EXAMPLES = {
    "seg": "SMB",
    "by": "lead_source",
    "outliers": "exclude",
    "days": "30",
    "level": "rep",
    "rep": "Derek Holloway",
    "w_discovery": "40",
    "w_conversion": "20",
    "w_activity": "10",
    "w_forecast": "30",
    "q": "win",
    "quarter": "2026-Q2",
    "checkpoint": "week8",
    "method": "historical_rate",
    # the Pipeline changes page, on the sample's two snapshots (docs/metrics.md, Pipeline changes)
    "old": "2026-11-06",
    "new": "2026-11-20",
    "p": "2026-Q4",
    "split": "team",
    "bucket": "won",
    "pgrain": "month",
    "outcome": "won_revenue",
    "lag": "0",
    "ind": "pipeline_created",
}


@pytest.mark.parametrize("page", [p for p in REGISTRY if p.params], ids=lambda p: p.slug)
def test_declared_parameters_survive_a_page_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, page: Page
) -> None:
    at = app(tmp_path, monkeypatch).run()
    at.query_params["page"] = page.slug
    for key in page.params:
        at.query_params[key] = EXAMPLES[key]
    at.query_params["not_a_parameter"] = "1"
    at.switch_page(page.path).run()
    assert problems(at) == []
    assert "not_a_parameter" not in at.query_params
    assert {k: at.query_params[k] for k in page.params} == {k: EXAMPLES[k] for k in page.params}
