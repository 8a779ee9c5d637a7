"""The per-rule conda environments (envs/*.yaml), checked two ways without conda.

Statically: each parses, pins only versions that requirements.txt (what CI installs with pip) pins the same way, and
holds every third-party package that the code behind each of its rules imports, and nothing else, found by walking the
imports from the rule's `python -m facebench <command>` down through the library.

By running them (tests/envcheck): from a venv holding Snakemake alone, `snakemake -n --use-conda` and `--lint` pass
for every profile, and the smoke DAG runs to report/index.html with `--use-conda`, each job inside a venv that the
stand-in conda (tests/envcheck/bin/conda) built from its env file with pip, holding only that file's packages. What
only a machine with conda can check: that the conda-forge names and versions exist and solve together.
"""
from __future__ import annotations

import ast
import functools
import importlib.metadata
import importlib.util
import os
import re
import sys
import time
from importlib.machinery import SourceFileLoader
from pathlib import Path

import envcheck
import pytest
import yaml
from smoke import absolute_config

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


def _stand_in():
    """tests/envcheck/bin/conda as a module (it has no .py suffix): its conda-forge -> PyPI names are used here too."""
    loader = SourceFileLoader("envcheck_conda", str(envcheck.STAND_IN / "conda"))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(loader.name, loader))
    loader.exec_module(module)
    return module


CONDA_TO_PIP = _stand_in().CONDA_TO_PIP  # e.g. matplotlib-base (matplotlib without Qt) is PyPI's matplotlib


def env_packages(path: Path) -> dict[str, str]:
    """PyPI name -> version of a conda env file's conda (``name=version``) and pip (``name==version``) entries."""
    spec = yaml.safe_load(path.read_text())
    out = {}
    for dep in spec["dependencies"]:
        entries = dep["pip"] if isinstance(dep, dict) else [dep]
        for entry in entries:
            name, _, version = re.split(r"(==|=)", entry) if "=" in entry else (entry, "", "")
            name = _norm(name)
            out[_norm(CONDA_TO_PIP.get(name, name)) if not isinstance(dep, dict) else name] = version
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

    # parser() names every command's function (without calling it), and main() calls parser(): not followed; each
    # command's function lives in its stage's module of the cli package
    third, seen = set(), {("facebench.cli", "parser"), ("facebench.cli", "main")}
    fn = cli.parser()._subparsers._group_actions[0].choices[command].get_default("fn")
    todo = [(fn.__module__, fn.__name__), ("facebench.__main__", None)]
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


def test_every_env_holds_only_what_its_rules_import():
    # the other half of "each env holds only what its rules import": an env's package that none of its rules' commands
    # imports is dead weight (and hides a missing one from the import check of another env)
    needed = {}
    for env, command in rule_envs_and_commands().values():
        if command:
            needed.setdefault(env, set()).update(distributions(third_party_imports(command)))
    unused = {p.name: sorted(set(env_packages(p)) - NOT_PACKAGES - needed.get(p.name, set())) for p in ENVS}
    assert not any(unused.values()), f"packages no rule of the env imports: { {k: v for k, v in unused.items() if v} }"


def test_the_import_walk_finds_torch_behind_train_and_not_behind_report():
    # the check above is only as good as the walk: it must see through lazy imports into the library
    assert "torch" in third_party_imports("train")
    assert "jinja2" in third_party_imports("report") and "torch" not in third_party_imports("report")
    assert "cv2" not in third_party_imports("report")


def test_the_table_and_figure_packages_are_pinned_in_the_report_env_of_the_rules_that_import_them():
    # pandas (the results table) and seaborn (the figures): pinned in requirements.txt, found by the walk behind the
    # report and summary rules, and in envs/report.yaml (seaborn as conda-forge's seaborn-base) at the same pins
    pins, env = requirements(), env_packages(ROOT / "envs" / "report.yaml")
    assert {"pandas", "seaborn"} <= set(pins)
    assert {"pandas", "seaborn"} <= third_party_imports("report")
    assert "pandas" in third_party_imports("summary")
    rules = rule_envs_and_commands()
    assert rules["report"][0] == rules["summary"][0] == "report.yaml"
    assert (env["pandas"], env["seaborn"]) == (pins["pandas"], pins["seaborn"])
    deps = yaml.safe_load((ROOT / "envs" / "report.yaml").read_text())["dependencies"]
    conda = [d for d in deps if isinstance(d, str)]
    assert f"seaborn-base={pins['seaborn']}" in conda  # no statsmodels: the report fits no regression


