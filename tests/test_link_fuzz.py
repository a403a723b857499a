"""Crafted links never crash a page: hypothesis draws values for every query parameter every
page reads (the shared ones and the page's own, from the page registry), and each page opens
on the sample without an exception. Bad values are dropped with a notice, never obeyed."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.test_app_helpers import app, problems
from views.links import SHARED_KEYS, parse_params
from views.pages import REGISTRY

NASTY = [
    "",
    "²",
    "9998",
    "0001-01-01..9999-12-31",
    "-1",
    "1e309",
    "NaN",
    "~" + "f" * 20,
    "../../etc/passwd",
    "'; DROP TABLE opportunities; --",
    "<script>alert(1)</script>",
    "[x](http://evil.example)",
    "x" * 5000,
    "\x00\x1f",
    "2026-Q5",
    "last-0-days",
    "alice.smith@corp.com",
]
values = st.one_of(st.sampled_from(NASTY), st.text(max_size=40))


def _keys(page: str) -> list[str]:
    own = next(p.params for p in REGISTRY if p.slug == page)
    return [k for k in SHARED_KEYS if k not in ("dataset", "page")] + list(own)


@given(
    st.dictionaries(
        st.sampled_from(sorted({k for p in REGISTRY for k in _keys(p.slug)} | {"page", "dataset"})),
        st.one_of(values, st.lists(values, max_size=3)),
    )
)
@settings(max_examples=300, deadline=None)
def test_the_link_codec_takes_any_parameters(raw: dict) -> None:
    state, warnings = parse_params(raw)
    assert state.page in {p.slug for p in REGISTRY}
    assert all(isinstance(w, str) for w in warnings)
    state.params()  # and writes them back


@pytest.fixture(scope="module")
def opened(tmp_path_factory: pytest.TempPathFactory):
    """One app session on the sample, reused for every drawn link (a rerun per link)."""
    mp = pytest.MonkeyPatch()
    at = app(tmp_path_factory.mktemp("fuzz"), mp).run()
    token = at.query_params["dataset"]
    yield at, token
    mp.undo()


@pytest.mark.parametrize("page", [p.slug for p in REGISTRY])
def test_every_page_opens_from_any_link(page: str, opened) -> None:
    at, token = opened

    @given(st.dictionaries(st.sampled_from(_keys(page)), values, max_size=4))
    @settings(
        max_examples=12,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    def check(params: dict[str, str]) -> None:
        at.query_params.clear()
        at.query_params.update({"dataset": token, "page": page, **params})
        at.switch_page(f"views/{page}.py").run()
        assert [e.value for e in at.exception] == [], params
        # a bad value is ignored with a notice; an error box would mean it was obeyed and broke
        assert problems(at) == [], params

    check()
