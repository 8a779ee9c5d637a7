"""Cross-Age LFW (CALFW): the pair list, image identities and the provided 5-point landmarks.

Format facts (CALFW's release): images are flat ``<Name>_<NNNN>.jpg`` files (the aligned 112x112 set or the 250x250
frames); ``pairs_CALFW.txt`` has 12,000 lines ``image label``, two consecutive lines per pair, 6,000 pairs; a
non-zero label means the pair is the same person (the label is then an identity number shared by the two lines), 0
means different people; pairs 0-2999 are same-person and 3000-5999 different-person. The 5-point landmarks of image
``X.jpg`` are in ``<landmarks>/X_5loc_attri.txt``: five lines ``x y`` (left eye, right eye, nose, mouth left, mouth
right) in the image's own pixels.

The folds are rebuilt: a contiguous split of the file order would put only same-person pairs in folds 0-4, so each of
the 10 folds takes 300 same and 300 different pairs (folds.balanced_folds).

Cross-Pose LFW (CPLFW) is released in the same format (``pairs_CPLFW.txt``, landmarks in ``CPLFW/points``, the same
``_5loc_attri.txt`` files) but numbers its images without padding (``<Name>_<N>.jpg``): ``kind`` names which.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from facebench.data.folds import balanced_folds
from facebench.data.lfw import Pair
from facebench.landmarks import OK, Landmarks

# kind -> (image name pattern, the pattern in words)
_NAMES = {"CALFW": (re.compile(r"^(?P<identity>.+)_(?P<index>\d{4})\.(jpg|jpeg|png)$", re.IGNORECASE),
                    "<Name>_<NNNN>.jpg"),
          "CPLFW": (re.compile(r"^(?P<identity>.+)_(?P<index>\d+)\.(jpg|jpeg|png)$", re.IGNORECASE), "<Name>_<N>.jpg")}


def identity(path: str, kind: str = "CALFW") -> str:
    """The person of a CALFW (CPLFW) image name: the name without its _NNNN (_N) suffix (``Aaron_Eckhart_0001.jpg``)."""
    pattern, words = _NAMES[kind]
    m = pattern.match(Path(path).name)
    if not m:
        raise ValueError(f"{path}: not a {kind} image name '{words}'")
    return m.group("identity")


def list_images(root: str | Path, kind: str = "CALFW") -> list[str]:
    """Every image file directly under ``root`` (the flat layout), sorted; a name that is not ``<Name>_<NNNN>.jpg``
    (CPLFW: ``<Name>_<N>.jpg``) is an error, since its person could not be told."""
    names = sorted(p.name for p in Path(root).iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png")
                   and p.is_file())
    for name in names:
        identity(str(Path(root) / name), kind)
    return names


def read_pairs(path: str | Path, n_folds: int = 10, kind: str = "CALFW") -> list[Pair]:
    """The 6,000 pairs (or any even number of lines) of a CALFW (CPLFW) pairs file, with balanced folds."""
    path = Path(path)
    rows = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        f = line.split()
        if len(f) != 2:
            raise ValueError(f"{path}: line {lineno}: expected 'image label', found {len(f)} field(s)")
        try:
            label = int(f[1])
        except ValueError:
            raise ValueError(f"{path}: line {lineno}: label {f[1]!r} is not an integer") from None
        rows.append((lineno, f[0], label))
    if not rows:
        raise ValueError(f"{path}: no pairs (empty file); a {kind} pairs file has two lines per pair")
    if len(rows) % 2:
        raise ValueError(f"{path}: line {rows[-1][0]}: the last pair has no second line ({len(rows)} non-empty "
                         f"lines; a {kind} pairs file has two lines per pair)")
    pairs, labels = [], []
    for (l1, a, y1), (l2, b, y2) in zip(rows[0::2], rows[1::2]):
        if (y1 != 0) != (y2 != 0) or (y1 != 0 and y1 != y2):
            raise ValueError(f"{path}: lines {l1}-{l2}: the two lines of a pair disagree ({y1} vs {y2})")
        labels.append(int(y1 != 0))
        pairs.append((a, b, l1))
    _check_folds(path, labels, n_folds, kind)
    folds = balanced_folds(labels, n_folds)
    return [Pair(fold, a, b, y, line) for fold, (a, b, line), y in zip(folds, pairs, labels)]


def _check_folds(path: Path, labels: list[int], n_folds: int, kind: str = "CALFW") -> None:
    """Every fold must hold both kinds of pair, or its threshold could not be chosen on the other folds."""
    same, different = sum(labels), len(labels) - sum(labels)
    if n_folds < 2 or n_folds > min(same, different):
        raise ValueError(f"{path}: {same} same and {different} different pairs cannot fill {n_folds} balanced folds "
                         f"(at most the smaller count; {kind}'s protocol is 10)")


def read_landmarks(folder: str | Path, images: list[str]) -> tuple[dict[str, Landmarks], dict[str, str]]:
    """The provided landmarks of each image, and why any image has none: an image without a readable file is
    flagged ``missing`` (the align step then falls back to a centre crop and counts it), never dropped."""
    folder = Path(folder)
    out, reasons = {}, {}
    for name in images:
        path = folder / f"{Path(name).stem}_5loc_attri.txt"
        try:
            values = [ln.split() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
            points = np.array([[float(v[0]), float(v[1])] for v in values[:5]], dtype=np.float64)
            if points.shape != (5, 2) or not np.isfinite(points).all():
                raise ValueError(f"expected five lines 'x y', found {len(values)}")
            out[name] = Landmarks(points, OK)
        except (OSError, ValueError, IndexError) as err:
            out[name] = Landmarks(np.full((5, 2), np.nan), "missing")
            reasons[name] = f"{path}: {err}"
    return out, reasons
