"""Evaluation protocols written as plain files, one documented format each, built once per dataset.

- ``pairs-<name>.tsv``: ``fold path1 path2 label line identity1 identity2`` (label 1 = same person; line = where
  the pair came from; the identities are the persons the dataset's format reads from the image names, empty for a
  format that names none: trials, insightface .bin). A pair's index is its row, from 0: what score files call
  ``pair``. Files written before the identity columns existed still read (``read_pairs_tsv``: empty identities).
- ``identification.tsv``: ``path identity`` for closed-set rank-N (every image a probe against all the others).
- ``images.txt``: every image some protocol needs, one per line, sorted: what the align and embed steps process.

Every reader is looked up by the dataset's format (facebench.data.formats, ``fmt``; default lfw). Which people a
training or identification list takes: a people file (``people``, LFW's View 1 files), else a part of the dataset's
seeded identity split (``split``; training takes part ``train`` and identification part ``test`` unless ``part``
says otherwise, so the two are identity-disjoint), else every identity.
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from facebench.data import formats, lfw
from facebench.data.folds import balanced_folds
from facebench.io import write_json, write_text, write_tsv

__all__ = ["balanced_folds"]  # re-exported: it lived here first


def subset_pairs(pairs: list[lfw.Pair], per_fold: int) -> list[lfw.Pair]:
    """The first per_fold/2 same and per_fold/2 different pairs of every fold (for tests and smoke runs)."""
    half = per_fold // 2
    kept, seen = [], defaultdict(int)
    for p in pairs:
        key = (p.fold, p.label)
        if seen[key] < half:
            kept.append(p)
            seen[key] += 1
    return kept


def verification_pairs(pairs_file: str | Path, n_folds: int | None, available: set[str], on_missing: str,
                       per_fold: int | None = None, fmt: str = "lfw") -> tuple[list[lfw.Pair], dict]:
    """Read one pairs file in the dataset's format, set its folds, drop (or refuse) pairs whose images are absent."""
    pairs = formats.get(fmt).read_pairs(Path(pairs_file), n_folds)
    if per_fold:
        pairs = subset_pairs(pairs, per_fold)
    missing = [(p, x) for p in pairs for x in (p.path1, p.path2) if x not in available]
    if missing and on_missing == "fail":
        shown = "\n  ".join(f"{pairs_file}: line {p.line}: {x} is not in the dataset" for p, x in missing[:20])
        raise FileNotFoundError(f"{len(missing)} image(s) referenced by {pairs_file} are missing (set the dataset's "
                                f"on_missing_image: skip to drop those pairs and count them):\n  {shown}")
    bad = {id(p) for p, _ in missing}
    kept = [p for p in pairs if id(p) not in bad]
    return kept, {"pairs_in_file": len(pairs), "pairs_dropped_missing_image": len(pairs) - len(kept),
                  "folds": len({p.fold for p in kept})}


def split_identities(names: list[str], split: dict, where: str) -> dict[str, set[str]]:
    """Identity-disjoint parts of ``names``: the distinct names, sorted, shuffled with ``split['seed']`` and cut by
    ``split['fractions']`` (part name -> share, summing to 1), parts taken in name order so a config's key order
    never changes the result."""
    fractions = split["fractions"]
    if not fractions or any(f <= 0 for f in fractions.values()) or abs(sum(fractions.values()) - 1) > 1e-6:
        raise ValueError(f"{where}.fractions: shares must be positive and sum to 1, got {fractions}")
    order = sorted(set(names))
    shuffled = [order[i] for i in np.random.default_rng(split.get("seed", 0)).permutation(len(order))]
    parts, start, total = {}, 0, 0.0
    for part in sorted(fractions):
        total += fractions[part]
        end = round(total * len(shuffled))
        parts[part] = set(shuffled[start:end])
        start = end
    return parts


def split_people(available: list[str], split: dict | None, part: str | None, where: str, dataset: str | None,
                 fmt: str = "lfw") -> set[str] | None:
    """The identities of part ``part`` of the dataset's identity split (None without a split)."""
    split_key = f"datasets.{dataset}.split"
    if split is None:
        if part is not None:
            raise ValueError(f"{where}.part: {part!r} needs an identity split ({split_key})")
        return None
    identity = formats.get(fmt).identity
    parts = split_identities([identity(p) for p in available], split, split_key)
    if part not in parts:
        raise ValueError(f"{where}.part: {part!r} is not a part of {split_key}.fractions ({', '.join(sorted(parts))})")
    return parts[part]


