"""Config checks of the dataset formats (facebench.data.formats) that a schema cannot express: the keys each format
needs and refuses, and which alignments serve which datasets. Plain data only, as facebench.config: it runs in
Snakemake's own process, without numpy.
"""
from __future__ import annotations

from facebench import names

BIN = names.BIN_FORMAT  # the insightface .bin format: its faces come aligned (alignment method given)
NO_IDENTITIES = (BIN, "trials")  # formats whose images name no person: verification protocols only


def format_problems(name: str, ds: dict) -> list[str]:
    """The keys a dataset's format needs and refuses: an insightface .bin is one ``file`` (no images folder, protocol
    files, landmarks, nor pairs key: its pairs are its own); the other formats have images and files, no ``file``;
    the formats that name no identities have no identification, training or split."""
    where, fmt, out = f"config key datasets.{name}", ds.get("format", "lfw"), []
    if fmt == BIN:
        for key in ("images", "files", "landmarks"):
            if ds.get(key):
                out.append(f"{where}.{key}: format {BIN} takes none (its faces, aligned, and pairs are in "
                           f"datasets.{name}.file)")
        for proto, vspec in ds.get("verification", {}).items():
            if "pairs" in vspec:
                out.append(f"{where}.verification.{proto}.pairs: format {BIN} reads the .bin's own pairs; leave "
                           "pairs out")
    elif "file" in ds:
        out.append(f"{where}.file: a key of format {BIN} only; format {fmt} takes images and files")
    if fmt in NO_IDENTITIES:
        for key in ("identification", "training", "split"):
            if key in ds:
                out.append(f"{where}.{key}: format {fmt} names no identities (verification protocols only)")
    return out


def given_problems(where: str, alignment_name: str, alignment: dict, dataset_name: str, ds: dict) -> list[str]:
    """Method given (faces as an insightface .bin stores them) serves .bin datasets alone, and they take it alone:
    their faces come aligned, with no image or landmark to cut them again (``alignment`` is the one the faces were
    cut by: a degrade alignment's source)."""
    given, is_bin = alignment["method"] == "given", ds.get("format") == BIN
    if given and not is_bin:
        return [f"{where}: {alignment_name!r} is of method 'given' (the faces of an insightface .bin), but "
                f"datasets.{dataset_name} is of format {ds.get('format', 'lfw')!r}; method given is for format {BIN}"]
    if is_bin and not given:
        return [f"{where}: {alignment_name!r} is of method {alignment['method']!r}, but datasets.{dataset_name} is "
                f"an insightface .bin, whose faces come aligned: use an alignment of method 'given'"]
    return []
