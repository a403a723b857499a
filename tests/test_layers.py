"""The layers of the house, kept by a test: who may import whom, and no import cycles.

``engine/`` is in subpackages by stage. Each may import only the layers listed for it below
(every import counts, including those inside functions and under ``TYPE_CHECKING``), so the
arrows point one way: views -> engine.cli -> engine.analyses -> engine.semantic ->
engine.store -> engine.core, with engine.load beside the semantic layer (it writes through
engine.store and validates with ``schemas``), and ``schemas`` on the core alone.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CORE = "engine.core"
ALLOWED: dict[str, set[str]] = {
    CORE: {CORE},
    "schemas": {CORE, "schemas"},
    "engine.store": {CORE, "engine.store"},
    "engine.load": {CORE, "schemas", "engine.store", "engine.load"},
    "engine.semantic": {CORE, "engine.store", "engine.semantic"},
    "engine.analyses": {CORE, "schemas", "engine.store", "engine.semantic", "engine.analyses"},
    "engine.cli": {
        CORE,
        "schemas",
        "engine.store",
        "engine.load",
        "engine.semantic",
        "engine.analyses",
        "engine.cli",
    },
}
# The packages of the engine that are not layers of their own (their __init__ and __main__).
ENTRY = {"engine": set(), "engine.__main__": {"engine.cli"}}
OURS = ("engine", "schemas", "views", "streamlit_app")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def sources() -> dict[str, Path]:
    out = {}
    for folder in ("engine", "schemas", "views"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            out[module_name(path)] = path
    out["streamlit_app"] = ROOT / "streamlit_app.py"
    return out


def imports_of(name: str, path: Path) -> set[str]:
    """Every module of ours that ``path`` imports, anywhere in the file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            found.add(base)
            # ``from engine.load import pipeline`` imports the module engine.load.pipeline
            found.update(f"{base}.{a.name}" for a in node.names)
    return {m for m in found if m.split(".")[0] in OURS}


def graph() -> dict[str, set[str]]:
    mods = sources()
    return {name: {m for m in imports_of(name, p) if m in mods} for name, p in mods.items()}


def layer(name: str) -> str | None:
    for candidate in ALLOWED:
        if name == candidate or name.startswith(candidate + "."):
            return candidate
    return None


def test_every_engine_module_sits_in_a_layer() -> None:
    loose = [n for n in sources() if n.startswith("engine") and layer(n) is None and n not in ENTRY]
    assert loose == [], f"engine modules outside the layers: {loose}"


def test_no_upward_import() -> None:
    bad = []
    for name, deps in graph().items():
        if name.startswith(("views", "streamlit_app")):
            # The top: pages may use every layer, but nothing imports the app itself.
            bad += [(name, d) for d in deps if d == "streamlit_app"]
            continue
        own = layer(name)
        allowed = ENTRY[name] if own is None else ALLOWED[own]
        bad += [(name, d) for d in deps if d != "engine" and (layer(d) or d) not in allowed]
    assert bad == [], "imports against the layers:\n" + "\n".join(f"{a} -> {b}" for a, b in bad)


def test_the_layer_check_catches_an_upward_import() -> None:
    assert layer("engine.core.canonical") == CORE
    assert "engine.semantic" not in ALLOWED[layer("engine.store.workspace") or ""]
    assert "views" not in ALLOWED["engine.cli"]


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), or a module that
    imports itself."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in edges.get(v, ()):
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles() -> None:
    # A package's __init__ importing its own submodules is not a cycle of the layout.
    edges = {
        name: {d for d in deps if not (name and d.startswith(name + "."))}
        for name, deps in graph().items()
    }
    # No cycle is tolerated (the load path's last one went with its second implementation).
    known: list[list[str]] = []
    assert cycles(edges) == known


def test_the_cycle_finder_finds_cycles() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_import_reader_sees_function_level_imports(tmp_path: Path) -> None:
    path = tmp_path / "x.py"
    path.write_text("import os\n\ndef f():\n    from engine.load import pipeline\n")
    assert imports_of("engine.core.x", path) == {"engine.load", "engine.load.pipeline"}


# What only views/common.py may call: each masks personal values on the way out (SECURITY.md,
# What is masked), so a page that used one directly could show an email unmasked.
OUTPUT_CALLS = {"dataframe", "table", "altair_chart", "vega_lite_chart", "download_button", "write"}


def test_pages_write_tables_charts_and_downloads_only_through_the_masking_helpers() -> None:
    bad = []
    for path in [*sorted((ROOT / "views").glob("*.py")), ROOT / "streamlit_app.py"]:
        if path.name == "common.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                if node.func.attr in OUTPUT_CALLS and ast.unparse(node.func.value) in ("st",):
                    bad.append(f"{path.name}:{node.lineno} st.{node.func.attr}")
    assert bad == []
