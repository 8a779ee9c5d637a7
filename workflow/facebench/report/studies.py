"""The report's study sections (config key report.studies): one table comparing a named group of models on one
verification protocol (how each was trained, its input, its last validation, its accuracy, AUC, TAR and rank-1),
the ROC curve of every model in the group and their validation curves. Every number is read from a metrics file or
a training summary, whose paths the table lists."""
from __future__ import annotations

from pathlib import Path

from facebench.io import load_npz
from facebench.report import figures
from facebench.templates import input_size


def roc_curve(metrics: dict, label: str) -> dict:
    """A metrics file's ROC as a curve of figures.roc_figure, labelled with its AUC."""
    roc = load_npz(metrics["roc_file"])
    return {"label": f"{label} (AUC {metrics['auc']:.4f})", "fpr": roc["fpr"], "tpr": roc["tpr"]}


def validation_series(run: dict) -> dict | None:
    """A training summary's per-epoch validation as a run of figures.validation_figure; None without validation."""
    epochs = (run.get("validation") or {}).get("epochs")
    if not epochs:
        return None
    return {"label": run["label"], **{c: [e[c] for e in epochs] for c in ("epoch", "val_accuracy", "val_auc")}}


def _row(model: str, m: dict | None, rank: dict | None, run: dict | None) -> dict:
    spec = (m or {}).get("provenance", {}).get("config", {}).get("model_spec", {})
    train = (run or {}).get("spec", {}).get("train") or {}
    final = (run or {}).get("final") or {}
    h, w = input_size(spec["input"]) if spec else (None, None)
    return {
        "model": model, "label": spec.get("label") or (run or {}).get("label") or model, "run": m is not None,
        "input": f"{h}x{w}" if spec else "—",
        "trained_on": f"{train['dataset']} / {train['alignment']}" if train else "not trained here",
        "init": train.get("init") or ("—" if not train else "scratch"),
        "trainable": train.get("trainable", "all") if train else "—",
        "epochs": train.get("epochs"), "faces": (run or {}).get("faces"),
        "val_accuracy": final.get("val_accuracy"), "val_auc": final.get("val_auc"),
        "accuracy": None if m is None else m["accuracy"], "std": None if m is None else m["std"],
        "auc": None if m is None else m["auc"], "eer": None if m is None else m["eer"],
        "tar": {} if m is None else m["tar_at_far"],
        "rank1": None if rank is None else rank["rank1"],
        "files": [f for f in ((m or {}).get("_path"), (rank or {}).get("_path"), (run or {}).get("_path")) if f],
    }


def study_sections(studies: dict, verif: dict, ranks: dict, runs: list[dict], search: str = "grid") -> list[dict]:
    """One section per study, in config order. ``verif``/``ranks`` are the report's metrics keyed as in build.py;
    ``runs`` the training summaries (each with ``_path``, whose folder names the model)."""
    by_model = {Path(r["_path"]).parent.name: r for r in runs}
    sections = []
    for name, st in studies.items():
        rows, curves, validated = [], [], []
        for model in st["models"]:
            m = verif.get((model, st["dataset"], st["alignment"], st["protocol"], "plain", search))
            run = by_model.get(model)
            row = _row(model, m, ranks.get((model, st["dataset"], st["alignment"], "plain")), run)
            rows.append(row)
            if m is not None and "roc_file" in m:
                curves.append(roc_curve(m, row["label"]))
            series = validation_series(run) if run is not None else None
            if series:
                validated.append(series)
        sections.append({
            "key": name, "title": st["title"], "note": st.get("note", ""), "dataset": st["dataset"],
            "protocol": st["protocol"], "alignment": st["alignment"], "rows": rows,
            "fars": sorted({far for r in rows for far in r["tar"]}, key=float),
            "roc_png": figures.b64(figures.roc_figure(curves)) if curves else None,
            "validation_png": figures.b64(figures.validation_figure(validated)) if validated else None,
        })
    return sections
