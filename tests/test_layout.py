"""The package's house rules (README "Where things are"): folders are layers, imports only go down, no
module imports itself back through others, the root stays small, functions stay short.

Imports are read with ``ast`` (lazy imports inside functions and ``TYPE_CHECKING`` blocks included), so a
rule broken in code that no test runs is still caught.
"""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, List, Set, Tuple

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "paddle_segformer"

# Bottom first: a module may import from its own layer (no cycles) and from the layers before it.
LAYERS = ("variants", "machine", "io", "ops", "weights", "models", "data", "report", "engine", "inference",
          "vector", "integration", "cli", "__init__")
# variants.py and machine.py are one layer: facts every other layer may read.
SAME_LAYER = {"machine": "variants"}
MAX_ROOT_MODULES = 8
MAX_FUNCTION_LINES = 80


def modules(package: Path) -> Dict[str, Path]:
    """Dotted name (without the package's own name) -> file, for every module of ``package``."""
    found = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1] or ["__init__"]
        found[".".join(parts)] = path
    return found


def _resolve(name: str, known: Dict[str, Path]) -> str:
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name


def imports_of(module: str, path: Path, known: Dict[str, Path], package_name: str) -> Set[str]:
    """The package's modules that ``module`` imports, anywhere in its file."""
    is_pkg = path.name == "__init__.py"
    here = [] if module == "__init__" else module.split(".")
    base = here if is_pkg else here[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets: List[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                stem = base[:len(base) - node.level + 1] + ([node.module] if node.module else [])
                origin = ".".join([package_name] + stem)
            else:
                origin = node.module or ""
            targets = [f"{origin}.{a.name}" for a in node.names]
        for target in targets:
            if target != package_name and not target.startswith(package_name + "."):
                continue
            resolved = _resolve(target[len(package_name) + 1:], known) or "__init__"  # the package itself
            if resolved != module:
                found.add(resolved)
    return found


def layer_of(module: str) -> int:
    top = module.split(".")[0]
    return LAYERS.index(SAME_LAYER.get(top, top))


def graph(package: Path) -> Dict[str, Set[str]]:
    known = modules(package)
    return {m: imports_of(m, p, known, package.name) for m, p in known.items()}


def upward_imports(edges: Dict[str, Set[str]]) -> List[Tuple[str, str]]:
    return sorted((m, d) for m, deps in edges.items() for d in deps if layer_of(d) > layer_of(m))


def cycles(edges: Dict[str, Set[str]]) -> List[List[str]]:
    """One cycle (as a path) per strongly connected group of modules that import each other."""
    found, state = [], {}

    def visit(node: str, stack: List[str]) -> None:
        state[node] = "open"
        stack.append(node)
        for dep in sorted(edges.get(node, ())):
            if state.get(dep) == "open":
                found.append(stack[stack.index(dep):] + [dep])
            elif dep not in state:
                visit(dep, stack)
        stack.pop()
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [])
    return found


def long_functions(package: Path, limit: int) -> List[str]:
    out = []
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > limit:
                    out.append(f"{path.relative_to(package)}:{node.lineno} {node.name} ({length} lines)")
    return out


def test_every_module_is_in_a_layer():
    unplaced = [m for m in modules(PACKAGE) if SAME_LAYER.get(m.split(".")[0], m.split(".")[0]) not in LAYERS]
    assert not unplaced, f"modules outside the declared layers {LAYERS}: {unplaced}"


def test_imports_only_go_down():
    bad = upward_imports(graph(PACKAGE))
    assert not bad, "imports from a higher layer: " + ", ".join(f"{m} -> {d}" for m, d in bad)


def test_no_import_cycles():
    found = cycles(graph(PACKAGE))
    assert not found, "import cycles: " + "; ".join(" -> ".join(c) for c in found)


def test_root_stays_small():
    root = sorted(p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py")
    assert len(root) <= MAX_ROOT_MODULES, f"{len(root)} modules at the package root: {root}"


def test_functions_stay_short():
    assert not long_functions(PACKAGE, MAX_FUNCTION_LINES)


def _write(root: Path, files: Dict[str, str]) -> Path:
    package = root / "pkg"
    for name, text in files.items():
        path = package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return package


@pytest.mark.parametrize("files, upward, cyclic", [
    ({"__init__.py": "", "io/__init__.py": "", "io/a.py": "def f():\n    from ..cli import x\n",
      "cli/__init__.py": "", "cli/x.py": "X = 1\n"}, [("io.a", "cli.x")], False),
    ({"__init__.py": "", "data/__init__.py": "", "data/a.py": "from .b import f\n",
      "data/b.py": "import pkg.data.a\n"}, [], True),
    ({"__init__.py": "def register():\n    from .io import c\n", "io/__init__.py": "",
      "io/c.py": "def f():\n    import pkg\n"}, [("io.c", "__init__")], True),
    ({"__init__.py": "", "data/__init__.py": "", "data/a.py": "from ..io.c import g\n", "io/__init__.py": "",
      "io/c.py": "from typing import List\n"}, [], False),
])
def test_the_checks_catch_what_they_should(tmp_path, files, upward, cyclic):
    """Lazy upward imports, cycles through absolute imports, and clean packages are told apart."""
    edges = graph(_write(tmp_path, files))
    assert upward_imports(edges) == upward
    assert bool(cycles(edges)) is cyclic


def test_long_function_is_caught(tmp_path):
    body = "".join(f"    x{i} = {i}\n" for i in range(MAX_FUNCTION_LINES))
    package = _write(tmp_path, {"__init__.py": "", "m.py": "def long():\n" + body})
    assert long_functions(package, MAX_FUNCTION_LINES) == [f"m.py:1 long ({MAX_FUNCTION_LINES + 1} lines)"]