# --- Snakemake alone, and every job in its own env (tests/envcheck) -------------------------------------------------

PROFILES = ["config.yaml", *sorted(f"config/{p.name}" for p in (ROOT / "config").glob("*.yaml"))]
# what the report env must lack (the brief of envs/report.yaml), and the data env
MUST_LACK = {"report.yaml": {"torch", "opencv-python-headless", "scikit-image"}, "data.yaml": {"torch"}}
FULL_SMOKE = bool(os.environ.get("FACEBENCH_ENVCHECK_FULL"))  # the whole smoke profile instead of its SHORT models


@pytest.fixture(scope="session")
def snakemake_alone() -> Path:
    """The interpreter of the venv with Snakemake alone (.envcheck/snakemake, built once, rebuilt when pins change)."""
    with envcheck.locked():
        envcheck.build_snakemake_venv()
    return envcheck.SNAKEMAKE_VENV / "bin" / "python"


def test_snakemake_alone_holds_none_of_the_rules_packages(snakemake_alone):
    assert not envcheck.importable(snakemake_alone, envcheck.NOT_IN_SNAKEMAKE)
    assert envcheck.distributions(snakemake_alone)["snakemake"] == requirements()["snakemake"]


def profile_workdir(profile: str, tmp: Path) -> tuple[Path, Path]:
    """A working directory and the profile as a user runs it there: its ../shared/data paths pointed at this session's
    data (tests/smoke.py: the real copy, else generated data; a profile that needs more than is generated skips), and
    every other local path it names that does not exist (a dataset the user supplies, such as full's CASIA-WebFace)
    an empty folder. Snakemake's process checks that every path exists before the first job, dry runs too
    (facebench.config.check_paths)."""
    work = tmp / "work"
    work.mkdir()
    if profile.startswith("config/"):
        try:
            config = absolute_config(work, Path(profile).name)
        except FileNotFoundError as err:  # only where ../shared/data is absent
            pytest.skip(f"{profile} reads ../shared/data (absent here), and the generated data lacks a file: {err}")
    else:  # config.yaml downloads everything
        config = work / profile
        config.write_text((ROOT / profile).read_text())

    def stand_ins(node):
        if isinstance(node, dict):
            path = node.get("path")
            if isinstance(path, str) and not Path(path).is_absolute() and not (ROOT / path).exists():
                (work / path).mkdir(parents=True, exist_ok=True)
            for value in node.values():
                stand_ins(value)
        elif isinstance(node, list):
            for value in node:
                stand_ins(value)

    stand_ins(yaml.safe_load(config.read_text()))
    return work, config


@pytest.mark.parametrize("profile", PROFILES)
def test_dry_run_with_use_conda_needs_snakemake_alone(profile, snakemake_alone, tmp_path):
    work, config = profile_workdir(profile, tmp_path)
    run = envcheck.snakemake("-n", "--use-conda", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(work),
                             "--configfile", str(config))
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-4000:]
    # it asked conda (the stand-in) and would build the profile's envs from envs/
    created = {Path(f).name for f in re.findall(r"Conda environment (\S+) will be created", out)}
    assert created and created <= {p.name for p in ENVS}, out[-4000:]


@pytest.mark.parametrize("profile", PROFILES)
def test_lint_needs_snakemake_alone(profile, snakemake_alone, tmp_path):
    work, config = profile_workdir(profile, tmp_path)
    run = envcheck.snakemake("--lint", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(work),
                             "--configfile", str(config))
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]


def test_the_short_smoke_dag_runs_every_rule_of_the_smoke_dag(snakemake_alone, tmp_path):
    # the run below takes the short smoke (tests/envcheck.SHORT) to stay inside CI's time: it must lose no rule
    rules = {}
    for short in (False, True):
        (tmp_path / str(short)).mkdir()
        config = absolute_config(tmp_path / str(short), edit=envcheck.shorten if short else None)
        run = envcheck.snakemake("-n", "--use-conda", "--snakefile", str(ROOT / "Snakefile"), "--directory",
                                 str(config.parent), "--configfile", str(config))
        assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
        rules[short] = envcheck.job_counts(run.stdout + run.stderr)
    assert set(rules[True]) == set(rules[False]), f"rules the short smoke lacks: {set(rules[False]) - set(rules[True])}"


