"""The per-rule conda environments (envs/*.yaml) cannot be created here (no conda), so they are checked instead:
each parses, pins only versions that requirements.txt (what CI installs with pip) pins the same way, and holds every
third-party package that the code behind each of its rules imports, found by walking the imports from the rule's
`python -m facebench <command>` down through the library."""
from __future__ import annotations

import ast
import functools
import importlib.metadata
import re
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ROOT / "workflow"
NOT_PACKAGES = {"python", "pip"}  # the interpreter and the installer, pinned by the env file alone


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            pins[_norm(name)] = version
    return pins


def env_packages(path: Path) -> dict[str, str]:
    """name -> version of a conda env file's conda (``name=version``) and pip (``name==version``) entries."""
    spec = yaml.safe_load(path.read_text())
    out = {}
    for dep in spec["dependencies"]:
        entries = dep["pip"] if isinstance(dep, dict) else [dep]
        for entry in entries:
            name, _, version = re.split(r"(==|=)", entry) if "=" in entry else (entry, "", "")
            out[_norm(name)] = version
    return out


def rule_envs_and_commands() -> dict[str, tuple[str, str]]:
    """rule -> (its env file's name, its facebench command), read from the rule files."""
    rules = {}
    for smk in sorted((ROOT / "workflow" / "rules").glob("*.smk")):
        for block in re.split(r"\n(?=rule )", smk.read_text())[1:]:
            name = re.match(r"rule (\w+):", block).group(1)
            env = re.search(r'conda:\s*\n\s*"\.\./\.\./envs/([\w-]+\.yaml)"', block)
            command = re.search(r"(?:python -m|\{params\.launcher\}) facebench ([\w-]+)", block)  # or torchrun
            rules[name] = (env and env.group(1), command and command.group(1))
    return rules


def _module_file(module: str) -> Path | None:
    base = LIBRARY.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


@functools.cache
def _module(module: str) -> tuple[str, dict, list, dict]:
    """A library module, parsed once: its package, its functions and classes, its other top-level statements, and
    the library names its top level imports (local name -> (module, attribute or None))."""
    path = _module_file(module)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text())
    defs = {s.name: s for s in tree.body if isinstance(s, ast.FunctionDef | ast.ClassDef)}
    top_level = [s for s in tree.body if not isinstance(s, ast.FunctionDef | ast.ClassDef)]
    bindings = {local: (t, a) for s in top_level for n in ast.walk(s) if isinstance(n, ast.Import | ast.ImportFrom)
                for local, t, a in _imported(n, package) if t.split(".")[0] == "facebench"}
    return package, defs, top_level, bindings


def _imported(node: ast.Import | ast.ImportFrom, package: str) -> list[tuple[str, str, str | None]]:
    """(local name, module, attribute or None) for each name an import statement binds."""
    if isinstance(node, ast.Import):
        return [(a.asname or a.name.split(".")[0], a.name, None) for a in node.names]
    if node.level:  # relative: resolve against the importing module's package
        base = package.split(".")[: len(package.split(".")) - node.level + 1]
        module = ".".join(base + ([node.module] if node.module else []))
    else:
        module = node.module
    out = []
    for a in node.names:
        sub = f"{module}.{a.name}"
        out.append((a.asname or a.name, sub, None) if _module_file(sub) else (a.asname or a.name, module, a.name))
    return out


def _walk(statements: list[ast.AST], module: str, package: str, defs: dict, bindings: dict, third: set, todo: list):
    """Collect what these statements import and which library functions they name (to walk next)."""
    bindings = dict(bindings)
    nodes = [n for s in statements for n in ast.walk(s)]
    for n in nodes:
        if isinstance(n, ast.Import | ast.ImportFrom):
            for local, target, attr in _imported(n, package):
                top = target.split(".")[0]
                if top == "facebench":
                    bindings[local] = (target, attr)
                    todo.append((target, attr))
                elif top not in sys.stdlib_module_names and top != "__future__":
                    third.add(top)
    for n in nodes:
        if isinstance(n, ast.Name):
            if n.id in defs:
                todo.append((module, n.id))
            elif n.id in bindings:
                todo.append(bindings[n.id])
        elif isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id in bindings:
            target, attr = bindings[n.value.id]
            if attr is None:  # module.function
                todo.append((target, n.attr))


