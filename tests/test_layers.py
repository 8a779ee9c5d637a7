"""The package's layers run one way: a module imports only from its own layer or lower ones, also inside functions,
and no two modules import each other in a cycle. This table is the one place the layers are written down
(docs/development.md points here); a new module needs a row, or the test names it.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "workflow" / "facebench"

# lowest first; a module's layer is that of its longest prefix in this table
LAYERS = [
    # core formats and light name lists (Snakemake's own process imports config, names, templates, schema)
    ["facebench.io", "facebench.images", "facebench.progress", "facebench.runtime", "facebench.names",
     "facebench.templates", "facebench.schema", "facebench.config", "facebench.store", "facebench.landmarks",
     "facebench.weights", "facebench.safe_pickle", "facebench.dataset_checks"],
    ["facebench.data"],
    ["facebench.detect", "facebench.align"],
    ["facebench.models", "facebench.losses", "facebench.resolution"],
    ["facebench.train", "facebench.embed"],
    ["facebench.evaluate"],
    ["facebench.analysis"],
    ["facebench.report"],
    ["facebench.cli", "facebench.__main__"],
]
MAX_LINES = 400


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> int:
    best = None
    for i, prefixes in enumerate(LAYERS):
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and (best is None or len(p) > len(best[1])):
                best = (i, p)
    if best is None:
        raise AssertionError(f"{module} has no layer in tests/test_layers.py LAYERS")
    return best[0]


def imports(path: Path) -> set[str]:
    """Every facebench module ``path`` imports, at the top or inside a function (``from facebench import x`` counts
    as importing facebench.x when x is a module)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("facebench"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("facebench"):
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                is_module = (PACKAGE.parent / Path(*sub.split("."))).with_suffix(".py").is_file() or \
                    (PACKAGE.parent / Path(*sub.split(".")) / "__init__.py").is_file()
                out.add(sub if is_module else node.module)
    return out


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
GRAPH = {m: {i for i in imports(p) if i != m and i != "facebench"} for m, p in MODULES.items()}


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m != "facebench"))
def test_a_module_imports_only_its_own_layer_or_lower(module):
    upward = [i for i in sorted(GRAPH[module]) if layer(i) > layer(module)]
    assert not upward, f"{module} (layer {layer(module)}) imports from higher layers: " + \
        ", ".join(f"{i} (layer {layer(i)})" for i in upward)


def test_no_import_cycles():
    state, stack = {}, []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for n in sorted(GRAPH.get(m, ())):
            if state.get(n) == "open":
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(n):] + [n]))
            if n not in state:
                visit(n)
        stack.pop()
        state[m] = "done"

    for m in sorted(GRAPH):
        if m not in state:
            visit(m)


def test_the_check_sees_imports_inside_functions(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("def f():\n    from facebench.report import build\n")
    assert "facebench.report.build" in imports(f)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_library_file_over_400_lines(module):
    n = len(MODULES[module].read_text(encoding="utf-8").splitlines())
    assert n <= MAX_LINES, f"{MODULES[module]} has {n} lines (at most {MAX_LINES}: split it by what it does)"
