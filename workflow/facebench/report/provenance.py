"""What a run was made of: the code version, the package versions, and the checksums of the report's inputs."""
from __future__ import annotations

import functools
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

PACKAGES = ("torch", "numpy", "scipy", "scikit-learn", "scikit-image", "opencv-python-headless", "pillow",
            "pyarrow", "matplotlib", "jinja2", "snakemake", "pycpd", "pandas")


CODE = Path(__file__).resolve().parents[3]  # the checkout this facebench runs from (workflow/facebench/report/..)


def git_version(cwd: str | Path = CODE) -> dict:
    """The commit of the code that runs (not of the working directory, which need not be a checkout)."""
    return dict(_git_version(str(cwd)))


@functools.cache  # one pair of git calls per process: `verify` stamps every metrics file it writes
def _git_version(cwd: str) -> dict:
    def run(*args):
        try:
            return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10,
                                  check=True).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return None

    commit = run("rev-parse", "HEAD")
    dirty = run("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(dirty) if dirty is not None else None}


def package_versions() -> dict:
    return dict(_package_versions())


@functools.cache
def _package_versions() -> dict:
    out = {"python": sys.version.split()[0], "platform": platform.platform()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out
