"""The shape of the code: imports run one way, modules and functions stay small, the library
is the product (every verb importable from ``roost``, every CLI command a plain function).

``lint-imports`` (run by ``make test``) checks the layers of pyproject.toml; this test reads
the source itself with ``ast``, so an import hidden inside a function body counts as well.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

import roost

SRC = Path(__file__).resolve().parents[2] / "src" / "roost"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in SRC.rglob("*.py")}


def import_graph() -> dict[str, set[str]]:
    """Module -> the roost modules it imports anywhere in its source (function bodies and
    ``if TYPE_CHECKING:`` blocks included); a package's own ``__init__`` is not an edge from
    its children, since Python imports it first in any case."""
    modules = _modules()

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*parts, base] if base else parts)
                names = [base, *(f"{base}.{alias.name}" for alias in node.names)]
            for name in names:
                target = resolve(name) if name.startswith("roost") else None
                if target and target != module and not module.startswith(target + "."):
                    edges.add(target)
        graph[module] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_two_modules_import_each_other() -> None:
    graph = import_graph()
    assert "roost.lifecycle.machines" in graph and "roost.session" in graph["roost.lifecycle.machines"]
    assert cycles(graph) == []


def test_the_agent_imports_nothing_of_the_client_side() -> None:
    graph = import_graph()
    agent = {module for module in graph if module.startswith("roost.agent.roost_agent")}
    assert agent and all(target in agent for module in agent for target in graph[module])


def test_modules_and_functions_stay_small() -> None:
    too_long = []
    for path in SRC.rglob("*.py"):
        text = path.read_text()
        if len(text.splitlines()) > 400:
            too_long.append(f"{path.relative_to(SRC)}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno:
                length = node.end_lineno - node.lineno + 1
                if length > 50:
                    too_long.append(f"{path.relative_to(SRC)}:{node.lineno} {node.name}: {length} lines")
    assert too_long == []


@pytest.mark.parametrize("name", roost.__all__)
def test_every_export_is_documented_and_importable(name: str) -> None:
    exported = getattr(roost, name)
    assert inspect.getdoc(exported), f"roost.{name} has no docstring"


def test_every_verb_of_the_cli_is_a_library_function() -> None:
    verbs = {"up", "stop", "start", "down", "status", "open_info", "password", "logs", "exec", "sync",
             "download", "run", "jobs", "job_logs", "cancel", "serve", "serve_update", "serve_status", "backup",
             "list_backups", "restore", "share", "add_user", "remove_user", "trust", "cost", "gc", "offers",
             "refresh_offers"}  # fmt: skip
    assert verbs <= set(roost.__all__)
    assert all(inspect.isfunction(getattr(roost, verb)) for verb in verbs)


def test_cli_commands_are_module_level_functions() -> None:
    from roost.cli import app
    from roost.cli.lifecycle_cmds import up

    callbacks = [command.callback for command in app.registered_commands]
    assert up in callbacks
    assert all(callback is not None and callback.__qualname__ == callback.__name__ for callback in callbacks)
    assert len(callbacks) >= 20
