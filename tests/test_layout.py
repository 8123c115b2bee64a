"""The package's layout: imports run one way, down the pipeline, and never in a circle.

cli -> jobs, watch, transfer -> core -> media -> net -> config -> errors: a module imports its
own subpackage and anything below it, never above it and never a sibling of the same rank
(jobs, watch and transfer do not know each other). Read from the source (ast), so an import
inside a function counts as much as one at the top.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import stylize

PACKAGE = Path(stylize.__file__).parent
# Lowest first. net.layers is the paper's layer names (no torch), which config validates against.
RANKS = {"errors": 0, "net.layers": 1, "config": 2, "net": 3, "media": 4, "core": 5,
         "jobs": 6, "watch": 6, "transfer": 6, "cli": 7}


def modules() -> dict[str, Path]:
    """{'core.engine': path}, the facade (__init__, __main__) and subpackage __init__ files left out."""
    return {".".join(p.relative_to(PACKAGE).with_suffix("").parts): p for p in PACKAGE.rglob("*.py")
            if not p.name.startswith("__")}


def imports(name: str, path: Path) -> list[tuple[str, int, bool]]:
    """(imported module relative to the package, line, at the top level) for each import of ours."""
    package = name.split(".")[:-1]
    tree = ast.parse(path.read_text())
    top = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[:len(package) - (node.level - 1)]
            target = base + (node.module.split(".") if node.module else [])
            for alias in node.names:  # `from . import config`: a module; `from .x import y`: module x
                candidate = ".".join(target + [alias.name])
                module = candidate if candidate in modules() else ".".join(target)
                found.append((module, node.lineno, id(node) in top))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for full in names:
                if full == "stylize" or full.startswith("stylize."):
                    found.append((full.removeprefix("stylize").lstrip("."), node.lineno, id(node) in top))
    return found


def rank(module: str) -> tuple[int, str]:
    """(rank, group) by the longest RANKS key that names the module or a package above it."""
    keys = [k for k in RANKS if module == k or module.startswith(k + ".")]
    key = max(keys, key=len)
    return RANKS[key], key.split(".")[0]


def test_every_module_has_a_rank():
    assert modules(), PACKAGE
    for name in modules():
        rank(name)  # a new top-level module or subpackage must be placed in RANKS


@pytest.mark.parametrize("name", sorted(modules()))
def test_imports_run_down_the_pipeline(name):
    mine, my_group = rank(name)
    wrong = []
    for target, line, _ in imports(name, modules()[name]):
        if target == "":  # `from .. import __version__`: the package root, loaded before any module
            continue
        theirs, group = rank(target)
        if group != my_group and theirs >= mine:
            wrong.append(f"{name}:{line} imports {target}")
    assert not wrong, "imports against the layer order:\n" + "\n".join(wrong)


def cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle in ``graph`` as a path (first and last the same), or []."""
    state: dict[str, str] = {}

    def visit(node, trail):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return [*trail, node, nxt]
            found = nxt not in state and visit(nxt, [*trail, node])
            if found:
                return found
        state[node] = "done"
        return []

    return next((found for node in sorted(graph) if node not in state for found in [visit(node, [])] if found), [])


def test_no_import_cycle_at_load_time():
    graph = {name: {t for t, _, top in imports(name, path) if top and t in modules()}
             for name, path in modules().items()}
    assert cycle(graph) == [], "import cycle: " + " -> ".join(cycle(graph))


def test_the_checks_see_a_wrong_import_and_a_cycle(tmp_path):
    # the rule is not vacuous: core importing the CLI is caught
    bad = tmp_path / "engine.py"
    bad.write_text("def f():\n    from ..cli.display import clock\n")
    target, line, top = imports("core.engine", bad)[0]
    assert (target, line, top) == ("cli.display", 2, False)
    assert rank(target)[0] > rank("core.engine")[0]
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) == []
