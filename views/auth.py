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

Who loaded a dataset (its owner) is one of two identities, turned into an owner key by
``Workspace.owner_key`` (an HMAC, never the raw value) and stored with the dataset:

- signed in with ``[auth]``: the account's email address, so the list follows the person to
  any browser;
- otherwise (shared password or open): this browser, known by a random 256-bit id kept in the
  ``workbench_browser`` cookie for a year. A new tab or the next day finds the same datasets;
  another browser (or a private window) is somebody else.

With ``WORKBENCH_LIST_DATASETS=all`` and no sign-in (one person's laptop) every dataset of the
workspace is listed. See SECURITY.md.
"""

from __future__ import annotations

import hmac
import json
import os
import re
import secrets
import time
from collections.abc import Mapping
from typing import Any, Literal

import streamlit as st

Mode = Literal["oidc", "password", "open"]
_SIGNED_IN = "_signed_in_with_password"
_PASSWORD_KEY = "sign_in_password"
# OIDC settings shared by every provider; anything else that is a table names a provider.
_SHARED_AUTH_KEYS = frozenset({"redirect_uri", "cookie_secret", "expose_tokens"})


BROWSER_COOKIE = "workbench_browser"
_BROWSER_ID = "_browser_id"
_BROWSER_ID_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")  # secrets.token_urlsafe(32)
COOKIE_DAYS = 365
LIST_ENV = "WORKBENCH_LIST_DATASETS"


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


def _sign_out() -> None:
    st.session_state[_SIGNED_IN] = False


def account_controls() -> None:
    """Who is signed in and the way out, at the foot of the sidebar (so the dataset, period and
    filters above stay within one screen)."""
    mode = sign_in_mode()
    if mode == "oidc" and st.user.get("is_logged_in", False):
        name = st.user.get("email") or st.user.get("name") or "signed in"
        st.caption("Signed in as")
        st.text(str(name))
        st.button("Log out", on_click=st.logout, icon=":material/logout:")
    elif mode == "password" and st.session_state.get(_SIGNED_IN):
        st.button("Sign out", on_click=_sign_out, icon=":material/logout:")


def require_sign_in() -> None:
    """Stop this run unless the visitor is signed in (no-op when sign-in is not configured)."""
    secrets = _secrets()
    mode = sign_in_mode(secrets)
    if mode == "oidc":
        _oidc(secrets["auth"])
    elif mode == "password":
        _password(str(secrets["workbench"]["password"]))


# --- whose datasets -----------------------------------------------------------------------
def browser_id() -> str:
    """This browser's id: from its cookie, else a new random one (written by
    :func:`keep_browser_id`). Kept in the session, so every run of a tab agrees."""
    known = st.session_state.get(_BROWSER_ID)
    if isinstance(known, str) and _BROWSER_ID_RE.fullmatch(known):
        return known
    value = _cookie()
    if value is None:
        value = secrets.token_urlsafe(32)
    st.session_state[_BROWSER_ID] = value
    return value


def _cookie() -> str | None:
    """The browser id cookie the browser sent, when it is well formed."""
    try:
        value = st.context.cookies.get(BROWSER_COOKIE)
    except Exception:  # no browser connection (a test run): no cookie
        return None
    return value if isinstance(value, str) and _BROWSER_ID_RE.fullmatch(value) else None


def identity() -> str:
    """Who owns what this session loads: the signed-in email, else this browser."""
    if sign_in_mode() == "oidc" and st.user.get("is_logged_in", False):
        email = st.user.get("email") or st.user.get("sub")
        if email:
            return "user:" + str(email).strip().lower()
    return "browser:" + browser_id()


def lists_everything() -> bool:
    """True on an open laptop install set to list the whole workspace; never with sign-in."""
    wanted = os.environ.get(LIST_ENV, "mine").strip().lower() == "all"
    return wanted and sign_in_mode() == "open"


def keep_browser_id() -> None:
    """Write this browser's id into its cookie when the browser did not send it.

    Streamlit reads cookies (``st.context.cookies``) but cannot set them, so a one-line script
    does, in the page itself (``st.html``); the value is our own random id, never user input.
    """
    if not identity().startswith("browser:"):
        return
    value = browser_id()
    if _cookie() == value:
        return
    cookie = json.dumps(
        f"{BROWSER_COOKIE}={value}; Max-Age={COOKIE_DAYS * 86400}; Path=/; SameSite=Lax"
    )
    st.html(
        "<script>document.cookie = "
        + cookie
        + ' + (location.protocol === "https:" ? "; Secure" : "");</script>',
        unsafe_allow_javascript=True,
        width="content",
    )
