"""Optional sign-in for the whole app, configured in ``.streamlit/secrets.toml``.

Three modes, chosen by what the secrets hold:

- ``[auth]`` present: Streamlit's built-in OpenID Connect sign-in (``st.login``). With
  ``client_id`` directly under ``[auth]`` the single provider is used; otherwise the first
  named provider (``[auth.google]``, ``[auth.microsoft]`` ...) is.
- else ``[workbench] password``: one shared password for the smallest teams, checked in
  constant time; the session stays signed in until the browser tab closes.
- else: open (no sign-in), as on a laptop.

:func:`require_sign_in` is the first thing the app runs; it stops the run until the visitor is
signed in, so no page, dataset or link is reachable before that.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Mapping
from typing import Any, Literal

import streamlit as st

Mode = Literal["oidc", "password", "open"]
_SIGNED_IN = "_signed_in_with_password"
_PASSWORD_KEY = "sign_in_password"
# OIDC settings shared by every provider; anything else that is a table names a provider.
_SHARED_AUTH_KEYS = frozenset({"redirect_uri", "cookie_secret", "expose_tokens"})


def _secrets() -> Mapping[str, Any]:
    """The secrets, or nothing when there is no secrets.toml (a broken one raises: closed)."""
    try:
        return {k: st.secrets[k] for k in st.secrets}
    except FileNotFoundError:
        return {}


def sign_in_mode(secrets: Mapping[str, Any] | None = None) -> Mode:
    """Which sign-in the secrets configure."""
    secrets = _secrets() if secrets is None else secrets
    if isinstance(secrets.get("auth"), Mapping) and secrets["auth"]:
        return "oidc"
    workbench = secrets.get("workbench")
    if isinstance(workbench, Mapping) and str(workbench.get("password") or ""):
        return "password"
    return "open"


def oidc_provider(auth: Mapping[str, Any]) -> str | None:
    """None for a single provider configured directly under ``[auth]``, else the first name."""
    if "client_id" in auth:
        return None
    for key, value in auth.items():
        if key not in _SHARED_AUTH_KEYS and isinstance(value, Mapping):
            return str(key)
    return None


def password_matches(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def _oidc(auth: Mapping[str, Any]) -> None:
    if st.user.get("is_logged_in", False):
        with st.sidebar:
            name = st.user.get("email") or st.user.get("name") or "signed in"
            st.caption("Signed in as")
            st.text(str(name))
            st.button("Log out", on_click=st.logout, icon=":material/logout:")
        return
    st.header("RevOps Metrics Workbench")
    st.info("Sign in to open the workbench.", icon=":material/lock:")
    provider = oidc_provider(auth)
    if provider is None:
        st.button("Log in", on_click=st.login, type="primary", icon=":material/login:")
    else:
        st.button(
            f"Log in with {provider.capitalize()}",
            on_click=st.login,
            args=(provider,),
            type="primary",
            icon=":material/login:",
        )
    st.stop()


def _password(expected: str) -> None:
    if st.session_state.get(_SIGNED_IN):
        with st.sidebar:
            if st.button("Sign out", icon=":material/logout:"):
                st.session_state[_SIGNED_IN] = False
                st.rerun()
        return
    st.header("RevOps Metrics Workbench")
    with st.form("sign_in"):
        given = st.text_input("Team password", type="password", key=_PASSWORD_KEY)
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        if password_matches(given or "", expected):
            st.session_state[_SIGNED_IN] = True
            st.session_state.pop(_PASSWORD_KEY, None)
            st.rerun()
        time.sleep(1.0)  # slows guessing
        st.error("Wrong password. Ask the person who set up the workbench for the team password.")
    st.stop()


def require_sign_in() -> None:
    """Stop this run unless the visitor is signed in (no-op when sign-in is not configured)."""
    secrets = _secrets()
    mode = sign_in_mode(secrets)
    if mode == "oidc":
        _oidc(secrets["auth"])
    elif mode == "password":
        _password(str(secrets["workbench"]["password"]))
