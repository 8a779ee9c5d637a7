"""Assemble the report from metrics files: seed tables (published | ours | difference), the experiment table with
every metric, ROC curves, and the provenance of every number. Writes index.html and a run manifest."""
from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from pathlib import Path

import jinja2
import numpy as np
import yaml

from facebench.data.published_roc import read_published_roc
from facebench.detect.agreement import POINTS
from facebench.io import load_npz, read_json, read_tsv, sha256_file, write_json, write_text
from facebench.report import figures, provenance
from facebench.report.curves import run_labels
from facebench.report.devthreshold import read_dev_thresholds
from facebench.report.profiles import filled_by, read_profiles
from facebench.report.studies import roc_curve, study_sections, validation_series
from facebench.report.zoo import zoo_table

SEED = ("plain", "grid")  # the seed's feature choice and threshold search


def _protocol_label(m: dict, profile: str) -> str:
    ps = m.get("protocol_summary") or {}
    subset = ps.get("subset")
    config = m.get("provenance", {}).get("config", {})
    label = f"{config.get('protocol', '?')}: {m['n_pairs']} pairs"
    if subset:
        label += f" (subset {subset})"
    train = config.get("model_spec", {}).get("train")
    if train:  # a model this workflow trained: say on what, so no mini-profile row passes for a paper's protocol
        label += f"; trained here on {train['dataset']} ({train['alignment']} alignment)"
    return f"{profile} — {label}"


def _experiment_key(m: dict) -> tuple:
    c = m["provenance"]["config"]
    return c["model"], c["dataset"], c["alignment"]


def _collect(paths: list[str]):
    verif, ranks = {}, {}
    for p in paths:
        m = read_json(p)
        m["_path"] = str(p)
        c = m.get("provenance", {}).get("config")
        if c is None:
            raise ValueError(f"{p}: a metrics file without provenance cannot go in the report")
        if m["provenance"]["rule"] == "rank":
            ranks[(c["model"], c["dataset"], c["alignment"], c["features"])] = m
        else:
            verif[(c["model"], c["dataset"], c["alignment"], c["protocol"], c["features"], c["threshold_search"])] = m
    return verif, ranks


def _experiment_rows(verif: dict, ranks: dict, profile: str, values: dict) -> list[dict]:
    """The experiment table: its numbers from the summary's ``values`` (summary.values_by_key), the intervals and
    provenance from the files."""
    rows = []
    for (model, dataset, alignment, protocol) in sorted({k[:4] for k in verif}):
        seed = verif.get((model, dataset, alignment, protocol, *SEED))
        if seed is None:
            continue

        exp = (model, dataset, alignment, protocol)

        def acc(features, search, exp=exp):
            return values.get((*exp, features, search), {}).get("accuracy")

        v = values.get((*exp, *SEED), {})
        rank_plain = ranks.get((model, dataset, alignment, "plain"))
        r1, r1_flip = (values.get((model, dataset, alignment, "identification", f, None), {}).get("rank1")
                       for f in ("plain", "flip-concat"))
        model_label, align_label = run_labels(seed)
        files = [m for k, m in verif.items() if k[:4] == (model, dataset, alignment, protocol)]
        files += [m for k, m in ranks.items() if k[:3] == (model, dataset, alignment)]
        rows.append({
            "model": model, "model_label": model_label, "dataset": dataset, "alignment": alignment,
            "alignment_label": align_label, "protocol": _protocol_label(seed, profile),
            "accuracy": v.get("accuracy"), "accuracy_ci": seed.get("accuracy_ci"), "std": v.get("std"),
            "threshold": v.get("threshold"),
            "acc_flip": acc("flip-concat", "grid"), "acc_exact": acc("plain", "exact"),
            "acc_flip_exact": acc("flip-concat", "exact"),
            "auc": v.get("auc"), "eer": v.get("eer"),
            "tar": {k.removeprefix("tar@far="): x for k, x in v.items() if k.startswith("tar@far=")},
            "rank1": r1, "rank1_flip": r1_flip,
            "rank_n": None if rank_plain is None else rank_plain["n_probes"],
            "dropped": (seed.get("protocol_summary") or {}).get("pairs_dropped_missing_image", 0),
            "provenance": [{"file": m["_path"], "rule": m["provenance"]["rule"],
                            "config": {k: v for k, v in m["provenance"]["config"].items()
                                       if k not in ("model_spec", "alignment_spec")},
                            "inputs": m["provenance"].get("inputs", {}),
                            "code": m["provenance"].get("code") or {}} for m in files],
        })
    return rows


