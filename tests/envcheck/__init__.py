"""Running the workflow the way conda users do, on a machine without conda: `snakemake --use-conda` from a venv that
holds Snakemake alone, with the stand-in conda of bin/ first on PATH (bin/conda builds each envs/*.yaml as a venv
filled by pip; bin/activate is what Snakemake sources before each job). Used by tests/test_envs.py and
bench/conda_envs.py.

Everything built is cached under .envcheck/ in the checkout (git-ignored by its own .gitignore): the Snakemake venv
(rebuilt when its pins change) and the conda prefix, where Snakemake names each env by a hash of its file, so an edited
envs/*.yaml gets a new env. `rm -rf .envcheck` starts over. A lock file serialises test sessions that share it.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
STAND_IN = HERE / "bin"  # conda and activate
CACHE = Path(os.environ.get("FACEBENCH_ENVCHECK_CACHE") or ROOT / ".envcheck")  # bench/conda_envs.py: a cold one
SNAKEMAKE_VENV = CACHE / "snakemake"
CONDA_PREFIX = CACHE / "conda"
# what Snakemake's own process must not need: the rules' packages, and the library itself (read from the checkout)
NOT_IN_SNAKEMAKE = ["torch", "numpy", "cv2", "PIL", "scipy", "skimage", "sklearn", "matplotlib", "pandas",
                    "pyarrow", "seaborn", "facebench"]


def snakemake_pins() -> list[str]:
    """Snakemake's pin from requirements.txt. Not its executor plugins: the SLURM one brings pandas and numpy (it
    parses sacct's output with them), which would hide a numpy import by Snakemake's process; they add executors,
    nothing that parsing or a local run reads."""
    pins = [ln.split("#")[0].strip() for ln in (ROOT / "requirements.txt").read_text().splitlines()]
    return [p for p in pins if p.split("==")[0] == "snakemake"]


def log(message: str) -> None:
    print(f"[envcheck] {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def locked():
    """One user of .envcheck/ at a time (other test sessions in this checkout wait)."""
    CACHE.mkdir(exist_ok=True)
    (CACHE / ".gitignore").write_text("# built by tests/envcheck, never committed\n*\n")
    with open(CACHE / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def build_snakemake_venv() -> float:
    """The venv with Snakemake alone (its dependencies constrained by requirements.txt, as `make` installs them);
    returns the seconds spent building it (0 when cached)."""
    pins = snakemake_pins()
    stamp = SNAKEMAKE_VENV / ".installed"
    want = json.dumps({"pins": pins, "python": sys.version.split()[0]})
    if stamp.is_file() and stamp.read_text() == want:
        return 0.0
    start = time.monotonic()
    shutil.rmtree(SNAKEMAKE_VENV, ignore_errors=True)
    log(f"building {SNAKEMAKE_VENV}: {' '.join(pins)}")
    subprocess.run([sys.executable, "-m", "venv", str(SNAKEMAKE_VENV)], check=True)  # from the base interpreter
    subprocess.run([str(SNAKEMAKE_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-input",
                    "--disable-pip-version-check", "-c", str(ROOT / "requirements.txt"), *pins], check=True)
    stamp.write_text(want)
    return time.monotonic() - start


def importable(python: Path, modules: list[str]) -> list[str]:
    """Which of these modules that interpreter can import (found, not imported)."""
    code = "import importlib.util as u, json, sys; print(json.dumps([m for m in sys.argv[1:] if u.find_spec(m)]))"
    out = subprocess.run([str(python), "-c", code, *modules], capture_output=True, text=True, check=True,
                         env=environment(), cwd="/")
    return json.loads(out.stdout)


def distributions(python: Path) -> dict[str, str]:
    """Normalised name -> version of every distribution that interpreter sees."""
    code = ("import importlib.metadata as m, json, re; "
            "print(json.dumps({re.sub(r'[-_.]+', '-', d.metadata['Name']).lower(): d.version "
            "for d in m.distributions()}))")
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True, env=environment(),
                         cwd="/")
    return json.loads(out.stdout)


def environment(**extra: str) -> dict[str, str]:
    """A user's shell with Snakemake alone installed: the stand-in conda first, then the Snakemake venv, then the
    system's PATH without any other venv or conda (CI's PATH starts with the project's .venv, which holds everything);
    no PYTHONPATH, PYTHONHOME or VIRTUAL_ENV."""
    def foreign(entry: str) -> bool:
        p = Path(entry)
        return (p / "activate").is_file() or (p.parent / "pyvenv.cfg").is_file() or (p / "conda").exists()

    path = [e for e in os.environ.get("PATH", "").split(os.pathsep) if e and not foreign(e)]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")
           and not k.startswith("CONDA")}
    env["PATH"] = os.pathsep.join([str(STAND_IN), str(SNAKEMAKE_VENV / "bin"), *path])
    env.update(extra)
    return env


def snakemake(*args: str, cwd: Path = ROOT, timeout: float = 600, **extra_env: str) -> subprocess.CompletedProcess:
    """`snakemake ARGS` as that user runs it (the venv's own entry point, found on PATH)."""
    return subprocess.run(["snakemake", *args], cwd=cwd, env=environment(**extra_env), capture_output=True,
                          text=True, timeout=timeout)


def built_envs() -> dict[Path, dict]:
    """prefix -> the stand-in's record (conda-meta/envcheck.json) of every env in the cache's conda prefix."""
    out = {}
    for marker in sorted(CONDA_PREFIX.glob("*/conda-meta/envcheck.json")):
        out[marker.parents[1]] = json.loads(marker.read_text())
    return out


def env_file_of(prefix: Path) -> Path | None:
    """The envs/*.yaml an env was built from: Snakemake copies it beside the env as <prefix>.yaml."""
    copy = Path(f"{prefix}.yaml")
    for path in sorted((ROOT / "envs").glob("*.yaml")):
        if copy.is_file() and copy.read_bytes() == path.read_bytes():
            return path
    return None


def prune(keep: set[Path]) -> list[Path]:
    """Removes the cached envs (and Snakemake's files beside them) that are not in `keep`: those of older
    envs/*.yaml. Call it holding the lock."""
    gone = []
    for prefix in built_envs():
        if prefix not in keep:
            shutil.rmtree(prefix, ignore_errors=True)
            for sibling in CONDA_PREFIX.glob(f"{prefix.name}.*"):
                sibling.unlink(missing_ok=True)
            gone.append(prefix)
    return gone


def activations(path: Path) -> list[tuple[Path, str]]:
    """(env prefix, facebench command or '') per activation that bin/activate recorded."""
    out = []
    for line in path.read_text().splitlines() if path.is_file() else []:
        prefix, _, command = line.partition("\t")
        m = re.search(r"(?:python -m|torchrun .*? -m --) facebench ([\w-]+)", command)
        out.append((Path(prefix), m.group(1) if m else ""))
    return out


SHARED = Path(os.environ.get("FACEBENCH_SHARED") or ROOT.parent / "shared" / "data").resolve()  # as tests/conftest.py
# The short smoke run: config/smoke.yaml with only these models, each evaluated on the alignments given (None: as
# there). Every rule of the smoke DAG still runs (a test compares the two DAGs' rules), in 40% of its jobs: the
# pretrained model on provided landmarks and MTCNN's (detection, landmark agreement), CosFace and the siamese stage 2
# fine-tuned from it (a report study, validation during training), triplet (training augmentation).
SHORT = {"pretrained": ["provided", "mtcnn"], "cosface": None, "siamese": None, "triplet": None}


def shorten(cfg: dict) -> None:
    """A smoke config (config/smoke.yaml's) cut, in place, to the SHORT models and their alignments."""
    cfg["evaluate"] = [e for e in cfg["evaluate"] if e["model"] in SHORT]
    cfg["models"] = {name: spec for name, spec in cfg["models"].items() if name in SHORT}  # every model is trained
    assert {e["model"] for e in cfg["evaluate"]} == set(SHORT), "config/smoke.yaml no longer evaluates them all"
    for entry in cfg["evaluate"]:
        alignments = SHORT[entry["model"]]
        if alignments:
            assert set(alignments) <= set(entry["alignments"]), f"config/smoke.yaml: {entry}"
            entry["alignments"] = alignments


def smoke_config(folder: Path, short: bool = True) -> Path:
    """config/smoke.yaml with ../shared/data made absolute, for a run in another folder (the tests take theirs from
    tests/smoke.py, which also stands in generated data where ../shared/data is absent); `short`: cut by shorten()."""
    import yaml

    cfg = yaml.safe_load((ROOT / "config" / "smoke.yaml").read_text().replace("../shared/data", str(SHARED)))
    if short:
        shorten(cfg)
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / ("smoke-short.yaml" if short else "smoke.yaml")
    out.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return out


def job_counts(dry_run_output: str) -> dict[str, int]:
    """rule -> jobs, from the table a dry run prints."""
    table = dry_run_output.split("job ", 1)[1].split("total", 1)[0]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", table, re.M)}


_CLOSURE = r"""
import importlib.metadata as m, json, re, sys
norm = lambda n: re.sub(r"[-_.]+", "-", n).lower()
dists = {norm(d.metadata["Name"]): d for d in m.distributions()}
todo, seen = [norm(n) for n in sys.argv[1:]], set()
while todo:
    name = todo.pop()
    if name in seen or name not in dists:
        continue
    seen.add(name)
    for req in dists[name].requires or []:
        if "extra" not in req.partition(";")[2]:  # optional extras are not installed by a plain install
            todo.append(norm(re.match(r"[A-Za-z0-9_.-]+", req).group(0)))
print(json.dumps(sorted(seen)))
"""


def requirement_closure(python: Path, names: list[str]) -> set[str]:
    """These distributions and everything they require (not their extras), as installed for that interpreter."""
    out = subprocess.run([str(python), "-c", _CLOSURE, *names], capture_output=True, text=True, check=True,
                         env=environment(), cwd="/")
    return set(json.loads(out.stdout))
