"""The report's embedding-analysis sections, from the analysis rules' outputs: the verification scorer comparison,
intra/inter-identity distances and clustering, CPD between high-resolution and degraded embeddings, first-conv
kernels, and 3-d embeddings on the sphere. Every number comes from one file, listed in the manifest."""
from __future__ import annotations

import json
from pathlib import Path

from facebench.io import load_npz, read_json, sha256_file
from facebench.report import figures

SCORER_LABELS = {"cosine": "cosine", "euclidean": "Euclidean (normalised)", "chi2-svm": "weighted χ² + linear SVM",
                 "weighted-l1": "weighted L1 + logistic regression", "joint-bayesian": "Joint Bayesian"}
CLUSTERINGS = ("kmeans-oracle", "kmeans-silhouette", "agglomerative")


def _label(labels: dict, model: str) -> str:
    return labels.get(model, model)


def _where(c: dict) -> str:
    parts = [c.get("dataset"), c.get("alignment")]
    if c.get("protocol"):
        parts.append(c["protocol"])
    return " / ".join(str(p) for p in parts if p)


def _read(paths: list[str]) -> dict[str, list[tuple[str, dict]]]:
    """The analysis files grouped by kind (JSON files carry ``kind``; .npz files carry it in their ``meta``)."""
    kinds: dict[str, list[tuple[str, dict]]] = {}
    for p in paths:
        if str(p).endswith(".npz"):
            z = load_npz(p)
            body = {**json.loads(str(z["meta"])), "_arrays": z}
        else:
            body = read_json(p)
        kind = body.get("kind")
        if kind not in ("scorers", "embedding-stats", "cpd", "kernels"):
            raise ValueError(f"{p}: not an analysis file the report knows (kind {kind!r})")
        kinds.setdefault(kind, []).append((str(p), body))
    return kinds


def _scorers(files, labels) -> dict | None:
    if not files:
        return None
    names = [n for n in SCORER_LABELS if any(n in b["scorers"] for _, b in files)]
    rows = []
    for path, b in files:
        c = b["provenance"]["config"]
        rows.append({"model": _label(labels, c["model"]), "where": _where(c), "pairs": b["pairs"], "file": path,
                     "cells": [b["scorers"].get(n) for n in names]})
    return {"columns": [SCORER_LABELS[n] for n in names], "rows": rows,
            "search": files[0][1]["threshold_search"], "training_pairs": files[0][1]["training_pairs_per_fold"]}


def _stats(files, labels) -> dict | None:
    if not files:
        return None
    rows, panels = [], []
    for path, b in files:
        c = b["provenance"]["config"]
        d, cl = b["distances"], b["clustering"]
        title = _label(labels, c["model"])
        rows.append({"model": title, "where": _where(c), "file": path, "images": b["images"],
                     "identities": b["identities"], "intra": d["intra"]["mean"], "inter": d["inter"]["mean"],
                     "d_prime": d["d_prime"], "overlap": d["inter_below_intra_median"],
                     "threshold": cl["threshold"], "clusters": [cl[k] for k in CLUSTERINGS]})
        panels.append({"title": title, "bins": d["bins"], "intra": d["intra"]["histogram"],
                       "inter": d["inter"]["histogram"]})
    return {"rows": rows, "methods": list(CLUSTERINGS), "sampling": _sampling(files[0][1]),
            "png": figures.b64(figures.distance_histograms_figure(panels))}


def _sampling(b: dict) -> str:
    """The method choices that change what the distance and clustering columns compute, as the first file states
    them (every file of a run comes from the same rule and config)."""
    km = b["clustering"].get("kmeans", {})
    parts = [f"{b['distances']['intra']['n']:,} same- and as many different-identity pairs (seeded sample, seed "
             f"{b['seed']})"]
    if km:
        starts = f"{km['n_init']} start" + ("s" if km["n_init"] != 1 else "")
        parts.append(f"K-means: {km['init']} ({km['seeding']}), {starts} for every k, on {km['dtype']} "
                     "features of every image")
    sample = b["clustering"].get("sample")
    if sample:
        parts.append(f"clustering on {b['clustering']['images']:,} of {sample['of_images']:,} images (a seeded sample "
                     f"of whole identities, at most analysis.cluster_max_images = {sample['max_images']:,})")
    return "; ".join(parts)


def _cpd(files, labels) -> dict | None:
    if not files:
        return None
    rows, panels = [], []
    for path, b in files:
        c = b["provenance"]["config"]
        title = f"{_label(labels, c['model'])}: {c['alignment']} vs {c['degraded']}"
        rows.append({"model": _label(labels, c["model"]), "high": c["alignment"], "degraded": c["degraded"],
                     "size": c["degrade_spec"]["size"], "dataset": c["dataset"], "file": path, "points": b["points"],
                     "of": b["of"], "before": b["before"]["mean"], "affine_before": b["affine"]["before"]["mean"],
                     "affine": b["affine"]["mean"], "affine_space": b["affine"]["space"],
                     "rigid_before": b["rigid"]["before"]["mean"], "rigid": b["rigid"]["mean"],
                     "linear": b["linear-map"]["mean"], "affine_iterations": b["affine"].get("iterations")})
        panels.append({"title": title, "bins": b["bins"], "before": b["before"]["histogram"],
                       "affine": b["affine"]["histogram"], "linear-map": b["linear-map"]["histogram"]})
    return {"rows": rows, "png": figures.b64(figures.cpd_figure(panels))}


def _kernels(files, labels) -> dict | None:
    if not files:
        return None
    panels, rows = [], []
    for path, b in sorted(files, key=lambda f: f[0]):
        model = Path(path).stem
        panels.append({"title": f"{_label(labels, model)} ({'x'.join(map(str, b['shape']))})",
                       "weights": b["_arrays"]["weights"]})
        rows.append({"model": _label(labels, model), "shape": b["shape"], "roughness": b["roughness_mean"],
                     "file": path})
    return {"rows": rows, "png": figures.b64(figures.kernels_figure(panels)), "roughness": files[0][1]["roughness"]}


def _spheres(tsne_paths: list[str], labels) -> dict | None:
    panels = []
    for p in tsne_paths:
        t = load_npz(p)
        if "sphere" in t:
            panels.append({"title": _label(labels, Path(p).stem), "points": t["sphere"], "identity": t["identity"]})
    if not panels:
        return None
    return {"png": figures.b64(figures.sphere_figure(panels)), "models": [p["title"] for p in panels]}


def analysis_sections(paths: list[str], tsne_paths: list[str], labels: dict) -> tuple[dict, dict]:
    """The template context of the analysis sections, and the sha256 of every file read (for the manifest)."""
    kinds = _read(paths)
    context = {"scorers": _scorers(kinds.get("scorers", []), labels),
               "stats": _stats(kinds.get("embedding-stats", []), labels),
               "cpd": _cpd(kinds.get("cpd", []), labels),
               "kernels": _kernels(kinds.get("kernels", []), labels),
               "spheres": _spheres(tsne_paths, labels)}
    return context, {str(p): sha256_file(p) for p in paths}