HIGHER_IS_BETTER = {"accuracy", "auc", "rank1", "rank5", "auc_all_pairs"}
LOWER_IS_BETTER = {"std", "eer"}


def tone(metric: str, diff: float | None) -> str | None:
    """``better`` / ``worse`` for a difference ours - published, or None where the metric has no good direction (a
    threshold) or there is no difference to judge."""
    if diff is None or diff == 0 or metric not in HIGHER_IS_BETTER | LOWER_IS_BETTER:
        return None
    return "better" if (diff > 0) == (metric in HIGHER_IS_BETTER) else "worse"


RANK_METRICS = {"rank1", "rank5", "auc_all_pairs"}  # read from the rank rule's file (identification images)


def _find(o: dict, verif: dict, ranks: dict) -> tuple[dict | None, dict | None]:
    """The verification metrics and the rank file a published row's ``ours`` names. ``protocol`` may list several
    (e.g. view2, then the mini profile's devtest) and so may ``dataset`` (calfw, else the LFW fallback of the
    cross-age study): the first one run is taken."""
    protocols = o["protocol"] if isinstance(o["protocol"], list) else [o["protocol"]]
    datasets = o["dataset"] if isinstance(o["dataset"], list) else [o["dataset"]]
    features = o.get("features", "plain")
    found = (verif.get((o["model"], d, o["alignment"], p, features, o.get("search", "grid")))
             for d in datasets for p in protocols)
    m = next((x for x in found if x is not None), None)
    rank = next((ranks[k] for k in ((o["model"], d, o["alignment"], features) for d in datasets) if k in ranks), None)
    return m, rank


def citation(sources: dict, key: str) -> dict:
    """A source as a document: its text (title, authors, year, venue) and its URL where it has one. A source is never
    cited by a file path (the copies this project reads exist only on its own machines)."""
    src = sources.get(key)
    if src is None:
        raise ValueError(f"report/published.yaml: source {key!r} is not under sources")
    missing = [k for k in ("title", "authors") if not src.get(k)]
    if missing:
        raise ValueError(f"report/published.yaml: sources.{key} needs {' and '.join(missing)}")
    if "file" in src:
        raise ValueError(f"report/published.yaml: sources.{key}.file: cite the document (title, authors, year), "
                         "not a path")
    when = f" ({src['year']})" if src.get("year") else ""
    venue = f", {src['venue']}" if src.get("venue") else ""
    return {"text": f"{src['authors']}{when}. {src['title']}{venue}.", "url": src.get("url")}


def _seed_tables(published: dict, verif: dict, ranks: dict, profile: str, profiles: list[dict] = ()) -> list[dict]:
    tables = []
    for t in published["tables"]:
        rows = []
        for r in t["rows"]:
            m, rank = _find(r["ours"], verif, ranks)
            cells = []
            for metric in t["metrics"]:
                pub = r["published"].get(metric)
                source = rank if metric in RANK_METRICS else m
                ours = None if source is None else source.get(metric)
                diff = None if (pub is None or ours is None) else ours - pub
                ci = (source or {}).get("accuracy_ci") if metric == "accuracy" else None
                cells.append({"metric": metric, "published": pub, "ours": ours, "diff": diff,
                              "tone": tone(metric, diff), "ci": ci})
            rows.append({"method": r["method"], "finding": r.get("finding"), "cells": cells, "run": m is not None,
                         "protocol": _protocol_label(m, profile) if m else "not run in this profile",
                         "filled_by": None if m else filled_by(profiles, r["ours"], profile),
                         "file": m["_path"] if m else None})
        tables.append({"key": t["key"], "title": t["title"], "source": citation(published["sources"], t["source"]),
                       "note": t.get("note", ""), "metrics": t["metrics"], "rows": rows,
                       "findings": any(r.get("finding") for r in t["rows"])})
    return tables


