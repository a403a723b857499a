"""The page registry: every page of the app once, with its path, title, icon, section and the
query parameters of its own that a link carries. Navigation, the sidebar, the link codec and
the tests all read it, so a new page is one entry here plus its module in ``views/``."""

from __future__ import annotations

from dataclasses import dataclass

from engine.analyses.coaching import DEFAULT_WEIGHTS


@dataclass(frozen=True)
class Page:
    slug: str  # the URL path and the ``page`` parameter
    title: str
    icon: str
    section: str
    params: tuple[str, ...] = ()  # the page's own query parameters, beside the shared ones

    @property
    def path(self) -> str:
        return f"views/{self.slug}.py"


REGISTRY: tuple[Page, ...] = (
    Page("upload", "Upload", ":material/upload:", "Data"),
    Page("quality", "Data quality", ":material/fact_check:", "Data"),
    Page("funnel", "Funnel", ":material/filter_alt:", "Analysis", ("seg", "by")),
    Page("velocity", "Velocity", ":material/speed:", "Analysis", ("outliers", "days")),
    Page("coverage", "Coverage", ":material/stacked_bar_chart:", "Analysis", ("level",)),
    Page(
        "coaching",
        "Coaching",
        ":material/sports:",
        "Analysis",
        ("rep", *(f"w_{category}" for category in DEFAULT_WEIGHTS)),
    ),
    Page(
        "forecast",
        "Forecast",
        ":material/query_stats:",
        "Analysis",
        ("quarter", "checkpoint", "method"),
    ),
    Page(
        "changes",
        "Changes",
        ":material/waterfall_chart:",
        "Analysis",
        ("old", "new", "p", "split", "bucket"),
    ),
    Page(
        "indicators",
        "Indicators",
        ":material/query_stats:",
        "Analysis",
        ("pgrain", "outcome", "lag", "seg", "ind"),
    ),
    Page("glossary", "Metric glossary", ":material/menu_book:", "Reference", ("q",)),
)
BY_SLUG: dict[str, Page] = {p.slug: p for p in REGISTRY}
DEFAULT_PAGE = "funnel"
# slug -> title, and section -> slugs in order (the sidebar's navigation).
PAGES: dict[str, str] = {p.slug: p.title for p in REGISTRY}
SECTIONS: dict[str, tuple[str, ...]] = {
    section: tuple(p.slug for p in REGISTRY if p.section == section)
    for section in dict.fromkeys(p.section for p in REGISTRY)
}


def own_params(slug: str) -> tuple[str, ...]:
    """The query parameters of a page's own (empty for an unknown page)."""
    page = BY_SLUG.get(slug)
    return page.params if page else ()
