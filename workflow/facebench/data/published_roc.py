"""ROC curves published on the LFW results page (the text files beside the LFW protocol files), read for overlay.

The files come in several layouts: two numbers per line separated by spaces, tabs, commas or semicolons, TPR first
or FPR first, with or without a header ("TP FP") or comment lines (# or %). Where no header names the columns, the
column order is the one that puts the curve above the diagonal (a published ROC is better than chance).
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

_SPLIT = re.compile(r"[\s,;]+")


class PublishedRocError(ValueError):
    pass


def read_published_roc(path: str | Path) -> dict:
    """``{"label", "fpr", "tpr", "skipped"}`` of one published ROC file, sorted by FPR; ``skipped`` counts the
    numeric lines that were not two finite numbers (NaN rows in a few files)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise PublishedRocError(f"{path}: not a readable text file ({e})") from e
    rows, header, skipped = [], None, 0
    for lineno, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line[0] in "#%":
            continue
        fields = [f for f in _SPLIT.split(line) if f]
        try:
            values = [float(f) for f in fields]
        except ValueError:
            if rows or header is not None:
                raise PublishedRocError(f"{path}: line {lineno}: {line[:60]!r} is not two numbers") from None
            header = [f.upper() for f in fields]
            continue
        if len(values) != 2 or not np.all(np.isfinite(values)):
            skipped += 1
            continue
        rows.append(values)
    if len(rows) < 2:
        raise PublishedRocError(f"{path}: fewer than two (TPR, FPR) points")
    a, b = np.asarray(rows).T
    if min(a.min(), b.min()) < 0 or max(a.max(), b.max()) > 1:
        raise PublishedRocError(f"{path}: rates outside [0, 1]")
    if header and len(header) == 2 and header[0][0] in "TF" and header[1][0] in "TF" and header[0][0] != header[1][0]:
        tpr_first = header[0][0] == "T"
    else:
        tpr_first = float(np.mean(a - b)) >= 0
    tpr, fpr = (a, b) if tpr_first else (b, a)
    order = np.lexsort((tpr, fpr))
    return {"label": path.stem, "fpr": fpr[order], "tpr": tpr[order], "skipped": skipped}