ALPHA = 0.05


def _outcomes(m: dict) -> dict[tuple[str, str], bool]:
    """Whether each pair (image path 1, image path 2) got the right call, from a metrics file's score file (pair
    order) and ROC file (the per-pair outcome of its 10-fold protocol)."""
    header, rows = read_tsv(m["scores_file"])
    i1, i2 = header.index("path1"), header.index("path2")
    correct = load_npz(m["roc_file"])["correct"]
    if len(correct) != len(rows):
        raise ValueError(f"{m['roc_file']}: {len(correct)} outcomes for the {len(rows)} pairs of {m['scores_file']}")
    return {(r[i1], r[i2]): bool(c) for r, c in zip(rows, correct)}


def _verdict(kind: str, test: dict, diff: dict, margin: float | None) -> tuple[str, str]:
    """The verdict on a claim and its tone (better: our runs support it, worse: they contradict it)."""
    lo, hi = diff["interval"]
    if kind == "within":
        if hi < margin:
            return "supported: the whole 95% interval of the gain is below the margin", "better"
        if lo >= margin:
            return "contradicted: the gain is at least the margin", "worse"
        return "inconclusive: the 95% interval of the gain straddles the margin", ""
    p = test["p_value"]
    if p < ALPHA and diff["difference"] > 0:
        return f"supported (p = {p:.2g})", "better"
    if p < ALPHA:
        return f"contradicted: the other way round (p = {p:.2g})", "worse"
    return f"not significant on these pairs (p = {p:.2g})", ""


def _claims(published: dict, verif: dict, ranks: dict, fill=lambda ours: None) -> tuple[list[dict], dict]:
    """Each seed claim tested on our runs (paired, on the pairs both runs scored), and the files read."""
    from facebench.evaluate.uncertainty import mcnemar, paired_difference

    rows, read = [], {}
    for c in published.get("claims", []):
        (a, _), (b, _) = _find(c["a"], verif, ranks), _find(c["b"], verif, ranks)
        row = {"key": c["key"], "claim": c["claim"], "source": citation(published["sources"], c["source"]),
               "kind": c["kind"], "margin": c.get("margin"),
               "a_label": c["a"]["model"] + " + " + c["a"]["alignment"],
               "b_label": c["b"]["model"] + " + " + c["b"]["alignment"], "verdict": None, "tone": ""}
        rows.append(row)
        if a is None or b is None:  # ``fill``: the shipped profile that runs the missing side, if any
            hint = fill(c["a"] if a is None else c["b"])
            row["verdict"] = "not run in this profile" + (f": {hint}" if hint else "")
            continue
        ca, cb = a["provenance"]["config"], b["provenance"]["config"]
        if (ca["dataset"], ca["protocol"]) != (cb["dataset"], cb["protocol"]):
            row["verdict"] = "not comparable: the two runs used different pairs"
            continue
        oa, ob = _outcomes(a), _outcomes(b)
        for m in (a, b):
            read[m["scores_file"]] = sha256_file(m["scores_file"])
            read[m["roc_file"]] = sha256_file(m["roc_file"])
        shared = sorted(oa.keys() & ob.keys())  # a pair one run dropped for a failed face is not compared
        va, vb = np.array([oa[k] for k in shared]), np.array([ob[k] for k in shared])
        row["test"], row["diff"] = mcnemar(va, vb), paired_difference(va, vb)
        row["acc_a"], row["acc_b"], row["pairs"] = float(va.mean()), float(vb.mean()), len(shared)
        row["protocol"] = f"{ca['dataset']} / {ca['protocol']}"
        row["verdict"], row["tone"] = _verdict(c["kind"], row["test"], row["diff"], c.get("margin"))
    return rows, read


