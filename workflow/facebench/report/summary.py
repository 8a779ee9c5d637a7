"""Every metrics file as one tidy pandas table: ``results/summary.parquet`` (and ``.csv``), what the report's benchmark
table is built from and what a user loads with ``pandas.read_parquet("results/summary.parquet")``.

A row is one number: (model, dataset, alignment, protocol, features, threshold_search, metric) with its ``value``, its
95% interval (``ci_low``, ``ci_high``, ``ci_method``) where the file has one, the ``file`` it came from and the
``rule`` that wrote it. The files and their metrics:

- verify (``<protocol>-<features>-<search>.json``): accuracy (interval: across the folds, Student t), std,
  threshold, auc, eer, ``tar@far=<far>`` for each FAR;
- rank (``rank-<features>.json``): rank1, rank5, auc_all_pairs, ``cmc@<k>`` for each CMC rank, and the open-set
  ``dir@fpir=<fpir>``, ``openset_rank1_mated``; protocol ``identification``, no threshold search;
- dev_threshold (``<protocol>-<features>-devthreshold.json``): fmr, fnmr, hter and threshold on the test protocol,
  dev_fmr, dev_fnmr, dev_hter, dev_eer on the development one; threshold_search ``dev:<development protocol>``.

A value the file lacks (or holds as null) gives no row; a NaN stays NaN.
"""
from __future__ import annotations

import math

import pandas as pd

from facebench.io import atomic_path, read_json

KEYS = ["model", "dataset", "alignment", "protocol", "features", "threshold_search", "metric"]
COLUMNS = [*KEYS, "value", "ci_low", "ci_high", "ci_method", "file", "rule"]
VERIFY_SCALARS = ("accuracy", "std", "threshold", "auc", "eer")
RANK_SCALARS = ("rank1", "rank5", "auc_all_pairs")
FOLDS_CI = "95% across folds (Student t)"


def _number(v):
    """A metric value as a float; None (absent or null) stays None, NaN stays NaN."""
    if v is None or isinstance(v, bool):
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _sampled_ci(value, sample: dict | None) -> tuple:
    """(low, high, method) of an all-pairs AUC estimated from sampled negatives (evaluate/identification.py), else
    nothing: an exact AUC has no interval here."""
    if not sample or _number(value) is None:
        return ()
    half = 1.96 * float(sample["standard_error"])
    return (float(value) - half, float(value) + half,
            f"95% normal, sampled: {sample['negatives']:,} of {sample['of_negatives']:,} different-identity pairs "
            f"(seed {sample['seed']})")


def _metrics(m: dict, rule: str) -> list[tuple[str, float, float | None, float | None, str | None]]:
    """(metric, value, ci_low, ci_high, ci_method) of one metrics file."""
    out = []

    def add(name, value, lo=None, hi=None, method=None):
        v = _number(value)
        if v is not None:
            out.append((name, v, lo, hi, method))

    if rule == "rank":
        for k in RANK_SCALARS[:2]:
            add(k, m.get(k))
        auc = m.get("auc_all_pairs")
        add("auc_all_pairs", auc, *_sampled_ci(auc, m.get("auc_all_pairs_sample")))
        for k, v in enumerate(m.get("cmc") or [], start=1):
            add(f"cmc@{k}", v)
        open_set = m.get("open_set") or {}
        for fpir, v in (open_set.get("dir_at_fpir") or {}).items():
            add(f"dir@fpir={fpir}", v)
        add("openset_rank1_mated", open_set.get("rank1_mated"))
    elif rule == "dev_threshold":
        test = m.get("test") or {}
        for k in ("fmr", "fnmr", "hter"):
            add(k, m.get(k, test.get(k)))
        add("threshold", m.get("threshold"))
        for k in ("fmr", "fnmr", "hter", "eer"):
            add(f"dev_{k}", (m.get("dev") or {}).get(k))
    else:
        ci = (m.get("accuracy_ci") or {}).get("folds")
        lo, hi = (_number(ci[0]), _number(ci[1])) if ci else (None, None)
        add("accuracy", m.get("accuracy"), lo, hi, FOLDS_CI if ci else None)
        for k in VERIFY_SCALARS[1:]:
            add(k, m.get(k))
        for far, v in sorted((m.get("tar_at_far") or {}).items(), key=lambda kv: float(kv[0])):
            add(f"tar@far={far}", v)
    return out


def _key(m: dict, rule: str, path: str) -> dict:
    c = m["provenance"]["config"]
    try:
        key = {"model": c["model"], "dataset": c["dataset"], "alignment": c["alignment"],
               "features": c.get("features", "plain")}
        if rule == "rank":
            key.update(protocol="identification", threshold_search=None)
        elif rule == "dev_threshold":
            key.update(protocol=c["protocol"], threshold_search=f"dev:{c['dev_protocol']}")
        else:
            key.update(protocol=c["protocol"], threshold_search=c.get("threshold_search", m.get("protocol")))
    except KeyError as err:
        raise ValueError(f"{path}: provenance.config lacks {err.args[0]!r}") from None
    return key


def summary_table(paths: list[str]) -> pd.DataFrame:
    """One tidy row per number of every metrics file (see the module's doc), in the order of ``paths``."""
    records = []
    for p in paths:
        try:
            m = read_json(p)
        except (OSError, ValueError) as err:
            raise ValueError(f"{p}: cannot read the metrics file: {err}") from err
        prov = m.get("provenance") if isinstance(m, dict) else None
        if not isinstance(prov, dict) or not isinstance(prov.get("config"), dict) or not prov.get("rule"):
            raise ValueError(f"{p}: a metrics file without provenance (rule and config) cannot go in the summary")
        rule = prov["rule"]
        key = _key(m, rule, str(p))
        for metric, value, lo, hi, method in _metrics(m, rule):
            records.append({**key, "metric": metric, "value": value, "ci_low": lo, "ci_high": hi,
                            "ci_method": method, "file": str(p), "rule": rule})
    df = pd.DataFrame.from_records(records, columns=COLUMNS)
    for col in ("value", "ci_low", "ci_high"):
        df[col] = df[col].astype("float64")
    for col in [*KEYS, "ci_method", "file", "rule"]:
        df[col] = df[col].astype("string")
    return df


