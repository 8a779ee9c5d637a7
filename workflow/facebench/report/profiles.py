"""Which shipped profile fills a seed-table row: read from the profiles themselves (config.yaml, config/*.yaml), so a
row the current profile cannot fill names one that does and what it needs, and the hint cannot drift from the files."""
from __future__ import annotations

from pathlib import Path

import yaml

# the order a row's filling profile is chosen in: the one-DAG reproduction first, the test profile last
PREFERENCE = ("config/reproduce.yaml", "config/lfw-local.yaml", "config.yaml", "config/lfw-mini.yaml",
              "config/studies-mini.yaml", "config/zoo.yaml", "config/full.yaml", "config/smoke.yaml")


def read_profiles(paths: list[str]) -> list[dict]:
    """Each profile's name (its path relative to the workflow folder), what it needs (`report.needs`) and the
    (model, dataset, alignment, protocol) it evaluates."""
    out = []
    for p in paths:
        c = yaml.safe_load(Path(p).read_text(encoding="utf-8")) or {}
        name = Path(p).name if Path(p).parent.name != "config" else f"config/{Path(p).name}"
        runs = set()
        for i, e in enumerate(c.get("evaluate") or []):
            ds = (c.get("datasets") or {}).get(e.get("dataset"))
            if ds is None:
                raise ValueError(f"{p}: evaluate[{i}].dataset {e.get('dataset')!r} is not under datasets")
            for a in e.get("alignments") or []:
                runs |= {(e["model"], e["dataset"], a, proto) for proto in ds.get("verification") or {}}
        needs = ((c.get("report") or {}).get("needs") or "").strip()
        out.append({"name": name, "profile": c.get("profile"), "needs": needs, "runs": runs})
    rank = {n: i for i, n in enumerate(PREFERENCE)}
    return sorted(out, key=lambda q: (rank.get(q["name"], len(rank)), q["name"]))


def filled_by(profiles: list[dict], ours: dict, current: str) -> str | None:
    """The text for a row the current profile (its `profile` key) did not run: the first other shipped profile that
    runs it and what that needs, or None when none does."""
    def as_list(v):
        return v if isinstance(v, list) else [v]

    wanted = {(ours["model"], d, ours["alignment"], p)
              for d in as_list(ours["dataset"]) for p in as_list(ours["protocol"])}
    for q in profiles:
        if q["profile"] != current and q["runs"] & wanted:
            return f"{q['name']} fills it" + (f" (needs {q['needs']})" if q["needs"] else "")
    return None