def _roc_png(verif: dict, published: list[dict]) -> str | None:
    """Our ROC curves (seed protocol), with the chosen published LFW curves dashed beside them."""
    curves = []
    for k, m in sorted(verif.items()):
        if k[4:] != SEED or "roc_file" not in m:
            continue
        model_label, align_label = run_labels(m)
        curves.append(roc_curve(m, f"{model_label} + {align_label}"))
    if not curves:
        return None
    curves += [{**c, "label": f"published: {c['label']}", "ls": "--", "lw": 1.1} for c in published]
    return figures.b64(figures.roc_figure(curves))


def _fmt(value, digits=4):
    if value is None:
        return "—"
    if isinstance(value, float) and np.isnan(value):
        return "nan"
    return f"{value:.{digits}f}"


def _p_value(value):
    """A p-value to two significant figures: a tiny one as 3.1e-07, never as 0.000."""
    return "—" if value is None else f"{value:.2g}"


def _signed(value, digits=4):
    return "—" if value is None else f"{value:+.{digits}f}"


def _landmark_studies(paths: list[str]) -> list[dict]:
    """Landmark agreement studies, each with its figure embedded (and the figure's sha256 for the manifest)."""
    studies = []
    for p in paths:
        s = read_json(p)
        if s.get("kind") != "landmark_agreement":
            raise ValueError(f"{p}: not a landmark agreement file (kind {s.get('kind')!r})")
        fig = Path(s["figure"])
        s["_path"], s["figure_sha256"] = str(p), sha256_file(fig)
        s["figure_png"] = figures.b64(fig.read_bytes())
        # JSON files are written with sorted keys: put the points back in face order
        s["per_point_mean"] = {p: s["per_point_mean"][p] for p in POINTS if p in s.get("per_point_mean", {})}
        counts = s["detector"]["counts"]
        s["fallbacks"] = sum(counts.get(k, 0) for k in ("no-face", "too-small", "unreadable"))
        studies.append(s)
    return studies


def _training(summaries: list[str], tsne: list[str]) -> dict | None:
    """The trained models: a table row each, their smoothed curves, and their t-SNE panels side by side."""
    if not summaries:
        return None
    runs, curves = [], []
    for p in summaries:
        s = read_json(p)
        log = Path(p).with_name("log.tsv")
        _, rows = read_tsv(log)
        cols = np.array([[float(v) for v in r[:4]] for r in rows]).reshape(-1, 4)
        curves.append({"label": s["label"], "step": cols[:, 0], "loss": cols[:, 2], "accuracy": cols[:, 3]})
        s["_path"], s["_log"], s["_log_sha256"] = str(p), str(log), sha256_file(log)
        s["train"] = s["spec"]["train"]
        runs.append(s)
    panels, tsne_files = [], {}
    for p in tsne:
        t = load_npz(p)
        meta = json.loads(str(t["meta"]))
        label = next((r["label"] for r in runs if Path(r["_path"]).parent.name == Path(p).stem), Path(p).stem)
        panels.append({"title": label, "points": t["points"], "identity": t["identity"]})
        tsne_files[str(p)] = {"sha256": sha256_file(p), **meta}
    validated = [v for v in map(validation_series, runs) if v]
    validation_png = figures.b64(figures.validation_figure(validated)) if validated else None
    return {"runs": runs, "curves_png": figures.b64(figures.training_curves_figure(curves)),
            "validation_png": validation_png, "validated": [v["label"] for v in validated],
            "tsne_png": figures.b64(figures.tsne_figure(panels)) if panels else None,
            "tsne_files": tsne_files}


