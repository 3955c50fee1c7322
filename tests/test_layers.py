"""The package's structure, read from its imports (``ast``, nothing is imported): every
module sits in a layer, imports only its own layer and those below, and no import cycle
exists; an import inside a function says why; each record has one birthplace; the study
calls typed functions, not command lines."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "rnn_capacity"

#: The layers, bottom first: a module may import its own layer and the ones below it.
#: ``models.*`` is every module of rnn_capacity/models/ (``testing.rules.*``: of
#: rnn_capacity/testing/rules/).
LAYERS: list[list[str]] = [
    ["errors", "protocol", "paths", "files", "interrupt"],  # the standard library only
    ["trajectories", "layout", "plotting", "progress"],  # numpy, torch, matplotlib, tqdm
    ["models", "models.*"],
    ["capacity", "data", "reference", "config", "cli"],
    ["records", "measure"],
    ["testing.spec", "testing.machinery", "testing.registry"],  # what the contract's rules share
    ["testing.rules.*"],  # the rules, one module per concern
    ["testing.rules", "testing.runner", "testing.parametrize"],
    ["testing"],  # the contract's public names
    ["train", "optimum"],
    ["evaluate", "report"],
    ["sweep.settings"],
    ["sweep.batch", "sweep.journal"],
    ["sweep.executors"],  # trains batches; never imports the loop
    ["sweep.loop"],
    ["sweep.cli"],
    ["sweep", "sweep.__main__"],
    ["study"],
    [""],  # the package itself: its lazy names reach into the layers below
]

#: Where each record type is made (the one module that calls its constructor).
BIRTHPLACES = {
    "Configuration": "sweep.batch",
    "SweepSpace": "sweep.journal",
    "SweepSummary": "sweep.journal",
    "Evaluation": "evaluate",
    "Optimum": "optimum",
}


def module_name(path: Path, root: Path = ROOT) -> str:
    """``sweep.batch`` for rnn_capacity/sweep/batch.py, ``sweep`` for its __init__.py."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def package_modules(root: Path = ROOT) -> dict[str, Path]:
    paths = [p for p in sorted(root.rglob("*.py")) if "__pycache__" not in p.parts]
    return {module_name(p, root): p for p in paths}


def imports_of(name: str, path: Path, known: set[str], root: Path = ROOT) -> list[tuple]:
    """(module imported, line, inside a function) for every import of the package in
    ``path``, relative ones resolved; ``from a import b`` is ``a.b`` when that is a module."""
    tree = ast.parse(path.read_text(), str(path))
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    package = [p for p in package if p]
    found = []

    def visit(node, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.name.split(".")[0] == root.name:
                        target = alias.name.removeprefix(root.name).lstrip(".")
                        found.append((target, child.lineno, inside))
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package[: len(package) - child.level + 1]
                    module = ".".join([*base, *(child.module or "").split(".")]).strip(".")
                elif (child.module or "").split(".")[0] == root.name:
                    module = child.module.removeprefix(root.name).lstrip(".")
                else:
                    continue
                for alias in child.names:
                    sub = f"{module}.{alias.name}".strip(".")
                    found.append((sub if sub in known else module, child.lineno, inside))
            visit(child, inside)

    visit(tree, False)
    return found


def layer_of(name: str, layers: list[list[str]] = LAYERS) -> int | None:
    for i, layer in enumerate(layers):
        for entry in layer:
            if name == entry or (entry.endswith(".*") and name.startswith(entry[:-1])):
                return i
    return None


def graph(root: Path = ROOT) -> dict[str, set[str]]:
    modules = package_modules(root)
    known = set(modules)
    return {
        name: {t for t, _, _ in imports_of(name, path, known, root) if t != name}
        for name, path in modules.items()
    }


def upward_imports(edges: dict[str, set[str]], layers: list[list[str]]) -> list[str]:
    return sorted(
        f"{a} (layer {layer_of(a, layers)}) imports {b} (layer {layer_of(b, layers)})"
        for a, targets in edges.items()
        for b in targets
        if layer_of(b, layers) is not None and layer_of(b, layers) > layer_of(a, layers)
    )


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """A cycle of imports (``[a, b, ..., a]``), or None."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


EDGES = graph()


def test_every_module_is_in_one_layer():
    unplaced = [m for m in EDGES if layer_of(m) is None]
    assert not unplaced, f"put these modules in a layer of tests/test_layers.py: {unplaced}"
    listed = {e for layer in LAYERS for e in layer if not e.endswith(".*")}
    assert listed <= set(EDGES), f"layers name modules that do not exist: {listed - set(EDGES)}"


def test_no_module_imports_a_higher_layer():
    assert upward_imports(EDGES, LAYERS) == []


def test_no_import_cycle():
    assert find_cycle(EDGES) is None


def test_the_checks_catch_what_they_are_for():
    """On a made-up package: an upward import and a cycle are both found."""
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}
    assert find_cycle(edges) == ["a", "b", "c", "a"]
    assert upward_imports({"a": {"d"}, "d": set()}, [["a"], ["d"]]) == [
        "a (layer 0) imports d (layer 1)"
    ]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_import_reader_resolves_relative_and_submodule_imports(tmp_path):
    root = tmp_path / "rnn_capacity"
    (root / "sweep").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "errors.py").write_text("")
    (root / "sweep" / "__init__.py").write_text("")
    (root / "sweep" / "batch.py").write_text("from .. import errors\nfrom . import loop\n")
    (root / "sweep" / "loop.py").write_text(
        "import rnn_capacity.errors as e\ndef f():\n    from .batch import x\n"
    )
    assert graph(root) == {
        "": set(),
        "errors": set(),
        "sweep": set(),
        "sweep.batch": {"errors", "sweep.loop"},
        "sweep.loop": {"errors", "sweep.batch"},
    }
    assert find_cycle(graph(root)) == ["sweep.batch", "sweep.loop", "sweep.batch"]


def test_an_import_inside_a_function_says_why():
    """Imports sit at the top of a file unless one is optional or heavy, and then a comment
    on its line, or the line above it, says so."""
    silent = []
    for path in package_modules().values():
        lines = path.read_text().splitlines()
        tree = ast.parse("\n".join(lines))
        for func in ast.walk(tree):
            if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(func):
                if isinstance(node, ast.Import | ast.ImportFrom):
                    above = node.lineno - 2  # the line above the run of imports it is in
                    while lines[above].strip().startswith(("import ", "from ")):
                        above -= 1
                    here = lines[node.lineno - 1]
                    if "#" not in here and not lines[above].strip().startswith("#"):
                        silent.append(f"{path.relative_to(ROOT.parent)}:{node.lineno}")
    assert sorted(set(silent)) == []


@pytest.mark.parametrize("record", list(BIRTHPLACES))
def test_each_record_has_one_birthplace(record):
    """The constructor of each record type is called in one module (its reader aside)."""
    makers = set()
    for name, path in package_modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                func = node.func
                called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
                if called == record:
                    makers.add(name)
    assert makers == {BIRTHPLACES[record]}


def test_the_study_calls_typed_functions_not_command_lines():
    """No argv is built and parsed again: the study imports no command line's parser."""
    path = ROOT / "study.py"
    tree = ast.parse(path.read_text())
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
    assert not names & {"build_parser", "main", "resolve_args", "parse_args"}
    assert "sweep.cli" not in EDGES["study"] and "sweep.settings" in EDGES["study"]
