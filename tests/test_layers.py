"""Layers point one way and packages import each other in no circle, read from the source with ``ast``
(every ``import``, also those inside functions: a lazy import is still a dependency).

From the bottom up: ``bot.core`` ← the text rules and masks (``bot.nlu``, ``bot.privacy``) ←
``bot.config`` ← the records (tickets, call-backs, people, volunteers) ← the features that move them
(messaging, scheduling, workflows, broadcasts, reports, staff) ← the entry points (channels, cli,
runtime, workbench, and ``bot.nlu.components``, which Rasa loads) ← ``actions``. A module may import
its own layer or lower ones; ``bot`` never imports ``actions``.
"""
from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

from bot.core.settings import PROJECT_ROOT

#: Each unit of code (the longest prefix that names it) and its layer.
LAYERS = {
    "bot.core": 0,
    "bot.nlu": 1, "bot.privacy": 1,
    "bot.config": 2,
    "bot.tickets": 3, "bot.callbacks": 3, "bot.people": 3, "bot.volunteers": 3,
    "bot.messaging": 4, "bot.scheduling": 4, "bot.workflows": 4, "bot.broadcasts": 4, "bot.reports": 4,
    "bot.staff": 4, "bot.handlers": 4, "bot.proactive": 4,
    "bot.channels": 5, "bot.cli": 5, "bot.runtime": 5, "bot.workbench": 5, "bot.nlu.components": 5,
    "actions": 6,
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PROJECT_ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def unit_of(module: str) -> str | None:
    matches = [unit for unit in LAYERS if module == unit or module.startswith(unit + ".")]
    return max(matches, key=len) if matches else None


def imported(path: Path, module: str) -> set[str]:
    """Every module this file imports, relative imports resolved."""
    names = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            names |= {base} | {f"{base}.{alias.name}" for alias in node.names}
    return names


def dependencies() -> dict[str, dict[str, set[str]]]:
    """unit -> unit it imports -> the modules that do."""
    graph: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    files = [*PROJECT_ROOT.joinpath("bot").rglob("*.py"), *PROJECT_ROOT.joinpath("actions").rglob("*.py")]
    assert len(files) > 50, "no source found"
    for path in files:
        module = module_name(path)
        if module == "bot":  # the top package's __init__: a docstring, imported by everything
            assert not any(unit_of(name) for name in imported(path, module)), "bot/__init__.py imports a package"
            continue
        source = unit_of(module)
        assert source is not None, f"{module} is in no layer: add its package to LAYERS (and to README's map)"
        for name in imported(path, module):
            target = unit_of(name)
            if target is not None and target != source:
                graph[source][target].add(module)
    return graph


def test_every_package_of_bot_has_a_layer():
    packages = {f"bot.{p.name}" for p in PROJECT_ROOT.joinpath("bot").iterdir() if (p / "__init__.py").exists()}
    assert packages - set(LAYERS) == set()


def test_imports_point_down_the_layers():
    upward = sorted(f"{module} ({source}, layer {LAYERS[source]}) imports {target} (layer {LAYERS[target]})"
                    for source, targets in dependencies().items() for target, modules in targets.items()
                    if LAYERS[target] > LAYERS[source] for module in modules)
    assert upward == []


def test_no_circle_of_imports_between_packages():
    graph = {source: set(targets) for source, targets in dependencies().items()}
    circles = []

    def visit(unit: str, path: list[str]) -> None:
        for target in sorted(graph.get(unit, ())):
            if target in path:
                circles.append(" -> ".join(path[path.index(target):] + [target]))
            elif LAYERS[target] == LAYERS[path[0]]:  # a circle stays within one layer (imports point down)
                visit(target, path + [target])

    for unit in sorted(graph):
        visit(unit, [unit])
    assert circles == []


def test_bot_never_imports_the_action_server():
    offenders = sorted(module for source, targets in dependencies().items() if source != "actions"
                       for module in targets.get("actions", ()))
    assert offenders == []


def declared_imports(package: str) -> set[str] | None:
    """The packages a package's ``__init__`` docstring says it may import; None for "anything in bot"."""
    doc = ast.get_docstring(ast.parse(PROJECT_ROOT.joinpath(*package.split("."), "__init__.py").read_text())) or ""
    line = next((line for line in doc.splitlines() if line.startswith("May import")), None)
    if line is None or "anything" in line:
        return None
    return {name.strip(" .").split(" ")[0] for name in line.partition(":")[2].split(",")}


def test_each_package_imports_only_what_its_docstring_says():
    undeclared = []
    for source, targets in sorted(dependencies().items()):
        package = ".".join(source.split(".")[:2])
        allowed = declared_imports(package) if source.startswith("bot.") else None
        if allowed is not None:
            undeclared += [f"{source} imports {target}" for target in sorted(targets)
                           if ".".join(target.split(".")[:2]) not in allowed | {package}]
    assert undeclared == []
