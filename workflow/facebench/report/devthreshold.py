"""The report's development-threshold table: a threshold fixed on a development protocol (its EER point) and applied
unchanged to the test protocol, with FMR, FNMR and HTER on both; and which protocols are development sets, so the
report does not show them as results of their own."""
from __future__ import annotations

from facebench.io import read_json


def read_dev_thresholds(paths: list[str], labels: dict) -> tuple[list[dict], set[tuple[str, str]]]:
    """One row per dev-threshold file (sorted by model, dataset, alignment, protocol, features), and the
    (dataset, development protocol) pairs they name."""
    rows, devs = [], set()
    for p in paths:
        m = read_json(p)
        c = (m.get("provenance") or {}).get("config")
        if c is None or m["provenance"].get("rule") != "dev_threshold":
            raise ValueError(f"{p}: not a dev_threshold metrics file (no provenance of rule dev_threshold)")
        devs.add((c["dataset"], c["dev_protocol"]))
        rows.append({"model": c["model"], "model_label": labels.get(c["model"], c["model"]), "dataset": c["dataset"],
                     "alignment": c["alignment"], "protocol": c["protocol"], "dev_protocol": c["dev_protocol"],
                     "features": c["features"], "threshold": m["threshold"], "dev": m["dev"], "test": m["test"],
                     "rule_text": m.get("threshold_rule", ""), "file": str(p)})
    rows.sort(key=lambda r: (r["model"], r["dataset"], r["alignment"], r["protocol"], r["features"]))
    return rows, devs
