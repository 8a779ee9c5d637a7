"""The report's error-rate curves beside the ROC and its identification results: DET curves from the verify rule's ROC
files, CMC curves and the open-set table from the rank files, and the benchmark table as a heatmap. A file written
before it carried these arrays or keys is skipped, never an error."""
from __future__ import annotations

from facebench.io import load_npz
from facebench.report import figures


def run_labels(m: dict) -> tuple[str, str]:
    """A metrics file's model and alignment labels (their config `label`, else their keys)."""
    c = m["provenance"]["config"]
    return (c.get("model_spec", {}).get("label") or c["model"],
            c.get("alignment_spec", {}).get("label") or c["alignment"])


def _label(m: dict) -> str:
    return " + ".join(run_labels(m))


def det_png(verif: dict, seed: tuple[str, str]) -> str | None:
    """The DET curves of the runs the ROC figure draws (``seed``: features and threshold search), from the probit
    arrays of their ROC files (det_probit_fmr, det_probit_fnmr); a ROC file without them is skipped."""
    curves = []
    for k, m in sorted(verif.items()):
        if k[4:] != tuple(seed) or "roc_file" not in m:
            continue
        roc = load_npz(m["roc_file"])
        if "det_probit_fmr" not in roc or "det_probit_fnmr" not in roc:
            continue
        curves.append({"label": _label(m), "probit_fmr": roc["det_probit_fmr"], "probit_fnmr": roc["det_probit_fnmr"]})
    return figures.b64(figures.det_figure(curves)) if curves else None


def cmc_png(ranks: dict, features: str) -> str | None:
    """CMC curves (ranks 1..20) of the rank files of these features; a file without ``cmc`` is skipped."""
    curves = [{"label": f"{_label(m)} ({k[1]})", "cmc": m["cmc"]} for k, m in sorted(ranks.items())
              if k[3] == features and m.get("cmc")]
    return figures.b64(figures.cmc_figure(curves)) if curves else None


def open_set_rows(ranks: dict) -> list[dict]:
    """The open-set result of every rank file that has one: DIR at each FPIR (and the FPIR achieved), under the
    watch-list protocol the file states."""
    rows = []
    for (_, dataset, _, features), m in sorted(ranks.items()):
        o = m.get("open_set")
        if not o:
            continue
        model_label, alignment_label = run_labels(m)
        rows.append({"model_label": model_label, "alignment_label": alignment_label, "dataset": dataset,
                     "features": features, "protocol": o.get("protocol"), "seed": o.get("seed"),
                     "enrolled": o.get("n_enrolled"), "mated": o.get("n_mated"), "nonmated": o.get("n_nonmated"),
                     "dir": o.get("dir_at_fpir", {}), "fpir_achieved": o.get("fpir_achieved", {}),
                     "rank1_mated": o.get("rank1_mated"), "file": m.get("_path")})
    return rows


def benchmark_png(benchmark: dict | None) -> str | None:
    """The benchmark table's accuracies as a heatmap (models x verification sets); None without a table."""
    import pandas as pd

    if not benchmark or not benchmark["rows"]:
        return None
    columns = [f"{c['dataset']} / {c['protocol']}" for c in benchmark["columns"]]
    index = [f"{r['label']} ({r['alignment']})" for r in benchmark["rows"]]
    values = [[c["accuracy"] if c["run"] and c["accuracy"] is not None else float("nan") for c in r["cells"]]
              for r in benchmark["rows"]]
    return figures.b64(figures.benchmark_heatmap(pd.DataFrame(values, index=index, columns=columns)))