def third_party_imports(command: str) -> set[str]:
    """Top-level third-party modules that a command can import: from its function in cli.py, every import it makes
    and every library function or class it names, followed the same way, with each reached module's own
    module-level imports (and its parent packages'). Lazy imports inside functions the command never reaches are
    not counted, as they never run in that rule's environment."""
    from facebench import cli

    # parser() names every command's function (without calling it), and main() calls parser(): not followed
    third, seen = set(), {("facebench.cli", "parser"), ("facebench.cli", "main")}
    fn = cli.parser()._subparsers._group_actions[0].choices[command].get_default("fn")
    todo = [("facebench.cli", fn.__name__)]
    while todo:
        module, attr = todo.pop()
        if (module, attr) in seen or _module_file(module) is None:
            continue
        seen.add((module, attr))
        package, defs, top_level, bindings = _module(module)
        if attr is None:  # importing the module runs its top level, and its parent packages'
            parts = module.split(".")
            todo += [(".".join(parts[:i]), None) for i in range(1, len(parts))]
            _walk(top_level, module, package, defs, bindings, third, todo)
        else:
            todo.append((module, None))
            if attr in defs:
                _walk([defs[attr]], module, package, defs, bindings, third, todo)
    return third


def distributions(modules: set[str]) -> set[str]:
    """The pip distributions that provide these top-level modules (pillow for PIL, opencv-... for cv2)."""
    provided = importlib.metadata.packages_distributions()
    missing = [m for m in modules if m not in provided]
    assert not missing, f"imported but not installed, so no distribution is known: {missing}"
    return {_norm(d) for m in modules for d in provided[m]}


ENVS = sorted((ROOT / "envs").glob("*.yaml"))


@pytest.mark.parametrize("path", ENVS, ids=lambda p: p.name)
def test_every_env_pins_what_ci_installs(path):
    pins, env = requirements(), env_packages(path)
    for name, version in env.items():
        if name in NOT_PACKAGES:
            continue
        assert name in pins, f"{path.name}: {name} is not in requirements.txt, so CI never tests it"
        assert version == pins[name], f"{path.name}: {name}={version}, but requirements.txt pins {pins[name]}"
    assert env.get("python", "").startswith("3.11"), f"{path.name}: python must be pinned to 3.11 (what CI runs)"


def test_every_rule_names_an_env_and_every_env_is_used():
    rules = rule_envs_and_commands()
    no_env = [r for r, (env, command) in rules.items() if command and not env]
    assert not no_env, f"rules that run facebench without a conda: directive: {no_env}"
    used = {env for env, _ in rules.values() if env}
    assert used == {p.name for p in ENVS}, f"env files no rule uses: {sorted({p.name for p in ENVS} - used)}"


def test_every_rule_env_holds_what_its_command_imports():
    envs = {p.name: set(env_packages(p)) for p in ENVS}
    problems = []
    for rule, (env, command) in sorted(rule_envs_and_commands().items()):
        if not command:
            continue
        lacking = distributions(third_party_imports(command)) - envs[env]
        if lacking:
            problems.append(f"rule {rule} (facebench {command}, envs/{env}) imports {sorted(lacking)}")
    assert not problems, "\n".join(problems)


def test_the_import_walk_finds_torch_behind_train_and_not_behind_report():
    # the check above is only as good as the walk: it must see through lazy imports into the library
    assert "torch" in third_party_imports("train")
    assert "jinja2" in third_party_imports("report") and "torch" not in third_party_imports("report")
