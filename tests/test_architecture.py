"""The one-direction rule: engine/ and schemas/ never import streamlit or altair."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_engine_imports_without_ui_libraries() -> None:
    code = (
        "import sys, importlib, pkgutil, engine, schemas\n"
        "for pkg in (engine, schemas):\n"
        "    for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "        if not m.name.endswith('__main__'):\n"
        "            importlib.import_module(m.name)\n"
        "bad = sorted(n for n in sys.modules if n.split('.')[0] in ('streamlit', 'altair'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == ""


def test_engine_sources_do_not_mention_ui_libraries() -> None:
    for folder in ("engine", "schemas"):
        for path in (ROOT / folder).rglob("*.py"):
            text = path.read_text()
            assert "import streamlit" not in text, path
            assert "import altair" not in text, path