def build_report(metrics_paths: list[str], *, published: str, template: str, spec: dict, out: str,
                 manifest_out: str | None = None, studies: list[str] = (), training: list[str] = (),
                 tsne: list[str] = (), analysis: list[str] = (), published_roc: list[str] = (),
                 profiles: list[str] = (), dev_thresholds: list[str] = (), summary: str | None = None) -> None:
    from facebench.report.analysis import analysis_sections
    from facebench.report.curves import benchmark_png, cmc_png, det_png, open_set_rows
    from facebench.report.summary import benchmark_table, read_summary, summary_table, values_by_key

    verif, ranks = _collect(metrics_paths)
    dev_rows, devs = read_dev_thresholds(list(dev_thresholds), spec.get("labels", {}))
    verif = {k: m for k, m in verif.items() if (k[1], k[3]) not in devs}  # a development set only sets a threshold
    published_curves = [read_published_roc(p) for p in published_roc]
    pub = yaml.safe_load(Path(published).read_text(encoding="utf-8"))
    profile = spec.get("profile", "custom")
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(Path(template).parent)),
                             autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    env.filters["f"] = _fmt
    env.filters["signed"] = _signed
    env.filters["p_value"] = _p_value
    git = provenance.git_version()
    # the tables' numbers from the tidy summary (results/summary.parquet; collected here from the files without one)
    table = read_summary(summary) if summary else summary_table(list(metrics_paths) + list(dev_thresholds))
    shipped = read_profiles(list(profiles))
    context = {
        "title": spec.get("title", "facebench report"), "profile": profile,
        "generated": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "git": git, "packages": provenance.package_versions(),
        "experiments": _experiment_rows(verif, ranks, profile, values_by_key(table)),
        "seed_tables": _seed_tables(pub, verif, ranks, profile, shipped),
        "zoo": zoo_table(pub, verif, ranks, seed=SEED, protocol_label=lambda m: _protocol_label(m, profile)),
        "alpha": ALPHA,
        "dev_thresholds": dev_rows,
        "roc_png": _roc_png(verif, published_curves),
        "det_png": det_png(verif, SEED), "cmc_png": cmc_png(ranks, SEED[0]), "open_set": open_set_rows(ranks),
        "published_roc": [{"label": c["label"], "points": len(c["fpr"]), "skipped": c["skipped"]}
                          for c in published_curves],
        "landmark_studies": _landmark_studies(list(studies)),
        "training": _training(list(training), list(tsne)),
        "fars": sorted({far for m in verif.values() for far in m["tar_at_far"]}, key=float),
    }
    labels = {k[0]: run_labels(m)[0] for k, m in verif.items()} | dict(spec.get("labels", {}))
    context["benchmark"] = benchmark_table(table, pub, labels=labels, devs=devs, seed=SEED)
    context["benchmark_png"] = benchmark_png(context["benchmark"])
    context["claims"], claim_inputs = _claims(pub, verif, ranks, lambda ours: filled_by(shipped, ours, profile))
    context["analysis"], analysis_inputs = analysis_sections(list(analysis), list(tsne), spec.get("labels", {}))
    context["studies"] = study_sections(spec.get("studies", {}), verif, ranks,
                                        (context["training"] or {}).get("runs", []), search=SEED[1])
    html = env.get_template(Path(template).name).render(**context)
    write_text(out, html)
    if manifest_out:
        inputs = defaultdict(dict)
        for p in metrics_paths:
            inputs["metrics"][str(p)] = sha256_file(p)
        inputs["published"][str(published)] = sha256_file(published)
        for p in published_roc:
            inputs["published_roc"][str(p)] = sha256_file(p)
        for p in profiles:
            inputs["profiles"][str(p)] = sha256_file(p)
        for p in dev_thresholds:
            inputs["dev_thresholds"][str(p)] = sha256_file(p)
        if summary:
            inputs["summary"][str(summary)] = sha256_file(summary)
        for r in (context["training"] or {}).get("runs", []):
            inputs["training"][r["_path"]] = sha256_file(r["_path"])
            inputs["training"][r["_log"]] = r["_log_sha256"]
        for path, t in (context["training"] or {}).get("tsne_files", {}).items():
            inputs["tsne"][path] = t["sha256"]
        for st in context["landmark_studies"]:
            inputs["studies"][st["_path"]] = sha256_file(st["_path"])
            inputs["figures"][st["figure"]] = st["figure_sha256"]
        if analysis_inputs:
            inputs["analysis"] = analysis_inputs
        if claim_inputs:
            inputs["claims"] = claim_inputs
        write_json(manifest_out, {"report": str(out), "generated": context["generated"], "profile": profile,
                                  "git": git, "packages": context["packages"], "inputs": dict(inputs)})
