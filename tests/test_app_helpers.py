"""Shared set-up for the AppTest tests: a temporary workspace per test and the app runner."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

from views.pages import REGISTRY

APP = Path(__file__).resolve().parent.parent / "streamlit_app.py"
# An OpenID Connect configuration as .streamlit/secrets.toml would hold it (sign-in on).
OIDC = {
    "redirect_uri": "http://localhost:8501/oauth2callback",
    "cookie_secret": "x" * 32,
    "google": {
        "client_id": "id",
        "client_secret": "secret",
        "server_metadata_url": "https://accounts.google.com/.well-known/openid-configuration",
    },
}
# Every page of the app, from the page registry the navigation reads.
PAGES = tuple(page.path for page in REGISTRY)


def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sample: bool = True) -> AppTest:
    monkeypatch.setenv("WORKBENCH_WORKSPACE", str(tmp_path / "ws"))
    monkeypatch.setenv("WORKBENCH_SAMPLE", "1" if sample else "0")
    return AppTest.from_file(str(APP), default_timeout=60)


def problems(at: AppTest) -> list[str]:
    return [e.value for e in at.exception] + [e.value for e in at.error]


def chart_frames(at: AppTest) -> dict[str, tuple[dict[str, Any], list[pd.DataFrame]]]:
    """Every chart on the page by title: its Vega-Lite spec and the data it plots (each dataset
    Streamlit sends with it, decoded from Arrow, in order)."""
    out: dict[str, tuple[dict[str, Any], list[pd.DataFrame]]] = {}
    for chart in at.get("vega_lite_chart"):
        spec = json.loads(chart.proto.spec)
        title = spec.get("title")
        key = title.get("text") if isinstance(title, dict) else title
        frames = [
            pa.ipc.open_stream(d.data.data).read_all().to_pandas() for d in chart.proto.datasets
        ]
        out[str(key)] = (spec, frames)
    return out


def encoded_fields(spec: Any) -> set[str]:
    """Every field a chart spec encodes (in any layer, facet or channel)."""
    if isinstance(spec, dict):
        own = {spec["field"]} if isinstance(spec.get("field"), str) else set()
        return own.union(*(encoded_fields(v) for v in spec.values()))
    if isinstance(spec, list):
        return set().union(*(encoded_fields(v) for v in spec))
    return set()