@pytest.mark.integration
def test_smoke_dag_runs_every_job_in_its_own_env_alone(snakemake_alone, tmp_path):
    """`snakemake --use-conda` from the Snakemake-only venv on the short smoke (FACEBENCH_ENVCHECK_FULL=1: the whole
    profile), the stand-in conda building each env (cached in .envcheck/conda): report/index.html is written, every
    job activates the env its rule names, and each env holds its file's pins and what they require, nothing else of
    the project's."""
    work = tmp_path / "work"
    work.mkdir()
    config = absolute_config(work, edit=None if FULL_SMOKE else envcheck.shorten)
    record = tmp_path / "activations.tsv"
    common = ["--snakefile", str(ROOT / "Snakefile"), "--directory", str(work), "--configfile", str(config),
              "--cores", "2", "--use-conda", "--conda-prefix", str(envcheck.CONDA_PREFIX)]
    with envcheck.locked():
        start = time.monotonic()
        create = envcheck.snakemake(*common, "--conda-create-envs-only", timeout=1800)
        assert create.returncode == 0, (create.stdout + create.stderr)[-6000:]
        envs_s = time.monotonic() - start
        run = envcheck.snakemake(*common, timeout=2400, ENVCHECK_ACTIVATIONS=str(record))
        out = run.stdout + run.stderr
        hint = ("\n(`No module named facebench`: Snakemake drops PYTHONPATH for conda jobs; the jobs must get "
                "workflow/ on it another way)" if "No module named facebench" in out else "")
        assert run.returncode == 0, out[-6000:] + hint
        print(f"envs {envs_s:.0f} s, DAG {time.monotonic() - start - envs_s:.0f} s")
        activated = envcheck.activations(record)
        envcheck.prune(keep={prefix for prefix, _ in activated})
    assert (work / "report" / "index.html").is_file()

    # every job that runs a command activated an env, and the one its rule names
    rules = rule_envs_and_commands()
    counts = envcheck.job_counts(out)
    expected = sum(n for rule, n in counts.items() if rules.get(rule, (None, None))[0])
    assert len(activated) == expected, f"{len(activated)} activations for {expected} jobs with a conda env"
    env_of_command = {}
    for env, command in rules.values():
        if command:
            env_of_command.setdefault(command, set()).add(env)
    wrong = []
    for prefix, command in activated:
        file = envcheck.env_file_of(prefix)
        if not command or file is None or file.name not in env_of_command.get(command, ()):
            wrong.append(f"{command or '(no facebench command)'} in {prefix} ({file and file.name})")
    assert not wrong, "jobs in an env their rule does not name:\n" + "\n".join(wrong[:20])
    by_file = {envcheck.env_file_of(p): p for p, _ in activated}
    assert set(by_file) == set(ENVS), f"envs no job ran in: {sorted(set(ENVS) - set(by_file))}"

    # and each env holds its file's pins, what they require, and none of the project's other packages
    pins, problems = requirements(), []
    project = set().union(*(env_packages(p) for p in ENVS)) - NOT_PACKAGES
    for file, prefix in sorted(by_file.items()):
        python, listed = prefix / "bin" / "python", sorted(set(env_packages(file)) - NOT_PACKAGES)
        installed = envcheck.distributions(python)
        for name in listed:
            if installed.get(name, "").split("+")[0] != pins[name]:  # torch's CPU wheel is 2.13.0+cpu
                problems.append(f"{file.name}: {name} {installed.get(name)}, pinned {pins[name]}")
        extra = (project & set(installed)) - envcheck.requirement_closure(python, listed)
        if extra:
            problems.append(f"{file.name}: holds {sorted(extra)}, which it neither lists nor needs")
        lacking = MUST_LACK.get(file.name, set()) & set(installed)
        if lacking:
            problems.append(f"{file.name}: holds {sorted(lacking)}")
    assert not problems, "\n".join(problems)
    report_env = by_file[ROOT / "envs" / "report.yaml"] / "bin" / "python"
    assert not envcheck.importable(report_env, ["torch", "cv2", "skimage", "facebench"])