def _one_selector(spec: dict, where: str) -> None:
    if spec.get("people") and spec.get("part"):
        raise ValueError(f"{where}: give 'people' (a people file) or 'part' (of the identity split), not both")


def chosen_people(spec: dict, files: dict, available: list[str], where: str, dataset: str | None, *,
                  fmt: str = "lfw", split: dict | None = None, default_part: str) -> tuple[set[str] | None, str | None]:
    """(identities, split part) a training or identification list takes: its people file, else its part of the
    dataset's identity split, else every identity (None)."""
    _one_selector(spec, where)
    people = people_names(spec, files, where)
    if people is not None:
        return people, None
    part = spec.get("part", default_part if split else None)
    return split_people(available, split, part, where, dataset, fmt), part


def people_names(spec: dict, files: dict, where: str) -> set[str] | None:
    """The identities of the people file ``spec['people']`` names (a key of the dataset's files), or None."""
    key = spec.get("people")
    if not key:
        return None
    if key not in files:
        raise KeyError(f"{where}.people: {key!r} is not one of the dataset's files ({', '.join(sorted(files))})")
    return {name for group in lfw.read_people(files[key]["path"]) for name, _ in group}


def pairs_source(manifest: dict, vspec: dict, protocol: str) -> str:
    """The file a verification protocol reads its pairs from: the dataset file ``vspec['pairs']`` names, or for an
    insightface .bin (which has no ``pairs`` key: its pairs are its own) the .bin itself."""
    where = f"datasets.{manifest['dataset']}.verification.{protocol}.pairs"
    if manifest.get("format") == formats.BIN:
        if vspec.get("pairs"):
            raise ValueError(f"{where}: an insightface .bin holds its own pairs; leave pairs out")
        return manifest["files"]["bin"]["path"]
    key = vspec.get("pairs")
    if key not in manifest["files"]:
        raise KeyError(f"{where}: {key!r} is not one of the dataset's files ({', '.join(sorted(manifest['files']))})")
    return manifest["files"][key]["path"]


PAIRS_COLUMNS = ("fold", "path1", "path2", "label", "line", "identity1", "identity2")


def pair_identities(pairs: list[lfw.Pair], fmt: str = "lfw") -> list[tuple[str, str]]:
    """(identity of image 1, identity of image 2) of each pair, as the dataset's format names them; ("", "") for
    every pair of a format that names no identities (trials, insightface .bin)."""
    f = formats.get(fmt)
    if not f.names_identities:
        return [("", "")] * len(pairs)
    return [(f.identity(p.path1), f.identity(p.path2)) for p in pairs]


def write_pairs_protocol(pairs_file: str | Path, spec: dict, available: set[str], out: str | Path, *,
                         on_missing: str = "fail", subset: dict | None = None, fmt: str = "lfw",
                         where: str = "this protocol") -> dict:
    """``pairs-<name>.tsv`` for one verification protocol, and its counts beside it as JSON; ``where`` names its
    config key in errors."""
    pairs, stats = verification_pairs(pairs_file, spec.get("folds"), available, on_missing,
                                      (subset or {}).get("pairs_per_fold"), fmt)
    if stats["folds"] < 2:  # refused here, in the DAG's first seconds, not by every verify job later
        raise ValueError(f"{where}: {pairs_file} gives {stats['folds']} fold(s) and k-fold evaluation needs at least "
                         f"2; set {where}.folds (e.g. 10: folds balanced in same and different pairs)")
    who = pair_identities(pairs, fmt)
    write_tsv(out, list(PAIRS_COLUMNS),
              ([p.fold, p.path1, p.path2, p.label, p.line, a, b] for p, (a, b) in zip(pairs, who)))
    summary = {**stats, "pairs": len(pairs), "same": sum(p.label for p in pairs), "pairs_file": str(pairs_file),
               "subset": subset or None, "format": fmt,
               "folds_from": formats.get(fmt).folds_origin(Path(pairs_file), spec.get("folds"))}
    write_json(Path(out).with_suffix(".json"), summary)
    return summary


