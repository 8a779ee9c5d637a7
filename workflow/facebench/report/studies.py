"""The report's study sections (config key report.studies): one table comparing a named group of models on one
verification protocol (how each was trained, its input, its last validation, its accuracy, AUC, TAR and rank-1),
the ROC curve of every model in the group and their validation curves. Every number is read from a metrics file or
a training summary, whose paths the table lists."""
from __future__ import annotations

import base64
from pathlib import Path

from facebench.align import template
from facebench.io import load_npz
from facebench.report import figures


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _input(model_spec: dict) -> str:
    """height x width the backbone sees: ``input.size``, else the template's crop (as models.inputs.backbone_args;
    not imported from there, which would pull torch into the report's environment)"""
    w, h = template(model_spec["input"]["template"]).size
    h, w = model_spec["input"].get("size") or (h, w)
    return f"{h}x{w}"


def _row(model: str, m: dict | None, rank: dict | None, run: dict | None) -> dict:
    spec = (m or {}).get("provenance", {}).get("config", {}).get("model_spec", {})
    train = (run or {}).get("spec", {}).get("train") or {}
    final = (run or {}).get("final") or {}
    return {
        "model": model, "label": spec.get("label") or (run or {}).get("label") or model, "run": m is not None,
        "input": _input(spec) if spec else "—",
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
        rows = []
        for model in st["models"]:
            m = verif.get((model, st["dataset"], st["alignment"], st["protocol"], "plain", search))
            rank = ranks.get((model, st["dataset"], st["alignment"], "plain"))
            rows.append(_row(model, m, rank, by_model.get(model)))
        curves = []
        for r in rows:
            m = verif.get((r["model"], st["dataset"], st["alignment"], st["protocol"], "plain", search))
            if m is not None and "roc_file" in m:
                roc = load_npz(m["roc_file"])
                curves.append({"label": f"{r['label']} (AUC {m['auc']:.4f})", "fpr": roc["fpr"], "tpr": roc["tpr"]})
        validated = [{"label": by_model[r["model"]]["label"],
                      **{c: [e[c] for e in by_model[r["model"]]["validation"]["epochs"]]
                         for c in ("epoch", "val_accuracy", "val_auc")}}
                     for r in rows if ((by_model.get(r["model"]) or {}).get("validation") or {}).get("epochs")]
        sections.append({
            "key": name, "title": st["title"], "note": st.get("note", ""), "dataset": st["dataset"],
            "protocol": st["protocol"], "alignment": st["alignment"], "rows": rows,
            "fars": sorted({far for r in rows for far in r["tar"]}, key=float),
            "roc_png": _b64(figures.roc_figure(curves)) if curves else None,
            "validation_png": _b64(figures.validation_figure(validated)) if validated else None,
        })
    return sections
