"""Shared set-up for the AppTest tests: a temporary workspace per test and the app runner."""

from __future__ import annotations

from pathlib import Path

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