def write_identification(available: list[str], spec: dict, out: str | Path, subset: dict | None = None, *,
                         files: dict | None = None, fmt: str = "lfw", split: dict | None = None,
                         dataset: str | None = None) -> dict:
    """``identification.tsv`` (path, identity): the people of ``spec['people']`` (a key of ``files``), else part
    ``spec['part']`` (default ``test``) of the identity split, else everyone (``chosen_people``)."""
    where = f"datasets.{dataset}.identification"
    people, part = chosen_people(spec, files or {}, available, where, dataset, fmt=fmt, split=split,
                                 default_part="test")
    rows = select_identities(available, people, spec.get("min_images", 2), (subset or {}).get("max_identities"),
                             fmt=fmt)
    write_tsv(out, ["path", "identity"], rows)
    summary = {"images": len(rows), "identities": len({i for _, i in rows}), "min_images": spec.get("min_images", 2),
               "people_file": spec.get("people"), "split_part": part, "format": fmt, "subset": subset or None}
    write_json(Path(out).with_suffix(".json"), summary)
    return summary


def write_image_list(protocol_files: list[str | Path], out: str | Path) -> int:
    """``images.txt``: the union of the images named by the given pairs / identification files."""
    from facebench.io import read_tsv

    needed: set[str] = set()
    for path in protocol_files:
        header, rows = read_tsv(path)
        for col in ("path1", "path2", "path"):
            if col in header:
                i = header.index(col)
                needed.update(r[i] for r in rows)
    write_text(out, "".join(f"{p}\n" for p in sorted(needed)))
    return len(needed)


def read_pairs_tsv(path: str | Path) -> dict[str, np.ndarray]:
    """A ``pairs-<name>.tsv`` as arrays: fold, path1, path2, label, pair (the row index, from 0) and identity1,
    identity2 (empty strings where the file has no identity columns)."""
    from facebench.io import read_tsv

    header, rows = read_tsv(path, expect=["fold", "path1", "path2", "label"])
    col = {c: [r[header.index(c)] for r in rows] for c in ("fold", "path1", "path2", "label")}
    out = {"fold": np.array(col["fold"], dtype=np.int64), "path1": np.array(col["path1"]),
           "path2": np.array(col["path2"]), "label": np.array(col["label"], dtype=np.int64),
           "pair": np.arange(len(rows), dtype=np.int64)}
    for c in ("identity1", "identity2"):
        out[c] = np.array([r[header.index(c)] for r in rows] if c in header else [""] * len(rows), dtype=str)
    return out


def select_identities(available: list[str], people: set[str] | None, min_images: int,
                      max_identities: int | None = None, fmt: str = "lfw") -> list[tuple[str, str]]:
    """(path, identity) of every identity in ``people`` (all if None) with >= ``min_images`` images, by name;
    the identification list and the training list are both made by it."""
    identity = formats.get(fmt).identity
    by_id: dict[str, list[str]] = defaultdict(list)
    for path in available:
        name = identity(path)
        if people is None or name in people:
            by_id[name].append(path)
    names = sorted(n for n, imgs in by_id.items() if len(imgs) >= min_images)
    if max_identities:
        names = names[:max_identities]
    return [(p, n) for n in names for p in sorted(by_id[n])]


def write_training_set(available: list[str], spec: dict, files: dict, out: str | Path, dataset: str, *,
                       fmt: str = "lfw", split: dict | None = None) -> dict:
    """``train.tsv`` (path, identity) from the dataset's ``training`` mapping; counts beside it as JSON.

    ``spec['people']`` names a people file of the dataset (LFW format: the View 1 ``peopleDevTrain.txt`` keeps the
    training identities disjoint from the DevTest pairs); else, with the dataset's identity ``split``, the part
    ``spec['part']`` (default ``train``); else every identity of the dataset is used.
    """
    where = f"datasets.{dataset}.training"
    people, part = chosen_people(spec, files, available, where, dataset, fmt=fmt, split=split, default_part="train")
    rows = select_identities(available, people, spec.get("min_images", 1), spec.get("max_identities"), fmt=fmt)
    if not rows:
        raise ValueError(f"{where}: no identity has {spec.get('min_images', 1)} or more images")
    write_tsv(out, ["path", "identity"], rows)
    summary = {"images": len(rows), "identities": len({i for _, i in rows}), "people_file": spec.get("people"),
               "split_part": part, "format": fmt, "min_images": spec.get("min_images", 1),
               "max_identities": spec.get("max_identities")}
    write_json(Path(out).with_suffix(".json"), summary)
    return summary
