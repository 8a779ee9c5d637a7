"""What the conda-user checks of tests/test_envs.py cost CI, from a cold cache: the venv with Snakemake alone, the three
envs/*.yaml built by the stand-in conda (tests/envcheck/bin/conda: a venv each, filled with pip), and the smoke DAG
run with --use-conda (the short smoke by default, as the test runs it; --full: the whole smoke profile).

    python bench/conda_envs.py [--full] [--warm]

--warm reuses the checkout's .envcheck/ cache instead of a fresh temporary one (then the builds cost nothing). Writes
results/bench/conda_envs.json: wall and CPU seconds (user + system, of all child processes) of each phase, each env's
build time and size, the number of jobs, and the machine's load and steal time meanwhile (a shared 2-core machine
makes wall times noisy; CPU seconds move less).
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, SHARED, cpu_ticks, steal_share, write  # noqa: E402


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def size_mb(path: Path) -> float:
    out = subprocess.run(["du", "-sm", str(path)], capture_output=True, text=True, check=True).stdout
    return float(out.split()[0])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="the whole smoke profile, not its short version")
    ap.add_argument("--warm", action="store_true", help="reuse .envcheck/ (default: a cold temporary cache)")
    args = ap.parse_args()
    if not (SHARED / "lfw" / "pairs.txt").is_file():
        sys.exit(f"the smoke profile reads ../shared/data, absent here ({SHARED})")
    tmp = Path(tempfile.mkdtemp(prefix="conda-envs-bench-"))
    if not args.warm:
        os.environ["FACEBENCH_ENVCHECK_CACHE"] = str(tmp / "cache")
    sys.path.insert(0, str(ROOT / "tests"))
    import envcheck  # noqa: E402  (reads FACEBENCH_ENVCHECK_CACHE)

    phases, ticks, load = {}, cpu_ticks(), os.getloadavg()[0]

    def phase(name, fn):
        wall, cpu = time.monotonic(), children_cpu()
        result = fn()
        phases[name] = {"wall_s": round(time.monotonic() - wall, 1), "cpu_s": round(children_cpu() - cpu, 1)}
        print(f"{name}: {phases[name]}", file=sys.stderr)
        return result

    work = tmp / "work"
    config = envcheck.smoke_config(work, short=not args.full)
    common = ["--snakefile", str(ROOT / "Snakefile"), "--directory", str(work), "--configfile", str(config),
              "--cores", str(os.cpu_count()), "--use-conda", "--conda-prefix", str(envcheck.CONDA_PREFIX)]
    with envcheck.locked():
        phase("snakemake_venv", envcheck.build_snakemake_venv)
        create = phase("create_envs", lambda: envcheck.snakemake(*common, "--conda-create-envs-only", timeout=3600))
        if create.returncode:
            sys.exit(f"creating the envs failed:\n{(create.stdout + create.stderr)[-3000:]}")
        run = phase("dag", lambda: envcheck.snakemake(*common, timeout=7200))
    out = run.stdout + run.stderr
    envs = {}
    for prefix, record in envcheck.built_envs().items():
        file = envcheck.env_file_of(prefix)
        if file is not None:
            envs[file.name] = {"build_s": record["seconds"], "size_mb": size_mb(prefix)}
    write("conda_envs", {
        "smoke": "full" if args.full else f"short ({', '.join(envcheck.SHORT)})",
        "cache": "warm (.envcheck)" if args.warm else "cold",
        "ok": run.returncode == 0,
        "error": None if run.returncode == 0 else out[-2000:],
        "jobs": sum(envcheck.job_counts(out).values()) if "job " in out else None,
        "phases": phases,
        "total_wall_s": round(sum(p["wall_s"] for p in phases.values()), 1),
        "envs": envs,
        "load_before": round(load, 2),
        "load_after": round(os.getloadavg()[0], 2),
        "steal_share": steal_share(ticks, cpu_ticks()),
    })
    subprocess.run(["rm", "-rf", str(tmp)])  # the work folder, and a cold cache
    sys.exit(0 if run.returncode == 0 else 1)


if __name__ == "__main__":
    main()
