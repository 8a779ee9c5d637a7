"""Shared helpers of the bench scripts: where results go, and what the machine was doing meanwhile."""
from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "results" / "bench"
SHARED = ROOT.parent / "shared" / "data"


def cpu_ticks() -> dict:
    """user/system/idle/steal jiffies from /proc/stat (steal: time the hypervisor gave our vCPUs to others)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return {}
    names = ["user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"]
    return dict(zip(names, map(int, fields)))


def steal_share(before: dict, after: dict) -> float | None:
    if not before or not after:
        return None
    total = sum(after[k] - before[k] for k in before)
    return round((after["steal"] - before["steal"]) / total, 4) if total else None


def machine() -> dict:
    try:
        model = next(ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                     if ln.startswith("model name"))
    except (OSError, StopIteration):
        model = platform.processor()
    return {"cpu": model, "cores": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}


def write(name: str, result: dict) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{name}.json"
    result = {"bench": name, "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "machine": machine(),
              **result}
    partial = path.with_suffix(".json.partial")  # never a half-written result under the real name
    partial.write_text(json.dumps(result, indent=2) + "\n")
    partial.replace(path)
    print(json.dumps(result, indent=2))
    return path