def write_summary(df: pd.DataFrame, *, parquet: str | None = None, csv: str | None = None) -> None:
    """The table as parquet and/or CSV, each written to a temporary name and renamed when complete."""
    if parquet:
        import pyarrow  # noqa: F401  (pandas' parquet engine: named here so a missing one fails with its name)

        with atomic_path(parquet, suffix=".parquet") as tmp:
            df.to_parquet(tmp, index=False, engine="pyarrow")
    if csv:
        with atomic_path(csv, suffix=".csv") as tmp:
            df.to_csv(tmp, index=False)


def read_summary(path: str) -> pd.DataFrame:
    return pd.read_parquet(path)


def cell(df: pd.DataFrame, metric: str) -> float | None:
    """The one value of ``metric`` in ``df`` (rows of one metrics file), or None; NaN as NaN."""
    v = df.loc[df["metric"] == metric, "value"]
    if v.empty:
        return None
    x = float(v.iloc[0])
    return x if not math.isnan(x) else math.nan


BENCHMARK_FAR = "0.001"  # the TAR@FAR the field's model tables quote beside the accuracy


def benchmark_table(df: pd.DataFrame, published: dict, *, labels: dict | None = None,
                    devs: set[tuple[str, str]] = frozenset(), seed: tuple[str, str] = ("plain", "grid")) -> dict | None:
    """The benchmark table from the summary: one row per model, one column per (dataset, verification protocol) it
    was evaluated on, each cell the seed protocol's accuracy ± std and TAR@FAR=1e-3 on the model's first evaluated
    alignment (the first in the order of the metrics files, i.e. of the config; a cell run only on another alignment
    says which), with the published accuracy beside ours where ``published["zoo"]`` has one for that model, dataset and
    protocol. Development protocols (``devs``: (dataset, protocol)) only set thresholds and get no column. None when
    the summary holds no seed verification result."""
    labels = labels or {}
    features, search = seed
    seeded = df[(~df["rule"].isin(["rank", "dev_threshold"])) & (df["features"] == features)
                & (df["threshold_search"] == search)]
    if devs:
        dev_mask = [(d, p) in devs for d, p in zip(seeded["dataset"], seeded["protocol"])]
        seeded = seeded[[not x for x in dev_mask]]
    if seeded.empty:
        return None
    columns = list(dict.fromkeys(zip(seeded["dataset"], seeded["protocol"])))
    models = list(dict.fromkeys(seeded["model"]))
    zoo = {}
    for e in (published.get("zoo") or {}).get("models", []):
        zoo[(e["model"], e.get("dataset", "lfw"), e.get("verification", "view2"))] = e
    groups = {k: g for k, g in seeded.groupby(["model", "dataset", "protocol", "alignment"], sort=False)}
    rows = []
    for model in models:
        first = seeded.loc[seeded["model"] == model, "alignment"].iloc[0]
        cells = []
        for dataset, protocol in columns:
            g = groups.get((model, dataset, protocol, first))
            alignment = first
            if g is None:  # not run on the row's alignment: the first alignment this cell was run on
                alignment = next((a for (m_, d, p, a) in groups if (m_, d, p) == (model, dataset, protocol)), None)
                g = None if alignment is None else groups[(model, dataset, protocol, alignment)]
            entry = zoo.get((model, dataset, protocol))
            pub = None if entry is None else {"accuracy": entry["published"]["accuracy"],
                                              "features": entry.get("features", "plain")}
            if g is None:
                cells.append({"run": False, "published": pub})
                continue
            acc = g[g["metric"] == "accuracy"]
            cells.append({"run": True, "accuracy": cell(g, "accuracy"), "std": cell(g, "std"),
                          "tar": cell(g, f"tar@far={BENCHMARK_FAR}"),
                          "ci": None if acc.empty or pd.isna(acc["ci_low"].iloc[0])
                          else [float(acc["ci_low"].iloc[0]), float(acc["ci_high"].iloc[0])],
                          "alignment": alignment, "other_alignment": alignment != first,
                          "file": str(g["file"].iloc[0]), "published": pub,
                          # ours - published only where the authors scored the same features
                          "diff": None if pub is None or pub["features"] != features or cell(g, "accuracy") is None
                          else cell(g, "accuracy") - pub["accuracy"]})
        rows.append({"model": model, "label": labels.get(model, model), "alignment": first, "cells": cells})
    return {"far": BENCHMARK_FAR, "features": features, "search": search,
            "columns": [{"dataset": d, "protocol": p} for d, p in columns], "rows": rows}


def values_by_key(df: pd.DataFrame) -> dict[tuple, dict[str, float]]:
    """{(model, dataset, alignment, protocol, features, threshold_search): {metric: value}} of the summary; a rank
    file's key has protocol ``identification`` and threshold_search None."""
    out: dict[tuple, dict[str, float]] = {}
    cols = [df[c] for c in (*KEYS[:-1], "metric", "value")]
    for *key, metric, value in zip(*cols):
        out.setdefault(tuple(None if pd.isna(x) else str(x) for x in key), {})[str(metric)] = float(value)
    return out
